"""Regenerate tests/reference/torchinfo.json: `python tests/make_torchinfo_reference.py [NAME ...]`
(the named architectures only, the others kept as recorded; all without names).

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


def model_for(path: Path) -> tuple[torch.nn.Module, str]:
    # A file named after a torchvision builder copies that model (the bundled files' rule).
    if path.stem in torchvision.models.list_models(module=torchvision.models):
        kwargs = {"aux_logits": True, "init_weights": False} if path.stem in ("googlenet", "inception_v3") else {}
        return getattr(torchvision.models, path.stem)(weights=None, **kwargs), f"torchvision.models.{path.stem}"
    if path.stem in torchvision.models.list_models(module=torchvision.models.segmentation):
        # The .arch file's defaults: no aux head; weights_backbone=None, or torchvision downloads the backbone's.
        aux = {} if path.stem.startswith("lraspp") else {"aux_loss": False}  # LR-ASPP has no aux head
        model = getattr(torchvision.models.segmentation, path.stem)(weights=None, weights_backbone=None, **aux)
        return model, f"torchvision.models.segmentation.{path.stem}"
    return archdsl.load(path), "archdsl.load"


if __name__ == "__main__":
    names = set(sys.argv[1:])
    record = {"torchinfo": torchinfo.__version__, "torchvision": torchvision.__version__, "batch": 1, "models": {}}
    if names:
        record["models"] = json.loads(OUT.read_text())["models"]
    for path in sorted((ROOT / "architectures").glob("*.arch")):
        if names and path.stem not in names:
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
    record["models"] = dict(sorted(record["models"].items()))
    OUT.write_text(json.dumps(record, indent=1) + "\n")
