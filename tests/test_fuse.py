"""Inference folding: archdsl.fuse(model) and `archdsl compile --fuse` (archdsl/pytorch/folding.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from helpers import ARCHITECTURES, heavy, net

import archdsl
from archdsl.errors import ArchError
from archdsl.pytorch.runtime import module_from_source


def small_input(path) -> str | None:
    """A 64x64 input where the architecture takes one (fast), else its declared input."""
    try:
        archdsl.build(path, params={"input": "3x64x64"})
    except ArchError:
        return None
    return "3x64x64"


def with_statistics(model: torch.nn.Module, shape: tuple[int, ...]) -> torch.nn.Module:
    """Batch norms whose running statistics and affine weights are not their initial 0, 1."""
    torch.manual_seed(0)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
            with torch.no_grad():
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    return model.eval()


def build_pair(path, source=None, **params):
    """(model with statistics, its fused copy, the compile --fuse module holding the fused weights)."""
    model = archdsl.load(path, source=source, **params)
    ir = archdsl.build(path, source=source, params=params)
    shape = (2, *ir.input_shape)
    model = with_statistics(model, shape)
    fused = archdsl.fuse(model)
    emitted = archdsl.compile_source(path, source=source, params=params, fuse=True)
    compiled = getattr(module_from_source(emitted.source, str(path)), emitted.class_name)()
    compiled.load_state_dict(fused.state_dict(), strict=True)  # the two forms fold the same pairs
    return model, fused, compiled.eval(), torch.randn(shape)


@pytest.mark.parametrize("path", heavy("lenet5", "alexnet", "resnet18", "googlenet"), ids=lambda p: p.stem)
def test_fused_copy_and_compiled_fuse_give_the_original_outputs(path):
    size = small_input(path)
    model, fused, compiled, x = build_pair(path, **({"input": size} if size else {}))
    with torch.no_grad():
        expected = model(x)
        assert torch.allclose(fused(x), expected, atol=1e-4, rtol=0)
        assert torch.allclose(compiled(x), expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", ["resnet34", "googlenet"])
def test_every_batch_norm_is_folded_and_the_original_is_untouched(name):
    path = next(p for p in ARCHITECTURES if p.stem == name)
    model, fused, compiled, _ = build_pair(path, input="3x64x64")
    bns = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)
    assert not any(isinstance(m, bns) for m in fused.modules())
    assert not any(isinstance(m, bns) for m in compiled.modules())  # aux heads included
    assert sum(isinstance(m, bns) for m in model.modules()) > 20
    assert all(p.requires_grad for p in model.parameters())
    assert not any(p.requires_grad for p in fused.parameters())
    assert not any(isinstance(m, torch.nn.Dropout) for m in fused.modules())


@pytest.mark.parametrize("name", ["mobilenet_v2", "resnext50_32x4d", "mobilenet_v3_large", "efficientnet_b0"])
def test_nested_conv_norm_groups_and_gated_blocks_fold_every_norm(name):
    # torchvision's Conv2dNormActivation is a numbered nn.Sequential inside a block's own nn.Sequential;
    # MobileNetV3's and EfficientNet's bodies hold a squeeze-and-excitation gate between two such groups.
    path = next(p for p in ARCHITECTURES if p.stem == name)
    model, fused, compiled, x = build_pair(path, input="3x64x64")
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) >= 46
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in compiled.modules())
    with torch.no_grad():
        expected = model(x)
        scale = max(1.0, expected.abs().max().item())
        assert torch.allclose(fused(x), expected, atol=1e-5 * scale, rtol=0)
        assert torch.allclose(compiled(x), expected, atol=1e-5 * scale, rtol=0)


def test_a_fused_copy_refuses_to_train_but_stays_in_eval():
    _, fused, _, _ = build_pair("t.arch", net("conv3-8(bias=false); bn; relu; gap; flatten; fc-3"))
    with pytest.raises(RuntimeError, match="archdsl.fuse"):
        fused.train()
    fused.eval()
    assert not fused.training


def test_fc_then_bn_folds_too():
    model, fused, compiled, x = build_pair("t.arch", net("conv3-8; relu; flatten; fc-16; bn; relu; fc-3"))
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in (*fused.modules(), *compiled.modules()))
    with torch.no_grad():
        assert torch.allclose(fused(x), model(x), atol=1e-5, rtol=0)


BLOCKS = "block inner(c) { conv3-c }\nblock cbr(c, b) { conv3-c(bias=false); bn if b; relu }\n"


@pytest.mark.parametrize("body, folded", [
    ("conv3-8(bias=false); bn; relu", 1),
    ("conv3-8; residual<bn; relu; conv3-8>", 0),  # the conv also feeds the shortcut
    ("inner(8); bn; relu", 0),  # the conv sits in a block, the bn outside it: different modules
    ("conv3-8; relu; bn", 0),  # not preceded by a conv
    ("conv3-8; bn if use_bn; relu", 1),  # conditional: folded where it exists
    ("conv3-8(bias=false); bn if use_bn; relu", 1),  # ... and the conv's bias follows the condition
    ("cbr(8, true); cbr(8, false); cbr(8, true)", 2),  # one class, the norm in two of its three uses
    ("stage: (conv3-8; bn; relu; conv3-8; bn) x 2", 4),  # unlabelled, in an nn.Sequential
])
def test_both_forms_fold_the_same_pairs(body, folded):
    source = BLOCKS + net(body, params="use_bn = true")
    model, fused, compiled, x = build_pair("t.arch", source)
    bns = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)
    before = sum(isinstance(m, bns) for m in model.modules())
    assert before - sum(isinstance(m, bns) for m in fused.modules()) == folded
    assert before - sum(isinstance(m, bns) for m in compiled.modules()) == folded
    with torch.no_grad():
        assert torch.allclose(fused(x), model(x), atol=1e-5, rtol=0)
        assert torch.allclose(compiled(x), model(x), atol=1e-5, rtol=0)


def test_a_switched_off_norm_leaves_the_conv_as_written():
    source = BLOCKS + net("conv3-8(bias=false); bn if use_bn; relu", params="use_bn = true")
    model, fused, compiled, x = build_pair("t.arch", source, use_bn=False)
    assert compiled.conv1.bias is None and fused.conv1.bias is None
    with torch.no_grad():
        assert torch.allclose(compiled(x), model(x), atol=1e-5, rtol=0)


def test_compile_fuse_writes_a_module_without_batch_norms(tmp_path):
    out = tmp_path / "resnet34_fused.py"
    resnet = next(p for p in ARCHITECTURES if p.stem == "resnet34")
    done = subprocess.run([sys.executable, "-m", "archdsl", "compile", str(resnet), "--fuse", "-o", str(out)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "BatchNorm" not in text and "self.bn1" not in text
    assert "nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3)" in text  # bias on: the folded shift
    assert "archdsl compile resnet34.arch --fuse" in text


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fused_and_channels_last_models_on_cuda(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # full float32, for the 1e-4 comparison
    path = next(p for p in ARCHITECTURES if p.stem == "resnet18")
    model = with_statistics(archdsl.load(path, input="3x64x64", device="cuda"), (2, 3, 64, 64))
    nhwc = archdsl.load(path, input="3x64x64", device="cuda", channels_last=True)
    nhwc.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 64, 64, device="cuda")
    with torch.no_grad():
        expected = model(x)
        assert torch.allclose(archdsl.fuse(model)(x), expected, atol=1e-4, rtol=0)
        assert torch.allclose(nhwc.eval()(x), expected, atol=1e-4, rtol=0)
