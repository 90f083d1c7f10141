"""Regularisation, active in training mode only: `dropout`; stochastic depth, written `residual(drop=p)`."""

from __future__ import annotations

from archdsl.analysis.accounting import Context, Cost, numel
from archdsl.layers.registry import NO_FOLD, Helper, LayerSpec, Option, register
from archdsl.shapes.geometry import no_params, same


def _cost(layer, ctx: Context) -> Cost:
    if not ctx.training:
        return Cost(alias=True)  # eval-mode dropout returns its input
    return Cost(saves=(("dropout mask", numel(layer.out_shape) * ctx.mask_bytes),))


register(LayerSpec(
    "dropout", "dropout", "nn.Dropout", "dropout (active in training mode only)", dashes=("p",),
    options=(Option("p", "prob", 0.5, "probability of zeroing an element"),),
    example="dropout, dropout(p=0.7), dropout-0.2",
    shape=same, params=no_params, cost=_cost, emit=lambda e: (f"nn.Dropout(p={e.opt('p')})", e.same()),
    stateless=True, inplace_after=frozenset(), fresh_output=False, fold=NO_FOLD, counts_in_depth=False,
    describe=lambda layer: f"dropout({layer.attrs['p']:g})", last_dim=True,
))


# torchvision.ops.StochasticDepth(p, "row") as the emitted module's own class (importing torchvision would tie
# it to torchvision): the same draws from the same generator, so a seeded run drops the same samples.
STOCHASTIC_DEPTH = Helper("StochasticDepth", '''class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth(p, "row"): in training, zeroes a residual body's output for a random
    fraction p of the samples and scales the rest by 1 / (1 - p); the identity in eval mode."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        noise = torch.empty([x.shape[0]] + [1] * (x.ndim - 1), dtype=x.dtype, device=x.device)
        noise = noise.bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise''')


def _sd_cost(layer, ctx: Context) -> Cost:
    if not ctx.training or layer.attrs["p"] == 0:
        return Cost(alias=True)  # returns its input
    # One multiply per element by the sample's factor, which backward keeps: one float per sample.
    return Cost(ops=numel(layer.out_shape), saves=(("stochastic depth factor", ctx.float_bytes),))


def _sd_emit(e) -> tuple[str, object]:
    e.module("torch")  # the helper draws with torch.empty
    return f"{e.helper('StochasticDepth')}({e.opt('p')})", e.same()


# Not a word: written `residual(drop=p)< ... >` (ir/expansion.py), it stands after the body, before the add.
register(LayerSpec(
    "stochastic_depth", "stochastic_depth", "StochasticDepth",
    "stochastic depth (torchvision's, row mode) on a residual body's output: residual(drop=p)",
    options=(Option("p", "prob", 0.0, "the probability of dropping the body for a sample"),),
    helpers=(STOCHASTIC_DEPTH,),
    shape=same, params=no_params, cost=_sd_cost, emit=_sd_emit, stateless=True, inplace_after=frozenset(),
    fresh_output=False, fold=NO_FOLD, counts_in_depth=False, internal=True,
    describe=lambda layer: f"stochastic_depth({layer.attrs['p']:g})",
))
