"""Regenerate archdsl/frontend/_parse_tables.py, the tables archdsl's parser runs, from grammars/archdsl.lark.

    .venv/bin/python tools/generate_parser.py

Run it after every change to the grammar (tests/test_parser.py fails until you do, and so does every
parse: parser.py compares the grammar with the copy recorded in the generated file).

Lark builds the grammar's LALR(1) tables and its contextual lexer, exactly as
`lark.Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True)` would for a
parse; this tool writes what those objects hold as plain literals, and archdsl/frontend/lalr.py runs
them. Why not Lark at run time: building the tables takes 0.2-0.4 s and importing Lark 40 ms at every
start of the command line; Lark's own stand-alone parser, which archdsl ran before, still spent 30 ms
importing its machinery and rebuilding its objects from serialised tables.

The output is reproducible: Lark numbers the LALR states in set order, so the states are renumbered
here in the order a walk from the start state meets them.

It also writes archdsl/frontend/_lark_regexes.py: the regex engine's program for each lexer's regular
expression, which archdsl/frontend/regexes.py hands to the engine instead of compiling them again at
each start.
"""

from __future__ import annotations

import os
import re
import sys
from array import array
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GRAMMAR = ROOT / "grammars" / "archdsl.lark"
OUTPUT = ROOT / "archdsl" / "frontend" / "_parse_tables.py"
PROGRAMS = ROOT / "archdsl" / "frontend" / "_lark_regexes.py"


def _lark(grammar: str) -> Any:
    import lark

    # parser.py relies on positions and on None for absent optional parts.
    return lark.Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True,
                     maybe_placeholders=True)


def _numbering(table: Any, start: int) -> dict[int, int]:
    """Lark's state -> a state number that depends only on the grammar: the order of a breadth-first walk."""
    order, queue = {start: 0}, [start]
    for state in queue:
        for _, (action, arg) in sorted(table.states[state].items()):
            if action.name == "Shift" and arg not in order:
                order[arg] = len(order)
                queue.append(arg)
    assert len(order) == len(table.states), "a state the start state does not reach"
    return order


def _rule(rule: Any) -> tuple:
    """(origin, length, node name, inline a single child, kept children or None for all, Nones after)."""
    from lark.parse_tree_builder import ChildFilterLALR, ChildFilterLALR_NoPlaceholders, maybe_create_child_filter

    options = rule.options
    assert not options.keep_all_tokens
    kept = maybe_create_child_filter(rule.expansion, False, False, options.empty_indices)
    if kept is None:
        include, nones_after = None, 0
    elif kept.func is ChildFilterLALR_NoPlaceholders:  # a rule without `[...]`
        include, nones_after = tuple((index, inline, 0) for index, inline in kept.args[0]), 0
    else:
        assert kept.func is ChildFilterLALR, kept.func
        include, nones_after = tuple(kept.args[0]), kept.args[1]
    name = str(rule.alias or options.template_source or rule.origin.name)  # Lark's names are its Tokens
    inline_single = bool(options.expand1 and not rule.alias)
    return str(rule.origin.name), len(rule.expansion), name, inline_single, include, nones_after


def _lexer(lexer: Any) -> tuple:
    """(regular expression, terminal names it reports in errors, {terminal: {keyword text: keyword}})."""
    scanner = lexer.scanner  # built on first use: now
    assert len(scanner._mres) == 1, "more terminals than one regular expression holds"
    assert lexer.g_regex_flags == 0 and not lexer.use_bytes
    keywords = {}
    for terminal, callback in sorted(lexer.callback.items()):
        assert type(callback).__name__ == "UnlessCallback", callback  # no user callbacks
        assert all(t.pattern.type == "str" and not t.pattern.flags for t in callback.scanner.terminals)
        keywords[str(terminal)] = {str(t.pattern.value): str(t.name) for t in callback.scanner.terminals}
    assert not set(keywords) & set(lexer.ignore_types)
    return scanner._mres[0].pattern, tuple(sorted(map(str, scanner.allowed_types - lexer.ignore_types))), keywords


def tables(grammar: str) -> dict[str, Any]:
    """Everything lalr.py needs, from Lark's parser for `grammar`."""
    parser = _lark(grammar)
    table = parser.parser.parser.parser.parse_table
    (start,) = table.start_states.values()
    (end,) = table.end_states.values()
    number = _numbering(table, start)
    rules = [rule for rule, _ in parser._parse_tree_builder.rule_builders]
    rule_index = {id(rule): i for i, rule in enumerate(rules)}

    def encoded(action: Any, arg: Any) -> int:  # a shift's target state, or ~rule for a reduction
        return number[arg] if action.name == "Shift" else ~rule_index[id(arg)]

    by_number = sorted(number, key=number.get)
    states = [{str(symbol): encoded(*entry) for symbol, entry in sorted(table.states[s].items())} for s in by_number]

    contextual = parser.parser.lexer
    lexers: list[tuple] = []
    index_of: dict[str, int] = {}

    def lexer_index(lexer: Any) -> int:  # Lark shares a lexer among the states that accept the same terminals
        entry = _lexer(lexer)
        key = repr(entry)
        if key not in index_of:
            index_of[key] = len(lexers)
            lexers.append(entry)
        return index_of[key]

    state_lexers = [lexer_index(contextual.lexers[s]) for s in by_number]
    root = lexer_index(contextual.root_lexer)
    terminals = parser.terminals
    return {
        "START": number[start], "END": number[end], "STATES": states, "RULES": [_rule(r) for r in rules],
        "LEXERS": lexers, "STATE_LEXERS": state_lexers, "ROOT_LEXER": root,
        "NEWLINE_TERMINALS": frozenset(map(str, contextual.root_lexer.newline_types)),
        "IGNORED_TERMINALS": frozenset(map(str, parser.lexer_conf.ignore)),
        "STRING_TERMINALS": {str(t.name): str(t.pattern.value) for t in sorted(terminals, key=lambda t: t.name)
                             if t.pattern.type == "str"},
    }


# What lalr.py reads in each table (written into the file, for type checkers).
TYPES = {
    "START": "int", "END": "int",
    "STATES": "tuple[dict[str, int], ...]",  # per state: symbol -> the next state, or ~rule to reduce by
    # per rule: origin, length, node name, inline a single child, kept children (index, inline, Nones before)
    # or None for all, Nones after
    "RULES": "tuple[tuple[str, int, str, bool, tuple[tuple[int, bool, int], ...] | None, int], ...]",
    # per lexer: its regular expression, the terminals it names in errors, {terminal: {keyword text: keyword}}
    "LEXERS": "tuple[tuple[str, tuple[str, ...], dict[str, dict[str, str]]], ...]",
    "STATE_LEXERS": "tuple[int, ...]", "ROOT_LEXER": "int",
    "NEWLINE_TERMINALS": "frozenset[str]", "IGNORED_TERMINALS": "frozenset[str]",
    "STRING_TERMINALS": "dict[str, str]",
}


def _literal(value: Any) -> str:
    if isinstance(value, frozenset):
        return f"frozenset({sorted(value)!r})"
    return repr(value)


def generate(grammar: str, made: dict[str, Any]) -> str:
    """_parse_tables.py for `grammar`, whose tables() are `made`."""
    import lark

    lines = [f"# Generated by tools/generate_parser.py from grammars/archdsl.lark with Lark {lark.__version__}:",
             "# the LALR(1) tables and contextual lexer archdsl/frontend/lalr.py runs. Do not edit: change the",
             "# grammar and run the tool again.",
             "from __future__ import annotations  # the annotations are for type checkers, not evaluated",
             "",
             f"GRAMMAR = {grammar!r}  # what the tables were built from"]
    for name, value in made.items():
        if isinstance(value, list):  # a line per state, rule or lexer: a grammar change shows as a readable diff
            lines.append(f"{name}: {TYPES[name]} = (\n" + "".join(f"    {_literal(v)},\n" for v in value) + ")")
        else:
            lines.append(f"{name}: {TYPES[name]} = {_literal(value)}")
    return "\n".join(lines) + "\n"


def programs(lexers: list[tuple]) -> str:
    """_lark_regexes.py: the regex engine's program of each lexer's regular expression."""
    import _sre  # type: ignore[import-not-found]

    entries = []
    for pattern in sorted({lexer[0] for lexer in lexers}):
        flags = 0
        # What re._compiler.compile does before it hands the program to the engine.
        parsed = re._parser.parse(pattern, flags)  # type: ignore[attr-defined]
        code = re._compiler._code(parsed, flags)  # type: ignore[attr-defined]
        groupindex: dict[str, int] = dict(parsed.state.groupdict)
        indexgroup: list[Any] = [None] * parsed.state.groups
        for name, index in groupindex.items():
            indexgroup[index] = name
        entry = (flags | parsed.state.flags, array("I", code).tobytes(), parsed.state.groups - 1, groupindex,
                 tuple(indexgroup))
        entries.append(f"    {(pattern, flags)!r}: {entry!r},\n")
    return ("# Generated by tools/generate_parser.py from the lexers of _parse_tables.py: each regular expression's\n"
            "# program for the regex engine of this Python (archdsl/frontend/regexes.py). Do not edit.\n"
            f"PYTHON = {list(sys.version_info[:2])!r}\nMAGIC = {_sre.MAGIC}\nCODESIZE = {_sre.CODESIZE}\n"
            "PROGRAMS = {\n" + "".join(entries) + "}\n")


def _write(path: Path, text: str) -> None:
    # Not archdsl's own writer: importing archdsl would import the very file being replaced.
    partial = path.with_suffix(".py.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
    print(f"wrote {path.relative_to(ROOT)} ({len(text):,} characters)")


def main() -> None:
    grammar = GRAMMAR.read_text(encoding="utf-8")  # as parser.py reads it (newlines normalised)
    made = tables(grammar)
    _write(OUTPUT, generate(grammar, made))
    _write(PROGRAMS, programs(made["LEXERS"]))


if __name__ == "__main__":
    main()
