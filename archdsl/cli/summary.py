"""`archdsl summary`: per-layer parameters, MACs and memory, rolled up per block (no torch)."""

from __future__ import annotations

import argparse
import json

from archdsl.analysis.accounting import DTYPES
from archdsl.analysis.batching import at_batch
from archdsl.analysis.costs import analyse
from archdsl.analysis.summary import as_json, table
from archdsl.cli.common import add_analysis_options, add_set_option, depth_arg, settings
from archdsl.pipeline import build


def cmd_summary(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    ir = build(args.file, params=settings(args.set, parser), freeze=args.freeze)
    analysis = at_batch(analyse(ir, optimizer=args.optimizer, device=args.device, dtype=args.dtype), args.batch)
    if args.json:
        # One line: json's C encoder only runs without indent. `file` as named, as diff's A and B: a bundled
        # name rather than where it is installed.
        print(json.dumps({**as_json(analysis), "file": args.file}))
    else:
        print(table(analysis, args.depth))
    return 0


def _batch(text: str) -> int:
    if not (text.isdigit() and len(text) <= 9 and int(text) >= 1):
        raise argparse.ArgumentTypeError(f"expects a whole number from 1 up (at most 9 digits), got {text!r}")
    return int(text)


def register(sub) -> None:
    p = sub.add_parser("summary", help="per-layer parameters, MACs and memory, rolled up per block (no torch)")
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--depth", type=depth_arg, default=None, help="fold blocks nested deeper than N")
    p.add_argument("--batch", type=_batch, default=1, metavar="N",
                   help="figures for a batch of N samples: MACs, activations and saved tensors grow with N, "
                        "weights do not (default 1)")
    p.add_argument("--dtype", choices=DTYPES, default="float32",
                   help="memory in this dtype: float16 or bfloat16 as a model cast with .to(dtype); mixed as "
                        "torch.autocast runs a float32 model (parameters float32, convolutions and linears in 2 bytes) "
                        "(default float32)")
    p.add_argument("--freeze", metavar="PARTS", help="count these parts as frozen: 'up to layer3', 'conv1, layer1'")
    add_analysis_options(p)
    add_set_option(p)
    p.set_defaults(run=cmd_summary)
