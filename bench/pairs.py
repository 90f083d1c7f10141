"""Shared by the benchmarks: a bundled architecture and torchvision's model, with the same weights.

Run the benchmarks from the repository root, e.g. `.venv/bin/python bench/runtime.py`.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision

import archdsl
from archdsl.pytorch.timing import CPU, WALL, Clock

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURES = ROOT / "architectures"
MODELS = ("resnet34", "vgg16", "alexnet", "googlenet")
# One network of each family added by issues 13 and 14 (ConvNeXt, RegNet and ShuffleNet were measured first).
FAMILIES = ("densenet121", "inception_v3", "mobilenet_v2", "mnasnet1_0", "resnext50_32x4d", "mobilenet_v3_large",
            "efficientnet_b0", "squeezenet1_0", "vgg16_bn", "unet")
BUILDER_OPTIONS = {
    "googlenet": {"aux_logits": True, "init_weights": True, "transform_input": False},
    "inception_v3": {"aux_logits": True, "init_weights": False, "transform_input": False},
}
# The paper's 572x572 tile is 151 GMACs: 252x252 (15 GMACs, VGG-16's) keeps a U-Net round under a minute.
INPUTS = {"unet": "1x252x252"}


def torchvision_model(name: str) -> torch.nn.Module:
    """torchvision's builder `name` (weights=None), or for `unet` the plain-PyTorch U-Net the tests compare with."""
    torch.manual_seed(0)
    if name == "unet":
        sys.path.insert(0, str(ROOT / "tests"))
        from unet_reference import ReferenceUNet

        return ReferenceUNet()
    return getattr(torchvision.models, name)(weights=None, **BUILDER_OPTIONS.get(name, {}))


def pair(name: str, device: torch.device | str = "cpu", size: int | None = None,
         **load_options) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(the reference model, archdsl's compiled model) holding identical weights, on `device`; `size` sets the
    input's height and width (default: the .arch file's own, or INPUTS')."""
    reference = torchvision_model(name).to(device)
    ours = archdsl.load(ARCHITECTURES / f"{name}.arch", device=device, input=input_shape(name, size), **load_options)
    ours.load_state_dict(reference.state_dict(), strict=True)
    return reference, ours


def input_shape(name: str, size: int | None = None) -> str:
    """The CxHxW the pair runs at: the .arch file's input, or INPUTS', with `size` for H and W when given."""
    shape = INPUTS.get(name) or "x".join(map(str, archdsl.build(ARCHITECTURES / f"{name}.arch").input_shape))
    channels = shape.split("x")[0]
    return shape if size is None else f"{channels}x{size}x{size}"


def batch(name: str, args: argparse.Namespace) -> torch.Tensor:
    """A random input batch of args.batch images for the pair `name`."""
    return torch.randn(args.batch, *map(int, input_shape(name, args.size).split("x")), device=args.device)


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
    parser.add_argument("--families", action="store_true",
                        help="instead of --models, one network of each family added by issues 13 and 14: "
                             + ",".join(FAMILIES))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, help="input height and width (default: each network's own, e.g. "
                                                 "224, 299 for inception_v3, 252 for unet)")
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice, one per core; "
                                                    "1 with --cpu-time)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with this process's CPU time instead of the wall clock: on a machine shared "
                             "with other work it leaves out the time spent waiting for a core")
    return parser


def names(args: argparse.Namespace) -> list[str]:
    """The networks the options ask for."""
    return list(FAMILIES) if args.families else args.models.split(",")


def reference_label(name: str) -> str:
    return "plain torch" if name == "unet" else "torchvision"


def setup(args: argparse.Namespace) -> tuple[Clock, str]:
    """Set torch's threads and seed; the clock the options ask for and a header line."""
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
    size = f"{args.size}x{args.size}" if args.size else "each network's input size"
    return clock, f"# {where}; batch {args.batch} at {size}, {args.rounds} alternating rounds"


def machine(clock: Clock = WALL) -> str:
    """One line naming what the figures were measured on, and how."""
    load = " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), load average {load}; "
            f"{'CPU time' if clock is CPU else 'wall clock'}")
