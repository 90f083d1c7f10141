"""Shared by the benchmarks: a bundled architecture and torchvision's model, with the same weights.

Run the benchmarks from the repository root, e.g. `.venv/bin/python bench/runtime.py`.
"""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision

import archdsl
from archdsl.pytorch.timing import CPU, WALL, Clock

ARCHITECTURES = Path(__file__).resolve().parent.parent / "architectures"
MODELS = ("resnet34", "vgg16", "alexnet", "googlenet")


def torchvision_model(name: str) -> torch.nn.Module:
    kwargs = {"aux_logits": True, "init_weights": True, "transform_input": False} if name == "googlenet" else {}
    torch.manual_seed(0)
    return getattr(torchvision.models, name)(weights=None, **kwargs)


def pair(name: str, device: torch.device | str = "cpu", **load_options) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(torchvision's model, archdsl's compiled model) holding identical weights, on `device`."""
    reference = torchvision_model(name).to(device)
    ours = archdsl.load(ARCHITECTURES / f"{name}.arch", device=device, **load_options)
    ours.load_state_dict(reference.state_dict(), strict=True)
    return reference, ours


def synced(fn: Callable[[], object], x: torch.Tensor) -> Callable[[], None]:
    """`fn`, then a wait for the GPU when `x` is on one, so that the clock sees the work itself."""
    def run() -> None:
        fn()
        if x.is_cuda:
            torch.cuda.synchronize(x.device)
    return run


def options(doc: str, models: str, rounds: int) -> argparse.ArgumentParser:
    """The options every side-by-side benchmark takes; each script adds its own."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--models", default=models)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice, one per core; "
                                                    "1 with --cpu-time)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with this process's CPU time instead of the wall clock: on a machine shared "
                             "with other work it leaves out the time spent waiting for a core")
    return parser


def setup(args: argparse.Namespace) -> tuple[Clock, torch.Tensor, str]:
    """Set torch's threads and seed; the clock the options ask for, the input batch, and a header line."""
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: PyTorch sees no CUDA device on this machine")
    if args.device == "cuda" and args.cpu_time:
        raise SystemExit("--cpu-time measures the CPU; on the GPU use the wall clock (the default)")
    threads = args.threads or (1 if args.cpu_time else None)
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    clock = CPU if args.cpu_time else WALL
    where = torch.cuda.get_device_name() if args.device == "cuda" else machine(clock)
    header = f"# {where}; batch {args.batch} at {args.size}x{args.size}, {args.rounds} alternating rounds"
    return clock, torch.randn(args.batch, 3, args.size, args.size, device=args.device), header


def machine(clock: Clock = WALL) -> str:
    """One line naming what the figures were measured on, and how."""
    load = " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), load average {load}; "
            f"{'CPU time' if clock is CPU else 'wall clock'}")
