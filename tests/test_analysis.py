"""analysis.py and `archdsl summary`: exact parameters, MACs and memory, computed without torch.

References: torchinfo 1.8.0's figures committed in tests/reference/torchinfo.json (made by
tests/make_torchinfo_reference.py), and autograd itself: the tensors it saves for backward,
counted with torch.autograd.graph.saved_tensors_hooks on the compiled module.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from helpers import ARCHITECTURES, EXPECTED_PARAMS, ROOT, build, net

import archdsl
from archdsl.analysis.costs import FLOAT_BYTES, analyse
from archdsl.analysis.summary import table
from archdsl.cli.main import main
from archdsl.layers import OPS

TORCHINFO = json.loads((ROOT / "tests" / "reference" / "torchinfo.json").read_text())["models"]
# Weighted layers on the longest path: the number in each network's name.
DEPTHS = {"unet": 23,  # "23 convolutional layers in total" (the U-Net paper)
          "lenet5": 5, "alexnet": 8, "alexnet_paper": 8, "vgg11": 11, "vgg11_lrn": 11, "vgg13": 13, "vgg16": 16,
          "vgg16_conv1": 16, "vgg19": 19, "resnet18": 18, "resnet34": 34, "resnet50": 50, "resnet101": 101,
          "resnet152": 152, "googlenet": 22, "vgg11_bn": 11, "vgg13_bn": 13, "vgg16_bn": 16, "vgg19_bn": 19,
          "squeezenet1_0": 18, "squeezenet1_1": 18, "resnext50_32x4d": 50, "resnext101_32x8d": 101,
          "resnext101_64x4d": 101, "wide_resnet50_2": 50, "wide_resnet101_2": 101,
          # RegNet's names give no depth: 3 convolutions a block (5 with squeeze-and-excitation), stem and fc.
          "regnet_x_400mf": 68, "regnet_x_800mf": 50, "regnet_x_1_6gf": 56, "regnet_x_3_2gf": 77, "regnet_x_8gf": 71,
          "regnet_x_16gf": 68, "regnet_x_32gf": 71, "regnet_y_400mf": 82, "regnet_y_800mf": 72, "regnet_y_1_6gf": 137,
          "regnet_y_3_2gf": 107, "regnet_y_8gf": 87, "regnet_y_16gf": 92, "regnet_y_32gf": 102, "regnet_y_128gf": 137,
          # Segmentation: the ResNet's convolutions but fc, then FCNHead's two, or DeepLabHead's four (ASPP's
          # branch and projection, its 3x3 and the classes' 1x1)
          "fcn_resnet50": 51, "fcn_resnet101": 102, "deeplabv3_resnet50": 53, "deeplabv3_resnet101": 104,
          # ConvNeXt: the stem, 3 per block (the depthwise conv and two linears), 3 downsamplings, the head
          "convnext_tiny": 59, "convnext_small": 113, "convnext_base": 113, "convnext_large": 113,
          # 1 + 2 (the first block) + 16 blocks x 3 + 1 + the classifier: MobileNetV2's 53 layers; MNASNet's alike
          "mobilenet_v2": 53, "mnasnet0_5": 53, "mnasnet0_75": 53, "mnasnet1_0": 53, "mnasnet1_3": 53,
          # ShuffleNetV2: conv1, three convolutions in each of 16 units, conv5, fc
          "shufflenet_v2_x0_5": 51, "shufflenet_v2_x1_0": 51, "shufflenet_v2_x1_5": 51, "shufflenet_v2_x2_0": 51,
          # MobileNetV3: stem, 3 convolutions a block (2 in the first), 2 more with squeeze-and-excitation,
          # the last convolution and the classifier's 2 linears
          "mobilenet_v3_large": 64, "mobilenet_v3_small": 54,
          # LR-ASPP: MobileNetV3-Large's 62 but the classifier, then the head's cbr and high classifier
          "lraspp_mobilenet_v3_large": 64,
          # DeepLabV3 on it: the same 62, then DeepLabHead's four (ASPP's branch and projection, 3x3, classes)
          "deeplabv3_mobilenet_v3_large": 66,
          # EfficientNet: stem, 4 a block of the first stage (depthwise, 2 in the gate, projection), 5 in the
          # others, the last convolution and fc
          "efficientnet_b0": 82, "efficientnet_b1": 116, "efficientnet_b2": 116, "efficientnet_b3": 131,
          "efficientnet_b4": 161, "efficientnet_b5": 195, "efficientnet_b6": 225, "efficientnet_b7": 274,
          # EfficientNetV2: 1 a block of ratio 1, 2 a fused block, 5 an MBConv
          "efficientnet_v2_s": 171, "efficientnet_v2_m": 246, "efficientnet_v2_l": 340,
          "densenet121": 121, "densenet161": 161, "densenet169": 169, "densenet201": 201, "inception_v3": 48}
CONVNEXT = ["convnext_tiny", "convnext_small", "convnext_base", "convnext_large"]
# Networks whose difference from torchinfo exceeds 0.5% and is exactly what torchinfo leaves out
# (docs/analysis.md): batch norms counted by parameters (they weigh most next to cheap depthwise
# or narrow convolutions, and in DenseNet, whose norms take every earlier layer's features), gates'
# products not at all.
EXPLAINED = {"regnet_x_400mf", "regnet_x_800mf", "regnet_y_400mf", "regnet_y_800mf", "regnet_y_1_6gf",
             "mobilenet_v2", "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3", "shufflenet_v2_x0_5",
             "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0", "densenet121", "densenet169",
             "densenet201", "unet", "mobilenet_v3_large", "mobilenet_v3_small", "lraspp_mobilenet_v3_large",
             *(f"efficientnet_b{k}" for k in range(8)), "efficientnet_v2_s", "efficientnet_v2_m",
             "efficientnet_v2_l"}


def test_every_op_the_ir_can_hold_has_a_cost_rule():
    ops = {layer.op for path in ARCHITECTURES for layer in archdsl.build(path).layers}
    assert ops <= set(OPS)
    assert all(callable(spec.shape) and callable(spec.cost) for spec in OPS.values())


@pytest.mark.parametrize("path", ARCHITECTURES, ids=lambda p: p.stem)
def test_params_exact_and_macs_within_half_a_percent_of_torchinfo(path):
    reference = TORCHINFO[path.stem]
    a = analyse(archdsl.build(path))
    assert [1, *a.ir.input_shape] == reference["input"]
    assert a.params == EXPECTED_PARAMS[path.stem] == reference["trainable_params"]
    if path.stem in EXPLAINED:
        assert _as_torchinfo_counts(a) == reference["total_mult_adds"]
    elif path.stem not in CONVNEXT:  # torchinfo misses most of ConvNeXt's MACs: see the test after the next
        assert abs(a.macs - reference["total_mult_adds"]) / reference["total_mult_adds"] < 0.005
    assert a.depth == DEPTHS[path.stem]


def _as_torchinfo_counts(a) -> int:
    """archdsl's MACs as torchinfo counts them: a batch norm as its two parameters per channel rather
    than a multiply-add per element (a projection shortcut holds one), a gate's product as nothing, a
    transposed convolution as its whole kernel at every output position (k*k times its true products
    for a k x k stride-k one)."""
    norms = [r.layer.out_shape for r in a.rows
             if r.eval and (r.layer.op == "bn" or r.layer.derived.decision == "projection")]
    products = [r.macs for r in a.rows if r.eval and r.layer.op == "mul"]
    upconvs = [(r.macs, r.layer) for r in a.rows if r.eval and r.layer.op == "upconv"]
    as_torchinfo = [layer.derived.in_channels * math.prod(layer.attrs["kernel"]) * math.prod(layer.out_shape)
                    + (math.prod(layer.out_shape) if layer.attrs["bias"] else 0) for _, layer in upconvs]
    return a.macs - sum(math.prod(s) - 2 * s[0] for s in norms) - sum(products) - sum(m for m, _ in upconvs) \
        + sum(as_torchinfo)


@pytest.mark.parametrize("name", ["regnet_x_400mf", "regnet_y_400mf", "regnet_x_8gf", "regnet_y_8gf", "fcn_resnet50",
                                  "fcn_resnet101", "deeplabv3_resnet50", "deeplabv3_resnet101"])
def test_batch_norms_and_gates_are_the_whole_difference_from_torchinfo(name):
    a = analyse(archdsl.build(ROOT / "architectures" / f"{name}.arch"))
    assert any(r.layer.op == "mul" for r in a.rows) == name.startswith("regnet_y")
    assert _as_torchinfo_counts(a) == TORCHINFO[name]["total_mult_adds"]


@pytest.mark.parametrize("name", ["vgg11", "vgg13", "vgg16", "vgg19", "alexnet", "lenet5", "squeezenet1_0",
                                  "squeezenet1_1"])
def test_macs_equal_torchinfo_exactly_without_batch_norm_or_lrn(name):
    # torchinfo counts (weights + biases) x output positions for conv and fc: so do we. The two
    # differ only where we count what torchinfo does not (batch norm per element, LRN).
    assert analyse(archdsl.build(ROOT / "architectures" / f"{name}.arch")).macs == TORCHINFO[name]["total_mult_adds"]


@pytest.mark.parametrize("name", ["vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn", "resnet50", "resnext50_32x4d",
                                  "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2",
                                  "mobilenet_v2", "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3",
                                  "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5",
                                  "shufflenet_v2_x2_0", "densenet121", "densenet161", "densenet169", "densenet201"])
def test_batch_norm_is_the_whole_difference_from_torchinfo(name):
    a = analyse(archdsl.build(ROOT / "architectures" / f"{name}.arch"))
    assert any(r.layer.op == "bn" for r in a.rows) and not any(r.layer.op == "mul" for r in a.rows)
    assert _as_torchinfo_counts(a) == TORCHINFO[name]["total_mult_adds"]


@pytest.mark.parametrize("name", CONVNEXT)
def test_convnext_differs_from_torchinfo_by_its_channels_last_linears_and_its_layer_norms(name):
    # torchinfo counts an nn.Linear as batch x its parameters, whatever lies between the batch and the last
    # dimension: on ConvNeXt's (B, H, W, C) tensors it counts one of the H*W positions. It counts a LayerNorm
    # as its two parameters per channel, archdsl as a multiply-add per element (as for batch norm).
    a = analyse(archdsl.build(ROOT / "architectures" / f"{name}.arch"))
    missed = 0
    for row in a.rows:
        layer = row.layer
        if row.eval and layer.op == "linear" and layer.nhwc:
            missed += row.macs - row.macs // math.prod(layer.out_shape[:-1])
        elif row.eval and layer.op == "ln":
            missed += math.prod(layer.out_shape) - 2 * layer.derived.num_features
    assert missed > 0.6 * a.macs  # most of ConvNeXt's arithmetic is in its linears
    assert a.macs - missed == TORCHINFO[name]["total_mult_adds"]


def test_googlenet_macs_are_the_eval_path_without_the_aux_heads():
    with_aux = analyse(archdsl.build("architectures/googlenet.arch"))
    without = analyse(archdsl.build("architectures/googlenet.arch", params={"aux_logits": False}))
    assert with_aux.macs == without.macs and with_aux.activation_bytes == without.activation_bytes
    assert with_aux.params - without.params == 13_004_888 - 6_624_904
    assert with_aux.saved_bytes > without.saved_bytes  # the heads do run in training
    assert not any(r.eval for r in with_aux.rows if r.parts[0] in ("aux1", "aux2"))


def test_layer_by_layer_arithmetic():
    ir = build(net("conv3-8(bias=false); bn; relu; maxpool3/2; conv3-4(groups=2); avgpool(output=2); flatten; fc-10",
                   "4x9x9"))
    conv, bn, relu, maxpool, grouped, avgpool, flatten, fc = analyse(ir).rows[1:]
    assert conv.macs == 8 * 9 * 9 * (4 * 9)  # no bias
    assert bn.macs == 8 * 9 * 9  # eval-mode scale and shift
    assert relu.macs == 0 and relu.ops == 8 * 9 * 9 and relu.activation_bytes == 0  # in place
    assert maxpool.layer.out_shape == (8, 4, 4) and maxpool.ops == 8 * 4 * 4 * 8  # 8 comparisons a window
    assert grouped.macs == 4 * 4 * 4 * (8 // 2 * 9 + 1)  # half the input channels, plus the bias
    assert avgpool.ops == 4 * 4 * 4  # adaptive 4x4 -> 2x2: windows [0, 2) and [2, 4) per axis
    assert flatten.activation_bytes == 0  # a view
    assert fc.macs == (16 + 1) * 10


def test_block_rows_are_the_sums_of_their_layers():
    record = json.loads(_cli_json("architectures/resnet34.arch"))
    blocks = {b["name"]: b for b in record["blocks"]}
    layers = record["layers"]
    for name in ("layer1", "layer2.0", "layer3"):
        inside = [r for r in layers if r["name"].startswith(name + ".")]
        assert blocks[name]["params"] == sum(r["params"] for r in inside)
        assert blocks[name]["macs"] == sum(r["macs"] for r in inside)
    assert blocks["layer2.0"]["block"] == "basic(128, 2)"
    assert sum(b["params"] for b in record["blocks"] if "." not in b["name"]) + sum(
        r["params"] for r in layers if "." not in r["name"]) == 21_797_672


def test_vgg16_memory_under_each_convention():
    """The figures docs/analysis.md reconciles: CS231n's 24M, the exact count, torchinfo's 108.5 MB."""
    a = analyse(archdsl.build("architectures/vgg16.arch"))
    rows = a.rows
    # CS231n's table: the input and the output of every conv (ReLU in place), pool and fc layer.
    cs231n = sum(r.activation_bytes for r in rows if r.layer.op in ("input", "conv", "maxpool", "linear"))
    assert cs231n // FLOAT_BYTES == 15_237_608  # not 24M: the table's own rows add up to 15.2M (61 MB)
    # Nor does another per-layer convention give 24M: each ReLU's output a tensor of its own gives 28.8M.
    relus = sum(math.prod(layer.out_shape) for layer in a.ir.enabled_layers() if layer.op == "relu")
    assert cs231n // FLOAT_BYTES + relus == 28_793_320
    # Every tensor a forward pass creates: the same, plus the adaptive average pool's 512x7x7 output.
    assert a.activation_bytes == (15_237_608 + 25_088) * FLOAT_BYTES == 61_050_784
    # torchinfo: outputs of the layers with parameters only, doubled "for gradients".
    weighted = sum(r.activation_bytes for r in rows if r.params)
    assert 2 * weighted == TORCHINFO["vgg16"]["forward_backward_pass_bytes"] == 108_453_696


def test_training_estimate_adds_parameters_gradients_saved_tensors_and_optimizer_state():
    plain = analyse(archdsl.build("architectures/resnet18.arch"))
    adam = analyse(archdsl.build("architectures/resnet18.arch"), optimizer="adam")
    assert plain.grad_bytes == 11_689_512 * 4
    assert plain.param_bytes == 11_689_512 * 4 + plain.buffers * 4 + 4 * 20  # 20 int64 batch counters
    assert plain.train_bytes == plain.param_bytes + plain.grad_bytes + plain.saved_bytes
    assert adam.train_bytes - plain.train_bytes == 2 * 11_689_512 * 4


MEASURED = [("lenet5", None), ("alexnet_paper", None), ("vgg11_lrn", "3x32x32"), ("resnet50", "3x64x64"),
            ("googlenet", "3x64x64"), ("convnext_tiny", "3x64x64")]


def _saved_by_autograd(model, x) -> int:
    """Bytes of the distinct storages autograd keeps for backward, parameters and buffers excluded."""
    import torch

    state = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    kept: dict[int, int] = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in state:
            kept[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(kept.values())


@pytest.mark.parametrize(("name", "small"), MEASURED, ids=[m[0] for m in MEASURED])
def test_saved_for_backward_matches_autograd_exactly(name, small):
    """Tolerance: none. On CPU the estimate equals autograd's saved tensors to the byte."""
    import torch

    params = {"input": small} if small else {}
    path = ROOT / "architectures" / f"{name}.arch"
    estimate = analyse(archdsl.build(path, params=params), device="cpu")
    model = archdsl.load(path, **params).train()
    torch.manual_seed(0)
    assert _saved_by_autograd(model, torch.randn(1, *estimate.ir.input_shape)) == estimate.saved_bytes


def test_saved_for_backward_of_every_other_op():
    import torch

    source = net("conv3-8; tanh; residual(shortcut=pad)< conv3-16/2; bn; sigmoid >; lrn; maxpool(output=3); flatten; "
                 "dropout; fc-6; softmax", "3x12x12")
    estimate = analyse(archdsl.build("t.arch", source=source), device="cpu")
    model = archdsl.load("t.arch", source=source).train()
    assert _saved_by_autograd(model, torch.randn(1, 3, 12, 12)) == estimate.saved_bytes


def _cli_json(*argv: str) -> str:
    result = subprocess.run([sys.executable, "-m", "archdsl", "summary", *argv, "--json"], capture_output=True,
                            text=True, cwd=ROOT, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


# What `archdsl summary` must run without: torch (the issue: it must work where torch is
# absent), and everything else whose import would cost its start-up (bench/summary_speed.py): the
# Python API too, which `import archdsl` imported with its helpers before its functions were lazy.
HEAVY = ("torch", "numpy", "matplotlib", "graphviz", "networkx", "pydantic", "lark", "safetensors", "archdsl.api",
         "archdsl.origin", "html")


def test_summary_json_has_the_promised_fields_and_imports_nothing_heavy():
    code = ("import sys, io, contextlib, json\nfrom archdsl.cli.main import main\nout = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n    rc = main(['summary', 'architectures/vgg16.arch', '--json'])\n"
            f"print(json.dumps({{'rc': rc, 'record': json.loads(out.getvalue()), "
            f"'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                            timeout=120)
    report = json.loads(result.stdout)
    assert report["rc"] == 0 and report["heavy"] == []
    record = report["record"]
    assert record["params"] == 138_357_544 and record["macs"] == 15_483_821_032
    assert record["activation_bytes"] == 61_050_784
    assert record["train_bytes"] == 2 * 138_357_544 * 4 + record["train"]["saved_bytes"]
    assert record["flops"] == 2 * record["macs"]
    assert len(record["layers"]) == 1 + 31 + 2 + 7 and record["layers"][1]["name"] == "features.0"


def test_summary_table_folds_blocks_below_the_depth(capsys):
    assert main(["summary", "architectures/resnet18.arch", "--depth", "1"]) == 0
    text = capsys.readouterr().out
    assert "layer1   sequence ..." in text and "basic(64, 1)" not in text
    assert "1,816,558,056" in text and "depth 18" in text
    full = table(analyse(archdsl.build("architectures/resnet18.arch")))
    assert "basic(128, 2)" in full and "conv3-128/2" in full


def test_summary_of_a_bad_file_is_a_diagnostic_not_a_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.arch"
    bad.write_text(net("conv3-8; fc-10"))
    assert main(["summary", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.arch:3:10: error[shape-mismatch]: 'fc' gets a feature map" in err and "Traceback" not in err


def test_summary_takes_parameter_overrides(capsys):
    assert main(["summary", "architectures/resnet34.arch", "--json", "--set", "num_classes=10",
                 "--set", "input=3x64x64"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["params"] == 21_797_672 - 513 * 990 and record["input"] == [3, 64, 64]


def test_the_figures_in_docs_analysis_are_the_ones_archdsl_computes():
    text = (ROOT / "docs" / "analysis.md").read_text()
    for path in ARCHITECTURES:
        row = next(line for line in text.splitlines() if line.startswith(f"| {path.stem} | "))
        cells = [c.strip() for c in row.split("|")[1:-1]]
        a = analyse(archdsl.build(path))
        assert cells[1:4] == [f"{a.params:,}", f"{a.macs:,}", f"{TORCHINFO[path.stem]['total_mult_adds']:,}"], path.stem


def test_an_analysis_prints_its_totals_on_one_line():
    analysis = analyse(archdsl.build(ROOT / "architectures" / "vgg16.arch"))
    assert repr(analysis) == ("<Analysis of network VGG16: 138,357,544 parameters, 15,483,821,032 MACs, "
                              "61,050,784 activation bytes, 41 rows>")
