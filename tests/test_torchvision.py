"""Weight compatibility with torchvision: same state_dict keys and shapes, same outputs.

The key/shape lists are also checked against tests/reference/*.json (made from torchvision by
tests/make_reference.py), so that part holds where torchvision is not installed.
"""

from __future__ import annotations

import json

import pytest
import torch
from helpers import ALL_ARCHITECTURES, LARGER_SIZES, ROOT

import archdsl

MODELS = ["alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "resnet18", "resnet34", "resnet50", "resnet101",
          "resnet152", "googlenet"]
# Checked at a small input with random batch-norm statistics (test_family_outputs_agree_...).
REGNETS = [f"regnet_x_{size}" for size in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf")] + \
          [f"regnet_y_{size}" for size in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf", "128gf")]
FAMILIES = ["vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn", "squeezenet1_0", "squeezenet1_1", "resnext50_32x4d",
            "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2", "convnext_tiny",
            "convnext_small", "convnext_base", "convnext_large", "mobilenet_v2", "mnasnet0_5", "mnasnet0_75",
            "mnasnet1_0", "mnasnet1_3", "densenet121", "densenet161", "densenet169", "densenet201"]
FAMILIES += REGNETS
FAMILIES += ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0"]
FAMILIES += ["mobilenet_v3_large", "mobilenet_v3_small"]
FAMILIES += [f"efficientnet_b{k}" for k in range(8)] + ["efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l"]
# torchvision.models.segmentation's: their builders and outputs differ (below).
SEGMENTATION = ["fcn_resnet50", "fcn_resnet101", "deeplabv3_resnet50", "deeplabv3_resnet101"]
# Segmentation on MobileNetV3-Large(dilated=True): the head reads the backbone's features[4] (`@backbone.4`).
MOBILENET_SEGMENTATION = ["lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large"]


def shapes(model) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", MODELS + FAMILIES + ["inception_v3"] + SEGMENTATION + MOBILENET_SEGMENTATION)
def test_state_dict_matches_committed_reference(name):
    reference = json.loads((ROOT / "tests" / "reference" / f"{name}.json").read_text())
    with torch.device("meta"):  # keys and shapes only: no storage to allocate, no weights to initialise
        model = archdsl.load(ROOT / "architectures" / f"{name}.arch")
    # Every key with its shape, as a dict: the order differs where GoogLeNet's aux heads are declared
    # where they branch off (torchvision registers them last), and load_state_dict goes by key.
    assert shapes(model) == reference["state_dict"]
    assert sum(p.numel() for p in model.parameters()) == reference["parameters"]


def _torchvision_model(name: str, **options):
    torchvision = pytest.importorskip("torchvision")
    kwargs = {"aux_logits": True, "init_weights": True, "transform_input": False} if name == "googlenet" else {}
    torch.manual_seed(0)
    return getattr(torchvision.models, name)(weights=None, **{**kwargs, **options})


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_torchvision_weights_load_strictly_and_outputs_agree(name):
    reference = _torchvision_model(name).eval()
    model = archdsl.load(ROOT / "architectures" / f"{name}.arch").eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    torch.manual_seed(1)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        ours, theirs = model(x), reference(x)
    assert ours.shape == theirs.shape == (2, 1000)
    assert torch.allclose(ours, theirs, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_googlenet_train_mode_returns_the_aux_outputs_like_torchvision():
    reference = _torchvision_model("googlenet")
    model = archdsl.load(ROOT / "architectures" / "googlenet.arch")
    model.load_state_dict(reference.state_dict(), strict=True)
    model.train()
    reference.train()
    for module in list(model.modules()) + list(reference.modules()):
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        ours, theirs = model(x), reference(x)
    assert ours._fields == ("out", "aux1", "aux2")
    assert torch.allclose(ours.out, theirs.logits, atol=1e-5, rtol=0)
    assert torch.allclose(ours.aux1, theirs.aux_logits1, atol=1e-5, rtol=0)
    assert torch.allclose(ours.aux2, theirs.aux_logits2, atol=1e-5, rtol=0)
    model.eval()
    with torch.no_grad():
        assert isinstance(model(x), torch.Tensor)


def _randomise_batch_norms(model: torch.nn.Module) -> None:
    # Fresh batch norms are the identity in eval mode (mean 0, variance 1, scale 1, shift 0), so a wrong eps,
    # a missing norm or a swapped statistic would go unnoticed; random ones expose each of them.
    generator = torch.Generator().manual_seed(2)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            n = module.num_features
            with torch.no_grad():
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.5)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.5)


def _randomise_layer_norms_and_scales(model: torch.nn.Module) -> None:
    # ConvNeXt's LayerNorms start at ones and zeros and its layer scales at 1e-6, which makes each block's
    # body nearly vanish: random ones make a wrong eps, a missing norm or a mislaid scale show in the output.
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.5)
        for name, parameter in model.named_parameters():
            if name.endswith("layer_scale"):
                parameter.copy_(torch.rand(parameter.shape, generator=generator) + 0.5)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in FAMILIES if ALL_ARCHITECTURES or n not in LARGER_SIZES])
def test_family_outputs_agree_with_torchvision_under_random_batch_norms(name):
    reference = _torchvision_model(name).eval()
    _randomise_batch_norms(reference)
    _randomise_layer_norms_and_scales(reference)
    model = archdsl.load(ROOT / "architectures" / f"{name}.arch", input="3x64x64").eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    torch.manual_seed(1)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ours, theirs = model(x), reference(x)
    assert ours.shape == theirs.shape == (2, 1000)
    assert (ours - theirs).abs().max().item() <= 1e-5 * max(1.0, theirs.abs().max().item())


def _agree(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    assert ours.shape == theirs.shape
    assert (ours - theirs).abs().max().item() <= 1e-5 * max(1.0, theirs.abs().max().item())


@pytest.mark.parametrize("transform_input", [False, True])
def test_inception_v3_without_its_aux_head_agrees_with_torchvision_at_its_smallest_input(transform_input):
    # 75x75, torchvision's own least (Mixed_7c is then 1x1): the aux head, switched off, needs the 17x17
    # grid of a 299x299 input but is not shape-checked where it does not exist (docs/language.md, Conditions).
    # init_weights=False: torchvision's truncated-normal init with random batch norms overflows float32.
    reference = _torchvision_model("inception_v3", aux_logits=False, init_weights=False,
                                   transform_input=transform_input).eval()
    _randomise_batch_norms(reference)
    model = archdsl.load(ROOT / "architectures" / "inception_v3.arch", transform_input=transform_input,
                         aux_logits=False, input="3x75x75").eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    torch.manual_seed(1)
    x = torch.randn(2, 3, 75, 75)
    with torch.no_grad():
        _agree(model(x), reference(x))
    with pytest.raises(archdsl.ArchError, match="input-too-small"):  # with the aux head, 75x75 is refused
        archdsl.build(ROOT / "architectures" / "inception_v3.arch", params={"input": "3x75x75"})


@pytest.mark.slow
def test_inception_v3_agrees_with_torchvision_in_eval_and_training_mode():
    # The full 299x299 input: the auxiliary head's 5x5 convolution needs the 17x17 grid it makes.
    reference = _torchvision_model("inception_v3", aux_logits=True, init_weights=False)
    _randomise_batch_norms(reference)
    model = archdsl.load(ROOT / "architectures" / "inception_v3.arch")
    model.load_state_dict(reference.state_dict(), strict=True)
    torch.manual_seed(1)
    x = torch.randn(1, 3, 299, 299)
    with torch.no_grad():
        _agree(model.eval()(x), reference.eval()(x))
        for module in list(model.modules()) + list(reference.modules()):
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        # Training mode with the running statistics kept: batch statistics of one image would be too noisy
        # to compare, and this checks the aux head's wiring.
        model.train()
        reference.train()
        for module in list(model.modules()) + list(reference.modules()):
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()
        ours, theirs = model(x), reference(x)
    assert ours._fields == ("out", "AuxLogits")
    _agree(ours.out, theirs.logits)
    _agree(ours.AuxLogits, theirs.aux_logits)


@pytest.mark.slow
def test_googlenet_transform_input_agrees_with_torchvision():
    reference = _torchvision_model("googlenet", transform_input=True).eval()
    _randomise_batch_norms(reference)
    model = archdsl.load(ROOT / "architectures" / "googlenet.arch", transform_input=True, input="3x64x64").eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    torch.manual_seed(1)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        _agree(model(x), reference(x))
        # The outputs of a random network barely depend on its input; the transform itself, exactly:
        assert torch.equal(model.transform(x), reference._transform_input(x))
        assert (model.transform(x) - x).abs().max().item() > 0.1
    assert archdsl.load(ROOT / "architectures" / "googlenet.arch", input="3x64x64").transform is None


@pytest.mark.slow
def test_efficientnet_training_mode_drops_the_rows_torchvision_drops():
    # In training, stochastic depth zeroes whole rows of each residual body and dropout elements of the
    # classifier's input: with the same seed both models draw the same masks in the same order, so the
    # outputs agree only if each block has torchvision's probability and the blocks without a shortcut
    # (the first of each stage, written with probability 0) draw nothing, as torchvision's skip the call.
    reference = _torchvision_model("efficientnet_b0")
    model = archdsl.load(ROOT / "architectures" / "efficientnet_b0.arch", input="3x64x64")
    model.load_state_dict(reference.state_dict(), strict=True)
    model.train()
    reference.train()
    x = torch.randn(8, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        torch.manual_seed(5)
        ours = model(x)
        torch.manual_seed(5)
        theirs = reference(x)
        torch.manual_seed(6)
        other = reference(x)
    _agree(ours, theirs)
    assert not torch.allclose(theirs, other)  # the masks do depend on the seed: the comparison can fail


def _segmentation_model(name: str, **options):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)  # weights_backbone=None: torchvision would download the backbone's ImageNet weights
    return getattr(torchvision.models.segmentation, name)(weights=None, weights_backbone=None, **options)


def _segmentation_outputs_agree(model: torch.nn.Module, reference: torch.nn.Module, keys: list[str]) -> None:
    """Both return an ordered dict: the same keys, each output at the input's size and equal."""
    torch.manual_seed(1)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ours, theirs = model(x), reference(x)
    assert list(ours) == list(theirs) == keys
    for key in theirs:
        assert ours[key].shape == (2, 21, 64, 64)
        _agree(ours[key], theirs[key])


@pytest.mark.slow
@pytest.mark.parametrize("aux_loss", [False, True], ids=["no_aux", "aux"])
@pytest.mark.parametrize("name", [n for n in SEGMENTATION if ALL_ARCHITECTURES or n not in LARGER_SIZES])
def test_segmentation_outputs_agree_with_torchvision_under_random_batch_norms(name, aux_loss):
    reference = _segmentation_model(name, aux_loss=aux_loss).eval()
    _randomise_batch_norms(reference)
    model = archdsl.load(ROOT / "architectures" / f"{name}.arch", input="3x64x64", aux_loss=aux_loss).eval()
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in reference.parameters())
    model.load_state_dict(reference.state_dict(), strict=True)
    _segmentation_outputs_agree(model, reference, ["out", "aux"] if aux_loss else ["out"])


@pytest.mark.parametrize("name", SEGMENTATION)
def test_segmentation_keys_with_the_aux_head_are_torchvisions(name):
    with torch.device("meta"):
        model = archdsl.load(ROOT / "architectures" / f"{name}.arch", aux_loss=True)
        reference = _segmentation_model(name, aux_loss=True)
    assert shapes(model) == shapes(reference)
    assert {"backbone.conv1.weight", "backbone.layer4.2.conv3.weight", "classifier.4.bias",
            "aux_classifier.0.weight"} <= set(shapes(model))


@pytest.mark.slow
@pytest.mark.parametrize(("name", "aux_loss"), [("lraspp_mobilenet_v3_large", None),  # LR-ASPP has no aux head
                                                ("deeplabv3_mobilenet_v3_large", False),
                                                ("deeplabv3_mobilenet_v3_large", True)])
def test_mobilenet_segmentation_outputs_agree_with_torchvision_under_random_batch_norms(name, aux_loss):
    options = {} if aux_loss is None else {"aux_loss": aux_loss}
    reference = _segmentation_model(name, **options).eval()
    _randomise_batch_norms(reference)
    model = archdsl.load(ROOT / "architectures" / f"{name}.arch", input="3x64x64", **options).eval()
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in reference.parameters())
    model.load_state_dict(reference.state_dict(), strict=True)
    # The dilated last stage (torchvision's dilated=True): depthwise 5x5, stride 1, dilation 2, padding 4.
    depthwise = model.backbone[13].block[1][0]
    assert (depthwise.stride, depthwise.dilation, depthwise.padding) == ((1, 1), (2, 2), (4, 4))
    _segmentation_outputs_agree(model, reference, ["out", "aux"] if aux_loss else ["out"])
