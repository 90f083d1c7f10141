"""Resource budgets: how big a network archdsl agrees to expand, check and emit.

A description is tiny, the network it stands for need not be: `(conv3-64; relu) x 100000`, a
layer with 10^15 weights or a 10^6 x 10^6 input are a few characters each. Expansion stops at
`max_layers` and `max_repeat` while it works; parameters and activations are checked once shape
inference has counted them, before any weight is allocated; the source's tokens before it is
parsed. The defaults admit every real architecture with a wide margin (the largest bundled
network has about 150 million parameters and fewer than 1,000 layers), and keep every command
that does not run the network within seconds for any input; change them with `Budget(...)` in
Python or `--budget name=value` on the CLI.
"""

from __future__ import annotations

from typing import NamedTuple

from archdsl.errors import Reporter
from archdsl.frontend.parser import MAX_TOKENS


class Budget(NamedTuple):
    """Resource limits that refuse a network before it is built (`--budget NAME=VALUE`)."""

    max_params: int = 2 * 10**9  # trainable parameters of the whole network (8 GB as float32)
    max_activation: int = 250_000_000  # elements of the largest single tensor, per sample (1 GB as float32)
    max_layers: int = 20_000  # layers after unrolling blocks and repetitions (~2 s to check, ~4 s to compile)
    max_repeat: int = 20_000  # the count of one `x N`
    max_tokens: int = MAX_TOKENS  # tokens of the source files together, counted before parsing

    def with_settings(self, pairs: dict[str, str]) -> Budget:
        """This budget with `name=value` settings applied (raises ValueError naming a bad one)."""
        known = set(self._fields)
        changes = {}
        for name, value in pairs.items():
            if name not in known:
                raise ValueError(f"unknown budget '{name}' (known: {', '.join(sorted(known))})")
            try:
                number = int(float(value)) if "e" in value.lower() else int(value)
            except (ValueError, OverflowError):  # "abc"; "1e999" is an infinite float
                raise ValueError(f"budget {name} must be a positive integer, got {value!r}") from None
            if number < 1:
                raise ValueError(f"budget {name} must be a positive integer, got {value!r}")
            changes[name] = number
        return self._replace(**changes)


DEFAULT = Budget()


def check_budget(ir, budget: Budget, params: int) -> None:
    """Refuse a shape-checked network whose parameters (`params`: shapes.inference.total_params(ir))
    or activations exceed the budget. The count is passed in, not computed here, because the IR's
    expansion imports this module for `Budget`, and shapes.inference imports the IR: a cycle."""
    reporter = Reporter(ir.program.sources)
    if params > budget.max_params:
        reporter.error(f"the network has {params:,} parameters, more than the budget of {budget.max_params:,}",
                       ir.network.span, hint="check the channel and feature counts, or raise the budget "
                                             "(--budget max_params=...)", code="budget-params")
    for layer in ir.enabled_layers():
        size = 1
        for d in layer.out_shape or ():
            size *= d
        if size > budget.max_activation:
            shape = "x".join(str(d) for d in layer.out_shape)  # as shapes.inference.fmt writes it
            reporter.error(f"'{layer.word}' outputs {shape} = {size:,} values per sample, more than "
                           f"the budget of {budget.max_activation:,}", layer.span,
                           hint="check the input size and channel counts, or raise the budget "
                                "(--budget max_activation=...)", code="budget-activation")
            break
    reporter.raise_if_errors()
