"""`archdsl viz FILE -o OUT`: write a drawing; the output's suffix picks the format.

`.dot` needs nothing but Python; `.svg`, `.png`, `.pdf` and `.html` need Graphviz's `dot`
program. Where it is missing the `.dot` file is still written beside OUT, and the error says how
to install Graphviz.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from archdsl.cli import add_set_option, settings
from archdsl.errors import ArchError, Diagnostic
from archdsl.outputs import write_file
from archdsl.pipeline import build
from archdsl.viz import RANKDIRS, Drawing, drawing


def _html(d: Drawing) -> str:
    from archdsl.viz_html import page  # the page's script and style are only needed here

    return page(d)


# Suffix -> how to turn a drawing into the file's contents.
FORMATS: dict[str, Callable[[Drawing], str | bytes]] = {
    ".dot": lambda d: d.graph.source,
    ".svg": lambda d: d.graph.pipe(format="svg", encoding="utf-8"),
    ".png": lambda d: d.graph.pipe(format="png"),
    ".pdf": lambda d: d.graph.pipe(format="pdf"),
    ".html": _html,
}
INSTALL_HINT = ("install Graphviz, which provides `dot`: `sudo apt-get install graphviz` (Debian, Ubuntu), "
                "`brew install graphviz` (macOS), `conda install graphviz`, or https://graphviz.org/download/; "
                "`bash scripts/setup` installs it where it can")


def write(d: Drawing, out: str | Path, inputs: Iterable[str] = ()) -> Path:
    """Write the drawing to `out` in the format its suffix names; returns the path written."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ArchError(Diagnostic(f"cannot draw to '{out.name}': unknown format '{out.suffix or '(none)'}'",
                                   hint=f"name the output with one of {', '.join(FORMATS)}"))
    import graphviz  # for its exception; `d` was drawn with it, so it is loaded already

    try:
        contents = FORMATS[suffix](d)
    except graphviz.ExecutableNotFound:
        dot_file = out.with_suffix(".dot")
        write_file(dot_file, d.graph.source, inputs=inputs)
        raise ArchError(Diagnostic(f"Graphviz's `dot` program was not found, so {out} was not drawn; the graph "
                                   f"was written to {dot_file} (render it later with "
                                   f"`dot -T{suffix[1:] if suffix != '.html' else 'svg'} {dot_file}`)",
                                   hint=INSTALL_HINT)) from None
    write_file(out, contents, inputs=inputs)
    return out


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
