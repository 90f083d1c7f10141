"""`archdsl.load()`: a network compiled and instantiated as an nn.Module, by executing the very
source `archdsl compile` writes, so what users import and what they read are one thing."""

from __future__ import annotations

import linecache
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from archdsl.errors import ArchError, Diagnostic
from archdsl.ir.nodes import IR
from archdsl.pipeline import Freezing, build, compile_source
from archdsl.pytorch.codegen import Emitted


def load(path: str | Path | None = None, *, source: str | None = None, device: Any = None,
         weights: str | Path | Mapping[str, Any] | None = None, strict: bool = True, freeze: Freezing = None,
         features: list[str] | tuple[str, ...] | None = None, channels_last: bool = False, **params: Any):
    """Compile a network and return an instance of its nn.Module (on `device`, if given).

    `weights`: a state_dict file (.pth/.pt, read with weights_only=True) or .safetensors file, or a
    state_dict. Tensors whose shape a parameter changed (num_classes=5: a new head) are freshly
    initialised, everything else must fit unless strict=False; `model.load_report` says what happened.
    `freeze`: see build(). `features`: names of layers whose outputs the returned module gives as
    an OrderedDict, in that order (archdsl.pytorch.features.FeatureExtractor). `channels_last`: see compile_source().
    """
    emitted = compile_source(path, source=source, params=params, freeze=freeze, channels_last=channels_last)
    if device is None or str(device).startswith("cpu"):
        require_memory(build(path, source=source, params=params), "load")
    model = _instantiate(emitted, path, meta=str(device) == "meta")
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


def _instantiate(emitted: Emitted, path: str | Path | None, meta: bool = False):
    module = module_from_source(emitted.source, str(path or "<string>"))
    if meta:  # built where it is asked for: no storage to allocate on the CPU first, no values to draw
        import torch

        with torch.device("meta"):
            return getattr(module, emitted.class_name)()
    return getattr(module, emitted.class_name)()


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


def module_from_source(source: str, origin: str) -> types.ModuleType:
    """Execute emitted source as a fresh module; its lines show in tracebacks as `<archdsl: origin>`."""
    filename = f"<archdsl: {origin}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(f"archdsl_generated_{abs(hash(source))}")
    module.__file__ = filename
    # The one exec in archdsl: it runs the emitted module (already checked with ast.parse), nothing else.
    exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102
    return module
