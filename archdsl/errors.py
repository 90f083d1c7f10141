"""Diagnostics: the one error type archdsl raises for bad input, printed gcc-style.

Every stage reports problems as `Diagnostic`s that carry a source span. The CLI catches
`ArchError` only; any other exception reaching the user is a bug in archdsl.
"""

from __future__ import annotations

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
    """An error or warning about the input, with where it is and what to do."""

    message: str
    span: Span | None = None
    severity: str = "error"
    hint: str | None = None
    notes: list[Note] = field(default_factory=list)

    def render(self, sources: dict[str, str] | None = None) -> str:
        """gcc-style text: `file:line:col: error: message`, the source line, a caret."""
        lines = [_headline(self.span, self.severity, self.message)]
        lines += _excerpt(self.span, sources)
        for note in self.notes:
            lines.append(_headline(note.span, "note", note.message))
            lines += _excerpt(note.span, sources)
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


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
        except (OSError, UnicodeDecodeError):
            return []
    source_lines = text.split("\n")  # as Lark counts lines: splitlines() also breaks at \r, \f, \u2028...
    if not 1 <= span.line <= len(source_lines):
        return []
    line = source_lines[span.line - 1].rstrip("\r").expandtabs(1)
    width = 1
    if span.end_line == span.line and span.end_column and span.end_column > span.column:
        width = span.end_column - span.column
    return [f"  {line}", "  " + " " * (span.column - 1) + "^" + "~" * (width - 1)]


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

    def error(self, message: str, span: Span | None, hint: str | None = None, notes: list[Note] | None = None) -> None:
        self.diagnostics.append(Diagnostic(message, span, "error", hint, notes or []))

    def warning(self, message: str, span: Span | None, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(message, span, "warning", hint))

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
