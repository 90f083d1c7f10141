"""Regenerate tests/reference/*.json from torchvision: `python tests/make_reference.py [NAME ...]` (all without names).

The files record each torchvision model's state_dict keys and shapes and its parameter count,
so the compatibility tests hold where torchvision is not installed.
"""

import json
import sys
from pathlib import Path

import torchvision

OUT = Path(__file__).parent / "reference"
MODELS = {
    "alexnet": {},
    "vgg11": {},
    "vgg13": {},
    "vgg16": {},
    "vgg19": {},
    "resnet18": {},
    "resnet34": {},
    "resnet50": {},
    "resnet101": {},
    "resnet152": {},
    "googlenet": {"aux_logits": True, "init_weights": False},
    "vgg11_bn": {},
    "vgg13_bn": {},
    "vgg16_bn": {},
    "vgg19_bn": {},
    "squeezenet1_0": {},
    "squeezenet1_1": {},
    "resnext50_32x4d": {},
    "resnext101_32x8d": {},
    "resnext101_64x4d": {},
    "wide_resnet50_2": {},
    "wide_resnet101_2": {},
    "convnext_tiny": {},
    "convnext_small": {},
    "convnext_base": {},
    "convnext_large": {},
    "mobilenet_v2": {},
    "mnasnet0_5": {},
    "mnasnet0_75": {},
    "mnasnet1_0": {},
    "mnasnet1_3": {},
    "densenet121": {},
    "densenet161": {},
    "densenet169": {},
    "densenet201": {},
    "inception_v3": {"aux_logits": True, "init_weights": False},
}
# Segmentation models, as their .arch files' defaults (aux_loss=False); weights_backbone=None: no download.
SEGMENTATION = {name: {"weights_backbone": None, "aux_loss": False}
                for name in ("fcn_resnet50", "fcn_resnet101", "deeplabv3_resnet50", "deeplabv3_resnet101",
                             "deeplabv3_mobilenet_v3_large")}
SEGMENTATION["lraspp_mobilenet_v3_large"] = {"weights_backbone": None}  # no aux head

if __name__ == "__main__":
    for name, kwargs in {**MODELS, **SEGMENTATION}.items():
        if sys.argv[1:] and name not in sys.argv[1:]:
            continue
        module = torchvision.models.segmentation if name in SEGMENTATION else torchvision.models
        model = getattr(module, name)(weights=None, **kwargs)
        record = {
            "model": f"{module.__name__}.{name}",
            "torchvision": torchvision.__version__,
            "parameters": sum(p.numel() for p in model.parameters()),
            "state_dict": {k: list(v.shape) for k, v in model.state_dict().items()},
        }
        (OUT / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
        print(name, record["parameters"])
