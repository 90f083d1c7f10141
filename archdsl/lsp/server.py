"""`archdsl lsp`: the language server (pygls), speaking the protocol over standard input and output.

Every answer comes from a `Document` (document.py): the compiler's own diagnostics, shapes and costs.
This module only translates: positions (the compiler's 1-based character columns to the protocol's
0-based UTF-16 units), diagnostics, and the requests editors send.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

from lsprotocol import types as T
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path

from archdsl import __version__
from archdsl.errors import ArchError, Diagnostic, Span
from archdsl.frontend import ast as A
from archdsl.frontend.keywords import keywords
from archdsl.lsp.document import Definition, Document, Figures, block_doc, key, params_text, shape_text, walk

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DID_YOU_MEAN = re.compile(r"did you mean '([^']+)'\?")
_SEVERITY = {"error": T.DiagnosticSeverity.Error, "warning": T.DiagnosticSeverity.Warning}


class ArchServer(LanguageServer):
    """The server and what it keeps between requests: the analysed version of every open file."""

    def __init__(self) -> None:
        super().__init__("archdsl", __version__)
        self.documents: dict[str, Document] = {}  # uri -> the latest analysis of its text
        self.inlay_hints = True  # initializationOptions: {"inlayHints": false} turns them off

    def analyse(self, uri: str) -> Document:
        text_document = self.workspace.get_text_document(uri)
        document = Document(path_of(uri), text_document.source, previous=self.documents.get(uri))
        self.documents[uri] = document
        self.text_document_publish_diagnostics(T.PublishDiagnosticsParams(
            uri=uri, version=text_document.version,
            diagnostics=[self.diagnostic(uri, document, d) for d in document.diagnostics]))
        return document

    def document(self, uri: str) -> Document:
        return self.documents.get(uri) or self.analyse(uri)

    # -- positions ------------------------------------------------------------------------------
    def range_of(self, uri: str, span: Span | None) -> T.Range:
        """A span as a protocol range in the file `uri` (UTF-16 units, as clients count by default)."""
        if span is None:
            return T.Range(T.Position(0, 0), T.Position(0, 0))
        end_line = span.end_line or span.line
        end_column = span.end_column or span.column + 1
        server = T.Range(T.Position(span.line - 1, span.column - 1), T.Position(end_line - 1, end_column - 1))
        text_document = self.workspace.get_text_document(uri)
        try:
            return text_document.position_codec.range_to_client_units(text_document.lines, server)
        except (IndexError, OSError):
            return server

    def position_of(self, uri: str, position: T.Position) -> tuple[int, int]:
        """A protocol position as the compiler's (line, column), both from 1."""
        text_document = self.workspace.get_text_document(uri)
        server = text_document.position_codec.position_from_client_units(text_document.lines, position)
        return server.line + 1, server.character + 1

    def location(self, span: Span) -> T.Location:
        uri = from_fs_path(str(Path(span.file).resolve())) or span.file
        return T.Location(uri=uri, range=self.range_of(uri, span))

    # -- diagnostics ----------------------------------------------------------------------------
    def diagnostic(self, uri: str, document: Document, d: Diagnostic) -> T.Diagnostic:
        related = [T.DiagnosticRelatedInformation(self.location(n.span), n.message) for n in d.notes if n.span]
        span = d.span
        if span is not None and not same_file(span.file, document.path):
            # A problem in a `use`d file: shown at the `use` that brings it in, pointing to it.
            related.insert(0, T.DiagnosticRelatedInformation(self.location(span), d.message))
            span = _use_bringing(document, span.file)
        message = d.message + (f"\nhint: {d.hint}" if d.hint else "")
        return T.Diagnostic(range=self.range_of(uri, span), message=message, severity=_SEVERITY.get(d.severity),
                            code=d.code, source="archdsl", related_information=related or None,
                            data={"hint": d.hint, "code": d.code})


server = ArchServer()


def path_of(uri: str) -> str:
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


def same_file(a: str, b: str) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def _use_bringing(document: Document, file: str) -> Span | None:
    if document.module is None:
        return None
    for use in document.module.uses:
        if Path(document.path).resolve().parent.joinpath(use.path).resolve() == Path(file).resolve():
            return use.span
    return document.module.uses[0].span if document.module.uses else None


# -- the document's life --------------------------------------------------------------------------
@server.feature(T.INITIALIZE)
def initialize(ls: ArchServer, params: T.InitializeParams) -> None:
    options = params.initialization_options or {}
    if isinstance(options, dict) and options.get("inlayHints") is False:
        ls.inlay_hints = False


@server.feature(T.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: ArchServer, params: T.DidOpenTextDocumentParams) -> None:
    ls.analyse(params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: ArchServer, params: T.DidChangeTextDocumentParams) -> None:
    ls.analyse(params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: ArchServer, params: T.DidSaveTextDocumentParams) -> None:
    # A saved block library changes what the files that `use` it build: analyse every open file again.
    for uri in list(ls.documents):
        ls.analyse(uri)


@server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: ArchServer, params: T.DidCloseTextDocumentParams) -> None:
    ls.documents.pop(params.text_document.uri, None)
    ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[]))


# -- hover and inlay hints ------------------------------------------------------------------------
def word_at(line_text: str, column: int) -> tuple[str, int, bool] | None:
    """The name at a 1-based column: (name, its first column, whether `@` stands before it)."""
    for match in _WORD.finditer(line_text):
        if match.start() < column <= match.end() + 1 and match.start() + 1 <= column <= match.end() + 1:
            if column == match.end() + 1 and (column - 1 < len(line_text) and _WORD.match(line_text[column - 1])):
                continue
            start = match.start()
            return match.group(), start + 1, start > 0 and line_text[start - 1] == "@"
    return None


def _line(document: Document, line: int) -> str:
    lines = document.text.split("\n")
    return lines[line - 1] if 0 < line <= len(lines) else ""


def figures_markdown(figures: Figures) -> str:
    if figures.uses == 1:
        rows = [f"**output** `{shape_text(figures.out_shapes[0])}` (input `{shape_text(figures.in_shapes[0])}`)",
                f"**parameters** {figures.params[0]:,} · **MACs** {figures.macs[0]:,}"]
        return "\n\n".join(rows)
    lines = [f"{figures.uses} uses:", "", "| input | output | parameters | MACs |", "|---|---|---:|---:|"]
    lines += [f"| {shape_text(i)} | {shape_text(o)} | {p:,} | {m:,} |"
              for i, o, p, m in zip(figures.in_shapes, figures.out_shapes, figures.params, figures.macs)]
    return "\n".join(lines)


def word_markdown(word: str) -> str | None:
    """A layer word's entry in the registry, as the docs' table shows it."""
    from archdsl.layers import lookup

    found = lookup(word)
    if found is None:
        return None
    spec, kernel = found
    head = f"**{spec.word}**" + (f" (kernel {kernel[0]}x{kernel[1]})" if kernel else "") + f" — `{spec.torch}`"
    lines = [head, "", spec.doc]
    if spec.options:
        lines += ["", "| option | default | |", "|---|---|---|"]
        lines += [f"| `{o.name}` | {'required' if o.name in spec.required else o.default} | {o.doc} |"
                  for o in spec.options]
    if spec.example:
        lines += ["", f"Example: `{spec.example}`"]
    return "\n".join(lines)


def parameter_markdown(document: Document, name: str, line: int) -> str | None:
    """A block parameter whose default is a layer word (`act = relu`), hovered inside its block: the statement
    `act` is whichever word a use passes, so the word's own entry would mislead."""
    from archdsl.layers import argument_words

    for block in document.module.blocks if document.module is not None else []:
        if not block.span.line <= line <= (block.span.end_line or block.span.line):
            continue
        for p in block.params:
            if p.name == name and isinstance(p.default, A.Name) and p.default.id in argument_words():
                return (f"**{name}**: a parameter of block `{block.name}` holding a layer word (default "
                        f"`{p.default.id}`); the statement `{name}` is the word each use passes, as "
                        f"`{block.name}(..., {name}=hardswish)`. The words it takes: {', '.join(argument_words())}.")
    return None


def block_markdown(document: Document, name: str) -> str | None:
    block = document.known_blocks().get(name)
    if block is None:
        return None
    text = document.sources.get(block.span.file)
    if text is None:
        try:
            text = Path(block.span.file).read_text(encoding="utf-8")
        except OSError:
            text = ""
    doc = block_doc(text, block.span)
    signature = f"```archdsl\nblock {block.name}({params_text(text, block.params)})\n```"
    where = f"_defined in {Path(block.span.file).name}:{block.span.line}_"
    return signature + (f"\n\n{doc}" if doc else "") + f"\n\n{where}"


@server.feature(T.TEXT_DOCUMENT_HOVER)
def hover(ls: ArchServer, params: T.HoverParams) -> T.Hover | None:
    uri = params.text_document.uri
    document = ls.document(uri)
    line, column = ls.position_of(uri, params.position)
    parts: list[str] = []
    found = word_at(_line(document, line), column)
    if found is not None:
        word, _, _ = found
        described = parameter_markdown(document, word, line) or block_markdown(document, word) or \
            word_markdown(word)
        if described:
            parts.append(described)
    at = document.figures_at(line, column)
    if at is not None:
        figures = at[1]
        parts.append(figures_markdown(figures) + ("\n\n_(from the last version that compiled)_" if document.stale
                                                  else ""))
    if not parts:
        return None
    return T.Hover(contents=T.MarkupContent(kind=T.MarkupKind.Markdown, value="\n\n---\n\n".join(parts)))


@server.feature(T.TEXT_DOCUMENT_INLAY_HINT, T.InlayHintOptions(resolve_provider=False))
def inlay_hints(ls: ArchServer, params: T.InlayHintParams) -> list[T.InlayHint]:
    if not ls.inlay_hints:
        return []
    uri = params.text_document.uri
    document = ls.document(uri)
    first, last = params.range.start.line + 1, params.range.end.line + 1
    hints = []
    for span, figures in document.statement_ends():
        end_line = span.end_line or span.line
        if not first <= end_line <= last:
            continue
        shapes = list(dict.fromkeys(shape_text(s) for s in figures.out_shapes))
        label = "→ " + (" | ".join(shapes[:3]) + (" | …" if len(shapes) > 3 else ""))
        end = ls.range_of(uri, span).end
        hints.append(T.InlayHint(position=end, label=label, kind=T.InlayHintKind.Type, padding_left=True))
    return hints


# -- navigation -----------------------------------------------------------------------------------
@server.feature(T.TEXT_DOCUMENT_DEFINITION)
def definition(ls: ArchServer, params: T.DefinitionParams) -> T.Location | None:
    uri = params.text_document.uri
    document = ls.document(uri)
    line, column = ls.position_of(uri, params.position)
    use = document.use_at(line, column)
    if use is not None:
        target = use[1].resolve()
        return T.Location(uri=from_fs_path(str(target)) or str(target), range=T.Range(T.Position(0, 0),
                                                                                     T.Position(0, 0)))
    found = word_at(_line(document, line), column)
    if found is None:
        return None
    word = found[0]
    block = document.known_blocks().get(word)
    if block is not None:
        return ls.location(_block_name_span(block))
    label = _label(document, word, line)
    return ls.location(label.name_span) if label is not None else None


def _block_name_span(block) -> Span:
    from archdsl.lsp.document import _name_span

    try:
        text = Path(block.span.file).read_text(encoding="utf-8")
    except OSError:
        return block.span
    return _name_span(text, block.span, block.name)


def _label(document: Document, name: str, line: int) -> Definition | None:
    """The label `name` defined in the body (network or block) around `line`, else anywhere in the file."""
    candidates = []
    for definition in document.definitions():
        for child in definition.children:
            if child.kind == "label" and child.name == name:
                inside = definition.span.line <= line <= (definition.span.end_line or definition.span.line)
                candidates.append((not inside, child))
    return min(candidates, key=lambda c: c[0])[1] if candidates else None


@server.feature(T.TEXT_DOCUMENT_REFERENCES)
def references(ls: ArchServer, params: T.ReferenceParams) -> list[T.Location]:
    uri = params.text_document.uri
    document = ls.document(uri)
    line, column = ls.position_of(uri, params.position)
    found = word_at(_line(document, line), column)
    if found is None:
        return []
    word = found[0]
    out = []
    block = document.known_blocks().get(word)
    if block is not None:
        if params.context.include_declaration:
            out.append(ls.location(_block_name_span(block)))
        for other in ls.documents.values():
            out += [ls.location(o.span) for o in other.occurrences() if o.kind == "block" and o.name == word]
        return _unique(out)
    label = _label(document, word, line)
    if label is not None:
        if params.context.include_declaration:
            out.append(ls.location(label.name_span))
        out += [ls.location(o.span) for o in document.occurrences() if o.kind == "label" and o.name == word]
    return _unique(out)


def _unique(locations: list[T.Location]) -> list[T.Location]:
    seen, out = set(), []
    for loc in locations:
        k = (loc.uri, loc.range.start.line, loc.range.start.character)
        if k not in seen:
            seen.add(k)
            out.append(loc)
    return out


@server.feature(T.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def document_symbols(ls: ArchServer, params: T.DocumentSymbolParams) -> list[T.DocumentSymbol]:
    uri = params.text_document.uri
    kinds = {"network": T.SymbolKind.Class, "block": T.SymbolKind.Function, "label": T.SymbolKind.Field,
             "parameter": T.SymbolKind.Variable}

    def symbol(d: Definition) -> T.DocumentSymbol:
        return T.DocumentSymbol(name=d.name, kind=kinds[d.kind], range=ls.range_of(uri, d.span),
                                selection_range=ls.range_of(uri, d.name_span), detail=d.detail or None,
                                children=[symbol(c) for c in d.children] or None)

    return [symbol(d) for d in ls.document(uri).definitions()]


# -- editing --------------------------------------------------------------------------------------
@server.feature(T.TEXT_DOCUMENT_FORMATTING)
def formatting(ls: ArchServer, params: T.DocumentFormattingParams) -> list[T.TextEdit] | None:
    from archdsl.frontend.formatter import format_text

    uri = params.text_document.uri
    text = ls.workspace.get_text_document(uri).source
    try:
        formatted = format_text(text, path_of(uri))
    except ArchError:
        return None  # the diagnostics already say why: nothing to format until it parses
    if formatted == text:
        return []
    lines = text.split("\n")
    return [T.TextEdit(range=T.Range(T.Position(0, 0), T.Position(len(lines), 0)), new_text=formatted)]


@server.feature(T.TEXT_DOCUMENT_RENAME)
def rename(ls: ArchServer, params: T.RenameParams) -> T.WorkspaceEdit | None:
    uri = params.text_document.uri
    document = ls.document(uri)
    line, column = ls.position_of(uri, params.position)
    found = word_at(_line(document, line), column)
    if found is None or not _WORD.fullmatch(params.new_name):
        return None
    word = found[0]
    changes: dict[str, list[T.TextEdit]] = {}

    def edit(span: Span) -> None:
        location = ls.location(span)
        changes.setdefault(location.uri, []).append(T.TextEdit(range=location.range, new_text=params.new_name))

    block = document.known_blocks().get(word)
    if block is not None:
        edit(_block_name_span(block))
        for other in ls.documents.values():
            for occurrence in other.occurrences():
                if occurrence.kind == "block" and occurrence.name == word:
                    edit(occurrence.span)
    else:
        label = _label(document, word, line)
        if label is None:
            return None
        edit(label.name_span)
        for occurrence in document.occurrences():
            if occurrence.kind == "label" and occurrence.name == word:
                edit(occurrence.span)
    return T.WorkspaceEdit(changes={u: _dedupe(e) for u, e in changes.items()})


def _dedupe(edits: list[T.TextEdit]) -> list[T.TextEdit]:
    seen, out = set(), []
    for e in edits:
        k = (e.range.start.line, e.range.start.character)
        if k not in seen:
            seen.add(k)
            out.append(e)
    return out


@server.feature(T.TEXT_DOCUMENT_CODE_ACTION,
                T.CodeActionOptions(code_action_kinds=[T.CodeActionKind.QuickFix]))
def code_actions(ls: ArchServer, params: T.CodeActionParams) -> list[T.CodeAction]:
    uri = params.text_document.uri
    document = ls.document(uri)
    actions = []
    for diagnostic in params.context.diagnostics:
        if diagnostic.source != "archdsl":
            continue
        data = diagnostic.data if isinstance(diagnostic.data, dict) else {}
        hint = data.get("hint") or ""
        match = _DID_YOU_MEAN.search(hint)
        if match:
            actions.append(T.CodeAction(
                title=f"Change to '{match.group(1)}'", kind=T.CodeActionKind.QuickFix, diagnostics=[diagnostic],
                is_preferred=True,
                edit=T.WorkspaceEdit(changes={uri: [T.TextEdit(range=diagnostic.range, new_text=match.group(1))]})))
        if data.get("code") == "bias-before-bn":
            fix = _without_bias(ls, uri, document, diagnostic.range)
            if fix is not None:
                actions.append(T.CodeAction(
                    title="Write bias=false", kind=T.CodeActionKind.QuickFix, diagnostics=[diagnostic],
                    is_preferred=True, edit=T.WorkspaceEdit(changes={uri: [fix]})))
        if diagnostic.severity == T.DiagnosticSeverity.Warning and data.get("code"):
            insert = _allow_insertion(ls, uri, document, diagnostic.range, data["code"])
            if insert is not None:
                actions.append(T.CodeAction(
                    title=f"Allow '{data['code']}' on this statement", kind=T.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic], edit=T.WorkspaceEdit(changes={uri: [insert]})))
    return actions


def _without_bias(ls: ArchServer, uri: str, document: Document, where: T.Range) -> T.TextEdit | None:
    """The edit that makes a convolution's bias false: its `bias=true` changed, or the option added."""
    from archdsl.frontend import ast as A

    if document.module is None:
        return None
    line, column = ls.position_of(uri, where.start)
    calls = [n for n in walk(document.module)
             if isinstance(n, A.Call) and (n.span.line, n.span.column) == (line, column)]
    if not calls:
        return None
    call = calls[0]
    written = next((a for a in call.args if a.name == "bias"), None)
    if written is not None:
        return T.TextEdit(range=ls.range_of(uri, written.span), new_text="bias=false")
    end = ls.range_of(uri, call.span).end
    if call.args:
        at = T.Position(end.line, end.character - 1)  # before the closing parenthesis
        return T.TextEdit(range=T.Range(at, at), new_text=", bias=false")
    return T.TextEdit(range=T.Range(end, end), new_text="(bias=false)")


def _allow_insertion(ls: ArchServer, uri: str, document: Document, where: T.Range, code: str) -> T.TextEdit | None:
    """The edit that adds `allow(code)` to the innermost statement holding a warning."""
    from archdsl.frontend import ast as A

    if document.module is None:
        return None
    line, column = ls.position_of(uri, where.start)
    statements = [n for n in walk(document.module) if isinstance(n, A.Stmt)
                  and (n.span.line, n.span.column) <= (line, column)
                  <= (n.span.end_line or n.span.line, n.span.end_column or n.span.column)]
    if not statements:
        return None
    stmt = min(statements, key=lambda s: ((s.span.end_line or s.span.line) - s.span.line,
                                          (s.span.end_column or 0) - s.span.column))
    if stmt.allow:
        end = ls.range_of(uri, stmt.allow[-1].span).end
        return T.TextEdit(range=T.Range(end, end), new_text=f", {code}")
    end = ls.range_of(uri, stmt.span).end
    return T.TextEdit(range=T.Range(end, end), new_text=f" allow({code})")


# -- completion -----------------------------------------------------------------------------------
# A call word before its options' `(`: `conv3-(c * 4)/2(`, `basic(`.
_CALL_BEFORE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:-(?:[A-Za-z0-9_.]+|\([^()]*\)))*"
                          r"(?:/(?:[A-Za-z0-9_.]+|\([^()]*\)))?$")


def _call_around(before: str) -> str | None:
    """The layer word or block whose option parentheses the text before the cursor is inside."""
    depth = 0
    for index in range(len(before) - 1, -1, -1):
        char = before[index]
        if char in ";<>|{}":
            return None
        if char == ")":
            depth += 1
        elif char == "(":
            if depth == 0:
                match = _CALL_BEFORE.search(before[:index])
                return match.group(1) if match else None
            depth -= 1
    return None


@server.feature(T.TEXT_DOCUMENT_COMPLETION, T.CompletionOptions(trigger_characters=["(", ",", " "]))
def completion(ls: ArchServer, params: T.CompletionParams) -> T.CompletionList:
    from archdsl.layers import lookup, words

    uri = params.text_document.uri
    document = ls.document(uri)
    line, column = ls.position_of(uri, params.position)
    before = _line(document, line)[:column - 1]
    items: list[T.CompletionItem] = []
    call = _call_around(before)
    if call:  # within a call's parentheses: its options, or the block's parameters
        found = lookup(call)
        block = document.known_blocks().get(call)
        if found is not None:
            items = [T.CompletionItem(label=o.name, kind=T.CompletionItemKind.Property, detail=o.doc,
                                      insert_text=f"{o.name}=") for o in found[0].options]
        elif block is not None:
            items = [T.CompletionItem(label=p.name, kind=T.CompletionItemKind.Variable,
                                      insert_text=f"{p.name} = ") for p in block.params]
        return T.CompletionList(is_incomplete=False, items=items)
    if re.search(r"\bfreeze\b[^;]*$", before):
        labels = [c for d in document.definitions() if d.kind == "network" for c in d.children if c.kind == "label"]
        return T.CompletionList(is_incomplete=False, items=[
            T.CompletionItem(label=c.name, kind=T.CompletionItemKind.Field) for c in labels])
    for spec in words():
        items.append(T.CompletionItem(label=spec.word, kind=T.CompletionItemKind.Keyword, detail=spec.torch,
                                      documentation=T.MarkupContent(kind=T.MarkupKind.Markdown,
                                                                    value=word_markdown(spec.word) or ""),
                                      insert_text=word_snippet(spec), insert_text_format=T.InsertTextFormat.Snippet,
                                      label_details=T.CompletionItemLabelDetails(description=spec.example or None)))
    for name, block in document.known_blocks().items():
        required = [p.name for p in block.params if p.default is None]
        snippet = f"{name}(" + ", ".join(f"${{{i + 1}:{p}}}" for i, p in enumerate(required)) + ")"
        items.append(T.CompletionItem(label=name, kind=T.CompletionItemKind.Function,
                                      detail=f"block {name}({', '.join(p.name for p in block.params)})",
                                      insert_text=snippet, insert_text_format=T.InsertTextFormat.Snippet))
    for definition in document.definitions():
        if definition.span.line <= line <= (definition.span.end_line or definition.span.line):
            items += [T.CompletionItem(label=c.name, kind=T.CompletionItemKind.Variable, detail="parameter")
                      for c in definition.children if c.kind == "parameter"]
    for keyword in keywords():
        items.append(T.CompletionItem(label=keyword, kind=T.CompletionItemKind.Keyword))
    return T.CompletionList(is_incomplete=False, items=items)


def word_snippet(spec) -> str:
    """A layer word's shorthand as a snippet with a placeholder per part: `conv${1:3}-${2:channels}`."""
    parts, n = [spec.word], 1
    if spec.kernel_in_word:
        parts.append(f"${{{n}:3}}")
        n += 1
    for name in spec.dashes:
        parts.append(f"-${{{n}:{name}}}")
        n += 1
    return "".join(parts)


def main() -> None:
    # Copies of the descriptors: the server closes its streams when the client goes, and the CLI
    # still flushes its own standard output after the command returns.
    with os.fdopen(os.dup(0), "rb") as stdin, os.fdopen(os.dup(1), "wb") as stdout:
        server.start_io(stdin, stdout)


__all__ = ["ArchServer", "key", "main", "server"]
