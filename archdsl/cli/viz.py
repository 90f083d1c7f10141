"""`archdsl viz FILE -o OUT`: write a drawing; the output's suffix picks the format (drawing/files.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from archdsl.cli.common import add_set_option, settings
from archdsl.drawing.files import FORMATS, write
from archdsl.drawing.render import RANKDIRS, drawing
from archdsl.pipeline import build


def cmd_viz(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if Path(args.output).suffix.lower() not in FORMATS:
        parser.error(f"-o {args.output}: the suffix picks the format, one of {', '.join(FORMATS)}")
    ir = build(args.file, params=settings(args.set, parser))
    d = drawing(ir, args.depth, rankdir=args.rankdir, fold_repeats=args.fold_repeats)
    write(d, args.output, inputs=ir.program.sources)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _depth(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expects a whole number from 1 up, got {text!r}")
    return value


def register(subparsers) -> None:
    p = subparsers.add_parser("viz", help="draw a network (.svg, .png, .pdf, .dot or interactive .html)",
                              description="Draw a network from its source; no model is built. The suffix of "
                                          "the output picks the format.")
    p.add_argument("file")
    p.add_argument("-o", "--output", required=True, help=f"output file: {', '.join(FORMATS)}")
    p.add_argument("--depth", type=_depth, metavar="N",
                   help="collapse every block nested N deep into one node (1: the top level only)")
    p.add_argument("--rankdir", choices=RANKDIRS, default="TB", help="top to bottom (default) or left to right")
    p.add_argument("--fold-repeats", action="store_true",
                   help="draw a run of identical repetitions (x N) once, marked ×N")
    add_set_option(p)
    p.set_defaults(run=cmd_viz)
