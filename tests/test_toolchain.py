"""The PyTorch toolchain takes the emitted modules: torch.compile without graph breaks (train and eval
mode, side outputs included), torch.export, and ONNX export run under onnxruntime.

Tracing is slow on a 2-core CI machine, so CI runs these on small inputs over LeNet-5 (a plain
chain), ResNet-18 (residuals, projections, batch norm) and ConvNeXt-T (channels-last steps, layer
scales, stochastic depth), compiles GoogLeNet (concat, side outputs under `if`) in training mode,
where its graph holds the aux heads and everything else, and takes one small member of each family
added since (FAMILIES) through the checks that take it under ~10 s there; ARCHDSL_ALL_ARCHITECTURES=1
runs every check on every bundled file and every member of FAMILIES. torch.compile uses the "eager"
backend: fullgraph=True makes Dynamo fail on any graph break, whatever compiles the graph afterwards.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import ALL_ARCHITECTURES, ARCHITECTURES, ROOT, heavy

import archdsl

# One small member of each family of issues 13 and 14, with what it holds that the classic files do not,
# and the parameters it runs with here.
FAMILIES: dict[str, dict[str, object]] = {
    "squeezenet1_1": {},  # fire modules: concat of two expands
    "resnext50_32x4d": {},  # grouped 3x3 convolutions
    "densenet121": {},  # numbered dense layers, each a concat with everything before it
    "mobilenet_v2": {},  # when_equal shortcuts, relu6, nested numbered Sequentials
    "mnasnet0_5": {},  # batch norm momentum 1 - 0.9997, shortcuts under `if`
    "mobilenet_v3_small": {},  # squeeze-and-excitation as a gate<>, hardswish, hardsigmoid
    "efficientnet_b0": {},  # gates with SiLU, stochastic depth on the add
    "efficientnet_v2_s": {},  # fused MBConv
    "regnet_x_400mf": {},  # quoted labels (block1-0)
    "regnet_y_400mf": {},  # RegNet's squeeze-and-excitation
    "shufflenet_v2_x0_5": {},  # split<> with chunk, ChannelShuffle
    # transform_input's fixed affine; without the aux head it runs from 75x75 (docs/language.md, Conditions)
    "inception_v3": {"input": "3x75x75", "aux_logits": False, "transform_input": True},
    "unet": {"input": "1x188x188"},  # references, CenterCrop, transposed convolutions (a 4x4 output)
    # named outputs (an OrderedDict), dilation, a reference into a labelled group, resizing to the input's size
    "fcn_resnet50": {"input": "3x64x64", "aux_loss": True},
}
# The (network, check) pairs that take over ~10 s alone on 2 cores (ONNX export mostly 11-40 s, DenseNet-121,
# Inception v3 and EfficientNetV2-S 10-40 s each): with ARCHDSL_ALL_ARCHITECTURES=1 only.
HEAVY = {(name, check) for name in ("densenet121", "inception_v3", "efficientnet_v2_s")
         for check in ("compile", "train", "export")} | \
        {("efficientnet_b0", "compile"), ("regnet_y_400mf", "train")} | \
        {(name, "onnx") for name in FAMILIES if name not in ("squeezenet1_1", "unet")}


def small(path: Path, params: dict[str, object]) -> tuple[torch.nn.Module, torch.Tensor]:
    """The network with `params`, else at 64x64 where it takes that size (fast), else at its declared input."""
    if not params:
        params = {"input": "3x64x64"}
        try:
            archdsl.build(path, params=params)
        except archdsl.ArchError:
            params = {}
    ir = archdsl.build(path, params=params)
    torch.manual_seed(0)
    return archdsl.load(path, **params), torch.randn(2, *ir.input_shape)


def tensors(result) -> list[torch.Tensor]:
    if isinstance(result, torch.Tensor):
        return [result]
    return [t for t in (result.values() if isinstance(result, dict) else result) if t is not None]


def agree(got: list, expected: list[torch.Tensor], tolerance: float) -> None:
    """Equal counts and shapes, and values within `tolerance` of the largest expected magnitude (at least 1:
    Inception v3's outputs, from its std-0.1 initialisation, reach 1e8)."""
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        a = torch.as_tensor(a)
        assert a.shape == b.shape
        assert (a - b).abs().max().item() <= tolerance * max(1.0, b.abs().max().item())


def cases(check: str, classic: list[Path]) -> list:
    """(path, params) for `check`: the classic files given and the light members of FAMILIES on CI;
    every bundled file (as small() takes it) and every member of FAMILIES with ARCHDSL_ALL_ARCHITECTURES=1."""
    members = [(ROOT / "architectures" / f"{name}.arch", params) for name, params in FAMILIES.items()
               if ALL_ARCHITECTURES or (name, check) not in HEAVY]
    everything = [(path, {}) for path in (ARCHITECTURES if ALL_ARCHITECTURES else classic)]
    everything += [(path, params) for path, params in members if (path, params) not in everything]
    return [pytest.param(path, params, id=path.stem + ("-" + "-".join(f"{k}={v}" for k, v in params.items())
                                                       if params else "")) for path, params in everything]


CI = heavy("lenet5", "resnet18", "convnext_tiny")
COMPILED = [pytest.param(*case.values, training, marks=[pytest.mark.slow] if case.values[0].stem == "googlenet" else [],
                         id=f"{case.id}-{'train' if training else 'eval'}")
            for training in (False, True)
            for case in cases("train" if training else "compile",
                              CI + (heavy("googlenet") if training or ALL_ARCHITECTURES else []))]


@pytest.mark.parametrize("path, params, training", COMPILED)
def test_torch_compile_fullgraph(path, params, training):
    model, x = small(path, params)
    model.train(training)
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    torch.manual_seed(1)  # the same dropout masks and stochastic depth rows in both runs
    got = compiled(x)
    torch.manual_seed(1)
    expected = model(x)
    assert type(got) is type(expected)  # in training, the side-outputs tuple
    agree(tensors(got), tensors(expected), 1e-5)


@pytest.mark.parametrize("path, params", cases("export", CI))
def test_torch_export(path, params):
    model, x = small(path, params)
    model.eval()
    exported = torch.export.export(model, (x,))
    with torch.no_grad():
        agree(tensors(exported.module()(x)), tensors(model(x)), 1e-5)


@pytest.mark.parametrize("path, params", cases("onnx", CI))
def test_onnx_export_runs_under_onnxruntime(path, params, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")  # torch.onnx.export(dynamo=True) builds the graph with it
    ort = pytest.importorskip("onnxruntime")
    model, x = small(path, params)
    model.eval()
    out = tmp_path / f"{path.stem}.onnx"
    torch.onnx.export(model, (x,), str(out), dynamo=True, verbose=False)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        agree(got, tensors(model(x)), 1e-4)
