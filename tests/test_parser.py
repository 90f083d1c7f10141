"""Stage 1, parser.py: text to AST, and syntax errors said in words with line and column."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import ARCHITECTURES, ROOT

from archdsl.errors import ArchError
from archdsl.frontend import ast as A
from archdsl.frontend.parser import parse, parse_expression


def test_vgg_notation_parses_into_calls_with_dash_and_slash():
    module = parse("network n { input 3x224x224; conv11-64/4(padding=2); conv3-64 x2; fc-num_classes }")
    stmts = module.networks[0].body.stmts
    first = stmts[0].item
    assert isinstance(first, A.Call) and first.name == "conv11"
    assert first.dashes[0].value == 64 and first.slash.value == 4
    assert first.args[0].name == "padding" and first.args[0].value.value == 2
    assert stmts[1].repeat.value == 2
    assert isinstance(stmts[2].item.dashes[0], A.Name)


def test_repetition_marker_does_not_swallow_names_that_start_with_x():
    module = parse("network n { input 3x8x8; xception: conv1-(c * 4) x 3 }")
    stmt = module.networks[0].body.stmts[0]
    assert stmt.label == "xception" and stmt.repeat.value == 3
    assert isinstance(stmt.item.dashes[0], A.BinOp) and stmt.item.dashes[0].op == "*"


def test_combinators_side_outputs_and_conditions():
    src = """
    use "blocks.arch";
    block b(c, s = 1) { residual(shortcut=pad)< conv3-c/s; bn | conv1-c/s >; relu }
    network n(aux = true) {
        input 3x32x32;
        inception< conv1-8 | (conv1-4; conv3-8) | maxpool3/1(padding=1) >;
        head: side<gap; flatten; fc-10> if aux;
    }
    """
    module = parse(src, "m.arch")
    assert module.uses[0].path == "blocks.arch"
    residual = module.blocks[0].body.stmts[0].item
    assert isinstance(residual, A.Residual) and residual.shortcut is not None
    assert residual.args[0].name == "shortcut"
    inception = module.networks[0].body.stmts[0].item
    assert isinstance(inception, A.Inception) and len(inception.branches) == 3
    side = module.networks[0].body.stmts[1]
    assert isinstance(side.item, A.Side) and side.label == "head" and side.cond.id == "aux"


def test_every_node_carries_its_source_position():
    module = parse("network n {\n  input 1x8x8;\n  conv3-4;\n    relu\n}", "pos.arch")
    conv, relu = module.networks[0].body.stmts
    assert (conv.span.file, conv.span.line, conv.span.column) == ("pos.arch", 3, 3)
    assert (relu.span.line, relu.span.column) == (4, 5)


def test_comments_are_ignored():
    module = parse("# header\nnetwork n { # here\n input 1x8x8; relu # trailing\n}")
    assert len(module.networks[0].body.stmts) == 1


@pytest.mark.parametrize("path", ARCHITECTURES, ids=lambda p: p.stem)
def test_bundled_files_parse(path):
    assert parse(path.read_text(), str(path)).networks


@pytest.mark.parametrize(
    "source, line, column, message, expected, code",
    [
        ("network n { input 3x8x8; conv3-64; relu;; }", 1, 41, "unexpected ';'", "a name", "syntax"),
        ("network n { input 3x8x8; conv3-64 relu }", 1, 35, "unexpected 'relu'", "';'", "missing-semicolon"),
        ("network n {\n  input 3x8x8;\n  conv3-64(stride=)\n}", 3, 19, "unexpected ')'", "a number",
         "missing-option-value"),
        ("network n { input 3x8x8; conv3-64", 1, 34, "unexpected end of file", "'}'", "missing-semicolon"),
        ("network n { input 3x8x8; conv3-64 $ }", 1, 35, "unexpected character '$'", None,
         "unexpected-character"),
        ("network n { conv3-64 }", 1, 13, "unexpected 'conv3'", "'input'", "missing-input"),
    ],
)
def test_syntax_errors_name_line_column_and_what_was_expected(source, line, column, message, expected, code):
    with pytest.raises(ArchError) as info:
        parse(source, "bad.arch")
    d = info.value.first
    assert (d.span.file, d.span.line, d.span.column) == ("bad.arch", line, column)
    assert d.message == message
    if expected:
        assert expected in d.hint
    rendered = info.value.render()
    assert rendered.startswith(f"bad.arch:{line}:{column}: error[{code}]: {message}")
    assert "^" in rendered


def test_command_line_values_parse_as_expressions():
    assert parse_expression("10").value == 10
    assert parse_expression("false").value is False
    assert parse_expression("0.5").value == 0.5


def _plain(node) -> object:
    """A parse tree as nested tuples, whichever parser (Lark's or archdsl's) built it: every node's name and
    span (where it has one), every token's type, text and span."""
    if hasattr(node, "data"):
        meta = node.meta
        span = None if meta.empty else (meta.line, meta.column, meta.start_pos, meta.end_line, meta.end_column,
                                         meta.end_pos)
        return str(node.data), span, [_plain(child) for child in node.children]
    if node is None:
        return None
    return node.type, str(node), node.line, node.column, node.start_pos, node.end_line, node.end_column, node.end_pos


def _failure(parse, text: str) -> tuple:
    """How a parse of `text` fails: the error's type, position, expected terminals and, for a token the
    parser cannot take, the token and the terminals it would take there."""
    with pytest.raises(Exception) as info:
        parse(text)
    exc = info.value
    token = getattr(exc, "token", None)
    return (type(exc).__name__, exc.line, exc.column, exc.pos_in_stream,
            sorted(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ()),
            None if token is None else (token.type, str(token), token.line, token.column, token.end_pos),
            sorted(getattr(exc, "accepts", None) or ()))


def test_the_generated_tables_were_built_from_the_grammar_in_the_repository():
    from archdsl.frontend import _parse_tables
    from archdsl.resources import grammar_text

    # If this fails: the grammar changed; run `python tools/generate_parser.py` and commit its output.
    assert _parse_tables.GRAMMAR == grammar_text()


def test_archdsl_parser_reads_every_file_and_mistake_as_lark_itself_does():
    lark = pytest.importorskip("lark")
    from archdsl.frontend import lalr
    from archdsl.frontend.syntax_errors import EXAMPLES
    from archdsl.resources import grammar_text

    reference = lark.Lark(grammar_text(), parser="lalr", propagate_positions=True, maybe_placeholders=True)
    sources = [p.read_text() for p in ARCHITECTURES + sorted((ARCHITECTURES[0].parent / "blocks").glob("*.arch"))]
    sources += ["", "# only a comment\n", "network n(a, b = 2,) {\n  input 1x8x8;\n  conv3-8; (relu)\n}\n"]
    for text in sources:
        assert _plain(lalr.parse(text)) == _plain(reference.parse(text))
    mistakes = [example for examples in EXAMPLES.values() for example in examples]
    mistakes += ["network n { input 1x8x8; conv3-8 } } ", "block b { relu; ", "network n { input 1x8x8; $ }",
                 "network\n\n n { input 1x8x8; relu; \"a\nb\": relu; }", "use", "block"]
    for text in mistakes:
        assert _failure(lalr.parse, text) == _failure(reference.parse, text), text
    assert len(mistakes) > 100


def test_the_generator_writes_the_committed_tables_again(tmp_path):
    """The tool's output depends only on the grammar (and Lark): regenerating changes nothing."""
    import importlib.util

    pytest.importorskip("lark")
    from archdsl.frontend import _lark_regexes, _parse_tables
    from archdsl.resources import grammar_text

    spec = importlib.util.spec_from_file_location("generate_parser", ROOT / "tools" / "generate_parser.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    made = tool.tables(grammar_text())
    fresh, committed = tool.generate(grammar_text(), made), Path(_parse_tables.__file__).read_text(encoding="utf-8")
    # The first line names the Lark version that made the file.
    assert fresh.splitlines()[1:] == committed.splitlines()[1:]
    assert {(lexer[0], 0) for lexer in made["LEXERS"]} == set(_lark_regexes.PROGRAMS)


def test_archdsl_parser_and_lark_agree_on_fuzzed_text():
    """tools/fuzz.py's inputs (random derivations of the grammar, and the bundled files mutated token by
    token): whatever Lark makes of each, a tree or an error, archdsl's parser makes the same."""
    import random
    import sys

    lark = pytest.importorskip("lark")
    from archdsl.frontend import lalr
    from archdsl.resources import grammar_text

    sys.path.insert(0, str(ROOT / "tools"))
    import fuzz  # tools/ is not a package: found through sys.path

    reference = lark.Lark(grammar_text(), parser="lalr", propagate_positions=True, maybe_placeholders=True)
    outcomes = []
    for n in range(300):
        text, _ = fuzz.make_input(random.Random(f"parser:{n}"))
        try:
            expected = _plain(reference.parse(text))
        except lark.exceptions.UnexpectedInput:
            outcomes.append("error")
            assert _failure(lalr.parse, text) == _failure(reference.parse, text), text
        else:
            outcomes.append("tree")
            assert _plain(lalr.parse(text)) == expected, text
    assert 50 < outcomes.count("error") < 250  # both kinds, many of each


def test_a_used_file_is_parsed_once_for_every_program_that_uses_it():
    from archdsl.frontend import parser
    from archdsl.pipeline import build
    from archdsl.shapes.inference import total_params

    parser._parse_shared.cache_clear()
    first = total_params(build("mobilenet_v2"))
    build("efficientnet_b0")  # blocks/common.arch again: from the cache
    assert parser._parse_shared.cache_info().hits >= 1
    assert total_params(build("mobilenet_v2")) == first == 3_504_872  # a shared AST changes nothing
