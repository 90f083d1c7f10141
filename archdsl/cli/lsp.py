"""`archdsl lsp`: run the language server on standard input and output (for editors: see docs/editors.md)."""

from __future__ import annotations

import argparse

from archdsl.errors import ArchError, Diagnostic


def register(subparsers) -> None:
    p = subparsers.add_parser("lsp", help="run the language server over stdio (diagnostics, shapes as you type)")
    p.set_defaults(run=cmd_lsp)


def cmd_lsp(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        from archdsl.lsp.server import main
    except ImportError as exc:  # pygls is an optional dependency: only the server needs it
        raise ArchError(Diagnostic(f"the language server needs pygls 2 ({exc.name} is not installed)",
                                   code="missing-dependency",
                                   hint="pip install 'archdsl[lsp]' (or: pip install 'pygls>=2,<3')")) from None
    main()
    return 0
