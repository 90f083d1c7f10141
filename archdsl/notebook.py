"""The IPython extension: `%load_ext archdsl`, then a `%%arch` cell compiles the network written in it.

    %%arch -n model num_classes=10 input=3x32x32
    network Small(num_classes = 1000) { input 3x224x224; conv3-16; relu; gap; flatten; fc-num_classes }

shows the summary table and the drawing inline (HTML and SVG) and binds the nn.Module as `model` in
the notebook. Errors print as the command line prints them (file, line, column, hint), without a
traceback. `use "..."` paths are relative to the notebook's working folder.
"""

from __future__ import annotations

import argparse
import html
import shlex
import sys
from typing import Any

from archdsl.errors import ArchError, Diagnostic

USAGE = "%%arch [-n NAME] [--depth N] [--no-drawing] [PARAM=VALUE ...]"


def load_ipython_extension(ipython) -> None:
    ipython.register_magic_function(arch_cell, magic_kind="cell", magic_name="arch")


class ArchCell:
    """What a `%%arch` cell shows: the network's summary table and, where Graphviz is there, its drawing."""

    def __init__(self, name: str, table: str, svg: str | None, note: str | None = None):
        self.name, self.table, self.svg, self.note = name, table, svg, note

    def __repr__(self) -> str:
        return self.table + (f"\n{self.note}" if self.note else "")

    def _repr_html_(self) -> str:
        parts = [f"<pre style='font-size: 12px'>{html.escape(self.table)}</pre>"]
        if self.svg:
            parts.append(f"<div style='max-height: 800px; overflow: auto'>{self.svg}</div>")
        if self.note:
            parts.append(f"<p><i>{html.escape(self.note)}</i></p>")
        return "\n".join(parts)


def _arguments(line: str) -> tuple[argparse.Namespace, dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="%%arch", add_help=False, exit_on_error=False)
    parser.add_argument("-n", "--name")
    parser.add_argument("--depth", type=int)
    parser.add_argument("--no-drawing", action="store_true")
    try:
        options, rest = parser.parse_known_args(shlex.split(line))
    except (argparse.ArgumentError, ValueError) as exc:
        raise ArchError(Diagnostic(f"%%arch: {exc}", code="bad-parameter-value", hint=f"usage: {USAGE}")) from None
    params: dict[str, Any] = {}
    for item in rest:
        name, equals, value = item.partition("=")
        if not equals or not name.isidentifier():
            raise ArchError(Diagnostic(f"%%arch: expected PARAM=VALUE, got {item!r}", code="bad-parameter-value",
                                       hint=f"usage: {USAGE}"))
        params[name] = _value(value)
    return options, params


def _value(text: str) -> Any:
    """`10` -> 10, `0.5` -> 0.5, `true` -> True; anything else (`3x32x32`, `c * 2`) as the text."""
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def arch_cell(line: str, cell: str) -> ArchCell | None:
    """The `%%arch` cell magic (see the module's doc)."""
    from archdsl.analysis.costs import analyse
    from archdsl.analysis.summary import table
    from archdsl.pipeline import build

    try:
        options, params = _arguments(line)
        ir = build(None, source=cell, params=params)
        model = None
        if options.name:
            from archdsl.pytorch.runtime import load

            model = load(source=cell, **params)
    except ArchError as exc:
        print(exc.render(), file=sys.stderr)
        return None
    svg, note = None, None
    if not options.no_drawing:
        svg, note = _svg(ir, options.depth)
    if model is not None:
        from IPython import get_ipython

        get_ipython().user_ns[options.name] = model
        note = (note + " " if note else "") + f"The module is bound to `{options.name}`."
    shown = table(analyse(ir), options.depth)
    for warning in ir.warnings:
        print(warning.render(ir.program.sources), file=sys.stderr)
    return ArchCell(ir.network.name, shown, svg, note)


def _svg(ir, depth: int | None) -> tuple[str | None, str | None]:
    from archdsl.drawing.render import drawing

    try:
        import graphviz

        return drawing(ir, depth).graph.pipe(format="svg").decode("utf-8"), None
    except ArchError as exc:
        return None, exc.first.message
    except (graphviz.ExecutableNotFound, OSError):
        return None, "No drawing: Graphviz's `dot` is not installed (apt-get install graphviz, brew install graphviz)."
