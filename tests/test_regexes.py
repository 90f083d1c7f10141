"""archdsl/frontend/regexes.py: the lexer's regular expressions from the programs tools/generate_parser.py
made ahead (archdsl/frontend/_lark_regexes.py), against what `re` compiles now."""

from __future__ import annotations

import re

import pytest
from helpers import ROOT

from archdsl.frontend import _lark_regexes as made
from archdsl.frontend import _parse_tables, lalr, regexes

FILES = sorted((ROOT / "architectures").rglob("*.arch"))  # the blocks they use too
current = pytest.mark.skipif(not regexes._MATCHES, reason="the programs were made by another Python version")


@current
def test_each_program_is_what_re_compiles_now():
    for (pattern, flags), (final_flags, program, groups, groupindex, indexgroup) in made.PROGRAMS.items():
        parsed = re._parser.parse(pattern, flags)
        assert bytes(regexes.array("I", re._compiler._code(parsed, flags))) == program, pattern
        assert (final_flags, groups, groupindex) == (flags | parsed.state.flags, parsed.state.groups - 1,
                                                     parsed.state.groupdict)
        assert indexgroup == tuple(dict(map(reversed, groupindex.items())).get(i) for i in range(groups + 1))


@current
def test_parsing_every_bundled_file_compiles_nothing_and_reads_the_same(monkeypatch):
    def refuse(pattern, flags=0):
        raise AssertionError(f"not made ahead (run tools/generate_parser.py): {pattern!r}")

    monkeypatch.setattr(lalr, "_LEXERS", {})  # every lexer built again, from the programs
    monkeypatch.setattr(regexes.re, "compile", refuse)
    trees = [lalr.parse(path.read_text()) for path in FILES]
    assert len(lalr._LEXERS) > 20
    monkeypatch.undo()
    assert len(FILES) > 70
    # The same lexers, each compiled by `re` now: the same trees.
    monkeypatch.setattr(lalr, "_LEXERS", {})
    monkeypatch.setattr(regexes, "_MATCHES", False)
    assert [repr(tree) for tree in trees] == [repr(lalr.parse(path.read_text())) for path in FILES]


def test_every_lexer_has_its_program():
    assert {(lexer[0], 0) for lexer in _parse_tables.LEXERS} == set(made.PROGRAMS)


def test_a_pattern_not_made_ahead_is_compiled_by_re():
    compiled = regexes.compile("[a-z]+x")
    assert compiled.match("abcx").group(0) == "abcx" and compiled.pattern == "[a-z]+x"
