"""archdsl: a declarative language for convolutional network architectures, and its compiler.

    import archdsl
    model = archdsl.load("architectures/resnet34.arch", num_classes=10)

The pipeline, one module per stage: parser -> ast -> ir -> shapes -> codegen (pipeline.py
chains them; cli.py is the command line).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from archdsl.errors import ArchError, Diagnostic
from archdsl.pipeline import build, compile_source, load
from archdsl.resources import architectures_dir, bundled_architectures

if TYPE_CHECKING:
    from archdsl.folding import fuse
    from archdsl.viz import draw

# Imported on first use (PEP 562): every `archdsl` command imports this package, and most never draw or fuse.
_LAZY = {"draw": "archdsl.viz", "fuse": "archdsl.folding"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'archdsl' has no attribute {name!r}")


__all__ = ["ArchError", "Diagnostic", "architectures_dir", "build", "bundled_architectures", "compile_source", "draw",
           "fuse", "load"]
__version__ = "0.1.0"
