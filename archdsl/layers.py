"""The layer vocabulary: every layer word, its shorthand, options and defaults, as one table.

`bind()` turns a call such as `conv3-64/2(bias=false)` into an op name, concrete option
values (for shape inference) and the option expressions the user wrote (for code generation).
docs/language.md is written from this table (tests/test_docs.py keeps them in step).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from archdsl.errors import ArchError, Diagnostic, closest, did_you_mean
from archdsl.frontend import ast as A
from archdsl.frontend.expr import Value, evaluate


class Option(NamedTuple):
    """A keyword option of a layer word (`stride`, `padding`, `bias`, ...)."""

    name: str
    kind: str  # see _CHECKS
    default: Any
    doc: str


class LayerSpec(NamedTuple):
    """One layer word of the language: how it is written, its options, and the torch module it becomes."""

    word: str
    op: str
    torch: str
    doc: str
    dashes: tuple[str, ...] = ()
    slash: str | None = None
    options: tuple[Option, ...] = ()
    kernel_in_word: bool = False
    example: str = ""
    required: tuple[str, ...] = ()

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)

    @property
    def positional(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.options)


_KERNEL = Option("kernel", "size", None, "kernel size (also written in the word: conv3, conv1x7)")
_POOL_OPTIONS = (
    Option("kernel", "size", 2, "window size (also in the word: maxpool3)"),
    Option("stride", "size", None, "step; default: the window size"),
    Option("padding", "pad", 0, "implicit padding on each side"),
    Option("ceil_mode", "bool", False, "round the output size up (keeps the last partial window)"),
    Option("output", "size", None, "adaptive pooling to this output size instead of a fixed window"),
)

SPECS: dict[str, LayerSpec] = {
    s.word: s
    for s in (
        LayerSpec(
            "conv", "conv", "nn.Conv2d", "2-D convolution",
            dashes=("channels",), slash="stride", kernel_in_word=True, required=("channels", "kernel"),
            options=(
                Option("channels", "count", None, "number of filters (output channels)"),
                _KERNEL,
                Option("stride", "size", 1, "stride"),
                Option("padding", "pad", "same", "`same`: (k-1)/2 * dilation on each side, so stride 1 keeps "
                       "the size and stride s gives ceil(H/s); `valid`: none; or a number"),
                Option("dilation", "size", 1, "dilation"),
                Option("groups", "count", 1, "grouped convolution (AlexNet's two-GPU split: groups=2)"),
                Option("bias", "bool", True, "learn a bias"),
            ),
            example="conv3-64, conv11-64/4(padding=2), conv1-(c*4)(bias=false)",
        ),
        LayerSpec(
            "fc", "linear", "nn.Linear", "fully connected layer", dashes=("features",), required=("features",),
            options=(
                Option("features", "count", None, "output features"),
                Option("bias", "bool", True, "learn a bias"),
            ),
            example="fc-4096, fc-num_classes",
        ),
        LayerSpec(
            "maxpool", "maxpool", "nn.MaxPool2d / nn.AdaptiveMaxPool2d", "max pooling (2x2, stride 2 by default)",
            slash="stride", kernel_in_word=True, options=_POOL_OPTIONS,
            example="maxpool, maxpool3/2 (overlapping), maxpool3/1(padding=1, ceil_mode=true)",
        ),
        LayerSpec(
            "avgpool", "avgpool", "nn.AvgPool2d / nn.AdaptiveAvgPool2d", "average pooling (2x2, stride 2 by default)",
            slash="stride", kernel_in_word=True,
            options=_POOL_OPTIONS + (
                Option("count_include_pad", "bool", True, "count padded zeros in the average"),
            ),
            example="avgpool, avgpool5/3, avgpool(output=7)",
        ),
        LayerSpec("gap", "gap", "nn.AdaptiveAvgPool2d", "global average pooling to 1x1", example="gap"),
        LayerSpec("relu", "relu", "nn.ReLU", "rectified linear unit", example="relu"),
        LayerSpec("tanh", "tanh", "nn.Tanh", "hyperbolic tangent", example="tanh"),
        LayerSpec("sigmoid", "sigmoid", "nn.Sigmoid", "logistic sigmoid", example="sigmoid"),
        LayerSpec(
            "softmax", "softmax", "nn.Softmax", "softmax over channels/features",
            options=(Option("dim", "int", 1, "dimension to normalise"),), example="softmax",
        ),
        LayerSpec(
            "dropout", "dropout", "nn.Dropout", "dropout (active in training mode only)", dashes=("p",),
            options=(Option("p", "prob", 0.5, "probability of zeroing an element"),),
            example="dropout, dropout(p=0.7), dropout-0.2",
        ),
        LayerSpec(
            "lrn", "lrn", "nn.LocalResponseNorm", "local response normalisation (AlexNet)", dashes=("size",),
            options=(
                Option("size", "count", 5, "neighbouring channels n"),
                Option("alpha", "float", 1e-4, "alpha (PyTorch divides it by n)"),
                Option("beta", "float", 0.75, "beta"),
                Option("k", "float", 2.0, "additive constant k"),
            ),
            example="lrn, lrn(size=5, alpha=0.0001, beta=0.75, k=2)",
        ),
        LayerSpec(
            "bn", "bn", "nn.BatchNorm2d / nn.BatchNorm1d", "batch normalisation (2-D after convs, 1-D after fc)",
            options=(
                Option("eps", "float", 1e-5, "added to the variance"),
                Option("momentum", "float", 0.1, "running-statistics momentum"),
                Option("affine", "bool", True, "learn a scale and shift"),
            ),
            example="bn, bn(eps=0.001)",
        ),
        LayerSpec("flatten", "flatten", "nn.Flatten", "flatten (C, H, W) to C*H*W features", example="flatten"),
    )
}
SPECS["linear"] = SPECS["fc"]

# At most 9 digits: a longer number in a word is no kernel size, and int() of thousands of digits raises.
_KERNEL_WORD = re.compile(r"^(conv|maxpool|avgpool)([0-9]{1,9})(?:x([0-9]{1,9}))?$")
PADDING_WORDS = ("same", "valid")


def lookup(word: str) -> tuple[LayerSpec, tuple[int, int] | None] | None:
    """The spec for a layer word and the kernel written in it (`conv1x7` -> (1, 7))."""
    if word in SPECS:
        return SPECS[word], None
    match = _KERNEL_WORD.match(word)
    if match:
        kh = int(match.group(2))
        kw = int(match.group(3)) if match.group(3) else kh
        return SPECS[match.group(1)], (kh, kw)
    return None


def suggest(word: str, extra: list[str]) -> str | None:
    base = _KERNEL_WORD.sub(r"\1", word)
    candidates = sorted(set(SPECS) | set(extra))
    return closest(base, candidates) or closest(word, candidates)


@dataclass
class Bound:
    """A layer call with every option decided."""

    spec: LayerSpec
    attrs: dict[str, Value | tuple[int, int] | None]
    exprs: dict[str, A.Expr]  # what the user wrote, for code generation


def bind(call: A.Call, spec: LayerSpec, kernel: tuple[int, int] | None, env: dict[str, Value]) -> Bound:
    """Concrete options of one layer call; raises ArchError naming the offending argument."""
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
    free = [n for n in spec.positional if n not in given and not (n == "kernel" and kernel)]
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
    attrs: dict[str, Any] = {}
    for option in spec.options:
        if option.name in given:
            expr = given[option.name]
            value = _value(expr, option, env)
            attrs[option.name] = _check(option, value, spans[option.name], call)
        elif option.name == "kernel" and kernel is not None:
            for size in kernel:  # `maxpool0`, `conv3x0`: the word's kernel obeys the option's rule
                _check(option, size, call, call)
            attrs["kernel"] = kernel
        else:
            attrs[option.name] = option.default
    for name in spec.required:
        if attrs.get(name) is None:
            raise ArchError(Diagnostic(f"'{call.name}' needs {name}", call.span,
                                       hint=f"write it as {spec.example}" if spec.example else None,
                                       code="missing-option"))
    for name in ("kernel", "stride", "dilation", "output"):
        if name in attrs and isinstance(attrs[name], int) and not isinstance(attrs[name], bool):
            attrs[name] = (attrs[name], attrs[name])
    return Bound(spec, attrs, given)


def _value(expr: A.Expr, option: Option, env: dict[str, Value]) -> Value:
    if option.kind == "pad" and isinstance(expr, A.Name) and expr.id in PADDING_WORDS and expr.id not in env:
        return expr.id
    return evaluate(expr, env)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check(option: Option, value: Any, node: A.Node, call: A.Call) -> Any:
    ok, want = _CHECKS[option.kind](value)
    if not ok:
        raise ArchError(Diagnostic(f"'{call.name}': {option.name} must be {want}, got {value!r}", node.span,
                                   code="bad-option-value"))
    return float(value) if option.kind in ("float", "prob") else value


_CHECKS = {
    "count": lambda v: (_is_int(v) and v >= 1, "a positive integer"),
    "size": lambda v: (_is_int(v) and v >= 1, "a positive integer"),
    "int": lambda v: (_is_int(v), "an integer"),
    "pad": lambda v: ((_is_int(v) and v >= 0) or v in PADDING_WORDS, "a non-negative integer, `same` or `valid`"),
    "bool": lambda v: (isinstance(v, bool), "true or false"),
    "float": lambda v: (isinstance(v, int | float) and not isinstance(v, bool) and v >= 0, "a non-negative number"),
    "prob": lambda v: (isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1, "a number in [0, 1]"),
}
