"""The Python API a user meets: archdsl.summary(), network parameters passed one way everywhere,
draw/summary of a loaded model, help(archdsl), and pickling a loaded model (torch.save, DataLoader workers)."""

from __future__ import annotations

import html
import os
import pydoc
import re
import subprocess
import sys
import textwrap

import pytest
import torch
from helpers import ROOT, SPAWNED_WORKER

import archdsl
from archdsl.schemas import Summary

TWO_PARAMS = "network W(weights = 8, device = 4) { input 3x8x8; conv3-weights; conv3-device; gap; flatten; fc-2; }"


def test_summary_returns_the_typed_summary_with_a_table():
    s = archdsl.summary("resnet34")
    assert isinstance(s, Summary) and s.params == 21_797_672 and s.network == "ResNet34"
    text = repr(s)
    assert text.startswith("layer") and "network ResNet34: input 3x224x224" in text
    rows = text.split("-\n", 1)[1].split("\n-")[0].splitlines()
    assert rows[1].split()[:3] == ["conv1", "conv7-64/2", "64x112x112"]
    folded = repr(archdsl.summary("resnet34", depth=1))
    assert "layer1" in folded and len(folded.splitlines()) < len(text.splitlines())
    page = s._repr_html_()
    assert page.startswith("<table>") and page.count("<tr>") == len(rows) + 1  # and the header
    assert "<td style='text-align:left'>conv7-64/2</td>" in page
    assert str(s) == text


def test_the_notebook_table_shows_the_text_tables_rows():
    s = archdsl.summary("googlenet", depth=1)  # buffers, and aux heads marked [train]
    text, page = repr(s), s._repr_html_()
    cells = [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", page)]
    lines = text.split("-\n", 1)[1].split("\n-")[0].splitlines()
    assert len(cells) == 7 * len(lines)
    for i, line in enumerate(lines):
        assert " ".join(" ".join(cells[7 * i:7 * i + 7]).split()) == " ".join(line.split())
    assert "<th style='text-align:right'>buffers</th>" in page and "<td style='text-align:right'>1,286</td>" in page
    assert "[train]: computed in training mode only" in page


def test_summary_agrees_with_the_command(tmp_path):
    out = subprocess.run([sys.executable, "-m", "archdsl", "summary", "--json", "googlenet"], capture_output=True,
                         text=True, check=True, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT))).stdout
    assert Summary.model_validate_json(out).model_dump() == archdsl.summary("googlenet").model_dump()


def test_network_parameters_one_way_everywhere_even_named_like_keywords():
    params = {"weights": 5, "device": 6}
    model = archdsl.load(source=TWO_PARAMS, params=params)
    assert [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)] == [5, 6]
    assert archdsl.summary(TWO_PARAMS, params=params).params == sum(p.numel() for p in model.parameters())
    assert "5x8x8" in archdsl.draw(TWO_PARAMS, params=params).source
    # Names that are not a function's keyword also work directly, in every function.
    direct = archdsl.summary("lenet5", num_classes=4)
    assert direct.params == archdsl.summary("lenet5", params={"num_classes": 4}).params
    assert archdsl.summary("lenet5", num_classes=4).layers[-1].output_shape == [4]
    assert archdsl.load("lenet5", num_classes=4).archdsl_origin.params == {"num_classes": 4}
    assert archdsl.draw("lenet5", num_classes=4).source == archdsl.draw("lenet5", params={"num_classes": 4}).source


def test_a_parameter_given_twice_is_a_type_error():
    for call in (lambda: archdsl.load("lenet5", params={"num_classes": 3}, num_classes=4),
                 lambda: archdsl.summary("lenet5", params={"num_classes": 3}, num_classes=4),
                 lambda: archdsl.draw("lenet5", params={"num_classes": 3}, num_classes=4)):
        with pytest.raises(TypeError, match="network parameter 'num_classes' both in params= and as a keyword"):
            call()
    with pytest.raises(TypeError, match=r"params=\.\.\.\) takes a dict"):
        archdsl.summary("lenet5", params=[("num_classes", 3)])
    # A network parameter passed as load()'s own `weights` keyword: the error says where it goes.
    with pytest.raises(TypeError, match=r"load\(weights=\.\.\.\) takes a state_dict or the path .* not int; a "
                                        r"network parameter called weights goes in params=\{'weights': 5\}"):
        archdsl.load(source=TWO_PARAMS, weights=5)


def test_draw_and_summary_take_a_loaded_model_and_refuse_other_modules():
    model = archdsl.load("lenet5", params={"num_classes": 7})
    assert archdsl.summary(model).params == sum(p.numel() for p in model.parameters())
    assert archdsl.draw(model).source == archdsl.draw("lenet5", params={"num_classes": 7}).source
    features = archdsl.load("lenet5", features=["conv2"])
    assert archdsl.summary(features).network == "LeNet5"
    for other in (torch.nn.Linear(2, 2), 42):
        with pytest.raises(TypeError, match="takes an .arch path, a bundled network's name, .arch text or a model "
                                            "from archdsl.load, not"):
            archdsl.summary(other)
        with pytest.raises(TypeError, match="from archdsl.load"):
            archdsl.draw(other)


def test_draw_without_graphviz_shows_the_hint_in_a_notebook(monkeypatch):
    graph = archdsl.draw("lenet5", depth=1)
    monkeypatch.setenv("PATH", "/nonexistent")
    bundle = graph._repr_mimebundle_()
    assert "Graphviz's `dot` program was not found" in bundle["text/plain"]
    assert "apt-get install graphviz" in bundle["text/plain"]


def test_help_lists_every_public_function():
    text = pydoc.render_doc(archdsl, renderer=pydoc.plaintext)
    functions = text.split("FUNCTIONS\n")[1].split("DATA\n")[0]
    for name in ("build", "compile_source", "draw", "fuse", "load", "summary", "architectures_dir",
                 "bundled_architectures"):
        assert f"\n    {name}(" in "\n" + functions, name
    for function in (archdsl.load, archdsl.draw, archdsl.summary, archdsl.build, archdsl.compile_source):
        assert function.__annotations__.get("return"), function.__name__


PICKLED = textwrap.dedent("""
    import sys, torch
    model = torch.load(sys.argv[1], weights_only=False)
    x, y = torch.load(sys.argv[2])
    origin = model.archdsl_origin
    print(type(model).__name__, (model(x) - y).abs().max().item(), origin.params, origin.version,
          "network Small" in origin.source, "archdsl" in sys.modules)
""")
SMALL = 'use "blocks/resnet.arch";\nnetwork Small(classes = 10) {\n    input 3x32x32;\n    conv3-64; bn; relu; ' \
        'basic(64);\n    gap; flatten; fc-classes;\n}\n'


def test_a_saved_model_loads_in_a_fresh_process(tmp_path):
    (tmp_path / "small.arch").write_text(SMALL)
    model = archdsl.load(tmp_path / "small.arch", params={"classes": 3}).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.save((x, model(x)), tmp_path / "xy.pt")
    torch.save(model, tmp_path / "model.pt")
    (tmp_path / "small.arch").unlink()  # the pickle needs no file
    script = tmp_path / "check.py"
    script.write_text(PICKLED)
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "model.pt"), str(tmp_path / "xy.pt")],
                         check=False, capture_output=True, text=True, cwd=tmp_path,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stderr
    name, diff, *rest = out.stdout.split(maxsplit=2)
    assert name == "Small" and float(diff) == 0.0
    assert rest[0].strip() == f"{{'classes': 3}} {archdsl.__version__} True True"


def test_copies_and_fused_copies_keep_working():
    import copy
    import pickle

    model = archdsl.load("resnet18", params={"num_classes": 4, "input": "3x32x32"}).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
        assert torch.equal(copy.deepcopy(model)(x), expected)
        block = pickle.loads(pickle.dumps(model.layer1[0]))  # a block instance alone pickles too
        assert block(torch.randn(1, 64, 8, 8)).shape == (1, 64, 8, 8)
        clone = pickle.loads(pickle.dumps(model))
        assert torch.equal(clone(x), expected) and type(clone) is type(model)
        assert (archdsl.fuse(model)(x) - expected).abs().max() < 1e-4


@pytest.mark.slow
def test_a_spawned_dataloader_worker_holds_the_model(tmp_path):
    script = tmp_path / "loader.py"
    script.write_text(SPAWNED_WORKER)
    out = subprocess.run([sys.executable, str(script)], check=False, capture_output=True, text=True, cwd=tmp_path,
                         timeout=300, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) == 0.0
