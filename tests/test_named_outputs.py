"""`out: output<...>`: named outputs in eval mode too. The network returns an ordered dict of them in
text order (torchvision's segmentation models), an output switched off by `if` is absent, the bodies'
members belong to the network; every stage takes them: shapes, check, summary, drawing, fuse,
features, torch.compile(fullgraph), torch.export and ONNX."""

from __future__ import annotations

import json
from collections import OrderedDict

import pytest
import torch
from helpers import build, error_of, net
from test_fuse import with_statistics
from torch.nn import functional as F

import archdsl
from archdsl.cli.main import main
from archdsl.drawing.render import drawing
from archdsl.frontend.formatter import format_text
from archdsl.schemas import Summary

SEG = net("conv1: conv3-8/2(bias=false); bn1: bn; relu;\n"
          "layer3: (conv3-16/2(bias=false); bn; relu);\n"
          "out: output< classifier: (conv3-8(bias=false); bn; relu; conv1-num_classes); "
          "upsample(size=@input, mode=bilinear) >;\n"
          "aux: output< @layer3; aux_classifier: (conv1-num_classes); upsample(size=@input, mode=bilinear) > "
          "if aux_loss", "3x32x32", "num_classes = 5, aux_loss = false")


def reference(model: torch.nn.Module, x: torch.Tensor, aux: bool) -> OrderedDict[str, torch.Tensor]:
    """The same computation written by hand, as torchvision's _SimpleSegmentationModel.forward."""
    features = model.layer3(torch.relu(model.bn1(model.conv1(x))))
    result = OrderedDict()
    result["out"] = F.interpolate(model.classifier(features), size=x.shape[-2:], mode="bilinear", align_corners=False)
    if aux:
        result["aux"] = F.interpolate(model.aux_classifier(features), size=x.shape[-2:], mode="bilinear",
                                      align_corners=False)
    return result


@pytest.mark.parametrize("aux", [False, True])
def test_the_network_returns_an_ordered_dict_in_eval_and_training(aux):
    torch.manual_seed(0)
    model = with_statistics(archdsl.load("s.arch", source=SEG, aux_loss=aux), (2, 3, 32, 32))
    x = torch.randn(2, 3, 32, 32)
    for training in (False, True):
        model.train(training)
        got = model(x)
        assert isinstance(got, OrderedDict) and list(got) == (["out", "aux"] if aux else ["out"])
        expected = reference(model, x, aux)
        for key in expected:
            assert got[key].shape == (2, 5, 32, 32)
            assert torch.allclose(got[key], expected[key], atol=1e-6), key
    keys = set(model.state_dict())
    assert "classifier.0.weight" in keys and "classifier.3.bias" in keys
    assert ("aux_classifier.0.weight" in keys) == aux


def test_emitted_code_fills_the_dict_as_torchvision_does():
    source = archdsl.compile_source("s.arch", source=SEG).source
    assert "def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:" in source
    assert 'result: OrderedDict[str, Tensor] = OrderedDict()\n' in source
    assert 'result["out"] = x\n' in source
    assert ('        if self.aux_classifier is not None:\n'
            '            x = layer3  # (B, 16, 8, 8)\n') in source
    assert source.rstrip().endswith("return result")
    assert "ordered dict of its outputs (out, aux), in eval and training mode; aux only where built" in source


def test_a_later_output_restarts_from_the_tapped_tensor():
    source = net("conv3-4; a: output< conv1-2 >; b: output< gap; flatten >", "3x8x8")
    emitted = archdsl.compile_source("s.arch", source=source).source
    assert "features = x\n" in emitted and "x = features\n" in emitted
    model = archdsl.load("s.arch", source=source).eval()
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        out = model(x)
        h = model.conv1(x)
        assert torch.equal(out["a"], model.conv2(h)) and torch.equal(out["b"], h.mean((2, 3)))


def test_shapes_check_and_summary_report_every_output(capsys, tmp_path):
    ir = build(SEG, aux_loss=True)
    assert {k: ir.layers[v].out_shape for k, v in ir.outputs.items()} == {"out": (5, 32, 32), "aux": (5, 32, 32)}
    assert list(build(SEG).outputs) == ["out"]
    path = tmp_path / "s.arch"
    path.write_text(SEG)
    assert main(["check", "-q", str(path), "--set", "aux_loss=true"]) == 0
    text = capsys.readouterr().out
    assert "  output out: 5x32x32\n  output aux: 5x32x32\n" in text
    assert main(["summary", str(path)]) == 0
    assert "output out: 5x32x32 (an entry of the returned dict)" in capsys.readouterr().out
    assert main(["summary", "--json", str(path), "--set", "aux_loss=true"]) == 0
    record = json.loads(capsys.readouterr().out)
    Summary.model_validate(record)
    assert record["outputs"] == {"out": [5, 32, 32], "aux": [5, 32, 32]}


def test_drawn_as_clusters_ending_in_the_named_node_and_formatted():
    d = drawing(build(SEG, aux_loss=True))
    assert 'label="output out"' in d.graph.source and 'label="output aux"' in d.graph.source
    assert "output aux\\n5x32x32" in d.graph.source
    messy = "network n{input 3x8x8;out:output<conv1-2>;aux:output< gap >if a}\n"
    assert format_text(messy) == "network n { input 3x8x8; out: output<conv1-2>; aux: output<gap> if a }\n"


@pytest.mark.parametrize("body, code", [
    ("conv3-4; out: output<conv1-2>; relu", "after-last-output"),
    ("output<conv1-2>", "output-needs-label"),
    ("a: side<gap>; out: output<conv1-2>", "side-with-output"),
    ("out: output<conv1-2>; a: side<gap>", "side-with-output"),
    ("out: output<conv1-2>; out: output<conv1-3>", "duplicate-output"),
    ("out: output<relu> if false", "no-output"),
    ("out: output<relu>; aux: output<@input> if true", "empty-conditional-output"),
    ("g: (out: output<relu>)", "misplaced-output"),
    ("residual<out: output<relu>>", "misplaced-output"),
    ("out: output<conv1-2>; aux: output<@out>", "unreadable-reference"),
])
def test_misuses_are_diagnostics(body, code):
    err = error_of(net(body, "3x8x8"))
    assert err.diagnostics[0].code == code, str(err)


def test_outputs_belong_in_the_network_body():
    err = error_of("block b { out: output<relu> }\n" + net("conv3-4; b", "3x8x8"))
    assert err.diagnostics[0].code == "misplaced-output" and "network body" in str(err)


def test_fuse_and_features_take_a_network_with_outputs():
    model = with_statistics(archdsl.load("s.arch", source=SEG, aux_loss=True), (2, 3, 32, 32))
    fused = archdsl.fuse(model)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        a, b = model(x), fused(x)
        assert list(a) == list(b) == ["out", "aux"]
        for key in a:
            assert torch.allclose(a[key], b[key], atol=1e-5)
    extractor = archdsl.load("s.arch", source=SEG, features=["layer3", "classifier"]).eval()
    feats = extractor(x)
    assert [tuple(t.shape) for t in feats.values()] == [(2, 16, 8, 8), (2, 5, 8, 8)]


def test_compile_export_and_onnx_take_the_dict(tmp_path):
    torch.manual_seed(0)
    model = with_statistics(archdsl.load("s.arch", source=SEG, aux_loss=True), (2, 3, 32, 32))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    with torch.no_grad():
        got = compiled(x)
    assert list(got) == ["out", "aux"] and all(torch.allclose(got[k], expected[k], atol=1e-5) for k in got)
    exported = torch.export.export(model, (x,))
    with torch.no_grad():
        got = exported.module()(x)
    assert list(got) == ["out", "aux"] and all(torch.allclose(got[k], expected[k], atol=1e-5) for k in got)
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    path = tmp_path / "s.onnx"
    torch.onnx.export(model, (x,), str(path), dynamo=True, verbose=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outs = session.run(None, {session.get_inputs()[0].name: x.numpy()})  # the dict flattened, in its order
    assert len(outs) == 2
    for got_np, key in zip(outs, ["out", "aux"]):
        assert abs(got_np - expected[key].numpy()).max() <= 1e-4


def test_a_training_step_takes_the_dict():
    from archdsl.pytorch.bench import outputs, train_step

    model = archdsl.load("s.arch", source=SEG, aux_loss=True).train()
    x = torch.randn(2, 3, 32, 32)
    assert [tuple(t.shape) for t in outputs(model(x))] == [(2, 5, 32, 32)] * 2
    before = model.aux_classifier[0].weight.detach().clone()
    train_step(model, torch.optim.SGD(model.parameters(), lr=0.1), x)
    assert not torch.equal(before, model.aux_classifier[0].weight)  # the aux head's loss reached it
