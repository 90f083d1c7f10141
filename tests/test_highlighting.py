"""The Pygments lexer (`archdsl`, `*.arch`): every bundled file lexes without an error token, and the
words the compiler knows are highlighted as such."""

from __future__ import annotations

import importlib
import re
import shutil
import sys

import pytest
from helpers import ROOT

pygments = pytest.importorskip("pygments")
from pygments.token import Error, Keyword, Name, Number

import archdsl
from archdsl.highlighting import ArchLexer

FILES = sorted((ROOT / "architectures").rglob("*.arch"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT / "architectures")))
def test_every_bundled_file_lexes_without_an_error_token(path):
    tokens = list(ArchLexer().get_tokens(path.read_text()))
    assert [t for t in tokens if t[0] in Error] == []
    assert "".join(text for _, text in tokens) == path.read_text()


def test_the_parts_of_a_statement():
    text = 'use "blocks/resnet.arch";\nblock b(c) { conv3-c/2(bias=false); relu x2 allow(bias-before-bn) }\n' \
           "network N { input 3x224x224; stem: b(64); gap }"
    kinds: dict[str, object] = {}
    for kind, value in ArchLexer().get_tokens(text):
        kinds.setdefault(value, kind)  # the first occurrence: `b` where it is defined
    assert kinds["use"] in Keyword and kinds["block"] in Keyword and kinds["network"] in Keyword
    assert kinds["conv3"] is Name.Builtin and kinds["relu"] is Name.Builtin and kinds["gap"] is Name.Builtin
    assert kinds["b"] is Name.Function and kinds["N"] is Name.Function
    assert kinds["stem"] is Name.Label
    assert kinds["3x224x224"] in Number
    assert kinds["bias-before-bn"] is Name.Exception
    assert kinds["x"] in Keyword


def test_registered_under_its_name_and_file_pattern():
    """The entry point pyproject.toml declares resolves to the lexer; where archdsl is installed with
    that entry point, Pygments finds it by name and by file name."""
    from importlib.metadata import entry_points

    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename

    declared = re.search(r'\[project.entry-points."pygments.lexers"\]\narchdsl = "([^"]+)"',
                         (ROOT / "pyproject.toml").read_text())
    assert declared is not None
    module, _, name = declared.group(1).partition(":")
    assert getattr(importlib.import_module(module), name) is ArchLexer
    if not any(e.name == "archdsl" for e in entry_points(group="pygments.lexers")):
        pytest.skip("archdsl is not installed with its entry points here (pip install -e . registers them)")
    assert type(get_lexer_by_name("archdsl")) is ArchLexer
    assert type(get_lexer_for_filename("resnet34.arch")) is ArchLexer


def test_check_highlights_the_quoted_source_on_a_colour_terminal(tmp_path):
    import os
    import subprocess

    bad = tmp_path / "bad.arch"
    bad.write_text("network N {\n  input 3x32x32;\n  conv3-16; relu7; gap; flatten; fc-10\n}\n")
    env = dict(os.environ, FORCE_COLOR="1", PYTHONPATH=str(ROOT))
    env.pop("NO_COLOR", None)
    done = subprocess.run([sys.executable, "-m", "archdsl", "check", str(bad)], env=env, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 1
    [quoted] = [line for line in done.stderr.splitlines() if "relu7" in line and "error" not in line]
    assert "\x1b[" in quoted and "conv3" in quoted  # the layer words painted
    plain = subprocess.run([sys.executable, "-m", "archdsl", "check", str(bad)], capture_output=True, text=True,
                           env=dict(env, NO_COLOR="1"), check=False)
    assert "\x1b[" not in plain.stderr


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_the_viewer_shows_highlighted_source_lines_with_their_text_escaped():
    import json

    from archdsl.drawing.html import page
    from archdsl.drawing.render import drawing

    source = "network N {\n  input 3x8x8;\n  conv3-4; relu  # <img src=x onerror=alert(1)> </script>\n}\n"
    text = page(drawing(archdsl.build(None, source=source)))
    info = json.loads(re.search(r'id="archdsl-info">(.*?)</script>', text, re.DOTALL).group(1))
    lines = [v["html"] for v in info.values() if v.get("text", "").startswith("conv3-4")]
    assert lines and all("<span" in line for line in lines)  # painted
    assert all("<img" not in line and "&lt;img src=x" in line for line in lines)  # escaped by Pygments
    assert "</script>" not in text.split('id="archdsl-info">', 1)[1].split("</script>", 1)[0]
