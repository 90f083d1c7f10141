"""A layer word as a block argument (`act = relu6`): expansion, errors, the emitted constructor, in-place choices."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from helpers import build, error_of
from torch import nn

import archdsl
from archdsl.frontend.formatter import format_text

LIBRARY = """
sequential block cna(c, k = 1, s = 1, act = relu) {
    conv-c(kernel=k, stride=s, bias=false); bn; act
}

block se(c, s, act = relu, scale = sigmoid) {
    gate<avgpool: gap; fc1: conv1-s; activation: act; fc2: conv1-c; scale_activation: scale>
}

block unit(c, act = relu) { cna(c, 3, act=act); se(c, 8, act, hardsigmoid); cna(c) }
"""

NET = LIBRARY + """
network t {
    input 3x32x32;
    stem: cna(16, 3, 2, act=hardswish);
    a: unit(16, swish);
    b: unit(24);
    gap; flatten; fc-10
}
"""


def _classes(model: nn.Module, path: str) -> list[str]:
    return [type(m).__name__ for m in model.get_submodule(path).modules()][1:]


def test_each_use_gets_the_word_it_passes_and_the_default_otherwise():
    model = archdsl.load(source=NET)
    assert _classes(model, "stem") == ["Conv2d", "BatchNorm2d", "Hardswish"]
    assert _classes(model, "a.cna1") == ["Conv2d", "BatchNorm2d", "SiLU"]  # `swish` is silu's alias
    assert _classes(model, "a.cna2") == ["Conv2d", "BatchNorm2d", "ReLU"]  # the default
    assert type(model.a.se1.activation) is nn.SiLU and type(model.b.se1.activation) is nn.ReLU
    assert type(model.a.se1.scale_activation) is nn.Hardsigmoid
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_the_drawing_and_the_check_name_the_word_used():
    ir = build(NET)
    words = {str(layer.path): layer.word for layer in ir.layers if layer.argument}
    assert words["stem.2"] == "hardswish" and words["a.se1.activation"] == "silu" and words["b.cna1.2"] == "relu"


def test_the_constructor_takes_the_layer_class_as_torchvision_does():
    source = archdsl.compile_source(source=NET).source
    assert "from collections.abc import Callable\n" in source
    # past 120 columns: wrapped as black would (archdsl/pytorch/layout.py), on one line where that fits
    assert "        act: Callable[..., nn.Module] = nn.ReLU,\n" in source
    assert "    def __init__(\n        self, in_channels: int, c: int, k: int = 1, s: int = 1, act: Callable[..., " \
        "nn.Module] = nn.ReLU\n    ) -> None:" in source
    assert ("    def __init__(self, in_channels: int, c: int, s: int, act: Callable[..., nn.Module] = nn.ReLU, "
            "scale: Callable[..., nn.Module] = nn.Sigmoid) -> None:") not in source
    assert "            act(inplace=True),\n" in source
    assert "self.scale_activation = scale()" in source  # a sigmoid is never in place
    assert "self.stem = Cna(3, 16, 3, 2, act=nn.Hardswish)" in source
    assert "self.a = Unit(16, 16, nn.SiLU)" in source
    assert "self.se1 = Se(c, c, 8, act, nn.Hardsigmoid)" in source  # a parameter passed on is passed by name


def test_the_emitted_module_passes_ruff(tmp_path):
    (tmp_path / "t.py").write_text(archdsl.compile_source(source=NET).source)
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", str(tmp_path)],
                            check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_outputs_equal_the_same_network_written_with_each_word():
    plain = LIBRARY.replace("act = relu", "act").replace("scale = sigmoid", "scale") + """
network t {
    input 3x32x32;
    stem: (conv3-16/2(bias=false); bn; hardswish);
    gap; flatten; fc-10
}
"""
    words = LIBRARY + "network t { input 3x32x32; stem: cna(16, 3, 2, act=hardswish); gap; flatten; fc-10 }"
    a, b = archdsl.load(source=words).eval(), archdsl.load(source=plain).eval()
    assert set(a.state_dict()) == set(b.state_dict()) == {f"stem.{k}" for k in (
        "0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked")} | \
        {"fc1.weight", "fc1.bias"}
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(a(x), b(x))


def test_in_place_only_where_every_use_may_overwrite():
    safe = """
block b(act = relu) { act; conv1-8 }
network t { input 8x8x8; conv3-8; b(); b(silu); gap; flatten; fc-2 }
"""
    ir = build(safe)  # each use reads a conv's output that nothing else reads
    assert [layer.attrs["inplace"] for layer in ir.layers if layer.argument] == [True, True]
    assert "self.act = act(inplace=True)" in archdsl.compile_source(source=safe).source
    # The residual adds the conv's output too, so the first use must not overwrite it; one class line serves
    # both uses, so neither is in place (and the costs count no alias for either).
    unsafe = safe.replace("b(); b(silu)", "residual< b() >; b(silu)")
    ir = build(unsafe)
    assert [layer.attrs["inplace"] for layer in ir.layers if layer.argument] == [False, False]
    assert "self.act = act()" in archdsl.compile_source(source=unsafe).source
    # A word torch cannot run in place (sigmoid) in one use: no use is written in place.
    mixed = safe.replace("b(silu)", "b(sigmoid)")
    assert "self.act = act()" in archdsl.compile_source(source=mixed).source


def test_a_parameter_shadows_a_word_only_while_it_holds_one():
    ir = build("block b(c, relu = silu) { conv3-c; relu }\nnetwork t { input 3x8x8; b(8) }")
    assert [layer.word for layer in ir.layers if layer.argument] == ["silu"]
    # a number parameter called like a word leaves the word alone: `dropout(p=dropout)`
    ir = build("network t(dropout = 0.5) { input 3x8x8; conv3-8; dropout(p=dropout) }")
    assert [layer.attrs["p"] for layer in ir.layers if layer.op == "dropout"] == [0.5]


@pytest.mark.parametrize(("source", "code", "where", "says"), [
    ("block b(c, act = relu) { conv3-c; act }\nnetwork t { input 3x8x8; b(relu) }",
     "word-as-value", (1, 32), "'conv3': channels is a value, got the layer word 'relu'"),
    ("block b(c, act = relu) { conv3-(c + act) }\nnetwork t { input 3x8x8; b(8) }",
     "word-as-value", (1, 37), "expected a number, got the layer word 'relu'"),
    ("block b(c, act = relu) { conv3-c; act x act }\nnetwork t { input 3x8x8; b(8) }",
     "bad-repeat", (1, 41), "got relu"),
    ("block b(c, act = relu) { conv3-c; act }\nnetwork t { input 3x8x8; b(8, 3) }",
     "value-as-word", (1, 35), "'act' is a parameter holding 3 here, not a layer word"),
    ("block b(c, act = relu) { conv3-c; act(inplace=true) }\nnetwork t { input 3x8x8; b(8) }",
     "word-argument-options", (1, 35), "takes no '-', '/' or options here"),
    ("block b(c, act = relu) { conv3-c; act }\nnetwork t { input 3x8x8; default gelu(approximate=tanh); b(8, gelu) }",
     "word-argument-options", (1, 35), "a `default` gives it approximate=tanh: a word argument keeps its own defaults"),
    ("block b(c, act = relu) { conv3-c; act }\nnetwork t { input 3x8x8; b(8, bn) }",
     "not-a-word-argument", (2, 31), "'bn' cannot be a block argument"),
    ("block b(c, act = relu) { conv3-c; act }\nnetwork t { input 3x8x8; b(8, conv3) }",
     "not-a-word-argument", (2, 31), "'conv3' cannot be a block argument"),
    ("block b(c, act = softmax) { conv3-c; act }\nnetwork t { input 3x8x8; b(8) }",
     "not-a-word-argument", (1, 18), "'softmax' cannot be a block argument"),
    ("network t(act = relu) { input 3x8x8; conv3-8 }",
     "not-a-word-argument", (1, 17), "network parameter 'act' cannot hold the layer word 'relu'"),
    ("block b(c, act = relu) { conv3-c; act }\nnetwork t { input 3x8x8; b(8, rleu) }",
     "undefined-name", (2, 31), "undefined name 'rleu'"),
])
def test_a_word_where_a_number_is_expected_and_the_reverse(source, code, where, says):
    (d,) = error_of(source).diagnostics
    assert (d.code, (d.span.line, d.span.column)) == (code, where)
    assert says in d.message
    if code == "undefined-name":
        assert d.hint == "did you mean 'relu'?"


def test_the_formatter_keeps_word_arguments():
    text = ("block b(c, act = relu6) {\n    conv3-c;\n    act\n}\n\n"
            "network t {\n    input 3x8x8;\n    b(8, act=silu)\n}\n")
    assert format_text(text) == text


def test_archdsl_words_says_which_words_a_block_can_take(capsys):
    from archdsl.cli.main import main

    assert main(["words", "relu6", "bn"]) == 0
    relu6, bn = capsys.readouterr().out.split("\n\n")
    assert "a block argument: `block b(c, act = relu6) { ...; act }`" in relu6
    assert "block argument" not in bn


def test_one_network_may_use_the_mobile_efficientnet_and_regnet_blocks_together():
    # Each family's file `use`s blocks/common.arch, read once: no block is defined twice.
    source = """
use "blocks/mobilenet.arch";
use "blocks/mobilenet_v3.arch";
use "blocks/efficientnet.arch";
use "blocks/regnet.arch";

network mixed {
    input 3x64x64;
    stem: conv_norm_act(16, 3, 2, act=hardswish);
    v2: inverted_residual(16);
    v3: bneck_se(24, 3, 64, 16, 2, act=hardswish);
    b0: mbconv(24, 3, 1, 0.0);
    y: first_se(32, 8, 8);
    gap; flatten; fc-10
}
"""
    model = archdsl.load(source=source)
    assert type(model.stem[2]) is nn.Hardswish and type(model.v2.conv[0][2]) is nn.ReLU6
    assert type(model.v3.block[0][2]) is nn.Hardswish and type(model.v3.block[2].scale_activation) is nn.Hardsigmoid
    assert type(model.b0.block[1][2]) is nn.SiLU and type(model.b0.block[2].activation) is nn.SiLU
    assert type(model.y.f.se.activation) is nn.ReLU and type(model.y.f.se.scale_activation) is nn.Sigmoid
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)


def test_costs_init_and_fuse_see_the_word_each_use_passes():
    from archdsl.analysis.costs import analyse

    words = LIBRARY + """
network t {
    input 3x32x32;
    init conv(normal, std=0.5);
    stem: cna(16, 3, 2, act=hardswish);
    a: unit(16, swish);
    gap; flatten; fc-10
}
"""
    plain = """
block se_silu(c, s) {
    gate<avgpool: gap; fc1: conv1-s; activation: silu; fc2: conv1-c; scale_activation: hardsigmoid>
}

network t {
    input 3x32x32;
    init conv(normal, std=0.5);
    stem: (conv3-16/2(bias=false); bn; hardswish);
    a: (
        cna1: (conv3-16(bias=false); bn; silu);
        se1: se_silu(16, 8);
        cna2: (conv1-16(bias=false); bn; relu)
    );
    gap; flatten; fc-10
}
"""
    ours, theirs = analyse(build(words)), analyse(build(plain))
    assert (ours.params, ours.macs, ours.ops, ours.activation_bytes) == \
        (theirs.params, theirs.macs, theirs.ops, theirs.activation_bytes)
    torch.manual_seed(0)
    model = archdsl.load(source=words).eval()
    assert model.stem[0].weight.std().item() == pytest.approx(0.5, rel=0.1)  # `init conv` reaches inside the block
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert (archdsl.fuse(model)(x) - model(x)).abs().max().item() < 1e-4
