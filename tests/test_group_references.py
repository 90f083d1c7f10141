"""`@backbone.layer3`: a member of a labelled group read by its state_dict path (the group then runs member
by member, its keys unchanged), and blocks with tensor parameters (`block head(@low, n)`, used as
`head(@backbone.4, 21)`, whose forward is `forward(self, x, low)`). Outputs are checked against plain
PyTorch forwards, in-place ReLUs included, and every bad use is a diagnostic."""

from __future__ import annotations

import pytest
import torch
from helpers import build, error_of, net

import archdsl

GROUP = "backbone: (conv3-4; relu; layer1: (conv3-6; relu); conv3-8/2; bn; relu; l3: conv3-8 x2)"


def emitted(source: str) -> str:
    return archdsl.compile_source("g.arch", source=source).source


def load(source: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = archdsl.load("g.arch", source=source)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # eval mode with statistics that change the output
            torch.nn.init.uniform_(m.running_mean, -1, 1)
            torch.nn.init.uniform_(m.running_var, 0.5, 2)
    return model.eval()


def test_a_reference_to_a_group_member_runs_the_group_member_by_member():
    source = net(f"{GROUP}; @backbone.layer1; conv1-2", "3x8x8")
    code = emitted(source)
    assert ("x = self.backbone[1](x)  # (B, 4, 8, 8)\n        x = self.backbone.layer1(x)  # (B, 6, 8, 8)\n"
            "        backbone_layer1 = x\n        x = self.backbone[3](x)") in code
    assert "x = backbone_layer1  # (B, 6, 8, 8)\n        x = self.conv1(x)" in code
    model = load(source)
    plain = load(net(f"{GROUP}; conv1-2", "3x8x8"))
    assert list(model.state_dict()) == list(plain.state_dict())  # the keys do not change
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        b = model.backbone
        assert torch.equal(model(x), model.conv1(b.layer1(b[1](b[0](x)))))


def test_a_numbered_member_and_a_nested_path():
    source = net(f"{GROUP}; a: conv1-8; @backbone.l3.0; concat< @backbone.5 | identity | @a >", "3x8x8")
    code = emitted(source)
    assert "x = self.backbone.l3[0](x)  # (B, 8, 4, 4)\n        backbone_l3_0 = x\n" in code
    assert "x = torch.cat([backbone_5, x, a], 1)  # (B, 24, 4, 4)" in code
    model = load(source)
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        b = model.backbone
        five = b[5](b[4](b[3](b.layer1(b[1](b[0](x))))))
        l30 = b.l3[0](five)
        a = model.a(b.l3[1](l30))
        assert torch.equal(model(x), torch.cat([five, l30, a], 1))


def test_a_relu_after_a_referenced_group_member_is_not_in_place():
    # backbone.4 is a batch norm; in place, the ReLU after it would overwrite the tensor the concat reads.
    source = net(f"{GROUP}; concat< @backbone.4 | identity >", "3x8x8")
    relus = [layer for layer in build(source).layers if layer.op == "relu"]
    assert [layer.attrs["inplace"] for layer in relus] == [True, True, False]
    model = load(source)
    x = torch.randn(2, 3, 8, 8)
    b = model.backbone
    with torch.no_grad():
        h = b[3](b.layer1(torch.relu(b[0](x))))
        bn = torch.nn.functional.batch_norm(h, b[4].running_mean, b[4].running_var, b[4].weight, b[4].bias,
                                            eps=b[4].eps)
        out = b.l3[1](b.l3[0](torch.relu(bn)))
        assert torch.allclose(model(x), torch.cat([bn, out], 1), atol=1e-6, rtol=0)


def test_a_referenced_block_use_in_a_group_keeps_its_output():
    # The next block's ReLU reads the referenced output first: in place, it would zero its negatives.
    source = "block r(c) { relu; conv3-c; bn }\n" + net("g: (conv3-4; bn; r(4); r(4)); concat< @g.2 | identity >",
                                                       "3x6x6")
    model = load(source)
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        g = model.g
        first = g[2].bn1(g[2].conv1(torch.relu(g[1](g[0](x)))))
        second = g[3].bn1(g[3].conv1(torch.relu(first)))
        assert torch.equal(model(x), torch.cat([first, second], 1))


def test_a_block_with_a_tensor_parameter():
    source = ("block head(@low, n, inter = 8) { conv1-inter; relu; concat< @low | identity >; conv1-n }\n"
              + net(f"{GROUP}; classifier: head(@backbone.4, num_classes)", "3x8x8", "num_classes = 5"))
    code = emitted(source)
    assert "def __init__(self, in_channels: int, n: int, inter: int = 8) -> None:" in code
    assert "def forward(self, x: Tensor, low: Tensor) -> Tensor:" in code
    assert "self.conv2 = nn.Conv2d(8 + inter, n, kernel_size=1)" in code
    assert "self.classifier = Head(8, num_classes)" in code
    assert "x = self.classifier(x, backbone_4)  # (B, num_classes, 4, 4)" in code
    model = load(source)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        b, c = model.backbone, model.classifier
        low = b[4](b[3](b.layer1(b[1](b[0](x)))))
        y = b.l3(b[5](low))
        assert torch.equal(model(x), c.conv2(torch.cat([low, c.relu(c.conv1(y))], 1)))


def test_tensor_arguments_whose_channels_differ_per_use_become_constructor_arguments():
    source = ("block mix(@low) { concat< @low | identity > }\n"
              + net("a: conv3-4; b: conv3-6; mix(@a); conv1-2; mix(@b)", "3x5x5"))
    code = emitted(source)
    assert "def __init__(self, in_channels: int, *, low_channels: int) -> None:" in code
    assert "self.mix1 = Mix(6, low_channels=4)" in code and "self.mix2 = Mix(2, low_channels=6)" in code
    model = load(source)
    x = torch.randn(1, 3, 5, 5)
    with torch.no_grad():
        a = model.a(x)
        b = model.b(a)
        h = model.conv1(torch.cat([a, b], 1))
        assert torch.equal(model(x), torch.cat([b, h], 1))


def test_a_tensor_parameter_as_a_layers_tensor_option_and_in_a_sized_block():
    source = ("block up(@like, c) { upsample(size=@like, mode=bilinear); conv1-c }\n"
              + net("a: conv3-4; maxpool; u: up(@a, 3)", "3x8x8"))
    model = load(source)
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        a = model.a(x)
        h = torch.nn.functional.interpolate(torch.nn.functional.max_pool2d(a, 2), size=(8, 8), mode="bilinear",
                                            align_corners=False)
        assert torch.allclose(model(x), model.u.conv1(h), atol=1e-6, rtol=0)


BLOCK = "block head(@low, n) { concat< @low | identity >; conv1-n }\n"


@pytest.mark.parametrize(("body", "code", "words"), [
    (f"{GROUP}; @backbone.layer2", "unknown-reference",
     "the labelled group 'backbone' has no member 'layer2'"),
    (f"{GROUP}; @backbone.9", "unknown-reference", "its members: 0, 1, layer1, 3, 4, 5, l3"),
    (f"{GROUP}; @backbone.l3.4", "unknown-reference", "the labelled group 'backbone.l3' has no member '4'"),
    (f"{GROUP}; @backbone.0.weight", "unreadable-reference", "'backbone.0' is not a labelled ( ) group"),
    ("a: head(@b, 2); b: conv3-4", "forward-reference", "'@b' refers to a statement that comes later"),
    ("a: conv3-4; head(2, 2)", "tensor-argument", "block 'head' takes a tensor for '@low', not a value"),
    ("a: conv3-4; head(@a, @a)", "tensor-argument", "takes a value for 'n', not the tensor '@a'"),
    ("a: conv3-4; head(n=2)", "missing-argument", "block 'head' needs argument '@low'"),
    ("a: conv3-4; head(@a, 2, 3)", "block-arity", "signature: head(@low, n)"),
    ("a: conv3-4; g: (head(@a, 2))", "misplaced-reference", "takes a tensor argument, so it cannot stand in"),
    ("a: conv3-4; @input.0", "unreadable-reference", "`@input` is a tensor, which has no members"),
])
def test_bad_member_references_and_tensor_arguments_are_diagnostics(body, code, words):
    err = error_of(BLOCK + net(body, "3x8x8"))
    assert err.diagnostics[0].code == code, str(err)
    assert words in str(err)


def test_a_reference_through_a_block_use_says_what_to_do():
    err = error_of("block b { y: conv3-4; relu }\n" + net("g: (b; b); @g.0.y", "3x8x8"))
    assert err.diagnostics[0].code == "unreadable-reference"
    assert "'g.0' is a use of block 'b'" in str(err)


def test_a_tensor_parameter_has_no_members():
    err = error_of("block h(@low) { @low.0 }\n" + net("g: (conv3-4; relu); h(@g)", "3x8x8"))
    assert err.diagnostics[0].code == "unreadable-reference" and "write @low" in str(err)


def test_the_input_as_a_tensor_argument():
    source = BLOCK + net("conv3-4; head(@input, 2)", "3x6x6")
    assert "x = self.head1(x, input_)  # (B, 2, 6, 6)" in emitted(source)
    model = load(source)
    x = torch.randn(1, 3, 6, 6)
    with torch.no_grad():
        assert torch.equal(model(x), model.head1.conv1(torch.cat([x, model.conv1(x)], 1)))


def test_a_tensor_parameter_cannot_be_called_input():
    err = error_of("block h(@input) { @input }\n" + net("h(@input)", "3x6x6"))
    assert err.diagnostics[0].code == "reserved-name"


def test_fuse_folds_a_group_that_runs_member_by_member():
    from test_fuse import build_pair

    source = net("g: (conv3-4(bias=false); bn; relu; conv3-4(bias=false); bn; relu); concat< @g.2 | identity >",
                 "3x6x6")
    model, fused, compiled, x = build_pair("g.arch", source=source)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules()) == 0  # g.2 is the ReLU: both fold
    with torch.no_grad():
        expected = model(x)
        assert torch.allclose(fused(x), expected, atol=1e-5, rtol=0)
        assert torch.allclose(compiled(x), expected, atol=1e-5, rtol=0)
