"""`archdsl bench` (archdsl/pytorch/bench.py) and the channels_last option of load() and compile.

The timings themselves are not asserted (a shared CI machine); what is: one row per batch size and
mode, figures that agree with each other, the plot, the progress bar, and the errors.
"""

from __future__ import annotations

import pytest
import torch
from helpers import ROOT

import archdsl
from archdsl.cli.main import main

LENET = str(ROOT / "architectures" / "lenet5.arch")


def rows(stdout: str) -> list[list[str]]:
    return [line.split() for line in stdout.splitlines() if line.startswith("lenet5.arch")]


def test_bench_prints_a_row_per_batch_and_mode_and_plots(tmp_path, capsys):
    plot = tmp_path / "time.png"
    threads = torch.get_num_threads()
    try:
        assert main(["bench", LENET, "--batch", "1,4", "--train", "--runs", "2", "--warmup", "0", "--threads", "1",
                     "--plot", str(plot)]) == 0
    finally:
        torch.set_num_threads(threads)
    out, err = capsys.readouterr()
    table = rows(out)
    assert [(r[1], r[2]) for r in table] == [("eval", "1"), ("train", "1"), ("eval", "4"), ("train", "4")]
    for _, _, batch, ms_batch, ms_min, iqr, ms_image, per_s, *flag in table:
        ms_batch, ms_image, per_s = float(ms_batch), float(ms_image), float(per_s)
        # the same median three ways, each printed rounded (0.1 ms, 0.01 ms, 0.1 image/s)
        assert abs(ms_image - ms_batch / int(batch)) <= 0.05 / int(batch) + 0.005
        assert ms_batch > 0 and abs(per_s * ms_image - 1000) <= 0.05 * ms_image + 0.005 * per_s + 1e-6
        assert 0 < float(ms_min) <= ms_batch + 0.05 and float(iqr) >= 0 and flag in ([], ["!"])
    assert "# cpu (1 thread); median, fastest and interquartile range of 2 runs after 0 warm-up" in out
    assert "4/4 lenet5.arch batch 4 train" in err and "[" in err  # the progress bar, on stderr
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_with_min_time_takes_torch_utils_benchmarks_blocks(capsys):
    threads = torch.get_num_threads()
    try:
        assert main(["bench", LENET, "--batch", "1", "--min-time", "0.05", "--warmup", "1", "--threads", "1"]) == 0
        assert torch.get_num_threads() == 1  # the Timer ran on --threads' count and gave it back
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert ("# cpu (1 thread); median, fastest and interquartile range of torch.utils.benchmark's blocks over at "
            "least 0.05 s after 1 warm-up") in out
    ((_, mode, batch, ms_batch, ms_min, iqr, *_),) = rows(out)
    # LeNet at batch 1 takes well under a millisecond: blocks of many runs, each block's mean per run
    assert (mode, batch) == ("eval", "1") and 0 < float(ms_min) <= float(ms_batch) < 50 and float(iqr) >= 0


@pytest.mark.parametrize("args, message", [
    (["--batch", "1,x"], "batch sizes must be positive integers (at most 9 digits), like 1,8,32"),
    (["--batch", "0"], "batch sizes must be positive"),
    (["--batch", "99999999999999999999"], "at most 9 digits"),
    (["--runs", "0"], "expected an integer from 1 to 1,000,000"),
    (["--min-time", "0"], "expected a number of seconds above 0 and at most 3600"),
    (["--min-time", "nan"], "expected a number of seconds above 0"),
    (["--threads", "99999999999999999999"], "expected an integer from 1 to 4,096"),
    (["--plot", "out.jpg"], "--plot writes a PNG"),
])
def test_bench_usage_errors(args, message, capsys):
    # Each was a traceback for a huge number (int overflow in torch) before it was a usage error.
    with pytest.raises(SystemExit) as info:
        main(["bench", LENET, "--runs", "1", *args])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_bench_on_cuda_without_a_gpu_says_so(capsys):
    assert main(["bench", LENET, "--device", "cuda", "--runs", "1"]) == 1
    err = capsys.readouterr().err
    assert "PyTorch sees no CUDA device" in err and "--device cpu" in err and "Traceback" not in err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_bench_on_cuda(capsys):
    assert main(["bench", LENET, "--device", "cuda", "--batch", "1,8", "--train", "--runs", "2"]) == 0
    out = capsys.readouterr().out
    assert len(rows(out)) == 4 and "# cuda (" in out


def test_channels_last_load_keeps_the_outputs_and_stores_nhwc():
    path = ROOT / "architectures" / "resnet18.arch"
    plain = archdsl.load(path, input="3x32x32").eval()
    nhwc = archdsl.load(path, input="3x32x32", channels_last=True).eval()
    nhwc.load_state_dict(plain.state_dict())
    assert nhwc.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert not plain.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(nhwc(x), plain(x), atol=1e-5, rtol=0)


def test_compile_channels_last_writes_it_in_the_module(tmp_path, capsys):
    out = tmp_path / "lenet.py"
    assert main(["compile", LENET, "--channels-last", "-o", str(out)]) == 0
    text = out.read_text()
    assert "        self.to(memory_format=torch.channels_last)" in text
    assert "        x = x.contiguous(memory_format=torch.channels_last)" in text
    assert "run `archdsl compile lenet5.arch --channels-last` again" in text


def test_bench_refuses_a_batch_that_would_not_fit_in_memory(capsys):
    # --batch 1000000 of VGG-16 tried to allocate terabytes.
    assert main(["bench", str(ROOT / "architectures" / "vgg16.arch"), "--batch", "1000000", "--runs", "1"]) == 1
    err = capsys.readouterr().err
    assert "error[out-of-memory]: cannot benchmark network VGG16" in err and "for a batch of 1000000" in err


def test_bench_reports_the_spread_and_warns_when_runs_disagree():
    from archdsl.pytorch.bench import Result, table, warnings

    steady = Result("a.arch", "eval", 2, [0.010, 0.011, 0.010, 0.012])
    noisy = Result("b.arch", "eval", 1, [2.696, 0.613, 0.620, 0.630])  # ResNet-18's two runs in issue 15
    assert steady.ms_min == pytest.approx(10.0) and steady.ms_iqr == pytest.approx(1.25, abs=1e-9)
    assert not steady.disagree and noisy.disagree
    rows = table([steady, noisy]).splitlines()
    assert rows[0].split() == ["file", "mode", "batch", "ms/batch", "min", "IQR", "ms/image", "images/s"]
    assert rows[1].split()[3:6] == ["10.5", "10.0", "1.2"] and not rows[1].endswith("!") and rows[2].endswith("!")
    [line] = warnings([steady, noisy])
    assert line.startswith("warning: the runs of b.arch batch 1 eval disagree widely (fastest 613.0 ms, slowest "
                           "2,696.0 ms")
