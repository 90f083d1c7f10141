"""`archdsl summary --dtype` and `archdsl.summary(..., dtype=)`: memory in float16, bfloat16 and under
torch.autocast, against the bytes autograd keeps for backward (saved_tensors_hooks) on CPU, to the byte."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from helpers import ROOT, net
from test_analysis import _saved_by_autograd
from test_layers import SAMPLES

import archdsl
from archdsl.analysis.batching import at_batch
from archdsl.analysis.costs import analyse
from archdsl.schemas import Summary

CAST = {"bfloat16": torch.bfloat16, "float16": torch.float16}
# Joins and options the word samples do not reach: a projection shortcut, a gate, dropout before a linear,
# stochastic depth on a residual.
MORE = {"projection": "residual< conv3-8/2; bn; relu >", "gate": "gate< gap; conv1-3; sigmoid >",
        "dropout fc": "flatten; dropout; fc-4", "stochastic depth": "residual(drop=0.2)< conv3-3 >"}
NO_HALF_ON_CPU = {"lrn"}  # torch has no float16 or bfloat16 avg_pool3d on CPU


def _measured(source: str, dtype: str, batch: int = 1) -> tuple[int, int]:
    """(archdsl's saved bytes, autograd's) for `source` in `dtype`, on CPU."""
    ir = archdsl.build("t.arch", source=source)
    estimate = at_batch(analyse(ir, device="cpu", dtype=dtype), batch).saved_bytes
    torch.manual_seed(0)
    model = archdsl.load("t.arch", source=source).train()
    x = torch.randn(batch, *ir.input_shape)
    if dtype == "mixed":
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return estimate, _saved_by_autograd(model, x)
    return estimate, _saved_by_autograd(model.to(CAST[dtype]), x.to(CAST[dtype]))


def _word_source(sample: str) -> str:
    # After a convolution, so that under autocast each word meets the low dtype (and the conv a float32 input).
    return net(sample if sample.startswith("a:") else "conv3-3; " + sample, "3x8x8")


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "mixed"])
@pytest.mark.parametrize("word", [*SAMPLES, *MORE])
def test_saved_bytes_of_every_word_equal_autograds(word, dtype):
    if dtype != "mixed" and word in NO_HALF_ON_CPU:
        pytest.skip("no half-precision kernel on CPU")
    estimate, measured = _measured(_word_source({**SAMPLES, **MORE}[word]), dtype)
    assert estimate == measured


NETWORKS = [("resnet50", "3x64x64"), ("googlenet", "3x64x64"), ("convnext_tiny", "3x64x64"),
            ("mobilenet_v3_small", "3x64x64")]


@pytest.mark.parametrize("dtype", ["bfloat16", "mixed"])
@pytest.mark.parametrize(("name", "small"), NETWORKS, ids=[n for n, _ in NETWORKS])
def test_saved_bytes_of_whole_networks_equal_autograds(name, small, dtype):
    source = (ROOT / "architectures" / f"{name}.arch").read_text()
    path = ROOT / "architectures" / f"{name}.arch"
    estimate = analyse(archdsl.build(path, params={"input": small}), device="cpu", dtype=dtype)
    torch.manual_seed(0)
    model = archdsl.load(path, input=small).train()
    x = torch.randn(1, *estimate.ir.input_shape)
    if dtype == "mixed":
        with torch.autocast("cpu", dtype=torch.bfloat16):
            measured = _saved_by_autograd(model, x)
    else:
        measured = _saved_by_autograd(model.to(torch.bfloat16), x.to(torch.bfloat16))
    assert source and estimate.saved_bytes == measured


def test_autocasts_weight_copies_do_not_grow_with_the_batch():
    source = net("conv3-8; relu; maxpool; conv3-16; relu; flatten; fc-10", "3x16x16")
    for batch in (1, 3):
        estimate, measured = _measured(source, "mixed", batch)
        assert estimate == measured


def test_what_the_dtype_changes():
    full, half, mixed = (archdsl.summary("resnet18", dtype=d) for d in ("float32", "bfloat16", "mixed"))
    assert half.macs == mixed.macs == full.macs and half.params == full.params
    assert half.train.grad_bytes * 2 == full.train.grad_bytes == mixed.train.grad_bytes == 11_689_512 * 4
    # Buffers: running mean and variance in the dtype, the int64 step counters (20 of them) not.
    assert half.param_bytes == (11_689_512 + half.buffers - 20) * 2 + 20 * 8
    assert half.activation_bytes * 2 == full.activation_bytes
    assert half.activation_bytes < mixed.activation_bytes < full.activation_bytes
    assert "batch 1, bfloat16" in repr(half) and "mixed precision (torch.autocast" in repr(mixed)
    assert (full.dtype, half.dtype, mixed.dtype) == ("float32", "bfloat16", "mixed")


def test_the_command_takes_dtype():
    out = subprocess.run([sys.executable, "-m", "archdsl", "summary", "--json", "--dtype", "float16", "lenet5"],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    summary = Summary.model_validate_json(out)
    assert summary.dtype == "float16" and summary.param_bytes * 2 == archdsl.summary("lenet5").param_bytes
    bad = subprocess.run([sys.executable, "-m", "archdsl", "summary", "--dtype", "half", "lenet5"],
                         capture_output=True, text=True, check=False, cwd=ROOT)
    assert bad.returncode == 2 and "invalid choice: 'half'" in bad.stderr
    with pytest.raises(ValueError, match="dtype must be one of float32, float16, bfloat16, mixed"):
        archdsl.summary("lenet5", dtype="half")
