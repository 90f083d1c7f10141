"""Bundled networks by name (`archdsl list`, `archdsl check resnet34`, `archdsl.load("lenet5")`), `use`
found through ARCHDSL_PATH and the bundled library, `archdsl words`, and hints a pip user can follow."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import pytest
from helpers import EXPECTED_PARAMS, ROOT

import archdsl
from archdsl.analysis.library import bundled_entries, family
from archdsl.errors import ArchError
from archdsl.layers.registry import words
from archdsl.resources import bundled, bundled_names, network_path


def run(*args: str, cwd, env=None) -> subprocess.CompletedProcess:
    environ = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-m", "archdsl", *args], check=False, capture_output=True, text=True,
                          cwd=cwd, timeout=300, env=environ)


def test_list_names_every_bundled_network_with_its_figures(tmp_path):
    result = run("list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "family", "input", "parameters", "MACs"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == set(EXPECTED_PARAMS)
    for name, params in EXPECTED_PARAMS.items():
        assert rows[name][3] == f"{params:,}", name
    assert rows["resnet34"][1:3] == ["resnet", "3x224x224"] and rows["resnet34"][4:] == ["3.67", "G"]
    assert rows["lenet5"][4:] == ["0.42", "M"]
    assert rows["efficientnet_v2_s"][1] == "efficientnet_v2" and rows["alexnet_paper"][1] == "alexnet"
    order = list(rows)  # digits read as numbers
    for names in (FAMILY_MEMBERS["resnet"], FAMILY_MEMBERS["mnasnet"], FAMILY_MEMBERS["densenet"],
                  ["regnet_x_1_6gf", "regnet_x_3_2gf", "regnet_x_8gf", "regnet_x_16gf", "regnet_x_32gf"]):
        assert [order.index(name) for name in names] == sorted(order.index(name) for name in names), names


def test_list_entries_agree_with_torchinfo():
    entries = {e.name: e for e in bundled_entries()}
    reference = json.loads((ROOT / "tests" / "reference" / "torchinfo.json").read_text())["models"]
    for name in ("vgg16", "alexnet", "lenet5"):  # no batch norm or LRN: MACs equal torchinfo's (docs/analysis.md)
        assert entries[name].macs == reference[name]["total_mult_adds"], name
        assert entries[name].params == reference[name]["trainable_params"], name
    assert entries["vgg16"].network == "VGG16"


# Every bundled file by family, written out (a new file fails here until it is added to a family).
FAMILY_MEMBERS = {
    "alexnet": ["alexnet", "alexnet_paper"],
    "convnext": ["convnext_tiny", "convnext_small", "convnext_base", "convnext_large"],
    "deeplabv3": ["deeplabv3_mobilenet_v3_large", "deeplabv3_resnet50", "deeplabv3_resnet101"],
    "densenet": ["densenet121", "densenet161", "densenet169", "densenet201"],
    "efficientnet": [f"efficientnet_b{i}" for i in range(8)],
    "efficientnet_v2": ["efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l"],
    "fcn": ["fcn_resnet50", "fcn_resnet101"],
    "googlenet": ["googlenet"],
    "inception": ["inception_v3"],
    "lenet": ["lenet5"],
    "lraspp": ["lraspp_mobilenet_v3_large"],
    "mnasnet": ["mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3"],
    "mobilenet_v2": ["mobilenet_v2"],
    "mobilenet_v3": ["mobilenet_v3_large", "mobilenet_v3_small"],
    "regnet": [f"regnet_{xy}_{size}" for xy in "xy" for size in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf",
                                                                  "32gf")] + ["regnet_y_128gf"],
    "resnet": ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"],
    "resnext": ["resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d"],
    "shufflenet_v2": ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0"],
    "squeezenet": ["squeezenet1_0", "squeezenet1_1"],
    "unet": ["unet"],
    "vgg": ["vgg11", "vgg11_bn", "vgg11_lrn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg16_conv1", "vgg19",
            "vgg19_bn"],
    "wide_resnet": ["wide_resnet50_2", "wide_resnet101_2"],
}


def test_every_bundled_network_has_its_torchvision_family():
    expected = {name: fam for fam, names in FAMILY_MEMBERS.items() for name in names}
    assert sorted(expected) == bundled_names()
    assert {name: family(name) for name in bundled_names()} == expected
    assert family("mynet") == "mynet"


def test_commands_take_a_bundled_name_and_a_file_of_that_name_wins(tmp_path):
    result = run("check", "-q", "resnet18", "lenet5.arch", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "resnet18: network ResNet18" in result.stdout and "output 1000; 11,689,512 parameters" in result.stdout
    assert "lenet5.arch: network LeNet5" in result.stdout
    (tmp_path / "resnet18").write_text("network Mine { input 3x8x8; conv3-4; }\n")
    result = run("check", "-q", "resnet18", "bundled:resnet18", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "resnet18: network Mine" in result.stdout and "bundled:resnet18: network ResNet18" in result.stdout
    result = run("summary", "--json", "squeezenet1_1", cwd=tmp_path)
    assert result.returncode == 0 and '"params": 1235496' in result.stdout
    assert json.loads(result.stdout)["file"] == "squeezenet1_1"  # as named, not where it is installed


def test_a_name_that_is_neither_file_nor_bundled_says_so(tmp_path):
    result = run("check", "resnet35", "bundled:nope", cwd=tmp_path)
    assert result.returncode == 1
    assert "error[cannot-read]: cannot read resnet35: No such file or directory\n" \
           "  hint: it is neither a file nor a bundled network (`archdsl list` names those)" in result.stderr
    assert "error[cannot-read]: no bundled network 'nope'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_path_of_the_clone_names_the_bundled_network_where_it_is_missing(tmp_path):
    result = run("check", "architectures/resnet34.arch", cwd=tmp_path)
    assert result.returncode == 1
    assert "cannot read architectures/resnet34.arch: No such file or directory\n  hint: no such file here; the " \
           "bundled network of that name is called 'resnet34', without a folder" in result.stderr


def test_bundled_refuses_paths():
    assert bundled("resnet34") == bundled("resnet34.arch") is not None
    for name in ("blocks/resnet", "../architectures/resnet34", ".hidden", "", "resnet35"):
        assert bundled(name) is None
    with pytest.raises(ArchError, match="cannot read blocks/resnet"):
        network_path("blocks/resnet")


def test_python_api_takes_bundled_names():
    model = archdsl.load("lenet5", num_classes=4)
    assert sum(p.numel() for p in model.parameters()) == 61_706 - 6 * 84 - 6
    graph = archdsl.draw("lenet5", depth=1)
    assert "LeNet5" in graph.source


USER_NET = 'use "blocks/resnet.arch";\nuse "mine.arch";\n\nnetwork Net {\n    input 3x32x32;\n' \
           '    conv3-64; basic(64); twice(64); gap; flatten; fc-10;\n}\n'


def test_use_looks_beside_the_file_then_in_archdsl_path_then_in_the_bundled_library(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "mine.arch").write_text("block twice(c) { conv3-c; conv3-c; }\n")
    work = tmp_path / "work"
    work.mkdir()
    (work / "net.arch").write_text(USER_NET)
    result = run("check", "-q", "net.arch", cwd=work, env={"ARCHDSL_PATH": f"{tmp_path / 'nowhere'}{os.pathsep}{lib}"})
    assert result.returncode == 0, result.stderr
    assert "output 10;" in result.stdout
    # Beside the file comes first.
    (work / "mine.arch").write_text("block twice(c) { conv3-c; }\n")
    near = run("check", "-q", "net.arch", cwd=work, env={"ARCHDSL_PATH": str(lib)})
    assert near.returncode == 0 and near.stdout != result.stdout


def test_a_block_from_the_bundled_library_is_named_by_its_whole_path_outside_it(tmp_path, monkeypatch):
    # Relative to the working folder, the installed library's file would read ../../lib/python3.x/...
    monkeypatch.chdir(tmp_path)
    ir = archdsl.build(source='use "blocks/resnet.arch";\nnetwork n { input 3x32x32; basic(64, 1); }\n')
    library = str(archdsl.architectures_dir().resolve() / "blocks" / "resnet.arch")
    assert library in ir.program.sources
    assert any(layer.span.file == library for layer in ir.enabled_layers())


def test_a_use_not_found_lists_where_it_looked(tmp_path):
    (tmp_path / "net.arch").write_text(USER_NET)
    result = run("check", "net.arch", cwd=tmp_path, env={"ARCHDSL_PATH": "/opt/blocks"})
    assert result.returncode == 1
    assert "net.arch:2:1: error[cannot-read]: cannot read 'mine.arch'" in result.stderr
    assert (f"hint: looked in {tmp_path}/mine.arch, /opt/blocks/mine.arch, "
            f"{archdsl.architectures_dir()}/mine.arch (beside the file") in result.stderr


def test_words_prints_every_word_and_its_options(tmp_path):
    result = run("words", cwd=tmp_path)
    assert result.returncode == 0
    for spec in words():
        assert f"\n{spec.word}: {spec.doc}\n" in "\n" + result.stdout
        for option in spec.options:
            assert f"  {option.name}=" in result.stdout
    conv = run("words", "conv", cwd=tmp_path).stdout
    assert conv.startswith("conv: 2-D convolution\n  PyTorch: nn.Conv2d\n")
    assert "  channels=required: number of filters" in conv and "  stride=1: stride" in conv
    bad = run("words", "rleu", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown layer word 'rleu'; the words: conv, " in bad.stderr


def test_unknown_word_hint_names_the_words_command():
    with pytest.raises(ArchError) as info:
        archdsl.build(None, source="network n { input 3x8x8; qqqqqqqq; }")
    assert info.value.first.hint == "`archdsl words` lists the layer words"


# Messages read by whoever installed the wheel, who has none of the repository's files. The two
# exceptions speak to a developer working in the repository, where those files exist.
REPOSITORY_FILES = ("docs/", "bench/", "scripts/", "tests/", "tools/", "README", "CONTRIBUTING")
# archdsl/layers/docs.py renders docs/language.md's table for tools/layer_table.py.
FOR_DEVELOPERS = {"archdsl/frontend/parser.py": "tools/generate_parser.py", "archdsl/layers/docs.py": ""}


def test_no_message_names_a_repository_file():
    for path in sorted((ROOT / "archdsl").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
                      and node.body and isinstance(node.body[0], ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                named = [f for f in REPOSITORY_FILES if f in node.value]
                allowed = FOR_DEVELOPERS.get(rel)
                if named and (allowed is None or allowed not in node.value):
                    pytest.fail(f"{rel}:{node.lineno} names {named}: {node.value!r}")
