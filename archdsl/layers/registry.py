"""The layer registry: everything the compiler knows about a layer word, registered as one entry.

Modelled on TVM's operator registry, where an op's attributes, type relation and compute are
registered together: a `LayerSpec` holds a word's spelling and options, its shape rule, its
parameter count, its cost rule, its PyTorch emitter and the flags the stages ask about (stateless,
in place, folding, depth). `register()` refuses an entry that lacks any of them, so a forgotten
rule fails when archdsl is imported, not as an AttributeError halfway through code generation.

The family modules (conv.py, pooling.py, ...) register the words; the joins that are no layer
word (input, add, concat, shortcut, output, side_output) are internal entries (joins.py), so every
op of the IR is looked up the same way: `OPS[layer.op]`. The rules are plain Python; only the
emitters' text names torch modules.

`bind()` turns a call such as `conv3-64/2(bias=false)` into an op name, concrete option
values (for shape inference) and the option expressions the user wrote (for code generation).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from archdsl.errors import ArchError, Diagnostic, closest, did_you_mean
from archdsl.frontend import ast as A
from archdsl.frontend.expr import Value, Word, evaluate

if TYPE_CHECKING:
    from archdsl.analysis.accounting import Context, Cost
    from archdsl.ir.nodes import IR, Layer

    Shape = tuple[int, ...]
    ShapeRule = Callable[[Layer, list[Shape], IR], None]
    ParamRule = Callable[[Layer], tuple[int, int]]
    CostRule = Callable[[Layer, Context], Cost]
    EmitRule = Callable[[Any], tuple[str, Any]]


class Option(NamedTuple):
    """A keyword option of a layer word (`stride`, `padding`, `bias`, ...)."""

    name: str
    kind: str  # see _CHECKS; "choice": one of `choices`, written as a bare word (`approximate=tanh`)
    default: Any
    doc: str
    choices: tuple[str, ...] = ()


class Fold(NamedTuple):
    """How `compile --fuse` (pytorch/folding.py) treats an op."""

    absorbs: int | None = None  # a batch norm over this many dims (2: feature maps, 1: features) folds into it
    folds: bool = False  # a batch norm itself: folded into the layer before it


NO_FOLD = Fold()


class Helper(NamedTuple):
    """A class the emitted module defines because no torch module computes the op alone (ln's LayerNorm2d).

    Fixed text with no user input in it: the emitter asks for it by name (`e.helper(name)`), the code
    generator writes it once before the module's own classes, and pytorch/guard.py accepts it only verbatim.
    """

    name: str
    source: str


class Initialised(NamedTuple):
    """What `init` may set in a word's layers (ir/init.py checks it; pytorch/init_code.py writes it).

    The emitted `init_weights` finds the layers' modules by class, as torchvision's loops over
    `self.modules()` do, so `module` must name a class that no other word's layers become.
    """

    module: Callable[[Any], str]  # the torch class a layer becomes, as the emitted code names it
    has: Callable[[Any, str], bool]  # whether a layer has the tensor ("weight", "bias"): bias=false, affine=false
    fans: bool  # the weight has a fan-in and a fan-out (2 or more dims): kaiming and xavier apply
    pytorch: str  # what the module's own reset_parameters gives, for the docs
    norm: bool = False  # a norm's scale per channel: `init residual(last_norm=zeros)` zeroes a body's last one


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class _ByWord:
    def __repr__(self) -> str:
        return "BY_WORD"


BY_WORD: Any = _ByWord()  # an optional rule left out: register() puts in one that gives the word


class LayerSpec(NamedTuple):
    """One op: how it is written (for a layer word), and every rule a stage of the compiler asks for.

    A NamedTuple, like the other immutable values here: every command builds the whole registry at
    start-up, and a frozen dataclass of this many fields took several times as long to create.
    """

    word: str  # the word in the language; an internal join: its op
    op: str  # the op of the graph IR
    torch: str  # the module(s) it becomes, for the docs
    doc: str
    # -- spelling
    dashes: tuple[str, ...] = ()  # options written `word-a-b`
    slash: str | None = None  # the option written `word/s`
    options: tuple[Option, ...] = ()
    kernel_in_word: bool = False  # `conv3`, `maxpool3x1`: the kernel in the word
    example: str = ""
    required: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()  # other spellings of the word (`linear` for `fc`)
    helpers: tuple[Helper, ...] = ()  # the classes its emitter may define in the emitted module
    init: Initialised | None = None  # the tensors `init conv(...)` may set; None: `init` refuses the word
    # -- rules: register() refuses an entry without each of these (see RULES)
    shape: ShapeRule = MISSING  # sets layer.out_shape (and layer.derived); raises shapes.geometry.Problem
    params: ParamRule = MISSING  # (parameters, buffers) once the shape is known
    cost: CostRule = MISSING  # MACs, other ops, and memory of one forward (analysis/accounting.py)
    emit: EmitRule | None = MISSING  # the nn.Module constructor text (pytorch/codegen.py's _Emit); joins: None
    stateless: bool = MISSING  # no parameters or buffers: unlabelled equal ones share one attribute
    inplace_after: frozenset[str] = MISSING  # ops after which it overwrites its input (inplace=True)
    fresh_output: bool = MISSING  # its output is a new tensor autograd does not keep: a residual may add into it
    fold: Fold = MISSING
    counts_in_depth: bool = MISSING  # a weighted layer of the network's depth (VGG-16: 16)
    # -- optional: defaults to the word (resolved by register(), so a registered entry always has a rule)
    describe: Callable[[Layer], str] = BY_WORD  # the layer in the language's shorthand: `conv7-64/2`
    naming: Callable[[dict], str] = BY_WORD  # the word unlabelled attributes are named by (`fc1`)
    color: str | None = None  # the fill of its row in drawings; None: the neutral grey
    # It takes a channels-last (H, W, C) tensor, being element-wise or acting on the last dimension (ln, fc):
    # every other op refuses one (shapes/inference.py), so no rule reads H as channels by mistake.
    last_dim: bool = False
    # A learned tensor held by the module itself (nn.Parameter), named by the label, that the forward multiplies
    # by (`x = self.layer_scale * x`): no submodule, so it cannot stand in an nn.Sequential.
    parameter: bool = False
    internal: bool = False  # a join, not a word of the language
    # Its class in torch.autocast's lists (analysis/accounting.py: LOWER, FP32, FOLLOW), or a function of the
    # layer giving one: the dtype it computes in under `summary --dtype mixed`.
    autocast: str | Callable[[Layer], str] = "follow"
    # It can be a block argument (`act = relu6`): emitted as a class the block's constructor takes and calls
    # with no argument (or inplace=True), so the word needs no option from its use and holds no weights.
    argument: bool = False

    def __repr__(self) -> str:
        return f"<LayerSpec {self.word}{' (internal)' if self.internal else ''}: op {self.op}>"

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)

    @property
    def positional(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.options)


RULES = tuple(name for name, default in LayerSpec._field_defaults.items() if default is MISSING)


class RegistryError(Exception):
    """A layer entry that cannot be registered: a bug in archdsl, raised at import."""


SPECS: dict[str, LayerSpec] = {}  # word or alias -> entry (the language's words)
OPS: dict[str, LayerSpec] = {}  # op -> entry (every op the IR can hold, joins included)
HELPERS: dict[str, Helper] = {}  # class name -> the one helper of that name
# At most 9 digits: a longer number in a word is no kernel size, and int() of thousands of digits raises.
_KERNEL_WORD: re.Pattern[str] | None = None  # see _kernel_word()
PADDING_WORDS = ("same", "valid")


def register(spec: LayerSpec) -> LayerSpec:
    """Add one entry; raises RegistryError if a rule is missing or the spelling clashes."""
    global _KERNEL_WORD
    missing = [name for name in RULES if getattr(spec, name) is MISSING]
    if missing:
        raise RegistryError(f"layer '{spec.word}' has no {', '.join(missing)} rule")
    if spec.emit is None and not spec.internal:
        raise RegistryError(f"layer '{spec.word}' has no emitter: only internal joins are written without one")
    if spec.op in OPS:
        raise RegistryError(f"op '{spec.op}' registered twice")
    names = {o.name for o in spec.options}
    unknown = [n for n in (*spec.dashes, *spec.required, *([spec.slash] if spec.slash else [])) if n not in names]
    if unknown or (spec.kernel_in_word and "kernel" not in names):
        raise RegistryError(f"layer '{spec.word}' names options it lacks: {unknown or ['kernel']}")
    for helper in spec.helpers:
        if HELPERS.setdefault(helper.name, helper) != helper:
            raise RegistryError(f"layer '{spec.word}': helper class '{helper.name}' defined twice, differently")
    spellings = () if spec.internal else (spec.word, *spec.aliases)
    taken = [word for word in spellings if word in SPECS]
    if taken or len(set(spellings)) < len(spellings):
        raise RegistryError(f"layer word '{(taken or spellings)[0]}' registered twice")
    spec = spec._replace(describe=_plain(spec.word) if spec.describe is BY_WORD else spec.describe,
                         naming=_plain(spec.word) if spec.naming is BY_WORD else spec.naming)
    OPS[spec.op] = spec
    if spec.internal:
        return spec
    for word in spellings:
        SPECS[word] = spec
    _KERNEL_WORD = None  # rebuilt on the next lookup: compiling it at every registration cost start-up 2 ms
    return spec


def _kernel_word() -> re.Pattern[str]:
    """`conv3`, `maxpool3x1`: the words whose entries take the kernel in the word, with a kernel."""
    global _KERNEL_WORD
    if _KERNEL_WORD is None:
        kernel_words = "|".join(re.escape(s.word) for s in OPS.values() if s.kernel_in_word)
        _KERNEL_WORD = re.compile(rf"^({kernel_words})([0-9]{{1,9}})(?:x([0-9]{{1,9}}))?$")
    return _KERNEL_WORD


def _plain(word: str) -> Callable[[Any], str]:
    return lambda _: word


def words() -> list[LayerSpec]:
    """The language's layer words, once each (aliases folded), in registration order."""
    return [s for s in OPS.values() if not s.internal]


def lookup(word: str) -> tuple[LayerSpec, tuple[int, int] | None] | None:
    """The spec for a layer word and the kernel written in it (`conv1x7` -> (1, 7))."""
    if word in SPECS:
        return SPECS[word], None
    match = _kernel_word().match(word)
    if match:
        kh = int(match.group(2))
        kw = int(match.group(3)) if match.group(3) else kh
        return SPECS[match.group(1)], (kh, kw)
    return None


def argument_words() -> list[str]:
    """The layer words a block may take as an argument (`act = relu6`), in the registry's order."""
    return list(dict.fromkeys(spec.word for spec in SPECS.values() if spec.argument))


def suggest(word: str, extra: list[str]) -> str | None:
    base = _kernel_word().sub(r"\1", word)
    candidates = sorted(set(SPECS) | set(extra))
    return closest(base, candidates) or closest(word, candidates)


@dataclass
class Bound:
    """A layer call with every option decided."""

    spec: LayerSpec
    attrs: dict[str, Value | tuple[int, int] | None]
    exprs: dict[str, A.Expr]  # what the user wrote, for code generation


def bind(call: A.Call, spec: LayerSpec, kernel: tuple[int, int] | None, env: dict[str, Value],
         defaults: Mapping[str, A.Arg] | None = None) -> Bound:
    """Concrete options of one layer call; raises ArchError naming the offending argument.

    `defaults` (ir/defaults.py) give the options the call leaves out, checked as if written there."""
    given: dict[str, A.Expr] = {}
    spans: dict[str, A.Node] = {}

    def give(name: str, expr: A.Expr, node: A.Node) -> None:
        if name in given:
            raise ArchError(Diagnostic(f"'{call.name}': option '{name}' given twice", node.span,
                                       code="duplicate-option"))
        given[name], spans[name] = expr, node

    if len(call.dashes) > len(spec.dashes):
        raise ArchError(Diagnostic(
            f"'{call.name}' takes {len(spec.dashes)} '-' argument(s), got {len(call.dashes)}", call.span,
            hint=f"write it as {spec.example}" if spec.example else None, code="layer-arity"))
    for name, expr in zip(spec.dashes, call.dashes):
        give(name, expr, expr)
    if call.slash is not None:
        if spec.slash is None:
            raise ArchError(Diagnostic(f"'{call.name}' takes no '/stride'", call.slash.span, code="layer-arity"))
        give(spec.slash, call.slash, call.slash)
    # The options positional arguments fill, in order: worked out only for a call that has arguments in
    # parentheses (most calls are written `conv3-64/2`, and this ran for every layer of every network).
    free = [n for n in spec.positional if n not in given and not (n == "kernel" and kernel)] if call.args else []
    for arg in call.args:
        if arg.name is None:
            if not free:
                raise ArchError(Diagnostic(f"too many positional arguments for '{call.name}'", arg.span,
                                           code="layer-arity"))
            give(free.pop(0), arg.value, arg)
        else:
            if spec.option(arg.name) is None:
                names = ", ".join(o.name for o in spec.options) or "none"
                hint = did_you_mean(arg.name, [o.name for o in spec.options], f"options of '{spec.word}': {names}")
                raise ArchError(Diagnostic(f"'{call.name}' has no option '{arg.name}'", arg.span, hint=hint,
                                           code="unknown-option"))
            give(arg.name, arg.value, arg)
            free = [n for n in free if n != arg.name]
    if kernel is not None and "kernel" in given:
        raise ArchError(Diagnostic(f"kernel given twice: in '{call.name}' and as an option", spans["kernel"].span,
                                   code="duplicate-option"))
    for name, arg in (defaults or {}).items():
        if name not in given and not (name == "kernel" and kernel):
            give(name, arg.value, arg)
    attrs: dict[str, Any] = {}
    for option in spec.options:
        if option.name in given:
            expr = given[option.name]
            value = option_value(expr, option, env)
            attrs[option.name] = check_option(option, value, spans[option.name], call.name)
        elif option.name == "kernel" and kernel is not None:
            for size in kernel:  # `maxpool0`, `conv3x0`: the word's kernel obeys the option's rule
                check_option(option, size, call, call.name)
            attrs["kernel"] = kernel
        else:
            attrs[option.name] = option.default
    for name in spec.required:
        if attrs.get(name) is None:
            raise ArchError(Diagnostic(f"'{call.name}' needs {name}", call.span,
                                       hint=f"write it as {spec.example}" if spec.example else None,
                                       code="missing-option"))
    for name in ("kernel", "stride", "dilation", "output"):
        single = attrs.get(name)  # one number for both sides: `stride=2` is (2, 2)
        if isinstance(single, int) and not isinstance(single, bool):
            attrs[name] = (single, single)
    return Bound(spec, attrs, given)


def option_value(expr: A.Expr, option: Option, env: dict[str, Value]) -> Value:
    if option.kind == "tensor":
        if not isinstance(expr, A.Ref):
            raise ArchError(Diagnostic(f"option '{option.name}' takes a tensor: write @label", expr.span,
                                       code="bad-option-value"))
        return expr.name  # the label; expansion adds its output to the inputs
    if option.kind == "pad" and isinstance(expr, A.Name) and expr.id in PADDING_WORDS and expr.id not in env:
        return expr.id
    if option.kind == "choice" and isinstance(expr, A.Name) and expr.id not in env:
        return expr.id  # not one of the choices: _check names them, better than "undefined name"
    return evaluate(expr, env)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _pair(v: Any, least: int) -> bool:
    """A (height, width) pair of integers of at least `least`: `1x7`, `(0, 3)`."""
    return isinstance(v, tuple) and len(v) == 2 and all(_is_int(x) and x >= least for x in v)


def check_option(option: Option, value: Any, node: A.Node, word: str) -> Any:
    if isinstance(value, Word):
        raise ArchError(Diagnostic(f"'{word}': {option.name} is a value, got the layer word '{value}'", node.span,
                                   code="word-as-value", hint="a parameter that holds a layer word stands as a "
                                                              "statement of its own (`act`), not as an option"))
    if option.kind == "choice":
        ok, want = value in option.choices, " or ".join(f"`{c}`" for c in option.choices)
    else:
        ok, want = _CHECKS[option.kind](value)
    if not ok:
        raise ArchError(Diagnostic(f"'{word}': {option.name} must be {want}, got {value!r}", node.span,
                                   code="bad-option-value"))
    return float(value) if option.kind in ("float", "prob", "real") else value


_CHECKS = {
    "tensor": lambda v: (isinstance(v, str), "@label"),
    "count": lambda v: (_is_int(v) and v >= 1, "a positive integer"),
    "size": lambda v: ((_is_int(v) and v >= 1) or _pair(v, 1), "a positive integer"),  # or a pair of them: 1x7
    "int": lambda v: (_is_int(v), "an integer"),
    "pad": lambda v: ((_is_int(v) and v >= 0) or _pair(v, 0) or v in PADDING_WORDS,  # a pair: (0, 3)
                      "a non-negative integer, `same` or `valid`"),
    "bool": lambda v: (isinstance(v, bool), "true or false"),
    "real": lambda v: (isinstance(v, int | float) and not isinstance(v, bool), "a number"),
    "float": lambda v: (isinstance(v, int | float) and not isinstance(v, bool) and v >= 0, "a non-negative number"),
    "prob": lambda v: (isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1, "a number in [0, 1]"),
}
