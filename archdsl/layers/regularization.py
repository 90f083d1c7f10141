"""Regularisation: `dropout`, active in training mode only."""

from __future__ import annotations

from archdsl.analysis.accounting import MASK_BYTES, Context, Cost, numel
from archdsl.layers.registry import NO_FOLD, LayerSpec, Option, register
from archdsl.shapes.geometry import no_params, same


def _cost(layer, ctx: Context) -> Cost:
    if not ctx.training:
        return Cost(alias=True)  # eval-mode dropout returns its input
    return Cost(saves=(("dropout mask", numel(layer.out_shape) * MASK_BYTES[ctx.device]),))


register(LayerSpec(
    "dropout", "dropout", "nn.Dropout", "dropout (active in training mode only)", dashes=("p",),
    options=(Option("p", "prob", 0.5, "probability of zeroing an element"),),
    example="dropout, dropout(p=0.7), dropout-0.2",
    shape=same, params=no_params, cost=_cost, emit=lambda e: (f"nn.Dropout(p={e.opt('p')})", e.same()),
    stateless=True, inplace_after=frozenset(), fresh_output=False, fold=NO_FOLD, counts_in_depth=False,
    describe=lambda layer: f"dropout({layer.attrs['p']:g})", last_dim=True,
))
