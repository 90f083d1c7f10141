"""`archdsl report`: MACs against parameters for several networks, as a chart and a table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from archdsl.analysis.costs import analyse
from archdsl.analysis.report import FORMATS, chart, markdown, networks_text
from archdsl.cli.common import add_set_option, settings
from archdsl.outputs import PathLike, write_files
from archdsl.pipeline import build


def cmd_report(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    out = Path(args.output)
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        parser.error(f"-o must end in {' or '.join(FORMATS)}, got {out.name!r}")
    params = settings(args.set, parser)
    irs = [build(path, params=params) for path in args.files]
    analyses = [analyse(ir) for ir in irs]
    outputs: dict[PathLike, str | bytes] = {out: chart(analyses, fmt)}
    if args.table:
        outputs[args.table] = markdown(analyses)
    write_files(outputs, inputs=[file for ir in irs for file in ir.program.sources])
    print(f"wrote {out} ({networks_text(len(analyses))})", file=sys.stderr)
    if args.table:
        print(f"wrote {args.table}", file=sys.stderr)
    return 0


def register(sub) -> None:
    p = sub.add_parser("report", help="chart MACs against parameters (bubbles: activations) for several networks")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("-o", "--output", required=True, help="the chart: OUT.png or OUT.svg")
    p.add_argument("--table", metavar="OUT.md", help="also write the figures as a Markdown table")
    add_set_option(p)
    p.set_defaults(run=cmd_report)
