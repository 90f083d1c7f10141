"""The naming forms that reproduce torchvision's keys: `concat<>`, quoted labels, numbered labels,
concat(flat) branches and sequential blocks, through every stage (parse, IR, code, forward, fmt, drawing)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from helpers import error_of, net

import archdsl
from archdsl.frontend.formatter import format_text
from archdsl.frontend.parser import parse


def _load(source: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return archdsl.load(source=source).eval()


def _keys(source: str) -> list[str]:
    with torch.device("meta"):
        return list(archdsl.load(source=source).state_dict())


# -- concat<> -----------------------------------------------------------------------------------
def test_concat_is_inception_under_its_own_name():
    body = "    conv3-8; {word}< conv1-4 | (conv1-2; conv3-6) >; gap; flatten; fc-3"
    concat = archdsl.compile_source(source=net(body.format(word="concat"))).source
    inception = archdsl.compile_source(source=net(body.format(word="inception"))).source
    assert concat == inception
    assert "torch.cat([self.branch1(x), self.branch2(x)], 1)" in concat


@pytest.mark.parametrize("identity", ["identity", "()"])
def test_an_identity_branch_is_the_input_itself(identity):
    source = net(f"    c1: conv3-8; concat< {identity} | c2: conv3-4 >")
    code = archdsl.compile_source(source=source).source
    assert "x = torch.cat([x, self.c2(x)], 1)" in code
    assert "Identity" not in code and "branch1" not in code
    model = _load(source)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        y = model(x)
        first = model.c1(x)
    assert y.shape == (2, 12, 32, 32)
    assert torch.equal(y, torch.cat([first, model.c2(first)], 1))


def test_a_labelled_identity_keeps_its_member():
    code = archdsl.compile_source(source=net("    conv3-8; concat< skip: identity | conv3-4 >")).source
    assert "self.skip = nn.Identity()" in code


def test_concat_refuses_other_options():
    assert error_of(net("    concat(wide)< relu | relu >")).first.code == "bad-concat-option"


# -- quoted labels ----------------------------------------------------------------------------------
def test_quoted_labels_become_module_names_with_add_module_and_getattr():
    source = net('    "block1-0": conv3-8; "block1-1": (conv3-8; relu); "stem out": conv1-4')
    code = archdsl.compile_source(source=source).source
    assert 'self.add_module("block1-0", nn.Conv2d(3, 8, kernel_size=3, padding=1))' in code
    assert 'x = getattr(self, "block1-0")(x)' in code
    model = _load(source)
    assert list(model.state_dict()) == ["block1-0.weight", "block1-0.bias", "block1-1.0.weight", "block1-1.0.bias",
                                        "stem out.weight", "stem out.bias"]
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        expected = model.get_submodule("stem out")(model.get_submodule("block1-1")(model.get_submodule("block1-0")(x)))
        assert torch.equal(model(x), expected)


def test_quoted_labels_inside_an_nn_sequential_and_a_conditional_one():
    source = net('    stage: ("a-0": conv3-8; "a-1": conv3-8); "maybe-1": relu if on', params="on = true")
    assert _keys(source)[:2] == ["stage.a-0.weight", "stage.a-0.bias"]
    code = archdsl.compile_source(source=source).source
    assert 'self.add_module("maybe-1", None)' in code
    assert 'if getattr(self, "maybe-1") is not None:' in code
    assert isinstance(archdsl.load(source=source, on=False).get_submodule("stage"), torch.nn.Sequential)


@pytest.mark.parametrize("label", ['"a.b"', '""', '"a\\\\b"'])
def test_quoted_labels_that_pytorch_refuses_are_errors(label):
    err = error_of(net(f"    {label}: conv3-8"))
    assert err.first.code == "bad-module-name"
    assert err.first.span.line == 3


def test_quoted_labels_must_be_unique_and_a_quoted_identifier_is_checked_as_a_label():
    assert error_of(net('    "b-1": conv3-8; "b-1": conv3-8')).first.code == "duplicate-label"
    assert error_of(net('    "b": conv3-8; b: conv3-8')).first.code == "duplicate-label"
    assert error_of(net('    "forward": conv3-8')).first.code == "reserved-name"


def test_a_side_output_needs_an_identifier():
    source = net('    conv3-8; "aux-1": side<gap; flatten; fc-2>; gap; flatten; fc-3')
    assert error_of(source).first.code == "bad-module-name"


# -- members labelled "0", "1", ...: a block class holds them as its items (torchvision's ASPP) ------------------
ASPP_LIKE = """
block pooled(c) {
    "0": gap; "1": conv1-c(bias=false); "2": relu;
    upsample(size=@input, mode=bilinear)
}
block branches(c) {
    concat< "0": (conv1-c; relu) | "1": conv3-c(dilation=2) | "2": pooled(c) >
}
"""


def test_a_block_that_concatenates_its_numbered_members_is_a_module_list_and_a_chain_of_them_a_sequential():
    source = ASPP_LIKE + net("    convs: branches(4); conv1-2", "3x16x16")
    code = archdsl.compile_source(source=source).source
    assert "class Branches(nn.ModuleList):" in code and "class Pooled(nn.Sequential):" in code
    assert "x = torch.cat([branch(x) for branch in self], 1)  # (B, 3 * c, 16, 16)" in code
    assert "x = self[1](x)  # (B, c, 1, 1)" in code and "getattr" not in code
    model = _load(source)
    assert [k for k in model.state_dict() if k.startswith("convs.")] == [
        "convs.0.0.weight", "convs.0.0.bias", "convs.1.weight", "convs.1.bias", "convs.2.1.weight"]
    convs = model.convs
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        pooled = torch.nn.functional.interpolate(torch.relu(convs[2][1](convs[2][0](x))), size=(16, 16),
                                                 mode="bilinear", align_corners=False)  # torchvision's ASPPPooling
        expected = torch.cat([convs[0](x), convs[1](x), pooled], 1)
        assert torch.equal(convs(x), expected)


@pytest.mark.parametrize("body", ['"1": conv3-4; "0": conv3-4',  # out of order: items would renumber them
                                  '"0": conv3-4; residual< "1": conv3-4 >',  # "1" is not applied after "0"
                                  '"0": conv3-4; scale(1.0); "1": conv3-4'])  # a parameter is no item
def test_numbered_members_that_cannot_be_items_keep_their_keys_as_attributes(body):
    source = f"block b() {{ {body} }}\n" + net("    b; relu", "4x8x8")
    code = archdsl.compile_source(source=source).source
    assert "class B(nn.Module):" in code and 'getattr(self, "0")' in code
    assert {"b1.0.weight", "b1.1.weight"} <= set(_keys(source))


def test_a_folded_numbered_batch_norm_keeps_the_attributes():
    # compile --fuse folds "1" into "0": as items, "2" would move up to key 1.
    source = 'block b() { "0": conv3-4; "1": bn; "2": relu; upsample(size=@input) }\n' + net("    b", "4x8x8")
    code = archdsl.compile_source(source=source, fuse=True).source
    assert "class B(nn.Module):" in code and 'self.add_module("2", nn.ReLU(inplace=True))' in code
    assert "class B(nn.Sequential):" in archdsl.compile_source(source=source).source


# -- numbered labels --------------------------------------------------------------------------------
def test_numbered_labels_count_from_one_in_the_enclosing_group():
    source = net("    block: (layer{i}: conv3-8 x 3); gap; flatten; fc-2")
    keys = _keys(source)
    assert [k for k in keys if k.endswith("weight")] == ["block.layer1.weight", "block.layer2.weight",
                                                         "block.layer3.weight", "fc1.weight"]


def test_numbered_labels_in_a_class_body_and_quoted_with_an_expression():
    source = net('    "block1-{i - 1}": conv3-8 x 2; stage{i * 10}: conv1-4 x 2')
    keys = [k for k in _keys(source) if k.endswith("weight")]
    assert keys == ["block1-0.weight", "block1-1.weight", "stage10.weight", "stage20.weight"]


def test_numbered_labels_see_the_repetition_index_in_the_repeated_item():
    source = net("    layer{i}: conv3-(4 * i) x 3")
    shapes = {k: tuple(v.shape) for k, v in _load(source).state_dict().items() if k.endswith("weight")}
    assert shapes == {"layer1.weight": (4, 3, 3, 3), "layer2.weight": (8, 4, 3, 3), "layer3.weight": (12, 8, 3, 3)}


def test_numbered_label_errors():
    assert error_of(net("    layer{true}: conv3-8")).first.code == "bad-label-value"
    assert error_of(net("    layer{i}: conv3-8 x 2; layer{i}: conv3-8 x 2")).first.code == "duplicate-label"
    assert error_of(net('    "x{": conv3-8')).first.code == "bad-label"
    assert error_of(net('    "x{)}": conv3-8')).first.code == "bad-label"


# -- concat(flat) -----------------------------------------------------------------------------------
FLAT = """
block mixed(c) {
    concat(flat)<
        branch1x1: conv1-c
      | (branch5x5_1: conv1-4; branch5x5_2: conv5-c)
      | (branch3x3_1: conv1-4; concat(flat)< branch3x3_2a: conv1x3-c | branch3x3_2b: conv3x1-c >)
      | (avgpool3/1(padding=1); branch_pool: conv1-c)
    >
}
network t { input 3x16x16; Mixed_5b: mixed(8); relu }
"""


def test_flat_branch_members_belong_to_the_enclosing_block():
    keys = [k for k in _keys(FLAT) if k.endswith("weight")]
    assert keys == ["Mixed_5b.branch1x1.weight", "Mixed_5b.branch5x5_1.weight", "Mixed_5b.branch5x5_2.weight",
                    "Mixed_5b.branch3x3_1.weight", "Mixed_5b.branch3x3_2a.weight", "Mixed_5b.branch3x3_2b.weight",
                    "Mixed_5b.branch_pool.weight"]


def test_flat_branches_compute_their_concatenation():
    code = archdsl.compile_source(source=FLAT).source
    # each variable is named after its branch's first label, as torchvision's Inception names them
    assert "branch5x5 = self.branch5x5_1(x)" in code
    assert "branch5x5 = self.branch5x5_2(branch5x5)" in code
    assert "branch3x3 = torch.cat([self.branch3x3_2a(branch3x3), self.branch3x3_2b(branch3x3)], 1)" in code
    assert "x = torch.cat([self.branch1x1(x), branch5x5, branch3x3, branch_pool], 1)" in code
    model = _load(FLAT)
    m = model.Mixed_5b
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        b3 = m.branch3x3_1(x)
        pool = torch.nn.functional.avg_pool2d(x, 3, 1, 1)
        expected = torch.cat([m.branch1x1(x), m.branch5x5_2(m.branch5x5_1(x)),
                              torch.cat([m.branch3x3_2a(b3), m.branch3x3_2b(b3)], 1), m.branch_pool(pool)], 1)
        assert torch.allclose(model(x), torch.relu(expected), atol=1e-6)


def test_a_flat_branch_holds_a_chain():
    err = error_of(net("    concat(flat)< conv3-8 | residual< conv3-3 > >"))
    assert err.first.code == "container-in-chain"
    assert error_of(net("    concat(flat)< conv3-8 | (conv3-4; relu if true) >")).first.code == "misplaced-if"


# -- sequential blocks ------------------------------------------------------------------------------
SEQUENTIAL = """
sequential block conv_bn_act(c, s = 1) { conv3-c/s(bias=false); bn; relu }
sequential block named(c) { conv: conv1-c; relu; bn: bn }
network t { input 3x16x16; features: (conv_bn_act(8, 2); conv_bn_act(16)); tail: named(4) }
"""


def test_a_sequential_block_compiles_to_an_nn_sequential_subclass():
    code = archdsl.compile_source(source=SEQUENTIAL).source
    assert "class ConvBnAct(nn.Sequential):" in code
    assert "class Named(nn.Sequential):" in code
    assert code.count("def forward") == 1  # the network's only: nn.Sequential runs its items
    model = _load(SEQUENTIAL)
    assert isinstance(model.features[0], torch.nn.Sequential)
    assert [k for k in model.state_dict() if k.endswith("weight")] == [
        "features.0.0.weight", "features.0.1.weight", "features.1.0.weight", "features.1.1.weight",
        "tail.conv.weight", "tail.bn.weight"]
    assert isinstance(model.tail[1], torch.nn.ReLU)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert model(x).shape == (2, 4, 8, 8)
        assert torch.equal(model(x), model.tail(model.features(x)))


def test_a_sequential_block_is_a_chain():
    block = "sequential block b(c) { BODY }\n" + net("    b(8)")
    assert error_of(block.replace("BODY", "residual< conv3-3 >")).first.code == "container-in-chain"
    assert error_of(block.replace("BODY", "concat< relu | relu >")).first.code == "container-in-chain"
    assert error_of(block.replace("BODY", "conv3-c; relu if true")).first.code == "misplaced-if"


# -- every stage --------------------------------------------------------------------------------------
ALL_FORMS = """
sequential block cba(c) { conv1-c(bias=false); bn; relu }
block dense(g) { concat(flat)< identity | norm1: bn; relu1: relu; conv1: conv3-g(bias=false) > }
network t(n = 3) {
    input 3x16x16;
    "stem-0": cba(8);
    block1: (layer{i}: dense(4) x 2);
    "out-{i}": conv1-4 x 2;
    inception< () | relu >;
    gap; flatten; fc-n
}
"""


def test_the_formatter_keeps_every_form():
    text = format_text(ALL_FORMS)
    assert 'block1: (layer{i}: dense(4) x2);' in text
    assert "concat(flat)<identity | norm1: bn;" in text
    assert text.startswith("sequential block cba(c)")
    assert format_text(text) == text
    assert parse(text).blocks[0].sequential


def test_every_form_draws_and_the_emitted_module_is_ruff_clean(tmp_path):
    from archdsl.drawing.diagram import structure

    ir = archdsl.build(source=ALL_FORMS)
    titles = [g.title for g in structure(ir).groups()]
    assert "stem-0: cba(8)" in titles and "layer1: dense(4)" in titles and "branch 2" in titles
    path = tmp_path / "t.py"
    path.write_text(archdsl.compile_source(source=ALL_FORMS).source)
    ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(path)], check=False,
                          capture_output=True, text=True)
    assert ruff.returncode == 0, ruff.stdout
    with torch.no_grad():
        assert _load(ALL_FORMS)(torch.randn(1, 3, 16, 16)).shape == (1, 3)


def test_a_learned_scale_needs_an_identifier_label():
    assert error_of(net('    conv3-8; "s-1": scale')).first.code == "bad-module-name"


# -- gates, splits and references inside concat(flat) branches, refused in sequential blocks ---------------
FLAT_FORMS = """
block mixed(c) {
    a: conv1-c;
    concat(flat)<
        branch1x1: conv1-c
      | (se_1: conv1-c; gate< gap; conv1-c; sigmoid >; se_2: conv1-c)
      | (sp_1: conv1-(2 * c); split< identity | conv1-c >)
      | (maxpool3/1(padding=1); @a; relu)
    >
}
network t { input 3x16x16; m: mixed(8); relu }
"""


def test_a_flat_branch_may_hold_a_gate_a_split_and_a_reference():
    code = archdsl.compile_source(source=FLAT_FORMS).source
    assert "identity = se\n" in code and "se = identity * se  # (B, c, 16, 16)" in code
    assert "x1, x2 = sp.chunk(2, 1)\n        sp = torch.cat([x1, self.branch2(x2)], 1)" in code
    assert "branch4 = a  # (B, c, 16, 16)" in code
    m = _load(FLAT_FORMS).m
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        a = m.a(x)
        se = m.se_1(a)
        se = m.se_2(se * m.sigmoid(m.conv1(m.avgpool(se))))
        x1, x2 = m.sp_1(a).chunk(2, 1)
        want = torch.cat([m.branch1x1(a), se, torch.cat([x1, m.branch2(x2)], 1), torch.relu(a)], 1)
        assert torch.equal(m(x), want)


@pytest.mark.parametrize("item", ["gate< gap; conv1-(2 * c); sigmoid >", "split< identity | conv1-c >", "@a"])
def test_a_sequential_block_refuses_them_and_says_to_write_block(item):
    source = f"sequential block b(c) {{ a: conv1-(2 * c); {item}; relu }}\n" + net("    b(4)", "3x8x8")
    err = error_of(source)
    assert err.first.code in ("container-in-chain", "misplaced-reference")
    assert "sequential block ('b')" in err.first.message and "write `block` for `sequential block`" in err.first.hint
    model = _load(source.replace("sequential block", "block"))  # what the hint says to write compiles
    assert model(torch.randn(1, 3, 8, 8)).shape[0] == 1


def test_a_residual_in_a_flat_branch_is_still_refused():
    source = "block b(c) { concat(flat)< conv1-c | (conv1-c; residual< conv3-c(padding=1) >) > }\n" + \
        net("    b(4)", "3x8x8")
    err = error_of(source)
    assert err.first.code == "container-in-chain" and "define a block holding the residual" in err.first.hint
