"""Build time with `init`: the emitted network's constructor against torchvision's, side by side in one run.

For each network, alternating rounds build (1) torchvision's model (weights=None), (2) archdsl's emitted
class as `archdsl.load` instantiates it (its `init_weights` included), (3) the same class with
`init_weights` a no-op (PyTorch's default start only), and (4) archdsl's class on the meta device.
The compile step is left out: it runs once per process (`archdsl.load` compiles, then instantiates).
CPU time (process_time) of one thread, so other processes on the machine weigh less; medians.

    .venv/bin/python bench/init_speed.py [--rounds 7] [--networks resnet50 vgg16 googlenet]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch
import torchvision

from archdsl.pipeline import compile_source
from archdsl.pytorch.runtime import module_from_source

ROOT = Path(__file__).resolve().parent.parent


def cpu_time(build) -> float:
    start = time.process_time()
    build()
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--networks", nargs="+", default=["resnet50", "vgg16", "googlenet"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    print(f"# {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} (1 thread), load average "
          f"{' '.join(f'{v:.2f}' for v in load)}; CPU time of one constructor, median of {args.rounds} "
          "alternating rounds")
    print("| network | torchvision | archdsl | archdsl, init_weights a no-op | init's share | ratio to "
          "torchvision | archdsl on meta |")
    print("|---|---|---|---|---|---|---|")
    for name in args.networks:
        emitted = compile_source(ROOT / "architectures" / f"{name}.arch")
        cls = getattr(module_from_source(emitted.source, f"{name}.arch"), emitted.class_name)
        plain = type(f"{emitted.class_name}Plain", (cls,), {"init_weights": lambda self, *a, **k: None})
        extra = {"init_weights": True} if name == "googlenet" else {}

        def on_meta(cls=cls) -> None:
            with torch.device("meta"):
                cls()

        builds = {"torchvision": lambda name=name, extra=extra: getattr(torchvision.models, name)(weights=None,
                                                                                                  **extra),
                  "archdsl": cls, "plain": plain, "meta": on_meta}
        times: dict[str, list[float]] = {key: [] for key in builds}
        for key, build in builds.items():  # one warm-up each: first calls allocate and load kernels
            cpu_time(build)
        for _ in range(args.rounds):
            for key, build in builds.items():
                times[key].append(cpu_time(build))
        med = {key: statistics.median(values) for key, values in times.items()}
        print(f"| {name} | {med['torchvision']:.3f} s | {med['archdsl']:.3f} s | {med['plain']:.3f} s | "
              f"{(med['archdsl'] - med['plain']) / med['archdsl']:.0%} | {med['archdsl'] / med['torchvision']:.2f} | "
              f"{med['meta']:.3f} s |")


if __name__ == "__main__":
    main()
