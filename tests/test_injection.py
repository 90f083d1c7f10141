"""Injection-proof code generation: hostile names, labels, values and paths never become code.

Every case must end in one of two ways: an ArchError pointing at the input, or emitted code
that passes the guard (guard.py), loads, and runs a forward pass. Nothing else: no traceback,
no file written by the input, no name of the input's choosing in the module's namespace.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
import torch
from helpers import ROOT

import archdsl
from archdsl.errors import ArchError
from archdsl.pipeline import build, compile_source
from archdsl.pytorch.codegen import generate
from archdsl.pytorch.guard import UnsafeCode, check_emitted


def _net(body: str, params: str = "", blocks: str = "") -> str:
    return f"{blocks}\nnetwork n{params} {{ input 3x8x8; {body} }}\n"


REJECTED = {
    # labels: Python keywords, nn.Module attributes, private names, the generated code's own names
    "label class": (_net("class: relu"), "'class' cannot be used as a label name"),
    "label __init__": (_net("__init__: relu"), "'__init__' cannot be used as a label name"),
    "label forward": (_net("forward: relu"), "'forward' cannot be used as a label name"),
    "label _modules in a group": (_net("f: (_modules: relu; bn)"), "'_modules' cannot be used as a label name"),
    "label None": (_net("None: relu"), "'None' cannot be used as a label name"),
    "label self": (_net("self: relu"), "'self' cannot be used as a label name"),
    "side output named out": (_net("out: side<relu>"), "'out' names the main output"),
    "side output named training": (_net("training: side<relu>"), "'training' cannot be used as a label name"),
    # parameters: they become Python arguments
    "network parameter lambda": (_net("relu", "(lambda = 1)"), "'lambda' cannot be used as a parameter name"),
    "block parameter self": (_net("b(1)", blocks="block b(self) { relu }"), "'self' cannot be used as a parameter"),
    "block parameter nn": (_net("b(4)", blocks="block b(nn) { conv3-nn }"), "'nn' cannot be used as a parameter"),
    "block parameter in_channels": (_net("b(4)", blocks="block b(in_channels) { conv3-in_channels }"),
                                    "'in_channels' cannot be used as a parameter"),
    "block parameter __class__": (_net("b(4)", blocks="block b(__class__) { conv3-__class__ }"),
                                  "'__class__' cannot be used as a parameter"),
    "block parameter True": (_net("b(4)", blocks="block b(True) { conv3-True }"), "'True' cannot be used"),
    "block parameter twice": (_net("b(4, 4)", blocks="block b(c, c) { conv3-c }"), "two parameters named 'c'"),
    "network parameter twice": (_net("relu", "(a = 1, a = 2)"), "two parameters named 'a'"),
    # option values: only numbers and the padding words reach the code
    "string-like option value": (_net("bn(eps=same)"), "undefined name 'same'"),
    "infinite float": (_net("bn(eps=1e999)"), "number 1e999 is too large"),
    "overflowing product": (_net("bn(eps=1e300 * 1e300)"), "the value of this expression is too large"),
    "huge integer": (_net("conv3-" + "9" * 5000), "is too large"),
    "quote in a name": (_net('conv3-8(bias=fal"se)'), "unexpected character '\"'"),
    "python in an option": (_net("conv3-8(bias=__import__('os'))"), "unexpected '('"),
    # include paths
    "use of a device": ('use "/dev/zero";' + _net("relu"), "`use` takes .arch files only"),
    "use of a directory": ('use "..";' + _net("relu"), "`use` takes .arch files only"),
    "use of a directory named .arch": ('use "dir.arch";' + _net("relu"), "not a regular file"),
    "use of a secret": ('use "/proc/self/environ";' + _net("relu"), "`use` takes .arch files only"),
    "use of a binary .arch file": ('use "binary.arch";' + _net("relu"), "not a text file (it holds NUL bytes)"),
    "use of a missing file": ('use "no/such.arch";' + _net("relu"), "No such file or directory"),
    "use with a quote": ('use "a";"b";' + _net("relu"), "unexpected"),
    "use with a NUL byte": ('use "a\x00b";' + _net("relu"), "not a text file (it holds NUL bytes)"),
}


@pytest.mark.parametrize("source, message", REJECTED.values(), ids=REJECTED.keys())
def test_hostile_input_is_rejected_with_a_diagnostic(source, message, tmp_path):
    path = tmp_path / "hostile.arch"
    path.write_text(source)
    (tmp_path / "dir.arch").mkdir()
    (tmp_path / "binary.arch").write_bytes(b"block b() { relu }\x00\x1b[2J")
    with pytest.raises(ArchError) as info:
        compile_source(path)
    rendered = info.value.render()
    assert message in rendered
    assert "PATH=" not in rendered and "\x1b" not in rendered  # nothing leaks, no raw escape reaches a terminal


ACCEPTED = {
    "network named None": _net("relu").replace("network n", "network None"),
    "network named __import__": _net("relu").replace("network n", "network __import__"),
    "network named Tensor": _net("relu").replace("network n", "network Tensor"),
    "network named nn": _net("conv3-4").replace("network n", "network nn"),
    "block named None": _net("None", blocks="block None { relu }"),
    "block named torch": _net("torch", blocks="block torch { conv3-4 }"),
    "padding word shadowed by a parameter": _net("conv3-4(padding=valid)", "(valid = 1)"),
}


@pytest.mark.parametrize("source", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_legal_but_awkward_names_give_safe_working_code(source):
    model = archdsl.load("odd.arch", source=source)
    model.eval()
    assert model(torch.zeros(1, 3, 8, 8)).shape[0] == 1


def test_a_hostile_file_name_cannot_escape_the_docstring(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where the injected command would leave its mark
    path = tmp_path / 'evil"""+__import__("os").system("touch pwned")+""".arch'
    path.write_text(_net("conv3-4"))
    emitted = compile_source(path)
    assert '"""+' not in emitted.source
    archdsl.load(path)
    out = tmp_path / "out.py"
    result = subprocess.run([sys.executable, "-m", "archdsl", "compile", str(path), "-o", str(out)],
                            capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    subprocess.run([sys.executable, str(out)], capture_output=True, timeout=120, check=True, cwd=tmp_path)
    assert not (tmp_path / "pwned").exists()


# The guard itself must fail on code the IR does not describe (else it guards nothing).
TAMPERED = {
    "an import": lambda s: s + "\nimport os\n",
    "a call to exec": lambda s: s + "\nexec('1')\n",
    "a dunder attribute": lambda s: s.replace("super().__init__()", "super().__init__()\n        x = self.__dict__", 1),
    "an extra class": lambda s: s + "\nclass Extra(nn.Module):\n    pass\n",
    "an unknown attribute":
        lambda s: s.replace("super().__init__()", "super().__init__()\n        self.evil = nn.ReLU()", 1),
    "a non-identifier string": lambda s: s.replace("super().__init__()", "super().__init__()\n        y = 'a b'", 1),
    "a syntax error": lambda s: s + "\ndef (\n",
}


@pytest.mark.parametrize("tamper", TAMPERED.values(), ids=TAMPERED.keys())
def test_the_guard_refuses_code_the_ir_does_not_describe(tamper):
    ir = build(ROOT / "architectures" / "googlenet.arch")
    emitted = generate(ir)
    check_emitted(emitted.source, ir, emitted.block_classes, emitted.class_name, emitted.outputs_class)
    bad = dataclasses.replace(emitted, source=tamper(emitted.source))
    with pytest.raises(UnsafeCode):
        check_emitted(bad.source, ir, bad.block_classes, bad.class_name, bad.outputs_class)


def test_a_group_mixing_labelled_and_unlabelled_layers_passes_the_guard():
    # Found by tools/fuzz.py: such a group is an nn.Sequential of an OrderedDict whose unlabelled
    # layers have the keys "0", "1", ...; the guard refused those strings as non-identifiers.
    source = _net("f: (conv3-4; relu; a: maxpool); flatten; fc-3")
    emitted = compile_source("mixed.arch", source=source)
    assert '("0", nn.Conv2d(' in emitted.source
    model = archdsl.load("mixed.arch", source=source).eval()
    assert model(torch.zeros(1, 3, 8, 8)).shape == (1, 3)


def test_a_nul_byte_in_a_use_path_given_as_text_is_a_diagnostic():
    # A file holding a NUL byte is refused when read; text given directly still reaches the path check.
    with pytest.raises(ArchError, match="a `use` path cannot contain a NUL character"):
        compile_source("t.arch", source='use "a\x00b.arch";' + _net("relu"))


def test_control_characters_never_reach_the_terminal_raw(tmp_path):
    # ESC and BEL in a comment on the faulty line and in the file's name: printed as \x1b and \x07.
    path = tmp_path / "evil\x1b[2J\x07.arch"
    path.write_text("network n { input 1x8x8; bogus }  # \x1b]0;owned\x07 \x1b[31m\n")
    with pytest.raises(ArchError) as info:
        compile_source(path)
    rendered = info.value.render()
    assert "\x1b" not in rendered and "\x07" not in rendered
    assert "\\x1b[2J\\x07.arch:1:26: error[unknown-word]" in rendered and "# \\x1b]0;owned\\x07" in rendered


def test_excerpts_of_a_huge_line_are_clipped_around_the_fault():
    # Every diagnostic used to repeat the whole line: 60 KB x many errors was gigabytes.
    source = "network n { input 1x8x8; " + "bogus; " * 9000 + "relu }"
    with pytest.raises(ArchError) as info:
        compile_source("t.arch", source=source)
    lines = info.value.render().split("\n")
    assert len(info.value.diagnostics) == 101  # 100 errors, then "stopping after 100 errors"
    assert max(len(line) for line in lines) < 250
    excerpt, caret = lines[1], lines[2]
    assert excerpt.startswith("  network n { input 1x8x8; bogus;") and caret.index("^") == excerpt.index("bogus")
    last = info.value.diagnostics[99].render({"t.arch": source}).split("\n")
    assert last[1].startswith("  ...") and last[1][last[2].index("^"):].startswith("bogus")


@pytest.mark.parametrize("value", ['8) { input 1x1x1; } use "/etc/passwd"; #', "8, _w = 9", "8) { input 1x1x1; relu }"])
def test_a_set_value_that_closes_its_wrapper_is_refused(value):
    # `--set c=8) { ... } use "/etc/passwd"; #` was accepted as c=8 (and read /etc/passwd).
    with pytest.raises(ArchError) as info:
        compile_source("t.arch", source=_net("conv3-c", "(c = 4)"), params={"c": value})
    assert info.value.first.code in ("bad-override", "syntax")
    assert "passwd" not in str(info.value.sources)


def test_budget_and_weights_errors_name_what_is_wrong(tmp_path, capsys):
    from archdsl.cli.main import main

    net = tmp_path / "n.arch"
    net.write_text(_net("conv3-4"))
    with pytest.raises(SystemExit):
        main(["check", str(net), "--budget", "max_params"])
    assert "--budget expects name=value, got 'max_params'" in capsys.readouterr().err
    assert main(["compile", str(net), "--weights", str(tmp_path), "-o", str(tmp_path / "m.py")]) == 1
    assert f"cannot read weights file {tmp_path}: it is a directory" in capsys.readouterr().err
    with pytest.raises(ArchError, match="has a dimension below 1"):
        compile_source("t.arch", source=_net("relu"), params={"input": (3, -8, 8)})


def test_expansion_stops_after_100_errors():
    # 3,000 misspelt uses among 3,000 blocks: each error's "did you mean" searched every block (minutes).
    blocks = "".join(f"block blk{i}() {{ relu }}\n" for i in range(3000))
    body = "; ".join(f"blx{i}()" for i in range(3000))
    with pytest.raises(ArchError) as info:
        compile_source("t.arch", source=blocks + _net(body))
    diagnostics = info.value.diagnostics
    assert len(diagnostics) == 101 and diagnostics[-1].code == "too-many-errors"
    assert diagnostics[-1].message == "stopping after 100 errors"


def test_a_long_chain_of_use_files_is_followed_without_recursion(tmp_path):
    # A chain of 1,100 files, each `use`ing the next, raised RecursionError (Python stops at 1,000 frames).
    for i in range(1100):
        nxt = f'use "f{i + 1}.arch";\n' if i < 1099 else ""
        (tmp_path / f"f{i}.arch").write_text(f"{nxt}block b{i}() {{ relu }}\n")
    main = tmp_path / "main.arch"
    main.write_text('use "f0.arch";\n' + _net("b1099(); b0()"))
    ir = archdsl.build(main)
    assert len(ir.program.blocks) == 1100 and len(ir.program.sources) == 1101


COLLISIONS = {
    # a side output named like the residual's local variable: its value was the residual's input
    "side output named identity": "network n { input 3x8x8; identity: side<gap; flatten; fc-10>; "
                                  "residual<conv3-3>; gap; flatten; fc-10 }",
    "labels named like the pad shortcut's attributes": "network n { input 3x8x8; shortcut_stride: conv3-3; "
                                                       "residual(shortcut=pad)<conv3-6/2>; shortcut_channels: relu; "
                                                       "gap; flatten; fc-10 }",
    "block parameter named like a block class": "block a(c) { conv3-c }\nblock bb(A) { a(A) }\n"
                                                "network n { input 3x8x8; bb(4); gap; flatten; fc-10 }",
    # forward's local `NOutputs` hid the class it returns (TypeError: 'Tensor' object is not callable)
    "side output named like the outputs class": "network n { input 3x8x8; NOutputs: side<gap; flatten; fc-10>; "
                                                "gap; flatten; fc-10 }",
    "network named like an import": "network Path { input 3x8x8; conv3-4; gap; flatten; fc-10 }",
}


@pytest.mark.parametrize("source", COLLISIONS.values(), ids=COLLISIONS.keys())
def test_generated_names_never_collide_with_user_names(source, tmp_path):
    import torch

    path = tmp_path / "n.arch"
    path.write_text(source)
    model = archdsl.load(path)
    x = torch.randn(2, 3, 8, 8)
    out = model.train()(x)
    main = out[0] if isinstance(out, tuple) else out
    assert main.shape == (2, 10)
    if "identity:" in source:
        assert out.identity.shape == (2, 10)  # the side output, not the residual's input
    assert model.eval()(x).shape == (2, 10)
    # with weights written next to it, the module's pretrained() still finds pathlib's Path
    from archdsl.cli.main import main as cli

    torch.save(model.state_dict(), tmp_path / "w.pth")
    assert cli(["compile", str(path), "--weights", str(tmp_path / "w.pth"), "-o", str(tmp_path / "m.py")]) == 0
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", "import m; m.pretrained()"], cwd=tmp_path, capture_output=True,
                         text=True, check=False)
    assert run.returncode == 0, run.stderr


def test_parameters_may_not_hide_the_emitted_module_s_imports():
    with pytest.raises(ArchError, match="'OrderedDict' cannot be used as a parameter name"):
        compile_source("t.arch", source=_net("conv3-OrderedDict", "(OrderedDict = 4)"))


CHECK_ACCEPTED_THEN_CRASHED = {
    # each passed `check`, then its forward raised
    "side output in a residual body": (_net("residual< a: side<gap; flatten; fc-10>; conv3-3 >; gap; flatten; fc-10",
                                            "3x8x8"), "misplaced-side"),
    "side output in an inception branch": (_net("inception< (a: side<gap; flatten; fc-10>; conv3-4) | conv3-4 >",
                                                "3x8x8"), "misplaced-side"),
    "softmax over a dimension the tensor lacks": (_net("conv3-4; softmax(dim=7)", "3x8x8"), "bad-dim"),
}


@pytest.mark.parametrize("source, code", CHECK_ACCEPTED_THEN_CRASHED.values(), ids=CHECK_ACCEPTED_THEN_CRASHED.keys())
def test_what_check_accepted_and_the_forward_refused_is_now_refused_by_check(source, code):
    with pytest.raises(ArchError) as info:
        archdsl.build("t.arch", source=source)
    assert info.value.first.code == code


def test_features_may_not_name_a_side_output():
    # side outputs run in training mode only: in eval the feature's hook never fired (KeyError)
    source = _net("conv3-4; aux: side<gap; flatten; fc-10>; gap; flatten; fc-10", "3x8x8")
    with pytest.raises(ArchError, match="feature 'aux' is in the side output 'aux', which runs in training mode only"):
        archdsl.load("t.arch", source=source, features=["aux"])


def test_every_attribute_of_torch_s_module_classes_is_reserved():
    # A label is an attribute of an nn.Module (an nn.Sequential inside a labelled group): one the
    # class already has is refused by add_module at construction (`compile`, torch 2.2's, was not).
    from archdsl.ir.reserved import MODULE_ATTRIBUTES

    public = {n for cls in (torch.nn.Module, torch.nn.Sequential) for n in dir(cls) if not n.startswith("_")}
    public |= {n for n in vars(torch.nn.Module()) if not n.startswith("_")}
    assert public <= MODULE_ATTRIBUTES, sorted(public - MODULE_ATTRIBUTES)


FOUND_BY_THE_NAME_FUZZER = {
    # check accepted each; then the module's construction raised, or the guard refused the emitted code
    "label named like nn.Module.compile": _net("gap; flatten; compile: fc-10"),
    "label named like nn.Sequential.append": _net("g: (append: conv3-4; relu); gap; flatten; fc-10"),
    "network parameter named open": _net("conv3-open; gap; flatten; fc-10", "(open = 4)"),
    "block parameter named exec": "block b(exec) { conv3-exec }\n" + _net("b(4); gap; flatten; fc-10"),
    "side output named vars": _net("vars: side<gap; flatten; fc-10>; gap; flatten; fc-10"),
    # its unlabelled use was the attribute `__dict__1`, which the guard refused (a dunder attribute)
    "block named __dict__": "block __dict__(c) { conv3-c }\n" + _net("__dict__(4); gap; flatten; fc-10"),
}


@pytest.mark.parametrize("source", FOUND_BY_THE_NAME_FUZZER.values(), ids=FOUND_BY_THE_NAME_FUZZER.keys())
def test_names_the_emitted_module_cannot_take_are_refused_by_check(source):
    with pytest.raises(ArchError) as info:
        build("t.arch", source=source)
    assert info.value.first.code == "reserved-name"


def test_numbered_attribute_names_go_around_the_module_s_own():
    # The 16th unlabelled use of a block `bfloat` was the attribute `bfloat16`: nn.Module's method,
    # so add_module refused it when the network was built (KeyError), after check had said yes.
    source = _net("bfloat(); " * 16 + "gap; flatten; fc-10", blocks="block bfloat() { relu }")
    model = archdsl.load("t.arch", source=source)
    assert callable(model.bfloat16) and model(torch.randn(1, 3, 8, 8)).shape == (1, 10)
