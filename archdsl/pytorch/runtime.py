"""`archdsl.load()`: a network compiled and instantiated as an nn.Module, by executing the very
source `archdsl compile` writes, so what users import and what they read are one thing."""

from __future__ import annotations

import hashlib
import linecache
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archdsl.api import network_parameters
from archdsl.errors import ArchError, Diagnostic
from archdsl.ir.nodes import IR
from archdsl.origin import ATTRIBUTE, Origin
from archdsl.pipeline import Freezing, build, compile_source
from archdsl.pytorch.codegen import Emitted


def load(path: str | Path | None = None, *, source: str | None = None, params: Mapping[str, Any] | None = None,
         device: Any = None, weights: str | Path | Mapping[str, Any] | None = None, strict: bool = True,
         freeze: Freezing = None, features: list[str] | tuple[str, ...] | None = None, channels_last: bool = False,
         **network_params: Any) -> nn.Module:
    """Compile a network and return an instance of its nn.Module (on `device`, if given).

    `path`: an .arch file, a bundled network's name ("resnet34") or "-" for standard input; or `source`,
    the text. `params`: the network's parameters (and `input`), {"num_classes": 10}; any name works
    there, a parameter called `weights` or `device` too. Names that are not one of this function's
    keywords may also be passed directly: load("resnet34", num_classes=10).
    `weights`: a state_dict file (.pth/.pt, read with weights_only=True) or .safetensors file, or a
    state_dict. Tensors whose shape a parameter changed (num_classes=5: a new head) are freshly
    initialised, everything else must fit unless strict=False; `model.load_report` says what happened.
    `freeze`: see build(). `features`: names of layers whose outputs the returned module gives as
    an OrderedDict, in that order (archdsl.pytorch.features.FeatureExtractor). `channels_last`: see compile_source().

    The model remembers its origin (`model.archdsl_origin`: the .arch text, parameters, archdsl's
    version), so archdsl.draw(model) and archdsl.summary(model) take it, and it pickles: torch.save(model)
    then torch.load(..., weights_only=False) in another process, or a spawned DataLoader worker.
    """
    params = network_parameters(params, network_params, "load")
    if weights is not None and not isinstance(weights, str | Path | Mapping):  # load(net, weights=6): a network's?
        raise TypeError(f"load(weights=...) takes a state_dict or the path of a .pth, .pt or .safetensors file, not "
                        f"{type(weights).__name__}; a network parameter called weights goes in "
                        f"params={{'weights': {weights!r}}}")
    emitted = compile_source(path, source=source, params=params, freeze=freeze, channels_last=channels_last)
    if device is None or str(device).startswith("cpu"):
        require_memory(build(path, source=source, params=params), "load")
    model: Any = _instantiate(emitted, path, params, meta=str(device) == "meta")  # Any: it gains load_report below
    if weights is not None:
        from archdsl.pytorch.weights import load_weights

        defaults = _default_shapes(path, source) if params else None
        model.load_report = load_weights(model, weights, strict=strict, default_shapes=defaults)
    if features is not None:
        from archdsl.pytorch.features import FeatureExtractor

        model = FeatureExtractor.from_ir(model, build(path, source=source, params=params), features)
    return model.to(device) if device is not None else model


def require_memory(ir: IR, what: str, batch: int = 0) -> None:
    """Refuse, with the figures, to build a network whose weights (and, for `batch` samples, activations)
    would not fit in the memory this machine has free: allocating them would fail halfway or swap."""
    from archdsl.analysis.costs import FLOAT_BYTES, analyse

    analysis = analyse(ir)
    weights = (analysis.params + analysis.buffers) * FLOAT_BYTES
    need = weights + batch * analysis.activation_bytes
    free = available_memory()
    if free is not None and need > free:
        detail = f"{weights:,} bytes of weights" + (f" and {batch * analysis.activation_bytes:,} bytes of "
                                                   f"activations for a batch of {batch}" if batch else "")
        raise ArchError(Diagnostic(f"cannot {what} network {ir.network.name}: it needs {detail}, and this machine "
                                   f"has {free:,} bytes of memory free", code="out-of-memory",
                                   hint="check its channel and feature counts" + (", or use a smaller batch"
                                                                                  if batch else "")))


def available_memory() -> int | None:
    """Bytes of memory free for a new allocation (Linux: MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _instantiate(emitted: Emitted, path: str | Path | None, params: Mapping[str, Any] | None = None,
                 meta: bool = False) -> nn.Module:
    version = sys.modules["archdsl"].__version__  # the package is imported before any of its modules
    # Named as diagnostics name it (a bundled name resolved to its file), the key of its text in `sources`.
    file = next(iter(emitted.sources), str(path or "<string>"))
    origin = Origin(file, dict(emitted.sources), dict(params or {}), emitted.source, version)
    module = module_from_source(emitted.source, origin.file, origin)
    if meta:  # built where it is asked for: no storage to allocate on the CPU first, no values to draw
        with torch.device("meta"):
            model = getattr(module, emitted.class_name)()
    else:
        model = getattr(module, emitted.class_name)()
    setattr(model, ATTRIBUTE, origin)
    return model


def _default_shapes(path: str | Path | None, source: str | None) -> dict[str, tuple[int, ...]] | None:
    """Tensor shapes of the network with its default parameters, built without memory (meta device)."""
    import torch

    try:
        emitted = compile_source(path, source=source)
    except ArchError:  # e.g. a parameter without a default: no reference, so every difference is a mismatch
        return None
    with torch.device("meta"):
        model = _instantiate(emitted, path)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def module_from_source(source: str, origin: str, provenance: Origin | None = None) -> types.ModuleType:
    """Execute emitted source as a module; its lines show in tracebacks as `<archdsl: origin DIGEST>`.

    The module is registered in sys.modules under a name made of the source's digest, the same in
    every process, so that pickle finds its classes by name; with `provenance`, its nn.Module classes
    pickle as "rebuild this module from the source, then set the state" (`_reduce_ex`), so that a
    process that never compiled the network (torch.load, a spawned DataLoader worker) can rebuild it.
    """
    digest = hashlib.sha256(source.encode()).hexdigest()
    name = f"archdsl_generated_{digest[:20]}"
    # The digest in the file name too: one .arch file compiles to different sources (parameters, --fuse),
    # and each must keep its own lines in tracebacks.
    filename = f"<archdsl: {origin} {digest[:8]}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    existing = sys.modules.get(name)
    if existing is not None and getattr(existing, "__archdsl_source__", None) == source:
        if provenance is not None and not hasattr(existing, "__archdsl_origin__"):
            _picklable(existing, provenance)
        return existing
    module = types.ModuleType(name)
    module.__file__ = filename
    # The one exec in archdsl: it runs the emitted module (already checked with ast.parse), nothing else.
    exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102
    module.__archdsl_source__ = source  # type: ignore[attr-defined]
    if provenance is not None:
        _picklable(module, provenance)
    sys.modules[name] = module
    return module


def _picklable(module: types.ModuleType, provenance: Origin) -> None:
    module.__archdsl_origin__ = provenance  # type: ignore[attr-defined]
    for value in list(vars(module).values()):
        if isinstance(value, type) and issubclass(value, nn.Module) and value.__module__ == module.__name__:
            value.__reduce_ex__ = _reduce_ex  # type: ignore[method-assign,assignment]


def _reduce_ex(self: nn.Module, protocol: int):
    origin = sys.modules[type(self).__module__].__archdsl_origin__
    return _rebuild, (origin, type(self).__qualname__), self.__getstate__()


def _rebuild(origin: Origin, qualname: str) -> nn.Module:
    """An empty instance of a generated class (pickle then sets its state), its module rebuilt from
    the emitted source the origin carries if this process has not got it."""
    module = module_from_source(origin.python, origin.file, origin)
    cls = getattr(module, qualname)
    return cls.__new__(cls)
