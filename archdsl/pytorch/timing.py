"""Timing: warm-up, repeated runs and medians, and side-by-side comparisons that alternate A B A B.

Pure Python (no torch): callers pass functions that do one unit of work, and make them wait for
any asynchronous device themselves (`torch.cuda.synchronize()`), so the clock sees the real cost.
On a shared, noisy machine a comparison run A A A ... B B B ... measures the load of the moment as
much as the code; alternating the two and taking the median of the per-round ratios cancels most
of it, and the spread of those ratios says how much noise there was. Where other processes take
the cores in turns, wall-clock time also counts the time spent waiting for one: `clock=CPU` counts
only the CPU time this process used (meaningful with one compute thread, torch.set_num_threads(1)).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]
WALL: Clock = time.perf_counter
CPU: Clock = time.process_time  # this process's CPU time, all its threads


def seconds(fn: Callable[[], object], clock: Clock = WALL) -> float:
    """Seconds of one call (wall-clock by default)."""
    start = clock()
    fn()
    return clock() - start


def repeat(fn: Callable[[], object], runs: int, warmup: int = 1, clock: Clock = WALL) -> list[float]:
    """Seconds per call over `runs` calls, after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    return [seconds(fn, clock) for _ in range(runs)]


@dataclass(frozen=True)
class Comparison:
    """Per-round times of A and B, measured alternately."""

    a: list[float]
    b: list[float]

    @property
    def ratios(self) -> list[float]:
        return [b / a for a, b in zip(self.a, self.b)]

    @property
    def ratio(self) -> float:
        """Median of the per-round ratios B/A: above 1 means B is slower."""
        return statistics.median(self.ratios)

    @property
    def spread(self) -> tuple[float, float]:
        """Smallest and largest per-round ratio: how noisy the rounds were."""
        return min(self.ratios), max(self.ratios)

    @property
    def best_ratio(self) -> float:
        """Fastest B over fastest A: the least disturbed runs, a second view on a busy machine."""
        return min(self.b) / min(self.a)

    @property
    def median_a(self) -> float:
        return statistics.median(self.a)

    @property
    def median_b(self) -> float:
        return statistics.median(self.b)


def alternate(a: Callable[[], object], b: Callable[[], object], rounds: int, warmup: int = 1,
              clock: Clock = WALL) -> Comparison:
    """Time `a` and `b` in turn (A B A B ...), each round starting with the one that went second last time."""
    for _ in range(warmup):
        a()
        b()
    times_a, times_b = [], []
    for r in range(rounds):
        if r % 2 == 0:
            times_a.append(seconds(a, clock))
            times_b.append(seconds(b, clock))
        else:
            times_b.append(seconds(b, clock))
            times_a.append(seconds(a, clock))
    return Comparison(times_a, times_b)
