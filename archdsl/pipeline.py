"""The compiler pipeline, end to end: parse -> AST -> graph IR -> shape check -> Python source -> module.

`archdsl.load()` builds the module by executing the very source `archdsl compile` writes, so what
users import and what they read are one thing.
"""

from __future__ import annotations

import ast as pyast
import contextlib
import gc
import linecache
import os
import re
import tempfile
import types
from pathlib import Path
from typing import Any

from archdsl import ast as A
from archdsl.codegen import Emitted, generate
from archdsl.errors import ArchError, Diagnostic, Span
from archdsl.ir import IR, expand
from archdsl.parser import load_program, parse_expression
from archdsl.shapes import infer

_SHAPE = re.compile(r"^\s*([0-9]+)\s*x\s*([0-9]+)\s*x\s*([0-9]+)\s*$")


@contextlib.contextmanager
def gc_paused():
    """Pause Python's cycle collector while compiling (reference counting still frees memory).

    A compile creates many objects that all stay alive until it ends, and the collector would
    re-scan them over and over: 30-40% of the time of a 10,000-layer compile (bench/scaling.py).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@gc_paused()
def build(path: str | Path | None = None, *, source: str | None = None, params: dict[str, Any] | None = None) -> IR:
    """Parse, expand and shape-check a network; `params` override its parameters (and `input`)."""
    program = load_program(path, text=source, file=None if source is None else str(path or "<string>"))
    overrides, input_shape = _overrides(params or {})
    ir = expand(program, overrides, input_shape)
    return infer(ir)


@gc_paused()
def compile_source(path: str | Path | None = None, *, source: str | None = None,
                   params: dict[str, Any] | None = None) -> Emitted:
    """The emitted PyTorch module for a network, checked to be valid Python."""
    emitted = generate(build(path, source=source, params=params))
    try:
        pyast.parse(emitted.source)
    except SyntaxError as exc:  # a bug in the code generator, never the user's input
        raise RuntimeError(f"archdsl generated invalid Python ({exc}); please report it") from exc
    return emitted


def load(path: str | Path | None = None, *, source: str | None = None, device: Any = None, **params: Any):
    """Compile a network and return an instance of its nn.Module (on `device`, if given)."""
    emitted = compile_source(path, source=source, params=params)
    module = module_from_source(emitted.source, str(path or "<string>"))
    model = getattr(module, emitted.class_name)()
    return model.to(device) if device is not None else model


def module_from_source(source: str, origin: str) -> types.ModuleType:
    """Execute emitted source as a fresh module; its lines show in tracebacks as `<archdsl: origin>`."""
    filename = f"<archdsl: {origin}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(f"archdsl_generated_{abs(hash(source))}")
    module.__file__ = filename
    # The one exec in archdsl: it runs the emitted module (already checked with ast.parse), nothing else.
    exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102
    return module


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
            exprs[name] = A.Number(span=where, value=value)
        elif isinstance(value, str):
            exprs[name] = parse_expression(value, f"<--set {name}>")
        else:
            raise ArchError(Diagnostic(f"parameter '{name}' must be a number or true/false, got {value!r}"))
    return exprs, input_shape


def _input_shape(value: Any) -> tuple[int, int, int]:
    if isinstance(value, str):
        match = _SHAPE.match(value)
        if match:
            return tuple(int(g) for g in match.groups())  # type: ignore[return-value]
    elif isinstance(value, tuple | list) and len(value) == 3 and all(isinstance(v, int) for v in value):
        return tuple(value)  # type: ignore[return-value]
    raise ArchError(Diagnostic(f"input must be CxHxW, e.g. 3x224x224; got {value!r}"))


def write_atomic(path: str | Path, text: str | bytes) -> None:
    """Write a file (text, or bytes such as a PNG) so that a failure leaves any previous version untouched."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if isinstance(text, bytes) else "w",
                       encoding=None if isinstance(text, bytes) else "utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
