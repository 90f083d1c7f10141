"""`allow(code, ...)` after a statement, and the lossy-shortcut warning it can silence."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import ROOT, error_of, net

import archdsl
from archdsl.frontend.formatter import format_text
from archdsl.resources import architectures_dir

# Line 3: a conv whose bias the batch norm cancels; line 4: a pooling that drops a row and a column.
WARNED = net("    conv3-8; bn; relu;\n    maxpool2; flatten; fc-10", input="1x7x7")


def _warnings(source: str) -> list[tuple[int, int, str]]:
    return [(d.span.line, d.span.column, d.code) for d in archdsl.build("test.arch", source=source).warnings]


def test_without_allow_both_warnings_are_reported():
    assert _warnings(WARNED) == [(4, 5, "pool-drops-input"), (3, 5, "bias-before-bn")]


def test_allow_silences_exactly_the_named_code_inside_its_statement():
    source = net("    conv3-8 allow(bias-before-bn); bn; relu;\n    maxpool2; flatten; fc-10", input="1x7x7")
    assert _warnings(source) == [(4, 5, "pool-drops-input")]
    other = net("    conv3-8 allow(pool-drops-input); bn; relu;\n    maxpool2; flatten; fc-10", input="1x7x7")
    assert _warnings(other) == [(4, 5, "pool-drops-input"), (3, 5, "bias-before-bn")]  # another code: no effect
    outside = net("    conv3-8; bn allow(bias-before-bn); relu;\n    maxpool2 allow(pool-drops-input); flatten; fc-10",
                  input="1x7x7")
    assert _warnings(outside) == [(3, 5, "bias-before-bn")]  # the warning is at the conv, outside bn's statement


def test_allow_on_a_group_covers_the_statements_inside_it():
    source = net("    features: (conv3-8; bn; relu; maxpool2) allow(bias-before-bn, pool-drops-input);\n"
                 "    conv3-8; bn; flatten; fc-10", input="1x7x7")
    assert _warnings(source) == [(4, 5, "bias-before-bn")]
    repeated = net("    (conv3-1; bn; relu) x 2 if true allow(bias-before-bn);\n    flatten; fc-10", input="1x7x7")
    assert _warnings(repeated) == []


def test_allow_is_lexical_for_blocks():
    block = "block b {\n    conv3-8; bn; relu\n}\n"
    used = block + net("    b allow(bias-before-bn); flatten; fc-10", input="1x7x7")
    assert _warnings(used) == [(2, 5, "bias-before-bn")]  # reported at the block's definition, outside the use
    inside = "block b {\n    conv3-8 allow(bias-before-bn); bn; relu\n}\n" + net("    b; b; flatten; fc-10",
                                                                                 input="1x7x7")
    assert _warnings(inside) == []


def test_strict_does_not_fail_on_allowed_warnings():
    with pytest.raises(archdsl.ArchError):
        archdsl.compile_source("test.arch", source=WARNED, strict=True)
    allowed = net("    conv3-8 allow(bias-before-bn); bn; relu;\n    maxpool2 allow(pool-drops-input); flatten; fc-10",
                  input="1x7x7")
    assert archdsl.compile_source("test.arch", source=allowed, strict=True).warnings == ()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archdsl", *args], capture_output=True, text=True, timeout=120,
                          check=False, cwd=ROOT)


def test_cli_strict_exit_codes(tmp_path):
    path = tmp_path / "half.arch"
    path.write_text(net("    conv3-8 allow(bias-before-bn); bn; relu;\n    maxpool2; flatten; fc-10", input="1x7x7"))
    result = _cli("check", "-q", "--strict", str(path))
    assert result.returncode == 1
    assert "error[pool-drops-input]" in result.stderr and "bias-before-bn" not in result.stderr
    path.write_text(net("    conv3-8 allow(bias-before-bn); bn; relu;\n    maxpool2 allow(pool-drops-input); "
                        "flatten; fc-10", input="1x7x7"))
    result = _cli("compile", "--strict", str(path), "-o", str(tmp_path / "out.py"))
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr and (tmp_path / "out.py").exists()
    path.write_text(net("    conv3-8 allow(bias-before-bm); bn", input="1x7x7"))
    result = _cli("check", "-q", str(path))
    assert result.returncode == 1 and f"{path}:3:19: error[unknown-code]" in result.stderr
    assert "did you mean 'bias-before-bn'?" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("source, line, column, code, message", [
    ("    relu allow(bias_before_bn)", 3, 16, "unknown-code", "unknown diagnostic code 'bias_before_bn'"),
    ("    relu allow(pool-drops-input, zzz)", 3, 34, "unknown-code", "unknown diagnostic code 'zzz'"),
    ("    relu allow(shape-mismatch)", 3, 16, "allow-error", "'shape-mismatch' is an error, and only warnings"),
    ("    relu allow", 4, 1, "bad-allow", "unexpected '}'"),
    ("    relu allow bias-before-bn", 3, 16, "bad-allow", "unexpected 'bias'"),
    ("    relu allow()", 3, 16, "bad-allow", "unexpected ')'"),
])
def test_allow_mistakes(source, line, column, code, message):
    error = error_of(net(source))
    d = error.first
    assert (d.span.file, d.span.line, d.span.column, d.code) == ("test.arch", line, column, code), d
    assert d.message.startswith(message)
    assert "Traceback" not in error.render()


def test_allow_round_trips_through_the_formatter():
    messy = net("    a: ( relu ; bn )x 2 if true   allow ( dropout-all ,pool-drops-input , ) ;\n"
                "    conv3-8  allow(bias-before-bn)")
    tidy = format_text(messy)
    assert "a: (relu; bn) x2 if true allow(dropout-all, pool-drops-input,);" in tidy
    assert "conv3-8 allow(bias-before-bn)" in tidy
    assert format_text(tidy) == tidy


def test_allow_and_default_stay_names_where_no_statement_starts_or_ends():
    # `allow` is a keyword only after a statement's item, `default` only where a statement starts.
    source = ("block allow(default) { conv3-(default) }\n"
              + net("    allow(8); relu", params="default = 1"))
    assert archdsl.build("test.arch", source=source).layers


# -- lossy-shortcut -------------------------------------------------------------------------------
SQUEEZE_EXCITE = net("    conv3-16(bias=false); bn; relu;\n    residual< gap; conv1-4; relu; conv1-16; sigmoid >;\n"
                     "    gap; flatten; fc-10", input="3x8x8")


def test_a_squeeze_and_excitation_written_as_a_residual_warns():
    warnings = archdsl.build("test.arch", source=SQUEEZE_EXCITE).warnings
    assert [(d.span.line, d.span.column, d.code) for d in warnings] == [(4, 5, "lossy-shortcut")]
    assert warnings[0].message == ("the residual's automatic shortcut strides by 8x8 to turn its 16x8x8 input into "
                                   "the body's 16x1x1: it keeps 1 of every 64 input positions")
    assert "x * f(x)" in (warnings[0].hint or "")
    allowed = SQUEEZE_EXCITE.replace("sigmoid >;", "sigmoid > allow(lossy-shortcut);")
    assert archdsl.build("test.arch", source=allowed).warnings == []


def test_stride_two_shortcuts_do_not_warn_and_nor_does_any_bundled_file():
    stride2 = net("    residual< conv3-16/2; relu; conv3-16 >;\n    residual<conv3-16/2 > (shortcut=pad)",
                  input="8x8x8")
    assert archdsl.build("test.arch", source=stride2.replace(" (shortcut=pad)", "")).warnings == []
    three = net("    residual< conv3-16/3 >", input="8x9x9")
    assert [d.code for d in archdsl.build("test.arch", source=three).warnings] == ["lossy-shortcut"]
    for path in sorted(architectures_dir().glob("*.arch")):
        assert not [d for d in archdsl.build(path).warnings if d.code == "lossy-shortcut"], path
