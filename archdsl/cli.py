"""The command line: `archdsl compile`, `archdsl check`, and the commands of COMMAND_MODULES.

Exit codes: 0 success, 1 errors in the input (printed as `file:line:col: error: ...`), 2 usage errors.
Only `ArchError` is caught: anything else escaping is a bug in archdsl and shows as one.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys
import time
from pathlib import Path

from archdsl.errors import ArchError
from archdsl.limits import DEFAULT, Budget
from archdsl.outputs import cannot_write, replacing, write_file
from archdsl.pipeline import build, compile_source
from archdsl.shapes import fmt, total_params

# Each command's module: its `register(subparsers)` adds the command's parser and sets
# `run=function(args, parser) -> exit code` on it (see cmd_compile below for the shape).
COMMAND_MODULES: dict[str, str] = {
    "compile": "archdsl.cli",
    "check": "archdsl.cli",
    "viz": "archdsl.viz_cli",
    "fmt": "archdsl.formatter",
    "summary": "archdsl.summary",
    "diff": "archdsl.diff",
    "report": "archdsl.report",
    "bench": "archdsl.bench",
}


def settings(pairs: list[str], parser: argparse.ArgumentParser) -> dict[str, str]:
    """`--set name=value` pairs as a dict (usage error, exit 2, when malformed)."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            parser.error(f"--set expects name=value, got {pair!r}")
        out[name.strip()] = value.strip()
    return out


def cmd_compile(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.weights and args.output in (None, "-"):
        parser.error("--weights needs -o FILE.py: the weights are written next to it, as FILE.safetensors")
    params = settings(args.set, parser)
    options = {"params": params, "freeze": args.freeze, "budget": budget(args, parser), "strict": args.strict,
               "fuse": args.fuse, "channels_last": args.channels_last}
    emitted = compile_source(args.file, **options)
    print_warnings(emitted.warnings, emitted.sources)
    if args.weights:
        return _compile_with_weights(args, emitted.sources, options)
    if args.output and args.output != "-":
        write_file(args.output, emitted.source, inputs=emitted.sources)
        print(f"wrote {args.output} ({emitted.class_name})", file=sys.stderr)
    else:
        sys.stdout.write(emitted.source)
    return 0


def _compile_with_weights(args: argparse.Namespace, inputs: dict[str, str], options: dict) -> int:
    """The module and its weights, written together or not at all; the module checks the weights'
    digest, so no failure (or later copy) can pair it with other weights unnoticed."""
    import hashlib

    from archdsl.weights import exported_weights

    module = Path(args.output)
    weights = module.with_suffix(".safetensors")
    with replacing([weights, module], inputs=[*inputs, args.weights]) as (weights_tmp, module_tmp):
        report, data = exported_weights(args.file, args.weights, options["params"], freeze=args.freeze,
                                        strict=not args.partial, fuse=args.fuse)
        emitted = compile_source(args.file, **options, weights_sha256=hashlib.sha256(data).hexdigest())
        try:
            Path(weights_tmp).write_bytes(data)
            Path(module_tmp).write_text(emitted.source, encoding="utf-8")
        except OSError as exc:
            raise cannot_write(module if exc.filename == str(module_tmp) else weights, exc) from None
    print(f"{report.render()}\nwrote {weights}\nwrote {module} ({emitted.class_name})", file=sys.stderr)
    return 0


def cmd_check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    params = settings(args.set, parser)
    failed = 0
    for file in args.files:
        start = time.perf_counter()
        try:
            ir = build(file, params=params, budget=budget(args, parser), strict=args.strict)
        except ArchError as exc:
            print(exc.render(), file=sys.stderr)
            failed += 1
            continue
        elapsed = time.perf_counter() - start
        print_warnings(ir.warnings, ir.program.sources)
        c, h, w = ir.input_shape
        print(f"{file}: network {ir.network.name}, input {c}x{h}x{w}")
        if not args.quiet:
            rows = [(layer.path or "-", layer.describe(), fmt(layer.out_shape), f"{layer.params:,}")
                    for layer in ir.enabled_layers() if layer.op not in ("input", "output")]
            widths = [max(len(r[i]) for r in rows + [("layer", "op", "output", "params")]) for i in range(4)]
            print(f"  {'layer':<{widths[0]}}  {'op':<{widths[1]}}  {'output':<{widths[2]}}  {'params':>{widths[3]}}")
            for row in rows:
                print(f"  {row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]:>{widths[3]}}")
        sides = "".join(f", side output {n}: {fmt(ir.layers[i].out_shape)}" for n, i in ir.sides.items())
        print(f"  output {fmt(ir.layers[ir.output].out_shape)}{sides}; {total_params(ir):,} parameters; "
              f"checked in {elapsed * 1000:.0f} ms")
    return 1 if failed else 0


def add_set_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a network parameter, or the input (input=3x32x32); repeatable")


def add_strict_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strict", action="store_true", help="treat warnings as errors")
    p.add_argument("--budget", action="append", default=[], metavar="NAME=VALUE",
                   help="resource limit: max_params, max_activation, max_layers or max_repeat; repeatable")


def budget(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Budget:
    try:
        return DEFAULT.with_settings(settings(args.budget, parser))
    except ValueError as exc:
        parser.error(str(exc))


def print_warnings(warnings, sources: dict[str, str]) -> None:
    for warning in warnings:
        print(warning.render(sources), file=sys.stderr)


def _modules_for(argv: list[str]) -> list[str]:
    """The command modules to import: only the named command's, so that `archdsl summary` neither
    imports what viz, fmt or report need (Graphviz, Lark, matplotlib) nor builds their parsers; all
    of them when no known command is named, for the full help and the list of choices."""
    command = next((word for word in argv if not word.startswith("-")), None)
    if command in COMMAND_MODULES:
        return [COMMAND_MODULES[command]]
    return list(dict.fromkeys(COMMAND_MODULES.values()))


def register(sub) -> None:
    p = sub.add_parser("compile", help="write the PyTorch module for a network")
    p.add_argument("file")
    p.add_argument("-o", "--output", help="output .py file (default, or '-': stdout)")
    p.add_argument("--fuse", action="store_true",
                   help="fold batch norms into the layers before them, for inference (loads archdsl.fuse's weights)")
    p.add_argument("--channels-last", action="store_true",
                   help="keep weights and input in NHWC memory order (see bench/README.md for when it pays)")
    p.add_argument("--weights", metavar="PATH",
                   help="a state_dict (.pth/.pt) or .safetensors file: print the load report and write the weights "
                        "next to the output (FILE.safetensors), loaded by the module's pretrained()")
    p.add_argument("--partial", action="store_true",
                   help="with --weights: load the tensors that fit and report the rest (default: all must fit)")
    p.add_argument("--freeze", metavar="PARTS",
                   help="freeze for fine-tuning, overriding the file's declaration: 'up to layer3', "
                        "'conv1, layer1', or '' for nothing")
    add_set_option(p)
    add_strict_options(p)
    p.set_defaults(run=cmd_compile)
    p = sub.add_parser("check", help="parse and shape-check files; print each layer's shape and parameters")
    p.add_argument("files", nargs="+")
    p.add_argument("-q", "--quiet", action="store_true", help="totals only")
    add_set_option(p)
    add_strict_options(p)
    p.set_defaults(run=cmd_check)


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's layout, with the terminal's width asked of `os` (COLUMNS first, as shutil does):
    argparse's own default imports shutil, and with it bz2 and lzma, at every start (2-3 ms)."""

    def __init__(self, prog: str) -> None:
        try:
            columns = int(os.environ.get("COLUMNS") or os.get_terminal_size(sys.__stdout__.fileno()).columns)
        except (AttributeError, ValueError, OSError):
            columns = 80
        super().__init__(prog, width=columns - 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="archdsl", description="Compile .arch network descriptions to PyTorch.",
                                     formatter_class=_HelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True,
                                parser_class=functools.partial(argparse.ArgumentParser, formatter_class=_HelpFormatter))
    for module in _modules_for(sys.argv[1:] if argv is None else argv):
        importlib.import_module(module).register(sub)
    args = parser.parse_args(argv)
    try:
        return args.run(args, parser)
    except ArchError as exc:
        print(exc.render(), file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
