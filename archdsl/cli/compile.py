"""`archdsl compile`: the PyTorch module for a network, and with --weights the weights beside it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archdsl.cli.common import add_set_option, add_strict_options, budget, print_warnings, settings
from archdsl.outputs import cannot_write, replacing, write_file
from archdsl.pipeline import compile_source

if TYPE_CHECKING:
    from archdsl.pytorch.weights import LoadReport


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


def register(sub) -> None:
    p = sub.add_parser("compile", help="write the PyTorch module for a network")
    p.add_argument("file")
    p.add_argument("-o", "--output", help="output .py file (default, or '-': stdout)")
    p.add_argument("--fuse", action="store_true",
                   help="fold batch norms into the layers before them, for inference (loads archdsl.fuse's weights)")
    p.add_argument("--channels-last", action="store_true",
                   help="keep weights and input in NHWC memory order (pays on CPU with --fuse; measure with "
                        "`archdsl bench`)")
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


def exported_weights(arch_file: str | Path, weights: str | Path, params: dict[str, Any], *,
                     freeze=None, strict: bool = True, fuse: bool = False) -> tuple[LoadReport, bytes]:
    """`archdsl compile --weights`: load `weights` into the network; returns the load report and
    the weights as the emitted module expects them (.safetensors bytes)."""
    from archdsl.pytorch.folding import fuse as fold
    from archdsl.pytorch.runtime import load
    from archdsl.pytorch.weights import safetensors_bytes

    model = load(arch_file, weights=weights, strict=strict, freeze=freeze, params=params)
    report: LoadReport = model.load_report  # type: ignore[assignment]  # set by load() when given weights
    return report, safetensors_bytes(fold(model.eval()) if fuse else model)
