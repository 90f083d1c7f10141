"""Weight compatibility with torchvision: same state_dict keys and shapes, same outputs.

The key/shape lists are also checked against tests/reference/*.json (made from torchvision by
tests/make_reference.py), so that part holds where torchvision is not installed.
"""

from __future__ import annotations

import json

import pytest
import torch
from helpers import ROOT

import archdsl

MODELS = ["alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "resnet18", "resnet34", "resnet50", "resnet101",
          "resnet152", "googlenet"]


def shapes(model) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", MODELS)
def test_state_dict_matches_committed_reference(name):
    reference = json.loads((ROOT / "tests" / "reference" / f"{name}.json").read_text())
    model = archdsl.load(ROOT / "architectures" / f"{name}.arch")
    # Every key with its shape, as a dict: the order differs where GoogLeNet's aux heads are declared
    # where they branch off (torchvision registers them last), and load_state_dict goes by key.
    assert shapes(model) == reference["state_dict"]
    assert sum(p.numel() for p in model.parameters()) == reference["parameters"]


def _torchvision_model(name: str):
    torchvision = pytest.importorskip("torchvision")
    kwargs = {"aux_logits": True, "init_weights": True, "transform_input": False} if name == "googlenet" else {}
    torch.manual_seed(0)
    return getattr(torchvision.models, name)(weights=None, **kwargs)


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
