"""`hardswish` and `relu6`: nn.Hardswish and nn.ReLU6, in place after conv and batch norm as
torchvision's MobileNetV3 and MobileNetV2 write them."""

from __future__ import annotations

import pytest
from helpers import build, net
from test_analysis import _saved_by_autograd

import archdsl
from archdsl.analysis.costs import analyse

WORDS = {"hardswish": ("nn.Hardswish", "hardswish"), "relu6": ("nn.ReLU6", "relu6")}  # module, functional


def in_place(word: str) -> str:
    return net(f"conv3-4; bn; {word}; conv1-4; {word}", "3x8x8")  # after bn, after a conv


def new(word: str) -> str:
    return net(f"conv3-4; tanh; {word}", "3x8x8")  # tanh keeps its output: no overwriting it


@pytest.mark.parametrize("word", WORDS)
def test_shape_and_parameters(word):
    layers = [layer for layer in build(in_place(word)).layers if layer.op == word]
    assert [layer.out_shape for layer in layers] == [(4, 8, 8), (4, 8, 8)]
    assert [(layer.params, layer.buffers) for layer in layers] == [(0, 0), (0, 0)]
    assert [layer.attrs["inplace"] for layer in layers] == [True, True]
    assert [layer.attrs["inplace"] for layer in build(new(word)).layers if layer.op == word] == [False]


@pytest.mark.parametrize("word", WORDS)
def test_costs_one_op_per_element_and_no_mac(word):
    rows = [r for r in analyse(build(in_place(word))).rows if r.layer.op == word]
    assert [(r.macs, r.ops, r.activation_bytes) for r in rows] == [(0, 256, 0), (0, 256, 0)]  # in place: no tensor
    (row,) = [r for r in analyse(build(new(word))).rows if r.layer.op == word]
    assert (row.macs, row.ops, row.activation_bytes) == (0, 256, 256 * 4)


@pytest.mark.parametrize("word", WORDS)
def test_codegen_in_place_where_safe_and_one_shared_attribute(word):
    module = WORDS[word][0]
    source = archdsl.compile_source("t.arch", source=in_place(word)).source
    assert f"self.{word} = {module}(inplace=True)" in source
    assert source.count(f"= self.{word}(x)") == 2
    assert f"self.{word} = {module}()" in archdsl.compile_source("t.arch", source=new(word)).source


@pytest.mark.parametrize("placed", ["in place", "new tensor"])
@pytest.mark.parametrize("word", WORDS)
def test_forward_is_torchs_and_backward_keeps_what_the_estimate_says(word, placed):
    import torch
    from torch.nn import functional as F

    f = getattr(F, WORDS[word][1])
    source = in_place(word) if placed == "in place" else new(word)
    model = archdsl.load("t.arch", source=source).eval()
    x = torch.randn(2, 3, 8, 8) * 4  # past both of relu6's and hardswish's bends
    with torch.no_grad():
        if placed == "in place":
            expected = f(model.conv2(f(model.bn1(model.conv1(x)))))
        else:
            expected = f(torch.tanh(model.conv1(x)))
        assert torch.equal(model(x), expected)
    estimate = analyse(build(source), device="cpu")
    assert _saved_by_autograd(model.train(), torch.randn(1, 3, 8, 8)) == estimate.saved_bytes


@pytest.mark.parametrize("word", WORDS)
def test_a_feature_that_it_overwrites_is_copied(word):
    import torch

    model = archdsl.load("t.arch", source=in_place(word), features=["bn1"]).eval()
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(x)["bn1"], model.network.bn1(model.network.conv1(x)))
