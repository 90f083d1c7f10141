"""The PyTorch toolchain takes the emitted modules: torch.compile without graph breaks (train and eval
mode, side outputs included), torch.export, and ONNX export run under onnxruntime.

Tracing is slow on a 2-core CI machine, so CI runs these on small inputs over LeNet-5 (a plain
chain), ResNet-18 (residuals, projections, batch norm) and ConvNeXt-T (channels-last steps, layer
scales, stochastic depth), and compiles GoogLeNet (concat, side outputs under `if`) in training mode,
where its graph holds the aux heads and everything else;
ARCHDSL_ALL_ARCHITECTURES=1 runs every check on every bundled file. torch.compile uses the "eager" backend:
fullgraph=True makes Dynamo fail on any graph break, whatever compiles the graph afterwards.
"""

from __future__ import annotations

import pytest
import torch
from helpers import ALL_ARCHITECTURES, heavy

import archdsl


def small(path) -> tuple[torch.nn.Module, torch.Tensor]:
    """The network at 64x64 where it takes that size (fast), else at its declared input."""
    params = {"input": "3x64x64"}
    try:
        ir = archdsl.build(path, params=params)
    except archdsl.ArchError:
        params = {}
        ir = archdsl.build(path)
    torch.manual_seed(0)
    return archdsl.load(path, **params), torch.randn(2, *ir.input_shape)


def tensors(result) -> list[torch.Tensor]:
    return [result] if isinstance(result, torch.Tensor) else [t for t in result if t is not None]


CI = heavy("lenet5", "resnet18", "convnext_tiny")
COMPILED = [pytest.param(p, training, marks=[pytest.mark.slow] if p.stem == "googlenet" else [])
            for p in heavy("lenet5", "resnet18", "googlenet", "convnext_tiny") for training in (False, True)
            if ALL_ARCHITECTURES or training or p.stem != "googlenet"]


@pytest.mark.parametrize("path, training", COMPILED, ids=lambda v: v.stem if hasattr(v, "stem") else
                         ("train" if v else "eval"))
def test_torch_compile_fullgraph(path, training):
    model, x = small(path)
    model.train(training)
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    torch.manual_seed(1)  # the same dropout masks in both runs
    got = compiled(x)
    torch.manual_seed(1)
    expected = model(x)
    assert type(got) is type(expected)  # in training, the side-outputs tuple
    assert len(tensors(got)) == len(tensors(expected))
    for a, b in zip(tensors(got), tensors(expected)):
        assert torch.allclose(a, b, atol=1e-5, rtol=0)


@pytest.mark.parametrize("path", CI, ids=lambda p: p.stem)
def test_torch_export(path):
    model, x = small(path)
    model.eval()
    exported = torch.export.export(model, (x,))
    with torch.no_grad():
        assert torch.allclose(exported.module()(x), model(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("path", CI, ids=lambda p: p.stem)
def test_onnx_export_runs_under_onnxruntime(path, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")  # torch.onnx.export(dynamo=True) builds the graph with it
    ort = pytest.importorskip("onnxruntime")
    model, x = small(path)
    model.eval()
    out = tmp_path / f"{path.stem}.onnx"
    torch.onnx.export(model, (x,), str(out), dynamo=True, verbose=False)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        expected = model(x).numpy()
    assert got.shape == expected.shape
    assert abs(got - expected).max() <= 1e-4
