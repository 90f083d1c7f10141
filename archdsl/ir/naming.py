"""Naming: each member gets its attribute name in the emitted module, once, after expansion.

Labels are kept; an nn.Sequential's unlabelled items take their index; a class body's unlabelled
members take their default name (`downsample`, `branch1`) or their word numbered (`conv1`,
`conv2`); unlabelled stateless layers with equal options share one attribute (`relu`).
"""

from __future__ import annotations

from typing import Any

from archdsl.errors import Note, Reporter
from archdsl.ir.nodes import Container, ContainerKind, Layer, Member
from archdsl.ir.reserved import MODULE_ATTRIBUTES
from archdsl.layers import OPS


def name_container(container: Container, layers: list[Layer], reporter: Reporter) -> None:
    """Name the members of `container` and of every nn.Sequential under it; duplicate labels are reported."""
    if container.kind == ContainerKind.SEQ:
        _name_sequential(container, reporter)
    else:
        _name_class(container, layers, reporter)
    for m in container.members:
        if m.children is not None:
            name_container(m.children, layers, reporter)


def sequential_names(container: Container) -> list[str]:
    """An nn.Sequential's member names: the label, or the index (what `@group.member` reads, before naming)."""
    return [m.label or str(index) for index, m in enumerate(container.members)]


def _name_sequential(container: Container, reporter: Reporter) -> None:
    seen: dict[str, Member] = {}
    for m, name in zip(container.members, sequential_names(container)):
        m.name = name
        if m.label:
            _claim(seen, m, m.label, reporter)


def _claim(seen: dict[str, Member], m: Member, label: str, reporter: Reporter) -> None:
    if label in seen:
        reporter.error(f"duplicate label '{label}'", m.span,
                       notes=[Note("first used here", seen[label].span)],
                       hint="labels name the module's attributes and must be unique within a block",
                       code="duplicate-label")
    seen[label] = m


def _name_class(container: Container, layers: list[Layer], reporter: Reporter) -> None:
    taken: dict[str, object] = {}
    claimed: dict[str, Member] = {}
    for m in container.members:
        if m.label:
            _claim(claimed, m, m.label, reporter)
            taken[m.label] = m
            m.name = m.label
    for m in container.members:
        if m.name is None and m.default_name:
            m.name = _fresh(m.default_name, taken)
            taken[m.name] = m
    shared: dict[str, list[tuple[Any, ...]]] = {}
    share_key: dict[int, tuple[Any, ...]] = {}
    for m in container.members:
        if m.name is None and m.shareable and m.node is not None:
            layer = layers[m.node]  # keyed after the in-place decision: ReLU() != ReLU(inplace=True)
            # A tensor option (`crop(@up4)`) is an argument of the call, not of the module: U-Net's four
            # crops are one CenterCrop, as a hand-written U-Net holds one.
            passed = {o.name for o in OPS[layer.op].options if o.kind == "tensor"}
            share_key[id(m)] = key = (layer.op, tuple(sorted((k, str(v)) for k, v in layer.attrs.items()
                                                             if k not in passed)))
            keys = shared.setdefault(m.word, [])
            if key not in keys:
                keys.append(key)
    share_names: dict[tuple[Any, ...], str] = {}
    for word, keys in shared.items():
        for i, key in enumerate(keys, start=1):
            share_names[key] = _fresh(word if len(keys) == 1 else f"{word}{i}", taken)
            taken[share_names[key]] = container
    counters: dict[str, int] = {}
    for m in container.members:
        if m.name is None and m.shareable:
            m.name = share_names[share_key[id(m)]]
        elif m.name is None:
            n = counters.get(m.word, 0) + 1
            while f"{m.word}{n}" in taken or f"{m.word}{n}" in MODULE_ATTRIBUTES:  # a block `bfloat`'s 16th use
                n += 1
            counters[m.word] = n
            m.name = f"{m.word}{n}"
            taken[m.name] = m


def _fresh(base: str, taken: dict[str, object]) -> str:
    if base not in taken and base not in MODULE_ATTRIBUTES:
        return base
    n = 2
    while f"{base}{n}" in taken or f"{base}{n}" in MODULE_ATTRIBUTES:
        n += 1
    return f"{base}{n}"
