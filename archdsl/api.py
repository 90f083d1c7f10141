"""What the Python functions share: a network named by path, bundled name, text or model (`network_ir`),
network parameters passed one way everywhere, and `archdsl.summary()`.

Network parameters: `params={"num_classes": 10}` in every function, whatever the names (a parameter
called `weights`, `device` or `depth` included); names that are none of the function's own keywords
may also be given directly, `archdsl.summary("resnet34", num_classes=10)`. A name given both ways is a
TypeError.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archdsl.errors import ArchError, Diagnostic
from archdsl.ir.nodes import IR
from archdsl.origin import origin_of
from archdsl.pipeline import build

if TYPE_CHECKING:
    import graphviz

    from archdsl.analysis.costs import Analysis
    from archdsl.schemas import Summary


def network_parameters(params: Mapping[str, Any] | None, keywords: Mapping[str, Any], function: str) -> dict[str, Any]:
    """`params={...}` and the network parameters passed as keywords, merged; a name given both ways is
    an error rather than a silent choice."""
    if params is not None and not isinstance(params, Mapping):
        raise TypeError(f"{function}(params=...) takes a dict of network parameters, got {type(params).__name__}")
    both = sorted(set(params or {}) & set(keywords))
    if both:
        raise TypeError(f"{function}() got network parameter {', '.join(map(repr, both))} both in params= and as "
                        "a keyword; pass it once")
    return {**(params or {}), **keywords}


def network_ir(target: object, params: Mapping[str, Any], function: str) -> IR:
    """The checked IR of `target`: an .arch path, a bundled network's name, .arch text, or a model that
    archdsl.load made (which knows its source and parameters; `params` override them)."""
    if isinstance(target, Path):
        return build(target, params=dict(params))
    if isinstance(target, str):
        if "\n" not in target and "{" not in target:
            return build(target, params=dict(params))
        return build(None, source=target, params=dict(params))
    origin = origin_of(target)
    if origin is not None:
        return build(origin.file, source=origin.source, params={**origin.params, **params})
    what = type(target).__name__
    hint = (" archdsl knows only the networks it compiled: pass the model that archdsl.load returned, or "
            "the .arch file, bundled name or text it came from") if hasattr(target, "state_dict") else ""
    raise TypeError(f"{function}() takes an .arch path, a bundled network's name, .arch text or a model from "
                    f"archdsl.load, not {what}.{hint}")


def summary(network: object, params: Mapping[str, Any] | None = None, *, depth: int | None = None, batch: int = 1,
            optimizer: str = "none", device: str = "cuda", dtype: str = "float32", **network_params: Any) -> Summary:
    """Parameters, MACs and memory of one forward pass, per layer and per block, from the description
    alone (torch is not imported). `network`: an .arch path, a bundled name ("resnet34"), .arch text, or
    a model from archdsl.load. Returns an `archdsl.schemas.Summary` (pydantic): its fields are
    `archdsl summary --json`'s; it prints as the command's table (`depth` folds deeper blocks) and shows
    as an HTML table in a notebook. `batch`: the figures of a batch of that many samples. `dtype`: "float32",
    "float16", "bfloat16" or "mixed" (torch.autocast). `optimizer` and `device`: see `archdsl summary --help`.
    """
    from archdsl.analysis.batching import at_batch
    from archdsl.analysis.costs import analyse
    from archdsl.analysis.summary import as_json, table
    from archdsl.schemas import Summary

    ir = network_ir(network, network_parameters(params, network_params, "summary"), "summary")
    analysis = at_batch(analyse(ir, optimizer=optimizer, device=device, dtype=dtype), batch)
    named = str(network) if isinstance(network, Path) or (isinstance(network, str) and ir.file != "<string>") \
        else ir.file  # as `archdsl summary NAME` names it: a bundled name, not where it is installed
    result = Summary.model_validate({**as_json(analysis), "file": named})
    result._text = table(analysis, depth)
    result._html = _html(analysis, depth)
    return result


def _html(analysis: Analysis, depth: int | None) -> str:
    """The text table's rows as an HTML table (archdsl.analysis.summary.rows), the totals under it."""
    from archdsl.analysis.summary import HEADER, NUMBERS, TRAIN_ONLY, rows, totals

    def cell(i: int, text: str, style: str = "") -> str:
        return f"<td style='text-align:{'right' if i in NUMBERS else 'left'}{style}'>{html.escape(text)}</td>"

    found = rows(analysis, depth)
    body = ["<tr>" + "".join(cell(i, text, f";padding-left:{(level - 1) * 1.2:.1f}em" if i == 0 else "")
                             for i, text in enumerate(cells)) + "</tr>" for level, cells in found]
    head = "".join(f"<th style='text-align:{'right' if i in NUMBERS else 'left'}'>{h}</th>"
                   for i, h in enumerate(HEADER))
    train_only = any(cells[1].endswith(" [train]") for _, cells in found)
    foot = "<br>".join(html.escape(line) for line in totals(analysis) + ([TRAIN_ONLY] if train_only else []))
    return (f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f"<p style='font-family:monospace'>{foot}</p>")


def draw(network: object, depth: int | None = None, *, rankdir: str = "TB", params: Mapping[str, Any] | None = None,
         fold_repeats: bool = False, **network_params: Any) -> graphviz.Digraph:
    """The network's diagram as a `graphviz.Digraph`, which renders inline in Jupyter.

    `network`: an .arch path, a bundled name ("resnet34"), .arch text, or a model from archdsl.load.
    `depth` collapses everything below that nesting depth into one node per block; `fold_repeats` draws
    a run of identical `x N` repetitions once, marked ×N. Without Graphviz's `dot` program the graph
    is still made (its DOT text is `.source`); a notebook then shows how to install Graphviz instead
    of a traceback.
    """
    from archdsl.drawing.render import drawing

    ir = network_ir(network, network_parameters(params, network_params, "draw"), "draw")
    graph = drawing(ir, depth, rankdir=rankdir, fold_repeats=fold_repeats).graph
    graph._repr_mimebundle_ = functools.partial(_mimebundle, graph)
    for method in ("render", "pipe", "view"):
        setattr(graph, method, functools.partial(_needs_dot, getattr(graph, method)))
    return graph


def _needs_dot(method: Any, *args: Any, **kwargs: Any) -> Any:
    """A graphviz method that runs `dot`; without it, archdsl's error and hint rather than graphviz's."""
    import graphviz

    from archdsl.drawing.files import INSTALL_HINT

    try:
        return method(*args, **kwargs)
    except graphviz.ExecutableNotFound:
        raise ArchError(Diagnostic(f"Graphviz's `dot` program was not found, so {method.__name__}() cannot draw "
                                   "the graph; its DOT text is the graph's .source", hint=INSTALL_HINT,
                                   code="no-graphviz")) from None


def _mimebundle(graph: graphviz.Digraph, include=None, exclude=None, **kwargs) -> dict[str, str]:
    """graphviz's notebook display, with archdsl's hint where `dot` is missing (the display pipes through
    `dot`, whose absence would be a traceback in the notebook)."""
    from archdsl.drawing.files import INSTALL_HINT

    try:
        return type(graph)._repr_mimebundle_(graph, include, exclude, **kwargs)
    except ArchError:  # no-graphviz, from the graph's pipe() (_needs_dot)
        text = (f"Graphviz's `dot` program was not found, so the drawing cannot be shown: {INSTALL_HINT}. "
                "The graph's DOT text is its .source.")
        return {"text/plain": text, "text/html": f"<p><b>archdsl:</b> {html.escape(text)}</p>"}
