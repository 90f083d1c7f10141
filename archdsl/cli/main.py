"""The command line's entry point: `archdsl COMMAND ...`, one module per command (COMMAND_MODULES).

Exit codes: 0 success, 1 errors in the input (printed as `file:line:col: error[code]: ...`), 2 usage errors.
Only `ArchError` is caught: anything else escaping is a bug in archdsl and shows as one.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys

from archdsl import __version__
from archdsl.errors import ArchError

# Each command's module: its `register(subparsers)` adds the command's parser and sets
# `run=function(args, parser) -> exit code` on it (see archdsl/cli/compile.py for the shape).
COMMAND_MODULES: dict[str, str] = {
    "compile": "archdsl.cli.compile",
    "check": "archdsl.cli.check",
    "viz": "archdsl.cli.viz",
    "fmt": "archdsl.cli.fmt",
    "summary": "archdsl.cli.summary",
    "diff": "archdsl.cli.diff",
    "report": "archdsl.cli.report",
    "bench": "archdsl.cli.bench",
}


def _modules_for(argv: list[str]) -> list[str]:
    """The command modules to import: only the named command's, so that `archdsl summary` neither
    imports what viz, fmt or report need (Graphviz, Lark, matplotlib) nor builds their parsers; all
    of them when no known command is named, for the full help and the list of choices."""
    command = next((word for word in argv if not word.startswith("-")), None)
    if command in COMMAND_MODULES:
        return [COMMAND_MODULES[command]]
    return list(dict.fromkeys(COMMAND_MODULES.values()))


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's layout, with the terminal's width asked of `os` (COLUMNS first, as shutil does):
    argparse's own default imports shutil, and with it bz2 and lzma, at every start (2-3 ms)."""

    def __init__(self, prog: str) -> None:
        try:
            stdout = sys.__stdout__.fileno()  # type: ignore[union-attr]  # None: AttributeError, caught below
            columns = int(os.environ.get("COLUMNS") or os.get_terminal_size(stdout).columns)
        except (AttributeError, ValueError, OSError):
            columns = 80
        super().__init__(prog, width=columns - 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="archdsl", description="Compile .arch network descriptions to PyTorch.",
                                     formatter_class=_HelpFormatter)
    parser.add_argument("--version", action="version", version=f"archdsl {__version__}")
    # A partial makes parsers as well as a class would; typeshed asks for a class.
    sub = parser.add_subparsers(dest="command", required=True,  # type: ignore[call-overload]
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
