"""`archdsl diff`: two networks compared per block (no torch)."""

from __future__ import annotations

import argparse
import json

from archdsl.analysis.costs import analyse
from archdsl.analysis.diff import as_json, compare, render
from archdsl.cli.common import add_set_option, depth_arg, settings
from archdsl.pipeline import build


def cmd_diff(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    params = settings(args.set, parser)
    a, b = (analyse(build(path, params=params)) for path in (args.a, args.b))
    changes = compare(a, b, args.depth)
    if args.json:
        print(json.dumps(as_json(a, b, changes)))  # one line, as summary --json
    else:
        print(render(a, b, changes))
    return 0


def register(sub) -> None:
    p = sub.add_parser("diff", help="compare two networks per block: shapes, parameters, MACs (no torch)")
    p.add_argument("a", metavar="A.arch")
    p.add_argument("b", metavar="B.arch")
    p.add_argument("--depth", type=depth_arg, default=1, help="compare blocks down to this depth (default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    add_set_option(p)
    p.set_defaults(run=cmd_diff)
