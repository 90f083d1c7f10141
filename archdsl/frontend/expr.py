"""Expressions of the language: evaluate them to values, render them as Python source.

Shared by expansion (concrete values) and code generation (symbolic source). A rendered
expression, `Sym`, also carries its value in every instance it stands for, so the code
generator can check each symbolic decision against the concrete IR. Rendering folds constant
sub-expressions: `c * 4` stays symbolic while `128 * 16` becomes `2048`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeGuard

from archdsl.errors import ArchError, Diagnostic
from archdsl.frontend import ast as A


@dataclass(frozen=True)
class Word:
    """A layer word passed as a block argument (`act = relu6`): the block's statement `act` is that word.

    `name` is the word's own spelling in the registry (an alias such as `swish` is stored as `silu`).
    """

    name: str

    def __str__(self) -> str:
        return self.name

    __repr__ = __str__  # messages and drawings show `relu6`, as written


Value = int | float | bool | str | tuple[int, int] | Word

# The largest magnitude an expression may reach (literals have at most 18 digits, see parser.py).
LIMIT = 10**18

# Python's own precedences, loosest first (`not` binds looser than a comparison); a negation is 7.
_PRECEDENCE = {"or": 0, "and": 1, "not": 2, "==": 3, "!=": 3, "<": 3, "<=": 3, ">": 3, ">=": 3,
               "+": 4, "-": 4, "*": 5, "/": 5, "//": 5}
_NEG = 7
_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
_LOGIC = ("and", "or")


def evaluate(expr: A.Expr, env: dict[str, Value]) -> Value:
    """The value of `expr` with the names bound in `env`; unknown names are errors."""
    if isinstance(expr, A.Number | A.Boolean):
        return expr.value
    if isinstance(expr, A.Ref):  # an Arg's value may be one (see ast.Arg)
        raise ArchError(Diagnostic(f"'@{expr.name}' is a tensor, but a value is expected here", expr.span,
                                   hint="a reference is a statement of its own (`@name; ...`) or a layer's "
                                        "tensor option (`crop(@name)`)", code="misplaced-reference"))
    if isinstance(expr, A.Name):
        if expr.id not in env:
            known = ", ".join(sorted(env)) or "none"
            raise ArchError(Diagnostic(f"undefined name '{expr.id}'", expr.span, hint=f"names in scope: {known}",
                                       code="undefined-name"))
        return env[expr.id]
    if isinstance(expr, A.Neg):
        return -_require_number(evaluate(expr.operand, env), expr)
    if isinstance(expr, A.Not):
        return not _require_bool(evaluate(expr.operand, env), expr.operand)
    if isinstance(expr, A.Pair):
        first, second = evaluate(expr.first, env), evaluate(expr.second, env)
        return _require_int(first, expr.first), _require_int(second, expr.second)
    left, right = evaluate(expr.left, env), evaluate(expr.right, env)
    if expr.op in _LOGIC:
        return _apply(expr.op, _require_bool(left, expr.left), _require_bool(right, expr.right))
    if expr.op in ("==", "!="):
        # Booleans equal only booleans (Python's True == 1 would let `flag == 1` pass by accident).
        same = type(left) is type(right) or (_is_number(left) and _is_number(right))
        return (same and left == right) == (expr.op == "==")
    a, b = _require_number(left, expr.left), _require_number(right, expr.right)
    if expr.op in _COMPARISONS:
        return _apply(expr.op, a, b)
    if expr.op in ("//", "/") and b == 0:
        raise ArchError(Diagnostic("division by zero", expr.span, code="division-by-zero"))
    result = _apply(expr.op, a, b)
    if not -LIMIT < result < LIMIT:  # also false for NaN; keeps inf and 10^4000 out of the emitted code
        raise ArchError(Diagnostic("the value of this expression is too large", expr.span,
                                   hint=f"values must stay below {LIMIT:.0e} in magnitude", code="number-too-large"))
    return result


def _apply(op: str, a, b):
    """`a op b` as Python computes it (the emitted code does the same); no error on a zero divisor."""
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a / b if b else 0
    if op == "//":
        return a // b if b else 0
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    if op == "and":
        return a and b
    return a or b


def _not_a_word(value: Value, expr: A.Expr, want: str) -> None:
    if isinstance(value, Word):
        raise ArchError(Diagnostic(f"expected {want}, got the layer word '{value}'", expr.span, code="word-as-value",
                                   hint="a parameter that holds a layer word stands as a statement of its own "
                                        "(`act`), not in an expression"))


def _require_int(value: Value, expr: A.Expr) -> int:
    _not_a_word(value, expr, "an integer")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArchError(Diagnostic(f"a pair holds two integers, got {value!r}", expr.span, code="not-a-number"))
    return value


def _require_bool(value: Value, expr: A.Expr) -> bool:
    _not_a_word(value, expr, "true or false")
    if not isinstance(value, bool):
        raise ArchError(Diagnostic(f"expected true or false, got {value!r}", expr.span, code="not-a-boolean",
                                   hint="`and`, `or` and `not` take conditions, e.g. `s == 1 and in_channels == c`"))
    return value


def _require_number(value: Value, expr: A.Expr) -> int | float:
    _not_a_word(value, expr, "a number")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ArchError(Diagnostic(f"expected a number, got {value!r}", expr.span, code="not-a-number"))
    return value


def free_names(expr: A.Expr) -> set[str]:
    if isinstance(expr, A.Name):
        return {expr.id}
    if isinstance(expr, A.Neg | A.Not):
        return free_names(expr.operand)
    if isinstance(expr, A.Pair):
        return free_names(expr.first) | free_names(expr.second)
    if isinstance(expr, A.BinOp):
        return free_names(expr.left) | free_names(expr.right)
    return set()


def _is_number(v: object) -> TypeGuard[int | float]:
    return isinstance(v, int | float) and not isinstance(v, bool)


class Sym:
    """Python source for a value, its precedence, and its value in each instance (`vals`)."""

    __slots__ = ("const", "prec", "terms", "text", "vals")

    def __init__(self, text: str, prec: int, vals: tuple, const: bool = False,
                 terms: tuple[tuple[str, int], ...] | None = None):
        # const: the source is a literal (not merely an expression whose values agree)
        self.text, self.prec, self.vals, self.const = text, prec, vals, const
        # terms: a sum of names and an integer, as (name, coefficient) pairs in order of first use (the
        # integer under the name ""), when it is one
        if terms is None and prec == 9 and not const:
            terms = ((text, 1),)
        elif terms is None and const and vals and type(vals[0]) is int:
            terms = (("", vals[0]),)
        self.terms = terms

    @staticmethod
    def lit(value: Value, n: int) -> Sym:
        negative = _is_number(value) and value < 0
        return Sym(repr(value), -1 if negative else 9, (value,) * n, True)

    @staticmethod
    def name(id_: str, vals: tuple) -> Sym:
        return Sym(id_, 9, vals)

    @property
    def uniform(self) -> bool:
        return len(set(map(repr, self.vals))) <= 1

    def __str__(self) -> str:
        return self.text

    def binop(self, op: str, other: Sym) -> Sym:
        vals = tuple(_apply(op, a, b) for a, b in zip(self.vals, other.vals))
        prec = _PRECEDENCE[op]
        # Comparisons do not chain in the language; in Python `a < b < c` would, so parenthesise.
        left = self.text if self.prec >= prec and not (prec == 3 and self.prec == 3) else f"({self.text})"
        right = other.text if other.prec > prec else f"({other.text})"
        text = f"{left} {op} {right}"
        if self.const and other.const and _is_number(self.vals[0]) and _is_number(other.vals[0]):
            # A float whose shortest repr is longer than the arithmetic written (`1 - 0.9997` is
            # 0.00029999999999996696) stays as written: Python computes the same bits from it.
            if isinstance(vals[0], float) and len(repr(vals[0])) > len(text):
                return Sym(text, prec, vals)
            return Sym.lit(vals[0], len(vals))
        # Identities keep generated code free of `c * 1` and `s + 0`.
        if op in ("+", "-") and other.const and other.vals[0] == 0 and _is_number(other.vals[0]):
            return self
        if op == "+" and self.const and self.vals[0] == 0 and _is_number(self.vals[0]):
            return other
        if op in ("*", "//") and other.const and other.vals[0] == 1 and _is_number(other.vals[0]):
            return self
        if op == "*" and self.const and self.vals[0] == 1 and _is_number(self.vals[0]):
            return other
        if op in ("+", "-") and self.terms is not None and other.terms is not None:
            # A sum of names stays one: `in_channels + k + k + k` (DenseNet's channels after three
            # concatenations) is written `in_channels + 3 * k`, so a chain of N of them does not make
            # shape comments N terms long (quadratic source for a linear input).
            sign = 1 if op == "+" else -1
            terms = dict(self.terms)
            for name, coefficient in other.terms:
                terms[name] = terms.get(name, 0) + sign * coefficient
            combined = tuple((name, c) for name, c in terms.items() if c)
            if len(combined) < len(self.terms) + len(other.terms):
                return _sum(combined, vals) if combined else Sym.lit(vals[0], len(vals))
            return Sym(text, prec, vals, terms=combined)
        if op == "*":  # `4 * k` counts as four k's in a sum
            for a, b in ((self, other), (other, self)):
                if a.terms is not None and len(a.terms) == 1 and a.terms[0][0] and b.const \
                        and type(b.vals[0]) is int:
                    return Sym(text, prec, vals, terms=((a.terms[0][0], a.terms[0][1] * b.vals[0]),))
        return Sym(text, prec, vals)


def _sum(terms: tuple[tuple[str, int], ...], vals: tuple) -> Sym:
    """A sum of names with coefficients as source: `in_channels + 3 * k - c`."""
    parts = []
    terms = tuple(t for t in terms if t[0]) + tuple(t for t in terms if not t[0])  # the integer last
    for i, (name, c) in enumerate(terms):
        size = abs(c)
        term = str(size) if not name else name if size == 1 else f"{size} * {name}"
        parts.append((("-" if c < 0 else "") if i == 0 else (" - " if c < 0 else " + ")) + term)
    if len(terms) > 1:
        prec = _PRECEDENCE["+"]
    elif not terms[0][0]:
        return Sym.lit(terms[0][1], len(vals))
    else:
        prec = {1: 9, -1: _NEG}.get(terms[0][1], _PRECEDENCE["*"])  # `k`, `-k`, `3 * k`
    return Sym("".join(parts), prec, vals, terms=terms)


def render(expr: A.Expr, names: dict[str, Sym], n: int) -> Sym:
    """`expr` as Python source; `names` maps each DSL name to its Sym in the target scope."""
    if isinstance(expr, A.Number | A.Boolean):
        return Sym.lit(expr.value, n)
    if isinstance(expr, A.Name):
        return names[expr.id]
    if isinstance(expr, A.Neg):
        inner = render(expr.operand, names, n)
        if inner.const:
            return Sym.lit(-inner.vals[0], n)
        return Sym(f"-{inner.text}" if inner.prec >= _NEG else f"-({inner.text})", _NEG,
                   tuple(-v for v in inner.vals))
    if isinstance(expr, A.Pair):
        first, second = render(expr.first, names, n), render(expr.second, names, n)
        vals = tuple(zip(first.vals, second.vals))
        return Sym(f"({first}, {second})", 9, vals, first.const and second.const)
    if isinstance(expr, A.Not):
        inner = render(expr.operand, names, n)
        if inner.const:
            return Sym.lit(not inner.vals[0], n)
        text = f"not {inner.text}" if inner.prec >= _PRECEDENCE["not"] else f"not ({inner.text})"
        return Sym(text, _PRECEDENCE["not"], tuple(not v for v in inner.vals))
    return render(expr.left, names, n).binop(expr.op, render(expr.right, names, n))
