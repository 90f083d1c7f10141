"""Stage 4, shapes.py: every tensor shape and parameter count, checked before anything runs."""

from __future__ import annotations

import pytest
from helpers import ARCHITECTURES, EXPECTED_PARAMS, build, error_of, net

import archdsl
from archdsl.ir.derived import Derived
from archdsl.shapes.inference import total_params


@pytest.mark.parametrize("path", ARCHITECTURES, ids=lambda p: p.stem)
def test_bundled_parameter_counts_are_exact(path):
    assert total_params(archdsl.build(path)) == EXPECTED_PARAMS[path.stem]


def test_googlenet_without_aux_heads():
    ir = archdsl.build("architectures/googlenet.arch", params={"aux_logits": False})
    assert total_params(ir) == 6_624_904
    assert ir.sides == {}


def test_num_classes_changes_only_the_head():
    ir = archdsl.build("architectures/resnet34.arch", params={"num_classes": 10})
    assert total_params(ir) == 21_797_672 - 513 * 1000 + 513 * 10


def test_lenet_shapes_follow_the_paper():
    ir = archdsl.build("architectures/lenet5.arch")
    shapes = [layer.out_shape for layer in ir.layers if layer.op in ("conv", "avgpool", "linear")]
    assert shapes == [(6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5), (120,), (84,), (10,)]


def test_conv_and_pool_arithmetic():
    ir = build(net("conv11-64/4(padding=2); maxpool3/2; conv7-8/2; maxpool3/2(ceil_mode=true); conv3-8(dilation=2)",
                   "3x224x224"))
    shapes = [layer.out_shape for layer in ir.layers[1:-1]]
    assert shapes == [(64, 55, 55), (64, 27, 27), (8, 14, 14), (8, 7, 7), (8, 7, 7)]


def test_projection_shortcut_counts_conv_and_bn():
    ir = build(net("residual< conv3-16/2(bias=false); bn >", "8x8x8"))
    shortcut = next(layer for layer in ir.layers if layer.op == "shortcut")
    assert shortcut.derived == Derived(decision="projection", stride=(2, 2), in_channels=8)
    assert shortcut.params == 8 * 16 + 2 * 16


def test_zero_padding_shortcut_has_no_parameters():
    ir = build(net("residual(shortcut=pad)< conv3-16/2; bn >", "8x8x8"))
    shortcut = next(layer for layer in ir.layers if layer.op == "shortcut")
    assert shortcut.derived.decision == "pad" and shortcut.params == 0


def test_a_misspelt_derived_value_is_an_error_not_a_silent_default():
    shortcut = next(layer for layer in build(net("residual< conv3-16/2; bn >", "8x8x8")).layers
                    if layer.op == "shortcut")
    with pytest.raises(AttributeError):
        shortcut.derived.desicion  # noqa: B018
    with pytest.raises(AttributeError):
        shortcut.derived.desicion = "pad"


def test_spatial_size_reaching_zero_names_the_layer_and_what_would_work():
    d = error_of(net("conv5-8(padding=valid); maxpool; conv5-8(padding=valid)", "3x8x8")).first
    assert d.message == "the output height of 'conv' would be -2: its input height is only 2"
    assert "at least 5" in d.hint
    assert (d.span.line, d.span.column) == (3, 34)


def test_residual_that_cannot_be_reconciled():
    d = error_of(net("residual< conv3-16(padding=valid) >", "8x9x9")).first
    assert "residual add: the body gives 16x7x7 but the input is 8x9x9" in d.message
    assert d.notes and d.notes[0].span.line == 3


def test_explicit_shortcut_with_the_wrong_shape_names_both_sides():
    d = error_of(net("residual< conv3-16/2 | conv1-8 >", "8x8x8")).first
    assert d.message == "residual add: the body gives 16x4x4 but the shortcut gives 8x8x8"
    assert len(d.notes) == 2


@pytest.mark.parametrize("word", ["inception", "concat", "split"])
def test_branches_that_disagree_in_size_are_named_by_the_construct_written(word):
    d = error_of(net(f"{word}< conv1-4 | conv3-4(padding=valid) >", "4x8x8")).first
    assert d.code == "inception-mismatch" and (d.span.line, d.span.column) == (3, 1)
    assert d.message == f"{word} branches differ in spatial size: 8x8, 6x6"


@pytest.mark.parametrize("word", ["inception", "concat"])
def test_branches_giving_flat_features_are_named_by_the_construct_written(word):
    d = error_of(net(f"gap; flatten; {word}< fc-4 | fc-4 >", "4x8x8")).first
    assert d.code == "inception-mismatch" and d.span.line == 3
    assert d.message == f"{word} branches must give feature maps, one gives 4"


def test_fc_on_a_feature_map_asks_for_flatten():
    d = error_of(net("conv3-4; fc-10", "3x8x8")).first
    assert d.message == "'fc' gets a feature map 4x8x8; it needs flat features"
    assert "insert `flatten`" in d.hint and "256 features" in d.hint


def test_a_conditional_statement_may_change_the_shape_and_is_checked_at_each_use():
    block = "block b(wide) {\n    conv3-8 if wide;\n    conv3-6(groups=3)\n}\n"
    ir = build(block + net("b(false)", "6x8x8"))
    assert ir.layers[ir.output].out_shape == (6, 8, 8)
    d = error_of(block + net("b(false); b(true)", "6x8x8")).first  # 8 channels do not split into 3 groups
    assert d.span.line == 3 and "8" in d.message


# A statement switched off by `if` does not exist in that use: a window too large for its input there is no error.
WINDOW = "block head(on) {\n    conv5-8(padding=valid) if on;\n    relu\n}\n"


def _runs(source: str, shape: tuple[int, ...], **params) -> tuple[int, ...]:
    torch = pytest.importorskip("torch")
    model = archdsl.load("test.arch", source=source, **params).eval()
    with torch.no_grad():
        return tuple(model(torch.randn(2, *shape)).shape)


def test_a_switched_off_statement_too_large_for_its_input_is_not_checked():
    source = net("conv3-4; maxpool2/2; big: conv5-8(padding=valid) if big; gap; flatten; fc-10", "3x6x6",
                 "big = false")
    ir = build(source)
    (off,) = [layer for layer in ir.layers if not layer.enabled]
    assert off.unsized and off.derived.in_channels == 4  # what the class that holds it needs
    assert ir.layers[ir.output].out_shape == (10,)
    assert _runs(source, (3, 6, 6)) == (2, 10)
    d = error_of(source, big=True).first  # switched on, it is checked as before
    assert d.code == "input-too-small" and d.span.line == 3
    assert d.message == "the output height of 'conv' would be -1: its input height is only 3"


def test_a_block_shared_by_uses_on_and_off_is_checked_only_where_on():
    source = WINDOW + net("a: head(true); maxpool2/2; b: head(false); gap; flatten; fc-10", "3x12x12")
    ir = build(source)
    assert [layer.out_shape for layer in ir.layers if layer.op == "conv"] == [(8, 8, 8), (8, 4092, 4092)]
    emitted = archdsl.compile_source("test.arch", source=source).source
    assert "4092" not in emitted and "(B, 8, H', W')" in emitted  # made-up sizes never reach a comment
    assert _runs(source, (3, 12, 12)) == (2, 10)
    d = error_of(WINDOW + net("a: head(true); maxpool2/2; b: head(true)", "3x12x12")).first
    assert d.code == "input-too-small" and d.span.line == 2  # the second use, switched on, does not fit


def test_a_condition_on_in_channels_still_decides_per_use():
    block = "block down(c) {\n    conv3-c(padding=valid) if in_channels != c;\n    relu\n}\n"
    ir = build(block + net("down(8); down(8); maxpool2/2; down(8)", "3x4x4"))
    assert ir.layers[ir.output].out_shape == (8, 1, 1)  # 3 to 8 channels on 4x4 -> 2x2, then off twice
    d = error_of(block + net("down(8); maxpool2/2; down(16)", "3x4x4")).first
    assert d.code == "input-too-small" and d.span.line == 2


def test_a_switched_off_statement_is_still_checked_for_its_channels():
    # The emitted class still writes its constructor, so the sizes it takes must exist.
    block = "block b(wide) {\n    conv3-8(groups=3) if wide;\n    relu\n}\n"
    d = error_of(block + net("b(false)", "4x8x8")).first
    assert d.span.line == 2 and "groups" in d.message


def test_even_kernel_with_same_padding():
    d = error_of(net("conv4-8", "3x8x8")).first
    assert "'same' padding needs an odd kernel" in d.message


def test_valid_body_whose_size_a_strided_projection_matches_is_accepted():
    ir = build(net("residual< conv5-16(padding=valid) >", "8x9x9"))
    shortcut = next(layer for layer in ir.layers if layer.op == "shortcut")
    assert shortcut.derived.stride == (2, 2) and shortcut.out_shape == (16, 5, 5)
