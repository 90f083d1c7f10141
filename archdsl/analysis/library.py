"""`archdsl list`: the bundled networks, each with its family, parameters and MACs, computed from the
files themselves (about a second for all of them) so that the list can never go stale."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from archdsl.analysis.costs import analyse
from archdsl.pipeline import build
from archdsl.resources import bundled_architectures

_FAMILY = re.compile(r"^([a-z_]+?)_?(?=\d|$)")  # resnet34 -> resnet, wide_resnet50_2 -> wide_resnet
# A segmentation model is named head_backbone (torchvision's): its family is the head, digits and all.
_SEGMENTATION = re.compile(r"^(fcn|deeplabv3|lraspp)_")


@dataclass(frozen=True)
class Entry:
    name: str  # what `archdsl check NAME` and `archdsl.load(NAME)` take
    family: str
    network: str  # the `network` declared in the file
    input: tuple[int, int, int]
    params: int
    macs: int
    file: Path

    def as_dict(self) -> dict:
        return {"name": self.name, "family": self.family, "network": self.network, "input": list(self.input),
                "params": self.params, "macs": self.macs}


def family(name: str) -> str:
    match = _SEGMENTATION.match(name) or _FAMILY.match(name)
    return match.group(1) if match else name


def bundled_entries() -> list[Entry]:
    entries = []
    for path in bundled_architectures():
        analysis = analyse(build(path))
        entries.append(Entry(path.stem, family(path.stem), analysis.ir.network.name, analysis.ir.input_shape,
                             analysis.params, analysis.macs, path))
    return entries


def table(entries: list[Entry]) -> str:
    rows = [(e.name, e.family, "x".join(map(str, e.input)), f"{e.params:,}", _scaled(e.macs))
            for e in entries]
    head = ("name", "family", "input", "parameters", "MACs")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    right = (False, False, False, True, True)
    lines = ["  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right)).rstrip()
             for row in [head, *rows]]
    return "\n".join(lines)


def _scaled(n: int) -> str:
    return f"{n / 1e9:,.2f} G" if n >= 1e9 else f"{n / 1e6:,.2f} M"
