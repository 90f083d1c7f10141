"""Training: a step of the compiled model computes torchvision's gradients (the emitted code may add
in place, as torchvision does; autograd must agree)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import ALL_ARCHITECTURES, ROOT

import archdsl

torchvision = pytest.importorskip("torchvision")


def loss(result) -> torch.Tensor:
    outs = [result] if isinstance(result, torch.Tensor) else [t for t in result if t is not None]
    return sum(F.cross_entropy(out, torch.arange(out.shape[0])) for out in outs)


# CI: basic blocks (the in-place add) and MobileNetV3's add into a block's output; ARCHDSL_ALL_ARCHITECTURES=1:
# bottlenecks, GoogLeNet's aux heads, and EfficientNet's add after stochastic depth too
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small",
                                  *(["resnet50", "googlenet", "efficientnet_b0"] if ALL_ARCHITECTURES else [])])
def test_gradients_equal_torchvision(name):
    kwargs = {"aux_logits": True, "init_weights": True, "transform_input": False} if name == "googlenet" else {}
    torch.manual_seed(0)
    reference = getattr(torchvision.models, name)(weights=None, num_classes=10, **kwargs).train()
    ours = archdsl.load(ROOT / "architectures" / f"{name}.arch", num_classes=10, input="3x64x64").train()
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    torch.manual_seed(1)  # the same dropout masks
    loss(reference(x)).backward()
    torch.manual_seed(1)
    loss(ours(x)).backward()
    grads = dict(reference.named_parameters())
    for key, p in ours.named_parameters():
        assert torch.allclose(p.grad, grads[key].grad, atol=1e-4, rtol=1e-3), key
