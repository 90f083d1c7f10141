"""`archdsl summary`: per-layer parameters, MACs and memory, rolled up per block (no torch)."""

from __future__ import annotations

import argparse
import json

from archdsl.analysis.costs import analyse
from archdsl.analysis.summary import as_json, table
from archdsl.cli.common import add_analysis_options, add_set_option, depth_arg, settings
from archdsl.pipeline import build


def cmd_summary(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    ir = build(args.file, params=settings(args.set, parser), freeze=args.freeze)
    analysis = analyse(ir, optimizer=args.optimizer, device=args.device)
    if args.json:
        print(json.dumps(as_json(analysis)))  # one line: json's C encoder only runs without indent
    else:
        print(table(analysis, args.depth))
    return 0


def register(sub) -> None:
    p = sub.add_parser("summary", help="per-layer parameters, MACs and memory, rolled up per block (no torch)")
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--depth", type=depth_arg, default=None, help="fold blocks nested deeper than N")
    p.add_argument("--freeze", metavar="PARTS", help="count these parts as frozen: 'up to layer3', 'conv1, layer1'")
    add_analysis_options(p)
    add_set_option(p)
    p.set_defaults(run=cmd_summary)
