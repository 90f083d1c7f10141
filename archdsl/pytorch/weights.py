"""Weights: reading state_dict files (.pth/.pt via torch.load, .safetensors), loading them with a report.

A `LoadReport` says which tensors loaded, which were missing, unexpected or shape-mismatched, and
which were freshly initialised because a network parameter (say `num_classes`) changed their
shape: that is how a head is replaced. Nothing is copied into a model until the whole file has
been read and checked, so a failed load leaves the model as it was.

torch and safetensors are imported inside the functions: `import archdsl` must stay torch-free.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archdsl.errors import ArchError, Diagnostic, Note
from archdsl.outputs import write_file

# Training scripts often save {"state_dict": ..., "epoch": ...}; these keys hold the weights.
_CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")
_SHOWN = 8  # tensor names listed per category before "... and N more"


@dataclass(frozen=True)
class Mismatch:
    key: str
    expected: tuple[int, ...]  # the model's shape
    found: tuple[int, ...]  # the file's shape


@dataclass
class LoadReport:
    """What happened to each tensor of a weights file when it met a model."""

    file: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # in the model, not in the file: left as initialised
    unexpected: list[str] = field(default_factory=list)  # in the file, not in the model: ignored
    mismatched: list[Mismatch] = field(default_factory=list)  # shapes differ: left as initialised
    # Expected differences, caused by the network parameters given (e.g. num_classes=5):
    reinitialised: list[Mismatch] = field(default_factory=list)  # reshaped layers: freshly initialised
    added: list[str] = field(default_factory=list)  # layers the parameters add: freshly initialised
    dropped: list[str] = field(default_factory=list)  # layers the parameters remove: ignored
    strict: bool = True

    @property
    def problems(self) -> bool:
        """True when the file does not fit the model beyond what the parameters explain."""
        return bool(self.missing or self.unexpected or self.mismatched)

    def sections(self) -> list[tuple[str, list[str]]]:
        """(what happened, tensor names) for every category that is not empty, `loaded` aside."""
        sections = [
            ("freshly initialised (shape changed by the parameters)", [_mismatch(m) for m in self.reinitialised]),
            ("freshly initialised (added by the parameters)", self.added),
            ("ignored (removed by the parameters)", self.dropped),
            ("shape mismatch (model <- file)", [_mismatch(m) for m in self.mismatched]),
            ("missing from the file", self.missing),
            ("unexpected (not in the model)", self.unexpected),
        ]
        return [(title, names) for title, names in sections if names]

    def render(self) -> str:
        total = len(self.loaded) + len(self.missing) + len(self.added) + len(self.mismatched) + len(self.reinitialised)
        lines = [f"{self.file}: loaded {len(self.loaded)} of the model's {total} tensors"]
        lines += [f"  {title}: {_listing(names)}" for title, names in self.sections()]
        return "\n".join(lines)

    __str__ = render


def _mismatch(m: Mismatch) -> str:
    return f"{m.key} {_shape(m.expected)} <- {_shape(m.found)}"


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) or "scalar"


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f", ... and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


# -- reading -----------------------------------------------------------------------------------
def read_state_dict(path: str | Path, max_bytes: int | None = None) -> dict[str, Any]:
    """A weights file as {name: tensor}; never unpickles code (torch.load with weights_only=True).

    `max_bytes`: refuse, before reading any tensor, a file whose tensors would take more (a .pth is a
    zip archive whose entries declare their uncompressed sizes: 20 MB of deflated zeros can declare 20 GB).
    """
    import torch

    path = Path(path)
    if not path.is_file():
        reason = "no such file" if not path.exists() else "it is a directory" if path.is_dir() else \
            "not a regular file (weights are read from a file, not a stream or device)"
        raise ArchError(Diagnostic(f"cannot read weights file {path}: {reason}", code="cannot-read-weights"))
    if max_bytes is not None:
        _check_declared_size(path, max_bytes)
    if path.suffix == ".safetensors":
        data = _read_safetensors(path)
    else:
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - torch raises many types for bad files; all mean "unreadable"
            raise ArchError(Diagnostic(f"cannot read weights file {path}: {_first_line(exc)}",
                                       hint=_unreadable_hint(exc), code="cannot-read-weights")) from None
    return _as_state_dict(data, path)


def _check_declared_size(path: Path, max_bytes: int) -> None:
    import zipfile

    declared = path.stat().st_size
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                declared = sum(entry.file_size for entry in archive.infolist())
        except (zipfile.BadZipFile, OSError):
            return  # torch.load reports what is wrong with it
    if declared > max_bytes:
        raise ArchError(Diagnostic(f"weights file {path} declares {declared:,} bytes of tensors; the model's take "
                                   f"{max_bytes:,} at most, so it cannot be its weights; nothing was read",
                                   hint="check that the file holds this network's state_dict",
                                   code="cannot-read-weights"))


def _read_safetensors(path: Path) -> dict[str, Any]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ArchError(Diagnostic(f"cannot read weights file {path}: {_first_line(exc)}",
                                   hint="the file is not a complete .safetensors file (truncated or another format?)",
                                   code="cannot-read-weights")
                        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _unreadable_hint(exc: BaseException) -> str:
    if "weights_only" in str(exc) or "Unsupported global" in str(exc):
        return ("the file holds Python objects other than tensors; archdsl loads only plain state_dicts "
                "and never runs code from a weights file")
    return "expected a state_dict saved with torch.save(model.state_dict(), path), or a .safetensors file"


def _as_state_dict(data: Any, path: Path) -> dict[str, Any]:
    import torch

    if isinstance(data, Mapping):
        for key in _CHECKPOINT_KEYS:
            if isinstance(data.get(key), Mapping):
                data = data[key]
                break
    if not isinstance(data, Mapping) or not data:
        kind = "an empty mapping" if isinstance(data, Mapping) else type(data).__name__
        raise ArchError(Diagnostic(f"{path} is not a state_dict: it holds {kind}",
                                   hint="save weights with torch.save(model.state_dict(), path)",
                                   code="not-a-state-dict"))
    bad = [str(k) for k, v in data.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise ArchError(Diagnostic(f"{path} is not a state_dict: these entries are not named tensors: "
                                   f"{_listing(bad)}", hint="save weights with torch.save(model.state_dict(), path)",
                                   code="not-a-state-dict"))
    # Only plain dense tensors with data: load_state_dict fails on meta, sparse or nested ones only after
    # it has copied others, and loading must be all or nothing.
    odd = [k for k, v in data.items() if v.layout != torch.strided or v.is_meta or v.is_nested]
    if odd:
        raise ArchError(Diagnostic(f"{path}: these tensors are not plain dense tensors with data (meta, sparse or "
                                   f"nested): {_listing(odd)}; nothing was loaded",
                                   hint="save the weights of a model that was run or loaded on a real device",
                                   code="not-a-state-dict"))
    return dict(data)


# -- matching ----------------------------------------------------------------------------------
def match(model_shapes: Mapping[str, tuple[int, ...]], file_shapes: Mapping[str, tuple[int, ...]], file: str,
          default_shapes: Mapping[str, tuple[int, ...]] | None = None, strict: bool = True) -> LoadReport:
    """Compare a model's tensors with a file's.

    `default_shapes` are the tensors of the same network built with its default parameters: a
    difference between those and the model's is the user's own doing (a new head), not a mismatch.
    """
    changed = default_shapes is not None
    defaults = default_shapes or {}
    report = LoadReport(file, strict=strict)
    for key, shape in model_shapes.items():
        found = file_shapes.get(key)
        if found is None:
            (report.added if changed and key not in defaults else report.missing).append(key)
        elif tuple(found) == tuple(shape):
            report.loaded.append(key)
        else:
            m = Mismatch(key, tuple(shape), tuple(found))
            explained = changed and key in defaults and tuple(defaults[key]) != tuple(shape)
            (report.reinitialised if explained else report.mismatched).append(m)
    for key in file_shapes:
        if key not in model_shapes:
            (report.dropped if changed and key in defaults else report.unexpected).append(key)
    return report


def load_weights(model, weights: str | Path | Mapping[str, Any], *, strict: bool = True,
                 default_shapes: Mapping[str, tuple[int, ...]] | None = None) -> LoadReport:
    """Copy the tensors of `weights` (a file or a state_dict) that fit into `model`; return the report.

    With `strict` (the default) any missing, unexpected or mismatched tensor raises ArchError and
    the model is left untouched. Otherwise what fits is loaded and the rest stays as initialised.
    """
    import torch

    own = model.state_dict()
    if isinstance(weights, Mapping):
        state, file = _as_state_dict(weights, Path("<state_dict>")), "<state_dict>"
    else:
        # Allowance: the model's own tensors as float64, plus a checkpoint's extras (optimizer state
        # is another copy or two) and the archive's overhead.
        own_bytes = sum(t.numel() for t in own.values()) * 8
        state, file = read_state_dict(weights, max_bytes=3 * own_bytes + (64 << 20)), str(weights)
    report = match({k: tuple(v.shape) for k, v in own.items()}, {k: tuple(v.shape) for k, v in state.items()},
                   file, default_shapes, strict)
    if strict and report.problems:
        notes = [Note(f"{title}: {_listing(names)}") for title, names in report.sections()]
        raise ArchError(Diagnostic(f"weights file {file} does not fit {type(model).__name__}; nothing was loaded",
                                   notes=notes, hint="to load only the tensors that fit, pass strict=False "
                                                     "(CLI: --partial)", code="weights-mismatch"))
    fitting = {k: state[k] for k in report.loaded}
    for key, tensor in fitting.items():  # checked before anything is copied: no half-loaded model
        if own[key].is_floating_point() != tensor.is_floating_point():
            raise ArchError(Diagnostic(f"weights file {file}: tensor {key} has dtype {tensor.dtype}, "
                                       f"the model's is {own[key].dtype}; nothing was loaded", code="weights-mismatch"))
    with torch.no_grad():
        model.load_state_dict(fitting, strict=False)
    return report


# -- writing -----------------------------------------------------------------------------------
def safetensors_bytes(model_or_state) -> bytes:
    """A model's (or a state_dict's) tensors in the .safetensors format."""
    from safetensors.torch import save

    state = model_or_state.state_dict() if hasattr(model_or_state, "state_dict") else model_or_state
    return save({k: v.detach().to("cpu").contiguous() for k, v in state.items()})


def save_weights(model_or_state, path: str | Path) -> None:
    """Write a .safetensors file atomically (a failure leaves any previous file untouched)."""
    write_file(path, safetensors_bytes(model_or_state))


# -- the emitted module's own reader -------------------------------------------------------------
# `archdsl compile --weights` writes NAME.safetensors next to NAME.py, and NAME.py carries these
# two functions so that it loads its weights with torch alone (no archdsl, no safetensors package).
# The text is fixed (only the class name, an identifier, is filled in); guard.py accepts it
# verbatim and nothing else outside the classes.
_LOADER = '''
def pretrained() -> {cls}:
    """{cls} with the weights archdsl wrote next to this file (this file's name, .safetensors)."""
    path = Path(__file__).with_suffix(".safetensors")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != "{sha256}":
        raise RuntimeError(f"{{path}} is not the weights file written with this module (its SHA-256 differs): "
                           "run `archdsl compile --weights` again to write the two together")
    model = {cls}()
    model.load_state_dict(read_safetensors(data))
    return model


def read_safetensors(file: str | Path | bytes) -> dict[str, torch.Tensor]:
    """A .safetensors file (its path, or its bytes) as a state_dict, read with torch alone.

    The format: 8 bytes giving the header's size, a JSON header giving each tensor's dtype, shape
    and byte range, then the tensors' bytes (little-endian).
    """
    dtypes = {{"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
              "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
              "BOOL": torch.bool}}
    data = file if isinstance(file, bytes) else Path(file).read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    header.pop("__metadata__", None)
    body = bytearray(data[8 + size:])
    state = {{}}
    for name, entry in header.items():
        dtype = dtypes[entry["dtype"]]
        start, end = entry["data_offsets"]
        flat = torch.frombuffer(body, dtype=dtype, count=(end - start) // dtype.itemsize, offset=start) \\
            if end > start else torch.empty(0, dtype=dtype)
        state[name] = flat.reshape(entry["shape"])
    return state
'''
LOADER_IMPORTS = ("hashlib", "json", "Path", "torch")  # what the loader needs from the emitted module's imports


def loader_source(class_name: str, sha256: str) -> str:
    """The functions an emitted module gets when weights are written next to it (see _LOADER):
    `pretrained()` refuses a weights file whose SHA-256 is not `sha256`, so a module and its weights
    can never be used mismatched, whatever happened to either file."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256) or not class_name.isidentifier():
        raise ValueError(f"loader_source: {class_name!r}, {sha256!r}")
    return _LOADER.format(cls=class_name, sha256=sha256).strip() + "\n"
