"""`upsample(scale=N, mode=...)` (nn.Upsample) and `upsample(size=@label, ...)` (F.interpolate to another
tensor's height and width), against torch's own functions."""

from __future__ import annotations

import pytest
import torch
from helpers import build, error_of, net
from torch.nn import functional as F

import archdsl
from archdsl.analysis.costs import analyse

SEG = net("conv3-8/2; relu; conv3-8/2; relu; up: upsample(scale=2, mode=bilinear); conv1-3; "
          "upsample(size=@input, mode=bilinear)", "3x17x17")


def test_both_forms_equal_torchs_interpolate():
    model = archdsl.load("s.arch", source=SEG).eval()
    x = torch.randn(2, 3, 17, 17)
    with torch.no_grad():
        h = torch.relu(model.conv2(torch.relu(model.conv1(x))))
        h = model.conv3(F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False))
        assert torch.equal(model(x), F.interpolate(h, size=(17, 17), mode="bilinear", align_corners=False))


def test_shapes_code_and_costs():
    ir = build(SEG)
    ups = [layer for layer in ir.layers if layer.op == "upsample"]
    assert [layer.out_shape for layer in ups] == [(8, 10, 10), (3, 17, 17)]
    assert [layer.describe() for layer in ups] == ["upsample(scale=2, mode=bilinear)",
                                                   "upsample(size=@input, mode=bilinear)"]
    source = archdsl.compile_source("s.arch", source=SEG).source
    assert "self.up = nn.Upsample(scale_factor=2, mode='bilinear', align_corners=False)" in source
    assert "x = self.upsample(x, input_)  # (B, 3, 17, 17)" in source
    rows = [r for r in analyse(ir).rows if r.layer.op == "upsample"]
    assert [(r.macs, r.ops) for r in rows] == [(0, 3 * 800), (0, 3 * 3 * 17 * 17)]
    nearest = archdsl.load("n.arch", source=net("upsample(scale=3)", "2x2x2")).eval()
    x = torch.randn(1, 2, 2, 2)
    assert torch.equal(nearest(x), F.interpolate(x, scale_factor=3, mode="nearest"))


@pytest.mark.parametrize(("body", "code", "words"), [
    ("upsample", "missing-option", "upsample needs scale=N or size=@label"),
    ("upsample(scale=2, align_corners=true)", "bad-option-value", "align_corners applies to mode=bilinear"),
    ("upsample(scale=2, mode=cubic)", "bad-option-value", "mode"),
    ("upsample(size=2)", "bad-option-value", "option 'size' takes a tensor"),
    ("flatten; upsample(scale=2)", "shape-mismatch", "needs a feature map"),
])
def test_bad_upsamples_are_diagnostics(body, code, words):
    err = error_of(net(body, "3x8x8"))
    assert err.diagnostics[0].code == code, str(err)
    assert words in str(err)
