"""`archdsl list`: the bundled networks, each with its family, parameters and MACs, computed from the
files themselves (about a second for all of them) so that the list can never go stale."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from archdsl.analysis.costs import analyse
from archdsl.pipeline import build
from archdsl.resources import bundled_architectures

# A segmentation model is named head_backbone (torchvision's): its family is the head, digits and all.
_SEGMENTATION = re.compile(r"^(fcn|deeplabv3|lraspp)_")
# Where a name's size or variant begins: a number (resnet34, mnasnet0_5, regnet_x_400mf), a lettered size
# (efficientnet_b0, shufflenet_v2_x0_5, efficientnet_v2_s) or a size word (convnext_tiny, mobilenet_v3_large,
# alexnet_paper). A version (`_v2`) stays: MobileNetV2 and V3 are different designs, as EfficientNet and
# EfficientNetV2 are.
_SIZE = re.compile(r"\d|_[a-uw-z]\d|_[sml]$|_(?:tiny|small|base|large|paper)(?:_|$)")


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
    head = _SEGMENTATION.match(name)
    if head:
        return head.group(1)
    version = re.search(r"_v\d+", name)
    size = _SIZE.search(name, version.end() if version else 0)
    return name[:size.start()].rstrip("_") if size and size.start() else name


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
