"""The JSON that archdsl prints, one pydantic model per output: `summary --json`, `diff --json`,
`check --json` (a record per diagnostic) and `list --json`. `archdsl schema NAME` prints a model's JSON
Schema, and the tests validate every output against its model.

The commands build their dicts directly and print them with json's C encoder: `archdsl summary vgg16
--json` is a speed target (bench/summary_speed.py) and importing pydantic alone costs more than the
whole summary. The models are the contract those dicts keep (`extra="forbid"`: a key added to a dict
and not to its model fails the tests).
"""

from __future__ import annotations

import html
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from archdsl.errors import Diagnostic


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- check --json ---------------------------------------------------------------------------------
class Position(_Model):
    line: int
    column: int


class NoteRecord(_Model):
    message: str
    file: str | None
    line: int | None
    column: int | None


class DiagnosticRecord(_Model):
    """One diagnostic of `archdsl check --json` (a JSON object a line)."""

    file: str | None = Field(description="the file it is in; null for a problem of no file (a --set value)")
    line: int | None
    column: int | None
    end: Position | None = Field(description="where the marked region ends, when it is known")
    severity: Literal["error", "warning"]
    code: str = Field(description="the stable name of the kind of problem, as in error[CODE] of the text output")
    message: str
    hints: list[str]
    notes: list[NoteRecord]

    @classmethod
    def of(cls, d: Diagnostic) -> DiagnosticRecord:
        span = d.span
        end = None
        if span is not None and span.end_line is not None and span.end_column is not None:
            end = Position(line=span.end_line, column=span.end_column)
        notes = [NoteRecord(message=n.message, file=n.span.file if n.span else None,
                            line=n.span.line if n.span else None, column=n.span.column if n.span else None)
                 for n in d.notes]
        return cls(file=span.file if span else None, line=span.line if span else None,
                   column=span.column if span else None, end=end, severity=d.severity,  # type: ignore[arg-type]
                   code=d.code, message=d.message, hints=[d.hint] if d.hint else [], notes=notes)


# -- summary --json -------------------------------------------------------------------------------
class LayerFigures(_Model):
    name: str = Field(description="the module path (joins: their block's path and the op)")
    op: str
    layer: str = Field(description="the layer in the language's shorthand: conv7-64/2")
    input_shape: list[int]
    output_shape: list[int]
    params: int
    buffers: int
    macs: int
    ops: int = Field(description="other arithmetic (comparisons, exponentials...) of one forward pass")
    activation_bytes: int
    saved_bytes: int = Field(description="bytes it is first to keep for backward in training")
    eval: bool = Field(description="on the eval-mode path (false: a training-only side output)")


class BlockFigures(_Model):
    name: str
    block: str
    output_shape: list[int]
    params: int
    buffers: int
    macs: int
    ops: int
    activation_bytes: int
    saved_bytes: int


class TrainingMemory(_Model):
    param_bytes: int
    grad_bytes: int
    saved_bytes: int
    optimizer: str
    optimizer_bytes: int
    device: str


class Summary(_Model):
    """`archdsl summary --json`: the figures of one forward pass, per layer and per block."""

    file: str = Field(description="the network as named: a path, a bundled network's name, or - for standard input")
    network: str
    input: list[int]
    batch: int
    dtype: Literal["float32", "float16", "bfloat16", "mixed"] = Field(
        description="the dtype of the memory figures; mixed: as torch.autocast runs a float32 model")
    params: int
    buffers: int
    macs: int
    flops: int
    ops: int
    activation_bytes: int
    param_bytes: int
    train_bytes: int
    train: TrainingMemory
    depth: int
    layers: list[LayerFigures]
    blocks: list[BlockFigures]
    frozen_params: int
    outputs: dict[str, list[int]] = Field(default_factory=dict, description="the named outputs (`out: output<...>`) "
                                          "the network returns as a dict, in its order: name -> shape")

    # archdsl.summary() fills these in: the command's table, and the same rows for a notebook.
    _text: str = PrivateAttr(default="")
    _html: str = PrivateAttr(default="")

    def __repr__(self) -> str:
        return self._text or (f"Summary(network={self.network!r}, params={self.params:,}, macs={self.macs:,}, "
                              f"layers={len(self.layers)})")

    __str__ = __repr__

    def _repr_html_(self) -> str:
        return self._html or f"<pre>{html.escape(repr(self))}</pre>"


# -- diff --json ----------------------------------------------------------------------------------
class Compared(_Model):
    a: int
    b: int
    change: int


class DiffTotals(_Model):
    params: Compared
    macs: Compared
    activation_bytes: Compared
    train_bytes: Compared
    depth: Compared


class DiffSide(_Model):
    block: str
    output_shape: list[int]
    params: int
    macs: int
    activation_bytes: int


class DiffBlock(_Model):
    name: str
    status: Literal["=", "~", "+", "-"] = Field(description="= same, ~ changed, + only in B, - only in A")
    a: DiffSide | None
    b: DiffSide | None


class Diff(_Model):
    """`archdsl diff --json`: two networks compared block by block."""

    a: str = Field(description="network A as named: a path, a bundled network's name, or - for standard input")
    b: str = Field(description="network B, as A")
    totals: DiffTotals
    blocks: list[DiffBlock]


# -- list --json ----------------------------------------------------------------------------------
class Listed(_Model):
    name: str = Field(description="what every command and archdsl.load take")
    family: str
    network: str
    input: list[int]
    params: int
    macs: int


class Listing(_Model):
    """`archdsl list --json`: the bundled networks."""

    networks: list[Listed]


SCHEMAS: dict[str, type[BaseModel]] = {"summary": Summary, "diff": Diff, "diagnostic": DiagnosticRecord,
                                       "list": Listing}
