"""`archdsl fmt`: rewrite .arch files in the canonical layout."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from archdsl.errors import ArchError, Diagnostic
from archdsl.frontend.formatter import format_text
from archdsl.frontend.parser import MAX_FILE_BYTES, read_source, source_text
from archdsl.outputs import write_file


def register(subparsers) -> None:
    p = subparsers.add_parser("fmt", help="rewrite .arch files in the canonical layout (comments kept)")
    p.add_argument("files", nargs="+", metavar="FILE", help="files to format; '-' reads stdin and writes stdout")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if any file is not formatted")
    p.set_defaults(run=cmd_fmt)


def cmd_fmt(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    status = 0
    for name in args.files:
        try:
            text = _read(name)
            formatted = format_text(text, "<stdin>" if name == "-" else name)
        except ArchError as exc:
            print(exc.render(), file=sys.stderr)
            status = 1
            continue
        if args.check:
            if formatted != text:
                print(f"would reformat {name}", file=sys.stderr)
                status = 1
        elif name == "-":
            sys.stdout.write(formatted)
        elif formatted != text:
            try:
                write_file(name, formatted)
            except ArchError as exc:  # the next file may still be writable
                print(exc.render(), file=sys.stderr)
                status = 1
                continue
            print(f"reformatted {name}", file=sys.stderr)
    return status


def _read(name: str) -> str:
    """A file, or stdin for '-', as UTF-8 whatever the locale: the same bytes give the same answer."""
    try:
        if name == "-":
            if sys.stdin is None:  # descriptor 0 closed at start-up (`<&-`)
                raise OSError(0, "standard input is closed")
            return source_text(sys.stdin.buffer.read(MAX_FILE_BYTES + 1))
        return read_source(Path(name))  # a FIFO or device would block or never end: refused
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ArchError(Diagnostic(f"cannot read {'<stdin>' if name == '-' else name}: {reason}",
                                   code="cannot-read")) from None
