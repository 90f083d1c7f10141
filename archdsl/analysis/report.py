"""`archdsl report`: the spectrum of depth -- MACs against parameters, bubbles sized by activations.

In the spirit of Canziani, Paszke & Culurciello (2017), "An Analysis of Deep Neural Network
Models for Practical Applications": one bubble per network, labelled with its name and depth,
plus a Markdown table of the same figures. The figures come from analysis.py (no torch);
matplotlib draws the chart and is imported only when a chart is asked for.
"""

from __future__ import annotations

import colorsys
import io
import re
from pathlib import Path

from archdsl.analysis.costs import Analysis

FORMATS = {".png": "png", ".svg": "svg"}
MB = 1e6


def natural_key(text: str) -> tuple[object, ...]:
    """Sort key that reads digits as numbers: ResNet18, ResNet34, ResNet101 (not ResNet101 first)."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text))


def in_order(analyses: list[Analysis]) -> list[Analysis]:
    """Networks by name in natural order, then by file (two files may name their network alike)."""
    return sorted(analyses, key=lambda a: (natural_key(a.ir.network.name), natural_key(Path(a.ir.file).name)))


def colours(n: int) -> list[tuple[float, float, float]]:
    """`n` colours, no two alike: hues spread around the wheel, neighbours in the list far apart.

    A fixed palette (tab20) repeats past 20 networks; 26 are bundled. Stepping by a hue distance
    coprime with `n` visits every slot once, and alternating lightness keeps close hues apart.
    """
    step = next(s for s in range(max(n // 2 - 1, 1), 0, -1) if _coprime(s, n)) if n > 2 else 1
    return [colorsys.hls_to_rgb(((i * step) % n) / n, 0.42 if i % 2 else 0.62, 0.7) for i in range(n)]


def _coprime(a: int, b: int) -> bool:
    while b:
        a, b = b, a % b
    return a == 1


def networks_text(n: int) -> str:
    return f"{n} network" + ("" if n == 1 else "s")


def markdown(analyses: list[Analysis]) -> str:
    analyses = in_order(analyses)
    lines = ["| network | file | depth | parameters | GMACs | activations (MB) | training step (MB) |",
             "|---|---|--:|--:|--:|--:|--:|"]
    for a in analyses:
        lines.append(f"| {a.ir.network.name} | {Path(a.ir.file).name} | {a.depth} | {a.params:,} | "
                     f"{a.macs / 1e9:.3f} | {a.activation_bytes / MB:.1f} | {a.train_bytes / MB:.0f} |")
    return "\n".join(lines) + "\n\nbatch 1, float32; MACs of one eval-mode forward pass; activations: every tensor " \
        "one forward pass creates; training step: parameters + gradients + tensors saved for backward.\n"


def chart(analyses: list[Analysis], fmt: str) -> bytes:
    """The bubble chart as PNG or SVG bytes (deterministic: no dates or random ids in the file)."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"svg.hashsalt": "archdsl", "font.size": 9}):
        fig = Figure(figsize=(10, 7), dpi=120)
        ax = fig.add_subplot()
        points = _points(analyses)
        biggest = max(a.activation_bytes for a in analyses)
        xs = [x for x, _ in points]
        ys = [y / 1e6 for _, y in points]
        # Linear axes, as in Canziani et al.: the ImageNet networks spread out; LeNet-5 sits at the origin.
        ax.set_xlim(-0.04 * max(xs), max(xs) * 1.12)
        ax.set_ylim(-0.06 * max(ys), max(ys) * 1.15)
        palette = colours(len(points))
        # Keep labels off every bubble's centre, then off each other.
        placed = [_box(ax.transData.transform((x, y)), (-4, -4, 4, 4), fig.dpi / 72) for x, y in zip(xs, ys)]
        for i, ((gmacs, params), group) in enumerate(sorted(points.items())):
            area = 30 + 3000 * group[0].activation_bytes / biggest
            ax.scatter([gmacs], [params / 1e6], s=area, alpha=0.55, color=palette[i], edgecolors="black",
                       linewidths=0.6, zorder=2)
            label = " / ".join(a.ir.network.name for a in group) + f" ({group[0].depth})"
            offset, align = _free_spot(ax, fig, (gmacs, params / 1e6), label, area, placed)
            ax.annotate(label, (gmacs, params / 1e6), xytext=offset, textcoords="offset points", ha=align,
                        va="center", fontsize=8, zorder=3,
                        arrowprops={"arrowstyle": "-", "color": "0.5", "lw": 0.5, "shrinkA": 0, "shrinkB": 0})
        ax.set_xlabel("GMACs: one image, eval-mode forward pass")
        ax.set_ylabel("parameters, millions")
        ax.set_title("The spectrum of depth: operations, parameters and activation memory\n"
                     "bubble area: activations of one forward pass; (n): weighted layers on the longest path")
        ax.grid(True, which="major", alpha=0.3, zorder=0)
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, bbox_inches="tight",
                    metadata={"Date": None} if fmt == "svg" else {"Software": None})
    return buffer.getvalue()


# Where a label may go, in points from its bubble, tried in order: right, left, above, below.
_SPOTS = [(1, 0), (1, 1), (1, -1), (-1, 0), (-1, 1), (-1, -1), (0, 1.6), (0, -1.6), (1, 2), (1, -2), (-1, 2), (-1, -2),
          (1, 3), (1, -3), (-1, 3), (-1, -3)]


def _free_spot(ax, fig, xy, label: str, area: float, placed: list) -> tuple[tuple[float, float], str]:
    """A label position that overlaps no label placed before (greedy; good enough for a few dozen)."""
    px, py = ax.transData.transform(xy)
    scale = fig.dpi / 72  # points to pixels
    radius = (area ** 0.5) / 2 + 3  # the bubble's radius in points, plus a gap
    width, height = len(label) * 4.6, 10  # the label's box in points, at font size 8
    choice = None
    for dx, dy in _SPOTS:
        ox = dx * radius
        oy = dy * max(radius * 0.7, height)
        left = ox if dx >= 0 else ox - width
        if dx == 0:
            left = -width / 2
        box = _box((px, py), (left, oy - height / 2, left + width, oy + height / 2), scale)
        if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
            choice = ((ox, oy), "left" if dx > 0 else "right" if dx < 0 else "center", box)
            break
    if choice is None:  # crowded everywhere: fall back to the right
        ox, oy = radius, 0
        choice = ((ox, oy), "left", _box((px, py), (ox, -height / 2, ox + width, height / 2), scale))
    placed.append(choice[2])
    return choice[0], choice[1]


def _box(centre, extent, scale: float) -> tuple[float, float, float, float]:
    """A box in pixels: `extent` (left, bottom, right, top) in points around a centre in pixels."""
    (px, py), (x0, y0, x1, y1) = centre, extent
    return (px + x0 * scale, py + y0 * scale, px + x1 * scale, py + y1 * scale)


def _points(analyses: list[Analysis]) -> dict[tuple[float, int], list[Analysis]]:
    """Networks with the same parameters and MACs to 2 digits (VGG-11 with and without LRN) share a bubble."""
    groups: dict[tuple[str, int], list[Analysis]] = {}
    for a in in_order(analyses):
        groups.setdefault((f"{a.macs:.2g}", a.params), []).append(a)
    return {(group[0].macs / 1e9, group[0].params): group for group in groups.values()}
