"""`allow(code, ...)`: the warnings a statement does not want reported.

Lexical: an `allow` covers the warnings whose span starts inside its statement's text (nested
statements and groups included). A warning inside a block is reported once, at the block's
definition, so only an `allow` there covers it; an `allow` on a use of the block covers the
warnings of that use statement itself, not those of the block's body.
"""

from __future__ import annotations

from typing import NamedTuple

from archdsl.errors import Diagnostic, Span
from archdsl.frontend import ast as A


class Region(NamedTuple):
    span: Span
    codes: frozenset[str]


def regions(program: A.Program) -> list[Region]:
    """Every statement with an `allow`, in the network and every block the program can use."""
    found: list[Region] = []
    stack = [net.body for net in program.module.networks] + [b.body for b in program.blocks.values()]
    while stack:
        seq = stack.pop()
        for stmt in seq.stmts:
            if stmt.allow:
                found.append(Region(stmt.span, frozenset(a.code for a in stmt.allow)))
            item = stmt.item
            if isinstance(item, A.Group | A.Side | A.Output):
                stack.append(item.body)
            elif isinstance(item, A.Residual):
                stack += [item.body] + ([item.shortcut] if item.shortcut else [])
            elif isinstance(item, A.Inception):
                stack += item.branches
            elif isinstance(item, A.Gate):
                stack += item.paths
            elif isinstance(item, A.Split):
                stack += item.branches
    return found


def allowed(warning: Diagnostic, where: list[Region]) -> bool:
    span = warning.span
    if span is None:
        return False
    return any(warning.code in r.codes and _inside(span, r.span) for r in where)


def _inside(span: Span, region: Span) -> bool:
    if span.file != region.file or (span.line, span.column) < (region.line, region.column):
        return False
    return region.end_line is None or (span.line, span.column) < (region.end_line, region.end_column or 0)
