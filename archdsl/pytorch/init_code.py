"""The emitted network's `init_weights`: the `init` statements (ir/init.py) as torch.nn.init calls.

It reads as torchvision's initialisation does: one loop over `self.modules()` that picks each word's
modules by class (the projection shortcuts' convolutions and batch norms among them, as torchvision's
`downsample`s are), then the statements' own `init(...)` and the residual bodies' last batch norms, each
addressed by its attribute path (`self.classifier[1].weight`), or, for a layer of a block used several
times, by a loop over that block's class (`isinstance(m, Bottleneck)`: `m.bn3.weight`).
"""

from __future__ import annotations

import keyword
from collections.abc import Iterator
from typing import NamedTuple

from archdsl.frontend.expr import Sym, free_names, render
from archdsl.ir.init import Rule
from archdsl.ir.nodes import IR, Join, Layer, MemberKind, ModulePath, Step, StepKind, known
from archdsl.layers import OPS, SPECS
from archdsl.layers.init_schemes import SCHEMES
from archdsl.layers.registry import Initialised

_INDENT = "    "


class Method(NamedTuple):
    call: str  # the line of __init__ that calls it
    lines: list[str]  # the method, unindented


def init_method(ir: IR, class_of: dict[str, str], names: dict[str, Sym], source: str) -> Method | None:
    """`init_weights` for the network's class, or None when the network declares no `init` (or is folded:
    an eval copy that loads the weights of the model it was folded from)."""
    if not ir.init or ir.folded:
        return None
    body = _word_loop(ir, names) + _targeted(ir, class_of, [(layer, rule) for layer_id, rule in ir.init.layers.items()
                                                            if (layer := ir.layers[layer_id]).enabled])
    residual = ir.init.residual
    if residual is not None:
        last = [layer for layer in residual_last_norms(ir) if layer.attrs["affine"]]
        zeroed = _targeted(ir, class_of, [(layer, residual.rule) for layer in last])
        if zeroed and residual.cond is not None:
            word = "bn" if all(layer.op == "bn" for layer in last) else "norm"
            zeroed = [f"if {render(residual.cond, names, 1)}:  # each residual body's last {word} starts at zero"] + \
                [_INDENT + line for line in zeroed]
        body += zeroed
    if not body:
        return None
    params = sorted({name for decl in [*ir.init.words.values(), *([residual] if residual else [])]
                     if decl.cond is not None for name in free_names(decl.cond)
                     if name in names and not names[name].const})
    sig = ", ".join(["self"] + [f"{p}: {_type(ir.params[p])} = {ir.params[p]!r}" for p in params])
    doc = [f'"""Every weight drawn afresh as the `init` statements of {source} declare (__init__ calls it)."""']
    if len(_INDENT * 2 + doc[0]) > 120:  # a long file name (deeplabv3_mobilenet_v3_large.arch): ruff's E501
        doc = [doc[0].removesuffix(' (__init__ calls it)."""'), '(__init__ calls it)."""']
    # On the meta device there is nothing to draw, and torch's first random draw there costs seconds.
    skip = ["if next(self.parameters()).is_meta:  # built for its shapes only: no values to draw", _INDENT + "return"]
    return Method(f"self.init_weights({', '.join(params)})",
                  [f"def init_weights({sig}) -> None:"] + [_INDENT + line for line in doc + skip + body])


def _word_loop(ir: IR, names: dict[str, Sym]) -> list[str]:
    """One loop over `self.modules()` for the words declared network-wide, and one over `self.LABEL.modules()`
    for those declared `within=LABEL`."""
    scopes = sorted({decl.within for decl in ir.init.words.values()}, key=lambda within: within or "")
    return [line for within in scopes for line in _scope_loop(ir, names, within)]


def _scope_loop(ir: IR, names: dict[str, Sym], within: str | None) -> list[str]:
    # (condition, lines) -> the classes they apply to: words that start alike share one branch
    branches: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for word, decl in ir.init.words.items():
        if decl.within != within:
            continue
        spec = SPECS[word]
        assert spec.init is not None  # ir/init.py refuses `init` for a word without weights
        layers = [layer for layer in ir.layers if layer.enabled and layer.op == spec.op and _under(layer, within)]
        classes = sorted({spec.init.module(layer) for layer in layers})
        has = {tensor: [spec.init.has(layer, tensor) for layer in layers] for tensor in ("weight", "bias")}
        # An automatic projection shortcut is a 1x1 convolution without bias and a batch norm (codegen.py).
        shortcut = _SHORTCUT_MODULES.get(word) if _has_projection(ir, within) else None
        if shortcut is not None:
            classes = sorted({*classes, shortcut[0]})
            has["weight"].append(True)
            has["bias"].append(shortcut[1])
        lines = _tensor_lines("m", decl.rule, has)
        if classes and lines:
            cond = ""
            if decl.cond is not None:  # in brackets unless a name: `isinstance(m, X) and a or b` would not be it
                text = str(render(decl.cond, names, 1))
                cond = f" and {text}" if text.isidentifier() else f" and ({text})"
            branches.setdefault((cond, tuple(lines)), []).extend(classes)
    modules = "self" if within is None else _access("self", ModulePath((within,)))
    loop = [f"for m in {modules}.modules():"] if branches else []
    for i, ((cond, calls), kinds) in enumerate(branches.items()):
        kind = kinds[0] if len(kinds) == 1 else f"({', '.join(kinds)})"
        loop += [f"{_INDENT}{'elif' if i else 'if'} isinstance(m, {kind}){cond}:"]
        loop += [_INDENT * 2 + line for line in calls]
    return loop


_SHORTCUT_MODULES = {"conv": ("nn.Conv2d", False), "bn": ("nn.BatchNorm2d", True)}  # class, has a bias


def _has_projection(ir: IR, within: str | None) -> bool:
    return any(layer.enabled and layer.op == Join.SHORTCUT and layer.derived.decision == "projection"
               and _under(layer, within) for layer in ir.layers)


def _under(layer: Layer, within: str | None) -> bool:
    """Whether a `within=` loop reaches the layer: every layer for None, else those under the label."""
    return within is None or layer.path[:1] == (within,)


def _tensor_lines(module: str, rule: Rule, has: dict[str, list[bool]]) -> list[str]:
    """The calls that set `module`'s weight and bias by `rule`; `has`: whether each module it may be has them."""
    scheme = SCHEMES[rule.scheme]
    keyword = dict(scheme.keywords)
    options = "".join(f", {keyword.get(name, name)}={_value(value)}" for name, value in rule.options)
    lines: list[str] = []
    for tensor, call in (("weight", f"{scheme.function}({{}}{options})" if scheme.function else None),
                         ("bias", f"{rule.bias}_({{}})" if rule.bias else None)):
        if call is None or not any(has[tensor]):
            continue
        line = "nn.init." + call.format(f"{module}.{tensor}")
        lines += [line] if all(has[tensor]) else [f"if {module}.{tensor} is not None:", _INDENT + line]
    return lines


def _targeted(ir: IR, class_of: dict[str, str], targets: list[tuple[Layer, Rule]]) -> list[str]:
    """Lines for some layers each with its own rule: by path from `self`, or by a loop over a block's class
    when the block's every use has the layer at the same place with the same rule."""
    init_of = {layer.id: known(OPS[layer.op].init, layer, "init") for layer, _ in targets}
    conditional = _conditional_members(ir) if targets else set()
    by_block: dict[str, dict[tuple[ModulePath, Rule], list[Layer]]] = {}
    for layer, rule in targets:
        inst = ir.instances[layer.scope]
        if inst.block is not None:
            relative = ModulePath(layer.path[len(inst.path):])
            by_block.setdefault(inst.block.name, {}).setdefault((relative, rule), []).append(layer)
    looped: dict[str, list[str]] = {}
    done: set[int] = set()
    for block, groups in by_block.items():
        uses = len(ir.instances_of(ir.program.blocks[block]))
        for (relative, rule), layers in groups.items():
            if uses > 1 and len(layers) == uses:
                inst = ir.instances[layers[0].scope]
                calls = _lines_for(_access("m", relative), rule, layers, init_of)
                looped.setdefault(block, []).extend(_guarded("m", inst.path, layers[0], conditional, calls))
                done.update(layer.id for layer in layers)
    lines: list[str] = []
    for layer, rule in targets:
        if layer.id not in done:
            lines += _guarded("self", ModulePath(), layer, conditional,
                              _lines_for(_access("self", layer.path), rule, [layer], init_of))
    if looped:
        lines.append("for m in self.modules():")
        for i, (block, inner) in enumerate(looped.items()):
            lines += [f"{_INDENT}{'elif' if i else 'if'} isinstance(m, {class_of[block]}):"]
            lines += [_INDENT * 2 + line for line in inner]
    return lines


def _conditional_members(ir: IR) -> set[int]:
    """The members (by id()) that a statement with `if` applies: None when the condition is false, and the
    condition may be a constructor argument (GoogLeNet's and Inception v3's aux_logits)."""
    found: set[int] = set()
    stack = [step for inst in ir.instances for step in inst.steps]
    while stack:
        step = stack.pop()
        if step.cond is not None and step.member is not None:
            found.add(id(step.member))
        stack += step.body + step.shortcut_steps
    return found


def _guarded(base: str, base_path: ModulePath, layer: Layer, conditional: set[int], lines: list[str]) -> list[str]:
    """`lines` under `if ... is not None:` for each conditional member on the way from `base` to the layer."""
    chain = []
    member = layer.member
    while member is not None and len(member.path) > len(base_path):
        chain.append(member)
        member = member.container.owner
    guards = [f"{_access(base, ModulePath(m.path[len(base_path):]))} is not None" for m in reversed(chain)
              if id(m) in conditional]
    if not guards or not lines:
        return lines
    return [f"if {' and '.join(guards)}:"] + [_INDENT + line for line in lines]


def _lines_for(module: str, rule: Rule, layers: list[Layer], init_of: dict[int, Initialised]) -> list[str]:
    has = {tensor: [init_of[layer.id].has(layer, tensor) for layer in layers] for tensor in ("weight", "bias")}
    return _tensor_lines(module, rule, has)


def _access(base: str, path: ModulePath) -> str:
    """`self.layer1[0].conv1`: attributes by name, an nn.Sequential's members by index."""
    text = base
    for part in path:
        if part.isdigit():
            text += f"[{part}]"
        elif part.isidentifier() and not keyword.iskeyword(part):
            text += f".{part}"
        else:
            text += f".get_submodule({part!r})"
    return text


def _value(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _type(value: object) -> str:
    return "bool" if isinstance(value, bool) else "int" if isinstance(value, int) else "float"


def residual_last_norms(ir: IR) -> Iterator[Layer]:
    """The last norm (`bn`, `gn` or `ln`, in forward order) of each residual body of the network, where the
    body has one: gate paths, concatenated branches and nested residuals' bodies included."""
    def members(member) -> Iterator[Layer]:
        if member.kind == MemberKind.LAYER and member.node is not None:
            yield ir.layers[member.node]
        elif member.kind == MemberKind.SEQ and member.children is not None:
            for child in member.children.members:
                yield from members(child)
        elif member.kind == MemberKind.INSTANCE and member.instance is not None:
            yield from steps(ir.instances[member.instance].steps)

    def steps(body: list[Step]) -> Iterator[Layer]:
        for step in body:
            if step.kind == StepKind.APPLY and step.member is not None:
                yield from members(step.member)
            elif step.kind == StepKind.RESIDUAL:
                yield from steps(step.body)
            elif step.kind in (StepKind.CONCAT, StepKind.SPLIT):
                for branch, branch_steps in zip(step.branches, step.branch_steps or [[]] * len(step.branches)):
                    yield from members(branch) if branch is not None else steps(branch_steps)
            elif step.kind == StepKind.GATE:
                for path in step.factors:
                    yield from steps(path)

    def residuals(body: list[Step]) -> Iterator[Step]:
        for step in body:
            if step.kind == StepKind.RESIDUAL:
                yield step
            for nested in [step.body, step.shortcut_steps, *step.branch_steps, *step.factors]:
                yield from residuals(nested)

    for inst in ir.instances:
        for step in residuals(inst.steps):
            norms = [layer for layer in steps(step.body) if layer.enabled and _is_norm(layer)]
            if norms:
                yield norms[-1]


def _is_norm(layer: Layer) -> bool:
    init = OPS[layer.op].init if layer.op in OPS else None
    return init is not None and init.norm
