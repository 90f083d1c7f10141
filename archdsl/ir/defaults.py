"""`default bn(eps=0.001);`: the options a body gives every layer of a word that does not give them.

A network's defaults reach its own body and every block it uses; a block's reach its own body,
and override the network's there, option by option; an option written at the call always wins
(registry.bind applies them last). Inside blocks a network default is its value as a literal,
so a block class never depends on the network's parameters; in the network body the expression
stays as written and renders in the network class's own names, as it would at the call.
"""

from __future__ import annotations

from archdsl import layers as L
from archdsl.errors import ArchError, Diagnostic, Note, Reporter, did_you_mean
from archdsl.frontend import ast as A
from archdsl.frontend.expr import Value, free_names
from archdsl.layers.registry import check_option, option_value

# word (the entry's own spelling, aliases folded) -> option -> the argument that gives it
Defaults = dict[str, dict[str, A.Arg]]


def read_defaults(seq: A.Seq, blocks: dict[str, A.BlockDef], reporter: Reporter) -> Defaults:
    """The defaults of one body, each checked against its word's options (errors go to `reporter`)."""
    found: Defaults = {}
    first: dict[str, A.Default] = {}
    for default in seq.defaults:
        try:
            spec = _word(default, blocks)
        except ArchError as exc:
            reporter.diagnostics += exc.diagnostics
            continue
        if spec.word in first:
            reporter.error(f"a second `default` for '{spec.word}' in this body", default.span,
                           notes=[Note("the first is here", first[spec.word].span)],
                           hint="give all of the word's default options in one statement", code="duplicate-default")
            continue
        first[spec.word] = default
        options: dict[str, A.Arg] = {}
        names = ", ".join(o.name for o in spec.options) or "none"
        for arg in default.args:
            if arg.name is None:
                reporter.error(f"a default option must be named: `default {default.word}(name=value)`", arg.span,
                               hint=f"options of '{spec.word}': {names}", code="bad-default")
            elif spec.option(arg.name) is None:
                hint = did_you_mean(arg.name, [o.name for o in spec.options], f"options of '{spec.word}': {names}")
                reporter.error(f"'{default.word}' has no option '{arg.name}'", arg.span, hint=hint,
                               code="unknown-option")
            elif arg.name in options:
                reporter.error(f"'{default.word}': option '{arg.name}' given twice", arg.span, code="duplicate-option")
            elif spec.option(arg.name).kind == "tensor":  # type: ignore[union-attr]  # known: checked above
                reporter.error(f"'{default.word}': option '{arg.name}' takes a tensor, which differs at each use",
                               arg.span, hint="give it at the call: crop(@label)", code="bad-default")
            else:
                options[arg.name] = arg
        found[spec.word] = options
    return found


def _word(default: A.Default, blocks: dict[str, A.BlockDef]) -> L.LayerSpec:
    if default.word in blocks:
        raise ArchError(Diagnostic(f"'{default.word}' is a block: `default` gives options of layer words",
                                   default.word_span, hint="give the block's parameters default values instead: "
                                                           f"block {default.word}(c, stride = 1)", code="bad-default"))
    found = L.lookup(default.word)
    if found is None:
        close = L.suggest(default.word, [])
        hint = f"did you mean '{close}'?" if close else "`archdsl words` lists the layer words"
        raise ArchError(Diagnostic(f"unknown layer word '{default.word}'", default.word_span, hint=hint,
                                   code="unknown-word"))
    spec, kernel = found
    if kernel is not None:
        raise ArchError(Diagnostic(f"a default applies to every '{spec.word}', whatever its kernel",
                                   default.word_span, hint=f"write `default {spec.word}(...)`", code="bad-default"))
    return spec


def as_literals(defaults: Defaults, env: dict[str, Value], reporter: Reporter) -> Defaults:
    """A network's defaults valued with its parameters, each checked once: what blocks apply."""
    literal: Defaults = {}
    for word, options in defaults.items():
        spec = L.SPECS[word]
        literal[word] = {}
        for name, arg in options.items():
            option = spec.option(name)
            assert option is not None  # read_defaults kept known options only
            try:
                value = option_value(arg.value, option, env)
                check_option(option, value, arg, word)
            except ArchError as exc:
                reporter.diagnostics += exc.diagnostics
                continue
            literal[word][name] = A.Arg(span=arg.span, name=name, value=_literal(arg.value, value))
    return literal


def _literal(expr: A.Expr, value: Value) -> A.Expr:
    if not free_names(expr) and not isinstance(value, bool):
        return expr  # arithmetic on numbers alone (`1 - 0.9997`): code generation decides how to write it
    if isinstance(value, bool):
        return A.Boolean(span=expr.span, value=value)
    if isinstance(value, int | float):
        return A.Number(span=expr.span, value=value)
    if isinstance(value, tuple):  # `padding=(p, p)` with a network parameter p
        return A.Pair(span=expr.span, first=A.Number(span=expr.span, value=value[0]),
                      second=A.Number(span=expr.span, value=value[1]))
    return expr  # a word, kept as written: a padding (`same`) or a choice (`approximate=tanh`)


def merged(outer: Defaults, inner: Defaults) -> Defaults:
    """`inner`'s options over `outer`'s, word by word and option by option."""
    result = {word: dict(options) for word, options in outer.items()}
    for word, options in inner.items():
        result.setdefault(word, {}).update(options)
    return result
