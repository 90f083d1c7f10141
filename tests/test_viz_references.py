"""Drawings of the dataflow beyond a chain: references as named edges, U-Net's skips as a U, joins as operators."""

from __future__ import annotations

import re
import shutil

import pytest
from helpers import ROOT, net
from test_viz import EDGE, clusters, dataflow, joins, reachable

import archdsl
from archdsl.drawing.references import references, skips
from archdsl.drawing.render import REFERENCE_EDGE, drawing

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
UNET = ROOT / "architectures" / "unet.arch"
LEVELS = ["d1", "d2", "d3", "d4"]


def unet(depth: int | None = None, rankdir: str = "TB"):
    ir = archdsl.build(UNET)
    return drawing(ir, depth, rankdir=rankdir), ir


def crops(ir) -> list[int]:
    return [layer.id for layer in ir.enabled_layers() if layer.op == "crop"]


def drawn(d, layer_id: int) -> str:
    """The DOT node showing the layer: the table holding its row, its own node, or the collapsed group around it."""
    dot = d.graph.source
    table = re.search(rf'^\t+(T\d+) \[label=<<TABLE[^\n]*ID="L{layer_id}-0"', dot, re.MULTILINE)
    if table:
        return table.group(1)
    if re.search(rf"^\t+L{layer_id} \[", dot, re.MULTILINE):
        return f"L{layer_id}"
    return next(f"G{k}" for k, g in enumerate(d.diagram.groups())  # the drawing numbers groups in this order
                if layer_id in g.layer_ids() and re.search(rf"^\t+G{k} \[", dot, re.MULTILINE))


def bottom_of(ir) -> int:
    return max(layer.id for layer in ir.enabled_layers() if str(layer.path).startswith("bottom"))


def test_references_are_found_with_their_readers():
    _, ir = unet()
    refs = references(ir)
    by_name = {r.name: r for r in refs}
    assert sorted(by_name) == ["d1", "d2", "d3", "d4", "up1", "up2", "up3", "up4"]
    for level in LEVELS:  # `@d4` starts the branch: crop computes on d4's output (its relu2)
        ref = by_name[level]
        assert ref.data and ir.layers[ref.reader].op == "crop"
        assert str(ir.layers[ref.source].path) == f"{level}.relu2"
    for k in range(1, 5):  # `crop(@up4)` only reads up4's size
        ref = by_name[f"up{k}"]
        assert not ref.data and ir.layers[ref.reader].op == "crop" and str(ir.layers[ref.source].path) == f"up{k}"
    assert len(refs) == 8  # the maxpool after each d is not a reference, nor the concat reading up's output


def test_a_reference_read_by_several_layers_marks_them_all_and_nothing_else():
    ir = archdsl.build("r.arch", source=net("a: conv3-4; relu; conv3-4; @a; concat< conv1-2 | conv1-3 >", "3x8x8"))
    refs = references(ir)
    assert [(ir.layers[r.source].describe(), ir.layers[r.reader].describe()) for r in refs] == [
        ("conv3-4", "conv1-2"), ("conv3-4", "conv1-3")]
    assert skips(ir, refs).same_rank == []  # no dip in resolution between them: not a skip


def test_unet_references_are_dashed_and_named():
    d, _ = unet()
    dot = d.graph.source
    named = {m.group(1): attrs for _, _, attrs in EDGE.findall(dot) if (m := re.search(r'label="(@\w+)"', attrs))}
    assert sorted(named) == ["@d1", "@d2", "@d3", "@d4", "@up1", "@up2", "@up3", "@up4"]
    for attrs in named.values():
        assert "style=dashed" in attrs and f'color="{REFERENCE_EDGE["color"]}"' in attrs, attrs
    assert dot.count("label=identity") == 0  # no residual: the only dashed edges are references


def test_unet_skips_share_a_rank_and_the_way_up_rises():
    d, ir = unet()
    dot = d.graph.source
    rows = re.findall(r"\{\n\t+rank=same\n\t+(\w+)\n\t+(\w+)\n\t+\}", dot)
    pairs = {frozenset(p) for p in rows}
    by_name = {r.name: r for r in references(ir)}
    expected = {frozenset((drawn(d, by_name[level].source), drawn(d, by_name[level].reader))) for level in LEVELS}
    assert pairs == expected and len(rows) == 4
    rising = [(b, a) for a, b, attrs in EDGE.findall(dot) if "dir=back" in attrs]
    # from the bottom's output up to each crop and concat: up, crop, concat, the decoder's double; 4 levels
    bottom = drawn(d, bottom_of(ir))
    assert rising[0][0] == bottom
    assert {a for a, _ in rising} | {b for _, b in rising} >= {drawn(d, c) for c in crops(ir)}
    down = [drawn(d, by_name[level].source) for level in LEVELS]
    assert not any(a in down or b in down for a, b in rising)  # the contracting path is drawn downwards
    assert reachable(dataflow(dot), f"L{ir.input}") >= set(down) | {f"L{ir.output}"}


@needs_dot
@pytest.mark.parametrize("depth", [None, 1])
def test_unet_is_laid_out_as_a_u(depth):
    """Where Graphviz puts the nodes: each skip straight across, the encoder left, the decoder rising on the right."""
    d, ir = unet(depth)
    plain = d.graph.pipe(format="plain").decode()
    at = {m[1]: (float(m[2]), float(m[3])) for m in re.finditer(r"^node (\S+) ([\d.]+) ([\d.]+)", plain, re.MULTILINE)}
    by_name = {r.name: r for r in references(ir)}
    levels = []
    for level in LEVELS:
        (sx, sy), (rx, ry) = at[drawn(d, by_name[level].source)], at[drawn(d, by_name[level].reader)]
        assert sy == pytest.approx(ry, abs=0.01) and rx > sx, level  # y grows upwards in plain output
        levels.append(sy)
    assert levels == sorted(levels, reverse=True)  # d1 highest, d4 lowest: the U's two arms
    bottom = at[drawn(d, bottom_of(ir))]
    assert bottom[1] < levels[-1]


def test_no_cluster_is_titled_inception_unless_written_so():
    d, _ = unet()
    assert clusters(d.graph.source).count("concat") == 4 and "inception" not in clusters(d.graph.source)
    source = net("concat< conv1-2 | conv1-3 >; inception< conv1-2 | conv1-3 >", "3x8x8")
    assert clusters(drawing(archdsl.build("c.arch", source=source)).graph.source) == ["concat", "inception"]
    collapsed = drawing(archdsl.build("c.arch", source=source), 1).graph.source
    assert re.findall(r"<B>(\w+)</B>", collapsed) == ["concat", "inception"]


def test_joins_are_drawn_as_operators_and_named_in_the_page():
    ir = archdsl.build(ROOT / "architectures" / "mobilenet_v3_small.arch")
    d = drawing(ir)
    dot = d.graph.source
    assert len(joins(dot, r"\+")) == sum(1 for x in ir.enabled_layers() if x.op == "add") > 0
    products = re.findall(r"^\t+(L\d+) \[label=\"×\\n", dot, re.MULTILINE)
    assert len(products) == sum(1 for x in ir.enabled_layers() if x.op == "mul") == 9
    for mul in products:  # both factors come in: the gate's input and the squeeze-and-excitation's scale
        assert len([a for a, b in dataflow(dot) if b == mul]) == 2
    titles = {d.info[k]["title"] for k in d.info if k.startswith("L") and d.info[k]["title"] in ("add", "multiply")}
    assert titles == {"add", "multiply"}


SEG = net("backbone: (conv3-8/2; relu; layer2: (conv3-16/2; relu); layer3: (conv3-32/2; relu));\n"
          "out: output< classifier: (conv3-8; relu; conv1-5); upsample(size=@input, mode=bilinear) >;\n"
          "aux: output< @backbone.layer2; aux_classifier: (conv1-5); upsample(size=@input, mode=bilinear) >",
          "3x64x64")


def test_group_references_and_named_outputs_are_drawn_as_written():
    d = drawing(archdsl.build("seg.arch", source=SEG))
    dot = d.graph.source
    labels = sorted(re.findall(r'label="(@[\w.]+)"', dot))
    assert labels == ["@backbone.layer2", "@input", "@input"]  # the variable is backbone_layer2
    assert 'label="outputs\\nout, aux"' in dot  # the network returns both, as a dict
    assert "output out\\n5x64x64" in dot and "output aux\\n5x64x64" in dot
    assert "rank=same" not in dot  # @input in an option reads a size, and @backbone.layer2's reader is next to it


# A head reading a low-level feature through a block's tensor parameter (LRASPP's shape): the low branch
# meets the high one, computed at 1/8 and brought back to 1/4, at the concat.
HEAD = ("block head(@low, n) {\n    cbr: conv1-16; relu; upsample(size=@low, mode=bilinear);\n"
        "    concat< @low; low_classifier: conv1-n | high_classifier: conv1-n >\n}\n")


def test_a_tensor_argument_that_bridges_a_dip_is_a_skip():
    source = HEAD + net("backbone: (conv3-8/2; relu; c2: conv3-16/2; relu; c3: conv3-32/2; relu);\n"
                        "head(@backbone.c2, 3); upsample(size=@input, mode=bilinear)", "3x64x64")
    ir = archdsl.build("h.arch", source=source)
    d = drawing(ir)
    dot = d.graph.source
    assert "head1: head(@backbone.c2, 3)" in dot
    c2 = next(x.id for x in ir.layers if str(x.path) == "backbone.c2")
    low = next(x.id for x in ir.layers if str(x.path) == "head1.low_classifier")
    (row,) = re.findall(r"\{\n\t+rank=same\n\t+(\w+)\n\t+(\w+)\n\t+\}", dot)
    assert set(row) == {drawn(d, c2), drawn(d, low)}
    rising = {(b, a) for a, b, attrs in EDGE.findall(dot) if "dir=back" in attrs}
    cat = next(f"L{x.id}" for x in ir.layers if x.op == "concat")
    high = drawn(d, next(x.id for x in ir.layers if str(x.path) == "head1.high_classifier"))
    assert (high, cat) in rising and (drawn(d, low), cat) not in rising  # up the high branch, across the low


def test_the_bottom_of_the_u_is_on_the_main_path_not_in_a_squeeze():
    # LRASPP's head gates its 1/16 features with a 1x1 squeeze (gap, conv, sigmoid) before bringing them up to
    # 1/8: the way up starts at the product, every path's lowest point, not at the 1x1 branch beside it.
    ir = archdsl.build(ROOT / "architectures" / "lraspp_mobilenet_v3_large.arch")
    found = skips(ir, references(ir))
    (block,) = [inst for inst in ir.instances if str(inst.path) == "backbone.4"]  # its output is its residual's add
    assert [(s, str(ir.layers[r].path)) for s, r in found.same_rank] == [(block.out_node, "classifier.low_classifier")]
    first = min(a for a, _ in found.rising)
    assert ir.layers[first].op == "mul" and ir.layers[first].out_shape == (128, 33, 33)
    assert {ir.layers[b].op for _, b in found.rising} == {"upsample", "conv", "add"}
