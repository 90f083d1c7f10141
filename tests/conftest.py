"""pytest fixtures shared by the tests (helpers that are not fixtures live in tests/helpers.py)."""

from __future__ import annotations

import sys

import pytest


@pytest.fixture
def python() -> str:
    return sys.executable
