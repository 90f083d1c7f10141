"""Where the grammar and the bundled architectures live, in a checkout or an installed wheel, and
how a name on the command line or in `use` finds its file."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

from archdsl.errors import ArchError, Diagnostic

_PACKAGE = Path(__file__).resolve().parent
BUNDLED_PREFIX = "bundled:"  # `bundled:resnet34`: the bundled network even where ./resnet34 exists
PATH_VARIABLE = "ARCHDSL_PATH"  # folders where `use` looks after the including file's own
STDIN = "-"  # the name of standard input wherever a network is read


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


def bundled_names() -> list[str]:
    return [path.stem for path in bundled_architectures()]


def bundled(name: str) -> Path | None:
    """The bundled network called `name` (`resnet34` or `resnet34.arch`), or None."""
    stem = name.removesuffix(".arch")
    if not stem or "/" in stem or "\\" in stem or stem.startswith("."):
        return None
    path = architectures_dir() / f"{stem}.arch"
    return path if path.is_file() else None


def network_path(name: str | Path) -> Path:
    """The file a command or `archdsl.load(name)` reads: a path that exists wins, then a bundled
    network's name; `bundled:NAME` asks for the bundled one whatever exists here."""
    text = str(name)
    if text.startswith(BUNDLED_PREFIX):
        found = bundled(text[len(BUNDLED_PREFIX):])
        if found is None:
            raise ArchError(Diagnostic(f"no bundled network {text[len(BUNDLED_PREFIX):]!r}", code="cannot-read",
                                       hint="`archdsl list` names the bundled networks"))
        return found
    path = Path(name)
    if path.exists():
        return path
    found = bundled(text)
    if found is None:
        # `architectures/resnet34.arch`, as a clone has it, from a folder without it: name the bundled copy.
        elsewhere = bundled(path.name)
        hint = (f"no such file here; the bundled network of that name is called {elsewhere.stem!r}, without a "
                "folder" if elsewhere else "it is neither a file nor a bundled network (`archdsl list` names those)")
        raise ArchError(Diagnostic(f"cannot read {text}: No such file or directory", code="cannot-read", hint=hint))
    return found


def use_candidates(base: Path, used: str) -> list[Path]:
    """Where `use "used";` in a file of folder `base` looks, in order: beside that file, in each folder
    of ARCHDSL_PATH, in the bundled library (so `use "blocks/resnet.arch";` works anywhere)."""
    if Path(used).is_absolute():
        return [Path(used)]
    folders = [Path(p) for p in os.environ.get(PATH_VARIABLE, "").split(os.pathsep) if p]
    return [base / used, *(folder / used for folder in folders), architectures_dir() / used]


@functools.cache
def standard_input() -> str:
    """Standard input as UTF-8 whatever the locale, read once: a command may build the network twice."""
    try:
        if sys.stdin is None:  # descriptor 0 closed at start-up (`<&-`)
            raise OSError(0, "standard input is closed")
        return sys.stdin.buffer.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ArchError(Diagnostic(f"cannot read <stdin>: {reason}", code="cannot-read")) from None
