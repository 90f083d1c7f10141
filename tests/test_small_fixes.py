"""Small things a user met: `check` rows for modules that do not exist, softmax ending a classifier,
the avgpool row of the layer words' reference."""

from __future__ import annotations

import pytest
from helpers import ROOT, net

import archdsl
from archdsl.cli.main import main
from archdsl.errors import ArchError


def test_check_lists_no_row_for_an_identity_shortcut(capsys):
    assert main(["check", "resnet18"]) == 0
    out = capsys.readouterr().out
    assert "shortcut(identity)" not in out
    assert "layer1.0.downsample" not in out  # no such module: torchvision's layer1.0.downsample is None
    assert "  layer2.0.downsample  shortcut(projection)  128x28x28       8,448" in out
    model = archdsl.load("resnet18")
    assert model.layer1[0].downsample is None and model.layer2[0].downsample is not None


def test_a_zero_padding_shortcut_is_shown_unnamed(tmp_path, capsys):
    """It computes (zero-pads) but is no module: its row is kept, without a module name."""
    (tmp_path / "pad.arch").write_text(net("conv3-8; residual(shortcut=pad)< conv3-16/2 >; gap", "3x8x8"))
    assert main(["check", str(tmp_path / "pad.arch")]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["-", "shortcut(pad)", "16x4x4", "0"] in rows
    assert not any(row[0].endswith("downsample") for row in rows)


@pytest.mark.parametrize("body", ["flatten; fc-10; softmax", "gap; flatten; fc-4; relu; softmax"])
def test_softmax_ending_a_classifier_warns(body):
    ir = archdsl.build("c.arch", source=net("conv3-8; " + body, "3x8x8"))
    [warning] = [w for w in ir.warnings if w.code == "softmax-last"]
    assert warning.message.startswith("the classifier ends in softmax: nn.CrossEntropyLoss expects logits")
    assert (warning.span.line, warning.span.column) == (3, ("conv3-8; " + body).index("softmax") + 1)
    with pytest.raises(ArchError, match=r"softmax-last"):
        archdsl.build("c.arch", source=net("conv3-8; " + body, "3x8x8"), strict=True)


def test_softmax_elsewhere_or_allowed_does_not_warn():
    for body in ("conv3-8; softmax", "flatten; fc-10; softmax; fc-3", "flatten; fc-10; softmax allow(softmax-last)"):
        ir = archdsl.build("c.arch", source=net(body, "3x8x8"), strict=True)
        assert not ir.warnings


def test_the_avgpool_row_names_avgpool():
    text = (ROOT / "docs" / "language.md").read_text()
    [row] = [line for line in text.splitlines() if line.startswith("| `avgpool` |")]
    assert "also in the word: avgpool3" in row and "maxpool3" not in row
