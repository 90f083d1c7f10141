"""Code generation: the shape-checked graph IR as a standalone PyTorch module (Python source).

One class per block definition plus one for the network, labels as attribute names, the
inferred shape as a trailing comment on each forward line. A block class is written once from
its first instance; every value that differs between its instances is written as an expression
of the block's arguments, and each such expression is checked (`Sym.vals`) against what the IR
computed for every instance, so the emitted code cannot drift from the checked graph. A size that
no expression gives for every instance (the features after a flatten, a padding, a shortcut's
stride) becomes a keyword-only constructor argument of the class, passed by each use as it passes
`in_channels`: every network the shape check accepts can be written, so code generation reports
no errors of its own.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeGuard

from archdsl.errors import Diagnostic, InternalError
from archdsl.frontend import ast as A
from archdsl.frontend.expr import Sym, Word, evaluate, free_names, render
from archdsl.ir.freeze import frozen_params
from archdsl.ir.nodes import IR, Instance, Layer, Member, Step, known
from archdsl.ir.reserved import INPUT_REF
from archdsl.layers import OPS, PADDING_WORDS, lookup
from archdsl.pytorch.init_code import init_method
from archdsl.pytorch.layout import wrap_source
from archdsl.pytorch.numbered import MODULE_LIST, numbered
from archdsl.pytorch.weights import LOADER_IMPORTS, loader_source
from archdsl.shapes.inference import total_params

_INDENT = "    "


@dataclass
class _T:
    """What the code generator knows about the tensor `x` at one point of a forward."""

    ch: Sym | None  # channels of a (C, H, W) feature map, or of an (H, W, C) one with `last`
    feat: Sym | None  # features of a flat tensor
    scale: Sym | None  # stride relative to the class's input, when known
    rel: Sym | None  # stride relative to the innermost enclosing residual's input
    last: bool = False  # channels last, after permute(0, 2, 3, 1)


@dataclass(frozen=True)
class Emitted:
    source: str
    class_name: str  # the network's class
    block_classes: dict[str, str] = field(default_factory=dict)  # block name -> class name
    outputs_class: str = ""  # the NamedTuple of side outputs, when there are any
    weights_sha256: str | None = None  # pretrained() loads the weights file with this digest
    warnings: tuple[Diagnostic, ...] = ()  # lint.py's, filled in by pipeline.compile_source
    sources: dict[str, str] = field(default_factory=dict)  # to render the warnings with their lines


def generate(ir: IR, weights_sha256: str | None = None, command: str | None = None) -> Emitted:
    """The emitted module's source text (deterministic: same IR, same bytes).

    `weights_sha256` adds `pretrained()`, which loads the .safetensors file written next to the
    module (`archdsl compile --weights`), with torch alone, if its SHA-256 is that one. `command`: the
    `archdsl compile` command line that reproduces the module, for its header (pipeline.reproduce_command).
    """
    gen = _Generator(ir, weights_sha256)
    gen.command = command
    return Emitted(gen.run(), gen.net_class, dict(gen.class_of), gen.outputs_class, weights_sha256)


def class_name(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part) or "Net"


class _Generator:
    def __init__(self, ir: IR, weights_sha256: str | None = None):
        self.ir = ir
        self.weights_sha256 = weights_sha256
        self.command: str | None = None
        self.imports: set[str] = set()
        self.class_of: dict[str, str] = {}
        # block name -> its class's extra constructor arguments: key -> (argument, value by instance id)
        self.extras: dict[str, dict[str, tuple[str, dict[int, object]]]] = {}
        self.dropped: dict[str, set[str]] = {}  # block name -> the parameters its class does not take
        self.helpers: dict[str, str] = {}  # the registry's helper classes the emitters asked for: name -> source
        # A helper's name is fixed text, the imports and the weights loader's functions are module-level
        # names, and a parameter would hide a class inside a constructor: no class may take any of them.
        taken: set[str] = {h.name for op in {layer.op for layer in ir.layers} for h in OPS[op].helpers}
        taken |= _MODULE_NAMES | {p.name for block in ir.blocks_used() for p in block.params} | \
            {p.name for p in ir.network.params}
        # A side output is a local variable of forward(), which returns the outputs class by name.
        taken |= set(ir.sides) | {s.name for inst in ir.instances for s in inst.steps if s.kind == "side" and s.name}
        for block in ir.blocks_used():
            self.class_of[block.name] = _unique(class_name(block.name), taken)
        self.net_class = _unique(class_name(ir.network.name), taken)
        self.outputs_class = _unique(f"{self.net_class}Outputs", taken)

    def run(self) -> str:
        chunks = [self.block_class(block) for block in self.ir.blocks_used()]
        chunks.append(self.network_class())
        chunks[:0] = [self.helpers[name] + "\n" for name in sorted(self.helpers)]
        if self.ir.sides or any(s.kind == "side" for s in self.ir.instances[0].steps):
            chunks.insert(0, self.outputs_tuple())
        if self.weights_sha256:
            chunks.append(loader_source(self.net_class, self.weights_sha256))
            self.imports.update(LOADER_IMPORTS)
        return wrap_source(self.header() + "\n\n" + "\n\n".join(chunks))

    # -- file layout ---------------------------------------------------------------------------
    def header(self) -> str:
        ir, source = self.ir, _basename(self.ir.file)
        c, h, w = ir.input_shape
        lines = [
            f'"""{self.net_class}: generated by archdsl from {source}.',
            "",
            f"Input (B, {c}, {h}, {w}); {_param_summary(ir)}.",
            *(["Batch norms folded for inference: it loads the state_dict of archdsl.fuse(model)."] if ir.folded
              else []),
            *self.reproduce(source),
            '"""',
            "",
        ]
        std = [imp for imp in ("import hashlib", "import json", "from collections import OrderedDict",
                               "from collections.abc import Callable", "from pathlib import Path",
                               "from typing import NamedTuple")
               if imp.split()[-1] in self.imports]
        if std:
            lines += std + [""]
        if "torch" in self.imports:
            lines.append("import torch")
        lines.append("from torch import Tensor, nn")
        return "\n".join(lines) + "\n"

    def reproduce(self, source: str) -> list[str]:
        """The header's lines on how to emit this module again: the command with its options."""
        command = self.command or f"archdsl compile {source}{self.flags()}"
        changed = "the .arch text" if self.ir.file in TEXT_SOURCES else source
        line = f"Do not edit: change {changed} and run `{command}` again."
        if len(line) <= 116:
            return [line]
        import textwrap

        return [f"Do not edit: change {changed} and run again (one command line):",
                *textwrap.wrap(command, 112, initial_indent="    ", subsequent_indent="        ",
                               break_long_words=False, break_on_hyphens=False)]

    def flags(self) -> str:
        """The `archdsl compile` options this module was emitted with."""
        return " --fuse" * self.ir.folded + " --channels-last" * self.ir.channels_last

    def outputs_tuple(self) -> str:
        self.imports.add("NamedTuple")
        names = [s.name for s in self.ir.instances[0].steps if s.kind == "side"]
        fields = [f"{_INDENT}out: Tensor"] + [f"{_INDENT}{n}: Tensor | None" for n in names]
        return "\n".join([
            f"class {self.outputs_class}(NamedTuple):",
            f'{_INDENT}"""What {self.net_class} returns in training mode: its output and its side outputs."""',
            "",
            *fields,
        ]) + "\n"

    def block_class(self, block: A.BlockDef) -> str:
        instances = self.ir.instances_of(block)
        n = len(instances)
        names = {"in_channels": Sym.name("in_channels", tuple(_channels(self.ir.layers[i.in_node])
                                                              for i in instances))}
        values = [p for p in block.params if not p.tensor]
        for p in values:
            names[p.name] = Sym.name(p.name, tuple(i.args[p.name] for i in instances))
        params: dict[str, str] = {}  # parameter -> its entry in the signature
        prologues: dict[str, list[str]] = {}  # parameter -> the lines that compute its default
        words = _words([p.default for p in block.params if p.default is not None], names, n)
        for p in values:
            kind = _type_name([i.args[p.name] for i in instances])
            if kind == _CALLABLE:
                self.imports.add("Callable")
            if p.default is None:
                params[p.name] = f"{p.name}: {kind}"
            elif isinstance(p.default, A.Name) and p.default.id in words:  # `act = relu`: torchvision's
                params[p.name] = f"{p.name}: {kind} = {words[p.default.id]}"  # `activation_layer = nn.ReLU`
            elif _is_enum(p.default):  # `same` or `valid`
                params[p.name] = f"{p.name}: {kind} = {p.default.id!r}"
            elif not free_names(p.default):
                params[p.name] = f"{p.name}: {kind} = {evaluate(p.default, {})!r}"
            else:
                params[p.name] = f"{p.name}: {kind} | None = None"
                prologues[p.name] = [f"if {p.name} is None:",
                                     f"{_INDENT}{p.name} = {render(p.default, names | words, n)}"]
        writer = _Writer(self, instances, names, emit=True)
        first = instances[0]
        held = None if block.sequential else numbered(self.ir, first)
        if held is not None:
            writer.indexed = {name: k for k, name in enumerate(held.names)}
            writer.iterated = held.base == MODULE_LIST
        t_in = writer.start(self.input_state(first, names["in_channels"], n))
        writer.tensor_parameters(block)
        items: list[tuple[Member, str]] = []
        if block.sequential:  # the items of an nn.Sequential, in order (expansion kept the body a chain)
            for m in first.container.members:
                text, t_in = writer.ctor(m, t_in)
                items.append((m, text))
        else:
            writer.walk(first.steps, t_in)
        self.extras[block.name] = writer.extras
        body = writer.init + writer.fwd + writer.items + [text for _, text in items]
        unused = _unused(params, prologues, body)
        self.dropped[block.name] = set(unused)
        prologue = [line for name, lines in prologues.items() if name not in unused for line in lines]
        sig = ["self", "in_channels: int", *(entry for name, entry in params.items() if name not in unused)]
        if writer.extras:
            sig.append("*")
            sig += [f"{arg}: {_size_type(list(by_id.values()))}" for arg, by_id in writer.extras.values()]
        uses = f"used {n} time{'s' * (n != 1)}"
        # A parameter that only set how often a statement repeats, with every use giving the same count,
        # leaves nothing to read in the class: it is no argument, and the docstring says what it was.
        fixed = "; ".join(_fixed(name, [i.args[name] for i in instances]) for name in unused)
        doc = f'"""Block `{block.name}` ({_basename(block.span.file)}, line {block.span.line}), {uses}'
        doc += f" ({fixed}).\"\"\"" if fixed else '."""'
        if block.sequential:
            return self.sequential_class_text(self.class_of[block.name], doc, sig, prologue, items)
        return self.class_text(self.class_of[block.name], doc, sig, prologue + writer.init, writer.fwd + ["return x"],
                               "Tensor", inputs=[p.name for p in block.params if p.tensor],
                               base=held.base if held else "nn.Module", items=writer.items)

    def sequential_class_text(self, name: str, doc: str, sig: list[str], prologue: list[str],
                              items: list[tuple[Member, str]]) -> str:
        """A `sequential block`: an nn.Sequential subclass whose constructor passes its items (torchvision's
        Conv2dNormActivation), so they are numbered `0`, `1`, ... in the state_dict unless labelled."""
        ind2 = _INDENT * 2
        lines = [f"class {name}(nn.Sequential):", _INDENT + doc, "",
                 f"{_INDENT}def __init__({', '.join(sig)}) -> None:"]  # layout.py wraps it past 120 columns
        lines += [ind2 + _indent(line, 2) for line in prologue]
        if any(m.label for m, _ in items):
            self.imports.add("OrderedDict")
            lines.append(f"{ind2}super().__init__(OrderedDict([")
            lines += [f'{ind2}{_INDENT}("{m.name}", {_indent(text, 3)}),' for m, text in items]
            lines.append(f"{ind2}]))")
        else:
            lines.append(f"{ind2}super().__init__(")
            lines += [f"{ind2}{_INDENT}{_indent(text, 3)}," for _, text in items]
            lines.append(f"{ind2})")
        return "\n".join(lines) + "\n"

    def input_state(self, inst: Instance, channels: Sym, n: int) -> _T:
        source = self.ir.layers[inst.in_node]
        shape = _out_shape(source)
        one = Sym.lit(1, n)
        if len(shape) == 3:
            return _T(channels, None, one, one, source.nhwc)
        return _T(None, channels, None, None)

    def network_class(self) -> str:
        ir = self.ir
        net = ir.network
        names: dict[str, Sym] = {}
        sig = ["self"]
        for p in net.params:
            value = ir.params[p.name]
            if p.name in ir.structural:
                names[p.name] = Sym.lit(value, 1)
            else:
                names[p.name] = Sym.name(p.name, (value,))
                sig.append(f"{p.name}: {_type_name([value])} = {value!r}")
        inst = ir.instances[0]
        writer = _Writer(self, [inst], names, emit=True)
        writer.walk(inst.steps, writer.start(self.input_state(inst, Sym.lit(ir.input_shape[0], 1), 1)))
        fwd = list(writer.fwd)
        returns = "Tensor"
        if writer.outputs:
            returns = "OrderedDict[str, Tensor]"
        elif writer.sides:
            returns = f"Tensor | {self.outputs_class}"
            always = any(not conditional for _, conditional in writer.sides)
            check = "self.training" if always else (
                "self.training and (" + " or ".join(f"{name} is not None" for name, _ in writer.sides) + ")")
            fwd += [f"if {check}:",
                    f"{_INDENT}return {self.outputs_class}(x, {', '.join(name for name, _ in writer.sides)})"]
        fwd.append(f"return {writer.result}" if writer.outputs else "return x")
        baked = ", ".join(f"{p}={ir.params[p]!r}" for p in sorted(ir.structural))
        c, h, w = ir.input_shape
        doc = [f'"""Network `{net.name}` ({_basename(net.span.file)}): input (B, {c}, {h}, {w}).']
        if writer.outputs:
            built = [n for n, conditional in writer.outputs if conditional]
            doc += ["", f"It returns an ordered dict of its outputs ({', '.join(n for n, _ in writer.outputs)}), in "
                        "eval and training mode" + (f"; {', '.join(built)} only where built." if built else ".")]
        if writer.sides:
            sides = ", ".join(n for n, _ in writer.sides)
            doc += ["", f"In training mode it returns the output and the side outputs ({sides}); "
                        + "in eval mode, the output alone."]
        if baked:
            doc += ["", f"Compiled with {baked}; these set the number of layers, so recompile to change them."]
        head: list[str] = []
        methods: list[str] = []
        init = list(writer.init)
        initialise = init_method(ir, self.class_of, names, _basename(ir.file))
        if initialise is not None:
            init.append(initialise.call)
            methods += initialise.lines
        if ir.channels_last:
            self.imports.add("torch")
            init.append("self.to(memory_format=torch.channels_last)  # NHWC weights (compile --channels-last)")
            fwd.insert(0, "x = x.contiguous(memory_format=torch.channels_last)  # NHWC input: no conversion per layer")
        if ir.frozen:
            doc += ["", f"Frozen for fine-tuning: {', '.join(ir.frozen)} (no gradients, always in eval mode)."]
            head, frozen_methods, init = _frozen_parts(ir.frozen, init)
            methods += [""] * bool(methods) + frozen_methods
        docstring = doc[0] + '"""' if len(doc) == 1 else "\n".join([*doc, '"""'])
        return self.class_text(self.net_class, docstring, sig, init, fwd, returns, head, methods)

    def class_text(self, name: str, doc: str, sig: list[str], init: list[str], fwd: list[str], returns: str,
                   head: Sequence[str] = (), methods: Sequence[str] = (), inputs: Sequence[str] = (),
                   base: str = "nn.Module", items: Sequence[str] = ()) -> str:
        """A class whose forward is written out; with `items`, an nn.ModuleList or nn.Sequential (`base`) that
        holds them (numbered.py), its other members set after them."""
        ind2 = _INDENT * 2
        lines = [f"class {name}({base}):", _INDENT + doc.replace("\n", "\n" + _INDENT).replace(
            "\n" + _INDENT + "\n", "\n\n"), ""]
        lines += [_INDENT + line for line in head] + ([""] if head else [])
        lines.append(f"{_INDENT}def __init__({', '.join(sig)}) -> None:")  # layout.py wraps it past 120 columns
        if items:
            opening, closing = ("([", "])") if base == MODULE_LIST else ("(", ")")
            lines.append(f"{ind2}super().__init__{opening}")
            lines += [f"{ind2}{_INDENT}{_indent(text, 3)}," for text in items]
            lines.append(f"{ind2}{closing}")
        else:
            lines.append(f"{ind2}super().__init__()")
        lines += [ind2 + _indent(line, 2) if line else "" for line in init]
        lines += ["", *(_INDENT + line if line else "" for line in methods)] if methods else []
        args = "".join(f", {name}: Tensor" for name in inputs)  # a block's tensor parameters (`@low`)
        lines += ["", f"{_INDENT}def forward(self, x: Tensor{args}) -> {returns}:"]
        lines += [ind2 + line for line in fwd]
        return "\n".join(lines) + "\n"


def _branch_variable(i: int, steps: list[Step]) -> str:
    """The name a flat branch's variable is made from (see _Writer.branch)."""
    labels = [_name(step.member) for step in steps if step.member is not None and step.member.label]
    # The first label's stem, when every label of the branch shares it (`branch5x5_1`, `branch5x5_2`; not
    # DenseNet's `norm1`, `relu1`, `conv1`, ...).
    stem = re.sub(r"_[0-9]+[a-z]?$", "", labels[0]) if labels else ""
    if stem.isidentifier() and all(label.startswith(stem) for label in labels):
        return stem
    if steps[0].kind == "ref":
        return "skip" + re.sub(r"^.*?([0-9]*)$", r"\1", known(steps[0].name, steps[0], "name"))
    return f"branch{i}"


def _unused(params: dict[str, str], prologues: dict[str, list[str]], body: list[str]) -> list[str]:
    """The parameters that nothing in the class reads: neither its body nor the default of a parameter
    that is read (a name inside a quoted label counts as read: keeping an argument is the safe side)."""
    unused: list[str] = []
    changed = True
    while changed:
        changed = False
        for name in params:
            if name in unused:
                continue
            others = [line for other, lines in prologues.items() if other != name and other not in unused
                      for line in lines]
            if not any(re.search(rf"\b{name}\b", line) for line in body + others):
                unused.append(name)
                changed = True
    return [name for name in params if name in unused]


def _fixed(name: str, values: list) -> str:
    """What a parameter the class does not take was: `n = 2 in every use`."""
    if any(v != values[0] for v in values):
        return f"{name} is read nowhere"
    return f"{name} = {values[0] if isinstance(values[0], str) else repr(values[0])} in every use"


def _param_summary(ir: IR) -> str:
    total, frozen = total_params(ir), frozen_params(ir)
    if not ir.frozen:
        return f"{total:,} trainable parameters"
    return f"{total - frozen:,} trainable and {frozen:,} frozen parameters"


def _frozen_parts(frozen: list[str], init: list[str]) -> tuple[list[str], list[str], list[str]]:
    """The FROZEN tuple, the __init__ lines that freeze those parts, and a train() that keeps them in eval mode."""
    names = ", ".join(f'"{name}"' for name in frozen) + ("," if len(frozen) == 1 else "")
    head = [f"FROZEN = ({names})  # parts frozen for fine-tuning"]
    init = init + ["for name in self.FROZEN:", f"{_INDENT}self.get_submodule(name).requires_grad_(False).eval()"]
    methods = [
        "def train(self, mode: bool = True) -> nn.Module:",
        f"{_INDENT}super().train(mode)",
        f"{_INDENT}for name in self.FROZEN:  # eval mode: batch norm keeps its pretrained running statistics",
        f"{_INDENT * 2}self.get_submodule(name).eval()",
        f"{_INDENT}return self",
    ]
    return head, methods, init


class _Writer:
    """Writes one class body (or, with emit=False, only follows a block's shapes for its caller)."""

    def __init__(self, gen: _Generator, instances: list[Instance], names: dict[str, Sym], emit: bool):
        self.gen, self.ir, self.instances, self.names, self.emit = gen, gen.ir, instances, names, emit
        self.n = len(instances)
        self.init: list[str] = []
        self.fwd: list[str] = []
        self.emitted: set[str] = set()
        self.declared: list[str] = []  # the members in the order their attributes are set
        # Names the user gave in this class (attributes, side outputs): generated names go around them,
        # keeping the readable `identity = x` and `self.shortcut_stride` wherever nothing collides.
        first = instances[0]
        # The variables that references keep (`backbone_4 = x`) and a block's tensor parameters are the user's too.
        self.attributes = {m.name for m in first.container.members if m.name} - \
            {s.save for s in first.steps_by_site.values() if s.save}  # those that are no variable too
        self.user_names = {m.name for m in first.container.members if m.name} | \
            {s.name for s in first.steps if s.kind == "side" and s.name} | \
            {s.save for s in first.steps_by_site.values() if s.save} | \
            {p.name for p in (first.block.params if first.block else []) if p.tensor}
        self.made: set[str] = set()  # generated names taken so far (see generated())
        self.sides: list[tuple[str, bool]] = []
        self.outputs: list[tuple[str, bool]] = []  # named outputs written so far: name, conditional
        self.result = ""  # the variable of the dict of named outputs, once the first one is written
        self.tapped = ""  # the tensor the named outputs read, kept when several do
        self.under: str | None = None  # the condition of a conditional output, for its body's members
        self.extras: dict[str, tuple[str, dict[int, object]]] = {}  # see size()
        self.given: dict[str, Sym] | None = None  # a follower's: the Syms its caller passes for the extras
        # The variable that holds the tensor a statement transforms: `x`, or a concat(flat) branch's own
        # (`branch2 = self.conv1(x)`; `branch2 = self.conv2(branch2)`); `src`, when set, is what the next
        # statement reads instead (a branch's first statement reads the concatenation's input).
        self.var = "x"
        self.src: str | None = None
        self.kept: dict[str, _T] = {}  # the labels a reference reads: what their variables hold
        # Members held as the class's items (numbered.py), read as `self[k]`, and their constructors in order;
        # `iterated`: the class is an nn.ModuleList whose forward concatenates its items' outputs.
        self.indexed: dict[str, int] = {}
        self.items: list[str] = []
        self.iterated = False
        self.variables: dict[str, str] = {}  # a kept tensor's variable where it is not the label (`@input`)

    def start(self, t: _T) -> _T:
        """The class's input, kept in a variable first when its body reads `@input`: `x` moves on."""
        if self.instances[0].reads_input:
            var = self.variables[INPUT_REF] = self.generated("input_")
            self.fwd.append(f"{var} = x")
            self.kept[INPUT_REF] = t
        return t

    def variable(self, label: str) -> str:
        """The variable that holds the tensor `@label` reads."""
        return self.variables.get(label, label)

    # -- helpers ---------------------------------------------------------------------------
    def generated(self, base: str, also: str | None = None, local: bool = False) -> str:
        """A new generated name made of `base` (`identity`, then `identity2`, ...; `skip4_2` after a digit)
        that is neither a name the user gave in this class nor one made before (with `also`: a twin with
        the same suffix). `local`: a variable of forward alone, which may share an attribute's name."""
        taken = (self.user_names - self.attributes if local else self.user_names) | self.made
        k = 1
        while True:
            suffix = "" if k == 1 else f"_{k}" if base[-1:].isdigit() else str(k)
            names = {base + suffix} | ({also + suffix} if also else set())
            if not names & taken:
                self.made |= names
                return base + suffix
            k += 1

    def lit(self, value) -> Sym:
        return Sym.lit(value, self.n)

    def counterparts(self, step: Step) -> list[Step]:
        return [inst.steps_by_site[step.site] for inst in self.instances]

    def members(self, m: Member) -> list[Member]:
        return [inst.members_by_site[m.site] for inst in self.instances]

    def layer(self, m: Member) -> Layer:
        """The layer of a LAYER or SHORTCUT member."""
        return self.ir.layers[known(m.node, m, "node")]

    def layers_of(self, m: Member) -> list[Layer]:
        return [self.layer(c) for c in self.members(m)]

    def scope(self, index: int | None) -> dict[str, Sym]:
        """The names an expression sees: inside `x N`, `i` is that repetition's number, written as a literal
        (the repetition is unrolled)."""
        return self.names if index is None else {**self.names, "i": self.lit(index)}

    def opt(self, m: Member, name: str) -> Sym:
        """An option as written (rendered in this class's names) or, if not written, its value."""
        layer = self.layer(m)
        if name in layer.exprs and not _is_enum(layer.exprs[name]):
            return render(layer.exprs[name], self.scope(m.index), self.n)
        values = [layer.attrs[name] for layer in self.layers_of(m)]
        return self.pair(values)

    def pair(self, values: list) -> Sym:
        """A literal that may be a (h, w) pair; written as one number when square."""
        v = values[0]
        if any(x != v for x in values):
            raise AssertionError("pair() expects values that agree")
        if isinstance(v, tuple):
            if v[0] == v[1]:
                return self.lit(v[0])
            return Sym(f"({v[0]}, {v[1]})", 9, tuple(values), True)  # tuple values: no arithmetic on it
        return self.lit(v)

    def size(self, key: str, hint: str, values: list, passed: bool = False) -> Sym:
        """A value that may differ between the instances: a literal when it does not, else a constructor
        argument of the block's class (named after `hint`), as `in_channels` is.

        `key` names the value within the class, the same in the class's own writer and in the
        followers of its uses, which return the Sym their caller passes for it. `passed`: the value
        of a child's argument, passed on in the form the child's class chose (a pair stays a pair).
        """
        values = values if passed else _normalized(values)
        if all(v == values[0] for v in values):
            return self.lit(values[0]) if passed else self.pair(values)
        if self.given is not None:
            return self.given[key]  # a KeyError here is a bug: the class must have taken the argument
        if key not in self.extras:
            taken = set(self.names) | {arg for arg, _ in self.extras.values()}
            arg, k = hint, 2
            while arg in taken:
                arg, k = f"{hint}{k}", k + 1
            self.extras[key] = (arg, {inst.id: v for inst, v in zip(self.instances, values)})
        return Sym.name(self.extras[key][0], tuple(values))

    def comment(self, step: Step, t: _T) -> str:
        return "  # " + self.shape_text(self.counterparts(step), t)

    def shape_text(self, steps: list[Step], t: _T) -> str:
        """The shape after `steps` (a step's counterparts in every instance), as a comment writes it."""
        outs = [self.ir.layers[s.out_node] for s in steps]
        shapes = [_out_shape(layer) for layer in outs]
        if len(shapes[0]) == 1:
            return f"(B, {t.feat if t.feat is not None else shapes[0][0]})"
        if t.last:  # (H, W, C): the same text, the channels moved to the end
            shapes = [(s[2], s[0], s[1]) for s in shapes]
        channels = t.ch if t.ch is not None else shapes[0][0]

        def text(h: object, w: object) -> str:
            return f"(B, {h}, {w}, {channels})" if t.last else f"(B, {channels}, {h}, {w})"

        # An unsized layer's height and width are made up (see Layer.unsized): never written as numbers, and
        # as H/k only where they follow the class's input, as made up as they.
        if all(s[1:] == shapes[0][1:] for s in shapes) and not any(layer.unsized for layer in outs):
            return text(shapes[0][1], shapes[0][2])
        ins = [_spatial(self.ir.layers[i.in_node]) for i in self.instances]
        if t.scale is not None and all(i is not None and s[1] == -(-i[0] // k) and s[2] == -(-i[1] // k)
                                       for s, i, k in zip(shapes, ins, t.scale.vals)):
            if t.scale.const and t.scale.vals[0] == 1:
                return text("H", "W")
            k = t.scale.text if t.scale.prec == 9 else f"({t.scale.text})"
            return text(f"H/{k}", f"W/{k}")
        return text("H'", "W'")

    def cond_text(self, step: Step) -> str | None:
        return render(step.cond, self.scope(step.cond_index), self.n).text if step.cond is not None else None

    def declare(self, name: str, ctor: str, cond: str | None) -> None:
        if not self.emit or name in self.emitted:
            return
        self.emitted.add(name)
        self.declared.append(name)
        if name in self.indexed:  # never conditional (numbered.py)
            self.items.append(ctor)
            return

        def assign(value: str) -> str:  # a quoted label (`"block1-0"`) has no attribute syntax
            return f"self.{name} = {value}" if name.isidentifier() else f'self.add_module("{name}", {value})'

        cond = cond or self.under
        if cond:
            self.init += [assign("None"), f"if {cond}:", f"{_INDENT}{assign(_indent(ctor, 1))}"]
        else:
            self.init.append(assign(ctor))

    def attr(self, name: str) -> str:
        """A member read in the forward: `self.conv1`, `self[0]` (an item), `getattr(self, "block1-0")`."""
        return f"self[{self.indexed[name]}]" if name in self.indexed else _attr(name)

    def reads(self) -> str:
        """The variable the next statement reads (see `var`)."""
        src, self.src = self.src or self.var, None
        return src

    # -- statements ---------------------------------------------------------------------------
    def walk(self, steps: list[Step], t: _T) -> _T:
        k = 0
        while k < len(steps):
            step = steps[k]
            if step.cond is None:
                t = getattr(self, f"step_{step.kind}")(step, t)
                self.keep(step, t)
                k += 1
                continue
            # The steps of one conditional statement (`(conv1-h; bn) if t != 1` makes two): each runs on
            # what the one before it made, and after them the tensor is either theirs or the one before.
            end = k
            while end < len(steps) and steps[end].cond is step.cond:
                end += 1
            t = self.conditional(steps[k:end], t)
            self.keep(steps[end - 1], t)
            k = end
        return t

    def tensor_parameters(self, block: A.BlockDef) -> None:
        """What a block's tensor parameters (`@low`) hold at the start of its forward: their channels, as a
        number or, where the uses differ, a constructor argument (`low_channels`)."""
        for k, p in enumerate(q for q in block.params if q.tensor):
            shapes = [_out_shape(self.ir.layers[i.tensors[k][1]]) for i in self.instances]
            if len(shapes[0]) == 3:
                self.kept[p.name] = _T(self.size(f"@{p.name}:channels", f"{p.name}_channels", [s[0] for s in shapes]),
                                       None, None, None)
            else:
                self.kept[p.name] = _T(None, self.size(f"@{p.name}:features", f"{p.name}_features",
                                                       [s[0] for s in shapes]), None, None)

    def keep(self, step: Step, t: _T) -> None:
        """A labelled statement's output that a later `@label` reads: kept in a variable named by the label
        (no attribute or generated name can take it: labels are the user's, and `x` is reserved)."""
        if step.save is not None:
            self.fwd.append(f"{step.save} = {self.var}")
            self.kept[step.save] = t

    def step_ref(self, step: Step, t: _T) -> _T:
        self.reads()  # a branch's first statement: it reads the reference, not the branch's input
        name = known(step.name, step, "name")
        out = self.kept[name]
        self.fwd.append(f"{self.var} = {self.variable(name)}{self.comment(step, out)}")
        return out

    def conditional(self, steps: list[Step], t: _T) -> _T:
        """Write a conditional statement's steps; the tensor after them, in every instance."""
        out = t
        for step in steps:
            out = getattr(self, f"step_{step.kind}")(step, out)
        first, last = steps[0], steps[-1]
        assert first.cond is not None  # walk() passes the steps of a conditional statement
        holds = render(first.cond, self.scope(first.cond_index), self.n).vals
        ins = [_out_shape(self.ir.layers[s.in_node]) for s in self.counterparts(first)]
        outs = [_out_shape(self.ir.layers[s.out_node]) for s in self.counterparts(last)]
        actual = [o if h else i for h, i, o in zip(holds, ins, outs)]

        def agrees(size: Sym | None, where: list[tuple[int, ...]]) -> bool:
            return size is not None and all(v == s[0] for v, s in zip(size.vals, where))

        def merged(on: Sym | None, off: Sym | None) -> Sym | None:
            """The size after the statement: one of the two where it agrees with every instance, else both."""
            for size in (off, on):
                if agrees(size, actual):
                    return size
            if on is None or off is None:
                return None
            cond = self.cond_text(first)
            return Sym(f"{on} if {cond} else {off}", -2, tuple(s[0] for s in actual))

        if all(a == i for a, i in zip(actual, ins)) and all(h is False for h in holds):
            return t
        if all(a == o for a, o in zip(actual, outs)) and all(h is True for h in holds):
            return out
        scale = out.scale if out.scale is not None and t.scale is not None and out.scale.vals == t.scale.vals \
            else None
        rel = out.rel if out.rel is not None and t.rel is not None and out.rel.vals == t.rel.vals else None
        if any(len(a) != len(actual[0]) for a in actual):
            return _T(None, None, None, None)
        if len(actual[0]) == 3:
            return _T(merged(out.ch, t.ch), None, scale, rel)
        return _T(None, merged(out.feat, t.feat), None, None)

    def step_apply(self, step: Step, t: _T) -> _T:
        m = known(step.member, step, "member")
        if m.kind == "layer" and self.layer(m).attrs.get("folded"):
            return t  # a batch norm folded into the layer before it (compile --fuse): nothing left to write
        ctor, out = self.ctor(m, t)
        cond = self.cond_text(step)
        name = _name(m)
        self.declare(name, ctor, cond)
        if step.unrolled:  # never conditional (expansion refuses a reference into a conditional group)
            return self.unrolled(step, t)
        if cond:  # never in a concat(flat) branch (expansion refuses it): the variable is x
            self.fwd += [f"if {self.attr(name)} is not None:",
                         f"{_INDENT}x = {self.applied(m)}{self.comment(step, out)}"]
            return out  # as if it held: walk() decides what follows the statement
        src = self.reads()
        self.fwd.append(f"{self.var} = {self.applied(m, src)}{self.comment(step, out)}")
        return out

    def unrolled(self, step: Step, t: _T) -> _T:
        """A labelled group a reference reads into (`@backbone.4`), run member by member: `x =
        self.backbone[4](x)`, `backbone_4 = x`; the nn.Sequential and its keys stay as they are."""
        group = known(known(step.member, step, "member").children, step, "children")
        for child in group.steps:
            m = known(child.member, child, "member")
            if child.unrolled:
                t = self.unrolled(child, t)
            else:
                _, t = self.ctor(m, t)
                self.fwd.append(f"{self.var} = {_submodule(m)}({self.reads()}){self.comment(child, t)}")
            self.keep(child, t)
        return t

    def applied(self, m: Member, src: str = "x") -> str:
        """The member applied to `src`: a call of a submodule, or a product with a parameter (`scale`)."""
        if m.kind == "layer" and OPS[self.layer(m).op].parameter:
            return f"{self.attr(_name(m))} * {src}"
        if m.kind == "layer":  # tensor options (`crop(@up4)`): the kept tensors, after the input
            layer = self.layer(m)
            kept = [self.variable(str(layer.attrs[o.name])) for o in OPS[layer.op].options if o.kind == "tensor"
                    and layer.attrs.get(o.name) is not None]
            return f"{self.attr(_name(m))}({', '.join([src, *kept])})"
        if m.kind == "instance":  # a block's tensor parameters (`head(@backbone.4, 21)`): its forward's arguments
            passed = [self.variable(var) for var, _ in self.ir.instances[known(m.instance, m, "instance")].tensors]
            return f"{self.attr(_name(m))}({', '.join([src, *passed])})"
        return f"{self.attr(_name(m))}({src})"

    def step_concat(self, step: Step, t: _T) -> _T:
        return self.concatenated(step, [self.reads()] * len(step.branches), t, t)

    def step_split(self, step: Step, t: _T) -> _T:
        """`x1, x2 = x.chunk(2, 1)`, then the branches on their parts, concatenated (ShuffleNetV2's forward)."""
        n = len(step.branches)
        parts = [self.generated(f"x{k}") for k in range(1, n + 1)]
        self.fwd.append(f"{', '.join(parts)} = {self.reads()}.chunk({n}, 1)")
        part = _T(known(t.ch, step, "channels").binop("//", self.lit(n)), None, t.scale, t.rel)
        return self.concatenated(step, parts, t, part)

    def concatenated(self, step: Step, sources: list[str], t: _T, part: _T) -> _T:
        """The branches of a concat or split, branch k reading `sources[k]` (of shape `part`), joined by
        `torch.cat` on channels."""
        calls, channels, scale, rel = [], None, t.scale, t.rel
        made = set(self.made)
        for i, (branch, steps, src) in enumerate(zip(step.branches, step.branch_steps, sources), start=1):
            call, out = self.branch(i, branch, steps, src, part)
            calls.append(call)
            channels = out.ch if channels is None else channels.binop("+", known(out.ch, step, "channels"))
            scale, rel = out.scale, out.rel
        self.gen.imports.add("torch")
        out = _T(channels, None, scale, rel)
        joined = f"[branch({sources[0]}) for branch in self]" if self.iterated else f"[{', '.join(calls)}]"
        self.fwd.append(f"{self.var} = torch.cat({joined}, 1){self.comment(step, out)}")
        # The branches' variables are dead after the torch.cat: the next concatenation may reuse their names.
        self.made -= {call for call in calls if call not in made}
        return out

    def branch(self, i: int, member: Member | None, steps: list[Step], src: str, t: _T) -> tuple[str, _T]:
        """One branch of a concatenation: the expression of its result, and that tensor."""
        if member is not None:
            ctor, out = self.ctor(member, t)
            self.declare(_name(member), ctor, None)
            return self.applied(member, src), out
        if not steps:
            return src, t  # the identity: the input itself
        first = steps[0]
        if len(steps) == 1 and first.kind == "ref":  # `concat< @d4 | ... >`: the kept tensor itself
            name = known(first.name, first, "name")
            return self.variable(name), self.kept[name]
        if len(steps) == 1 and first.kind == "apply":
            m = known(first.member, first, "member")
            ctor, out = self.ctor(m, t)
            self.declare(_name(m), ctor, None)
            return self.applied(m, src), out
        # concat(flat): the branch's statements, on a variable of its own, named after the branch's first
        # label as torchvision's Inception writes it (`branch5x5_1: ...` -> `branch5x5`), or after the
        # reference it starts from (U-Net's `@d4; crop(@up4)` -> `skip4`), else by its place (`branch2`).
        var = self.generated(_branch_variable(i, steps), local=True)
        outer = self.var
        self.var, self.src = var, src
        if first.kind == "ref":  # the first statement reads the kept tensor itself: no `skip4 = d4` line
            name = known(first.name, first, "name")
            self.src, t, steps = self.variable(name), self.kept[name], steps[1:]
        out = self.walk(steps, t)
        self.var, self.src = outer, None
        return var, out

    def step_side(self, step: Step, t: _T) -> _T:
        m = known(step.member, step, "member")
        ctor, out = self.ctor(m, t)
        cond = self.cond_text(step)
        name = _name(m)
        self.declare(name, ctor, cond)
        call = self.applied(m)
        check = f"self.training and {self.attr(name)} is not None" if cond else "self.training"
        side = known(step.name, step, "name")
        self.fwd.append(f"{side} = {call} if {check} else None  # {self.shape_text(self.counterparts(step), out)}")
        self.sides.append((side, cond is not None))
        return t

    def step_output(self, step: Step, t: _T) -> _T:
        """`result["out"] = x` after the body, as torchvision's segmentation models fill their dict; every output
        after the first starts again from the tensor they all read (`x = features`), unless from a reference."""
        name = known(step.name, step, "name")
        if not self.result:
            self.gen.imports.add("OrderedDict")
            self.result = self.generated("result")
            self.fwd.append(f"{self.result}: OrderedDict[str, Tensor] = OrderedDict()")
            later = [s for s in self.instances[0].steps if s.kind == "output"][1:]
            if any(not (s.body and s.body[0].kind == "ref") for s in later):
                self.tapped = self.generated("features")
                self.fwd.append(f"{self.tapped} = x")
        elif self.tapped and not (step.body and step.body[0].kind == "ref"):
            self.fwd.append(f"x = {self.tapped}")
        cond = self.cond_text(step)
        outer_fwd, self.fwd, self.under = self.fwd, [], cond
        declared = len(self.declared)
        self.walk(step.body, t)
        body, self.fwd, self.under = self.fwd, outer_fwd, None
        body.append(f'{self.result}["{name}"] = x')
        if cond is None:
            self.fwd += body
        else:  # expansion made sure the body holds a member: the first one built tells whether it is
            self.fwd += [f"if {self.attr(self.declared[declared])} is not None:", *(_INDENT + line for line in body)]
        self.outputs.append((name, cond is not None))
        return t

    def step_residual(self, step: Step, t: _T) -> _T:
        one = self.lit(1)
        # Stochastic depth belongs to the add, as in torchvision's MBConv (`if self.use_res_connect:
        # result = self.stochastic_depth(result); result += input`): where no shortcut is added it is
        # not applied, so its line is kept apart from the body's.
        steps, dropping = step.body, []
        if steps and steps[-1].member is not None and steps[-1].member.kind == "layer" and \
                self.layer(steps[-1].member).op == "stochastic_depth":
            steps, dropping = steps[:-1], steps[-1:]
        outer_fwd, self.fwd = self.fwd, []
        body = self.walk(steps, _T(t.ch, t.feat, t.scale, one if t.scale is not None else None))
        body_lines, self.fwd = self.fwd, []
        body = self.walk(dropping, body) if dropping else body
        drop_lines, self.fwd = self.fwd, outer_fwd
        out = _T(body.ch, body.feat, body.scale, t.rel.binop("*", body.rel) if t.rel is not None and
                 body.rel is not None else None)
        decisions = [] if step.shortcut_steps else self.decisions(step)
        if decisions and set(decisions) == {"none"}:  # when_equal where no use keeps the shape: the body alone
            self.fwd += body_lines
            return out
        var = self.generated("identity")
        guard = None
        if step.shortcut_steps:
            sc_step = step.shortcut_steps[-1]
            sc = known(sc_step.member, sc_step, "member")
            ctor, _ = self.ctor(sc, t)
            self.declare(_name(sc), ctor, None)
            self.fwd.append(f"{var} = {self.applied(sc)}")
        elif "none" in decisions:
            guard = self.when_equal(step, t, body, decisions)
            self.fwd.append(f"{var} = x")
        else:
            self.fwd += self.auto_shortcut(step, t, body, var)
        self.fwd += body_lines
        add = f"x += {var}" if self.fresh(step.body) else f"x = x + {var}"
        if guard is None:
            self.fwd += drop_lines
            self.fwd.append(f"{add}{self.comment(step, out)}")
        else:
            self.fwd.append(f"if self.{guard}:")
            self.fwd += [f"{_INDENT}{line}" for line in drop_lines]
            self.fwd.append(f"{_INDENT}{add}{self.comment(step, out)}")
        return out

    def decisions(self, step: Step) -> list[str]:
        """What the automatic shortcut of a residual is in each instance: identity, projection, pad or none."""
        layers = [self.layer(known(s.shortcut, s, "shortcut")) for s in self.counterparts(step)]
        return [known(layer.derived.decision, layer, "decision") for layer in layers]

    def when_equal(self, step: Step, t: _T, body: _T, decisions: list[str]) -> str:
        """`residual(shortcut=when_equal)` whose uses differ: the attribute saying whether this one adds its
        input, as torchvision's `use_res_connect`: `stride == 1 and in_channels == c`, or a constructor argument."""
        keeps = self.lit(True)
        if t.ch is not None and body.ch is not None:
            keeps = t.ch.binop("==", body.ch)
        elif t.feat is not None and body.feat is not None:
            keeps = t.feat.binop("==", body.feat)
        if body.rel is not None and not (body.rel.const and body.rel.vals[0] == 1):
            keeps = body.rel.binop("==", self.lit(1)).binop("and", keeps) if not keeps.const else \
                body.rel.binop("==", self.lit(1))
        wanted = [d == "identity" for d in decisions]
        if list(keeps.vals) != wanted:
            keeps = self.size(f"{step.site}:shortcut", "use_shortcut", wanted)
        attr = self.generated("use_shortcut")
        if self.emit:
            self.init.append(f"self.{attr} = {keeps}")
        return attr

    def step_gate(self, step: Step, t: _T) -> _T:
        """`identity = x`, the body on x, then `x = identity * x`; with two paths the first one's result
        waits in a second variable while the second path runs on the input. In a flat branch the same on
        the branch's variable, the first path reading the branch's input."""
        var, src = self.generated("identity"), self.reads()
        self.fwd.append(f"{var} = {src}")
        outs = [t] if len(step.factors) == 1 else []
        first = None
        for k, path in enumerate(step.factors):
            if k:
                first = self.generated("gated")
                self.fwd += [f"{first} = {self.var}", f"{self.var} = {var}"]
            elif src != self.var:
                self.src = src  # a flat branch's first statement: its first path reads the branch's input
            outs.append(self.walk(path, t))
        mul = self.ir.layers[step.out_node]
        out = outs[0] if mul.out_shape == self.ir.layers[mul.inputs[0]].out_shape else outs[1]
        self.fwd.append(f"{self.var} = {first or var} * {self.var}{self.comment(step, out)}")
        return out

    def fresh(self, body: list[Step]) -> bool:
        """Whether the body's result is a new tensor that autograd does not keep: then the residual add
        may write into it (`x += identity`, as torchvision does), saving one allocation per block."""
        # Stochastic depth returns its input (eval mode) or a product nothing keeps: what it reads decides.
        while body and body[-1].member is not None and body[-1].member.kind == "layer" and \
                self.layer(body[-1].member).op == "stochastic_depth":
            body = body[:-1]
        last = body[-1] if body else None
        if last is None or last.kind != "apply" or last.cond is not None:
            return False
        if known(last.member, last, "member").kind not in ("layer", "seq", "instance"):
            return False
        # A block use or nn.Sequential (MobileNetV3's and EfficientNet's `self.block`, which torchvision adds
        # into) hands back the tensor its last layer made, in each use: that layer decides. A result that
        # something else reads too (a reference to its label) must not be written into.
        made = [self.ir.layers[s.out_node] for s in self.counterparts(last) if s.out_node != s.in_node]
        return len(made) == len(self.instances) and all(
            layer.enabled and len(layer.outputs) == 1 and OPS[layer.op].fresh_output for layer in made)

    def auto_shortcut(self, step: Step, t: _T, body: _T, var: str) -> list[str]:
        m = known(step.shortcut, step, "shortcut")
        layers = [self.layer(known(s.shortcut, s, "shortcut")) for s in self.counterparts(step)]
        decisions = self.decisions(step)
        if set(decisions) == {"identity"}:
            return [f"{var} = x"]
        # Not an identity: the shape check allows that only between feature maps, which have channels.
        cin, cout = known(t.ch, step, "input channels"), known(body.ch, step, "output channels")
        wanted = [layer.derived.stride or (1, 1) for layer in layers]
        # One stride for every use: write it as a number; otherwise as the body's stride expression,
        # or failing that as a constructor argument.
        if len(set(wanted)) == 1:
            stride = self.pair(wanted)
        elif body.rel is not None and all(s == (v, v) for s, v in zip(wanted, body.rel.vals)):
            stride = body.rel
        else:
            stride = self.size(f"{step.site}:stride", "shortcut_stride", wanted)
        if "pad" in decisions:
            counts = [layer.derived.pad_channels or 0 for layer in layers]
            channels = self.lit(counts[0]) if len(set(counts)) == 1 else cout.binop("-", cin)
            if any(c != v for c, v in zip(counts, channels.vals)):
                channels = self.size(f"{step.site}:channels", "shortcut_channels", counts)
            # One pair of attributes per zero-padding shortcut of the class.
            s_attr = self.generated("shortcut_stride", also="shortcut_channels")
            c_attr = "shortcut_channels" + s_attr[len("shortcut_stride"):]
            if self.emit:
                self.init += [f"self.{s_attr} = {stride}", f"self.{c_attr} = {channels}"]
            rows, cols = (f"self.{s_attr}[0]", f"self.{s_attr}[1]") if any(
                isinstance(v, tuple) for v in stride.vals) else (f"self.{s_attr}",) * 2
            lines = [f"{var} = x[:, :, :: {rows}, :: {cols}]"]
            if all(not layer.derived.pad_before for layer in layers):  # the zeros after the input's channels
                return lines + [f"{var} = nn.functional.pad({var}, (0, 0, 0, 0, 0, self.{c_attr}))"]
            half = self.generated("half")  # half before them, the rest after, as the common CIFAR ResNet code pads
            return lines + [f"{half} = self.{c_attr} // 2",
                            f"{var} = nn.functional.pad({var}, (0, 0, 0, 0, {half}, self.{c_attr} - {half}))"]
        stride_arg = "" if stride.const and stride.vals[0] == 1 else f", stride={stride}"
        ctor = (f"nn.Sequential(\n{_INDENT}nn.Conv2d({cin}, {cout}, kernel_size=1{stride_arg}, bias=False),\n"
                f"{_INDENT}nn.BatchNorm2d({cout}),\n)")
        if self.ir.folded:  # the batch norm folded into the conv (compile --fuse); the conv keeps its name
            ctor = f"nn.Sequential(\n{_INDENT}nn.Conv2d({cin}, {cout}, kernel_size=1{stride_arg}),\n)"
        name = _name(m)
        if set(decisions) == {"projection"}:
            self.declare(name, ctor, None)
            return [f"{var} = self.{name}(x)"]
        needed = stride.binop("!=", self.lit(1)).binop("or", cin.binop("!=", cout))
        if any(v != (d == "projection") for v, d in zip(needed.vals, decisions)):
            needed = self.size(f"{step.site}:projection", "projection", [d == "projection" for d in decisions])
        self.declare(name, ctor, needed.text)
        return [f"{var} = x if self.{name} is None else self.{name}(x)"]

    # -- constructors ------------------------------------------------------------------------
    def ctor(self, m: Member, t: _T) -> tuple[str, _T]:
        if m.kind == "seq":
            return self.ctor_seq(m, t)
        if m.kind == "instance":
            return self.ctor_instance(m, t)
        layer = self.layer(m)
        if layer.argument is not None:  # a layer word argument: the class the block's constructor was given
            inplace = layer.attrs.get("inplace")  # expansion made it the same for every use
            return f"{self.names[layer.argument]}({'inplace=True' if inplace else ''})", t
        return known(OPS[layer.op].emit, layer, "emitter")(_Emit(self, m, t))

    def ctor_seq(self, m: Member, t: _T) -> tuple[str, _T]:
        parts = []
        for child in known(m.children, m, "children").members:
            text, t = self.ctor(child, t)
            parts.append((child, text))
        if any(child.label for child, _ in parts):
            self.gen.imports.add("OrderedDict")
            items = [f'("{child.name}", {_indent(text, 1)}),' for child, text in parts]
            return "nn.Sequential(OrderedDict([\n" + "\n".join(_INDENT + i for i in items) + "\n]))", t
        items = [_indent(text, 1) + "," for _, text in parts]
        return "nn.Sequential(\n" + "\n".join(_INDENT + i for i in items) + "\n)", t

    def ctor_instance(self, m: Member, t: _T) -> tuple[str, _T]:
        children = [self.ir.instances[known(c.instance, c, "instance")] for c in self.members(m)]
        first = children[0]
        block, call = known(first.block, first, "block"), known(first.call, first, "call")
        cin = known(t.ch if t.ch is not None else t.feat, m, "input size")
        args = [str(cin)]
        child_names: dict[str, Sym] = {"in_channels": cin}
        given: dict[str, A.Expr] = {}
        positional = [a for a in call.args if a.name is None]
        for p, a in zip(block.params, positional):
            given[p.name] = a.value
        given.update({a.name: a.value for a in call.args if a.name is not None})
        names = {word: self.lit(word) for word in PADDING_WORDS} | self.scope(m.index)  # `same` is a value here
        names |= _words([a.value for a in call.args], names, self.n)  # `act=hardswish`: nn.Hardswish
        dropped = self.gen.dropped[block.name]
        bound = [param.name for param in block.params[:len(positional)]] + [None] * len(call.args)
        for a, name in zip(call.args, bound):
            if isinstance(a.value, A.Ref):  # a tensor argument: passed to the forward (applied())
                continue
            if (a.name or name) in dropped:
                continue  # a parameter the class does not take (see block_class)
            text = render(a.value, names, self.n).text
            args.append(text if a.name is None else f"{a.name}={text}")
        for p in block.params:
            if p.tensor:
                continue
            expr = given.get(p.name)
            if expr is not None:
                child_names[p.name] = render(expr, names, self.n)
            elif p.default is not None:
                child_names[p.name] = self.lit(p.default.id) if _is_enum(p.default) else \
                    render(p.default, child_names | _words([p.default], child_names, self.n), self.n)
            else:  # not known(): mypy would infer the join of Expr's union, Node, for its result
                raise InternalError(f"{p!r} is neither passed nor has a default")
        follower = _Writer(self.gen, children, child_names, emit=False)
        follower.given = {}
        for key, (arg, by_id) in self.gen.extras[block.name].items():
            sym = self.size(f"{m.site}>{key}", arg, [by_id[c.id] for c in children], passed=True)
            follower.given[key] = sym
            args.append(f"{arg}={sym}")
        follower.tensor_parameters(block)
        inner = follower.walk(first.steps, follower.start(self.gen.input_state(first, cin, self.n)))
        scale = t.scale.binop("*", inner.scale) if t.scale is not None and inner.scale is not None else None
        rel = t.rel.binop("*", inner.scale) if t.rel is not None and inner.scale is not None else None
        return f"{self.gen.class_of[block.name]}({', '.join(args)})", _T(inner.ch, inner.feat, scale, rel, inner.last)

    def _scaled(self, t: _T, stride: Sym, ch: Sym) -> _T:
        if isinstance(stride.vals[0], tuple):  # a rectangular stride: stop following the scale
            return _T(ch, None, None, None)
        return _T(ch, None, t.scale.binop("*", stride) if t.scale is not None else None,
                  t.rel.binop("*", stride) if t.rel is not None else None)

    def padding(self, m: Member, kernel: Sym, dilation: Sym) -> Sym:
        """The padding argument: as written, or the 'same' padding as a number or a formula."""
        layer = self.layer(m)
        if "padding" in layer.exprs and not _is_enum(layer.exprs["padding"]):
            written = render(layer.exprs["padding"], self.scope(m.index), self.n)
            if not any(isinstance(v, str) for v in written.vals):
                return written
            # A block argument that is `same` or `valid` somewhere: torch's padding="same" is another rule
            # (stride 1 only, the odd pixel on one side), so write the numbers the shape check worked out.
        values = [known(lay.derived.padding, lay, "padding") for lay in self.layers_of(m)]
        if all(v == values[0] for v in values):
            return self.pair(values)
        # 'same' padding of a kernel that is a block argument: (k - 1) // 2 * d
        formula = kernel.binop("-", self.lit(1)).binop("//", self.lit(2)).binop("*", dilation)
        if isinstance(kernel.vals[0], tuple) or any((v, v) != p for v, p in zip(formula.vals, values)):
            return self.size(f"{m.site}:padding", "padding", values)
        return formula


class _Emit:
    """What a layer's emitter (the `emit` rule of its registry entry, archdsl/layers/) may ask and answer.

    One per constructor written: the layer (its first use in this class) and all its uses, its options
    as this class writes them, the tensor coming in, and the tensor going out (`same`, `scaled`, ...).
    """

    __slots__ = ("member", "t", "writer")

    def __init__(self, writer: _Writer, member: Member, t: _T):
        self.writer, self.member, self.t = writer, member, t

    @property
    def layer(self) -> Layer:
        return self.writer.layer(self.member)

    @property
    def uses(self) -> list[Layer]:
        return self.writer.layers_of(self.member)

    @property
    def channels(self) -> Sym | None:
        """The incoming feature map's channels (None for flat features)."""
        return self.t.ch

    @property
    def features(self) -> Sym | None:
        """The incoming flat features (None for a feature map)."""
        return self.t.feat

    @property
    def channels_last(self) -> bool:
        """Whether the incoming feature map is (H, W, C), after permute(0, 2, 3, 1)."""
        return self.t.last

    def opt(self, name: str) -> Sym:
        return self.writer.opt(self.member, name)

    def lit(self, value) -> Sym:
        return self.writer.lit(value)

    def padding(self, kernel: Sym, dilation: Sym) -> Sym:
        return self.writer.padding(self.member, kernel, dilation)

    def keywords(self, options: list[tuple[str, Sym, object]]) -> list[str]:
        return _keywords(options)

    def size(self, name: str, hint: str, values: list) -> Sym:
        """A size of this layer that may differ between the block's uses: a literal when it does not,
        else a constructor argument named after `hint` (see _Writer.size)."""
        return self.writer.size(f"{self.member.site}:{name}", hint, values)

    def module(self, name: str) -> str:
        """A module the emitted file imports (`torch`), for an emitter that writes more than an nn class."""
        self.writer.gen.imports.add(name)
        return name

    def helper(self, name: str) -> str:
        """The class `name` of the op's registry entry (its `helpers`), defined once in the module."""
        (helper,) = [h for h in OPS[self.layer.op].helpers if h.name == name]
        self.writer.gen.helpers[name] = helper.source
        if "torch." in helper.source:
            self.writer.gen.imports.add("torch")
        return name

    # -- the tensor going out
    def same(self) -> _T:
        return self.t

    def scaled(self, stride: Sym, channels: Sym) -> _T:
        """A feature map `stride` times smaller, with `channels` channels."""
        return self.writer._scaled(self.t, stride, channels)

    def unscaled(self, channels: Sym | None) -> _T:
        """A feature map whose size no longer follows the class's input (adaptive pooling)."""
        return _T(channels, None, None, None)

    def flat(self, features: Sym) -> _T:
        return _T(None, features, None, None)

    def last(self, channels: Sym) -> _T:
        """A channels-last map of the same height and width with `channels` channels (fc on the last dimension)."""
        return _T(channels, None, self.t.scale, self.t.rel, True)

    def permuted(self, to_last: bool) -> _T:
        """The same map with its channels moved last (`to_last`) or back to the front."""
        return _T(self.t.ch, None, self.t.scale, self.t.rel, to_last)


def _keywords(options: list[tuple[str, Sym, object]]) -> list[str]:
    """`name=value` for options that are not at their PyTorch default."""
    out = []
    for name, sym, default in options:
        if sym.const and len(set(map(repr, sym.vals))) == 1 and sym.vals[0] == default \
                and type(sym.vals[0]) is type(default):
            continue
        out.append(f"{name}={sym}")
    return out


def _normalized(values: list) -> list:
    """(h, w) pairs as one number when every one is square; otherwise all as pairs."""
    if any(isinstance(v, tuple) and v[0] != v[1] for v in values):
        return [v if isinstance(v, tuple) else (v, v) for v in values]
    return [v[0] if isinstance(v, tuple) else v for v in values]


def _size_type(values: list) -> str:
    return "tuple[int, int]" if isinstance(values[0], tuple) else _type_name(values)


def _out_shape(layer: Layer) -> tuple[int, ...]:
    return known(layer.out_shape, layer, "out_shape")  # set for every layer once the shape check has passed


def _channels(layer: Layer) -> int:
    """The channels (features, when flat) of a layer's output, whichever end of a map they are at."""
    shape = _out_shape(layer)
    return shape[-1] if layer.nhwc else shape[0]


def _spatial(layer: Layer) -> tuple[int, int] | None:
    """A feature map's height and width, channels first or last; None for flat features."""
    shape = _out_shape(layer)
    if len(shape) != 3:
        return None
    return (shape[0], shape[1]) if layer.nhwc else (shape[1], shape[2])


def _name(m: Member) -> str:
    return known(m.name, m, "name")  # naming.py names every member


def _submodule(m: Member) -> str:
    """A member inside a labelled group, read from the class: `self.backbone[4]` (unlabelled, by index),
    `self.backbone.layer3`; `self.get_submodule("backbone.block1-0")` where a quoted label is on the way."""
    names, text = [], "self"
    while m.container.owner is not None and m.container.kind == "seq":
        names.append((_name(m), m.label is None))
        m = m.container.owner
    names.append((_name(m), False))
    if any(not name.isidentifier() and not indexed for name, indexed in names):
        return f'self.get_submodule("{".".join(name for name, _ in reversed(names))}")'
    for name, indexed in reversed(names):
        text += f"[{name}]" if indexed else f".{name}"
    return text


def _attr(name: str) -> str:
    """A member read in the emitted code: `self.conv1`, or `getattr(self, "block1-0")` for a quoted label."""
    return f"self.{name}" if name.isidentifier() else f'getattr(self, "{name}")'


def _is_enum(expr: A.Expr) -> TypeGuard[A.Name]:
    return isinstance(expr, A.Name) and expr.id in ("same", "valid")


def _indent(text: str, levels: int) -> str:
    return text.replace("\n", "\n" + _INDENT * levels)


def _words(exprs: list[A.Expr], names: dict[str, Sym], n: int) -> dict[str, Sym]:
    """The layer words among `exprs` that are no name in scope, as the torch classes they stand for (`nn.ReLU`):
    block arguments (`act = relu`), which the block's constructor calls."""
    found = {}
    for expr in exprs:
        for name in free_names(expr):
            spec = lookup(name)
            if name not in names and spec is not None and spec[0].argument:
                found[name] = Sym(spec[0].torch, 9, (Word(spec[0].word),) * n, True)
    return found


_CALLABLE = "Callable[..., nn.Module]"


def _type_name(values: list) -> str:
    if all(isinstance(v, Word) for v in values):
        return _CALLABLE
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, str) for v in values):
        return "str"
    if all(isinstance(v, tuple) for v in values):
        return "tuple[int, int]"
    if any(isinstance(v, tuple) for v in values):
        return "int | tuple[int, int]"  # a size: one number or (height, width)
    if any(isinstance(v, str) for v in values):
        return "int | str"  # a padding: a number, `same` or `valid`
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "int"
    return "float"


_MODULE_NAMES = {"torch", "nn", "Tensor", "OrderedDict", "NamedTuple", "Path", "json", "hashlib", "math",
                 "annotations", "pretrained", "read_safetensors", "Callable"}


def _unique(name: str, taken: set[str]) -> str:
    base, n = name, 2
    while name in taken or name in ("Tensor", "OrderedDict", "NamedTuple", "Callable") or keyword.iskeyword(name):
        name, n = f"{base}{n}", n + 1
    taken.add(name)
    return name


# Text read from no file, as the docstrings name it (not "_stdin_", the placeholder sanitised).
TEXT_SOURCES = {"<stdin>": "standard input", "<string>": "a string"}


def _basename(path: str) -> str:
    if path in TEXT_SOURCES:
        return TEXT_SOURCES[path]
    # File names are user text that lands in docstrings: keep only characters that cannot end
    # or escape a string literal.
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", re.split(r"[\\/]", path)[-1])
