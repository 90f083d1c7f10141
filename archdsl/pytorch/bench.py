"""`archdsl bench`: how fast an architecture runs on this machine, per batch size.

For each file and batch size: the eval forward (under torch.no_grad) and, with --train, one
training step (forward, backward, SGD step), each timed over repeated runs after a warm-up (a fixed
number, or with --min-time as torch.utils.benchmark's adaptive_autorange decides); the median gives
ms per batch and images per second, the fastest run and the interquartile range its spread, and runs
that disagree widely are flagged (a busy machine). `--plot` draws time per image against batch size
(as in Canziani, Paszke & Culurciello 2017), which answers "CPU or GPU, which network, what batch"
for the user's own machine. torch is imported here only when the command runs; matplotlib only
for --plot.
"""

from __future__ import annotations

import io
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archdsl.errors import ArchError, Diagnostic
from archdsl.pytorch.timing import repeat


@dataclass(frozen=True)
class Result:
    file: str
    mode: str  # "eval" or "train"
    batch: int
    times: list[float]  # seconds per batch, one per run

    @property
    def ms_per_batch(self) -> float:
        return statistics.median(self.times) * 1000

    @property
    def ms_per_image(self) -> float:
        return self.ms_per_batch / self.batch

    @property
    def images_per_s(self) -> float:
        return 1000 / self.ms_per_image

    @property
    def ms_min(self) -> float:
        return min(self.times) * 1000

    @property
    def ms_iqr(self) -> float:
        """Interquartile range of the runs, ms: how far the middle half of them spread."""
        if len(self.times) < 2:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.times, n=4, method="inclusive")
        return (q3 - q1) * 1000

    @property
    def disagree(self) -> bool:
        """Runs that disagree widely (the slowest over twice the fastest, or a middle half wider than a
        quarter of the median): the machine was busy, and the median alone would hide it."""
        return max(self.times) > 2 * min(self.times) or self.ms_iqr > 0.25 * self.ms_per_batch


def outputs(result) -> list:
    """The tensors a model returns: the output alone, (in training) the output and its side outputs, or the
    entries of its dict of named outputs."""
    import torch

    if isinstance(result, torch.Tensor):
        return [result]
    if isinstance(result, dict):
        return list(result.values())
    return [t for t in result if t is not None]


def train_step(model, optimizer, x) -> None:
    """Forward, backward, SGD step. The loss is a log-sum-exp over the channels of every output:
    the cost of a cross-entropy without labels, for any output shape."""
    optimizer.zero_grad(set_to_none=True)
    loss = sum(out.logsumexp(1).mean() for out in outputs(model(x)))
    loss.backward()
    optimizer.step()


def measure(model, x, mode: str, runs: int, warmup: int, sync: Callable[[], None],
            min_time: float | None = None) -> list[float]:
    """Seconds per batch over `runs` runs of the eval forward or the training step; with `min_time`, as
    torch.utils.benchmark's adaptive_autorange decides (see autorange)."""
    import torch

    if mode == "eval":
        model.eval()

        def step() -> None:
            with torch.no_grad():
                model(x)
            sync()
    else:
        model.train()
        sgd = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

        def step() -> None:
            train_step(model, sgd, x)
            sync()
    return repeat(step, runs, warmup) if min_time is None else autorange(step, min_time, warmup)


def autorange(step: Callable[[], None], min_time: float, warmup: int) -> list[float]:
    """Seconds per call, by torch.utils.benchmark: its Timer runs `step` in blocks long enough that the
    clock's cost vanishes (many calls per block for a small network at batch 1, one for a large one),
    for at least `min_time` seconds and until the blocks' interquartile range is under a tenth of their
    median, or 10 x `min_time` has passed (a busy machine). One time per block, each block's mean."""
    import torch
    from torch.utils.benchmark import Timer

    for _ in range(warmup):
        step()
    # num_threads: the Timer would otherwise run the step on one thread, whatever --threads said
    timer = Timer("step()", globals={"step": step}, num_threads=torch.get_num_threads())
    return timer.adaptive_autorange(threshold=0.1, min_run_time=min_time, max_run_time=10 * min_time).times


class Progress:
    """A one-line progress bar on stderr (redrawn in place on a terminal, one line per step elsewhere)."""

    def __init__(self, total: int, stream=None, width: int = 30):
        self.total, self.done, self.width = total, 0, width
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()

    def step(self, label: str) -> None:
        self.done += 1
        filled = self.width * self.done // self.total
        bar = f"[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} {label}"
        if self.tty:
            self.stream.write(f"\r\033[K{bar}" + ("\n" if self.done == self.total else ""))
        else:
            self.stream.write(bar + "\n")
        self.stream.flush()


def _require_device(device: str) -> None:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise ArchError(Diagnostic("--device cuda: PyTorch sees no CUDA device on this machine",
                                   hint="use --device cpu, or install a CUDA build of PyTorch", code="no-cuda"))


def configure(device: str, threads: int | None) -> str:
    """Set torch's CPU threads (None: one per core); returns where the timings run, for the report."""
    import torch

    _require_device(device)
    if threads:
        torch.set_num_threads(threads)
    threads = torch.get_num_threads()
    return f"{device}" + (f" ({threads} thread{'s' * (threads != 1)})" if device == "cpu" else
                          f" ({torch.cuda.get_device_name()})")


def run(files: list[str], batches: list[int], device: str, train: bool, runs: int, warmup: int,
        params: dict[str, Any], channels_last: bool = False, min_time: float | None = None) -> list[Result]:
    import torch

    from archdsl.pipeline import build
    from archdsl.pytorch.runtime import load, require_memory

    _require_device(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    modes = ["eval", "train"] if train else ["eval"]
    progress = Progress(len(files) * len(batches) * len(modes))
    results = []
    for file in files:
        ir = build(file, params=params)
        if device == "cpu":
            require_memory(ir, "benchmark", batch=max(batches))
        shape = ir.input_shape
        model = load(file, device=device, channels_last=channels_last, **params)
        for batch in batches:
            x = torch.randn(batch, *shape, device=device)  # NCHW, as users pass it: the module converts it
            for mode in modes:
                times = measure(model, x, mode, runs, warmup, sync, min_time)
                results.append(Result(file, mode, batch, times))
                progress.step(f"{Path(file).name} batch {batch} {mode}")
    return results


def table(results: list[Result]) -> str:
    head = (f"{'file':<20} {'mode':<6} {'batch':>5} {'ms/batch':>10} {'min':>9} {'IQR':>8} {'ms/image':>9} "
            f"{'images/s':>9}")
    lines = [head]
    for r in results:
        lines.append(f"{Path(r.file).name:<20} {r.mode:<6} {r.batch:>5} {r.ms_per_batch:>10.1f} {r.ms_min:>9.1f} "
                     f"{r.ms_iqr:>8.1f} {r.ms_per_image:>9.2f} {r.images_per_s:>9.1f}" + (" !" if r.disagree else ""))
    return "\n".join(lines)


def warnings(results: list[Result]) -> list[str]:
    """A line for each measurement whose runs disagree widely (marked ! in the table)."""
    return [f"warning: the runs of {Path(r.file).name} batch {r.batch} {r.mode} disagree widely (fastest "
            f"{r.ms_min:,.1f} ms, slowest {max(r.times) * 1000:,.1f} ms, IQR {r.ms_iqr:,.1f} ms): the machine was "
            "busy; rerun with more --runs, or --threads 1 on a shared machine" for r in results if r.disagree]


def plot(results: list[Result], title: str) -> bytes:
    """Time per image against batch size, one line per file and mode, as PNG bytes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), dpi=120)
    ax = fig.add_subplot()
    series: dict[tuple[str, str], list[Result]] = {}
    for r in results:
        series.setdefault((r.file, r.mode), []).append(r)
    files = list(dict.fromkeys(r.file for r in results))
    palette = [f"C{k % 10}" for k in range(len(files))]  # one colour per network; the mode sets the line
    for (file, mode), points in series.items():
        ax.plot([p.batch for p in points], [p.ms_per_image for p in points], marker="o",
                color=palette[files.index(file)], linestyle="-" if mode == "eval" else "--",
                label=f"{Path(file).stem} ({mode})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")  # networks differ by orders of magnitude
    ax.set_xticks(sorted({r.batch for r in results}), labels=[str(b) for b in sorted({r.batch for r in results})])
    ax.set_xlabel("batch size")
    ax.set_ylabel("ms per image (median)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()
