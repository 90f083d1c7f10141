"""The layer registry (archdsl/layers/): every entry has every rule, and each rule runs.

A word's sample below is run through every stage (shape, parameters, costs, code generation,
describe, naming); a new word without a sample fails here, so its rules are exercised at once.
"""

from __future__ import annotations

import pytest
from helpers import net

import archdsl
from archdsl.analysis.costs import analyse
from archdsl.layers import OPS, SPECS, lookup, words
from archdsl.layers.registry import MISSING, RULES, Fold, LayerSpec, RegistryError, register

# A network body per layer word (input 3x8x8) that ends in that word.
SAMPLES = {
    "conv": "conv3-4", "fc": "flatten; fc-5", "maxpool": "maxpool", "avgpool": "avgpool3/1", "gap": "gap",
    "relu": "conv3-4; relu", "tanh": "tanh", "sigmoid": "sigmoid", "softmax": "softmax", "dropout": "dropout",
    "lrn": "lrn", "bn": "bn", "flatten": "flatten", "hardswish": "conv3-4; hardswish",
    "relu6": "conv3-4; relu6", "hardsigmoid": "hardsigmoid",
    "silu": "conv3-4; silu", "gelu": "gelu(approximate=tanh)",
    "leaky_relu": "leaky_relu-0.2", "elu": "elu(alpha=0.5)", "mish": "mish", "identity": "conv3-4; identity",
    "prelu": "conv3-4; prelu", "ln": "conv3-4; ln", "gn": "conv3-4; gn-2", "permute": "permute(0, 2, 3, 1)",
    "shuffle": "conv3-4; shuffle-2", "upconv": "upconv2-4/2", "crop": "a: conv3-4; maxpool; b: conv1-4; @a; crop(@b)",
    "scale": "scale(init=0.5)", "transform_input": "transform_input", "upsample": "upsample(scale=2)",
}


def test_every_registered_op_has_every_rule():
    for spec in OPS.values():
        for name in RULES:
            value = getattr(spec, name)
            assert value is not MISSING, f"{spec.op}: no {name}"
        for name in ("shape", "params", "cost", "describe", "naming"):
            assert callable(getattr(spec, name)), f"{spec.op}: {name} is not a rule"
        assert callable(spec.emit) or (spec.internal and spec.emit is None), f"{spec.op}: no emitter"
        assert isinstance(spec.stateless, bool) and isinstance(spec.fresh_output, bool)
        assert isinstance(spec.counts_in_depth, bool) and isinstance(spec.fold, Fold)
        assert isinstance(spec.inplace_after, frozenset) and spec.inplace_after <= set(OPS)


def test_registration_refuses_an_entry_without_a_rule():
    relu = OPS["relu"]
    for rule in ("shape", "params", "cost", "emit", "stateless", "inplace_after", "fold"):
        lacking = relu._replace(word="newword", op="newword", **{rule: MISSING})
        with pytest.raises(RegistryError, match=f"'newword' has no {rule} rule"):
            register(lacking)
    with pytest.raises(RegistryError, match="no emitter"):
        register(relu._replace(word="newword", op="newword", emit=None))
    with pytest.raises(RegistryError, match="registered twice"):
        register(relu._replace(op="relu_again"))
    assert "newword" not in OPS and "relu_again" not in OPS


def test_a_word_may_name_only_options_it_has():
    with pytest.raises(RegistryError, match="names options it lacks"):
        register(LayerSpec("newword", "newword", "nn.X", "x", dashes=("width",), **{
            name: getattr(OPS["relu"], name) for name in RULES}))


def test_the_kernel_in_a_word_is_read_for_the_words_that_say_so():
    with_kernel = {spec.word for spec in words() if spec.kernel_in_word}
    assert with_kernel == {"conv", "maxpool", "avgpool", "upconv"}
    for spec in words():
        found = lookup(f"{spec.word}3x1")
        assert (found is not None and found[1] == (3, 1)) == (spec.word in with_kernel)
    assert lookup("conv1234567890") is None  # no kernel of ten digits


def test_every_word_has_a_sample():
    assert set(SAMPLES) == {spec.word for spec in words()}
    assert SPECS["linear"] is SPECS["fc"]


@pytest.mark.parametrize("word", SAMPLES)
def test_every_rule_of_a_word_runs(word):
    spec = SPECS[word]
    source = net(SAMPLES[word], "3x8x8")
    ir = archdsl.build("t.arch", source=source)
    layer = ir.layers[ir.layers[ir.output].inputs[0]]
    assert layer.op == spec.op and layer.out_shape is not None
    assert layer.describe().startswith(spec.word)
    assert layer.word == spec.naming(layer.attrs)
    if spec.stateless:
        assert layer.params == layer.buffers == 0, f"{word} is stateless but counts parameters"
    row = next(r for r in analyse(ir).rows if r.layer is layer)
    assert row.macs >= 0 and row.ops >= 0
    emitted = archdsl.compile_source("t.arch", source=source).source
    assert spec.torch.split(" / ")[0] + "(" in emitted
