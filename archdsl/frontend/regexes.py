"""The lexer's regular expressions, compiled ahead of time: what the parser's first call spent most
of its time on.

Lark's contextual lexer compiles, per parser state it meets, one regular expression of the terminals
that state accepts (and one of the keywords a name may be): 27 of them for VGG-16, each through the
pure-Python `re` compiler. tools/generate_parser.py runs that compiler on every one of them once and
writes its output, the regex engine's program, to _lark_regexes.py; here the engine (`_sre`, in C)
takes it directly. The program is specific to the Python version and engine that made it (the file
records both): under any other, or for a pattern not in the file, `re.compile` does the work, so the
result never depends on the file, only the time.
"""

from __future__ import annotations

import _sre  # type: ignore[import-not-found]  # the engine re itself drives; no stub in typeshed
import re
import sys
from array import array
from typing import Any

from archdsl.frontend import _lark_regexes as made

_MATCHES = (made.PYTHON == list(sys.version_info[:2]) and made.MAGIC == _sre.MAGIC
            and made.CODESIZE == _sre.CODESIZE == array("I").itemsize)


class Precompiled:
    """The part of the `re` module Lark's lexer uses (`compile`, `match`, `error`), from the programs
    made ahead where they fit this interpreter."""

    error = re.error

    def __init__(self) -> None:
        self._compiled: dict[tuple[str, int], re.Pattern[str]] = {}

    def compile(self, pattern: str, flags: int = 0) -> re.Pattern[str]:
        key = (pattern, int(flags))
        found = self._compiled.get(key)
        if found is None:
            entry: Any = made.PROGRAMS.get(key) if _MATCHES else None
            if entry is None:
                found = re.compile(pattern, flags)
            else:
                final_flags, program, groups, groupindex, indexgroup = entry
                found = _sre.compile(pattern, final_flags, array("I", program).tolist(), groups, groupindex,
                                     indexgroup)
            self._compiled[key] = found
        return found

    def match(self, pattern: str, string: str, flags: int = 0) -> re.Match[str] | None:
        return self.compile(pattern, flags).match(string)


def use_precompiled(lark: Any) -> None:
    """Hand the programs to each parser state's lexer (and the one that words errors): they build their
    scanners on first use, from then on through Precompiled."""
    precompiled = Precompiled()
    lexer = lark.parser.lexer
    for each in (*lexer.lexers.values(), lexer.root_lexer):
        each.re = precompiled
