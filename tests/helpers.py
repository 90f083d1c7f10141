"""Shared test helpers: the repository's paths, the expected parameter counts, and small builders for
inline programs. Tests import them from here; conftest.py holds only fixtures."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

import archdsl
from archdsl.errors import ArchError

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURES = sorted((ROOT / "architectures").glob("*.arch"))
# The slowest checks per architecture (folding, torch.compile, export) run on CI over a few files
# that between them hold every kind of layer and statement; ARCHDSL_ALL_ARCHITECTURES=1 runs them
# over every bundled file.
ALL_ARCHITECTURES = os.environ.get("ARCHDSL_ALL_ARCHITECTURES") == "1"


def heavy(*names: str) -> list[Path]:
    """The bundled files `names` (or, with ARCHDSL_ALL_ARCHITECTURES=1, all of them)."""
    return ARCHITECTURES if ALL_ARCHITECTURES else [p for p in ARCHITECTURES if p.stem in names]


# Bigger sizes of a family whose smallest bundled member is built of the same constructs: the per-file
# checks that build and run a torch module (seconds each) leave them to ARCHDSL_ALL_ARCHITECTURES=1.
LARGER_SIZES = {"vgg13_bn", "vgg16_bn", "vgg19_bn", "squeezenet1_0", "resnext101_32x8d", "resnext101_64x4d",
                "wide_resnet50_2", "wide_resnet101_2", "convnext_small", "convnext_base", "convnext_large",
                "mnasnet0_75", "mnasnet1_0", "mnasnet1_3", "densenet161", "densenet169", "densenet201",
                # RegNet: the 400MF and 800MF sizes run in CI, the others with ARCHDSL_ALL_ARCHITECTURES
                "regnet_x_1_6gf", "regnet_x_3_2gf", "regnet_x_8gf", "regnet_x_16gf", "regnet_x_32gf",
                "regnet_y_1_6gf", "regnet_y_3_2gf", "regnet_y_8gf", "regnet_y_16gf", "regnet_y_32gf", "regnet_y_128gf",
                # EfficientNet: B0 runs in CI, B1-B7 (the same blocks, wider and deeper) with ARCHDSL_ALL_ARCHITECTURES
                "efficientnet_b1", "efficientnet_b2", "efficientnet_b3", "efficientnet_b4", "efficientnet_b5",
                "efficientnet_b6", "efficientnet_b7", "efficientnet_v2_m", "efficientnet_v2_l",
                # Segmentation: the ResNet-50 backbones run in CI, the ResNet-101 ones with ARCHDSL_ALL_ARCHITECTURES
                "fcn_resnet101", "deeplabv3_resnet101"}


def runnable() -> list[Path]:
    """The bundled files but LARGER_SIZES (or, with ARCHDSL_ALL_ARCHITECTURES=1, all of them)."""
    return ARCHITECTURES if ALL_ARCHITECTURES else [p for p in ARCHITECTURES if p.stem not in LARGER_SIZES]

# The parameter counts the bundled files must reproduce (papers and torchvision).
EXPECTED_PARAMS = {
    "unet": 31_030_658,  # the U-Net paper's Figure 1, counted by tests/test_unet.py's hand-written reference
    "lenet5": 61_706,
    "alexnet": 61_100_840,
    "vgg16": 138_357_544,
    "resnet34": 21_797_672,
    "googlenet": 13_004_888,
    "vgg11": 132_863_336,
    "vgg11_lrn": 132_863_336,
    "vgg13": 133_047_848,
    "vgg16_conv1": 133_638_952,
    "vgg19": 143_667_240,
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "alexnet_paper": 60_965_224,
    "vgg11_bn": 132_868_840,
    "vgg13_bn": 133_053_736,
    "vgg16_bn": 138_365_992,
    "vgg19_bn": 143_678_248,
    "squeezenet1_0": 1_248_424,
    "squeezenet1_1": 1_235_496,
    "resnext50_32x4d": 25_028_904,
    "resnext101_32x8d": 88_791_336,
    "resnext101_64x4d": 83_455_272,
    "wide_resnet50_2": 68_883_240,
    "wide_resnet101_2": 126_886_696,
    "convnext_tiny": 28_589_128,
    "convnext_small": 50_223_688,
    "convnext_base": 88_591_464,
    "convnext_large": 197_767_336,
    "mobilenet_v2": 3_504_872,
    "mnasnet0_5": 2_218_512,
    "mnasnet0_75": 3_170_208,
    "mnasnet1_0": 4_383_312,
    "mnasnet1_3": 6_282_256,
    "regnet_x_400mf": 5_495_976,
    "regnet_x_800mf": 7_259_656,
    "regnet_x_1_6gf": 9_190_136,
    "regnet_x_3_2gf": 15_296_552,
    "regnet_x_8gf": 39_572_648,
    "regnet_x_16gf": 54_278_536,
    "regnet_x_32gf": 107_811_560,
    "regnet_y_400mf": 4_344_144,
    "regnet_y_800mf": 6_432_512,
    "regnet_y_1_6gf": 11_202_430,
    "regnet_y_3_2gf": 19_436_338,
    "regnet_y_8gf": 39_381_472,
    "regnet_y_16gf": 83_590_140,
    "regnet_y_32gf": 145_046_770,
    "regnet_y_128gf": 644_812_894,
    "shufflenet_v2_x0_5": 1_366_792,
    "shufflenet_v2_x1_0": 2_278_604,
    "shufflenet_v2_x1_5": 3_503_624,
    "shufflenet_v2_x2_0": 7_393_996,
    "mobilenet_v3_large": 5_483_032,
    "mobilenet_v3_small": 2_542_856,
    "efficientnet_b0": 5_288_548,
    "efficientnet_b1": 7_794_184,
    "efficientnet_b2": 9_109_994,
    "efficientnet_b3": 12_233_232,
    "efficientnet_b4": 19_341_616,
    "efficientnet_b5": 30_389_784,
    "efficientnet_b6": 43_040_704,
    "efficientnet_b7": 66_347_960,
    "efficientnet_v2_s": 21_458_488,
    "efficientnet_v2_m": 54_139_356,
    "efficientnet_v2_l": 118_515_272,
    "densenet121": 7_978_856,
    "densenet161": 28_681_000,
    "densenet169": 14_149_480,
    "densenet201": 20_013_928,
    "inception_v3": 27_161_264,
    "fcn_resnet50": 32_957_013,
    "fcn_resnet101": 51_949_141,
    "deeplabv3_resnet50": 39_638_869,
    "deeplabv3_resnet101": 58_630_997,
    "lraspp_mobilenet_v3_large": 3_221_538,
    "deeplabv3_mobilenet_v3_large": 11_025_477,
}


def build(source: str, **params):
    return archdsl.build("test.arch", source=source, params=params)


def error_of(source: str, **params) -> ArchError:
    with pytest.raises(ArchError) as info:
        archdsl.compile_source("test.arch", source=source, params=params)
    return info.value


def net(body: str, input: str = "3x32x32", params: str = "") -> str:
    return f"network t({params}) {{\n    input {input};\n{body}\n}}\n"


# A spawned DataLoader worker receives the model pickled; prints the largest difference from the parent's
# outputs (tests/test_api.py, and tests/test_install.py from the installed wheel).
SPAWNED_WORKER = textwrap.dedent("""
    import torch
    import archdsl
    from torch.utils.data import DataLoader, Dataset


    class Scores(Dataset):
        def __init__(self, model):
            self.model = model

        def __len__(self):
            return 2

        def __getitem__(self, i):
            with torch.no_grad():
                return self.model(torch.full((1, 1, 32, 32), float(i)))[0]


    if __name__ == "__main__":
        model = archdsl.load("lenet5", params={"num_classes": 3}).eval()
        loader = DataLoader(Scores(model), batch_size=2, num_workers=1, multiprocessing_context="spawn")
        got = next(iter(loader))
        with torch.no_grad():
            expected = torch.cat([model(torch.full((1, 1, 32, 32), float(i))) for i in range(2)])
        print((got - expected).abs().max().item())
""")
