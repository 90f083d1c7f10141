"""Colour for diagnostics on a terminal: only where the stream is one, never with NO_COLOR set
(https://no-color.org), always with FORCE_COLOR (CI logs that render ANSI)."""

from __future__ import annotations

import os
import re

_BOLD, _RED, _MAGENTA, _CYAN, _GREEN, _RESET = "\x1b[1m", "\x1b[31m", "\x1b[35m", "\x1b[36m", "\x1b[32m", "\x1b[0m"
# What errors.Diagnostic.render writes: the headline's severity, the caret line, the hint.
_SEVERITY = re.compile(r"^(?P<where>(?:\S[^\n]*?: )?)(?P<kind>error|warning|note)(?P<code>\[[a-z0-9-]+\])?:",
                       re.MULTILINE)
_CARET = re.compile(r"^(  *\^~*)$", re.MULTILINE)
_HINT = re.compile(r"^(  hint:)", re.MULTILINE)
_COLOURS = {"error": _RED, "warning": _MAGENTA, "note": _CYAN}


def enabled(stream) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


def paint(text: str, stream) -> str:
    """Rendered diagnostics in colour when `stream` is a terminal that wants it, else unchanged."""
    if not enabled(stream):
        return text

    def severity(match: re.Match[str]) -> str:
        colour = _COLOURS[match["kind"]]
        return f"{_BOLD}{match['where']}{colour}{match['kind']}{match['code'] or ''}{_RESET}:"

    text = _SEVERITY.sub(severity, _highlight_excerpts(text))
    text = _CARET.sub(lambda m: f"{_GREEN}{m[1]}{_RESET}", text)
    return _HINT.sub(lambda m: f"{_CYAN}{m[1]}{_RESET}", text)


def _highlight_excerpts(text: str) -> str:
    """The quoted source lines (those above a caret line) highlighted as `.arch` text, where Pygments is
    installed (archdsl/highlighting.py); plain otherwise."""
    try:
        from pygments import highlight
        from pygments.formatters import TerminalFormatter

        from archdsl.highlighting import ArchLexer
    except ImportError:
        return text
    lines = text.split("\n")
    lexer, formatter = ArchLexer(), TerminalFormatter()
    for i in range(1, len(lines)):
        if _CARET.fullmatch(lines[i]) and lines[i - 1].startswith("  "):
            lines[i - 1] = "  " + highlight(lines[i - 1][2:], lexer, formatter).rstrip("\n")
    return "\n".join(lines)
