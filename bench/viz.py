"""Drawing time: `archdsl viz` of the deepest bundled networks, split into its stages.

For each network and depth: building the IR (parse + shape check, the reference every drawing
pays), turning it into DOT, and Graphviz's layout to SVG and to PNG; the median of --rounds runs.
The goal (issue 3): ResNet-152 at full depth drawn in under 10 s, end to end. The interactive
page (HTML: the network drawn at every depth, laid out and inlined) with its size.

    .venv/bin/python bench/viz.py [--models resnet152,googlenet] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import archdsl
from archdsl.drawing.html import page
from archdsl.drawing.render import drawing

ARCHITECTURES = Path(__file__).resolve().parent.parent / "architectures"
GOAL_S = 10.0


def timed(fn, rounds: int):
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet152,resnet50,googlenet")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}; "
          f"median of {args.rounds} runs; goal: full depth end to end (build + DOT + SVG) under {GOAL_S:.0f} s")
    print(f"{'network':<11} {'depth':>5} {'layers':>6} {'build':>7} {'DOT':>7} {'SVG':>7} {'PNG':>7} "
          f"{'total SVG':>9}  goal  {'HTML':>7} {'page':>8}")
    for name in args.models.split(","):
        path = ARCHITECTURES / f"{name}.arch"
        t_build, ir = timed(lambda: archdsl.build(path), args.rounds)  # noqa: B023 - called at once
        for depth in (None, 1):
            t_dot, d = timed(lambda: drawing(ir, depth), args.rounds)  # noqa: B023
            t_svg, _ = timed(lambda: d.graph.pipe(format="svg"), args.rounds)  # noqa: B023
            t_png, _ = timed(lambda: d.graph.pipe(format="png"), args.rounds)  # noqa: B023
            total = t_build + t_dot + t_svg
            verdict = ("ok" if total < GOAL_S else "MISSED") if depth is None else "-"
            t_html, text = timed(lambda: page(d), args.rounds)  # noqa: B023
            print(f"{name:<11} {depth or 'full':>5} {len(ir.enabled_layers()):>6} {t_build:>6.2f}s {t_dot:>6.2f}s "
                  f"{t_svg:>6.2f}s {t_png:>6.2f}s {total:>8.2f}s  {verdict:<4}  {t_html:>6.2f}s "
                  f"{len(text.encode()) / 1e6:>6.2f}MB")


if __name__ == "__main__":
    main()
