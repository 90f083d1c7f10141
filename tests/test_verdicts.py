"""`archdsl check` and `archdsl compile` agree: every network the shape check accepts is compiled,
loaded and run with the shapes it predicted; what it rejects, compile rejects with the same words.

Code generation used to refuse blocks whose uses differ in ways one class could not write
(features after a flatten, a padding, a shortcut's stride); such sizes are now constructor
arguments of the block's class, like `in_channels`, and codegen reports no errors of its own.
tools/fuzz.py checks the same agreement on every input it makes.
"""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest
import torch
from helpers import ROOT

import archdsl
from archdsl.errors import ArchError
from archdsl.shapes.inference import total_params

SIDE_HEADS = """block head(n) { flatten; fc-n }
network T { input 3x8x8; conv3-4; a1: side<head(10)>; maxpool; a2: side<head(10)>; gap; flatten; fc-10 }
"""

ACCEPTED = {
    "flatten in a block used on two map sizes": SIDE_HEADS,
    "... one level down": """block head(n) { flatten; fc-n }
block h2 { head(10) }
network T { input 3x8x8; conv3-4; a1: side<h2>; maxpool; a2: side<h2>; gap; flatten; fc-10 }""",
    "... through a block whose own uses agree": """block head(n) { flatten; fc-n }
block h2 { head(10) }
network T { input 3x8x8; conv3-4; a1: side<head(10)>; maxpool; a2: side<h2>; a3: side<h2>; gap; flatten; fc-10 }""",
    "... inside a labelled group, three uses": """block head(n) { f: (flatten; fc-n); relu }
network T { input 3x8x8; conv3-4; a1: side<head(10)>; maxpool; a2: side<head(10)>; a3: side<head(10)>;
            gap; flatten; fc-10 }""",
    "... and flat features through a block": """block head(n) { flatten; fc-n }
block mlp(n) { head(n); relu; fc-n }
network T { input 3x8x8; conv3-4; a1: side<mlp(10)>; maxpool; a2: side<mlp(12)>; gap; flatten; fc-10 }""",
    "'same' padding that no formula of the kernel gives": """block b(k) { conv-8(kernel=k, dilation=2) }
network T { input 3x16x16; b(2); b(3); gap; flatten; fc-10 }""",
    "shortcut stride that no stride expression gives": """block r { residual< conv3-8; avgpool(output=4) > }
network T { input 3x16x16; conv3-8; r; conv3-8; r; gap; flatten; fc-10 }""",
    "rectangular zero-padding shortcut": """network T { input 3x16x16; conv3-8;
    residual(shortcut=pad)< conv3-16; maxpool2x1 >; gap; flatten; fc-10 }""",
    "rectangular projection shortcut": """network T { input 3x16x16; conv3-8; residual< conv3-16; maxpool2x1 >;
    gap; flatten; fc-10 }""",
    "rectangular shortcut in a block used twice": """block r(c) { residual(shortcut=pad)< conv3-c; maxpool2x1 > }
network T { input 3x16x16; conv3-8; r(16); r(16); r(32); gap; flatten; fc-10 }""",
    "a rectangular stride passed on as a pair": """block r { residual(shortcut=pad)<avgpool(output=2)> }
block w { r }
network T { input 3x4x4; conv3-8; a: side<maxpool1x2; r; gap; flatten; fc-10>; w; gap; flatten; fc-10 }""",
    "two zero-padding shortcuts in one class": """network T { input 3x16x16; conv3-8;
    residual(shortcut=pad)< conv3-16/2 >; residual(shortcut=pad)< conv3-32 >; gap; flatten; fc-10 }""",
    "projection needed in some uses only": """block r(s) { residual< conv3-8/s; maxpool(kernel=1, stride=1) > }
network T { input 3x16x16; conv3-8; r(1); r(2); conv3-16; r(1); gap; flatten; fc-10 }""",
    "projection decided by the map size alone": """block r { residual< conv3-8; avgpool(output=4) > }
network T { input 3x8x8; conv3-8; r; conv3-16; r; r; gap; flatten; fc-10 }""",
}

REJECTED = {
    "no strided shortcut fits": """block r { residual< conv3-8; avgpool(output=4) > }
network T { input 3x16x16; conv3-8; r; maxpool2; r; gap; flatten; fc-10 }""",
    "fc on a feature map in one use": """block head { fc-10 }
network T { input 3x8x8; conv3-4; a1: side<(flatten; head)>; a2: side<head>; gap; flatten; fc-10 }""",
    "even kernel with 'same' padding in one use": """block b(k) { conv-8(kernel=k) }
network T { input 3x16x16; b(3); b(2); gap; flatten; fc-10 }""",
}


@pytest.mark.parametrize("source", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_what_check_accepts_compiles_and_runs_with_the_predicted_shapes(source):
    ir = archdsl.build("t.arch", source=source)
    model = archdsl.load("t.arch", source=source)
    assert sum(p.numel() for p in model.parameters()) == total_params(ir)
    x = torch.randn(2, *ir.input_shape)
    with torch.no_grad():
        assert tuple(model.eval()(x).shape) == (2, *ir.layers[ir.output].out_shape)
        out = model.train()(x)
    main = out if isinstance(out, torch.Tensor) else out[0]
    assert tuple(main.shape) == (2, *ir.layers[ir.output].out_shape)
    for name, node in ir.sides.items():
        assert tuple(getattr(out, name).shape) == (2, *ir.layers[node].out_shape), name


@pytest.mark.parametrize("source", REJECTED.values(), ids=REJECTED.keys())
def test_what_check_rejects_compile_rejects_with_the_same_diagnostics(source):
    with pytest.raises(ArchError) as checked:
        archdsl.build("t.arch", source=source)
    with pytest.raises(ArchError) as compiled:
        archdsl.compile_source("t.arch", source=source)
    assert compiled.value.render() == checked.value.render()


def test_a_block_takes_the_sizes_that_differ_between_its_uses_as_arguments():
    source = archdsl.compile_source("t.arch", source=SIDE_HEADS).source
    assert "def __init__(self, in_channels: int, n: int, *, flatten_features: int) -> None:" in source
    assert "self.a1 = Head(4, 10, flatten_features=256)" in source
    assert "self.a2 = Head(4, 10, flatten_features=64)" in source


def test_check_and_compile_agree_on_the_command_line(tmp_path):
    path = tmp_path / "heads.arch"
    path.write_text(SIDE_HEADS)
    for command in (["check", "-q", str(path)], ["compile", str(path), "-o", str(tmp_path / "heads.py")]):
        result = subprocess.run([sys.executable, "-m", "archdsl", *command], capture_output=True, text=True,
                                timeout=120, check=False, cwd=ROOT)
        assert result.returncode == 0, (command, result.stderr)


def test_code_generation_reports_no_errors_of_its_own():
    # Every user error is the checker's: an error raised only by codegen would make `check` pass
    # programs that `compile` rejects.
    tree = ast.parse((ROOT / "archdsl" / "pytorch" / "codegen.py").read_text(encoding="utf-8"))
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert "ArchError" not in names and "Reporter" not in names
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "Diagnostic"]
