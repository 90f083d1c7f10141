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
from typing import NoReturn

from archdsl import __version__
from archdsl.collector import gc_paused
from archdsl.errors import ArchError, Diagnostic

# Each command's module: its `register(subparsers)` adds the command's parser and sets
# `run=function(args, parser) -> exit code` on it (see archdsl/cli/compile.py for the shape); `parser` is
# that command's own, for its usage errors, or the top parser for the commands of NEEDS_EVERY_COMMAND.
COMMAND_MODULES: dict[str, str] = {
    "compile": "archdsl.cli.compile",
    "check": "archdsl.cli.check",
    "viz": "archdsl.cli.viz",
    "fmt": "archdsl.cli.fmt",
    "summary": "archdsl.cli.summary",
    "diff": "archdsl.cli.diff",
    "report": "archdsl.cli.report",
    "bench": "archdsl.cli.bench",
    "list": "archdsl.cli.listing",
    "words": "archdsl.cli.words",
    "schema": "archdsl.cli.schema",
    "completion": "archdsl.cli.completion",
    "lsp": "archdsl.cli.lsp",
}
NEEDS_EVERY_COMMAND = {"completion"}  # it describes the other commands' options


def _modules_for(argv: list[str]) -> list[str]:
    """The command modules to import: only the named command's, so that `archdsl summary` neither
    imports what viz, fmt or report need (Graphviz, Lark, matplotlib) nor builds their parsers; all
    of them when no known command is named, for the full help and the list of choices."""
    command = next((word for word in argv if not word.startswith("-")), None)
    if command in COMMAND_MODULES and command not in NEEDS_EVERY_COMMAND:
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


class _TopParser(argparse.ArgumentParser):
    """The top-level parser: a usage error (no command, an unknown one) lists every command."""

    def error(self, message: str) -> NoReturn:
        commands = next((a for a in self._actions if isinstance(a, argparse._SubParsersAction)), None)
        lines = [f"archdsl: error: {message}", "", "commands:"]
        if commands is not None:
            width = max(map(len, commands.choices))
            helps = {a.dest: a.help for a in commands._choices_actions}
            lines += [f"  {name:<{width}}  {helps.get(name) or ''}".rstrip() for name in commands.choices]
        lines.append("\n`archdsl COMMAND --help` describes a command.")
        self.print_usage(sys.stderr)
        self.exit(2, "\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = _TopParser(prog="archdsl", description="Compile .arch network descriptions to PyTorch.",
                        formatter_class=_HelpFormatter)
    parser.add_argument("--version", action="version", version=f"archdsl {__version__}")
    # A partial makes parsers as well as a class would; typeshed asks for a class.
    sub = parser.add_subparsers(dest="command", required=True,  # type: ignore[call-overload]
                                parser_class=functools.partial(argparse.ArgumentParser, formatter_class=_HelpFormatter))
    with gc_paused():  # the command's modules: classes, functions and the layer registry (see collector.py)
        for module in _modules_for(sys.argv[1:] if argv is None else argv):
            importlib.import_module(module).register(sub)
    args, unknown = parser.parse_known_args(argv)
    # A mistake in a command's arguments is that command's usage error (`archdsl check: error: ...`,
    # with its usage line), not the top parser's, which knows only the one command imported.
    command = parser if args.command in NEEDS_EVERY_COMMAND else sub.choices[args.command]
    if unknown:
        command.error(f"unrecognized arguments: {' '.join(unknown)}")
    stdout, sys.stdout = sys.stdout, _Stdout(sys.stdout)
    try:
        status = args.run(args, command)
        sys.stdout.flush()
        return status
    except ArchError as exc:
        from archdsl.cli.colour import paint

        print(paint(exc.render(), sys.stderr), file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader went away (`archdsl summary ... | head`): not an error
        _discard_pending_output(stdout)
        return 0
    except _StdoutError as exc:
        _discard_pending_output(stdout)
        print(Diagnostic(f"cannot write to standard output: {exc}", code="cannot-write",
                         hint="redirect it to a file, or use -o FILE where the command has it").render(),
              file=sys.stderr)
        return 1
    finally:
        sys.stdout = stdout


class _StdoutError(Exception):
    """Standard output is closed (`>&-`) or failed (`> /dev/full`): a problem of the run, not a bug."""


class _Stdout:
    """sys.stdout for a command: its failures become _StdoutError (BrokenPipeError stays itself)."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._call("write", text)

    def flush(self) -> None:
        self._call("flush")

    def _call(self, name: str, *args):
        if self._stream is None:  # Python sets sys.stdout to None when descriptor 1 is closed at start-up
            raise _StdoutError("it is closed")
        try:
            return getattr(self._stream, name)(*args)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _StdoutError(exc.strerror or str(exc)) from None

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _discard_pending_output(stream) -> None:
    """Drop what `stream` (the caller's sys.stdout) holds and could not write, so that the interpreter's
    final flush neither fails again nor prints "Exception ignored" after our message: for the moment
    of one flush descriptor 1 points at the null device, then back where it pointed, so a caller of
    main() from Python keeps its descriptors."""
    try:
        saved = os.dup(1)
    except OSError:  # descriptor 1 is closed: Python made sys.stdout None and nothing is pending
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 1)
        finally:
            os.close(null)
        for pending in {id(s): s for s in (stream, sys.__stdout__) if s is not None}.values():
            try:
                pending.flush()
            except (OSError, ValueError):  # a stream not on descriptor 1 that failed, or one closed
                pass
    except OSError:
        pass
    finally:
        os.dup2(saved, 1)
        os.close(saved)

if __name__ == "__main__":
    sys.exit(main())
