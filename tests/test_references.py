"""`@name`: an earlier labelled statement's output read later (U-Net's long skips), in networks and
blocks; errors for references that point forwards or at nothing; and in-place safety: a tensor that a
reference reads is never overwritten (each case checked against a plain-PyTorch forward)."""

from __future__ import annotations

import pytest
import torch
from helpers import build, error_of, net
from test_fuse import build_pair

import archdsl
from archdsl.drawing.render import drawing
from archdsl.frontend.formatter import format_text


def load(source: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return archdsl.load("r.arch", source=source).eval()


def test_a_statement_starting_with_a_reference_reads_that_tensor():
    source = net("d: conv3-4; relu; conv3-4; @d; conv1-2", "3x6x6")
    emitted = archdsl.compile_source("r.arch", source=source).source
    assert "x = self.d(x)  # (B, 4, 6, 6)\n        d = x\n" in emitted
    assert "x = d  # (B, 4, 6, 6)\n        x = self.conv2(x)" in emitted
    model = load(source)
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        assert torch.equal(model(x), model.conv2(model.d(x)))


def test_a_concat_branch_can_start_with_a_reference():
    source = net("d: conv3-4; maxpool; conv3-4; concat< @d; maxpool | identity >", "3x8x8")
    emitted = archdsl.compile_source("r.arch", source=source).source
    # the branch's variable is named after the reference, and its first statement reads the kept tensor
    assert "skip = self.maxpool(d)  # (B, 4, 4, 4)\n" in emitted and "skip = d" not in emitted
    assert "x = torch.cat([skip, x], 1)  # (B, 8, 4, 4)" in emitted
    model = load(source)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        d = model.d(x)
        h = model.conv1(model.maxpool(d))
        assert torch.equal(model(x), torch.cat([model.maxpool(d), h], 1))


def test_a_branch_that_is_only_a_reference_is_the_kept_tensor():
    source = net("a: conv3-4; b: conv3-4; concat< @a | identity | @b >", "3x5x5")
    assert "x = torch.cat([a, x, b], 1)  # (B, 12, 5, 5)" in archdsl.compile_source("r.arch", source=source).source


def test_references_inside_blocks_name_the_blocks_own_tensors():
    source = "block dense(c) { a: conv3-c; relu; b: conv3-c; concat< @a | identity > }\n" + \
        net("a: conv3-4; dense(4) x2; concat< @a | identity >", "3x6x6")
    model = load(source)
    x = torch.randn(1, 3, 6, 6)

    def dense(block, t):
        a = block.a(t)
        return torch.cat([a, block.b(torch.relu(a))], 1)

    with torch.no_grad():
        a = model.a(x)
        h = dense(model.dense2, dense(model.dense1, a))
        assert torch.equal(model(x), torch.cat([a, h], 1))


def test_inside_x_n_a_reference_names_the_tensor_of_the_same_repetition():
    # Each use of a block repeated x N is an instance of its own: `@a` there is that use's `a`.
    source = "block unit { a: conv3-4; relu; concat< @a | identity >; conv1-4 }\n" + net("unit x3", "4x5x5")
    ir = build(source)
    concats = [layer for layer in ir.layers if layer.op == "concat"]
    reads = [ir.layers[c.inputs[0]] for c in concats]
    assert [layer.scope for layer in reads] == [c.scope for c in concats] == [1, 2, 3]
    assert all(layer.member.label == "a" for layer in reads)


def test_a_reference_in_a_residual_body_and_in_a_gate():
    source = net("a: conv3-4; conv3-4; residual< @a; conv3-4 >; gate< @a; sigmoid >", "3x5x5")
    model = load(source)
    x = torch.randn(1, 3, 5, 5)
    with torch.no_grad():
        a = model.a(x)
        h = model.conv1(a)
        h = model.conv2(a) + h
        assert torch.equal(model(x), h * torch.sigmoid(a))


def test_a_relu_after_a_referenced_conv_is_not_in_place():
    # In place, the ReLU would overwrite d's output, which the concat reads afterwards.
    source = net("d: conv3-4; relu; conv3-4; concat< @d | identity >", "3x6x6")
    relu = next(layer for layer in build(source).layers if layer.op == "relu")
    assert relu.attrs["inplace"] is False
    model = load(source)
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        d = torch.nn.functional.conv2d(x, model.d.weight, model.d.bias, padding=1)
        h = torch.nn.functional.conv2d(torch.relu(d), model.conv1.weight, model.conv1.bias, padding=1)
        assert torch.equal(model(x), torch.cat([d, h], 1))


def test_a_residual_whose_body_output_is_referenced_adds_into_a_new_tensor():
    # `x += identity` would change b's tensor, which the concat reads afterwards.
    source = net("residual< conv3-4; b: bn >; relu; concat< @b | identity >", "4x5x5")
    emitted = archdsl.compile_source("r.arch", source=source).source
    assert "x = x + identity" in emitted and "x += identity" not in emitted
    model = load(source)
    for p in model.b.parameters():
        torch.nn.init.uniform_(p, -1, 1)
    x = torch.randn(2, 4, 5, 5)
    with torch.no_grad():
        b = model.b(model.conv1(x))
        assert torch.equal(model(x), torch.cat([b, torch.relu(b + x)], 1))


def test_a_residual_whose_input_is_referenced_later_keeps_it():
    source = net("a: conv3-4; residual< conv3-4; bn >; relu; concat< @a | identity >", "3x5x5")
    assert "x += identity" in archdsl.compile_source("r.arch", source=source).source  # the body's own tensor
    model = load(source)
    x = torch.randn(2, 3, 5, 5)
    with torch.no_grad():
        a = model.a(x)
        h = torch.relu(model.bn1(model.conv1(a)) + a)
        assert torch.equal(model(x), torch.cat([a, h], 1))


def test_fuse_leaves_a_referenced_conv_unfolded_and_keeps_the_outputs():
    source = net("a: conv3-4(bias=false); bn; relu; conv3-4(bias=false); bn; concat< @a | identity >", "3x6x6")
    model, fused, compiled, x = build_pair("r.arch", source=source)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules()) == 1  # a's norm stays
    with torch.no_grad():
        expected = model(x)
        assert torch.allclose(fused(x), expected, atol=1e-5, rtol=0)
        assert torch.allclose(compiled(x), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize(("body", "code", "words"), [
    ("@a; a: conv3-4", "forward-reference", "'@a' refers to a statement that comes later"),
    ("conv3-4; @b", "unknown-reference", "no statement labelled 'b' before this reference in network 't'"),
    ("a: (b: conv3-4; relu); @b", "unreadable-reference", "inside the labelled ( ) group"),
    ("g: (conv3-4; @g)", "misplaced-reference", "a reference cannot stand in a labelled ( ) group"),
    ("a: conv3-4; relu; @a if false", "misplaced-if", "a reference cannot be switched off"),
    ("a: conv3-4; conv3-4/2; concat< @a | identity >", "inception-mismatch", "differ in spatial size"),
])
def test_bad_references_are_diagnostics(body, code, words):
    err = error_of(net(body, "3x8x8"))
    assert err.diagnostics[0].code == code, str(err)
    assert words in str(err)


def test_a_forward_reference_points_at_the_label():
    err = error_of(net("conv3-4; @later; later: conv3-4", "3x8x8"))
    assert err.diagnostics[0].notes[0].span.line == 3 and "'later' is defined here" in str(err)


def test_a_block_cannot_see_the_networks_labels():
    err = error_of("block b { @a }\n" + net("a: conv3-4; b", "3x8x8"))
    assert err.diagnostics[0].code == "unknown-reference" and "in block 'b'" in str(err)


def test_references_are_drawn_as_edges_and_formatted_tight():
    d = drawing(build(net("d: conv3-4; relu; conv3-4; concat< @d | identity >", "3x6x6")))
    conv = next(layer for layer in d.ir.layers if layer.op == "conv")
    cat = next(layer for layer in d.ir.layers if layer.op == "concat")
    assert f"T{conv.id} -> L{cat.id}" in d.graph.source
    messy = "network n{input 3x8x8;d:conv3-4;concat< @ d|identity>}\n"
    assert format_text(messy) == "network n { input 3x8x8; d: conv3-4; concat<@d | identity> }\n"


def test_at_input_reads_the_input_of_the_block_and_of_the_network():
    source = "block b(c) { conv3-c; relu; concat< @input | identity >; up: upsample(size=@input) }\n" + \
        net("down: conv3-4/2; b(4); concat< @input; maxpool | identity >; @input; conv1-2", "3x8x8")
    emitted = archdsl.compile_source("r.arch", source=source).source
    assert emitted.count("input_ = x\n") == 2  # once in B.forward, once in the network's
    assert "x = self.up(x, input_)  # (B, in_channels + c, 4, 4)" in emitted
    assert "x = input_  # (B, 3, 8, 8)" in emitted
    model = load(source)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(x), model.conv1(x))
        h = model.down(x)
        assert torch.equal(model.b1(h), torch.cat([h, torch.relu(model.b1.conv1(h))], 1))
    ir = build(source)
    b = next(layer for layer in ir.layers if layer.op == "upsample")
    assert ir.layers[b.inputs[1]].op == "conv"  # the block's input: the network's conv3-4/2


def test_input_is_no_label():
    err = error_of(net("input: conv3-4", "3x8x8"))
    assert err.diagnostics[0].code == "reserved-name" and "@input" in str(err)
