"""Stochastic depth on a residual body, `residual(drop=p)< ... >`: torchvision's StochasticDepth(p, "row") on the
body's output before the add. The identity in eval mode; in training it drops whole rows (samples) at rate p and
scales the kept ones by 1 / (1 - p), drawing exactly what torchvision.ops.stochastic_depth draws."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import ROOT, build, error_of, net
from test_analysis import _saved_by_autograd

import archdsl
from archdsl.analysis.costs import analyse

CNBLOCK = """block cnblock(c, p) {
    residual(drop=p)<
        block: (conv7-c(groups=c, padding=3); permute(0, 2, 3, 1); ln(eps=1e-6); fc-(4 * c); gelu; fc-c;
                permute(0, 3, 1, 2));
        layer_scale: scale(init=1e-6)
    >
}
"""
# The body doubles its input: a kept row gives x + 2x / (1 - p), a dropped one x.
DOUBLING = net("residual(drop=p)< s: scale(init=2) >", "1x1x1", "p = 0.3")


def test_eval_mode_is_the_identity_and_the_block_is_torchvisions_cnblock():
    torch = pytest.importorskip("torch")
    convnext = pytest.importorskip("torchvision.models.convnext")
    torch.manual_seed(0)
    theirs = convnext.CNBlock(16, layer_scale=1e-6, stochastic_depth_prob=0.5).eval()
    with torch.no_grad():
        theirs.layer_scale.uniform_(0.5, 1.5)
        theirs.block[2].weight.uniform_(0.5, 1.5)
        theirs.block[2].bias.uniform_(-1, 1)
    model = archdsl.load("t.arch", source=CNBLOCK + net("cn: cnblock(16, 0.5)", "16x6x5")).eval()
    model.cn.load_state_dict(theirs.state_dict(), strict=True)
    assert model.cn.stochastic_depth.p == theirs.stochastic_depth.p == 0.5
    x = torch.randn(8, 16, 6, 5)
    with torch.no_grad():
        assert torch.equal(model(x), theirs(x))
        assert torch.equal(model(x), x + model.cn.layer_scale * model.cn.block(x))  # nothing dropped


def test_training_drops_rows_at_rate_p_and_scales_the_kept_ones_by_one_over_one_minus_p():
    torch = pytest.importorskip("torch")
    p, rows = 0.3, 20_000
    model = archdsl.load("t.arch", source=DOUBLING).train()
    torch.manual_seed(3)
    x = torch.rand(rows, 1, 1, 1) + 1.0  # away from 0, so a kept row never looks dropped
    with torch.no_grad():
        y = model(x)
    dropped = torch.isclose(y, x).flatten()
    kept = torch.isclose(y, x + 2 * x / (1 - p)).flatten()
    assert bool((dropped ^ kept).all())  # every row is one or the other
    fraction = dropped.float().mean().item()
    assert abs(fraction - p) <= 3 * math.sqrt(p * (1 - p) / rows)


def test_it_draws_what_torchvision_draws_from_the_same_seed():
    torch = pytest.importorskip("torch")
    ops = pytest.importorskip("torchvision.ops")
    model = archdsl.load("t.arch", source=CNBLOCK + net("cn: cnblock(8, 0.4)", "8x4x4")).train()
    module = model.cn.stochastic_depth
    x = torch.randn(64, 8, 4, 4)
    torch.manual_seed(5)
    ours = module(x)
    torch.manual_seed(5)
    theirs = ops.stochastic_depth(x, 0.4, "row", training=True)
    assert torch.equal(ours, theirs) and not torch.equal(ours, x)
    torch.manual_seed(5)
    block = model.cn(x)
    torch.manual_seed(5)
    assert torch.equal(block, ops.StochasticDepth(0.4, "row").train()(model.cn.layer_scale * model.cn.block(x)) + x)
    assert torch.equal(module.eval()(x), x)
    assert torch.equal(archdsl.load("t.arch", source=DOUBLING, p=0.0).train()(x[:, :1, :1, :1]), 3 * x[:, :1, :1, :1])


def test_per_block_probabilities_follow_the_repetition_index_as_torchvision_computes_them():
    pytest.importorskip("torch")
    # Two stages of 2 and 3 blocks: sd_prob = 0.2 * stage_block_id / (5 - 1.0), the id counting across stages.
    source = CNBLOCK + net("s1: (cnblock(8, sd * (i - 1) / 4) x 2); s2: (cnblock(8, sd * (i + 1) / 4) x 3)",
                           "8x4x4", "sd = 0.2")
    model = archdsl.load("t.arch", source=source)
    ours = [m.p for m in model.modules() if type(m).__name__ == "StochasticDepth"]
    assert ours == [0.2 * k / (5 - 1.0) for k in range(5)]
    emitted = archdsl.compile_source("t.arch", source=source).source
    assert "self.stochastic_depth = StochasticDepth(p)" in emitted
    assert "x = self.stochastic_depth(x)  # (B, c, 4, 4)\n        x += identity" in emitted  # as torchvision's


def test_costs_nothing_in_eval_and_keeps_one_factor_per_sample_in_training():
    torch = pytest.importorskip("torch")
    ir = build(DOUBLING)
    (layer,) = [layer for layer in ir.layers if layer.op == "stochastic_depth"]
    assert str(layer.path) == "stochastic_depth" and layer.params == 0
    eval_row = next(r for r in analyse(ir).rows if r.layer is layer)
    assert eval_row.ops == 0
    source = CNBLOCK + net("cn: cnblock(8, 0.4)", "8x4x4")
    model = archdsl.load("t.arch", source=source).train()
    torch.manual_seed(0)
    assert _saved_by_autograd(model, torch.randn(1, 8, 4, 4)) == analyse(build(source), device="cpu").saved_bytes


@pytest.mark.parametrize(("body", "code", "says"), [
    ("residual(drop=1.5)< relu >", "bad-option-value", "drop must be a number in [0, 1], got 1.5"),
    ("residual(drop=true)< relu >", "bad-option-value", "drop must be a number in [0, 1]"),
    ("residual(dropout=0.1)< relu >", "bad-residual-option", "drop=p"),
])
def test_a_bad_drop_is_refused_where_it_is_written(body, code, says):
    error = error_of(net(body, "3x8x8"))
    assert error.diagnostics[0].code == code and says in str(error)
    assert error.diagnostics[0].span.line == 3


@pytest.mark.parametrize("name", ["convnext_tiny", "convnext_small"])
def test_the_bundled_convnexts_drop_with_torchvisions_probabilities(name):
    torch = pytest.importorskip("torch")
    models = pytest.importorskip("torchvision.models")
    with torch.device("meta"):  # no weights: only the modules' settings are compared
        theirs = getattr(models, name)(weights=None)
        ours = archdsl.load(ROOT / "architectures" / f"{name}.arch")
    probabilities = [[m.p for m in model.modules() if type(m).__name__ == "StochasticDepth"]
                     for model in (ours, theirs)]
    assert probabilities[0] == probabilities[1] and len(probabilities[0]) in (18, 36) and probabilities[0][-1] > 0


@pytest.mark.slow
def test_convnext_tiny_in_training_drops_the_blocks_torchvision_drops_from_the_same_seed():
    torch = pytest.importorskip("torch")
    models = pytest.importorskip("torchvision.models")
    torch.manual_seed(0)
    theirs = models.convnext_tiny(weights=None, stochastic_depth_prob=0.5).train()
    ours = archdsl.load(ROOT / "architectures" / "convnext_tiny.arch", input="3x32x32", stochastic_depth_prob=0.5)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    ours.train()
    x = torch.randn(16, 3, 32, 32)
    torch.manual_seed(7)
    mine = ours(x)
    torch.manual_seed(7)
    reference = theirs(x)
    torch.manual_seed(8)
    assert torch.equal(mine, reference) and not torch.equal(ours(x), reference)  # another seed, other drops


def test_stochastic_depth_only_where_the_when_equal_shortcut_adds():
    # torchvision's MBConv drops rows only under use_res_connect: a block use whose shape changes (no
    # shortcut) returns its body's output untouched in training too.
    source = """block b(c) { residual(shortcut=when_equal, drop=0.9)< conv3-c > }
network N { input 3x8x8; b(4); b(4) }"""
    model = archdsl.load(None, source=source).train()
    outputs = {}
    for name in ("b1", "b2"):
        getattr(model, name).register_forward_hook(lambda m, i, o, name=name: outputs.__setitem__(name, (i[0], o)))
    torch.manual_seed(0)
    x = torch.randn(64, 3, 8, 8)
    model(x)
    first_in, first_out = outputs["b1"]
    assert torch.equal(first_out, model.b1.conv1(first_in))  # no row dropped, nothing rescaled
    second_in, second_out = outputs["b2"]
    body = model.b2.conv1(second_in)
    kept = [(second_out[k] - second_in[k]).abs().sum().item() > 0 for k in range(64)]
    assert 0 < sum(kept) < 64  # p = 0.9: most rows dropped (output = input), the kept ones rescaled
    k = kept.index(True)
    assert torch.allclose(second_out[k], second_in[k] + body[k] / 0.1, atol=1e-4)
