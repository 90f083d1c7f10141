"""Where the grammar and the bundled architectures live, in a checkout or an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(installed_name: str, checkout_name: str) -> Path:
    # An installed wheel carries grammars/ and architectures/ inside the package as _grammars
    # and _architectures (see pyproject.toml); a checkout has them beside the package.
    installed = _PACKAGE / installed_name
    return installed if installed.is_dir() else _PACKAGE.parent / checkout_name


def grammar_text() -> str:
    return (_data_dir("_grammars", "grammars") / "archdsl.lark").read_text(encoding="utf-8")


def architectures_dir() -> Path:
    return _data_dir("_architectures", "architectures")


def bundled_architectures() -> list[Path]:
    return sorted(architectures_dir().glob("*.arch"))
