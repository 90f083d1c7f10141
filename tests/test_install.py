"""`pip install .` (not editable) ships the grammar, the bundled architectures and the viewer's script."""

from __future__ import annotations

import os
import subprocess
import sys

from helpers import ROOT


def test_non_editable_install_finds_grammar_and_architectures(tmp_path):
    target = tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                            "--target", str(target), str(ROOT)],
                           check=False, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr
    assert not (target / "archdsl" / "grammars").exists()
    code = ("import archdsl; p = archdsl.bundled_architectures(); "
            f"assert archdsl.__file__.startswith({str(target)!r}), archdsl.__file__; "
            "from archdsl.drawing.html import _asset; assert 'archdsl-views' in _asset('viewer.js'); "  # package data
            "print(len(p), archdsl.compile_source(archdsl.architectures_dir() / 'resnet34.arch').class_name)")
    env = dict(os.environ, PYTHONPATH=str(target))
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=tmp_path,
                            env=env)
    assert result.returncode == 0, result.stderr
    count, name = result.stdout.split()
    assert int(count) == len(list((ROOT / "architectures").glob("*.arch"))) and name == "ResNet34"
