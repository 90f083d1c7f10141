"""Rewrite the table of layer words in docs/language.md from the layer registry (archdsl/layers/).

    .venv/bin/python tools/layer_table.py

Run it after adding or changing a layer word; tests/test_docs.py fails until you do.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archdsl.layers.docs import replace_table  # after the path: this checkout's archdsl

DOCS = ROOT / "docs" / "language.md"


def main() -> None:
    text = DOCS.read_text()
    new = replace_table(text)
    if new != text:
        DOCS.write_text(new)
    print(f"{DOCS.relative_to(ROOT)}: {'rewritten' if new != text else 'already up to date'}")


if __name__ == "__main__":
    main()
