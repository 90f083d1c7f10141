"""Every bundled architecture: compile, import the emitted file in a fresh process, run it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import EXPECTED_PARAMS, runnable

import archdsl

# Small inputs keep the suite fast where the architecture allows (adaptive pooling before the head).
SMALL_INPUT = {"unet": "1x188x188",  # every crop of U-Net stays valid down to a 4x4 bottom
               "alexnet": "3x63x63", "vgg16": "3x32x32", "resnet34": "3x64x64", "googlenet": "3x64x64",
               "vgg11": "3x32x32", "vgg11_lrn": "3x32x32", "vgg13": "3x32x32", "vgg16_conv1": "3x32x32",
               "vgg19": "3x32x32", "resnet18": "3x64x64", "resnet50": "3x64x64", "resnet101": "3x64x64",
               "resnet152": "3x64x64", "vgg11_bn": "3x32x32", "vgg13_bn": "3x32x32", "vgg16_bn": "3x32x32",
               "vgg19_bn": "3x32x32", "squeezenet1_0": "3x64x64", "squeezenet1_1": "3x64x64",
               "resnext50_32x4d": "3x64x64", "resnext101_32x8d": "3x64x64", "resnext101_64x4d": "3x64x64",
               "wide_resnet50_2": "3x64x64", "wide_resnet101_2": "3x64x64", "densenet121": "3x64x64",
               "densenet161": "3x64x64", "densenet169": "3x64x64", "densenet201": "3x64x64",
               "fcn_resnet50": "3x64x64", "fcn_resnet101": "3x64x64", "deeplabv3_resnet50": "3x64x64",
               "deeplabv3_resnet101": "3x64x64", "lraspp_mobilenet_v3_large": "3x64x64",
               "deeplabv3_mobilenet_v3_large": "3x64x64"}
# inception_v3 runs at its full 299x299: its auxiliary head, built in training mode, needs it.

RUNNER = """
import importlib.util, json, sys
import torch
spec = importlib.util.spec_from_file_location("emitted", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
model = getattr(module, sys.argv[2])()
shape = [2] + [int(v) for v in sys.argv[3].split("x")]
torch.manual_seed(0)
model.eval()
with torch.no_grad():
    out = model(torch.randn(*shape))
out = next(iter(out.values())) if isinstance(out, dict) else out  # named outputs: the first, `out`
model.train()
train_out = model(torch.randn(*shape))
train_out = tuple(train_out.values()) if isinstance(train_out, dict) else train_out
train_shapes = [list(t.shape) for t in train_out] if isinstance(train_out, tuple) else [list(train_out.shape)]
print(json.dumps({"params": sum(p.numel() for p in model.parameters()), "eval": list(out.shape),
                  "train": train_shapes, "archdsl_imported": "archdsl" in sys.modules}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("path", runnable(), ids=lambda p: p.stem)
def test_emitted_module_runs_standalone(path, tmp_path):
    small = SMALL_INPUT.get(path.stem)
    params = {"input": small} if small else {}
    emitted = archdsl.compile_source(path, params=params)
    target = tmp_path / f"{path.stem}.py"
    target.write_text(emitted.source)
    ir = archdsl.build(path, params=params)
    c, h, w = ir.input_shape
    result = subprocess.run([sys.executable, "-c", RUNNER, str(target), emitted.class_name, f"{c}x{h}x{w}"],
                            check=False, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["params"] == EXPECTED_PARAMS[path.stem]
    out = list(ir.layers[ir.output].out_shape)  # classes, or a segmentation's classes x H x W (U-Net)
    assert report["eval"] == [2, *out]
    expected_train = [[2, *out]] * (1 + len(ir.sides))
    assert report["train"] == expected_train
    assert report["archdsl_imported"] is False


def test_load_overrides_parameters_and_moves_to_a_device():
    import torch

    model = archdsl.load("architectures/lenet5.arch", num_classes=4, device="cpu")
    assert model(torch.zeros(3, 1, 32, 32)).shape == (3, 4)
    no_aux = archdsl.load("architectures/googlenet.arch", aux_logits=False, input="3x64x64").train()
    assert isinstance(no_aux(torch.zeros(2, 3, 64, 64)), torch.Tensor)


@pytest.mark.skipif("not __import__('torch').cuda.is_available()", reason="no CUDA device")
def test_runs_on_cuda():
    import torch

    model = archdsl.load("architectures/resnet34.arch", device="cuda").eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 64, 64, device="cuda")).shape == (2, 1000)
