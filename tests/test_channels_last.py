"""Channels-last steps, as torchvision's ConvNeXt writes them: `permute(0, 2, 3, 1)`, then `ln` and `fc` on the
last dimension, `permute(0, 3, 1, 2)` back. The shape check follows the layout; the emitted module is
torchvision's CNBlock's `block` key for key and value for value; a layer that needs channels first refuses them."""

from __future__ import annotations

import pytest
from helpers import build, error_of, net
from test_analysis import _saved_by_autograd

import archdsl
from archdsl.analysis.costs import analyse

CN_BODY = "block: (conv7-16(groups=16, padding=3); permute(0, 2, 3, 1); ln(eps=1e-6); fc-64; gelu; fc-16; " \
          "permute(0, 3, 1, 2))"


def test_the_shape_check_follows_the_layout():
    ir = build(net(f"conv1-16; {CN_BODY}", "3x6x5"))
    rows = [(str(layer.path), layer.out_shape, layer.nhwc, layer.params) for layer in ir.layers if layer.path]
    assert rows == [
        ("conv1", (16, 6, 5), False, 64),
        ("block.0", (16, 6, 5), False, 16 * 49 + 16),
        ("block.1", (6, 5, 16), True, 0),
        ("block.2", (6, 5, 16), True, 32),  # a LayerNorm over the 16 channels, not over 5 "channels"
        ("block.3", (6, 5, 64), True, 16 * 64 + 64),
        ("block.4", (6, 5, 64), True, 0),
        ("block.5", (6, 5, 16), True, 64 * 16 + 16),
        ("block.6", (16, 6, 5), False, 0),
    ]


def test_the_emitted_block_is_torchvisions_cnblock_block_key_for_key_and_value_for_value():
    torch = pytest.importorskip("torch")
    convnext = pytest.importorskip("torchvision.models.convnext")
    torch.manual_seed(0)
    theirs = convnext.CNBlock(16, layer_scale=1e-6, stochastic_depth_prob=0.0).eval()
    with torch.no_grad():  # the norm's affine parameters random: ones and zeros would hide a swapped pair
        theirs.block[2].weight.uniform_(0.5, 1.5)
        theirs.block[2].bias.uniform_(-1, 1)
    model = archdsl.load("t.arch", source=net(CN_BODY, "16x6x5")).eval()
    block_keys = {k: v for k, v in theirs.state_dict().items() if k.startswith("block.")}
    model.load_state_dict(block_keys, strict=True)
    x = torch.randn(2, 16, 6, 5)
    with torch.no_grad():
        assert torch.equal(model(x), theirs.block(x))


def test_emitted_code_says_which_end_the_channels_are_at():
    emitted = archdsl.compile_source("t.arch", source=net("conv1-16; permute(0, 2, 3, 1); ln; fc-10", "3x6x5")).source
    assert "self.permute = Permute([0, 2, 3, 1])" in emitted
    assert "self.ln1 = nn.LayerNorm(16)" in emitted and "LayerNorm2d" not in emitted
    assert "self.fc1 = nn.Linear(16, 10)" in emitted
    assert "x = self.fc1(x)  # (B, 6, 5, 10)" in emitted
    assert emitted.count("class Permute(nn.Module):") == 1 and "import torchvision" not in emitted


def test_a_block_that_takes_a_channels_last_map_reads_its_channels_from_the_last_dimension():
    torch = pytest.importorskip("torch")
    source = "block head(c) { ln; fc-c }\n" + net("conv1-16; permute(0, 2, 3, 1); head(4); head(4)", "3x6x5")
    emitted = archdsl.compile_source("t.arch", source=source).source
    assert "self.head1 = Head(16, 4)" in emitted and "self.head2 = Head(4, 4)" in emitted
    assert "nn.LayerNorm(in_channels)" in emitted and "nn.Linear(in_channels, c)" in emitted
    assert archdsl.load("t.arch", source=source)(torch.randn(2, 3, 6, 5)).shape == (2, 6, 5, 4)


def test_fc_on_channels_last_costs_a_linear_at_every_position_and_autograd_keeps_what_the_estimate_says():
    torch = pytest.importorskip("torch")
    source = net(f"conv1-16; {CN_BODY}", "3x6x5")
    ir = build(source)
    rows = {str(r.layer.path): r for r in analyse(ir).rows}
    assert rows["block.3"].macs == (16 + 1) * 64 * 6 * 5
    assert rows["block.5"].macs == (64 + 1) * 16 * 6 * 5
    assert rows["block.1"].macs == rows["block.6"].macs == 0  # a view
    model = archdsl.load("t.arch", source=source).train()
    assert _saved_by_autograd(model, torch.randn(1, 3, 6, 5)) == analyse(ir, device="cpu").saved_bytes


@pytest.mark.parametrize(("body", "code", "says"), [
    ("conv3-8; permute(0, 2, 3, 1); conv3-8", "channels-last", "'conv3-8' needs a channels-first feature map"),
    ("permute(0, 2, 3, 1); bn", "channels-last", "permute(0, 3, 1, 2)"),
    ("permute(0, 2, 3, 1); maxpool", "channels-last", "'maxpool2' needs a channels-first"),
    ("permute(0, 2, 3, 1); gn-1", "channels-last", "'gn-1' needs a channels-first"),
    ("permute(0, 2, 3, 1); flatten", "channels-last", "'flatten' needs a channels-first"),
    ("permute(0, 2, 3, 1); softmax", "channels-last", "'softmax' needs a channels-first"),
    ("permute(0, 2, 3, 1); residual< relu >", "channels-last", "a residual needs a channels-first"),
    ("permute(0, 2, 3, 1); concat< relu | relu >", "channels-last", "a concat needs a channels-first"),
    ("permute(0, 2, 3, 1); inception< relu | relu >", "channels-last", "an inception needs a channels-first"),
    ("permute(0, 3, 1, 2)", "bad-permute", "channels first already"),
    ("permute(0, 2, 3, 1); permute(0, 2, 3, 1)", "bad-permute", "channels last already"),
    ("permute(0, 1, 3, 2)", "bad-permute", "two permutations only"),
    ("gap; flatten; permute(0, 2, 3, 1)", "shape-mismatch", "needs a feature map"),
    ("fc-4", "shape-mismatch", "permute(0, 2, 3, 1)"),
    ("permute(0, 2, 3)", "missing-option", "needs d3"),
])
def test_a_layer_that_cannot_take_the_layout_is_refused_with_a_hint(body, code, says):
    error = error_of(net(body, "3x8x8"))
    (diagnostic,) = error.diagnostics
    assert diagnostic.code == code and says in str(error)
    assert diagnostic.span.line == 3 and diagnostic.hint
