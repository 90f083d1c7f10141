"""`archdsl list`: the bundled networks, each with its family, parameters and MACs, computed from the
files themselves (about a second for all of them) so that the list can never go stale."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from archdsl.analysis.costs import analyse
from archdsl.analysis.report import natural_key
from archdsl.pipeline import build
from archdsl.resources import bundled_architectures

# The families as torchvision's documentation groups its models, one page per architecture, plus the two
# bundled networks torchvision lacks (lenet, unet). A builder's name starts with its family's; the longest
# match wins (efficientnet_v2_s is efficientnet_v2, not efficientnet). EfficientNetV2, ResNeXt and Wide
# ResNet live in the modules of EfficientNet and ResNet but are their own papers, blocks and pages there.
FAMILIES = ("alexnet", "convnext", "deeplabv3", "densenet", "efficientnet", "efficientnet_v2", "fcn", "googlenet",
            "inception", "lenet", "lraspp", "mnasnet", "mobilenet_v2", "mobilenet_v3", "regnet", "resnet", "resnext",
            "shufflenet_v2", "squeezenet", "unet", "vgg", "wide_resnet")


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
    """The family of a bundled network (`resnet34`: resnet), or the name itself if it starts with none."""
    return max((f for f in FAMILIES if name.startswith(f)), key=len, default=name)


def bundled_entries() -> list[Entry]:
    entries = []
    for path in sorted(bundled_architectures(), key=lambda p: natural_key(p.stem)):  # resnet18 before resnet101
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
