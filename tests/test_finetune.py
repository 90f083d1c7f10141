"""Fine-tuning: `freeze` in the language and from Python (freeze.py, codegen), features (features.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from helpers import ROOT, error_of, net

import archdsl

RESNET34 = ROOT / "architectures" / "resnet34.arch"
LENET5 = ROOT / "architectures" / "lenet5.arch"

# A small network with batch norm in the part to freeze, a block, and a head.
SMALL = """
block unit(c) { conv: conv3-c(bias=false); bn: bn; relu }
network small(num_classes = 3) {
    input 3x16x16;
    freeze up to stage2;
    stem: conv3-8; stem_bn: bn; relu;
    stage1: unit(8);
    stage2: unit(16);
    pool: gap; flatten;
    head: fc-num_classes;
}
"""


def small(**kw):
    return archdsl.load("small.arch", source=SMALL, **kw)


def test_freeze_up_to_a_label_freezes_everything_through_it_and_nothing_after():
    model = small()
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["head.weight", "head.bias"]
    assert model.FROZEN == ("stem", "stem_bn", "stage1", "stage2")


def test_frozen_parts_keep_batch_norm_in_eval_mode_and_their_weights_through_training():
    torch.manual_seed(0)
    model = small().train()
    assert model.training and model.head.training
    assert not model.stem_bn.training and not model.stage1.bn.training
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    for _ in range(3):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(torch.randn(4, 3, 16, 16)), torch.tensor([0, 1, 2, 0])).backward()
        optimizer.step()
    after = model.state_dict()
    changed = sorted(k for k in after if not torch.equal(after[k], before[k]))
    assert changed == ["head.bias", "head.weight"]  # running statistics of the frozen bn included


def test_freeze_by_label_list_and_python_override():
    model = small(freeze="stage1, head")
    assert model.FROZEN == ("stage1", "head")
    assert not model.head.weight.requires_grad and model.stem.weight.requires_grad
    assert small(freeze=["stem"]).FROZEN == ("stem",)
    nothing = small(freeze=[])
    assert not hasattr(nothing, "FROZEN") and all(p.requires_grad for p in nothing.parameters())


def test_bundled_networks_freeze_from_python_with_summary_counts():
    source = archdsl.compile_source(RESNET34, freeze="up to layer3").source
    assert "13,627,368 trainable and 8,170,304 frozen parameters" in source
    assert 'FROZEN = ("conv1", "bn1", "layer1", "layer2", "layer3")' in source
    model = archdsl.load(RESNET34, freeze="up to layer3", input="3x64x64")
    assert sum(p.numel() for p in model.parameters() if not p.requires_grad) == 8_170_304


def test_frozen_module_is_ruff_clean_and_runs_without_archdsl(tmp_path):
    (tmp_path / "small.py").write_text(archdsl.compile_source("small.arch", source=SMALL).source)
    ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", str(tmp_path)],
                          check=False, capture_output=True, text=True)
    assert ruff.returncode == 0, ruff.stdout
    script = ("import sys; from small import Small; m = Small().train(); "
              "assert not m.stage1.training and m.head.training; assert 'archdsl' not in sys.modules; print('ok')")
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=False, capture_output=True, text=True)
    assert run.stdout.strip() == "ok", run.stderr


@pytest.mark.parametrize(("freeze", "line", "column", "message"), [
    ("freeze up to stage9;", 5, 18, "cannot freeze 'stage9': the network 'small' has no top-level layer"),
    ("freeze stem, relu;", 5, 18, "cannot freeze 'relu': it has no weights"),
])
def test_freeze_errors_point_at_the_name(freeze, line, column, message):
    error = error_of(SMALL.replace("freeze up to stage2;", freeze))
    d = error.first
    assert message in d.message and (d.span.line, d.span.column) == (line, column)


def test_freeze_syntax_errors_say_what_was_expected():
    d = error_of(SMALL.replace("freeze up to stage2;", "freeze up stage2;")).first
    assert (d.span.line, d.span.column, d.message) == (5, 15, "unexpected 'stage2'")
    assert "'to'" in d.hint
    with pytest.raises(archdsl.ArchError, match="cannot read freeze='up layer3'"):
        archdsl.load(RESNET34, freeze="up layer3")


def test_freeze_is_declared_only_after_the_input():
    d = error_of(net("conv3-4; freeze up to conv1;")).first
    assert d.message == "unexpected 'up'"


# -- features -----------------------------------------------------------------------------------
def test_features_are_the_named_outputs_in_the_order_asked():
    torch.manual_seed(0)
    extractor = archdsl.load(RESNET34, features=["layer4", "layer2", "layer3.0"], input="3x64x64").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out = extractor(x)
        m = extractor.network
        stem = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        l2 = m.layer2(m.layer1(stem))
        l30 = m.layer3[0](l2)
        l4 = m.layer4(m.layer3[1:](l30))
    assert list(out) == ["layer4", "layer2", "layer3.0"]
    assert torch.equal(out["layer2"], l2) and torch.equal(out["layer3.0"], l30) and torch.equal(out["layer4"], l4)
    assert extractor.shapes == {"layer4": (512, 2, 2), "layer2": (128, 8, 8), "layer3.0": (256, 4, 4)}


def test_features_are_copied_where_an_in_place_relu_would_overwrite_them():
    extractor = archdsl.load(ROOT / "architectures" / "alexnet.arch", features=["features.0"], input="3x64x64")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        conv = extractor(x)["features.0"]
        assert torch.equal(conv, extractor.network.features[0](x)) and (conv < 0).any()


def test_features_are_copied_where_a_residual_adds_into_them():
    # Both bodies end in a batch norm, the second inside a block use: the emitted add writes into their
    # output (`x += identity`), which would change the feature after its hook had kept it.
    source = """
    block conv_bn(c) { conv: conv3-c(bias=false); bn: bn }
    block unit(c) { residual< conv: conv3-c(bias=false); bn: bn > }
    block inner(c) { residual< body: conv_bn(c) > }
    network n { input 4x8x8; a: unit(4); b: inner(4); gap; flatten; fc-2 }
    """
    extractor = archdsl.load("n.arch", source=source, features=["a.bn", "b.body", "b"]).eval()
    assert "x += identity" in archdsl.compile_source("n.arch", source=source).source
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        out = extractor(x)
        m = extractor.network
        bn = m.a.bn(m.a.conv(x))
        body = m.b.body(bn + x)
    assert torch.equal(out["a.bn"], bn) and torch.equal(out["b.body"], body)
    assert torch.equal(out["b"], body + (bn + x))


def test_feature_names_are_checked():
    with pytest.raises(archdsl.ArchError, match="did you mean 'layer4'"):
        archdsl.load(RESNET34, features=["layer9"])
    with pytest.raises(archdsl.ArchError, match="one layer applied 4 times"):
        archdsl.load(LENET5, features=["tanh"])
    with pytest.raises(archdsl.ArchError, match="non-empty list"):
        archdsl.load(LENET5, features="fc1")


def test_features_combine_with_weights_and_freeze(tmp_path):
    from archdsl.pytorch.weights import save_weights

    save_weights(small(), tmp_path / "w.safetensors")
    extractor = small(weights=tmp_path / "w.safetensors", features=["stage2"])
    assert len(extractor.network.load_report.loaded) == len(extractor.network.state_dict())
    assert extractor(torch.randn(1, 3, 16, 16))["stage2"].shape == (1, 16, 16, 16)


def test_summary_shows_trainable_and_frozen_counts():
    run = subprocess.run([sys.executable, "-m", "archdsl", "summary", str(RESNET34), "--freeze", "up to layer3",
                          "--depth", "1"], check=False, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "parameters: 13,627,368 trainable, 8,170,304 frozen (conv1, bn1, layer1, layer2, layer3)" in run.stdout
