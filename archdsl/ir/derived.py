"""`Derived`: what a layer's shape rule works out besides its output shape, for the stages after it.

Its own module, free of imports from the rest of archdsl, because the shape rules that write it live
in archdsl/layers, which nodes.py imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ShortcutDecision = Literal["identity", "projection", "pad", "none"]


@dataclass(slots=True)
class Derived:
    """What a layer's shape rule works out beyond its output shape, for the stages after it (code
    generation, folding, costs, lint, drawing). A record rather than a dict so that a misspelt name
    is a type error and an AttributeError, not a silent default. Each rule sets only its own fields
    (and replaces the whole record); None is "not this op's", or "shapes not inferred yet"."""

    in_channels: int | None = None  # conv, projection shortcut: the input's channels
    in_features: int | None = None  # fc: the input's features
    num_features: int | None = None  # bn, ln, gn: the channels (or flat features) normalised
    dims: int | None = None  # bn: 2 over feature maps (BatchNorm2d), 1 over flat features; matches Fold.absorbs
    positions: int | None = None  # ln, gn: positions per sample (h * w; 1 when flat): ln normalises each apart
    kernel: tuple[int, int] | None = None  # fixed-window maxpool, avgpool: the window
    stride: tuple[int, int] | None = None  # fixed-window pools; projection and pad shortcuts: the stride taken
    padding: tuple[int, int] | None = None  # conv, fixed-window pools: the padding on each side, `same` resolved
    adaptive: bool | None = None  # maxpool, avgpool: True with `output=` (adaptive), False for a fixed window
    # shortcut: identity, 1x1 conv + bn projection, zero-padding, or none (when_equal where the shapes differ)
    decision: ShortcutDecision | None = None
    pad_channels: int | None = None  # pad shortcut: the zero channels added
    pad_before: int | None = None  # pad shortcut: how many of them go before the input's channels (pad_both)
    folded: bool = False  # projection shortcut: its bn folded into the conv (fold_batchnorm, compile --fuse)
