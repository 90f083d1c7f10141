"""The language's keywords, read from the grammar itself, so that the editor tools (completion, the
Pygments lexer, the tests of the TextMate grammar) never fall behind a grammar change."""

from __future__ import annotations

import functools
import re

from archdsl.resources import grammar_text


@functools.lru_cache(maxsize=1)
def keywords() -> tuple[str, ...]:
    """Every word the grammar spells out as a literal (`network`, `residual`, `true`, ...), sorted."""
    text = "\n".join(line.split("//", 1)[0] for line in grammar_text().splitlines())
    return tuple(sorted(set(re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"', text))))
