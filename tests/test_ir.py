"""Stage 3, ir.py: blocks and repetitions unrolled into the graph IR, with module names."""

from __future__ import annotations

import json

from helpers import ROOT, build, error_of, net

import archdsl
from archdsl import ArchError
from archdsl.errors import Span
from archdsl.ir.nodes import (
    Container,
    ContainerKind,
    Join,
    Layer,
    Member,
    MemberKind,
    ModulePath,
    Site,
    SiteKind,
    StepKind,
)


def paths(ir) -> list[str]:
    return [str(layer.path) for layer in ir.layers if layer.op not in ("input", "output", "add", "concat")]


def test_unlabelled_layers_in_a_group_are_numbered_like_nn_sequential():
    ir = build(net("features: ((conv3-8; relu) x2; maxpool); flatten; fc-10", "3x8x8"))
    assert paths(ir)[:5] == ["features.0", "features.1", "features.2", "features.3", "features.4"]


def test_class_level_names_share_stateless_layers_and_number_the_rest():
    ir = build(net("conv3-8; relu; conv3-8; relu; flatten; fc-10; fc-10", "3x8x8"))
    assert paths(ir) == ["conv1", "relu", "conv2", "relu", "flatten", "fc1", "fc2"]


def test_labelled_repetition_is_a_sequential_of_block_instances():
    src = """
    block b(c) { conv1: conv3-c; relu }
    network n { input 3x8x8; layer1: b(8) x3 }
    """
    ir = build(src)
    assert [p for p in paths(ir) if p.endswith("conv1")] == ["layer1.0.conv1", "layer1.1.conv1", "layer1.2.conv1"]
    assert len(ir.instances) == 4


def test_graph_is_a_dag_with_one_node_per_layer_and_join():
    src = net("residual< conv3-8; bn >; inception< conv1-4 | conv3-4 >", "8x8x8")
    ir = build(src)
    import networkx as nx

    graph = ir.to_networkx()
    assert nx.is_directed_acyclic_graph(graph)
    assert graph.number_of_nodes() == len(ir.layers)
    ops = [layer.op for layer in ir.layers]
    assert ops.count("add") == 1 and ops.count("concat") == 1 and ops.count("shortcut") == 1
    add = next(layer for layer in ir.layers if layer.op == "add")
    assert sorted(graph.predecessors(add.id)) == sorted(add.inputs) and len(add.inputs) == 2
    assert all(add.id in ir.layers[i].outputs for i in add.inputs)
    assert all(isinstance(graph.nodes[n]["layer"], Layer) for n in graph.nodes)


def test_network_parameters_and_overrides():
    src = net("conv3-width; flatten; fc-num_classes", "3x4x4", "num_classes = 10, width = 4")
    assert build(src).layers[-2].attrs["features"] == 10
    assert build(src, num_classes=3, width=6).layers[1].attrs["channels"] == 6


def test_repetition_count_may_be_a_network_parameter_and_is_baked_in():
    ir = build(net("(conv3-4; relu) x depth", "3x8x8", "depth = 3"), depth=5)
    assert sum(layer.op == "conv" for layer in ir.layers) == 5
    assert ir.structural == {"depth"}


def test_conditional_layers_are_kept_but_disabled():
    ir = build(net("conv3-4; bn if use_bn; relu", "3x8x8", "use_bn = false"))
    bn = next(layer for layer in ir.layers if layer.op == "bn")
    assert bn.enabled is False
    assert [layer.op for layer in ir.enabled_layers()] == ["input", "conv", "relu", "output"]


def test_unknown_layer_suggests_the_closest_word():
    e = error_of(net("conv3-8; rleu"))
    d = e.first
    assert d.message == "unknown layer or block 'rleu'" and "did you mean 'relu'" in d.hint
    assert (d.span.line, d.span.column) == (3, 10)


def test_unknown_option_suggests_the_closest_option():
    d = error_of(net("conv3-8(strde=2)")).first
    assert d.message == "'conv3' has no option 'strde'" and "stride" in d.hint


def test_bad_option_values_are_reported_at_the_value():
    for body, message in [
        ("conv3-0", "channels must be a positive integer, got 0"),
        ("conv3-8/0", "stride must be a positive integer, got 0"),
        ("dropout(p=1.5)", "p must be a number in [0, 1], got 1.5"),
        ("conv3-8(bias=3)", "bias must be true or false, got 3"),
    ]:
        assert message in error_of(net(body)).first.message


def test_several_independent_errors_are_reported_together():
    e = error_of(net("rleu;\n conv3-8(strde=2);\n fc-(undefined_width)"))
    messages = [d.message for d in e.diagnostics]
    assert len(messages) == 3
    assert "undefined name 'undefined_width'" in messages[2]


def test_duplicate_labels_point_at_both():
    e = error_of(net("a: conv3-8;\n a: conv3-8"))
    d = e.first
    assert d.message == "duplicate label 'a'" and d.span.line == 4 and d.notes[0].span.line == 3


def test_recursive_blocks_are_an_error():
    e = error_of("block a(c) { b(c) }\nblock b(c) { a(c) }\nnetwork n { input 3x8x8; a(4) }")
    assert "recursive block definition: a -> b -> a" in e.first.message


def test_block_argument_errors():
    src = "block b(c, s = 1) { conv3-c/s }\nnetwork n { input 3x8x8; b(4, t=2) }"
    d = error_of(src).first
    assert d.message == "block 'b' has no parameter 't'"
    d = error_of("block b(c) { conv3-c }\nnetwork n { input 3x8x8; b() }").first
    assert d.message == "block 'b' needs argument 'c'"


def test_labels_that_would_break_the_generated_python_are_refused():
    for label in ("forward", "class", "in_channels", "_hidden"):
        e = error_of(net(f"{label}: conv3-8"))
        assert "reserved in the generated Python" in e.first.message


def test_use_paths_are_relative_to_the_including_file(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "blocks.arch").write_text("block cbr(c) { conv3-c; bn; relu }\n")
    main = tmp_path / "main.arch"
    main.write_text('use "lib/blocks.arch";\nnetwork n { input 3x8x8; cbr(8) }\n')
    import archdsl

    assert archdsl.build(main).layers[-1].out_shape == (8, 8, 8)


def test_use_cycles_and_missing_files(tmp_path):
    (tmp_path / "a.arch").write_text('use "b.arch";\nblock x(c) { conv3-c }\n')
    (tmp_path / "b.arch").write_text('use "a.arch";\nblock y(c) { conv3-c }\n')
    (tmp_path / "main.arch").write_text('use "a.arch";\nuse "missing.arch";\nnetwork n { input 3x8x8; x(4) }\n')
    import archdsl

    try:
        archdsl.build(tmp_path / "main.arch")
    except ArchError as exc:
        messages = [d.message for d in exc.diagnostics]
    assert any(m.startswith("`use` cycle: a.arch -> b.arch -> a.arch") for m in messages)
    assert any(m.startswith("cannot read 'missing.arch'") for m in messages)


def test_the_ir_and_its_records_print_as_one_line_each():
    ir = build(net("conv3-8; relu; maxpool", "3x8x8"))
    assert repr(ir) == "<IR of network t in test.arch: 5 layers, input 3x8x8>"
    assert repr(ir.layers[1]) == "<Layer 1 conv3-8 at conv1 -> 8x8x8>"
    ir = archdsl.build(ROOT / "architectures" / "resnet18.arch")
    block = ir.instances[1]
    assert repr(block) == "<Instance 1: block basic at layer1.0>"
    assert repr(block.container) == "<Container class layer1.0: 7 members>"
    assert repr(block.container.members[0]) == "<Member layer1.0.conv1 (layer conv)>"
    assert repr(ir.instances[0]) == "<Instance 0: the network>"
    assert all(len(repr(x)) < 120 for x in [*ir.layers, *ir.instances, *(s for i in ir.instances for s in i.steps)])


def test_kinds_paths_and_sites_are_values_that_print_as_the_words_they_stand_for():
    ir = archdsl.build(ROOT / "architectures" / "resnet18.arch")
    block = ir.instances[3]
    assert block.path == ModulePath(("layer2", "0")) and str(block.path) == "layer2.0"
    assert [s.kind for s in block.steps] == [StepKind.RESIDUAL, StepKind.APPLY]
    members = block.container.members
    assert [(str(m.site), m.kind, str(m.path)) for m in members[4:]] == [
        ("/0/body/4", MemberKind.LAYER, "layer2.0.bn2"),
        ("/0/sc", MemberKind.SHORTCUT, "layer2.0.downsample"),
        ("/1", MemberKind.LAYER, "layer2.0.relu"),
    ]
    # Every use of a block has its members at the same sites: code generation pairs them up by site.
    assert members[5].site == Site().then(SiteKind.STMT, 0).then(SiteKind.SHORTCUT)
    assert ir.instances[4].members_by_site[members[5].site].path == ModulePath(("layer2", "1", "downsample"))
    # Enums compare, hash and serialise as the strings they replaced: JSON and CLI output are unchanged.
    assert MemberKind.LAYER == "layer" and {"add": 1}[Join.ADD] == 1 and f"{StepKind.SIDE}" == "side"
    kinds = [ir.layers[ir.output].op, members[0].kind, block.container.kind]
    assert json.dumps(kinds) == '["output", "layer", "class"]'


def test_a_member_keeps_its_path_only_once_it_and_the_members_above_it_are_named():
    root = Container(ContainerKind.CLASS, 0, None)
    group = Member(MemberKind.SEQ, None, "seq", Site(), Span("f", 1, 1), root)
    group.children = Container(ContainerKind.SEQ, 0, group)
    conv = Member(MemberKind.LAYER, None, "conv", Site(), Span("f", 1, 1), group.children)
    assert str(conv.path) == "?.?"  # read before naming (a diagnostic may): not kept
    conv.name = "0"
    assert str(conv.path) == "?.0"  # the group is not named yet: still not kept
    group.name = "features"
    assert str(conv.path) == "features.0" and conv.path is conv.path  # kept from now on
