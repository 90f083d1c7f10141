"""What several commands share: `--set`, `--strict` and `--budget`, the analysis options, warnings."""

from __future__ import annotations

import argparse
import sys

from archdsl.analysis.costs import MASK_BYTES, OPTIMIZER_COPIES
from archdsl.shapes.limits import DEFAULT, Budget


def settings(pairs: list[str], parser: argparse.ArgumentParser, option: str = "--set") -> dict[str, str]:
    """`--set name=value` (or `--budget`) pairs as a dict (usage error, exit 2, when malformed)."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            parser.error(f"{option} expects name=value, got {pair!r}")
        out[name.strip()] = value.strip()
    return out


def add_set_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a network parameter, or the input (input=3x32x32); repeatable")


def add_strict_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strict", action="store_true", help="treat warnings as errors")
    p.add_argument("--budget", action="append", default=[], metavar="NAME=VALUE",
                   help="resource limit: max_params, max_activation, max_layers or max_repeat; repeatable")


def budget(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Budget:
    try:
        return DEFAULT.with_settings(settings(args.budget, parser, "--budget"))
    except ValueError as exc:
        parser.error(str(exc))


def print_warnings(warnings, sources: dict[str, str]) -> None:
    from archdsl.cli.colour import paint

    for warning in warnings:
        print(paint(warning.render(sources), sys.stderr), file=sys.stderr)


def add_analysis_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--optimizer", choices=list(OPTIMIZER_COPIES), default="none",
                   help="count optimizer state in the training estimate (momentum: 1 copy of the weights, adam: 2)")
    p.add_argument("--device", choices=list(MASK_BYTES), default="cuda",
                   help="device the training estimate is for: dropout masks take 1 byte an element on CUDA, "
                        "4 on CPU (default: cuda)")


def depth_arg(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("depth must be 1 or more")
    return value
