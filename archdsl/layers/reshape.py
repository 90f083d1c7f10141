"""Reshaping: `flatten`, from a (C, H, W) feature map to C*H*W features; `permute`, to channels last and back;
`shuffle`, the channels interleaved across groups; `crop`, the centre cut to another tensor's size."""

from __future__ import annotations

from archdsl.analysis.accounting import Context, Cost, view
from archdsl.errors import Note
from archdsl.layers.registry import NO_FOLD, Helper, LayerSpec, Option, register
from archdsl.shapes.geometry import Problem, Shape, fmt, no_params


def _shape(layer, ins: list[Shape], ir) -> None:
    size = 1
    for d in ins[0]:
        size *= d
    layer.out_shape = (size,)


def _emit(e) -> tuple[str, object]:
    if e.channels is None:
        return "nn.Flatten()", e.same()
    areas = [layer.in_shape[1] * layer.in_shape[2] for layer in e.uses]
    if any(a != areas[0] for a in areas):  # the map's size differs between the block's uses
        return "nn.Flatten()", e.flat(e.size("features", "flatten_features", [layer.out_shape[0] for layer in e.uses]))
    return "nn.Flatten()", e.flat(e.channels.binop("*", e.lit(areas[0])))


register(LayerSpec(
    "flatten", "flatten", "nn.Flatten", "flatten (C, H, W) to C*H*W features", example="flatten",
    shape=_shape, params=no_params, cost=view, emit=_emit, stateless=True, inplace_after=frozenset(),
    fresh_output=False, fold=NO_FOLD, counts_in_depth=False,
))


# torchvision's ConvNeXt writes its block's channels-last steps as modules (ops.misc.Permute) in an
# nn.Sequential, so their indices count in the state_dict keys (`block.2` is the LayerNorm). Importing
# torchvision would tie the emitted module to it: this is the same module, written out.
PERMUTE = Helper("Permute", '''class Permute(nn.Module):
    """torch.permute as a module (torchvision's ops.misc.Permute): ConvNeXt's steps to channels last and back."""

    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: Tensor) -> Tensor:
        return x.permute(self.dims)''')
TO_LAST, TO_FIRST = (0, 2, 3, 1), (0, 3, 1, 2)


def _dims(layer) -> tuple[int, ...]:
    return tuple(layer.attrs[name] for name in ("d0", "d1", "d2", "d3"))


def _permute_shape(layer, ins: list[Shape], ir) -> None:
    dims, shape = _dims(layer), ins[0]
    if len(shape) != 3:
        raise Problem(f"'{layer.describe()}' needs a feature map, but gets {fmt(shape)} flat features",
                      hint="permute before `flatten`", code="shape-mismatch")
    if dims not in (TO_LAST, TO_FIRST):
        raise Problem(f"'{layer.describe()}': archdsl follows the layout through two permutations only",
                      hint="permute(0, 2, 3, 1) puts the channels last, permute(0, 3, 1, 2) puts them back",
                      code="bad-permute")
    if (dims == TO_LAST) == layer.nhwc:
        now, other = ("channels last", TO_FIRST) if layer.nhwc else ("channels first", TO_LAST)
        raise Problem(f"'{layer.describe()}': the tensor is {now} already ({fmt(shape)})",
                      hint=f"leave it out, or write permute{other}", code="bad-permute")
    a, b, c = shape
    layer.out_shape = (b, c, a) if dims == TO_LAST else (c, a, b)
    layer.nhwc = dims == TO_LAST


def _permute_emit(e) -> tuple[str, object]:
    dims = _dims(e.layer)
    return f"{e.helper('Permute')}([{', '.join(map(str, dims))}])", e.permuted(dims == TO_LAST)


register(LayerSpec(
    "permute", "permute", "Permute",
    "reorder the dimensions (batch first): to channels last (0, 2, 3, 1) and back (0, 3, 1, 2), as ConvNeXt",
    options=tuple(Option(f"d{k}", "int", None, f"the input dimension that becomes dimension {k}")
                  for k in range(4)),
    required=("d0", "d1", "d2", "d3"), example="permute(0, 2, 3, 1), permute(0, 3, 1, 2)", helpers=(PERMUTE,),
    shape=_permute_shape, params=no_params, cost=view, emit=_permute_emit, stateless=True,
    inplace_after=frozenset(), fresh_output=False, fold=NO_FOLD, counts_in_depth=False, last_dim=True,
    describe=lambda layer: f"permute({', '.join(map(str, _dims(layer)))})",
))


# torchvision's ShuffleNetV2 calls a function, channel_shuffle, which no torch module computes in the
# same steps (nn.ChannelShuffle is a separate kernel that ONNX export lacks): the same view, transpose
# and reshape, as a module.
CHANNEL_SHUFFLE = Helper("ChannelShuffle", '''class ChannelShuffle(nn.Module):
    """torchvision's channel_shuffle (ShuffleNetV2) as a module: channel i of group g moves to i * groups + g."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.size()
        x = x.view(b, self.groups, c // self.groups, h, w)
        return x.transpose(1, 2).contiguous().view(b, c, h, w)''')


def _shuffle_shape(layer, ins: list[Shape], ir) -> None:
    shape, groups = ins[0], layer.attrs["groups"]
    if len(shape) != 3:
        raise Problem(f"'{layer.describe()}' needs a feature map, but gets {fmt(shape)} flat features",
                      hint="shuffle before `flatten`", code="shape-mismatch")
    if shape[0] % groups:
        fits = max(d for d in range(1, min(groups, shape[0]) + 1) if shape[0] % d == 0)
        raise Problem(f"'{layer.describe()}' cannot split {shape[0]} channels ({fmt(shape)}) into {groups} equal "
                      "groups", hint=f"the groups must divide the channels: e.g. shuffle-{fits}", code="bad-groups")
    layer.out_shape = shape


def _shuffle_emit(e) -> tuple[str, object]:
    return f"{e.helper('ChannelShuffle')}({e.opt('groups')})", e.same()


def _shuffle_cost(layer, ctx: Context) -> Cost:
    return Cost()  # a copy into the new order (contiguous()); no arithmetic, and backward keeps nothing


register(LayerSpec(
    "shuffle", "shuffle", "ChannelShuffle",
    "channel shuffle (ShuffleNetV2): the channels, in `groups` groups, interleaved; torchvision's channel_shuffle",
    dashes=("groups",), required=("groups",),
    options=(Option("groups", "count", None, "groups the channels are split into; they must divide the channels"),),
    example="shuffle-2", helpers=(CHANNEL_SHUFFLE,),
    shape=_shuffle_shape, params=no_params, cost=_shuffle_cost, emit=_shuffle_emit, stateless=True,
    inplace_after=frozenset(), fresh_output=True, fold=NO_FOLD, counts_in_depth=False,
    describe=lambda layer: f"shuffle-{layer.attrs['groups']}",
))


# U-Net's "copy and crop": the skip connection's map cut to the size of the upsampled one.
CENTER_CROP = Helper("CenterCrop", '''class CenterCrop(nn.Module):
    """U-Net's copy and crop: the centre of x, as high and wide as `like` (the odd row or column cut at the end)."""

    def forward(self, x: Tensor, like: Tensor) -> Tensor:
        h, w = like.shape[-2:]
        top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
        return x[..., top:top + h, left:left + w]''')


def _crop_shape(layer, ins: list[Shape], ir) -> None:
    shape, like = ins
    if len(shape) != 3 or len(like) != 3:
        raise Problem(f"crop needs feature maps, but gets {fmt(shape)} to crop to the size of {fmt(like)}",
                      code="shape-mismatch")
    if like[1] > shape[1] or like[2] > shape[2]:
        raise Problem(f"crop: a {fmt(shape)} map cannot be cut to the {like[1]}x{like[2]} of @{layer.attrs['like']} "
                      f"({fmt(like)})", hint="crop the larger map to the smaller one's size",
                      notes=[Note(f"'{layer.attrs['like']}' gives {fmt(like)}", ir.layers[layer.inputs[1]].span)],
                      code="bad-crop")
    layer.out_shape = (shape[0], like[1], like[2])


def _crop_emit(e) -> tuple[str, object]:
    return f"{e.helper('CenterCrop')}()", e.unscaled(e.channels)


register(LayerSpec(
    "crop", "crop", "CenterCrop", "the centre of the map, as high and wide as another tensor (U-Net's copy and crop)",
    required=("like",),
    options=(Option("like", "tensor", None, "@label: the tensor whose height and width to crop to"),),
    example="crop(@up4)", helpers=(CENTER_CROP,),
    shape=_crop_shape, params=no_params, cost=view, emit=_crop_emit, stateless=True,
    inplace_after=frozenset(), fresh_output=False, fold=NO_FOLD, counts_in_depth=False,
    describe=lambda layer: f"crop(@{layer.attrs['like']})",
))
