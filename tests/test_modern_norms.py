"""`ln` and `gn`: layer and group normalisation. Each emitted module computes what torch's functional
computes, with torch's parameter count and state_dict keys, and autograd keeps what the estimate says."""

from __future__ import annotations

import pytest
from helpers import build, error_of, net
from test_analysis import _saved_by_autograd

import archdsl
from archdsl.analysis.costs import analyse


def layer_of(ir, op):
    (layer,) = [layer for layer in ir.layers if layer.op == op]
    return layer


# word -> (op, the functional over the input x of (B, C, H, W), given the module m)
def _ln2d(F, x, m):
    return F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), m.weight, m.bias, m.eps).permute(0, 3, 1, 2)


def _gn(groups):
    return lambda F, x, m: F.group_norm(x, groups, m.weight, m.bias, m.eps)


MAPS = {
    "ln": ("ln", _ln2d),
    "gn-4": ("gn", _gn(4)),
    "gn-1": ("gn", _gn(1)),
    "gn-8(eps=1e-6, affine=false)": ("gn", _gn(8)),
    "ln(eps=1e-6)": ("ln", _ln2d),
    "ln(affine=false)": ("ln", _ln2d),
}


@pytest.mark.parametrize("word", MAPS)
def test_on_a_feature_map_forward_is_torchs_and_backward_keeps_what_the_estimate_says(word):
    import torch
    from torch.nn import functional as F

    op, functional = MAPS[word]
    source = net(f"conv3-8; {word}", "3x6x5")
    model = archdsl.load("t.arch", source=source)
    with torch.no_grad():  # random affine parameters: the defaults (1, 0) would hide a swapped weight and bias
        for p in model.parameters():
            p.uniform_(-2, 2)
    model.eval()
    module = getattr(model, f"{op}1", None) or getattr(model, op)
    x = torch.randn(2, 3, 6, 5)
    with torch.no_grad():
        assert torch.allclose(model(x), functional(F, model.conv1(x), module), atol=1e-6)
    layer = layer_of(build(source), op)
    assert layer.out_shape == (8, 6, 5)
    assert sum(p.numel() for p in module.parameters()) == layer.params
    assert sum(b.numel() for b in module.buffers()) == layer.buffers
    estimate = analyse(build(source), device="cpu")
    assert _saved_by_autograd(model.train(), torch.randn(1, 3, 6, 5)) == estimate.saved_bytes


def test_ln_is_torchvisions_layernorm2d_on_a_feature_map_and_nn_layernorm_on_features():
    import torch
    from torch.nn import functional as F

    source = net("conv3-8; ln(eps=1e-6); gap; flatten; fc-6; ln", "3x6x5")
    emitted = archdsl.compile_source("t.arch", source=source).source
    assert "self.ln1 = LayerNorm2d(8, eps=1e-06)" in emitted and "self.ln2 = nn.LayerNorm(6)" in emitted
    assert emitted.count("class LayerNorm2d(nn.LayerNorm):") == 1 and "import torchvision" not in emitted
    model = archdsl.load("t.arch", source=source).eval()
    assert list(model.state_dict()) == ["conv1.weight", "conv1.bias", "ln1.weight", "ln1.bias",
                                        "fc1.weight", "fc1.bias", "ln2.weight", "ln2.bias"]
    assert [layer.params for layer in build(source).layers if layer.op == "ln"] == [16, 12]
    x = torch.randn(2, 3, 6, 5)
    with torch.no_grad():
        flat = model.fc1(model.ln1(model.conv1(x)).mean((2, 3)))
        assert torch.allclose(model(x), F.layer_norm(flat, (6,), model.ln2.weight, model.ln2.bias), atol=1e-6)


def test_ln_matches_torchvisions_layernorm2d():
    torch = pytest.importorskip("torch")
    misc = pytest.importorskip("torchvision.models.convnext")

    model = archdsl.load("t.arch", source=net("ln(eps=1e-6)", "8x4x4"))
    theirs = misc.LayerNorm2d(8, eps=1e-6)
    with torch.no_grad():
        for p in theirs.parameters():
            p.uniform_(-2, 2)
    model.ln1.load_state_dict(theirs.state_dict())  # the same keys: weight, bias
    x = torch.randn(2, 8, 4, 4)
    assert torch.equal(model(x), theirs(x))


def test_ln_costs():
    ir = build(net("conv3-8; ln", "3x6x5"))
    (row,) = [r for r in analyse(ir).rows if r.layer.op == "ln"]
    assert (row.macs, row.ops, row.activation_bytes) == (240, 480, 240 * 4)


def test_the_helper_class_name_is_kept_from_a_block():
    source = "block layer_norm2d { conv3-8; ln }\n" + net("layer_norm2d", "3x6x5")
    emitted = archdsl.compile_source("t.arch", source=source).source
    assert "class LayerNorm2d(nn.LayerNorm):" in emitted and "class LayerNorm2d2(nn.Module):" in emitted
    archdsl.load("t.arch", source=source)


def test_ln_refuses_bad_options():
    assert "'ln': eps must be a non-negative number" in str(error_of(net("ln(eps=-1)")))
    assert "'ln' has no option 'groups'" in str(error_of(net("ln(groups=2)")))


def test_the_guard_accepts_the_helper_class_only_verbatim():
    from archdsl.pytorch.codegen import generate
    from archdsl.pytorch.guard import UnsafeCode, check_emitted

    ir = build(net("conv3-8; ln", "3x6x5"))
    emitted = generate(ir)
    check_emitted(emitted.source, ir, emitted.block_classes, emitted.class_name, emitted.outputs_class)
    tampered = emitted.source.replace(".permute(0, 3, 1, 2)", ".permute(0, 3, 2, 1)")
    assert tampered != emitted.source
    with pytest.raises(UnsafeCode):
        check_emitted(tampered, ir, emitted.block_classes, emitted.class_name, emitted.outputs_class)
    without_ln = build(net("conv3-8", "3x6x5"))  # a helper class of an op the IR does not hold is refused
    plain = generate(without_ln)
    with pytest.raises(UnsafeCode):
        check_emitted(plain.source.replace("class T(", emitted.source.split("\n\n\n")[1] + "\n\n\nclass T("),
                      without_ln, plain.block_classes, plain.class_name, plain.outputs_class)


def test_fuse_keeps_ln_and_features_see_channels_first():
    import torch

    source = net("conv3-8; bn; relu; ln; conv1-4", "3x6x5")
    model = archdsl.load("t.arch", source=source).eval()
    x = torch.randn(2, 3, 6, 5)
    with torch.no_grad():
        assert torch.allclose(archdsl.fuse(model)(x), model(x), atol=1e-5)
    features = archdsl.load("t.arch", source=source, features=["ln1"]).eval()
    assert features(x)["ln1"].shape == (2, 8, 6, 5)


def test_gn_shape_parameters_code_and_costs():
    import torch

    source = net("conv3-8; gn-4; flatten; fc-6; gn(groups=3, eps=0.001)", "3x6x5")
    ir = build(source)
    gns = [layer for layer in ir.layers if layer.op == "gn"]
    assert [(g.out_shape, g.params, g.buffers, g.describe()) for g in gns] == [
        ((8, 6, 5), 16, 0, "gn-4"), ((6,), 12, 0, "gn-3")]
    emitted = archdsl.compile_source("t.arch", source=source).source
    assert "self.gn1 = nn.GroupNorm(4, 8)" in emitted and "self.gn2 = nn.GroupNorm(3, 6, eps=0.001)" in emitted
    model = archdsl.load("t.arch", source=source).eval()
    assert model(torch.randn(2, 3, 6, 5)).shape == (2, 6)
    rows = [r for r in analyse(ir).rows if r.layer.op == "gn"]
    assert [(r.macs, r.ops) for r in rows] == [(240, 480), (6, 12)]


def test_gn_groups_in_a_block_are_written_as_its_argument():
    source = "block b(c, g) { conv3-c; gn-g }\n" + net("b(8, 4); b(16, 4)", "3x6x5")
    emitted = archdsl.compile_source("t.arch", source=source).source
    assert "nn.GroupNorm(g, c)" in emitted
    archdsl.load("t.arch", source=source)


def test_gn_refuses_groups_that_do_not_divide_the_channels():
    message = str(error_of(net("conv3-12; gn-8", "3x6x5")))
    assert "'gn' cannot split 12 channels into 8 equal groups" in message
    assert "test.arch:3:11:" in message and "e.g. gn-6" in message
    assert "'gn' needs groups" in str(error_of(net("gn")))
    assert "groups must be a positive integer, got 0" in str(error_of(net("gn-0")))
    assert "e.g. gn-1" in str(error_of(net("conv3-7; gn-2", "3x6x5")))


@pytest.mark.parametrize("norm", ["ln", "gn-4"])
@pytest.mark.parametrize("act", ["relu", "silu", "hardswish"])
def test_an_activation_after_a_norm_overwrites_its_output_safely(norm, act):
    import torch

    source = net(f"conv3-8; {norm}; {act}", "3x6x5")
    (layer,) = [layer for layer in build(source).layers if layer.op == act]
    assert layer.attrs["inplace"] is True  # as torchvision's detection heads write ReLU after GroupNorm
    model = archdsl.load("t.arch", source=source)
    x = torch.randn(2, 3, 6, 5)
    model(x).sum().backward()  # autograd would refuse an overwritten tensor it keeps
    estimate = analyse(build(source), device="cpu")
    assert _saved_by_autograd(model.train(), torch.randn(1, 3, 6, 5)) == estimate.saved_bytes
