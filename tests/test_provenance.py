"""The emitted module's header records the options that made it, as the command that makes it again."""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys

from helpers import ROOT

import archdsl
from archdsl.pipeline import _quoted, reproduce_command


def _command(header: str) -> str:
    doc = ast.get_docstring(ast.parse(header))
    match = re.search(r"run `(.*)` again\.", doc) or re.search(r"one command line\):\n((?:    .*\n?)+)", doc)
    assert match, doc
    return " ".join(match.group(1).split())


def _cli(args: list[str], cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archdsl", *args], check=True, capture_output=True, text=True,
                          cwd=cwd, env=dict(os.environ, PYTHONPATH=str(ROOT)))


def test_the_header_command_reproduces_the_module(tmp_path):
    (tmp_path / "resnet18.arch").write_text((ROOT / "architectures" / "resnet18.arch").read_text())
    (tmp_path / "blocks").mkdir()
    (tmp_path / "blocks" / "resnet.arch").write_text((ROOT / "architectures" / "blocks" / "resnet.arch").read_text())
    argv = ["compile", "resnet18.arch", "--set", "num_classes=10", "--set", "input=3x64x64", "--freeze",
            "up to layer3", "--fuse", "--channels-last"]
    first = _cli(argv, tmp_path).stdout
    command = _command(first)
    assert command == ("archdsl compile resnet18.arch --set num_classes=10 --set input=3x64x64 "
                       "--freeze 'up to layer3' --fuse --channels-last")
    again = _cli(shlex.split(command)[1:], tmp_path).stdout
    assert again == first
    assert max(len(line) for line in first.splitlines()) <= 120  # the emitted module stays ruff-clean


def test_the_python_api_records_its_parameters_too():
    source = archdsl.compile_source("lenet5", params={"num_classes": 3, "input": (1, 28, 28)},
                                    freeze=["conv1", "conv2"]).source
    assert _command(source) == "archdsl compile lenet5.arch --set num_classes=3 --set input=1x28x28 " \
                               "--freeze 'conv1, conv2'"
    plain = archdsl.compile_source("lenet5").source
    assert _command(plain) == "archdsl compile lenet5.arch"  # as before: the golden files keep their header


def test_standard_input_is_named_as_the_command_takes_it():
    assert reproduce_command("<stdin>", {"input": "3x8x8"}, None, False, False) == \
        "archdsl compile - --set input=3x8x8"
    assert reproduce_command("a b.arch", {"flag": True}, "", False, False) == \
        "archdsl compile 'a b.arch' --set flag=true --freeze ''"


def test_nothing_can_break_out_of_the_docstring():
    for hostile in ('x"""; import os', "a\\nb", "\x1b[2J", "'''", 'q="'):
        quoted = _quoted(hostile)
        assert '"' not in quoted and "\\" not in quoted and "\x1b" not in quoted, quoted
        ast.parse(f'"""{quoted}"""')
