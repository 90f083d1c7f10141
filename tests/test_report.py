"""`archdsl report`: the spectrum-of-depth chart (PNG or SVG) and its Markdown table."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from helpers import ARCHITECTURES, EXPECTED_PARAMS

from archdsl.analysis.report import colours, natural_key
from archdsl.cli.main import main

FILES = [str(p) for p in ARCHITECTURES]


def test_png_chart_of_every_bundled_network_and_its_table(tmp_path, capsys):
    image = pytest.importorskip("matplotlib.image")
    out, table = tmp_path / "spectrum.png", tmp_path / "spectrum.md"
    assert main(["report", *FILES, "-o", str(out), "--table", str(table)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = image.imread(out)
    assert pixels.shape[0] > 400 and pixels.shape[1] > 600
    assert pixels.std() > 0.05  # not a blank canvas
    rows = [line for line in table.read_text().splitlines() if line.startswith("| ") and ".arch" in line]
    assert len(rows) == len(ARCHITECTURES)
    vgg16 = next(r for r in rows if "| vgg16.arch |" in r)
    assert f"| 16 | {EXPECTED_PARAMS['vgg16']:,} | 15.484 |" in vgg16


def test_svg_chart_names_each_network_with_its_depth(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "spectrum.svg"
    assert main(["report", "architectures/resnet18.arch", "architectures/resnet50.arch", "-o", str(out)]) == 0
    root = ET.parse(out).getroot()
    assert root.tag.endswith("svg")
    text = out.read_text()
    assert "ResNet18 (18)" in text and "ResNet50 (50)" in text


def test_svg_output_is_deterministic(tmp_path):
    pytest.importorskip("matplotlib")
    first, second = tmp_path / "a.svg", tmp_path / "b.svg"
    for out in (first, second):
        assert main(["report", "architectures/lenet5.arch", "architectures/alexnet.arch", "-o", str(out)]) == 0
    assert first.read_bytes() == second.read_bytes()


def test_unknown_chart_format_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["report", "architectures/lenet5.arch", "-o", str(tmp_path / "chart.jpg")])
    assert info.value.code == 2
    assert "-o must end in .png or .svg" in capsys.readouterr().err
    assert not (tmp_path / "chart.jpg").exists()


def test_table_in_natural_order_and_a_colour_per_bubble(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out, table = tmp_path / "spectrum.svg", tmp_path / "spectrum.md"
    assert main(["report", *FILES, "-o", str(out), "--table", str(table)]) == 0
    assert f"({len(FILES)} networks)" in capsys.readouterr().err
    names = [line.split(" | ")[0][2:] for line in table.read_text().splitlines() if ".arch |" in line]
    resnets = [n for n in names if n.startswith("ResNet") and n[6:].isdigit()]
    assert resnets == ["ResNet18", "ResNet34", "ResNet50", "ResNet101", "ResNet152"]
    assert names.index("VGG11") < names.index("VGG13") < names.index("VGG16") < names.index("VGG19")
    # Each bubble is a scatter of one point, drawn with alpha 0.55: one fill each, none repeated (the
    # old 20-colour palette gave the 21st bubble the first one's colour).
    fills = re.findall(r"fill: (#[0-9a-f]{6}); fill-opacity: 0\.55", out.read_text())
    assert len(fills) > 20
    assert len(set(fills)) == len(fills)


def test_one_network_is_one_network(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["report", "architectures/lenet5.arch", "-o", str(tmp_path / "lenet.svg")]) == 0
    assert capsys.readouterr().err.startswith(f"wrote {tmp_path / 'lenet.svg'} (1 network)\n")


def test_colours_are_distinct_for_any_count():
    for n in range(1, 80):
        rgb = [tuple(round(c, 3) for c in colour) for colour in colours(n)]
        assert len(set(rgb)) == n


def test_natural_order():
    assert sorted(["ResNet101", "resnet18", "ResNet152", "ResNet34"], key=natural_key) == \
        ["resnet18", "ResNet34", "ResNet101", "ResNet152"]
