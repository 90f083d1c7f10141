"""`init`: a fresh model starts as torchvision's does, and the language's three forms of `init` hold.

Fresh weights are random, so the comparison with torchvision is statistical, tensor by tensor: the
standard deviation within a tolerance the tensor's size justifies (the sample standard deviation of n
normal values is off by about 1/sqrt(2n) of itself, the ratio of two such by 1/sqrt(n): 6 of those,
and never less than 10%), the mean within 6 standard errors of the difference, and, for tensors of
10,000 values or more, the kurtosis within 0.5 (about ten standard errors), which tells a uniform
draw (1.8) from a normal one (3) of the same deviation. Of a larger tensor every k-th value is
taken, a million at most: the values are drawn independently, so that is a sample of its own, and
the tolerances are the sample's. Tensors that torchvision fills with one value (norms' ones and
zeros, zeroed biases, zero-init residuals, running statistics) must be equal exactly.
"""

from __future__ import annotations

import pytest
import torch
from helpers import ALL_ARCHITECTURES, ROOT, error_of, net

import archdsl
from archdsl.pytorch.runtime import module_from_source

# Every bundled file named after a torchvision builder. AlexNet has no initialisation of its own in
# torchvision (PyTorch's defaults): its file declares none, and the comparison checks that too; so
# with ShuffleNetV2.
TORCHVISION = ["alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
               "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "resnext101_32x8d",
               "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2", "googlenet", "squeezenet1_0",
               "squeezenet1_1", "convnext_tiny", "convnext_small", "convnext_base", "convnext_large",
               "mobilenet_v2", "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3", "densenet121", "densenet161",
               "densenet169", "densenet201", "inception_v3", "mobilenet_v3_large", "mobilenet_v3_small",
               "regnet_x_400mf", "regnet_x_800mf", "regnet_x_1_6gf", "regnet_x_3_2gf", "regnet_x_8gf", "regnet_x_16gf",
               "regnet_x_32gf", "regnet_y_400mf", "regnet_y_800mf", "regnet_y_1_6gf", "regnet_y_3_2gf", "regnet_y_8gf",
               "regnet_y_16gf", "regnet_y_32gf", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5",
               "shufflenet_v2_x2_0"] + [f"efficientnet_b{k}" for k in range(8)] + \
    ["efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l"]
# regnet_y_128gf (644 million parameters) is left out: its file declares RegNet's init like its family's.
# One file of each family on CI (building a VGG takes seconds); ARCHDSL_ALL_ARCHITECTURES=1 runs them all.
QUICK = {"alexnet", "vgg11_bn", "resnet18", "resnext50_32x4d", "googlenet", "squeezenet1_0", "squeezenet1_1",
         "convnext_tiny", "mobilenet_v2", "mnasnet0_5", "densenet121", "inception_v3", "mobilenet_v3_small",
         "regnet_x_400mf", "regnet_y_400mf", "shufflenet_v2_x0_5", "efficientnet_b0",
         "efficientnet_v2_s"}


def torchvision_model(name: str, **kwargs):
    torchvision = pytest.importorskip("torchvision")
    if name in ("googlenet", "inception_v3"):
        kwargs.update(init_weights=True, aux_logits=True)
    return getattr(torchvision.models, name)(weights=None, **kwargs)


SAMPLE = 1_000_000  # values compared of each tensor, at most


def differences(ours: torch.nn.Module, theirs: torch.nn.Module) -> list[str]:
    """Each tensor whose start differs from torchvision's, with the figures."""
    found = []
    mine = ours.state_dict()
    for key, reference in theirs.state_dict().items():
        tensor = mine[key]
        if not reference.is_floating_point() or reference.numel() == 0:
            assert torch.equal(tensor, reference), key
            continue
        if reference.numel() == 1 or reference.min() == reference.max():
            if not torch.equal(tensor, reference):
                found.append(f"{key}: {tensor.flatten()[:3].tolist()}... against the constant {reference.flatten()[0]}")
            continue
        step = -(-reference.numel() // SAMPLE)
        tensor, reference = tensor.flatten()[::step].double(), reference.flatten()[::step].double()
        n = reference.numel()
        ours_std, theirs_std = tensor.std().item(), reference.std().item()
        if abs(ours_std / theirs_std - 1) > max(0.1, 6 / n ** 0.5):
            found.append(f"{key} ({n} values): std {ours_std:.4g} against {theirs_std:.4g}")
        if abs(tensor.mean().item() - reference.mean().item()) > 6 * theirs_std * (2 / n) ** 0.5:
            found.append(f"{key}: mean {tensor.mean().item():.4g} against {reference.mean().item():.4g}")
        if n >= 10_000 and abs(kurtosis(tensor) - kurtosis(reference)) > 0.5:
            found.append(f"{key}: kurtosis {kurtosis(tensor):.2f} against {kurtosis(reference):.2f}")
    return found


def kurtosis(tensor: torch.Tensor) -> float:
    x = tensor - tensor.mean()
    return ((x ** 4).mean() / (x ** 2).mean() ** 2).item()


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in TORCHVISION if ALL_ARCHITECTURES or n in QUICK])
def test_a_fresh_model_starts_as_torchvisions(name):
    torch.manual_seed(0)
    theirs = torchvision_model(name)
    ours = archdsl.load(ROOT / "architectures" / f"{name}.arch")
    assert differences(ours, theirs) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18", "resnext50_32x4d"])
def test_zero_init_residual_zeroes_each_blocks_last_bn_as_torchvision_does(name):
    theirs = torchvision_model(name, zero_init_residual=True)
    ours = archdsl.load(ROOT / "architectures" / f"{name}.arch", zero_init_residual=True)
    assert differences(ours, theirs) == []
    last = "bn2" if name == "resnet18" else "bn3"
    assert not ours.layer2[1].get_submodule(last).weight.any()
    assert ours.layer2[1].bn1.weight.eq(1).all()


# torchvision.models.segmentation's: the backbone starts as the classifier it comes from (resnet50(),
# mobilenet_v3_large()) does, the heads as PyTorch's layers do (`init ... within=backbone`).
SEGMENTATION = ["fcn_resnet50", "deeplabv3_resnet50", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large"]
SEGMENTATION += ["fcn_resnet101", "deeplabv3_resnet101"] if ALL_ARCHITECTURES else []


@pytest.mark.slow
@pytest.mark.parametrize("name", SEGMENTATION)
def test_a_fresh_segmentation_model_starts_as_torchvisions(name):
    torchvision = pytest.importorskip("torchvision")
    options = {} if name.startswith("lraspp") else {"aux_loss": True}  # the aux head too (FCNHead: PyTorch's)
    torch.manual_seed(0)
    theirs = getattr(torchvision.models.segmentation, name)(weights=None, weights_backbone=None, **options)
    ours = archdsl.load(ROOT / "architectures" / f"{name}.arch", **options)
    assert differences(ours, theirs) == []
    norms = [m for m in ours.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(m.weight.eq(1).all() and not m.bias.any() for m in norms)
    convs = {k: v for k, v in ours.state_dict().items() if k.endswith("weight") and v.dim() == 4}
    reference = theirs.state_dict()
    assert all(abs(v.std() / reference[k].std() - 1) < 0.1 for k, v in convs.items() if v.numel() >= 2_000)


def test_within_sets_the_layers_under_one_label_and_leaves_the_rest_as_pytorch_starts_them():
    body = "    backbone: (conv3-256; relu; conv3-256; bn; relu); head: (conv3-256; bn; relu; conv1-256)"
    source = net(body, "3x8x8")
    scheme = "init conv(kaiming_normal, mode=fan_out, nonlinearity=relu, bias=zeros{});\n" \
             "    init bn(constant, value=0.5{});\n    "
    within = source.replace("    backbone:", "    " + scheme.format(", within=backbone", ", within=backbone") +
                            "backbone:")
    everywhere = source.replace("    backbone:", "    " + scheme.format("", "") + "backbone:")
    code = archdsl.compile_source(source=within).source
    assert "        for m in self.backbone.modules():\n            if isinstance(m, nn.Conv2d):" in code
    assert "for m in self.modules():" not in code
    torch.manual_seed(0)
    ours, kaiming, default = (archdsl.load(source=s) for s in (within, everywhere, source))
    found = differences(ours, kaiming)  # the head as PyTorch starts it
    assert found and all(line.startswith("head.") for line in found)
    assert any(line.startswith("head.0.weight") for line in found)
    assert any(line.startswith("head.1.weight") for line in found)
    found = differences(ours, default)  # the backbone as the schemes say
    assert found and all(line.startswith("backbone.") for line in found)
    assert any(line.startswith("backbone.2.weight") for line in found)
    assert any(line.startswith("backbone.3.weight") for line in found)


def test_the_comparison_tells_apart_what_it_must():
    # The test above would pass vacuously if `differences` saw nothing: PyTorch's default start of a
    # convolution (a uniform draw) against He et al.'s normal of the same network.
    torch.manual_seed(0)
    source = net("conv3-256; relu; conv3-256; bn; gap; flatten; fc-10", "3x8x8")
    default = archdsl.load(source=source)
    kaiming = archdsl.load(source=source.replace("input 3x8x8;", "input 3x8x8;\n    init conv(kaiming_normal, "
                                                 "mode=fan_out, nonlinearity=relu, bias=zeros);"))
    found = differences(default, kaiming)
    assert any(line.startswith("conv2.weight") and "std" in line for line in found)
    assert any(line.startswith("conv2.weight") and "kurtosis" in line for line in found)
    assert any(line.startswith("conv1.bias") and "constant" in line for line in found)
    assert not any(line.startswith(("bn1", "fc1")) for line in found)
    assert differences(kaiming, kaiming) == []


# -- the language ---------------------------------------------------------------------------------


def model_and_source(body: str, params: str = "", **values):
    source = net(body, "3x16x16", params)
    return archdsl.load(source=source, **values), archdsl.compile_source("test.arch", source=source,
                                                                         params=values).source


def test_a_word_wide_scheme_reaches_every_layer_of_the_word_in_blocks_too():
    torch.manual_seed(0)
    source_with_block = "block pair(c) { one: conv3-c; relu; two: conv3-c(bias=false) }\n"
    model = archdsl.load(source=source_with_block + net(
        "init conv(kaiming_normal, mode=fan_out, nonlinearity=relu, bias=zeros);\n"
        "init fc(normal, std=0.01, bias=zeros);\n"
        "a: pair(256); b: conv3-256; gap; flatten; fc: fc-4096", "3x16x16"))
    expected = (2 / (256 * 9)) ** 0.5  # fan_out: 256 filters of 3x3
    for conv in (model.a.two, model.b):
        assert conv.weight.std().item() == pytest.approx(expected, rel=0.02)
    assert not model.a.one.bias.any() and not model.b.bias.any() and model.a.two.bias is None
    assert model.fc.weight.std().item() == pytest.approx(0.01, rel=0.02)
    assert not model.fc.bias.any()


def test_the_emitted_method_reads_like_torchvisions_loop():
    source = archdsl.compile_source(ROOT / "architectures" / "vgg11_bn.arch").source
    method = source[source.index("    def init_weights"):source.index("    def forward")]
    assert method.splitlines()[4:] == [
        "        for m in self.modules():",
        "            if isinstance(m, nn.Conv2d):",
        '                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")',
        "                nn.init.zeros_(m.bias)",
        "            elif isinstance(m, nn.BatchNorm2d):",
        "                nn.init.ones_(m.weight)",
        "                nn.init.zeros_(m.bias)",
        "            elif isinstance(m, nn.Linear):",
        "                nn.init.normal_(m.weight, std=0.01)",
        "                nn.init.zeros_(m.bias)",
        "",
    ]
    assert "        self.init_weights()\n" in source


@pytest.mark.parametrize("name", ["alexnet", "lenet5", "alexnet_paper"])
def test_networks_without_init_keep_pytorchs_defaults_and_no_method(name):
    assert "init_weights" not in archdsl.compile_source(ROOT / "architectures" / f"{name}.arch").source


def test_a_statements_init_comes_after_the_word_wide_one():
    torch.manual_seed(0)
    model, source = model_and_source("init conv(kaiming_uniform, bias=zeros);\n"
                                     "features: (conv3-256; relu; conv3-256 init(normal, std=0.01, bias=ones); relu)")
    # kaiming_uniform's defaults: uniform(±sqrt(2) * sqrt(3 / fan_in)), whose std is sqrt(2 / fan_in)
    assert model.features[0].weight.std().item() == pytest.approx((2 / (3 * 9)) ** 0.5, rel=0.05)
    assert model.features[2].weight.std().item() == pytest.approx(0.01, rel=0.02)
    assert model.features[2].bias.eq(1).all() and not model.features[0].bias.any()
    assert "nn.init.normal_(self.features[2].weight, std=0.01)" in source


def test_a_statements_init_in_a_block_used_several_times_loops_over_the_blocks_class():
    blocks = "block unit(c) { conv: conv3-c; relu; head: conv1-c init(trunc_normal, std=0.001, a=-2, b=2) }\n"
    source = blocks + net("init conv(kaiming_normal, mode=fan_out);\nlayer: (unit(64); unit(64)); "
                          "last: unit(32)", "3x16x16")
    text = archdsl.compile_source("test.arch", source=source).source
    assert "            if isinstance(m, Unit):\n" \
           "                nn.init.trunc_normal_(m.head.weight, std=0.001, a=-2.0, b=2.0)\n" in text
    torch.manual_seed(0)
    model = archdsl.load(source=source)
    for unit in (model.layer[0], model.layer[1], model.last):
        assert unit.head.weight.std().item() == pytest.approx(0.001, rel=0.15)
        assert unit.conv.weight.std().item() == pytest.approx((2 / (unit.conv.out_channels * 9)) ** 0.5, rel=0.1)


def test_a_layer_that_some_uses_of_its_block_switch_off_is_set_by_its_path():
    blocks = "block unit(c, extra = false) { conv3-c; last: conv1-c init(zeros) if extra }\n"
    source = blocks + net("a: unit(16); b: unit(16, true)", "3x16x16")
    text = archdsl.compile_source("test.arch", source=source).source
    assert "        if self.b.last is not None:\n            nn.init.zeros_(self.b.last.weight)\n" in text
    assert "self.a.last" not in text
    model = archdsl.load(source=source)
    assert model.a.last is None and not model.b.last.weight.any()


def test_a_head_that_a_constructor_argument_leaves_out_is_guarded():
    # inception_v3.arch: the aux head's fc has its own init, and aux_logits is an argument of the class.
    source = archdsl.compile_source(ROOT / "architectures" / "inception_v3.arch").source
    assert "        if self.AuxLogits is not None:\n" \
           "            nn.init.trunc_normal_(self.AuxLogits.fc.weight, std=0.001, a=-2.0, b=2.0)\n" in source
    # Compiled with aux = true, built with aux=False: the class's own argument leaves the head out.
    emitted = archdsl.compile_source("test.arch", source=net("head: (flatten; fc-10 init(zeros)) if aux;\n"
                                                             "flatten; fc: fc-10 init(zeros)", "3x16x16", "aux = true"))
    cls = getattr(module_from_source(emitted.source, "test.arch"), emitted.class_name)
    model = cls(aux=False)
    assert model.head is None and not model.fc.weight.any()
    assert not cls().head[1].weight.any()


def test_zero_init_residual_is_a_parameter_of_the_class_and_of_init_weights():
    blocks = "block res(c) { residual< conv3-c(bias=false); bn1: bn; relu; conv3-c(bias=false); bn2: bn >; relu }\n"
    source = blocks + net("init residual(last_bn=zeros) if zero_init;\nconv3-8; a: res(8); b: res(8)",
                          "3x16x16", "zero_init = false")
    text = archdsl.compile_source("test.arch", source=source).source
    assert "def __init__(self, zero_init: bool = False)" in text
    assert "def init_weights(self, zero_init: bool = False)" in text
    assert "        if zero_init:  # each residual body's last bn starts at zero\n" in text
    assert "nn.init.zeros_(m.bn2.weight)" in text
    assert archdsl.load(source=source).a.bn2.weight.eq(1).all()
    zeroed = archdsl.load(source=source, zero_init=True)
    assert not zeroed.a.bn2.weight.any() and not zeroed.b.bn2.weight.any()
    assert zeroed.a.bn1.weight.eq(1).all()  # the body's first bn keeps its ones
    x = torch.randn(2, 8, 16, 16).relu()
    assert torch.equal(zeroed.eval().a(x), x)  # each block starts as its shortcut (ReLU of a ReLU's output)


def test_a_word_wide_scheme_can_depend_on_a_network_parameter():
    model, source = model_and_source("init fc(zeros, bias=zeros) if blank;\nflatten; fc: fc-10", "blank = true")
    assert "elif" not in source and "if isinstance(m, nn.Linear) and blank:" in source
    assert not model.fc.weight.any()
    kept, _ = model_and_source("init fc(zeros, bias=zeros) if blank;\nflatten; fc: fc-10", "blank = true", blank=False)
    assert kept.fc.weight.abs().sum() > 0


def test_the_default_scheme_sets_only_the_bias():
    torch.manual_seed(0)
    model, source = model_and_source("init fc(default, bias=zeros);\nflatten; fc: fc-500")
    assert "nn.init.zeros_(m.bias)" in source and "m.weight" not in source
    bound = 1 / (3 * 16 * 16) ** 0.5  # PyTorch's start: uniform(±1/sqrt(fan_in))
    assert model.fc.weight.abs().max().item() <= bound and model.fc.weight.std().item() == pytest.approx(
        bound / 3 ** 0.5, rel=0.02)
    assert not model.fc.bias.any()


def test_a_compound_condition_stays_one_condition():
    _, source = model_and_source("init fc(zeros) if a or b;\nflatten; fc: fc-10", "a = false, b = true")
    assert "if isinstance(m, nn.Linear) and (a or b):" in source


def test_norms_affine_false_and_mixed_biases_are_guarded():
    model, source = model_and_source("init conv(xavier_uniform, bias=zeros);\ninit bn(constant, value=0.5);\n"
                                     "conv3-8; a: bn(affine=false); conv3-8(bias=false); b: bn")
    assert "if m.bias is not None:" in source and "if m.weight is not None:" in source
    assert "nn.init.constant_(m.weight, val=0.5)" in source
    assert model.b.weight.eq(0.5).all() and model.a.weight is None


def test_building_on_meta_draws_nothing_and_keeps_the_shapes():
    with torch.device("meta"):
        model = archdsl.load(ROOT / "architectures" / "resnet18.arch")
    assert model.conv1.weight.is_meta
    model = archdsl.load(ROOT / "architectures" / "googlenet.arch", device="meta")
    assert all(p.is_meta for p in model.parameters())


def test_a_folded_copy_has_no_initialisation_of_its_own():
    ir = archdsl.build(ROOT / "architectures" / "resnet18.arch")
    assert ir.init.words
    source = archdsl.compile_source(ROOT / "architectures" / "resnet18.arch", fuse=True).source
    assert "init_weights" not in source


@pytest.mark.parametrize("body, code, message", [
    ("init conv(kaiming_norml);\nconv3-8", "bad-init", "unknown initialisation scheme 'kaiming_norml'"),
    ("init bn(kaiming_normal);\nconv3-8; bn", "bad-init", "kaiming_normal needs a weight with a fan-in"),
    ("init relu(zeros);\nconv3-8; relu", "bad-init", "'relu' has no weights that `init` sets"),
    ("init conv3(zeros);\nconv3-8", "bad-init", "`init` applies to every 'conv', whatever its kernel"),
    ("init conv(mode=fan_out);\nconv3-8", "bad-init", "`init` names its scheme first"),
    ("init conv(normal, sd=0.1);\nconv3-8", "unknown-option", "normal has no option 'sd'"),
    ("init conv(normal, std=-1);\nconv3-8", "bad-option-value", "std must be a non-negative number"),
    ("init conv(kaiming_normal, mode=fan_up);\nconv3-8", "bad-option-value", "mode must be `fan_in` or `fan_out`"),
    ("init conv(constant);\nconv3-8", "missing-option", "constant needs value"),
    ("init conv(uniform, a=1, b=-1);\nconv3-8", "bad-option-value", "uniform: a must be below b"),
    ("init conv(trunc_normal, b=-3);\nconv3-8", "bad-option-value", "trunc_normal: a must be below b"),
    ("init conv(trunc_normal, std=0);\nconv3-8", "bad-option-value", "trunc_normal: std must be above 0"),
    ("init conv(zeros, bias=twos);\nconv3-8", "bad-option-value", "bias must be `zeros` or `ones`"),
    ("init conv(zeros);\ninit conv(ones);\nconv3-8", "duplicate-init", "a second `init` for 'conv'"),
    ("init cnov(zeros);\nconv3-8", "unknown-word", "unknown layer word 'cnov'"),
    ("init residual(last_bn=ones);\nconv3-8", "bad-option-value", "last_bn must be `zeros`"),
    ("init residual(zero=true);\nconv3-8", "bad-init", "`init residual` takes one option"),
    ("init fc(zeros) if 3;\nflatten; fc-2", "bad-condition-value", "condition must be true or false"),
    ("conv3-8; init conv(zeros)", "misplaced-init", "`init conv` after a statement"),
    ("(conv3-8; relu) init(zeros)", "bad-init", "`init(...)` follows a layer call, not a group"),
    ("relu init(zeros)", "bad-init", "'relu' has no weights that `init` sets"),
    ("init conv(zeros, within=bakbone);\nbackbone: (conv3-8; relu)", "bad-init",
     "'bakbone' is no labelled statement of the network's body"),
    ("init conv(zeros, within=3);\nbackbone: (conv3-8; relu)", "bad-init", "within takes a label"),
    ("init conv(zeros, within=a, within=a);\na: conv3-8", "duplicate-option", "option 'within' given twice"),
    ("init conv(zeros, within=a);\na: conv3-8 if on", "bad-init", "'a' is not always a module"),
    ("init conv(zeros, within=out);\nout: output<conv3-8>", "bad-init", "'out' is not always a module"),
    ("init residual(last_bn=zeros, within=a);\na: conv3-8", "bad-init", "`init residual` takes one option"),
])
def test_bad_init_is_reported_where_it_is_written(body, code, message):
    d = error_of(net(body, params="on = true")).first
    assert (d.code, d.span.file) == (code, "test.arch")
    assert message in d.message
    assert d.span.line >= 3  # net() writes the body from line 3


def test_init_in_a_block_or_group_is_misplaced():
    error = error_of("block b(c) {\n    init conv(zeros);\n    conv3-c\n}\n" + net("b(8)"))
    assert (error.first.code, error.first.span.line, error.first.span.column) == ("misplaced-init", 2, 5)
    assert "belongs in the network body" in error.first.message
    error = error_of(net("(init conv(zeros); conv3-8)"))
    assert error.first.code == "misplaced-init"
    error = error_of("block b(c) { conv3-c }\n" + net("init b(zeros);\nb(8)"))
    assert (error.first.code, error.first.span.line) == ("bad-init", 4)
    assert "'b' is a block" in error.first.message


def test_a_bad_init_in_a_block_used_twice_is_reported_once():
    error = error_of("block b(c) { conv3-c init(normal, std=-1) }\n" + net("b(8); b(8)"))
    assert [d.code for d in error.diagnostics] == ["bad-option-value"]
    assert error.first.span.line == 1


def test_the_formatter_lays_out_init():
    from archdsl.frontend.formatter import format_text

    text = "network n(z = false) {\n  input 3x8x8;\n  init  conv( kaiming_normal ,mode = fan_out )  if z ;\n" \
           "  conv3-8  init ( normal , std=0.01 ) ; relu\n}\n"
    assert format_text(text) == "network n(z = false) {\n    input 3x8x8;\n" \
                                "    init conv(kaiming_normal, mode=fan_out) if z;\n" \
                                "    conv3-8 init(normal, std=0.01); relu\n}\n"


def test_zero_init_residual_zeroes_the_last_norm_of_a_body_whatever_its_word():
    # gn and ln as well as bn, and a norm inside a gate<> path of the body: the last in forward order.
    blocks = "block res(c) { residual< conv3-c(bias=false); gn-2; relu; conv3-c(bias=false); last: gn-2 >; relu }\n" \
        "block cn(c) { residual< conv3-c(groups=c); first: ln; conv1-c; last: ln > }\n" \
        "block gated(c) { residual< conv3-c(bias=false); first: bn; gate< conv1-c; last: gn-2 > > }\n"
    source = blocks + net("init residual(last_norm=zeros) if zero_init;\nconv3-8; relu; a: res(8); b: cn(8); "
                          "c: gated(8)", "3x16x16", "zero_init = false")
    text = archdsl.compile_source("test.arch", source=source).source
    assert "        if zero_init:  # each residual body's last norm starts at zero\n" in text
    zeroed = archdsl.load(source=source, zero_init=True).eval()
    for block in (zeroed.a, zeroed.b, zeroed.c):
        assert not block.last.weight.any()
    assert zeroed.b.first.weight.eq(1).all() and zeroed.c.first.weight.eq(1).all()
    x = torch.randn(2, 8, 16, 16).relu()
    with torch.no_grad():
        assert torch.equal(zeroed.a(x), x) and torch.equal(zeroed.b(x), x)
        assert torch.equal(zeroed.c(x), x)  # the gate's path ends at zero (gn's bias is 0): nothing is added
    kept = archdsl.load(source=source)
    assert kept.a.last.weight.eq(1).all() and kept.c.last.weight.eq(1).all()
    # torchvision's spelling names the same layers
    assert archdsl.compile_source("test.arch", source=source.replace("last_norm", "last_bn")).source == text
