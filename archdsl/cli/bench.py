"""`archdsl bench`: images/s and ms per batch of networks on this machine (archdsl/pytorch/bench.py)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from archdsl.cli.common import add_set_option, settings
from archdsl.outputs import write_file
from archdsl.pytorch.bench import configure, plot, run, table, warnings


def batch_sizes(text: str) -> list[int]:
    sizes = [part.strip() for part in text.split(",") if part.strip()]
    if not sizes or not all(s.isdigit() and len(s) <= 9 and int(s) >= 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"batch sizes must be positive integers (at most 9 digits), like 1,8,32; "
                                         f"got {text[:60]!r}")
    return [int(s) for s in sizes]


def count(least: int, most: int = 10**6) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not text.isdigit() or len(text) > 9 or not least <= int(text) <= most:
            raise argparse.ArgumentTypeError(f"expected an integer from {least} to {most:,}, got {text[:60]!r}")
        return int(text)
    return parse


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 3600:  # nan fails too
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0 and at most 3600, got {text[:60]!r}")
    return value


def cmd_bench(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.plot and Path(args.plot).suffix.lower() != ".png":
        parser.error("--plot writes a PNG: give a file name ending in .png")
    where = configure(args.device, args.threads)
    results = run(args.files, args.batch, args.device, args.train, args.runs, args.warmup,
                  settings(args.set, parser), args.channels_last, args.min_time)
    runs = (f"{args.runs} runs" if args.min_time is None else
            f"torch.utils.benchmark's blocks over at least {args.min_time:g} s")
    print(f"# {where}; median, fastest and interquartile range of {runs} after {args.warmup} warm-up"
          + (", channels_last" if args.channels_last else ""))
    print(table(results))
    for line in warnings(results):
        print(line, file=sys.stderr)
    if args.plot:
        write_file(args.plot, plot(results, f"time per image on {where}"), inputs=args.files)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def register(sub) -> None:
    p = sub.add_parser("bench", help="images/s and ms per batch of a network on this machine, per batch size",
                       description="Time the eval forward (and with --train a training step) of each network at "
                                   "each batch size: warm-up, repeated runs, median.")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--batch", type=batch_sizes, default=[1, 8, 32], metavar="1,8,32",
                   help="comma-separated batch sizes (default 1,8,32)")
    p.add_argument("--train", action="store_true", help="also time a training step (forward, backward, SGD)")
    p.add_argument("--runs", type=count(1), default=10, help="timed runs per measurement (default 10)")
    p.add_argument("--warmup", type=count(0), default=2, help="untimed runs first (default 2)")
    p.add_argument("--min-time", type=seconds, metavar="SECONDS",
                   help="instead of --runs, let torch.utils.benchmark's adaptive_autorange choose: blocks of runs "
                        "for at least SECONDS, until their interquartile range is under 10%% of the median or "
                        "10 x SECONDS have passed (best for small networks, whose single runs the clock blurs)")
    p.add_argument("--channels-last", action="store_true",
                   help="the model in channels_last memory format (see archdsl.load)")
    p.add_argument("--threads", type=count(1, 4096), help="torch's CPU threads (default: one per core); on a machine "
                                                    "busy with other work, 1 is often faster")
    p.add_argument("--plot", metavar="OUT.png", help="draw time per image against batch size")
    add_set_option(p)
    p.set_defaults(run=cmd_bench)
