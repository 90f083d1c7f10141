"""`scale`: a learned scale per channel that the module holds as the parameter its label names, as torchvision's
ConvNeXt block holds `layer_scale` (not a submodule). With the channels-last steps it makes torchvision's CNBlock
key for key; its product is what torch computes, and autograd keeps what the estimate says."""

from __future__ import annotations

import pytest
from helpers import build, error_of, net
from test_analysis import _saved_by_autograd

import archdsl
from archdsl.analysis.costs import analyse
from archdsl.errors import ArchError

CNBLOCK = """block cnblock(c) {
    residual<
        block: (conv7-c(groups=c, padding=3); permute(0, 2, 3, 1); ln(eps=1e-6); fc-(4 * c); gelu; fc-c;
                permute(0, 3, 1, 2));
        layer_scale: scale(init=1e-6)
    >
}
"""


def test_the_label_names_the_parameter_itself_with_torchvisions_shape_and_value():
    torch = pytest.importorskip("torch")
    model = archdsl.load("t.arch", source=CNBLOCK + net("cnblock(16)", "16x6x5"))
    scale = model.cnblock1.layer_scale
    assert isinstance(scale, torch.nn.Parameter) and scale.shape == (16, 1, 1)
    assert torch.equal(scale, torch.ones(16, 1, 1) * 1e-6)  # torchvision's initial value, to the bit
    assert "cnblock1.layer_scale" in model.state_dict() and not hasattr(scale, "forward")
    emitted = archdsl.compile_source("t.arch", source=CNBLOCK + net("cnblock(16)", "16x6x5")).source
    assert "self.layer_scale = nn.Parameter(torch.ones(c, 1, 1) * 1e-06)" in emitted
    assert "x = self.layer_scale * x  # (B, c, 6, 5)" in emitted


def test_the_block_is_torchvisions_cnblock_key_for_key_and_value_for_value():
    torch = pytest.importorskip("torch")
    convnext = pytest.importorskip("torchvision.models.convnext")
    torch.manual_seed(0)
    theirs = convnext.CNBlock(16, layer_scale=1e-6, stochastic_depth_prob=0.0).eval()
    with torch.no_grad():  # random scales and norm parameters: 1e-6 scales would hide almost any mistake in the body
        theirs.layer_scale.uniform_(0.5, 1.5)
        theirs.block[2].weight.uniform_(0.5, 1.5)
        theirs.block[2].bias.uniform_(-1, 1)
    model = archdsl.load("t.arch", source=CNBLOCK + net("cn: cnblock(16)", "16x6x5")).eval()
    model.cn.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 16, 6, 5)
    with torch.no_grad():
        assert torch.equal(model(x), theirs(x))
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in theirs.parameters())


def test_on_flat_features_it_scales_each_feature_and_the_count_and_saved_bytes_agree():
    torch = pytest.importorskip("torch")
    source = net("conv3-8; gap; flatten; s: scale(init=0.5); fc-3", "3x6x5")
    model = archdsl.load("t.arch", source=source)
    assert model.s.shape == (8,) and torch.equal(model.s, torch.full((8,), 0.5))
    with torch.no_grad():
        model.s.uniform_(-2, 2)
        x = torch.randn(2, 3, 6, 5)
        assert torch.equal(model(x), model.fc1(model.s * model.flatten(model.avgpool(model.conv1(x)))))
    ir = build(source)
    (layer,) = [layer for layer in ir.layers if layer.op == "scale"]
    assert layer.params == 8 and layer.out_shape == (8,)
    row = next(r for r in analyse(ir).rows if r.layer is layer)
    assert (row.macs, row.ops) == (0, 8)
    train = archdsl.load("t.arch", source=net("conv3-8; s: scale; relu", "3x6x5")).train()
    assert _saved_by_autograd(train, torch.randn(1, 3, 6, 5)) == \
        analyse(build(net("conv3-8; s: scale; relu", "3x6x5")), device="cpu").saved_bytes


def test_a_scale_as_a_branch_shortcut_or_conditional_statement_is_a_product_too():
    torch = pytest.importorskip("torch")
    source = net("conv3-8; inception< scale(init=2) | identity >; residual< relu | scale >; scale if use", "3x6x5",
                 "use = true")
    model = archdsl.load("t.arch", source=source)
    x = torch.randn(2, 3, 6, 5)
    with torch.no_grad():
        y = model.conv1(x)
        y = torch.cat([2 * y, y], 1)
        y = torch.relu(y) + y
        assert torch.allclose(model(x), y)
    assert archdsl.load("t.arch", source=source, use=False).scale1 is None


def test_a_scale_cannot_stand_in_a_labelled_group_nor_on_channels_last():
    error = error_of(net("conv3-8; g: (relu; scale)"))
    assert error.diagnostics[0].code == "parameter-in-group" and "not a module" in str(error)
    error = error_of(net("conv3-8; permute(0, 2, 3, 1); scale"))
    assert error.diagnostics[0].code == "channels-last"


def test_a_scale_is_no_freezable_part_nor_a_feature():
    source = "network t {\n    input 3x8x8;\n    freeze s;\n    conv3-8; s: scale; fc1: gap\n}\n"
    error = error_of(source)
    assert error.diagnostics[0].code == "cannot-freeze" and "'s'" in str(error)
    pytest.importorskip("torch")
    with pytest.raises(ArchError, match="is a parameter") as info:
        archdsl.load("t.arch", source=net("conv3-8; s: scale; relu", "3x8x8"), features=["s"])
    assert info.value.diagnostics[0].code == "bad-features"
