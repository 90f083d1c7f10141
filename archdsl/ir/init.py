"""`init`: how a network's weights start, checked and resolved to layers.

Three forms (docs/language.md, "Initialisation"):
- `init conv(kaiming_normal, mode=fan_out, nonlinearity=relu, bias=zeros);` first in a network body:
  every layer of the word, in the network and in the blocks it uses (as torchvision's loops over
  `self.modules()` do), or with `within=backbone` those of one labelled statement of the network's body
  (a segmentation model's backbone starts as its classifier did, its heads as PyTorch's layers do);
- `conv1-num_classes init(normal, std=0.01)` after a statement: that statement's layers, after the
  network's word-wide schemes (SqueezeNet's final convolution);
- `init residual(last_norm=zeros) if zero_init_residual;` (or `last_bn=zeros`): the last norm (`bn`,
  `gn` or `ln`) of every residual body starts at zero (torchvision's `zero_init_residual`).

Option values are worked out now and written into the code as numbers; a condition stays an
expression of the network's parameters, so the emitted class takes the parameter as torchvision's does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from archdsl import layers as L
from archdsl.errors import ArchError, Diagnostic, Note, Reporter, Span, did_you_mean
from archdsl.frontend import ast as A
from archdsl.frontend.expr import Value, evaluate
from archdsl.layers.init_schemes import BIAS_SCHEMES, SCHEMES
from archdsl.layers.registry import Option, check_option, option_value

RESIDUAL = "residual"  # `init residual(...)`: not a layer word, the residual bodies' last norm
_BIAS = Option("bias", "choice", None, "the bias's start", BIAS_SCHEMES)
_LAST_NORM = Option("last_norm", "choice", None, "the scale of each residual body's last norm", ("zeros",))


class Rule(NamedTuple):
    """One scheme for a layer's weight (and, if `bias` is set, its bias)."""

    scheme: str  # a key of init_schemes.SCHEMES
    options: tuple[tuple[str, Value], ...]  # the options written, in the scheme's order
    bias: str | None  # one of BIAS_SCHEMES, or None: the bias is left as it is


class WordInit(NamedTuple):
    rule: Rule
    cond: A.Expr | None  # the declaration's `if`: an expression of the network's parameters
    span: Span
    within: str | None = None  # `within=backbone`: only the layers under that top-level label


@dataclass
class Inits:
    """What a network's `init` statements decide (IR.init)."""

    words: dict[str, WordInit] = field(default_factory=dict)  # layer word -> its network-wide scheme
    layers: dict[int, Rule] = field(default_factory=dict)  # layer id -> a statement's own `init(...)`
    residual: WordInit | None = None  # `init residual(last_norm=zeros)`; its rule names `zeros`

    def __bool__(self) -> bool:
        return bool(self.words or self.layers or self.residual)


def read_inits(seq: A.Seq, env: dict[str, Value], blocks: dict[str, A.BlockDef], reporter: Reporter) -> Inits:
    """The `init` declarations of a network body (errors go to `reporter`)."""
    inits = Inits()
    first: dict[str, A.Init] = {}
    for decl in seq.inits:
        word = decl.word
        assert word is not None and decl.word_span is not None  # a declaration names its word
        try:
            within = None if word == RESIDUAL else _within(decl, seq)
            key, rule = (RESIDUAL, _residual_rule(decl, env)) if word == RESIDUAL else \
                _word_rule(decl, [a for a in decl.args if a.name != "within"], word, decl.word_span, env, blocks)
            cond = decl.cond
            if cond is not None:
                value = evaluate(cond, env)
                if not isinstance(value, bool):
                    raise ArchError(Diagnostic(f"condition must be true or false, got {value!r}", cond.span,
                                               code="bad-condition-value"))
        except ArchError as exc:
            reporter.diagnostics += exc.diagnostics
            continue
        if key in first:
            reporter.error(f"a second `init` for '{key}'", decl.span, code="duplicate-init",
                           notes=[Note("the first is here", first[key].span)],
                           hint="one `init` per word; a statement can take its own with `init(...)` after it")
            continue
        first[key] = decl
        if key == RESIDUAL:
            inits.residual = WordInit(rule, cond, decl.span)
        else:
            inits.words[key] = WordInit(rule, cond, decl.span, within)
    return inits


def _within(decl: A.Init, body: A.Seq) -> str | None:
    """The label of `within=LABEL`, taken out of the declaration's options; raises ArchError unless it
    names a statement of the network's body that always makes a module (its loop reads `self.LABEL`)."""
    found = [arg for arg in decl.args if arg.name == "within"]
    if not found:
        return None
    arg = found[0]
    if len(found) > 1:
        raise ArchError(Diagnostic("option 'within' given twice", found[1].span, code="duplicate-option"))
    labels = {stmt.label: stmt for stmt in body.stmts if stmt.label is not None and not stmt.label_parts}
    name = arg.value.id if isinstance(arg.value, A.Name) else None
    stmt = labels.get(name) if name is not None else None
    usable = [label for label, s in labels.items() if _makes_module(s)]
    if stmt is None or not _makes_module(stmt):
        what = f"'{name}' is no labelled statement of the network's body" if name is not None and stmt is None \
            else f"'{name}' is not always a module" if name is not None else "within takes a label"
        raise ArchError(Diagnostic(f"`init ... within=`: {what}", arg.span, code="bad-init",
                                   hint=did_you_mean(name or "", usable, "the labels it may name: " +
                                                     (", ".join(usable) or "none"))))
    return name


def _makes_module(stmt: A.Stmt) -> bool:
    """Whether a top-level statement's label is a submodule whatever the parameters: not switched off by
    `if`, not an output, a side output or a join, not a parameter (`scale`)."""
    if stmt.cond is not None or not (stmt.label or "").isidentifier():
        return False
    item = stmt.item
    if isinstance(item, A.Call):
        found = L.lookup(item.name)
        return found is None or not found[0].parameter  # a block's use, or a layer
    return isinstance(item, A.Group)


def statement_rule(stmt: A.Stmt, init: A.Init, env: dict[str, Value], blocks: dict[str, A.BlockDef]) -> Rule:
    """The rule of a statement's `init(...)`, which must follow a layer call; raises ArchError."""
    item = stmt.item
    if not isinstance(item, A.Call) or item.name in blocks:
        what = f"block '{item.name}'" if isinstance(item, A.Call) else "a group or combinator"
        raise ArchError(Diagnostic(f"`init(...)` follows a layer call, not {what}", init.span, code="bad-init",
                                   hint="put it after the layer it sets, inside the block or group: "
                                        "`conv1-64 init(normal, std=0.01)`"))
    found = L.lookup(item.name)
    assert found is not None  # expansion has made the call's layers: the word is known
    return _rule(init.args, found[0], item.name, init.span, env)


def _word_rule(decl: A.Init, args: list[A.Arg], word: str, span: Span, env: dict[str, Value],
               blocks: dict[str, A.BlockDef]) -> tuple[str, Rule]:
    if word in blocks:
        raise ArchError(Diagnostic(f"'{word}' is a block: `init` names layer words, and reaches the blocks' layers",
                                   span, hint=f"write `init conv(...)` for its convolutions, or `init(...)` after "
                                              f"one statement of '{word}'", code="bad-init"))
    found = L.lookup(word)
    if found is None:
        close = L.suggest(word, [RESIDUAL])
        raise ArchError(Diagnostic(f"unknown layer word '{word}'", span, code="unknown-word",
                                   hint=f"did you mean '{close}'?" if close else "`init` names a layer word with "
                                        f"weights ({', '.join(_initialised())}) or `residual`"))
    spec, kernel = found
    if kernel is not None:
        raise ArchError(Diagnostic(f"`init` applies to every '{spec.word}', whatever its kernel", span,
                                   hint=f"write `init {spec.word}(...)`", code="bad-init"))
    return spec.word, _rule(args, spec, word, decl.span, env)


def _initialised() -> list[str]:
    return [s.word for s in L.words() if s.init is not None]


def _rule(args: list[A.Arg], spec: L.LayerSpec, word: str, span: Span, env: dict[str, Value]) -> Rule:
    if spec.init is None:
        raise ArchError(Diagnostic(f"'{word}' has no weights that `init` sets", span, code="bad-init",
                                   hint=f"`init` sets the weights of {', '.join(_initialised())}"))
    names = ", ".join(SCHEMES)
    head = args[0] if args else None
    if head is None or head.name is not None or not isinstance(head.value, A.Name):
        raise ArchError(Diagnostic("`init` names its scheme first", head.span if head else span, code="bad-init",
                                   hint=f"e.g. `{word}(kaiming_normal, mode=fan_out)`; the schemes: {names}"))
    scheme = SCHEMES.get(head.value.id)
    if scheme is None:
        raise ArchError(Diagnostic(f"unknown initialisation scheme '{head.value.id}'", head.span, code="bad-init",
                                   hint=did_you_mean(head.value.id, list(SCHEMES), f"the schemes: {names}")))
    if scheme.fans and not spec.init.fans:
        raise ArchError(Diagnostic(f"{scheme.name} needs a weight with a fan-in and a fan-out; '{word}' has a "
                                   "scale per channel", head.span, code="bad-init",
                                   hint="norms start with `ones` (and `bias=zeros`), or `constant`, `normal`, "
                                        "`uniform`"))
    given: dict[str, Value] = {}
    bias = None
    for arg in args[1:]:
        option = _BIAS if arg.name == "bias" else next((o for o in scheme.options if o.name == arg.name), None)
        if arg.name is None or option is None:
            known = [o.name for o in scheme.options] + ["bias"]
            hint = did_you_mean(arg.name or "", known, f"options of {scheme.name}: {', '.join(known)}")
            what = "a positional option" if arg.name is None else f"no option '{arg.name}'"
            raise ArchError(Diagnostic(f"{scheme.name} has {what}", arg.span, hint=hint, code="unknown-option"))
        if arg.name in given or (arg.name == "bias" and bias is not None):
            raise ArchError(Diagnostic(f"option '{arg.name}' given twice", arg.span, code="duplicate-option"))
        value = check_option(option, option_value(arg.value, option, env), arg, scheme.name)
        if option is _BIAS:
            bias = value
        else:
            given[option.name] = value
    for name in scheme.required:
        if name not in given:
            raise ArchError(Diagnostic(f"{scheme.name} needs {name}", span, code="missing-option",
                                       hint=f"e.g. `{word}({scheme.name}, {name}=0.1)`"))
    _check_range(scheme.name, {o.name: given.get(o.name, o.default) for o in scheme.options}, args, span)
    options = tuple((o.name, given[o.name]) for o in scheme.options if o.name in given)
    return Rule(scheme.name, options, bias)


def _check_range(scheme: str, values: dict[str, Value], args: list[A.Arg], span: Span) -> None:
    """What torch.nn.init would refuse, or divide by zero over, when the model is built: refused here."""
    where = next((arg.span for arg in args if arg.name in ("a", "b", "std")), span)
    bounded = scheme in ("uniform", "trunc_normal")
    if bounded and not values["a"] < values["b"]:  # type: ignore[operator]  # both checked as numbers
        raise ArchError(Diagnostic(f"{scheme}: a must be below b, got a={values['a']}, b={values['b']}", where,
                                   code="bad-option-value", hint=f"e.g. `{scheme}, a=-2, b=2`" if scheme ==
                                   "trunc_normal" else "e.g. `uniform, a=-0.1, b=0.1`"))
    if scheme == "trunc_normal" and values["std"] == 0:
        raise ArchError(Diagnostic("trunc_normal: std must be above 0", where, code="bad-option-value",
                                   hint="for a constant, write `constant, value=...`"))


def _residual_rule(decl: A.Init, env: dict[str, Value]) -> Rule:
    args = decl.args
    # `last_bn` is torchvision's word; `last_norm` says what it sets: the last bn, gn or ln alike.
    if len(args) != 1 or args[0].name not in ("last_norm", "last_bn"):
        raise ArchError(Diagnostic("`init residual` takes one option: last_norm=zeros (or last_bn=zeros)",
                                   args[0].span if args else decl.span, code="bad-init",
                                   hint="`init residual(last_norm=zeros) if zero_init_residual;`: each residual "
                                        "body's last norm (bn, gn or ln) starts at zero, so the block starts as "
                                        "its shortcut"))
    option = _LAST_NORM._replace(name=args[0].name)
    check_option(option, option_value(args[0].value, option, env), args[0], "residual")
    return Rule("zeros", (), None)
