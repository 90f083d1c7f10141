"""Fixed input transforms: `transform_input`, torchvision's re-normalisation of GoogLeNet's and Inception v3's input."""

from __future__ import annotations

from archdsl.analysis.accounting import Context, Cost, numel
from archdsl.layers.registry import NO_FOLD, Helper, LayerSpec, register
from archdsl.shapes.geometry import Problem, Shape, spatial

# torchvision's GoogLeNet and Inception v3 were trained on inputs normalised to mean 0.5 and std 0.5 per
# channel; with `transform_input=True` they take the usual ImageNet-normalised input and map it back
# (`_transform_input`). Written as torchvision computes it, operation for operation, so that ImageNet
# weights give torchvision's outputs to the last bit.
TRANSFORM_INPUT = Helper("TransformInput", '''class TransformInput(nn.Module):
    """torchvision's transform_input: an ImageNet-normalised input re-normalised to mean 0.5, std 0.5 per channel."""

    def forward(self, x: Tensor) -> Tensor:
        x_ch0 = torch.unsqueeze(x[:, 0], 1) * (0.229 / 0.5) + (0.485 - 0.5) / 0.5
        x_ch1 = torch.unsqueeze(x[:, 1], 1) * (0.224 / 0.5) + (0.456 - 0.5) / 0.5
        x_ch2 = torch.unsqueeze(x[:, 2], 1) * (0.225 / 0.5) + (0.406 - 0.5) / 0.5
        return torch.cat((x_ch0, x_ch1, x_ch2), 1)''')


def _shape(layer, ins: list[Shape], ir) -> None:
    c, h, w = spatial(layer, ins[0])
    if c != 3:
        raise Problem(f"'transform_input' re-normalises the 3 channels of an RGB image, not {c}",
                      hint="use it first, on the network's input", code="shape-mismatch")
    layer.out_shape = (c, h, w)


def _cost(layer, ctx: Context) -> Cost:
    # A fixed scale and shift per element (one MAC, as bn's in eval); backward needs none of its tensors.
    return Cost(macs=numel(layer.out_shape))


register(LayerSpec(
    "transform_input", "transform_input", "TransformInput",
    "torchvision's `transform_input` (GoogLeNet, Inception v3): ImageNet mean/std normalisation re-done "
    "as mean 0.5, std 0.5, a fixed per-channel affine", example="transform_input if transform_input",
    helpers=(TRANSFORM_INPUT,), shape=_shape, params=lambda layer: (0, 0), cost=_cost,
    emit=lambda e: (f"{e.helper('TransformInput')}()", e.same()), stateless=True, inplace_after=frozenset(),
    fresh_output=True, fold=NO_FOLD, counts_in_depth=False,
))
