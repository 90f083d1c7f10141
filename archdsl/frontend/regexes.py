"""The lexer's regular expressions, compiled ahead of time: what the parser's first call spent most
of its time on.

The contextual lexer (lalr.py) compiles, per set of terminals a parser state accepts, one regular
expression of those terminals: 27 of them for VGG-16, each through the pure-Python `re` compiler.
tools/generate_parser.py runs that compiler on every one of them once and writes its output, the
regex engine's program, to _lark_regexes.py; here the engine (`_sre`, in C) takes it directly. The
program is specific to the Python version and engine that made it (the file records both): under any
other, or for a pattern not in the file, `re.compile` does the work, so the result never depends on
the file, only the time.
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


def compile(pattern: str) -> re.Pattern[str]:
    """`re.compile(pattern)`, from the program made ahead where there is one for this interpreter."""
    entry: Any = made.PROGRAMS.get((pattern, 0)) if _MATCHES else None
    if entry is None:
        return re.compile(pattern)
    flags, program, groups, groupindex, indexgroup = entry
    return _sre.compile(pattern, flags, array("I", program).tolist(), groups, groupindex, indexgroup)
