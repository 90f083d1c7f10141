"""The VS Code extension (editors/vscode/): its TextMate grammar is current with the language, its
manifest declares the language, and vscode-tmgrammar-test passes on its syntax tests."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from helpers import ROOT

EXTENSION = ROOT / "editors" / "vscode"
sys.path.insert(0, str(ROOT / "tools"))
import vscode_grammar


def test_the_committed_grammar_is_generated_from_the_current_language():
    assert (EXTENSION / "syntaxes" / "archdsl.tmLanguage.json").read_text() == vscode_grammar.text(), \
        "run tools/vscode_grammar.py"


def test_the_manifest_declares_the_language_its_grammar_and_the_server():
    manifest = json.loads((EXTENSION / "package.json").read_text())
    [language] = manifest["contributes"]["languages"]
    assert language["id"] == "archdsl" and language["extensions"] == [".arch"]
    [grammar] = manifest["contributes"]["grammars"]
    assert (EXTENSION / grammar["path"]).is_file() and grammar["scopeName"] == "source.archdsl"
    settings = manifest["contributes"]["configuration"]["properties"]
    assert settings["archdsl.server.command"]["default"] == ["archdsl", "lsp"]
    configuration = json.loads((EXTENSION / language["configuration"]).read_text())
    assert configuration["comments"]["lineComment"] == "#"
    assert {"open": "<", "close": ">"} in configuration["autoClosingPairs"]
    assert "vscode-languageclient/node" in (EXTENSION / manifest["main"]).read_text()


def test_the_grammar_passes_its_syntax_tests():
    runner = EXTENSION / "node_modules" / ".bin" / "vscode-tmgrammar-test"
    if not runner.exists():
        if shutil.which("npm") is None:
            pytest.skip("node and npm are not installed: scripts/setup installs the grammar test where they are")
        pytest.fail("vscode-tmgrammar-test is missing: run scripts/setup (npm ci in editors/vscode)")
    done = subprocess.run([str(runner), "-g", "syntaxes/archdsl.tmLanguage.json", "tests/syntax.arch"],
                          check=False, cwd=EXTENSION, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "syntax.arch run successfuly" in done.stdout  # (sic: the tool's spelling)
