"""architectures/unet.arch against a plain-PyTorch U-Net written from the paper's Figure 1
(Ronneberger et al. 2015; tests/unet_reference.py): parameters, strict weight loading, equal outputs;
the 572x572 tile's shapes on the meta device; and the words it introduced, `upconv` and `crop(@label)`."""

from __future__ import annotations

import pytest
import torch
from helpers import ROOT, build, error_of, net
from torch import nn
from unet_reference import ReferenceUNet

import archdsl
from archdsl.analysis.costs import analyse

UNET = ROOT / "architectures" / "unet.arch"


def test_parameters_and_outputs_equal_the_reference():
    model = archdsl.load(UNET, input="1x188x188").eval()  # 188 -> 4x4 at the bottom: every crop is valid
    reference = ReferenceUNet().eval()
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in reference.parameters()) == 31_030_658
    assert list(model.state_dict()) == list(reference.state_dict())
    torch.manual_seed(0)
    reference.load_state_dict({k: torch.randn_like(v) * 0.05 for k, v in reference.state_dict().items()})
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(1, 1, 188, 188)
    with torch.no_grad():
        out, expected = model(x), reference(x)
    assert out.shape == (1, 2, 4, 4)
    assert torch.allclose(out, expected, atol=1e-5 * max(1.0, expected.abs().max().item()), rtol=0)


def test_the_papers_tile_gives_a_388_map_on_the_meta_device():
    ir = archdsl.build(UNET)
    assert ir.layers[ir.output].out_shape == (2, 388, 388)
    crops = [layer for layer in ir.layers if layer.op == "crop"]
    assert [(layer.in_shape, layer.out_shape) for layer in crops] == [
        ((512, 64, 64), (512, 56, 56)), ((256, 136, 136), (256, 104, 104)),
        ((128, 280, 280), (128, 200, 200)), ((64, 568, 568), (64, 392, 392))]
    with torch.device("meta"):
        model = archdsl.load(UNET)
        assert model(torch.empty(1, 1, 572, 572)).shape == (1, 2, 388, 388)


def test_upconv_true_macs_are_a_quarter_of_torchinfos():
    ir = build(net("upconv2-8/2", "4x5x5"))
    (row,) = [r for r in analyse(ir).rows if r.layer.op == "upconv"]
    assert row.layer.out_shape == (8, 10, 10) and row.params == 4 * 8 * 4 + 8
    assert row.macs == 4 * 8 * 25 * 4 + 8 * 100  # every input element meets each of the 2x2 taps once; bias
    torchinfo = pytest.importorskip("torchinfo")
    stats = torchinfo.summary(nn.ConvTranspose2d(4, 8, 2, 2), input_size=(1, 4, 5, 5), verbose=0)
    assert stats.total_mult_adds == 4 * (4 * 8 * 25 * 4) + 8 * 100


@pytest.mark.parametrize(("k", "s", "p"), [(2, 2, 0), (3, 2, 1), (4, 2, 1), (3, 1, 1)])
def test_upconv_shape_and_output_are_torchs(k, s, p):
    model = archdsl.load("u.arch", source=net(f"upconv{k}-6/{s}(padding={p})", "3x5x5")).eval()
    ir = build(net(f"upconv{k}-6/{s}(padding={p})", "3x5x5"))
    x = torch.randn(2, 3, 5, 5)
    with torch.no_grad():
        out = model(x)
    assert out.shape[1:] == ir.layers[ir.output].out_shape
    assert torch.equal(out, nn.functional.conv_transpose2d(x, model.upconv1.weight, model.upconv1.bias, s, p))


@pytest.mark.parametrize(("body", "code", "words"), [
    ("a: conv3-4; maxpool; conv3-4; crop(@a)", "bad-crop", "a 4x4x4 map cannot be cut to the 8x8 of @a (4x8x8)"),
    ("crop(3)", "bad-option-value", "option 'like' takes a tensor: write @label"),
    ("a: conv3-4; g: (crop(@a))", "misplaced-reference", "reads a second tensor"),
    ("a: conv3-4; conv3-4(stride=@a)", "misplaced-reference", "'@a' is a tensor, but a value is expected here"),
    ("crop(@nowhere)", "unknown-reference", "no statement labelled 'nowhere'"),
])
def test_bad_crops_are_diagnostics(body, code, words):
    err = error_of(net(body, "3x8x8"))
    assert err.diagnostics[0].code == code, str(err)
    assert words in str(err)
