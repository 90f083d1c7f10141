"""The compiler pipeline, end to end: parse -> AST -> graph IR -> shape check -> Python source -> module.

`archdsl.load()` builds the module by executing the very source `archdsl compile` writes, so what
users import and what they read are one thing.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archdsl.collector import gc_paused
from archdsl.errors import ArchError, Diagnostic, Span
from archdsl.frontend import ast as A
from archdsl.frontend.parser import load_program, parse_expression, parse_freeze
from archdsl.ir.expansion import expand
from archdsl.ir.freeze import resolve_freeze
from archdsl.ir.nodes import IR
from archdsl.resources import STDIN, network_path, standard_input
from archdsl.shapes.inference import infer, total_params
from archdsl.shapes.limits import DEFAULT, Budget, check_budget
from archdsl.shapes.lint import as_errors, lint

if TYPE_CHECKING:
    from archdsl.pytorch.codegen import Emitted

Freezing = str | list[str] | tuple[str, ...] | None  # see build()
_SHAPE = re.compile(r"^\s*([0-9]{1,18})\s*x\s*([0-9]{1,18})\s*x\s*([0-9]{1,18})\s*$")  # digits: as in files


@gc_paused()
def build(path: str | Path | None = None, *, source: str | None = None, params: dict[str, Any] | None = None,
          freeze: Freezing = None, budget: Budget = DEFAULT, strict: bool = False,
          program: A.Program | None = None) -> IR:
    """Parse, expand and shape-check a network; `params` override its parameters (and `input`).

    `freeze` overrides the file's `freeze` declaration: "up to layer3", ["conv1", "layer1"], or []
    for nothing; None keeps the declaration. `path` may name a bundled network (resources.network_path),
    or be "-" for standard input (whose `use` paths are relative to the current folder).
    `program`: the file already parsed with load_program() (the language server parses first, to
    outline a file whose network does not check).
    """
    if program is None:
        if source is None and str(path) == STDIN:
            path, source = "<stdin>", standard_input()
        elif source is None and path is not None:
            path = network_path(path)
        program = load_program(path, text=source, file=None if source is None else str(path or "<string>"),
                               max_tokens=budget.max_tokens)
    overrides, input_shape = _overrides(params or {})
    ir = infer(expand(program, overrides, input_shape, budget))
    check_budget(ir, budget, total_params(ir))
    ir.warnings = lint(ir)
    if strict and ir.warnings:
        raise as_errors(ir.warnings, ir.program.sources)
    ir.frozen = resolve_freeze(ir, ir.network.freeze if freeze is None else _freeze_decl(freeze))
    return ir


def _freeze_decl(freeze: str | list[str] | tuple[str, ...]) -> A.Freeze | None:
    text = freeze if isinstance(freeze, str) else ", ".join(freeze)
    return parse_freeze(text) if text.strip() else None


@gc_paused()
def compile_source(path: str | Path | None = None, *, source: str | None = None,
                   params: dict[str, Any] | None = None, freeze: Freezing = None,
                   budget: Budget = DEFAULT, strict: bool = False, fuse: bool = False,
                   weights_sha256: str | None = None, channels_last: bool = False) -> Emitted:
    """The emitted PyTorch module for a network, checked to be valid Python holding what the IR says.

    Its `warnings` are lint.py's; `strict` makes them errors. `fuse`: batch norms folded into the
    layers before them, for inference (`archdsl compile --fuse`; it loads archdsl.fuse(model)'s weights).
    `weights_sha256`: add `pretrained()`, which loads the .safetensors file written next to the module
    when its digest is this one.
    `channels_last`: weights and input in NHWC memory order (`archdsl compile --channels-last`).
    """
    # The back half of the pipeline is imported here: commands that stop at build() (check,
    # summary, viz) start faster without it.
    from archdsl.pytorch.codegen import generate
    from archdsl.pytorch.folding import fold_batchnorm
    from archdsl.pytorch.guard import check_emitted

    ir = build(path, source=source, params=params, freeze=freeze, budget=budget, strict=strict)
    if fuse:
        fold_batchnorm(ir)
    ir.channels_last = channels_last
    emitted = generate(ir, weights_sha256, reproduce_command(ir.file, params, freeze, fuse, channels_last))
    check_emitted(emitted.source, ir, emitted.block_classes, emitted.class_name, emitted.outputs_class,
                  weights_sha256)
    return dataclasses.replace(emitted, warnings=tuple(ir.warnings), sources=ir.program.sources)


def reproduce_command(file: str, params: dict[str, Any] | None, freeze: Freezing, fuse: bool,
                      channels_last: bool) -> str:
    """The `archdsl compile` command line that emits the same module: the emitted header records it,
    so that the `--set` values and options that made a module are never lost."""
    # Text given as a string has no file to name: FILE.arch stands for wherever it is kept.
    shown = STDIN if file == "<stdin>" else "FILE.arch" if not file or file == "<string>" else Path(file).name
    parts = ["archdsl", "compile", _quoted(shown)]
    for name, value in (params or {}).items():
        parts += ["--set", _quoted(f"{name}={_setting(value)}")]
    if freeze is not None:
        parts += ["--freeze", _quoted(freeze if isinstance(freeze, str) else ", ".join(freeze))]
    parts += ["--fuse"] * fuse + ["--channels-last"] * channels_last
    return " ".join(parts)


def _setting(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return "x".join(map(str, value))
    return str(value)


def _quoted(text: str) -> str:
    """Shell-quoted, and safe inside the module's docstring: no backslash, no run of three quotes,
    no control character (the values passed the expression parser already; this is the second lock)."""
    import shlex

    text = shlex.quote(text)
    if "\\" in text or '"' in text or any(ord(c) < 32 or ord(c) == 127 for c in text):
        return "'" + "".join(c if c.isalnum() or c in "=_-.,x +*/()" else "?" for c in text.strip("'")) + "'"
    return text


def _overrides(params: dict[str, Any]) -> tuple[dict[str, A.Expr], tuple[int, int, int] | None]:
    exprs: dict[str, A.Expr] = {}
    input_shape = None
    where = Span("<parameters>", 1, 1)
    for name, value in params.items():
        if name == "input":
            input_shape = _input_shape(value)
        elif isinstance(value, bool):
            exprs[name] = A.Boolean(span=where, value=value)
        elif isinstance(value, int | float):
            if isinstance(value, int) and abs(value) >= 10**18 or isinstance(value, float) and not math.isfinite(value):
                raise ArchError(Diagnostic(f"parameter '{name}' is too large: numbers have at most 18 digits, "
                                           "as in files", code="number-too-large"))
            exprs[name] = A.Number(span=where, value=value)
        elif isinstance(value, str):
            exprs[name] = parse_expression(value, f"<--set {name}>")
        else:
            raise ArchError(Diagnostic(f"parameter '{name}' must be a number or true/false, got {value!r}",
                                       code="bad-parameter-value"))
    return exprs, input_shape


def _input_shape(value: Any) -> tuple[int, int, int]:
    if isinstance(value, str):
        match = _SHAPE.match(value)
        if match:
            return tuple(int(g) for g in match.groups())  # type: ignore[return-value]
    elif isinstance(value, tuple | list) and len(value) == 3 and all(isinstance(v, int) for v in value):
        return tuple(value)
    raise ArchError(Diagnostic(f"input must be CxHxW, e.g. 3x224x224, numbers of at most 18 digits; "
                               f"got {value!r:.60}", code="bad-input-override"))
