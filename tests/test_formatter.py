"""archdsl fmt: canonical, idempotent, comment-preserving and round-trip safe."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

from archdsl.errors import ArchError
from archdsl.frontend.formatter import _without_spans, format_text
from archdsl.frontend.parser import parse

BUNDLED = sorted((ROOT / "architectures").rglob("*.arch"))

MESSY = """

# header comment
use   "blocks/resnet.arch"  ;
block b ( c , s=1 ){residual ( shortcut = pad ) < conv3 - c / s ; bn|conv1-c/s > ; relu}   # trailing
network   n( num_classes=10,k = 2 * (3 - 1) , neg = -1 ) {
input 3x32x32 ;
  # own line comment


        features : ( conv3-64 ; relu ) x 2 ;
  inception <
  a: conv1-8
     | ( conv1-4 ; conv3-8 )
  | maxpool3/1( padding = 1 )
      > ;
    fc-(num_classes+0) if true   # odd
    ;
    # before close
}
# end
"""

TIDY = """# header comment
use "blocks/resnet.arch";
block b(c, s = 1) { residual(shortcut=pad)<conv3-c/s; bn | conv1-c/s>; relu }              # trailing
network n(num_classes = 10, k = 2 * (3 - 1), neg = -1) {
    input 3x32x32;
    # own line comment

    features: (conv3-64; relu) x2;
    inception<
        a: conv1-8
      | (conv1-4; conv3-8)
      | maxpool3/1(padding=1)
    >;
    fc-(num_classes + 0) if true  # odd
    ;
    # before close
}
# end
"""


def _comments(text: str) -> list[str]:
    return [c.rstrip() for c in re.findall(r"#[^\n]*", text)]


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: str(p.relative_to(ROOT)))
def test_bundled_files_are_formatted(path):
    text = path.read_text()
    assert format_text(text, str(path)) == text, f"run: archdsl fmt {path.relative_to(ROOT)}"


def test_messy_file_gets_the_canonical_layout():
    assert format_text(MESSY, "m.arch") == TIDY


def test_formatting_is_idempotent():
    assert format_text(TIDY, "m.arch") == TIDY


def test_every_comment_is_kept_in_order():
    assert _comments(format_text(MESSY)) == _comments(MESSY)


def test_round_trip_gives_the_same_ast():
    assert _without_spans(parse(format_text(MESSY))) == _without_spans(parse(MESSY))


def test_trailing_comments_keep_their_column_or_sit_two_spaces_after_the_code():
    text = "network n {\n    input 1x8x8;  # a\n    relu;        # aligned\n    bn;# tight\n}\n"
    out = "network n {\n    input 1x8x8;  # a\n    relu;        # aligned\n    bn;  # tight\n}\n"
    assert format_text(text) == out


def test_call_options_are_tight_and_parameter_defaults_spaced():
    out = format_text("network n(a=1){input 1x8x8;conv3 - 8 / 2 ( padding = 1 , bias = false ) x a}")
    assert out == "network n(a = 1) { input 1x8x8; conv3-8/2(padding=1, bias=false) x a }\n"


def test_defaults_and_allow_are_laid_out_like_calls():
    out = format_text("network n(e=1){input 1x8x8;freeze a;default  bn ( eps = e*2 , momentum=0.1 ) ;\n"
                      "default conv(bias=false);a:(conv3-8;bn)x 2 if true allow ( bias-before-bn ,dropout-all ) ;"
                      "relu allow(pool-drops-input,)}")
    assert out == ("network n(e = 1) { input 1x8x8; freeze a; default bn(eps=e * 2, momentum=0.1);\n"
                   "    default conv(bias=false); a: (conv3-8; bn) x2 if true allow(bias-before-bn, dropout-all); "
                   "relu allow(pool-drops-input,) }\n")
    assert format_text(out) == out
    assert _without_spans(parse(out)) != _without_spans(parse(out.replace("dropout-all", "dropout-last")))


def test_arithmetic_is_spaced_but_negation_and_dashes_are_not():
    out = format_text("network n(a = - 1) { input 1x8x8; fc-(a*2-(-a)//3) }")
    assert out == "network n(a = -1) { input 1x8x8; fc-(a * 2 - (-a) // 3) }\n"


def test_blank_lines_shrink_to_one_and_vanish_inside_bracket_edges():
    out = format_text("network n {\n\n\n    input 1x8x8;\n\n\n\n    relu\n\n}\n")
    assert out == "network n {\n    input 1x8x8;\n\n    relu\n}\n"


def test_crlf_and_tabs_become_newlines_and_spaces():
    out = format_text("network n {\r\n\tinput 1x8x8;\r\n\trelu\r\n}\r\n")
    assert out == "network n {\n    input 1x8x8;\n    relu\n}\n"


def test_a_lone_carriage_return_in_a_comment_stays_in_the_comment():
    # Found by tools/fuzz.py: fmt made every lone CR a line break, so `# a<CR>relu` became code
    # and its own parser raised Lark's UnexpectedToken. To the lexer the CR is part of the comment.
    text = "network n { input 1x8x8;  # a\rfc layers\n    relu }\n"
    assert format_text(text) == text


def test_a_file_of_comments_only_is_kept():
    assert format_text("\n# just a note\n\n\n# another\n") == "# just a note\n\n# another\n"
    assert format_text("") == ""


def test_moving_a_freeze_target_is_not_a_change_of_meaning():
    # Found by tools/fuzz.py: freeze's `target_spans` counted as meaning, so any reflow of a
    # freeze line made the round-trip check fail with "fmt changed the meaning".
    text = "network n {  input 1x8x8;  freeze up to a;\n a: relu }\n"
    assert format_text(text) == "network n { input 1x8x8; freeze up to a;\n    a: relu }\n"


def test_syntax_errors_are_diagnostics_not_changes():
    with pytest.raises(ArchError) as info:
        format_text("network n { input 1x8x8; conv3-8 relu }", "bad.arch")
    d = info.value.first
    assert (d.span.line, d.span.column, d.message) == (1, 34, "unexpected 'relu'")


def run(*args: str, stdin: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archdsl", "fmt", *args], input=stdin, capture_output=True,
                          text=True, cwd=cwd, timeout=120, check=False)


def test_cli_check_reports_unformatted_files_and_changes_nothing(tmp_path):
    messy, tidy = tmp_path / "messy.arch", tmp_path / "tidy.arch"
    messy.write_text(MESSY)
    tidy.write_text(TIDY)
    result = run("--check", str(messy), str(tidy))
    assert result.returncode == 1
    assert result.stderr == f"would reformat {messy}\n"
    assert messy.read_text() == MESSY
    assert run("--check", str(tidy)).returncode == 0


def test_cli_rewrites_in_place_and_reads_stdin(tmp_path):
    messy = tmp_path / "messy.arch"
    messy.write_text(MESSY)
    result = run(str(messy))
    assert result.returncode == 0 and messy.read_text() == TIDY
    result = run("-", stdin=MESSY)
    assert result.returncode == 0 and result.stdout == TIDY


def test_stdin_that_is_not_utf8_is_a_diagnostic():
    result = subprocess.run([sys.executable, "-m", "archdsl", "fmt", "-"], input=b"network n {} # \xff\n",
                            capture_output=True, timeout=120, check=False, cwd=ROOT)
    assert result.returncode == 1
    assert result.stderr.decode().startswith(
        "error[cannot-read]: cannot read <stdin>: 'utf-8' codec can't decode byte 0xff")


def test_cli_keeps_going_after_a_file_that_does_not_parse(tmp_path):
    bad, messy = tmp_path / "bad.arch", tmp_path / "messy.arch"
    bad.write_text("network n {\n  input 1x8x8;\n  conv3-8 relu\n}\n")
    messy.write_text(MESSY)
    result = run(str(bad), str(messy))
    assert result.returncode == 1
    assert f"{bad}:3:11: error[missing-semicolon]: unexpected 'relu'" in result.stderr
    assert bad.read_text().startswith("network n {\n  input")  # untouched
    assert messy.read_text() == TIDY
