"""Shared helpers: the repository's paths and small builders for inline programs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import archdsl
from archdsl.errors import ArchError

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURES = sorted((ROOT / "architectures").glob("*.arch"))

# The parameter counts the bundled files must reproduce (papers and torchvision).
EXPECTED_PARAMS = {
    "lenet5": 61_706,
    "alexnet": 61_100_840,
    "vgg16": 138_357_544,
    "resnet34": 21_797_672,
    "googlenet": 13_004_888,
}


def build(source: str, **params):
    return archdsl.build("test.arch", source=source, params=params)


def error_of(source: str, **params) -> ArchError:
    with pytest.raises(ArchError) as info:
        archdsl.compile_source("test.arch", source=source, params=params)
    return info.value


def net(body: str, input: str = "3x32x32", params: str = "") -> str:
    return f"network t({params}) {{\n    input {input};\n{body}\n}}\n"


@pytest.fixture
def python() -> str:
    return sys.executable
