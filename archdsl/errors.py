"""Diagnostics: the one error type archdsl raises for bad input, printed gcc-style.

Every stage reports problems as `Diagnostic`s that carry a source span. The CLI catches
`ArchError` only; any other exception reaching the user is a bug in archdsl.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple


class Span(NamedTuple):
    """A region of a source file; lines and columns are 1-based.

    A value, so a NamedTuple (immutable, hashable, ordered by position, and cheap: every AST
    node and token gets one)."""

    file: str
    line: int
    column: int
    end_line: int | None = None
    end_column: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass
class Note:
    """A secondary location of a diagnostic ("first defined here")."""

    message: str
    span: Span | None = None


@dataclass
class Diagnostic:
    """An error or warning about the input, with where it is and what to do.

    `code` is the stable name of the kind of problem (archdsl/codes.py declares every one):
    required, so that no diagnostic can be made without one."""

    message: str
    span: Span | None = None
    severity: str = "error"
    hint: str | None = None
    notes: list[Note] = field(default_factory=list)
    code: str = field(kw_only=True)

    def render(self, sources: dict[str, str] | None = None) -> str:
        """gcc/rustc-style text: `file:line:col: error[code]: message`, the source line, a caret."""
        lines = [_headline(self.span, f"{self.severity}[{self.code}]", self.message)]
        lines += _excerpt(self.span, sources)
        for note in self.notes:
            lines.append(_headline(note.span, "note", note.message))
            lines += _excerpt(note.span, sources)
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return printable("\n".join(lines))


def _headline(span: Span | None, severity: str, message: str) -> str:
    where = f"{span}: " if span else ""
    return f"{where}{severity}: {message}"


def _excerpt(span: Span | None, sources: dict[str, str] | None) -> list[str]:
    if span is None:
        return []
    text = (sources or {}).get(span.file)
    if text is None:
        try:
            text = Path(span.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError, ValueError):
            return []
    starts = _line_starts(text)
    if not 1 <= span.line <= len(starts):
        return []
    start = starts[span.line - 1]
    end = text.find("\n", start)
    line = text[start:end if end >= 0 else len(text)].rstrip("\r").expandtabs(1)
    width = 1
    if span.end_line == span.line and span.end_column and span.end_column > span.column:
        width = span.end_column - span.column
    column = span.column - 1
    if len(line) > _EXCERPT_WIDTH:  # a window around the column, so a huge line costs no more than a short one
        left = max(0, min(column - _EXCERPT_WIDTH // 2, len(line) - _EXCERPT_WIDTH))
        shown = line[left:left + _EXCERPT_WIDTH]
        line = ("..." if left else "") + shown + ("..." if left + _EXCERPT_WIDTH < len(line) else "")
        column = column - left + (3 if left else 0)
        width = max(1, min(width, len(line) - column))
    return [f"  {line}", "  " + " " * column + "^" + "~" * (width - 1)]


_EXCERPT_WIDTH = 160  # characters of a source line an excerpt shows at most


@functools.lru_cache(maxsize=8)
def _line_starts(text: str) -> list[int]:
    """Where each line starts, as Lark counts lines (only "\n" breaks one: splitlines() also breaks at
    \r, \f, \u2028...). Cached: one file with many errors is split once, not once per error."""
    starts = [0]
    find = text.find
    i = find("\n")
    while i >= 0:
        starts.append(i + 1)
        i = find("\n", i + 1)
    return starts


# Control characters (C0 but tab and newline, DEL, C1) from a file's text or name would reach the
# terminal raw: ESC starts escape sequences that can rewrite the screen. They print as \x1b etc.
_CONTROLS = {c: f"\\x{c:02x}" for c in [*range(0x09), *range(0x0b, 0x20), *range(0x7f, 0xa0)]}


def printable(text: str) -> str:
    """`text` with control characters escaped, safe to print to a terminal."""
    return text.translate(_CONTROLS)


class ArchError(Exception):
    """One or more diagnostics about the user's input."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic, sources: dict[str, str] | None = None):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics = diagnostics
        self.sources = dict(sources or {})
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(d.render(self.sources) for d in self.diagnostics)

    @property
    def first(self) -> Diagnostic:
        return self.diagnostics[0]


class InternalError(RuntimeError):
    """A broken invariant of archdsl itself (say, a field read before the stage that fills it in ran):
    a bug, never the user's input, so the CLI lets it through as one."""


class Reporter:
    """Collects diagnostics so that a stage can report several independent errors at once."""

    def __init__(self, sources: dict[str, str] | None = None):
        self.diagnostics: list[Diagnostic] = []
        self.sources = sources if sources is not None else {}

    def error(self, message: str, span: Span | None, hint: str | None = None, notes: list[Note] | None = None, *,
              code: str) -> None:
        self.diagnostics.append(Diagnostic(message, span, "error", hint, notes or [], code=code))

    def warning(self, message: str, span: Span | None, hint: str | None = None, *, code: str) -> None:
        self.diagnostics.append(Diagnostic(message, span, "warning", hint, code=code))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    def raise_if_errors(self) -> None:
        if self.errors:
            raise ArchError(self.errors, self.sources)


def closest(name: str, candidates, cutoff: float = 0.6) -> str | None:
    """The candidate most like a misspelt `name`, if any is close enough."""
    from difflib import get_close_matches  # only on error paths: importing it costs every start-up a millisecond

    close = get_close_matches(name, list(candidates), n=1, cutoff=cutoff)
    return close[0] if close else None


def did_you_mean(name: str, candidates, otherwise: str) -> str:
    """The hint for a misspelt name: the closest candidate, or `otherwise` when none is close."""
    close = closest(name, candidates)
    return f"did you mean '{close}'?" if close else otherwise
