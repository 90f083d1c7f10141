"""`split< a | b >` (the channels cut into equal parts, a branch per part, concatenated) and the layer
word `shuffle-g` (torchvision's channel_shuffle): ShuffleNetV2's units against torchvision's."""

from __future__ import annotations

import pytest
import torch
from helpers import build, error_of, net
from test_analysis import _saved_by_autograd
from test_fuse import build_pair, with_statistics

import archdsl
from archdsl.analysis.costs import analyse
from archdsl.drawing.render import drawing
from archdsl.frontend.formatter import format_text

# torchvision's shufflenetv2.InvertedResidual, stride 1 and 2, as blocks.
UNITS = """
block unit(c) {
    split< identity | branch2: (conv1-(c // 2)(bias=false); bn; relu;
                                conv3-(c // 2)(groups=c // 2, bias=false); bn;
                                conv1-(c // 2)(bias=false); bn; relu) >;
    shuffle-2
}
block down(cin, c) {
    inception< branch1: (conv3-cin/2(groups=cin, bias=false); bn;
                         conv1-(c // 2)(bias=false); bn; relu)
             | branch2: (conv1-(c // 2)(bias=false); bn; relu;
                         conv3-(c // 2)/2(groups=c // 2, bias=false); bn;
                         conv1-(c // 2)(bias=false); bn; relu) >;
    shuffle-2
}
"""


@pytest.mark.parametrize("stride", [1, 2])
def test_shufflenet_units_are_torchvisions(stride):
    from torchvision.models.shufflenetv2 import InvertedResidual

    channels = 24 if stride == 1 else 48
    use = "u: unit(24)" if stride == 1 else "u: down(24, 48)"
    model = with_statistics(archdsl.load("s.arch", source=UNITS + net(use, "24x10x10")), (2, 24, 10, 10))
    reference = InvertedResidual(24, channels, stride).eval()
    assert list(model.u.state_dict()) == list(reference.state_dict())
    reference.load_state_dict(model.u.state_dict(), strict=True)
    x = torch.randn(2, 24, 10, 10)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))


def test_shuffle_is_torchvisions_channel_shuffle():
    from torchvision.models.shufflenetv2 import channel_shuffle

    model = archdsl.load("s.arch", source=net("shuffle-3", "12x2x3")).eval()
    x = torch.randn(2, 12, 2, 3)
    assert torch.equal(model(x), channel_shuffle(x, 3))
    assert [layer.describe() for layer in build(net("shuffle-3", "12x2x3")).layers if layer.op == "shuffle"] == \
        ["shuffle-3"]


def test_split_forward_chunks_and_concatenates():
    source = net("split< identity | conv1-4 | conv3-2 >", "6x5x5")
    emitted = archdsl.compile_source("s.arch", source=source).source
    assert "x1, x2, x3 = x.chunk(3, 1)" in emitted
    assert "x = torch.cat([x1, self.branch2(x2), self.branch3(x3)], 1)  # (B, 8, 5, 5)" in emitted
    model = archdsl.load("s.arch", source=source).eval()
    x = torch.randn(2, 6, 5, 5)
    with torch.no_grad():
        a, b, c = x.chunk(3, 1)
        assert torch.equal(model(x), torch.cat([a, model.branch2(b), model.branch3(c)], 1))


def test_parts_and_shapes():
    ir = build(UNITS + net("unit(24)", "24x10x10"))
    parts = [layer for layer in ir.layers if layer.op == "chunk"]
    assert [p.out_shape for p in parts] == [(12, 10, 10), (12, 10, 10)]
    assert [p.describe() for p in parts] == ["channels part 1/2", "channels part 2/2"]
    (cat,) = [layer for layer in ir.layers if layer.op == "concat"]
    assert cat.out_shape == (24, 10, 10)
    assert [m.name for m in ir.instances[1].container.members] == ["branch2", "shuffle"]  # identity: the part itself
    assert cat.inputs[0] == parts[0].id


@pytest.mark.parametrize(("body", "code", "words"), [
    ("conv3-7; split< identity | relu >", "bad-split", "split: 7 channels (7x8x8) cannot be cut into 2 equal parts"),
    ("flatten; split< identity | relu >", "bad-split", "split: its 2 branches need a feature map to cut"),
    ("conv3-6; shuffle-4", "bad-groups", "'shuffle-4' cannot split 6 channels (6x8x8) into 4 equal groups"),
    ("flatten; shuffle-2", "shape-mismatch", "'shuffle-2' needs a feature map"),
    ("conv3-4; split< conv3-2/2 | relu >", "inception-mismatch", "differ in spatial size"),
    ("s: split< relu | relu >", "label-on-container", "cannot be labelled"),
    ("conv3-4; split< relu | relu if true >", "conditional-branch", "split branches cannot be conditional"),
    ("split< relu >", "one-branch", "split<...> needs at least two branches"),
])
def test_bad_splits_and_shuffles_are_diagnostics(body, code, words):
    err = error_of(net(body, "3x8x8"))
    assert err.diagnostics[0].code == code
    assert words in str(err)


def test_the_shuffle_hint_names_a_number_of_groups_that_divides():
    assert "e.g. shuffle-3" in str(error_of(net("conv3-6; shuffle-4", "3x8x8")))


def test_costs_parts_are_views_and_autograd_agrees():
    source = UNITS + net("conv3-24(bias=false); bn; relu; unit(24); gap; flatten; fc-3", "3x10x10")
    a = analyse(build(source), device="cpu")
    chunks = [r for r in a.rows if r.layer.op == "chunk"]
    assert [(r.macs, r.ops, r.activation_bytes) for r in chunks] == [(0, 0, 0), (0, 0, 0)]
    (shuffle,) = [r for r in a.rows if r.layer.op == "shuffle"]
    assert (shuffle.macs, shuffle.ops, shuffle.activation_bytes, shuffle.saved_bytes) == (0, 0, 24 * 100 * 4, 0)
    model = archdsl.load("s.arch", source=source).train()
    torch.manual_seed(0)
    assert _saved_by_autograd(model, torch.randn(1, 3, 10, 10)) == a.saved_bytes


def test_drawing_shows_each_part_feeding_its_branch():
    d = drawing(build(UNITS + net("unit(24)", "24x10x10")))
    dot = d.graph.source
    parts = [layer for layer in d.ir.layers if layer.op == "chunk"]
    for part in parts:
        assert f'L{part.id} [label="channels part {part.attrs["index"] + 1}/2\\n12x10x10"' in dot
    (cat,) = [layer for layer in d.ir.layers if layer.op == "concat"]
    conv = next(layer for layer in d.ir.layers if layer.op == "conv")
    assert f"L{parts[0].id} -> L{cat.id}" in dot  # the identity branch: the part itself
    assert f"L{parts[1].id} -> T{conv.id}" in dot


def test_fmt_and_fuse():
    messy = "block u(c){split<identity|conv1-c>;shuffle-2}\n"
    assert format_text(messy) == "block u(c) { split<identity | conv1-c>; shuffle-2 }\n"
    model, fused, compiled, x = build_pair("s.arch", source=UNITS + net("unit(24) x2; down(24, 48)", "24x10x10"))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in [*fused.modules(), *compiled.modules()])
    with torch.no_grad():
        expected = model(x)
        assert torch.allclose(fused(x), expected, atol=1e-5, rtol=0)
        assert torch.allclose(compiled(x), expected, atol=1e-5, rtol=0)
