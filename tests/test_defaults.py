"""`default WORD(option=value);`: where a body's defaults reach, what wins, how they are emitted, and
every mistake with its position and code."""

from __future__ import annotations

import pytest
from helpers import error_of, net
from torch import nn

import archdsl
from archdsl.frontend.formatter import format_text

# A block shared by two networks that need different batch-norm settings (MobileNetV2 and V3).
BLOCKS = """\
block inverted(c) {
    conv1-(c * 4)(bias=false); bn; relu6;
    conv3-(c * 4)(groups=c * 4, bias=false); bn; relu6;
    conv1-(c)(bias=false); bn
}
block own(c, m = 0.3) {
    default bn(momentum=m);
    conv3-(c)(bias=false); bn; relu;
    inverted(c)
}
"""
NETWORK = BLOCKS + """\
network V3(drop = 0.2, e = 0.0005) {
    input 3x16x16;
    default bn(eps=e * 2, momentum=0.01);
    default dropout(p=drop);
    stem: conv3-8(bias=false); bn; relu;
    inverted(8);
    own(8);
    last: conv1-8(bias=false); bn(eps=0.1);
    gap; flatten; dropout; fc-10
}
"""


def _norms(module: nn.Module) -> dict[str, tuple[float, float | None]]:
    return {name: (m.eps, m.momentum) for name, m in module.named_modules() if isinstance(m, nn.BatchNorm2d)}


def test_network_defaults_reach_its_blocks_and_lose_to_block_defaults_and_to_the_call():
    norms = _norms(archdsl.load(source=NETWORK))
    assert norms.pop("bn2") == (0.1, 0.01)  # eps written at the call wins; momentum still the default
    assert norms.pop("own1.bn1") == (0.001, 0.3)  # the block's own default overrides the network's momentum
    assert norms, "the other batch norms"
    for name, values in norms.items():  # the network body, inverted() in it, and inverted() inside own()
        assert values == (0.001, 0.01), name


def test_the_network_class_keeps_its_parameters_and_block_classes_hold_literals():
    source = archdsl.compile_source("v3.arch", source=NETWORK).source
    network = source[source.index("class V3("):]
    assert "nn.BatchNorm2d(8, eps=e * 2, momentum=0.01)" in network
    assert "nn.Dropout(p=drop)" in network
    inverted = source[source.index("class Inverted("):source.index("class Own(")]
    assert "eps=0.001, momentum=0.01" in inverted and " e " not in inverted
    own = source[source.index("class Own("):source.index("class V3(")]
    assert "nn.BatchNorm2d(c, eps=0.001, momentum=m)" in own  # a block default renders in the block's names
    model = archdsl.load(source=NETWORK, drop=0.5, e=0.01)
    assert _norms(model)["bn1"] == (0.02, 0.01) and model.dropout.p == 0.5
    assert _norms(model)["inverted1.bn1"] == (0.02, 0.01)  # the literal follows the parameter's value


def test_defaults_reach_blocks_of_used_files_and_aliases_name_one_word(tmp_path):
    (tmp_path / "blocks.arch").write_text(BLOCKS)
    main = tmp_path / "main.arch"
    main.write_text('use "blocks.arch";\n'
                    + net("    default bn(eps=0.002);\n    default linear(bias=false);\n"
                          "    inverted(3); gap; flatten; fc-4", input="3x8x8"))
    model = archdsl.load(main)
    assert {eps for eps, _ in _norms(model).values()} == {0.002}
    assert model.fc1.bias is None


def test_without_defaults_the_emitted_code_is_unchanged():
    plain = net("    conv3-8(bias=false); bn; relu")
    given = net("    default bn(eps=0.00001);\n    conv3-8(bias=false); bn; relu")
    assert archdsl.compile_source("t.arch", source=given).source == archdsl.compile_source("t.arch",
                                                                                             source=plain).source


def test_a_default_applies_to_options_the_call_leaves_out_even_positional_ones():
    source = net("    default conv(stride=2, bias=false);\n    conv3-8; conv3-8/1; conv(8, 3, 1)")
    layers = [layer for layer in archdsl.build("t.arch", source=source).layers if layer.op == "conv"]
    assert [(layer.attrs["stride"], layer.attrs["bias"]) for layer in layers] == [((2, 2), False), ((1, 1), False),
                                                                                   ((1, 1), False)]


def test_defaults_round_trip_through_the_formatter():
    messy = "block b(c) {default  bn( eps = 0.001 ,momentum=c );default conv(bias=false) ; conv3-(c); bn }\n"
    assert format_text(messy) == ("block b(c) { default bn(eps=0.001, momentum=c); default conv(bias=false); "
                                  "conv3-(c); bn }\n")
    assert format_text(format_text(NETWORK)) == format_text(NETWORK)


ERRORS = {
    "after a statement": (net("    relu;\n    default bn(eps=0.1)"), 4, 5, "misplaced-default",
                          "`default` after a statement"),
    "inside a group": (net("    (default bn(eps=0.1); relu)"), 3, 6, "misplaced-default", "`default` inside ( )"),
    "inside a residual": (net("    residual<default bn(eps=0.1); relu>"), 3, 14, "misplaced-default",
                          "`default` inside residual<...>"),
    "inside a branch": (net("    inception<relu | default bn(eps=0.1); relu>"), 3, 22, "misplaced-default",
                        "`default` inside inception<...>"),
    "before the input": ("network t {\n    default bn(eps=0.1);\n    input 3x8x8;\n}\n", 2, 5, "misplaced-default",
                         "unexpected 'default'"),
    "without options": (net("    default bn;\n    relu"), 3, 15, "bad-default", "unexpected ';'"),
    "positional option": (net("    default bn(0.1)"), 3, 16, "bad-default",
                          "a default option must be named: `default bn(name=value)`"),
    "unknown option": (net("    default bn(esp=0.1)"), 3, 16, "unknown-option", "'bn' has no option 'esp'"),
    "unknown word": (net("    default batchnorm(eps=0.1)"), 3, 13, "unknown-word", "unknown layer word 'batchnorm'"),
    "a block": (BLOCKS + net("    default own(c=1);\n    own(4)"), 13, 13, "bad-default",
                "'own' is a block: `default` gives options of layer words"),
    "a kernel in the word": (net("    default conv3(bias=false)"), 3, 13, "bad-default",
                             "a default applies to every 'conv', whatever its kernel"),
    "the same word twice": (net("    default fc(bias=false);\n    default linear(bias=true)"), 4, 5,
                            "duplicate-default", "a second `default` for 'fc' in this body"),
    "the same option twice": (net("    default bn(eps=0.1, eps=0.2)"), 3, 25, "duplicate-option",
                              "'bn': option 'eps' given twice"),
    "a bad network default": (net("    default dropout(p=2);\n    relu"), 3, 21, "bad-option-value",
                              "'dropout': p must be a number in [0, 1], got 2"),
    "a bad block default": ("block b(c) {\n    default bn(eps=c - 2);\n    bn; relu; bn\n}\n" + net("    b(1); b(1)"),
                            2, 16, "bad-option-value", "'bn': eps must be a non-negative number, got -1"),
    "an undefined name": (net("    default bn(eps=epsilon)"), 3, 20, "undefined-name", "undefined name 'epsilon'"),
}


@pytest.mark.parametrize("case", ERRORS.values(), ids=ERRORS.keys())
def test_mistakes_are_diagnostics_with_position_and_code(case):
    source, line, column, code, message = case
    error = error_of(source)
    d = error.first
    assert (d.span.file, d.span.line, d.span.column, d.code) == ("test.arch", line, column, code), d
    assert d.message.startswith(message) or message in (d.hint or ""), (d.message, d.hint)
    assert "Traceback" not in error.render()


def test_a_bad_block_default_is_reported_once():
    source = "block b(c) {\n    default bn(eps=c - 2);\n    bn; relu; bn\n}\n" + net("    b(1); b(1)")
    assert len(error_of(source).diagnostics) == 1


def test_a_network_default_may_give_a_choice_or_a_pair_of_parameters():
    # Both crashed with an AssertionError: only `same` and `valid` were expected among the words.
    gelu = archdsl.load(source="network t { input 3x8x8; default gelu(approximate=tanh); conv3-8; gelu }")
    assert [m.approximate for m in gelu.modules() if isinstance(m, nn.GELU)] == ["tanh"]
    padded = archdsl.load(source="network t(p = 2) { input 3x8x8; default conv(padding=(p, p)); conv3-8 }")
    assert [m.padding for m in padded.modules() if isinstance(m, nn.Conv2d)] == [(2, 2)]
