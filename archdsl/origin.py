"""Where a model from `archdsl.load` came from: the `.arch` text it was compiled from (and the files it
`use`s), the network parameters, the emitted Python and archdsl's version. The model carries it as
`model.archdsl_origin`, so that `archdsl.draw(model)` and `archdsl.summary(model)` need nothing else,
and a pickle of the model rebuilds its classes from it in a process that never compiled it
(pytorch/runtime.py's `__reduce_ex__`). Plain data: no torch here, so drawing and summaries can read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ATTRIBUTE = "archdsl_origin"


@dataclass(frozen=True)
class Origin:
    file: str  # the network's own file as diagnostics name it (a bundled network's installed path, "<stdin>", ...)
    sources: dict[str, str]  # every file read, by the name diagnostics show: the network's own first
    params: dict[str, Any] = field(default_factory=dict)
    python: str = ""  # the emitted module the model's classes come from
    version: str = ""  # archdsl's, at compile time

    @property
    def source(self) -> str:
        """The text of the network's own file."""
        return next(iter(self.sources.values()))


def origin_of(obj: object) -> Origin | None:
    """The origin of a model from `archdsl.load` (or of the network inside its feature extractor)."""
    found = getattr(obj, ATTRIBUTE, None)
    if found is None:
        inner = getattr(obj, "network", None)
        found = getattr(inner, ATTRIBUTE, None) if inner is not None else None
    return found if isinstance(found, Origin) else None
