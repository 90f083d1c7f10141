"""A drawing written to a file in the format its suffix names (.dot, .svg, .png, .pdf, .html).

`.dot` needs nothing but Python; `.svg`, `.png`, `.pdf` and `.html` need Graphviz's `dot`
program. Where it is missing the `.dot` file is still written beside OUT, and the error says how
to install Graphviz.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from archdsl.drawing.limits import check_layout_size
from archdsl.drawing.render import Drawing
from archdsl.errors import ArchError, Diagnostic
from archdsl.outputs import write_file


def _html(d: Drawing) -> str:
    from archdsl.drawing.html import page  # the page's script and style are only needed here

    return page(d)


# Suffix -> how to turn a drawing into the file's contents.
FORMATS: dict[str, Callable[[Drawing], str | bytes]] = {
    ".dot": lambda d: d.graph.source,
    ".svg": lambda d: d.graph.pipe(format="svg", encoding="utf-8"),
    ".png": lambda d: d.graph.pipe(format="png"),
    ".pdf": lambda d: d.graph.pipe(format="pdf"),
    ".html": _html,
}
INSTALL_HINT = ("install Graphviz, which provides `dot`: `sudo apt-get install graphviz` (Debian, Ubuntu), "
                "`brew install graphviz` (macOS), `conda install graphviz`, or https://graphviz.org/download/; "
                "a .dot output needs nothing else")


def write(d: Drawing, out: str | Path, inputs: Iterable[str] = ()) -> Path:
    """Write the drawing to `out` in the format its suffix names; returns the path written."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ArchError(Diagnostic(f"cannot draw to '{out.name}': unknown format '{out.suffix or '(none)'}'",
                                   hint=f"name the output with one of {', '.join(FORMATS)}", code="unknown-format"))
    import graphviz  # for its exception; `d` was drawn with it, so it is loaded already

    if suffix != ".dot":
        check_layout_size(d)
    try:
        contents = FORMATS[suffix](d)
    except graphviz.ExecutableNotFound:
        dot_file = out.with_suffix(".dot")
        write_file(dot_file, d.graph.source, inputs=inputs)
        raise ArchError(Diagnostic(f"Graphviz's `dot` program was not found, so {out} was not drawn; the graph "
                                   f"was written to {dot_file} (render it later with "
                                   f"`dot -T{suffix[1:] if suffix != '.html' else 'svg'} {dot_file}`)",
                                   hint=INSTALL_HINT, code="no-graphviz")) from None
    write_file(out, contents, inputs=inputs)
    return out
