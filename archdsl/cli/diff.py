"""`archdsl diff`: two networks compared per block (no torch)."""

from __future__ import annotations

import argparse
import json
import sys

from archdsl.analysis.costs import analyse
from archdsl.analysis.diff import as_json, compare, render
from archdsl.cli.colour import paint
from archdsl.cli.common import add_set_option, depth_arg, settings
from archdsl.errors import ArchError
from archdsl.pipeline import build


def cmd_diff(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    params = settings(args.set, parser)
    if args.a == args.b == "-":
        parser.error("only one of A and B can be standard input (-)")
    try:
        a, b = (analyse(build(path, params=params)) for path in (args.a, args.b))
    except ArchError as exc:
        if not args.exit_code:
            raise
        print(paint(exc.render(), sys.stderr), file=sys.stderr)
        return 2  # 1 means "they differ" here: an error in the input must say something else
    changes = compare(a, b, args.depth)
    if args.json:
        print(json.dumps(as_json(a, b, changes, (args.a, args.b))))  # one line, as summary --json
    else:
        print(render(a, b, changes, (args.a, args.b)))
    differ = any(c.status != "=" for c in changes) or any(
        getattr(a, k) != getattr(b, k) for k in ("params", "macs", "activation_bytes", "train_bytes", "depth"))
    return 1 if args.exit_code and differ else 0


def register(sub) -> None:
    p = sub.add_parser("diff", help="compare two networks per block: shapes, parameters, MACs (no torch)")
    p.add_argument("a", metavar="A.arch", help="an .arch file, a bundled network's name, or - for standard input")
    p.add_argument("b", metavar="B.arch")
    p.add_argument("--depth", type=depth_arg, default=1, help="compare blocks down to this depth (default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--exit-code", action="store_true",
                   help="as git diff --exit-code: exit 1 when the networks differ, 0 when not; errors in the "
                        "input then exit 2")
    add_set_option(p)
    p.set_defaults(run=cmd_diff)
