"""`archdsl diff`: per-block changes between two networks (shapes, parameters, MACs), with totals."""

from __future__ import annotations

import json

from helpers import EXPECTED_PARAMS

import archdsl
from archdsl.analysis.costs import analyse
from archdsl.analysis.diff import compare
from archdsl.cli.main import main


def _analyse(name: str):
    return analyse(archdsl.build(f"architectures/{name}.arch"))


def test_resnet18_against_resnet34_changes_the_four_stages_only():
    changes = compare(_analyse("resnet18"), _analyse("resnet34"))
    changed = {c.name: c for c in changes if c.status != "="}
    assert sorted(changed) == ["layer1", "layer2", "layer3", "layer4"]
    assert changed["layer3"].b.figures["params"] - changed["layer3"].a.figures["params"] == 4 * 1_180_672
    assert sum(c.b.figures["params"] - c.a.figures["params"] for c in changed.values()) == (
        EXPECTED_PARAMS["resnet34"] - EXPECTED_PARAMS["resnet18"])


def test_deeper_diff_shows_the_added_blocks():
    changes = compare(_analyse("resnet18"), _analyse("resnet34"), depth=2)
    added = [c.name for c in changes if c.status == "+"]
    assert added == ["layer1.2", "layer2.2", "layer2.3", "layer3.2", "layer3.3", "layer3.4", "layer3.5", "layer4.2"]
    assert all(c.b.word == "basic(256, 1)" for c in changes if c.name.startswith("layer3.") and c.status == "+")


def test_vgg16_against_configuration_c_finds_the_three_1x1_convolutions():
    changes = compare(_analyse("vgg16"), _analyse("vgg16_conv1"), depth=2)
    changed = [(c.name, c.a.word, c.b.word) for c in changes if c.status == "~" and c.level == 2]
    assert changed == [("features.14", "conv3-256", "conv1-256"), ("features.21", "conv3-512", "conv1-512"),
                       ("features.28", "conv3-512", "conv1-512")]


def test_diff_command_prints_totals_and_json(capsys):
    assert main(["diff", "architectures/resnet18.arch", "architectures/resnet34.arch"]) == 0
    text = capsys.readouterr().out
    assert "11,689,512  21,797,672  +10,108,160" in text
    assert main(["diff", "architectures/resnet18.arch", "architectures/resnet34.arch", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["totals"]["params"] == {"a": 11_689_512, "b": 21_797_672, "change": 10_108_160}
    assert record["totals"]["depth"] == {"a": 18, "b": 34, "change": 16}
    assert {b["name"]: b["status"] for b in record["blocks"]}["fc"] == "="


def test_diff_names_the_networks_as_given(capsys):
    # A bundled name stays a name: not the path it is installed at (site-packages/archdsl/_architectures/...).
    assert main(["diff", "resnet18", "architectures/resnet34.arch"]) == 0
    assert capsys.readouterr().out.splitlines()[:2] == ["A: resnet18 (ResNet18, depth 18)",
                                                        "B: architectures/resnet34.arch (ResNet34, depth 34)"]
    assert main(["diff", "--json", "resnet18", "lenet5"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert (record["a"], record["b"]) == ("resnet18", "lenet5")


def test_diff_of_two_unrelated_networks_lists_removed_and_added_blocks():
    changes = compare(_analyse("lenet5"), _analyse("alexnet"))
    assert {c.status for c in changes} >= {"+", "-"}
    assert sum(c.a.figures["params"] for c in changes if c.a) == EXPECTED_PARAMS["lenet5"]
    assert sum(c.b.figures["params"] for c in changes if c.b) == EXPECTED_PARAMS["alexnet"]
