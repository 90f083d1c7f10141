"""`archdsl check`: parse and shape-check files; each layer's shape and parameters.

`--json`: instead, one JSON object a line for each diagnostic, warnings included (schemas.DiagnosticRecord).
"""

from __future__ import annotations

import argparse
import sys
import time

from archdsl.cli.colour import paint
from archdsl.cli.common import add_set_option, add_strict_options, budget, print_warnings, settings
from archdsl.errors import ArchError, Diagnostic
from archdsl.ir.nodes import Join, Layer
from archdsl.pipeline import build
from archdsl.resources import STDIN
from archdsl.shapes.inference import fmt, total_params


def cmd_check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    params = settings(args.set, parser)
    failed = 0
    for file in args.files:
        start = time.perf_counter()
        try:
            ir = build(file, params=params, budget=budget(args, parser), strict=args.strict)
        except ArchError as exc:
            if args.json:
                _print_json(exc.diagnostics)
            else:
                print(paint(exc.render(), sys.stderr), file=sys.stderr)
            failed += 1
            continue
        elapsed = time.perf_counter() - start
        if args.json:
            _print_json(ir.warnings)
            continue
        print_warnings(ir.warnings, ir.program.sources)
        c, h, w = ir.input_shape
        print(f"{'<stdin>' if file == STDIN else file}: network {ir.network.name}, input {c}x{h}x{w}")
        if not args.quiet:
            rows = [(_name(layer), layer.describe(), fmt(layer.out_shape), f"{layer.params:,}")
                    for layer in ir.enabled_layers() if _shown(layer)]
            widths = [max(len(r[i]) for r in rows + [("layer", "op", "output", "params")]) for i in range(4)]
            print(f"  {'layer':<{widths[0]}}  {'op':<{widths[1]}}  {'output':<{widths[2]}}  {'params':>{widths[3]}}")
            for row in rows:
                print(f"  {row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]:>{widths[3]}}")
        sides = "".join(f", side output {n}: {fmt(ir.layers[i].out_shape)}" for n, i in ir.sides.items())
        for name, node in ir.outputs.items():  # one line per named output, in the returned dict's order
            print(f"  output {name}: {fmt(ir.layers[node].out_shape)}")
        main = "" if ir.outputs else f"output {fmt(ir.layers[ir.output].out_shape)}{sides}; "
        print(f"  {main}{total_params(ir):,} parameters; checked in {elapsed * 1000:.0f} ms")
    return 1 if failed else 0


def _shown(layer: Layer) -> bool:
    """Not the input or output, nor an identity shortcut (no module, no computation: its row would name
    a module that does not exist)."""
    if layer.op in (Join.INPUT, Join.OUTPUT, Join.NAMED_OUTPUT):
        return False
    return not (layer.op == Join.SHORTCUT and layer.derived is not None
                and layer.derived.decision in ("identity", "none"))


def _name(layer: Layer) -> str:
    # Only a projection shortcut is a module (`downsample`); zero-padding happens in the forward.
    if layer.op == Join.SHORTCUT and (layer.derived is None or layer.derived.decision != "projection"):
        return "-"
    return str(layer.path) or "-"


def _print_json(diagnostics: list[Diagnostic]) -> None:
    from archdsl.schemas import DiagnosticRecord  # pydantic: only for --json

    for d in diagnostics:
        print(DiagnosticRecord.of(d).model_dump_json())


def register(sub) -> None:
    p = sub.add_parser("check", help="parse and shape-check files; print each layer's shape and parameters")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="an .arch file, a bundled network's name, or - for standard input")
    p.add_argument("-q", "--quiet", action="store_true", help="totals only")
    p.add_argument("--json", action="store_true",
                   help="print each diagnostic (warnings too) as one JSON object a line, and nothing else "
                        "(`archdsl schema diagnostic`)")
    add_set_option(p)
    add_strict_options(p)
    p.set_defaults(run=cmd_check)
