"""Drawing: DOT content for every bundled architecture, depth limits, folding, files and their formats."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import graphviz
import pytest
from helpers import ARCHITECTURES, ROOT

import archdsl
from archdsl.drawing.diagram import JOINS
from archdsl.drawing.render import drawing
from archdsl.errors import ArchError
from archdsl.shapes.inference import fmt

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
EDGE = re.compile(r"^\t(\w+) -> (\w+)(?: \[(.*)\])?$", re.MULTILINE)
NODE = re.compile(r"^\t+([LTG]\d+) \[", re.MULTILINE)  # layers, tables of layers, collapsed groups


def run(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archdsl", *args], check=False, capture_output=True, text=True,
                          cwd=ROOT, timeout=300, env=env)


def dot_of(name: str, **kw) -> tuple[str, archdsl.ir.nodes.IR]:
    ir = archdsl.build(ROOT / "architectures" / f"{name}.arch", params=kw.pop("params", None))
    return drawing(ir, **kw).graph.source, ir


def clusters(dot: str) -> list[str]:
    """The cluster titles, in drawing order."""
    found = re.findall(r'subgraph cluster_\d+ \{\n\t+[^\n]*?\blabel=(?:"([^"]*)"|(\S+))', dot)
    return [quoted or bare for quoted, bare in found]


def titled_tables(dot: str) -> list[str]:
    """The titles of blocks drawn as one table with a title row (a block that is one chain of layers)."""
    return re.findall(r'<TR><TD ID="C\d+-0"[^>]*>([^<]*)</TD></TR>', dot)


def rows(dot: str) -> dict[int, str]:
    """Layer id -> the table row that shows it."""
    return {int(m.group(1)): m.group(0) for m in re.finditer(r'<TR><TD ID="L(\d+)-0".*?</TR>', dot)}


def joins(dot: str, title: str) -> list[str]:
    return re.findall(rf'^\t+L\d+ \[label="{title}\\n([0-9x]+)"', dot, re.MULTILINE)


def identity_shortcuts(ir) -> int:
    return sum(1 for layer in ir.enabled_layers() if layer.derived.decision == "identity")


def dataflow(dot: str) -> list[tuple[str, str]]:
    """The drawn edges as (from, to) in the direction data flows: a rising edge is written head first, dir=back."""
    return [(b, a) if "dir=back" in attrs else (a, b) for a, b, attrs in EDGE.findall(dot)]


def reachable(edges: list[tuple[str, str]], start: str) -> set[str]:
    out, todo = {start}, [start]
    while todo:
        node = todo.pop()
        for a, b in edges:
            if a == node and b not in out:
                out.add(b)
                todo.append(b)
    return out


# -- every bundled architecture ---------------------------------------------------------------------
@pytest.mark.parametrize("path", ARCHITECTURES, ids=lambda p: p.stem)
def test_every_layer_is_drawn_once_with_its_shape(path):
    ir = archdsl.build(path)
    d = drawing(ir)
    dot = d.graph.source
    table = rows(dot)
    # Joins are nodes of their own (a gate's multiply, a split's parts, a named output too); a projection
    # shortcut is a row.
    plain = [x for x in ir.enabled_layers() if (x.op not in JOINS or x.op == "shortcut")
             and x.derived.decision != "identity"]
    assert sorted(table) == sorted(x.id for x in plain)
    for layer in plain:
        assert f">{fmt(layer.out_shape)}<" in table[layer.id], layer.describe()
        if layer.params:
            assert f">{layer.params:,}<" in table[layer.id]
    assert len(joins(dot, r"\+")) == sum(1 for x in ir.enabled_layers() if x.op == "add")
    assert len(joins(dot, "concat")) == sum(1 for x in ir.enabled_layers() if x.op == "concat")
    assert len(joins(dot, "×")) == sum(1 for x in ir.enabled_layers() if x.op == "mul")
    assert len(joins(dot, r"channels part \d+/\d+")) == sum(1 for x in ir.enabled_layers() if x.op == "chunk")
    assert len(joins(dot, r"output \w+")) == len(ir.outputs)
    assert dot.count('label=identity style=dashed') == identity_shortcuts(ir)
    assert f"{sum(x.params for x in ir.enabled_layers()):,} params" in dot


@pytest.mark.parametrize("path", ARCHITECTURES, ids=lambda p: p.stem)
@pytest.mark.parametrize("depth", [None, 1, 2])
def test_every_drawn_node_lies_between_input_and_an_output(path, depth):
    ir = archdsl.build(path)
    dot = drawing(ir, depth).graph.source
    edges = dataflow(dot)
    nodes = set(NODE.findall(dot))
    outputs = {f"L{ir.output}"} | {f"L{i}" for i in ir.sides.values()}
    assert reachable(edges, f"L{ir.input}") == nodes
    backwards = [(b, a) for a, b in edges]
    assert set().union(*(reachable(backwards, o) for o in outputs)) == nodes


# -- the seed architectures: counts that follow from their structure ------------------------------------
def test_lenet5_is_one_table_without_clusters():
    dot, ir = dot_of("lenet5")
    assert clusters(dot) == []
    assert len(rows(dot)) == 12  # conv tanh pool, conv tanh pool, flatten, fc tanh, fc tanh, fc
    assert len(re.findall(r"^\t+T\d+ \[", dot, re.MULTILINE)) == 1
    assert [fmt(s) for s in (ir.layers[ir.input].out_shape, ir.layers[ir.output].out_shape)] == ["1x32x32", "10"]


def test_resnet34_clusters_are_stages_blocks_and_residuals():
    dot, _ = dot_of("resnet34")
    titles = clusters(dot)
    assert [t for t in titles if t.startswith("layer")] == ["layer1", "layer2", "layer3", "layer4"]
    assert len([t for t in titles if ": basic(" in t]) == 3 + 4 + 6 + 3
    assert titles.count("residual") == 16
    assert len(titles) == 4 + 16 + 16
    assert joins(dot, r"\+") == ["64x56x56"] * 3 + ["128x28x28"] * 4 + ["256x14x14"] * 6 + ["512x7x7"] * 3
    assert dot.count("label=identity") == 13  # the first block of layers 2-4 projects instead
    assert dot.count("shortcut: conv1-128/2 + bn") == 1 and dot.count("shortcut: conv1-512/2 + bn") == 1
    assert '<TD ID="L1-0"' in dot and "conv7-64/2" in rows(dot)[1] and ">64x112x112<" in rows(dot)[1]


def test_googlenet_draws_branches_concats_and_aux_heads():
    dot, _ = dot_of("googlenet")
    titles = clusters(dot)
    modules = [t for t in titles if ": inception_module(" in t]
    assert len(modules) == 9
    # per module: branch1 (a conv_bn: one table titled by the block), branch2 and branch3 (clusters of
    # two conv_bn tables each), branch4 (a cluster of a pool and a conv_bn table)
    assert [t.split(":")[0] for t in titles if t.startswith("branch")] == ["branch2", "branch3", "branch4"] * 9
    tables = titled_tables(dot)
    assert [t for t in tables if t.startswith("branch")] == [t for t in tables if t.startswith("branch1: conv_bn(")]
    assert len(tables) == 9 * 6 + 3 + 2 and all(": conv_bn(" in t for t in tables)
    assert len(titles) == 9 * 4 + 2  # and one cluster per aux head
    assert joins(dot, "concat") == ["256x28x28", "480x28x28", "512x14x14", "512x14x14", "512x14x14", "528x14x14",
                                    "832x14x14", "832x7x7", "1024x7x7"]
    assert [t for t in titles if "side output" in t] == [
        "aux1: inception_aux(1000, 0.7)  → side output 'aux1' (training only)",
        "aux2: inception_aux(1000, 0.7)  → side output 'aux2' (training only)"]
    assert joins(dot, r"aux1 \(side output\)") == ["1000"] and joins(dot, r"aux2 \(side output\)") == ["1000"]
    # inception3a's four branches all start from maxpool2's row and meet at its concat
    concat = re.search(r'^\t+(L\d+) \[label="concat\\n256x28x28"', dot, re.MULTILINE).group(1)
    assert len([e for e in EDGE.findall(dot) if e[1] == concat]) == 4


def test_googlenet_without_aux_heads_draws_none():
    dot, _ = dot_of("googlenet", params={"aux_logits": "false"})
    assert "side output" not in dot and "inception_aux" not in dot
    assert len(clusters(dot)) == 9 * 4 and len(titled_tables(dot)) == 9 * 6 + 3
    assert "6,624,904 params" in dot


# Blocks per stage (He et al. 2016, table 1): basic blocks up to 34 layers, bottlenecks from 50.
RESNETS = {"resnet18": [2, 2, 2, 2], "resnet34": [3, 4, 6, 3], "resnet50": [3, 4, 6, 3], "resnet101": [3, 4, 23, 3],
           "resnet152": [3, 8, 36, 3]}


@pytest.mark.parametrize("name", RESNETS)
def test_every_resnet_draws_its_stage_table(name):
    blocks = RESNETS[name]
    kind = "basic" if name in ("resnet18", "resnet34") else "bottleneck"
    dot, _ = dot_of(name)
    titles = clusters(dot)
    assert [t for t in titles if t.startswith("layer")] == ["layer1", "layer2", "layer3", "layer4"]
    # every argument of each block is in its title: a bottleneck's groups, width_per_group, width and dilation too
    rest = {"basic": "", "bottleneck": ", 1, 64, {c}, 1"}[kind]
    assert [t.split(": ")[1] for t in titles if f": {kind}(" in t] == [
        f"{kind}({64 * 2 ** stage}, {2 if i == 0 and stage else 1}{rest.format(c=64 * 2 ** stage)})"
        for stage, n in enumerate(blocks) for i in range(n)]
    assert titles.count("residual") == len(joins(dot, r"\+")) == sum(blocks)
    assert len(titles) == 4 + 2 * sum(blocks)
    # a projection where the shape changes: the first block of stages 2-4, and of stage 1 for bottlenecks
    assert dot.count("label=identity") == sum(blocks) - (3 if kind == "basic" else 4)
    collapsed = re.findall(r"<B>(layer\d: [a-z]+ ×\d+)</B>", drawing(archdsl.build(ROOT / "architectures" /
                                                                                  f"{name}.arch"), 1).graph.source)
    assert collapsed == [f"layer{i + 1}: {kind} ×{n}" for i, n in enumerate(blocks)]


# Convolutions of the plain networks: VGG's configurations A to E (Simonyan & Zisserman, table 1), AlexNet's five.
CONVS = {"alexnet": 5, "alexnet_paper": 5, "vgg11": 8, "vgg11_lrn": 8, "vgg13": 10, "vgg16": 13, "vgg16_conv1": 13,
         "vgg19": 16}


@pytest.mark.parametrize("name", CONVS)
def test_plain_networks_are_two_titled_tables_of_their_layers(name):
    dot, _ = dot_of(name)
    assert clusters(dot) == [] and titled_tables(dot) == ["features", "classifier"]
    drawn = " ".join(rows(dot).values())
    assert len(re.findall(r">conv\d+-\d+", drawn)) == CONVS[name]
    assert len(re.findall(r">fc-\d+<", drawn)) == 3


# -- depth and folding ---------------------------------------------------------------------------------
def test_depth_1_collapses_resnet34_stages_into_nodes():
    dot, _ = dot_of("resnet34", depth=1)
    assert clusters(dot) == []
    collapsed = re.findall(r'^\t+G\d+ \[label=<(.*?)> ', dot, re.MULTILINE)
    assert collapsed == [
        "<B>layer1: basic ×3</B><BR/>64x56x56<BR/>221,952 params",
        "<B>layer2: basic ×4</B><BR/>128x28x28<BR/>1,116,416 params",
        "<B>layer3: basic ×6</B><BR/>256x14x14<BR/>6,822,400 params",
        "<B>layer4: basic ×3</B><BR/>512x7x7<BR/>13,114,368 params",
    ]
    assert len(NODE.findall(dot)) == 8  # input, stem table, 4 stages, head table, output
    # an edge carries the shape where it changes: into layer2 (maxpool gave 64x56x56) but not out of layer1
    labels = [label for _, _, label in EDGE.findall(dot)]
    assert 'label="64x56x56"' in labels and 'label="128x28x28"' in labels
    assert labels.count('label="64x56x56"') == 1


def test_depth_2_shows_blocks_inside_stages():
    dot, _ = dot_of("resnet34", depth=2)
    assert clusters(dot) == ["layer1", "layer2", "layer3", "layer4"]
    assert dot.count("<B>0: basic(128, 2)</B><BR/>128x28x28<BR/>230,144 params") == 1


def test_depth_1_of_googlenet_keeps_the_aux_heads_as_side_outputs():
    dot, _ = dot_of("googlenet", depth=1)
    assert "<B>aux1: inception_aux(1000, 0.7)</B><BR/>1000<BR/>3,188,968 params" in dot
    assert len(re.findall(r"<B>inception\d[a-e]: inception_module", dot)) == 9


def test_resnet152_at_depth_1_is_one_screen():
    path = ROOT / "architectures" / "resnet152.arch"
    if not path.exists():
        pytest.skip("resnet152.arch is not bundled")
    dot = drawing(archdsl.build(path), 1).graph.source
    assert len(NODE.findall(dot)) <= 12
    assert "<B>layer3: bottleneck ×36</B>" in dot


def test_fold_repeats_draws_identical_blocks_once():
    dot, _ = dot_of("resnet34", fold_repeats=True)
    titles = clusters(dot)
    assert [t for t in titles if ": basic(" in t] == [
        "0: basic(64, 1)  ×3", "0: basic(128, 2)", "1: basic(128, 1)  ×3", "0: basic(256, 2)",
        "1: basic(256, 1)  ×5", "0: basic(512, 2)", "1: basic(512, 1)  ×2"]
    assert len(joins(dot, r"\+")) == 7
    edges = [(a, b) for a, b, _ in EDGE.findall(dot)]
    assert len(reachable(edges, "L0")) == len(NODE.findall(dot))


def test_fold_repeats_keeps_a_repetition_whose_shapes_differ():
    dot, _ = dot_of("vgg16", fold_repeats=True)
    # (conv3-256; relu) x3: the first turns 128 into 256 channels, the other two repeat exactly (×2);
    # so in the next stage (256 into 512); the last stage's three are all alike (×3)
    assert titled_tables(dot) == ["  ×2", "  ×2", "  ×3", "classifier"]
    assert clusters(dot) == ["features"]
    assert dot.count("conv3-256<") == 1 + 1
    assert "VGG16: 138,357,544 params" in dot


# -- the Python entry point -------------------------------------------------------------------------------
def test_draw_takes_a_path_or_source_and_returns_a_digraph():
    from_path = archdsl.draw(ROOT / "architectures" / "lenet5.arch")
    assert isinstance(from_path, graphviz.Digraph)
    source = "network tiny {\n    input 3x8x8;\n    c: conv3-4; relu; flatten; fc-2\n}\n"
    tiny = archdsl.draw(source, depth=1, rankdir="LR")
    assert "rankdir=LR" in tiny.source and ">4x8x8<" in tiny.source and ">fc-2<" in tiny.source
    assert "<B>c</B>" in tiny.source


def test_drawing_needs_no_torch():
    code = ("import sys, archdsl; archdsl.draw('architectures/googlenet.arch').source; "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "False"


def test_bad_depth_and_rankdir_are_errors_not_tracebacks():
    with pytest.raises(archdsl.ArchError, match="depth must be at least 1"):
        archdsl.draw(ROOT / "architectures" / "lenet5.arch", depth=0)
    with pytest.raises(archdsl.ArchError, match="rankdir must be TB or LR"):
        archdsl.draw(ROOT / "architectures" / "lenet5.arch", rankdir="BT")


# -- files ------------------------------------------------------------------------------------------------
@needs_dot
def test_viz_writes_svg_that_parses(tmp_path):
    out = tmp_path / "resnet34.svg"
    result = run("viz", "architectures/resnet34.arch", "-o", str(out), "--set", "num_classes=10")
    assert result.returncode == 0, result.stderr
    svg = ET.parse(out).getroot()
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert len(svg.findall(".//s:g[@class='cluster']", ns)) == 36
    texts = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert "conv7-64/2" in texts and "fc-10" in texts and "21,289,802 params" in " ".join(filter(None, texts))


@needs_dot
@pytest.mark.parametrize(("suffix", "magic"), [(".png", b"\x89PNG"), (".pdf", b"%PDF")])
def test_viz_writes_binary_formats(tmp_path, suffix, magic):
    out = tmp_path / f"lenet{suffix}"
    result = run("viz", "architectures/lenet5.arch", "-o", str(out), "--depth", "1", "--rankdir", "LR")
    assert result.returncode == 0, result.stderr
    assert out.read_bytes().startswith(magic)


def test_viz_dot_needs_no_graphviz_program(tmp_path):
    out = tmp_path / "g.dot"
    result = run("viz", "architectures/googlenet.arch", "-o", str(out), "--depth", "2",
                 env=dict(os.environ, PATH=str(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert out.read_text().splitlines()[0] == "digraph GoogLeNet {"


def test_missing_dot_writes_the_dot_file_and_says_how_to_install(tmp_path):
    out = tmp_path / "resnet.png"
    (tmp_path / "resnet.dot").write_text("old")
    result = run("viz", "architectures/resnet34.arch", "-o", str(out), env=dict(os.environ, PATH=str(tmp_path)))
    assert result.returncode == 1
    assert not out.exists()
    assert (tmp_path / "resnet.dot").read_text().startswith("digraph ")
    first, hint = result.stderr.strip().splitlines()
    assert first == (f"error[no-graphviz]: Graphviz's `dot` program was not found, so {out} was not drawn; "
                     f"the graph was written to {tmp_path / 'resnet.dot'} "
                     f"(render it later with `dot -Tpng {tmp_path / 'resnet.dot'}`)")
    assert "sudo apt-get install graphviz" in hint and "brew install graphviz" in hint
    assert "Traceback" not in result.stderr


def test_a_drawing_rendered_from_python_without_dot_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` there
    graph = archdsl.draw("lenet5")
    with pytest.raises(ArchError) as info:
        graph.render(tmp_path / "lenet5", format="svg")
    assert info.value.first.code == "no-graphviz" and "sudo apt-get install graphviz" in str(info.value)
    assert graph.source.startswith("digraph ")  # the DOT text is still there


def test_viz_usage_errors_exit_2(tmp_path):
    result = run("viz", "architectures/lenet5.arch", "-o", str(tmp_path / "x.jpg"))
    assert result.returncode == 2
    assert "the suffix picks the format, one of .dot, .svg, .png, .pdf, .html" in result.stderr
    result = run("viz", "architectures/lenet5.arch", "-o", str(tmp_path / "x.dot"), "--depth", "0")
    assert result.returncode == 2 and "--depth: expects a whole number from 1 up, got '0'" in result.stderr
    assert not any(tmp_path.iterdir())


def test_viz_of_a_bad_file_is_a_gcc_style_error(tmp_path):
    bad = tmp_path / "bad.arch"
    bad.write_text("network n {\n    input 3x8x8;\n    conv3-8; rleu\n}\n")
    result = run("viz", str(bad), "-o", str(tmp_path / "bad.svg"))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{bad}:3:14: error[unknown-word]: unknown layer or block 'rleu'")
    assert not (tmp_path / "bad.svg").exists()


@needs_dot
def test_html_page_data_survives_comments_that_look_like_markup(tmp_path):
    # `<!--<script>` in a comment on a layer line used to end the page's data early: no script ran.
    import json

    from archdsl.drawing.html import page
    from archdsl.drawing.render import drawing

    source = ("network n {\n    input 1x8x8;\n    c1: conv3-4;  # <!--<script> </script><script>alert(1)</script>\n"
              "    relu\n}\n")
    d = drawing(archdsl.build("t.arch", source=source))
    text = page(d)
    start = text.index('<script type="application/json" id="archdsl-info">') + len(
        '<script type="application/json" id="archdsl-info">')
    data = text[start:text.index("</script>", start)]
    shown = json.loads(data)
    assert d.info and all(shown[key].items() >= value.items() for key, value in d.info.items())
    assert "<!--<script>" not in text and "alert(1)</script>" not in text


@needs_dot
def test_a_drawing_too_large_for_graphviz_is_refused_before_it_runs(tmp_path, capsys):
    # 700 parallel branches: dot took minutes for 5,000 of them. Refused in well under a second;
    # the .dot text (no layout) is still written.
    from archdsl.cli.main import main

    branches = " | ".join(["conv1-1"] * 700)
    source = tmp_path / "wide.arch"
    source.write_text(f"block wide() {{ inception< {branches} > }}\nnetwork n {{ input 1x8x8; wide() }}\n")
    assert main(["viz", str(source), "-o", str(tmp_path / "wide.svg")]) == 1
    err = capsys.readouterr().err
    assert "error[drawing-too-large]: the drawing has 703 nodes" in err and "--depth" in err
    assert not (tmp_path / "wide.svg").exists()
    assert main(["viz", str(source), "-o", str(tmp_path / "wide.dot")]) == 0
    assert main(["viz", str(source), "--depth", "1", "-o", str(tmp_path / "wide1.svg")]) == 0


@needs_dot
def test_an_html_page_leaves_out_the_depths_too_large_to_lay_out(tmp_path):
    # Full depth is 703 nodes, refused; at depth 1 the block is one node: the page offers depth 1 alone.
    from archdsl.cli.main import main

    branches = " | ".join(["conv1-1"] * 700)
    source = tmp_path / "wide.arch"
    source.write_text(f"block wide() {{ inception< {branches} > }}\nnetwork n {{ input 1x8x8; w: wide() }}\n")
    out = tmp_path / "wide.html"
    assert main(["viz", str(source), "--depth", "1", "-o", str(out)]) == 0
    text = out.read_text()
    assert '<span id="depths" hidden>' in text and "<template" not in text
    assert '"depths":[1]' in text


@needs_dot
def test_an_html_page_opens_at_the_depth_asked_for_and_offers_the_others(tmp_path):
    from archdsl.cli.main import main

    out = tmp_path / "resnet18.html"
    assert main(["viz", "architectures/resnet18.arch", "--depth", "9", "-o", str(out)]) == 0
    deep = out.read_text()
    assert main(["viz", "architectures/resnet18.arch", "--depth", "1", "-o", str(out)]) == 0
    shallow = out.read_text()
    # resnet18 nests 3 deep (layer1, its basic blocks, their residuals): depths 1 to 3, then every
    # layer, which --depth 9 is.
    for text, start in ((deep, 3), (shallow, 0)):
        assert f'"start":{start},"depths":[1,2,3,null]' in text
        assert [f'data-view="{i}">{label}<' in text for i, label in enumerate(["1", "2", "3", "all"])] == [True] * 4
        assert text.count("<template") == 3
