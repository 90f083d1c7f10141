"""`archdsl viz FILE -o OUT`: write a drawing; the output's suffix picks the format (drawing/files.py).
Without -o (or with `-o -`) a text format (dot, svg, html; `--format`) goes to standard output."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from archdsl.cli.common import add_set_option, settings
from archdsl.drawing.files import FORMATS, INSTALL_HINT, check_layout_size, write
from archdsl.drawing.render import RANKDIRS, Drawing, drawing
from archdsl.errors import ArchError, Diagnostic
from archdsl.pipeline import build

TEXT_FORMATS = ("dot", "svg", "html")  # what standard output takes; png and pdf need -o FILE


def cmd_viz(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    to_stdout = args.output in (None, "-")
    if to_stdout and (args.format or "dot") not in TEXT_FORMATS:
        parser.error(f"--format {args.format} is binary: write it with -o FILE.{args.format}")
    if not to_stdout and Path(args.output).suffix.lower() not in FORMATS:
        parser.error(f"-o {args.output}: the suffix picks the format, one of {', '.join(FORMATS)}")
    if not to_stdout and args.format and Path(args.output).suffix.lower() != f".{args.format}":
        parser.error(f"--format {args.format} disagrees with -o {args.output}: the suffix picks the format")
    ir = build(args.file, params=settings(args.set, parser))
    d = drawing(ir, args.depth, rankdir=args.rankdir, fold_repeats=args.fold_repeats)
    if to_stdout:
        sys.stdout.write(_text(d, args.format or "dot"))
        return 0
    write(d, args.output, inputs=ir.program.sources)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _text(d: Drawing, fmt: str) -> str:
    import graphviz

    if fmt != "dot":
        check_layout_size(d)
    try:
        text = FORMATS[f".{fmt}"](d)
    except graphviz.ExecutableNotFound:
        raise ArchError(Diagnostic(f"Graphviz's `dot` program was not found, so the {fmt} drawing was not made",
                                   hint=INSTALL_HINT + "; `--format dot` prints the graph without it",
                                   code="no-graphviz")) from None
    assert isinstance(text, str)
    return text if text.endswith("\n") else text + "\n"


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
                                          "the output picks the format; without -o, or with -o -, the drawing "
                                          "goes to standard output as DOT (or --format svg, html).")
    p.add_argument("file", help="an .arch file, a bundled network's name, or - for standard input")
    p.add_argument("-o", "--output", help=f"output file: {', '.join(FORMATS)} (default, or '-': standard output)")
    p.add_argument("--format", choices=[s[1:] for s in FORMATS],
                   help="the format on standard output: dot (default), svg or html")
    p.add_argument("--depth", type=_depth, metavar="N",
                   help="collapse every block nested N deep into one node (1: the top level only)")
    p.add_argument("--rankdir", choices=RANKDIRS, default="TB", help="top to bottom (default) or left to right")
    p.add_argument("--fold-repeats", action="store_true",
                   help="draw a run of identical repetitions (x N) once, marked ×N")
    add_set_option(p)
    p.set_defaults(run=cmd_viz)
