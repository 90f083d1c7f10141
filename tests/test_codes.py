"""Diagnostic codes: every diagnostic is made with a declared code, every declared code is used,
and docs/diagnostics.md lists exactly the declarations."""

from __future__ import annotations

import ast
import sys

import pytest
from helpers import ROOT, net

import archdsl
from archdsl.codes import CODES
from archdsl.errors import ArchError, Diagnostic, Span

sys.path.insert(0, str(ROOT / "tools"))
import diagnostic_codes  # tools/ is not a package: found through sys.path

SOURCES = sorted((ROOT / "archdsl").rglob("*.py"))
# The calls that make a diagnostic, and the few places that pass on a code decided elsewhere.
MAKERS = {"Diagnostic", "Problem", "TooSmall"}
PASSED_ON = {("errors.py", "code"), ("lint.py", "d.code"), ("inference.py", "problem.code"), ("parser.py", "code"),
             ("server.py", "d.code")}  # the language server passes on the compiler's diagnostics


def _makers():
    """(file, line, the call's `code` argument or None) for every call that makes a diagnostic."""
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            reporter = (isinstance(f, ast.Attribute) and name in ("error", "warning")
                        and "reporter" in ast.unparse(f.value).lower())
            if name in MAKERS or reporter:
                code = next((k.value for k in node.keywords if k.arg == "code"), None)
                yield path, node.lineno, code


def _literal_codes() -> set[str]:
    used = {code.value for _, _, code in _makers() if isinstance(code, ast.Constant)}
    # syntax errors take their code from the table of explanations (and explain()'s two fallbacks)
    table = ast.parse((ROOT / "archdsl" / "frontend" / "syntax_errors.py").read_text(encoding="utf-8"))
    used |= {n.value for n in ast.walk(table) if isinstance(n, ast.Constant) and n.value in CODES}
    return used


def test_every_diagnostic_is_made_with_a_declared_code():
    makers = list(_makers())
    assert len(makers) > 100  # the scan finds the construction sites
    for path, line, code in makers:
        where = f"{path.relative_to(ROOT)}:{line}"
        assert code is not None, f"{where}: a diagnostic without code="
        if isinstance(code, ast.Constant):
            assert code.value in CODES, f"{where}: code {code.value!r} is not declared in archdsl/codes.py"
        else:
            assert (path.name, ast.unparse(code)) in PASSED_ON, f"{where}: code={ast.unparse(code)} is not a literal"


def test_every_declared_code_is_used():
    unused = set(CODES) - _literal_codes()
    assert not unused, f"declared in archdsl/codes.py but never reported: {sorted(unused)}"


def test_codes_are_kebab_case_and_say_what_they_are():
    for code, c in CODES.items():
        assert code == code.lower() and code.replace("-", "").isalpha(), code
        assert c.severity in ("error", "warning") and c.description and "|" not in c.description, code


def test_a_diagnostic_cannot_be_made_without_a_code():
    with pytest.raises(TypeError):
        Diagnostic("no code", Span("f", 1, 1))  # type: ignore[call-arg]


def test_the_code_is_shown_gcc_style():
    with pytest.raises(ArchError) as info:
        archdsl.compile_source("test.arch", source=net("    conv3-8; relux"))
    assert info.value.first.code == "unknown-word"
    assert info.value.render().startswith("test.arch:3:14: error[unknown-word]: unknown layer or block 'relux'")


@pytest.mark.parametrize("body, code", [
    ("    conv3-8 relu", "missing-semicolon"),
    ("    conv3-8 $", "unexpected-character"),
    ("    conv3-8; fc-10", "shape-mismatch"),
    ("    a: relu; a: relu", "duplicate-label"),
    ("    conv3-8(strid=2)", "unknown-option"),
])
def test_each_stage_reports_its_code(body, code):
    with pytest.raises(ArchError) as info:
        archdsl.compile_source("test.arch", source=net(body))
    assert info.value.first.code == code


def test_warnings_keep_their_code_under_strict():
    source = net("    conv3-8; bn; gap; flatten; fc-10")
    (warning,) = archdsl.build("test.arch", source=source).warnings
    assert warning.code == "bias-before-bn" and warning.render().startswith("test.arch:3:5: warning[bias-before-bn]: ")
    with pytest.raises(ArchError) as info:
        archdsl.build("test.arch", source=source, strict=True)
    assert info.value.first.code == "bias-before-bn" and "error[bias-before-bn]: " in info.value.render()


def test_the_docs_list_every_code():
    text = (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    # If this fails: run `python tools/diagnostic_codes.py` and commit docs/diagnostics.md.
    assert diagnostic_codes.with_table(text) == text
