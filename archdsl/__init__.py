"""archdsl: a declarative language for convolutional network architectures, and its compiler.

    import archdsl
    model = archdsl.load("resnet34", params={"num_classes": 10})   # a bundled network, or any .arch file
    archdsl.summary("resnet34")                                    # parameters, MACs, memory: a table
    archdsl.draw(model, depth=1)                                   # a graphviz.Digraph

The pipeline, a package per stage: frontend (parse -> AST) -> ir (expansion into the graph IR)
-> shapes (shape check) -> pytorch (code generation, and running the result) or drawing;
analysis counts costs from the checked IR; pipeline.py chains the stages; cli/ is the command line.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from archdsl.collector import gc_paused

with gc_paused():  # every command imports this first: see collector.py
    from archdsl.errors import ArchError, Diagnostic

if TYPE_CHECKING:
    from archdsl.api import draw, summary
    from archdsl.pipeline import build, compile_source
    from archdsl.pytorch.folding import fuse
    from archdsl.pytorch.runtime import load
    from archdsl.resources import architectures_dir, bundled_architectures

# Each public function is imported on first use (PEP 562): every `archdsl` command imports this
# package, and a command imports only the stages it runs (`summary` never the API, `check` never
# the PyTorch back end); `from archdsl import build` and help(archdsl) import them as they ask.
_LAZY = {"draw": "archdsl.api", "summary": "archdsl.api", "build": "archdsl.pipeline",
         "compile_source": "archdsl.pipeline", "fuse": "archdsl.pytorch.folding", "load": "archdsl.pytorch.runtime",
         "architectures_dir": "archdsl.resources", "bundled_architectures": "archdsl.resources"}


def load_ipython_extension(ipython) -> None:
    """`%load_ext archdsl` in IPython or Jupyter: the `%%arch` cell magic (archdsl/notebook.py)."""
    from archdsl.notebook import load_ipython_extension as load_extension

    load_extension(ipython)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'archdsl' has no attribute {name!r}")


def __dir__() -> list[str]:
    # help(archdsl) and tab completion see the lazily imported functions too.
    return sorted(set(globals()) | set(__all__))


__all__ = ["ArchError", "Diagnostic", "architectures_dir", "build", "bundled_architectures", "compile_source", "draw",
           "fuse", "load", "load_ipython_extension", "summary"]
__version__ = "0.1.0"
