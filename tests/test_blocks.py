"""Richer blocks: the repetition's number `i`, true division, comparisons and `and`/`or`/`not`."""

from __future__ import annotations

import pytest
import torch
from helpers import build, error_of, net
from torch import nn

import archdsl
from archdsl.errors import ArchError
from archdsl.frontend.formatter import format_text
from archdsl.frontend.parser import parse

STAGE = """
block unit(c, p = 0.0) { conv3-c(bias=false); bn; relu; dropout(p=p) }
block stage(c, n = 3) { unit(c * i, p=0.3 * i / n) x 3 }
network t(i = 5) {
    input 3x16x16;
    stage(4);
    head: (conv1-(2 * i) x 2);
    gap; flatten; fc-i
}
"""


def _convs(model: nn.Module) -> list[nn.Conv2d]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def test_i_numbers_the_repetitions_from_one_and_hides_an_outer_i():
    model = archdsl.load(source=STAGE)
    assert [c.out_channels for c in _convs(model)] == [4, 8, 12, 2, 4]
    drops = [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
    assert drops == pytest.approx([0.1, 0.2, 0.3])
    assert model.fc1.out_features == 5  # outside the repetition, `i` is the network's parameter again
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 5)


def test_i_is_a_plain_number_in_the_emitted_code():
    source = archdsl.compile_source("t.arch", source=STAGE).source
    # `n` stays the block's argument; `0.3 * i` is folded with i a number, unless the float's repr is
    # longer than the arithmetic (0.3 * 3 is 0.8999999999999999)
    assert "self.unit1 = Unit(in_channels, c, p=0.3 / n)" in source
    assert "self.unit2 = Unit(c, c * 2, p=0.6 / n)" in source
    assert "self.unit3 = Unit(c * 2, c * 3, p=0.3 * 3 / n)" in source
    assert "nn.Conv2d(12, 2, kernel_size=1)" in source and "nn.Conv2d(2, 4, kernel_size=1)" in source
    assert "self.fc1 = nn.Linear(4, i)" in source


def test_i_in_a_repetition_of_one_and_in_nested_repetitions():
    ir = build(net("    (conv1-(10 * i) x 2; conv1-i) x 2;\n    conv1-(7 * i) x 1"))
    channels = [layer.out_shape[0] for layer in ir.layers if layer.op == "conv"]
    assert channels == [10, 20, 1, 10, 20, 2, 7]


def test_i_outside_a_repetition_is_undefined():
    err = error_of(net("    conv3-i"))
    assert err.first.code == "undefined-name" and "'i'" in err.first.message


def test_a_block_does_not_see_the_i_of_its_use():
    source = "block b() { conv1-i }\n" + net("    b() x 2")
    assert error_of(source).first.code == "undefined-name"


def test_true_division_gives_floats_and_refuses_zero():
    ir = build(net("    dropout(p=1 / 4); conv1-(9 // 2)"))
    assert ir.layers[1].attrs["p"] == 0.25 and ir.layers[2].out_shape[0] == 4
    assert error_of(net("    conv1-(8 / 2)")).first.code == "bad-option-value"  # 4.0 is no channel count
    assert error_of(net("    dropout(p=1 / (2 - 2))")).first.code == "division-by-zero"


@pytest.mark.parametrize(("cond", "on"), [
    ("a == 2", True), ("a != 2", False), ("a < 3 and b", True), ("a <= 1 or not b", False),
    ("(a > 1)", True), ("a >= 3", False), ("not (a > 1) or b and a == 2", True), ("b == 1", False),
])
def test_comparisons_and_logic_decide_conditions(cond, on):
    ir = build(net(f"    conv1-4; relu if {cond}", params="a = 2, b = true"))
    relu = next(layer for layer in ir.layers if layer.op == "relu")
    assert relu.enabled is on


def test_conditions_are_emitted_as_python_of_the_block_arguments():
    source = "block b(c, s = 1) { conv3-c/s; relu if s == 1 and not (c > 8) }\n" + net("    b(4); b(16, 2)")
    text = archdsl.compile_source("t.arch", source=source).source
    assert "if s == 1 and not c > 8:" in text
    model = archdsl.load(source=source)
    assert model.b1.relu1 is not None and model.b2.relu1 is None


def test_logic_takes_only_booleans():
    err = error_of(net("    relu if 1 and true"))
    assert err.first.code == "not-a-boolean" and "expected true or false" in err.first.message


def test_a_bare_greater_than_in_a_condition_must_be_parenthesised():
    with pytest.raises(ArchError) as info:
        parse(net("    relu if 2 > 1"))
    assert "'>'" in info.value.first.message and info.value.first.code == "greater-in-condition"
    assert "write (a > b)" in info.value.first.hint
    parse(net("    residual< conv3-3; relu if true >; relu if (2 > 1); relu if 2 >= 1"))


def test_comparisons_do_not_chain():
    with pytest.raises(ArchError):
        parse(net("    conv1-4(bias=1 < 2 < 3)"))


def test_the_formatter_spaces_comparisons_and_keeps_combinator_brackets():
    text = net("    residual<relu if a<1 and (a>0)>; dropout(p=1/4) x2", params="a = 0.5")
    formatted = format_text(text)
    assert "residual<\n        relu if a < 1 and (a > 0)\n    >" in formatted or \
        "residual<relu if a < 1 and (a > 0)>" in formatted
    assert "dropout(p=1 / 4) x2" in formatted
    assert format_text(formatted) == formatted


INVERTED = """
block inv(c, s = 1, t = 6, hidden = in_channels * t) {
    conv1-hidden(bias=false) if t != 1; bn; relu6;
    conv3-hidden/s(groups=hidden, bias=false); bn;
    conv1-c(bias=false) if in_channels != c
}
network t {
    input 3x16x16;
    conv3-16;
    inv(16, t=1); inv(24, 2); inv(24)
}
"""


def test_in_channels_is_the_width_of_the_blocks_input():
    source = "block b(c) { conv1-(in_channels * 2); conv1-c if (in_channels > 4) }\n" + net("    b(8); b(5)", "3x8x8")
    ir = build(source)
    convs = [layer for layer in ir.layers if layer.op == "conv"]
    assert [c.out_shape[0] for c in convs] == [6, 8, 12, 5] and [c.enabled for c in convs] == [True, False, True, True]
    text = archdsl.compile_source("t.arch", source=source).source
    assert "nn.Conv2d(in_channels, in_channels * 2, kernel_size=1)" in text
    assert "if in_channels > 4:" in text  # Python needs no parentheses


def test_a_conditional_statement_that_changes_the_shape_compiles_per_use():
    ir = build(INVERTED)
    model = archdsl.load(source=INVERTED)
    assert sum(p.numel() for p in model.parameters()) == sum(layer.params for layer in ir.enabled_layers())
    assert model.inv1.conv1 is None and model.inv2.conv1 is not None and model.inv3.conv3 is None
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 144, 8, 8)  # inv3 keeps 24 channels: no conv3
    text = archdsl.compile_source("t.arch", source=INVERTED).source
    assert "hidden = in_channels * t" in text and "self.bn1 = nn.BatchNorm2d(hidden)" in text
    assert "self.bn2 = nn.BatchNorm2d(hidden)" in text


def test_the_size_after_a_conditional_statement_may_be_either_side():
    source = "block b(w) { conv1-8 if w; conv1-4 }\n" + net("    b(true); b(false)", "3x8x8")
    text = archdsl.compile_source("t.arch", source=source).source
    assert "nn.Conv2d(8 if w else in_channels, 4, kernel_size=1)" in text
    model = archdsl.load(source=source)
    assert model(torch.randn(1, 3, 8, 8)).shape == (1, 4, 8, 8)


def test_residuals_and_inceptions_cannot_be_switched_off():
    for item in ("residual< conv3-3 >", "(inception< conv1-2 | conv1-2 >; relu)"):
        assert error_of(net(f"    {item} if a", params="a = true")).first.code == "misplaced-if"


SHORTCUTS = """
block ir(c, s = 1) {
    residual(shortcut=when_equal)<
        conv: (conv1-(in_channels * 2)(bias=false); bn; relu6; conv3-(in_channels * 2)/s(groups=in_channels * 2,
               bias=false); bn; relu6; conv1-c(bias=false); bn)
    >
}
block cifar(c, s = 1) { residual(shortcut=pad_both)< conv3-c/s(bias=false); bn; relu; conv3-c(bias=false); bn >; relu }
block grow(c) { residual(shortcut=when_equal)< conv1-c > }
network t {
    input 4x16x16;
    ir(4); ir(8, 2); ir(8);
    cifar(8); cifar(16, 2);
    grow(24)
}
"""


def test_when_equal_adds_the_input_only_where_the_shapes_agree():
    model = archdsl.load(source=SHORTCUTS).eval()
    ir = build(SHORTCUTS)
    assert sum(p.numel() for p in model.parameters()) == sum(layer.params for layer in ir.enabled_layers())
    x4, x8 = torch.randn(2, 4, 16, 16), torch.randn(2, 8, 8, 8)
    with torch.no_grad():
        assert torch.equal(model.ir1(x4), model.ir1.conv(x4) + x4)
        assert torch.equal(model.ir2(x4), model.ir2.conv(x4))
        assert torch.equal(model.ir3(x8), model.ir3.conv(x8) + x8)
        y = torch.randn(1, 16, 4, 4)
        assert torch.equal(model.grow1(y), model.grow1.conv1(y))
    text = archdsl.compile_source("t.arch", source=SHORTCUTS).source
    assert "self.use_shortcut = s == 1 and in_channels == c" in text and "if self.use_shortcut:" in text
    grow = text[text.index("class Grow"):text.index("class T")]
    assert "identity" not in grow and "+" not in grow  # no use keeps the shape: no add at all


def test_pad_both_splits_the_zero_channels_as_the_cifar_resnet_code_does():
    model = archdsl.load(source=SHORTCUTS).eval()
    block = model.cifar2
    x = torch.randn(2, 8, 8, 8)
    with torch.no_grad():
        body = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(x)))))
        want = torch.relu(body + nn.functional.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 4, 4)))
        assert torch.equal(block(x), want)


def test_shortcut_options_are_checked():
    err = error_of(net("    residual(shortcut=sometimes)< conv3-3 >"))
    assert err.first.code == "bad-residual-option" and "when_equal" in err.first.message


def test_same_and_valid_are_block_argument_values():
    source = "block b(c, s = 1, p = same) { conv3-c/s(padding=p); maxpool3/1(padding=p) }\n" + \
        net("    b(4); b(8, 2, valid); b(8, 1, 1)", "3x16x16")
    ir = build(source)
    assert [layer.out_shape for layer in ir.layers if layer.op == "conv"] == [(4, 16, 16), (8, 7, 7), (8, 5, 5)]
    model = archdsl.load(source=source)
    assert model(torch.randn(1, 3, 16, 16)).shape == (1, *ir.layers[ir.output].out_shape)
    text = archdsl.compile_source("t.arch", source=source).source
    # the paddings are numbers, so `p` is read nowhere in the class: no argument of it
    assert "(p is read nowhere)" in text and "B(4, 8, 2, padding=0, padding2=0)" in text
    assert 'padding="same"' not in text and "padding='same'" not in text  # torch's own "same" is another rule


STAGES = """
block basic(c, s = 1) {
    residual< conv1: conv3-c/s(bias=false); bn1: bn; relu; conv2: conv3-c(bias=false); bn2: bn >; relu
}
block stage(c, n, s = 2) { basic(c, s); basic(c) x (n - 1) }
network t {
    input 3x32x32;
    conv3-8;
    stage(8, 2, 1); stage(16, 3); stage(32, 1)
}
"""


def test_a_repetition_count_may_be_a_block_argument():
    ir = build(STAGES)
    model = archdsl.load(source=STAGES)
    assert sum(p.numel() for p in model.parameters()) == sum(layer.params for layer in ir.enabled_layers())
    assert model.stage1.basic3 is None and model.stage2.basic3 is not None and model.stage3.basic2 is None
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, *ir.layers[ir.output].out_shape) == (1, 32, 8, 8)
    text = archdsl.compile_source("t.arch", source=STAGES).source
    assert "if n - 1 >= 1:\n            self.basic2 = Basic(c, c)" in text and "if n - 1 >= 2:" in text


def test_uses_that_agree_on_the_count_unroll_it_without_conditions():
    source = STAGES.replace("stage(8, 2, 1); stage(16, 3); stage(32, 1)",
                            "stage(8, 3, 1); stage(16, 3); stage(n=3, c=32)")
    text = archdsl.compile_source("t.arch", source=source).source
    assert "self.basic3 = Basic(c, c)" in text and ">=" not in text
    # `n` is read nowhere in the class: no argument (the middle positional and the keyword are left out)
    assert "(n = 3 in every use)" in text and "def __init__(self, in_channels: int, c: int, s: int = 2)" in text
    assert "self.stage1 = Stage(8, 8, 1)" in text and "self.stage3 = Stage(16, c=32)" in text
    ir, model = build(source), archdsl.load(source=source)
    assert sum(p.numel() for p in model.parameters()) == sum(layer.params for layer in ir.enabled_layers())
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 32, 8, 8)


def test_a_parameter_the_class_reads_nowhere_is_no_argument():
    source = "block b(c, unused) { conv3-c }\n" + net("    b(4, 1); b(4, unused=2)", "3x8x8")
    text = archdsl.compile_source("t.arch", source=source).source
    assert "used 2 times (unused is read nowhere)" in text and "def __init__(self, in_channels: int, c: int)" in text
    assert "B(3, 4)" in text and "B(4, 4)" in text


def test_numbered_labels_follow_a_count_that_is_a_block_argument():
    source = "block layer(k) { conv1-k(bias=false); bn; relu }\nblock dense(n, k) { denselayer{i}: layer(k) x n }\n" \
        + net("    dense(2, 4); dense(3, 4)", "3x8x8")
    keys = [k for k in archdsl.load(source=source).state_dict() if k.endswith("conv1.weight")]
    assert keys == ["dense1.denselayer1.conv1.weight", "dense1.denselayer2.conv1.weight",
                    "dense2.denselayer1.conv1.weight", "dense2.denselayer2.conv1.weight",
                    "dense2.denselayer3.conv1.weight"]


def test_a_labelled_repetition_cannot_vary_between_uses():
    source = "block b(n) { layers: relu x n }\n" + net("    b(1); b(2)", "3x8x8")
    err = error_of(source)
    assert err.first.code == "repeat-depends-on-argument" and "labelled repetition" in err.first.message
    build("block b(n) { layers: relu x n }\n" + net("    b(2); b(2)", "3x8x8"))  # the same count everywhere: fine


def test_a_count_of_zero_leaves_a_statement_out_of_a_use():
    source = "block b(n) { conv1-4; relu x n }\n" + net("    b(0); b(1)", "3x8x8")
    model = archdsl.load(source=source)
    assert model.b1.relu1 is None and model.b2.relu1 is not None
    assert error_of(net("    relu x 0")).first.code == "bad-repeat"  # outside blocks a count stays positive


FACTORIZED = """
block factorized(c, k = 1x7, p = (0, 3)) { conv-c(kernel=k, padding=p, bias=false); bn; relu }
network t {
    input 3x17x17;
    factorized(8); factorized(8, 7x1, (3, 0)); conv-4(kernel=3x1, stride=(2, 1), padding=(1, 0))
}
"""


def test_pairs_are_values_of_sizes_and_block_arguments():
    ir = build(FACTORIZED)
    convs = [layer for layer in ir.layers if layer.op == "conv"]
    assert [c.attrs["kernel"] for c in convs] == [(1, 7), (7, 1), (3, 1)]
    assert [c.out_shape for c in convs] == [(8, 17, 17), (8, 17, 17), (4, 9, 17)]
    model = archdsl.load(source=FACTORIZED)
    assert model.factorized2.conv1.kernel_size == (7, 1) and model.factorized2.conv1.padding == (3, 0)
    assert model(torch.randn(1, 3, 17, 17)).shape == (1, 4, 9, 17)
    text = archdsl.compile_source("t.arch", source=FACTORIZED).source
    assert "k: tuple[int, int] = (1, 7), p: tuple[int, int] = (0, 3)" in text
    assert "Factorized(8, 8, (7, 1), (3, 0))" in text


def test_pairs_are_checked():
    assert error_of(net("    conv-4(kernel=0x3)")).first.code == "bad-option-value"
    assert error_of(net("    conv-4(kernel=3, padding=(1, true))")).first.code == "not-a-number"
    assert error_of(net("    conv-(2x2)")).first.code == "bad-option-value"
    assert format_text(net("    conv-4(kernel=1x7, padding=(0,3))")) == net("    conv-4(kernel=1x7, padding=(0, 3))")
