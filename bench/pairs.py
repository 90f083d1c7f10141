"""Shared by the benchmarks: a bundled architecture and torchvision's model, with the same weights.

Run the benchmarks from the repository root, e.g. `.venv/bin/python bench/runtime.py`.
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

import torch
import torchvision

import archdsl
from archdsl.timing import CPU, WALL, Clock

ARCHITECTURES = Path(__file__).resolve().parent.parent / "architectures"
MODELS = ("resnet34", "vgg16", "alexnet", "googlenet")


def torchvision_model(name: str) -> torch.nn.Module:
    kwargs = {"aux_logits": True, "init_weights": True, "transform_input": False} if name == "googlenet" else {}
    torch.manual_seed(0)
    return getattr(torchvision.models, name)(weights=None, **kwargs)


def pair(name: str, **load_options) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(torchvision's model, archdsl's compiled model) holding identical weights."""
    reference = torchvision_model(name)
    ours = archdsl.load(ARCHITECTURES / f"{name}.arch", **load_options)
    ours.load_state_dict(reference.state_dict(), strict=True)
    return reference, ours


def options(doc: str, models: str, rounds: int) -> argparse.ArgumentParser:
    """The options every side-by-side benchmark takes; each script adds its own."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--models", default=models)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice, one per core; "
                                                    "1 with --cpu-time)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with this process's CPU time instead of the wall clock: on a machine shared "
                             "with other work it leaves out the time spent waiting for a core")
    return parser


def setup(args: argparse.Namespace) -> tuple[Clock, torch.Tensor, str]:
    """Set torch's threads and seed; the clock the options ask for, the input batch, and a header line."""
    threads = args.threads or (1 if args.cpu_time else None)
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    clock = CPU if args.cpu_time else WALL
    header = f"# {machine(clock)}; batch {args.batch} at {args.size}x{args.size}, {args.rounds} alternating rounds"
    return clock, torch.randn(args.batch, 3, args.size, args.size), header


def machine(clock: Clock = WALL) -> str:
    """One line naming what the figures were measured on, and how."""
    load = " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), load average {load}; "
            f"{'CPU time' if clock is CPU else 'wall clock'}")
