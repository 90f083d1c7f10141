"""The modern zoo's activations (`hardsigmoid`, `silu`, `gelu`, ...): each emitted module computes what
torch's functional computes, with torch's parameter count, and autograd keeps what the estimate says."""

from __future__ import annotations

import pytest
from helpers import build, error_of, net
from test_analysis import _saved_by_autograd

import archdsl
from archdsl.analysis.costs import analyse
from archdsl.shapes.inference import total_params

# word as written -> (its op, the constructor archdsl emits after a tanh, the functional it must equal)
WORDS = {
    "hardsigmoid": ("hardsigmoid", "nn.Hardsigmoid()", lambda F, x, m: F.hardsigmoid(x)),
    "silu": ("silu", "nn.SiLU()", lambda F, x, m: F.silu(x)),
    "swish": ("silu", "nn.SiLU()", lambda F, x, m: F.silu(x)),
    "gelu": ("gelu", "nn.GELU()", lambda F, x, m: F.gelu(x)),
    "gelu(approximate=tanh)": ("gelu", "nn.GELU(approximate='tanh')", lambda F, x, m: F.gelu(x, approximate="tanh")),
    "gelu(approximate=none)": ("gelu", "nn.GELU()", lambda F, x, m: F.gelu(x)),
    "leaky_relu": ("leaky_relu", "nn.LeakyReLU()", lambda F, x, m: F.leaky_relu(x, 0.01)),
    "leaky_relu-0.2": ("leaky_relu", "nn.LeakyReLU(negative_slope=0.2)", lambda F, x, m: F.leaky_relu(x, 0.2)),
    "leaky_relu(slope=0.1)": ("leaky_relu", "nn.LeakyReLU(negative_slope=0.1)", lambda F, x, m: F.leaky_relu(x, 0.1)),
    "elu": ("elu", "nn.ELU()", lambda F, x, m: F.elu(x)),
    "elu(alpha=0.5)": ("elu", "nn.ELU(alpha=0.5)", lambda F, x, m: F.elu(x, 0.5)),
    "mish": ("mish", "nn.Mish()", lambda F, x, m: F.mish(x)),
    "identity": ("identity", "nn.Identity()", lambda F, x, m: x),
    "prelu": ("prelu", "nn.PReLU(num_parameters=4)", lambda F, x, m: F.prelu(x, m.weight)),
    "prelu(shared=true)": ("prelu", "nn.PReLU()", lambda F, x, m: F.prelu(x, m.weight)),
    "prelu(init=0.1)": ("prelu", "nn.PReLU(num_parameters=4, init=0.1)", lambda F, x, m: F.prelu(x, m.weight)),
}
# Words written in place (inplace=True) after an op whose output nothing else reads, as torchvision does.
IN_PLACE = {"silu": "nn.SiLU(inplace=True)", "swish": "nn.SiLU(inplace=True)"}


def after_tanh(word: str) -> str:
    return net(f"conv3-4; tanh; {word}", "3x8x8")  # tanh keeps its output: nothing may overwrite it


def after_bn(word: str) -> str:
    return net(f"conv3-4; bn; {word}", "3x8x8")


def layer_of(ir, op):
    (layer,) = [layer for layer in ir.layers if layer.op == op]
    return layer


@pytest.mark.parametrize("word", WORDS)
def test_shape_and_costs(word):
    op = WORDS[word][0]
    layer = layer_of(build(after_tanh(word)), op)
    assert layer.out_shape == (4, 8, 8) and layer.attrs.get("inplace", False) is False
    (row,) = [r for r in analyse(build(after_tanh(word))).rows if r.layer.op == op]
    ops = 0 if op == "identity" else 256
    assert (row.macs, row.ops) == (0, ops)
    assert row.activation_bytes == (0 if op == "identity" else 256 * 4)


@pytest.mark.parametrize("word", WORDS)
def test_in_place_exactly_where_torchvision_writes_it(word):
    op, module = WORDS[word][:2]
    source = archdsl.compile_source("t.arch", source=after_bn(word)).source
    layer = layer_of(build(after_bn(word)), op)
    if word in IN_PLACE:
        assert layer.attrs["inplace"] is True
        assert f"= {IN_PLACE[word]}" in source
        (row,) = [r for r in analyse(build(after_bn(word))).rows if r.layer.op == op]
        assert row.activation_bytes == 0
    else:
        assert layer.attrs.get("inplace", False) is False and "inplace" not in source
    assert f"= {module}" in archdsl.compile_source("t.arch", source=after_tanh(word)).source


@pytest.mark.parametrize("where", ["after tanh", "after bn"])
@pytest.mark.parametrize("word", WORDS)
def test_forward_is_torchs_and_backward_keeps_what_the_estimate_says(word, where):
    import torch
    from torch.nn import functional as F

    op, _, functional = WORDS[word]
    source = after_tanh(word) if where == "after tanh" else after_bn(word)
    model = archdsl.load("t.arch", source=source).eval()
    ours = getattr(model, f"{op}1", None) or getattr(model, op)
    torch_params = sum(p.numel() for p in ours.parameters())
    assert torch_params == layer_of(build(source), op).params
    x = torch.randn(2, 3, 8, 8) * 4
    with torch.no_grad():
        before = torch.tanh(model.conv1(x)) if where == "after tanh" else model.bn1(model.conv1(x))
        assert torch.equal(model(x), functional(F, before, ours))
    estimate = analyse(build(source), device="cpu")
    assert _saved_by_autograd(model.train(), torch.randn(1, 3, 8, 8)) == estimate.saved_bytes


@pytest.mark.parametrize("word", WORDS)
def test_on_flat_features(word):
    import torch

    op = WORDS[word][0]
    source = net(f"flatten; fc-6; {word}", "3x4x4")
    assert layer_of(build(source), op).out_shape == (6,)
    model = archdsl.load("t.arch", source=source).eval()
    assert model(torch.randn(2, 3, 4, 4)).shape == (2, 6)


def test_a_word_without_options_refuses_one():
    assert "has no option 'slope'" in str(error_of(net("hardsigmoid(slope=1)")))


def test_a_choice_is_one_of_its_words():
    message = str(error_of(net("gelu(approximate=fast)")))
    assert "'gelu': approximate must be `none` or `tanh`, got 'fast'" in message and "test.arch:3:" in message
    assert "approximate must be" in str(error_of(net("gelu(approximate=1)")))
    # A parameter of the same name is a value, not the word.
    assert "approximate must be" in str(error_of(net("gelu(approximate=tanh)", params="tanh = 1")))


def test_a_slope_is_a_dash_and_shows_in_the_description():
    (layer,) = [layer for layer in build(net("leaky_relu-0.2")).layers if layer.op == "leaky_relu"]
    assert layer.attrs["slope"] == 0.2 and layer.describe() == "leaky_relu-0.2"
    assert "slope must be a non-negative number" in str(error_of(net("leaky_relu(slope=-1)")))
    assert "'leaky_relu' takes 1 '-' argument(s), got 2" in str(error_of(net("leaky_relu-0.2-3")))
    assert "alpha must be a non-negative number, got True" in str(error_of(net("elu(alpha=true)")))


def test_prelu_learns_a_slope_per_channel_or_one_shared():
    import torch

    ir = build(net("conv3-4; prelu; flatten; fc-6; prelu; prelu(shared=true)", "3x8x8"))
    assert [layer.params for layer in ir.layers if layer.op == "prelu"] == [4, 6, 1]
    model = archdsl.load("t.arch", source=net("conv3-4; prelu(init=0.1)", "3x8x8"))
    assert torch.equal(model.prelu1.weight, torch.full((4,), 0.1))
    assert dict(model.named_parameters())["prelu1.weight"].requires_grad
    source = "block b(c) { conv3-c; prelu }\n" + net("b(4); b(8)", "3x8x8")
    assert "nn.PReLU(num_parameters=c)" in archdsl.compile_source("t.arch", source=source).source
    assert sum(p.numel() for p in archdsl.load("t.arch", source=source).parameters()) == total_params(build(source))
