"""Regenerate tests/reference/torchinfo.json: `python tests/make_torchinfo_reference.py [NAME ...]`
(with names: only those entries, the others kept).

torchinfo 1.8.0's figures for every bundled architecture at batch 1 and the file's default
input (eval mode, so GoogLeNet's auxiliary heads are not run): its `total_mult_adds`, trainable
parameters and "forward/backward pass size". Where torchvision has the model, torchinfo runs on
torchvision's own module (the independent reference); otherwise on the module archdsl emits.
tests/test_analysis.py compares archdsl's figures, computed without torch, against this file.
"""

import json
import sys
from pathlib import Path

import torch
import torchinfo
import torchvision

import archdsl

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).parent / "reference" / "torchinfo.json"
TORCHVISION = {"alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "resnet18", "resnet34", "resnet50", "resnet101",
               "resnet152", "googlenet", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn", "squeezenet1_0",
               "squeezenet1_1", "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2",
               "wide_resnet101_2", "convnext_tiny", "convnext_small", "convnext_base", "convnext_large",
               "mobilenet_v2", "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3",
               "densenet121", "densenet161", "densenet169", "densenet201", "inception_v3"}


def model_for(path: Path) -> tuple[torch.nn.Module, str]:
    if path.stem in TORCHVISION:
        kwargs = {"aux_logits": True, "init_weights": False} if path.stem in ("googlenet", "inception_v3") else {}
        return getattr(torchvision.models, path.stem)(weights=None, **kwargs), f"torchvision.models.{path.stem}"
    return archdsl.load(path), "archdsl.load"


if __name__ == "__main__":
    record = {"torchinfo": torchinfo.__version__, "torchvision": torchvision.__version__, "batch": 1, "models": {}}
    if sys.argv[1:]:
        record = json.loads(OUT.read_text())
    for path in sorted((ROOT / "architectures").glob("*.arch")):
        if sys.argv[1:] and path.stem not in sys.argv[1:]:
            continue
        model, source = model_for(path)
        c, h, w = archdsl.build(path).input_shape
        stats = torchinfo.summary(model.eval(), input_size=(1, c, h, w), mode="eval", verbose=0)
        record["models"][path.stem] = {
            "model": source,
            "input": [1, c, h, w],
            "total_mult_adds": stats.total_mult_adds,
            "trainable_params": stats.trainable_params,
            "forward_backward_pass_bytes": stats.total_output_bytes,
            "params_bytes": stats.total_param_bytes,
            "input_bytes": stats.total_input,
        }
        print(path.stem, source, f"{stats.total_mult_adds:,}", f"{stats.total_output_bytes:,}")
    OUT.write_text(json.dumps(record, indent=1) + "\n")
