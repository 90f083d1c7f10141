"""examples/digits.py on real handwritten digits: a short run learns; DDP keeps the processes identical."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import torch
from helpers import ROOT

pytest.importorskip("sklearn")
sys.path.insert(0, str(ROOT / "examples"))
import digits


@pytest.mark.slow
def test_a_short_run_lowers_the_loss_and_beats_chance_by_far():
    torch.manual_seed(0)
    x_train, y_train, x_test, y_test = digits.load_split()
    model = digits.archdsl.load(digits.LENET5)
    chance = digits.accuracy(model, x_test, y_test)
    losses = digits.fit(model, x_train, y_train, epochs=3, lr=3e-3, batch_size=32, seed=0, show=False)
    assert losses[-1] < losses[0] / 2
    assert digits.accuracy(model, x_test, y_test) > 0.8 > chance + 0.5


@pytest.mark.slow  # two processes with torch, DDP and a few steps each
@pytest.mark.skipif(shutil.which("torchrun", path=str(ROOT / ".venv" / "bin")) is None
                    and shutil.which("torchrun") is None, reason="torchrun not installed")
def test_ddp_processes_end_with_identical_weights(tmp_path):
    from safetensors.torch import load_file

    torchrun = shutil.which("torchrun", path=str(ROOT / ".venv" / "bin")) or shutil.which("torchrun")
    run = subprocess.run([torchrun, "--standalone", "--nproc_per_node=2", str(ROOT / "examples" / "digits.py"),
                          "--ddp", "--epochs", "1", "--max-steps", "3",
                          "--save", str(tmp_path / "w{rank}.safetensors")],
                         check=False, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    first, second = load_file(tmp_path / "w0.safetensors"), load_file(tmp_path / "w1.safetensors")
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
