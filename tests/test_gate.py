"""`gate<body>` (x * body(x)) and `gate<a | b>` (a(x) * b(x)): squeeze-and-excitation and its kin,
through every stage: shapes and their errors, costs, code, torchvision's SqueezeExcitation, drawing,
formatting, folding."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from helpers import build, error_of, net
from test_analysis import _saved_by_autograd
from test_fuse import build_pair

import archdsl
from archdsl.analysis.costs import analyse
from archdsl.analysis.summary import table
from archdsl.drawing.render import drawing
from archdsl.frontend.formatter import format_text

SE = """
block se(c, s) {
    gate<avgpool: gap; fc1: conv1-s; activation: relu; fc2: conv1-c; scale_activation: hardsigmoid>
}
"""


def se_net(channels: int = 16, squeeze: int = 8, size: int = 8) -> str:
    return SE + net(f"conv1: conv3-{channels}(bias=false); bn1: bn; relu; se1: se({channels}, {squeeze}); "
                    "gap; flatten; fc-3", f"3x{size}x{size}")


def test_the_se_block_has_squeeze_excitations_keys_and_outputs():
    from torchvision.ops import SqueezeExcitation

    model = archdsl.load("se.arch", source=SE + net("se1: se(16, 8)", "16x7x7")).eval()
    reference = SqueezeExcitation(16, 8, scale_activation=torch.nn.Hardsigmoid).eval()
    assert list(model.se1.state_dict()) == list(reference.state_dict())
    torch.manual_seed(0)
    for p in reference.parameters():
        torch.nn.init.uniform_(p, -1, 1)  # gates away from hardsigmoid's flat ends, so a wrong one shows
    model.se1.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 16, 7, 7)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))


def test_shapes_params_and_the_products_place():
    ir = build(se_net())
    (mul,) = [layer for layer in ir.layers if layer.op == "mul"]
    assert mul.out_shape == (16, 8, 8)
    assert [ir.layers[i].out_shape for i in mul.inputs] == [(16, 8, 8), (16, 1, 1)]
    assert str(mul.path) == "" and mul.scope == 1  # a join of the se block, no attribute of its own
    members = [m.name for m in ir.instances[1].container.members]
    assert members == ["avgpool", "fc1", "activation", "fc2", "scale_activation"]
    assert sum(layer.params for layer in ir.layers if layer.scope == 1) == 16 * 8 + 8 + 8 * 16 + 16


def test_the_emitted_forward_multiplies_the_kept_input():
    source = archdsl.compile_source("se.arch", source=se_net()).source
    assert "identity = x\n        x = self.avgpool(x)" in source
    assert "x = identity * x  # (B, in_channels, 8, 8)" in source


def test_two_paths_multiply_each_others_results():
    source = net("gate<conv1-4 | conv3-4; sigmoid>", "3x6x6")
    emitted = archdsl.compile_source("g.arch", source=source).source
    assert "identity = x\n        x = self.conv1(x)" in emitted
    assert "gated = x\n        x = identity\n        x = self.conv2(x)" in emitted
    assert "x = gated * x  # (B, 4, 6, 6)" in emitted
    model = archdsl.load("g.arch", source=source).eval()
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        assert torch.equal(model(x), model.conv1(x) * torch.sigmoid(model.conv2(x)))


def test_a_one_by_one_first_path_broadcasts_onto_the_second():
    ir = build(net("gate<gap; conv1-4 | conv3-4>", "3x6x6"))
    (mul,) = [layer for layer in ir.layers if layer.op == "mul"]
    assert mul.out_shape == (4, 6, 6)
    model = archdsl.load("g.arch", source=net("gate<gap; conv1-4 | conv3-4>", "3x6x6")).eval()
    x = torch.randn(1, 3, 6, 6)
    with torch.no_grad():
        assert torch.equal(model(x), model.conv1(model.avgpool(x)) * model.conv2(x))


def test_gates_on_flat_features():
    model = archdsl.load("g.arch", source=net("flatten; fc-8; gate<fc-8; sigmoid>; fc-2", "3x2x2")).eval()
    x = torch.randn(2, 3, 2, 2)
    with torch.no_grad():
        h = model.fc1(torch.flatten(x, 1))
        assert torch.equal(model(x), model.fc3(h * torch.sigmoid(model.fc2(h))))


@pytest.mark.parametrize(("body", "words"), [
    ("conv3-8; gate<gap; conv1-4>", ["gate: the body gives 4x1x1, which does not multiply onto its input 8x8x8",
                                     "the body must keep the 8 channels"]),
    ("conv3-8; gate<maxpool>", ["gate: the body gives 8x4x4, which does not multiply onto its input 8x8x8"]),
    ("gate<conv3-8 | conv3-8/2>", ["gate: the first path gives 8x8x8 and the second 8x4x4",
                                   "the second path ends here with 8x4x4"]),
    ("conv3-8; gate<flatten>", ["gate: the body gives 512, which does not multiply onto its input 8x8x8"]),
])
def test_gates_that_do_not_broadcast_name_both_shapes(body, words):
    err = error_of(net(body, "3x8x8"))
    assert err.diagnostics[0].code == "gate-mismatch"
    for word in words:
        assert word in str(err)


@pytest.mark.parametrize(("body", "code"), [
    ("g: gate<relu>", "label-on-container"),
    ("g: (relu; gate<relu>)", "container-in-group"),
])
def test_misplaced_gates_are_errors(body, code):
    assert error_of(net(body, "3x8x8")).diagnostics[0].code == code


def test_a_gate_at_the_start_of_a_residual_body_keeps_both_names_apart():
    source = net("residual<gate<conv1-3; sigmoid>; conv3-3>", "3x6x6")
    emitted = archdsl.compile_source("g.arch", source=source).source
    assert "identity = x" in emitted and "identity2 = x" in emitted  # the residual's and the gate's inputs
    assert ("x = identity * x" in emitted and "x += identity2" in emitted) or \
        ("x = identity2 * x" in emitted and "x += identity" in emitted)
    model = archdsl.load("g.arch", source=source).eval()
    x = torch.randn(1, 3, 6, 6)
    with torch.no_grad():
        gated = x * torch.sigmoid(model.conv1(x))
        assert torch.equal(model(x), model.conv2(gated) + x)


def test_labels_named_like_the_generated_variables_are_not_clobbered():
    source = net("gate<identity: conv1-4 | gated: conv1-4; sigmoid>", "3x4x4")
    model = archdsl.load("g.arch", source=source).eval()
    x = torch.randn(1, 3, 4, 4)
    with torch.no_grad():
        assert torch.equal(model(x), model.identity(x) * torch.sigmoid(model.gated(x)))


def test_a_relu_on_the_gates_input_is_not_in_place():
    # conv -> relu in place would overwrite the conv's output that the product still needs.
    source = net("conv3-4; gate<relu; conv1-4>", "3x6x6")
    (relu,) = [layer for layer in build(source).layers if layer.op == "relu"]
    assert relu.attrs["inplace"] is False
    model = archdsl.load("g.arch", source=source).eval()
    x = torch.randn(1, 3, 6, 6)
    with torch.no_grad():
        h = model.conv1(x)
        assert torch.equal(model(x), h * model.conv2(torch.relu(h)))


def test_costs_one_mac_per_product_element_and_autograd_keeps_both_factors():
    ir = build(se_net())
    (row,) = [r for r in analyse(ir).rows if r.layer.op == "mul"]
    assert (row.macs, row.ops, row.activation_bytes) == (16 * 8 * 8, 0, 16 * 8 * 8 * 4)
    estimate = analyse(ir, device="cpu")
    model = archdsl.load("se.arch", source=se_net()).train()
    torch.manual_seed(0)
    assert _saved_by_autograd(model, torch.randn(1, 3, 8, 8)) == estimate.saved_bytes


def test_summary_lists_the_gates_layers_under_its_block():
    text = table(analyse(build(se_net())))
    names = [line.split()[0] for line in text.splitlines()[2:] if line.startswith(("se1", "  "))]
    assert names[:7] == ["se1", "avgpool", "fc1", "activation", "fc2", "scale_activation", "mul"]


def test_the_drawing_has_a_multiply_node_fed_by_the_input_and_the_body():
    d = drawing(build(se_net()))
    (mul,) = [layer for layer in d.ir.layers if layer.op == "mul"]
    (relu,) = [layer for layer in d.ir.layers if layer.op == "relu" and layer.scope == 0]
    (body,) = [layer for layer in d.ir.layers if layer.op == "hardsigmoid"]
    dot = d.graph.source
    assert f'L{mul.id} [label="×\\n16x8x8"' in dot
    assert f"T{relu.id - 2} -> L{mul.id}" in dot  # the table conv1, bn1, relu: the gate's input
    assert f"T{body.id - 4} -> L{mul.id}" in dot  # the body's table, avgpool to scale_activation


def test_a_block_that_is_one_gate_is_drawn_as_one_cluster():
    from archdsl.drawing.diagram import structure

    kinds = [g.kind for g in structure(build(se_net())).groups()]
    assert kinds.count("gate") == 1 and "block" not in kinds


def test_fmt_lays_out_gates_like_the_other_brackets():
    messy = "block se(c,s){gate < avgpool : gap ;fc1:conv1-s|sigmoid > }\n"
    assert format_text(messy) == "block se(c, s) { gate<avgpool: gap; fc1: conv1-s | sigmoid> }\n"
    assert format_text(SE.strip() + "\n") == SE.strip() + "\n"


def test_fuse_folds_the_conv_bn_pairs_of_a_block_holding_a_gate():
    source = SE + """
block mb(c) {
    conv1: conv1-c(bias=false); bn1: bn; relu;
    se: se(c, 4);
    conv2: conv1-c(bias=false); bn2: bn
}
""" + net("mb(16) x2; gap; flatten; fc-3", "3x8x8")
    model, fused, compiled, x = build_pair("mb.arch", source=source)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules()) == 0
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in compiled.modules()) == 0
    with torch.no_grad():
        expected = model(x)
        assert torch.allclose(fused(x), expected, atol=1e-5, rtol=0)
        assert torch.allclose(compiled(x), expected, atol=1e-5, rtol=0)


def test_emitted_gate_code_passes_ruff(tmp_path):
    (tmp_path / "se.py").write_text(archdsl.compile_source("se.arch", source=se_net()).source)
    (tmp_path / "g.py").write_text(archdsl.compile_source(
        "g.arch", source=net("gate<conv1-4 | conv3-4; sigmoid>", "3x6x6")).source)
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", str(tmp_path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
