"""`hardswish`: nn.Hardswish, in place after conv and batch norm as torchvision's MobileNetV3 writes it."""

from __future__ import annotations

import pytest
from conftest import build, net
from test_analysis import _saved_by_autograd

import archdsl
from archdsl.analysis.costs import analyse

IN_PLACE = net("conv3-4; bn; hardswish; conv1-4; hardswish", "3x8x8")  # after bn, after a conv
NEW = net("conv3-4; tanh; hardswish", "3x8x8")  # tanh keeps its output: no overwriting it


def test_shape_and_parameters():
    ir = build(IN_PLACE)
    layers = [layer for layer in ir.layers if layer.op == "hardswish"]
    assert [layer.out_shape for layer in layers] == [(4, 8, 8), (4, 8, 8)]
    assert [(layer.params, layer.buffers) for layer in layers] == [(0, 0), (0, 0)]
    assert [layer.attrs["inplace"] for layer in layers] == [True, True]
    assert [layer.attrs["inplace"] for layer in build(NEW).layers if layer.op == "hardswish"] == [False]


def test_costs_one_op_per_element_and_no_mac():
    rows = [r for r in analyse(build(IN_PLACE)).rows if r.layer.op == "hardswish"]
    assert [(r.macs, r.ops, r.activation_bytes) for r in rows] == [(0, 256, 0), (0, 256, 0)]  # in place: no tensor
    (row,) = [r for r in analyse(build(NEW)).rows if r.layer.op == "hardswish"]
    assert (row.macs, row.ops, row.activation_bytes) == (0, 256, 256 * 4)


def test_codegen_in_place_where_safe_and_one_shared_attribute():
    source = archdsl.compile_source("t.arch", source=IN_PLACE).source
    assert "self.hardswish = nn.Hardswish(inplace=True)" in source
    assert source.count("= self.hardswish(x)") == 2
    assert "self.hardswish = nn.Hardswish()" in archdsl.compile_source("t.arch", source=NEW).source


@pytest.mark.parametrize("source", [IN_PLACE, NEW], ids=["in place", "new tensor"])
def test_forward_is_torch_hardswish_and_backward_keeps_what_the_estimate_says(source):
    import torch
    from torch.nn import functional as F

    model = archdsl.load("t.arch", source=source).eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        if source is IN_PLACE:
            expected = F.hardswish(model.conv2(F.hardswish(model.bn1(model.conv1(x)))))
        else:
            expected = F.hardswish(torch.tanh(model.conv1(x)))
        assert torch.equal(model(x), expected)
    estimate = analyse(build(source), device="cpu")
    assert _saved_by_autograd(model.train(), torch.randn(1, 3, 8, 8)) == estimate.saved_bytes


def test_a_feature_that_hardswish_overwrites_is_copied():
    import torch

    model = archdsl.load("t.arch", source=IN_PLACE, features=["bn1"]).eval()
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(x)["bn1"], model.network.bn1(model.network.conv1(x)))
