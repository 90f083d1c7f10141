"""`archdsl summary --batch N` and `archdsl.summary(..., batch=N)`: what grows with the batch, against
what autograd keeps and what a forward pass creates at that batch."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from helpers import ROOT, net
from test_analysis import _saved_by_autograd

import archdsl
from archdsl.analysis.batching import at_batch
from archdsl.analysis.costs import analyse
from archdsl.schemas import Summary

PLAIN = net("conv3-8; relu; maxpool; conv3-16; relu; flatten; dropout; fc-10", "3x16x16")
NORMED = net("conv3-8; bn; relu; conv3-16; bn; relu; gap; flatten; fc-10", "3x16x16")


def test_saved_tensors_at_a_batch_equal_autograds():
    for batch in (1, 4):
        estimate = at_batch(analyse(archdsl.build("p.arch", source=PLAIN), device="cpu"), batch)
        model = archdsl.load("p.arch", source=PLAIN).train()
        assert _saved_by_autograd(model, torch.randn(batch, 3, 16, 16)) == estimate.saved_bytes


def test_batch_statistics_are_the_one_overestimate():
    batch = 4
    estimate = at_batch(analyse(archdsl.build("n.arch", source=NORMED), device="cpu"), batch)
    model = archdsl.load("n.arch", source=NORMED).train()
    measured = _saved_by_autograd(model, torch.randn(batch, 3, 16, 16))
    stats = sum(2 * m.num_features * 4 for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert estimate.saved_bytes - measured == (batch - 1) * stats


def test_what_grows_with_the_batch_and_what_does_not():
    one = archdsl.summary("resnet18")
    many = archdsl.summary("resnet18", batch=8)
    assert (many.batch, many.params, many.buffers, many.param_bytes) == (8, one.params, one.buffers, one.param_bytes)
    assert (many.macs, many.activation_bytes, many.train.saved_bytes) == (
        8 * one.macs, 8 * one.activation_bytes, 8 * one.train.saved_bytes)
    assert many.train_bytes == one.train_bytes + 7 * one.train.saved_bytes
    assert [layer.macs for layer in many.layers] == [8 * layer.macs for layer in one.layers]
    assert "batch 8, float32" in repr(many)


def test_the_command_takes_batch(tmp_path):
    out = subprocess.run([sys.executable, "-m", "archdsl", "summary", "--json", "--batch", "16", "lenet5"],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    summary = Summary.model_validate_json(out)
    assert summary.batch == 16 and summary.macs == 16 * archdsl.summary("lenet5").macs
    bad = subprocess.run([sys.executable, "-m", "archdsl", "summary", "--batch", "0", "lenet5"], capture_output=True,
                         text=True, check=False, cwd=ROOT)
    assert bad.returncode == 2 and "expects a whole number from 1 up" in bad.stderr


def test_at_batch_refuses_nonsense():
    with pytest.raises(ValueError, match="batch must be 1 or more"):
        at_batch(analyse(archdsl.build("p.arch", source=PLAIN)), 0)
