"""`archdsl lsp` end to end: a real client (pytest-lsp) talks to the real server process over stdio."""

from __future__ import annotations

import sys

import pytest
from helpers import ROOT

pytest_lsp = pytest.importorskip("pytest_lsp")
from lsprotocol import types as T
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

RESNET = ROOT / "architectures" / "resnet34.arch"
BLOCKS = ROOT / "architectures" / "blocks" / "resnet.arch"


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "archdsl", "lsp"]))
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(T.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=from_fs_path(str(ROOT))))
    yield
    await lsp_client.shutdown_session()


async def _open(client: LanguageClient, path, text: str | None = None) -> str:
    uri = from_fs_path(str(path))
    client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(
        uri=uri, language_id="archdsl", version=1, text=path.read_text() if text is None else text)))
    await client.wait_for_notification(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return uri


def _position(text: str, needle: str, offset: int = 0) -> T.Position:
    before = text[:text.index(needle) + offset]
    return T.Position(before.count("\n"), len(before) - (before.rfind("\n") + 1))


async def _change(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(T.DidChangeTextDocumentParams(
        T.VersionedTextDocumentIdentifier(uri=uri, version=version),
        [T.TextDocumentContentChangeWholeDocument(text=text)]))
    await client.wait_for_notification(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)


@pytest.mark.asyncio
async def test_a_bundled_network_has_no_diagnostics_and_shapes_on_hover(client: LanguageClient):
    text = RESNET.read_text()
    uri = await _open(client, RESNET)
    assert list(client.diagnostics[uri]) == []
    hover = await client.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(uri),
                                                                 _position(text, "basic(128, 2)", 1)))
    assert hover is not None
    value = hover.contents.value
    assert "block basic(c, s = 1)" in value  # the block's signature
    assert "128x28x28" in value  # the statement's output
    assert "230,144" in value  # basic(128, 2): torchvision's layer2.0 has 230,144 parameters


@pytest.mark.asyncio
async def test_inlay_hints_give_each_statement_lines_output_shape(client: LanguageClient):
    text = RESNET.read_text()
    uri = await _open(client, RESNET)
    hints = await client.text_document_inlay_hint_async(T.InlayHintParams(
        T.TextDocumentIdentifier(uri), T.Range(T.Position(0, 0), T.Position(len(text.splitlines()), 0))))
    by_line = {h.position.line: h.label for h in hints}
    lines = text.splitlines()
    layer4 = next(i for i, line in enumerate(lines) if line.strip().startswith("layer4"))
    fc = next(i for i, line in enumerate(lines) if line.strip().startswith("fc:"))
    assert by_line[layer4] == "→ 512x7x7"
    assert by_line[fc] == "→ 1000"


@pytest.mark.asyncio
async def test_a_shape_error_as_you_type_with_both_ends_related(client: LanguageClient):
    text = ("network N {\n  input 3x32x32;\n  residual< conv3-16(bias=false); bn | conv1-8 >;\n"
            "  gap; flatten; fc-10\n}\n")
    uri = await _open(client, RESNET.parent / "untitled.arch", text)
    [diagnostic] = client.diagnostics[uri]
    assert diagnostic.severity == T.DiagnosticSeverity.Error
    assert diagnostic.source == "archdsl" and diagnostic.code
    assert diagnostic.range.start.line == 2
    assert "16x32x32" in diagnostic.message and "8x32x32" in diagnostic.message
    ends = [(r.location.range.start.character, r.message) for r in diagnostic.related_information]
    line = text.splitlines()[2]
    assert ends == [(line.index("bn |"), "the body ends here with 16x32x32"),
                    (line.index("conv1-8"), "the shortcut ends here with 8x32x32")]
    await _change(client, uri, text.replace("conv1-8", "conv1-16"), 2)
    assert list(client.diagnostics[uri]) == []


@pytest.mark.asyncio
async def test_did_you_mean_is_a_quick_fix(client: LanguageClient):
    text = "network N {\n  input 3x32x32;\n  conv3-16; relu7; gap; flatten; fc-10\n}\n"
    uri = await _open(client, RESNET.parent / "typo.arch", text)
    [diagnostic] = client.diagnostics[uri]
    actions = await client.text_document_code_action_async(T.CodeActionParams(
        T.TextDocumentIdentifier(uri), diagnostic.range, T.CodeActionContext(diagnostics=[diagnostic])))
    fixes = [a for a in actions if a.edit]
    assert fixes, "no quick fix offered"
    [edit] = fixes[0].edit.changes[uri]
    assert edit.new_text in ("relu", "relu6")
    assert edit.range == diagnostic.range


@pytest.mark.asyncio
async def test_a_warning_gets_an_allow_quick_fix_that_silences_it(client: LanguageClient):
    text = "network N {\n  input 3x32x32;\n  conv3-16; bn; relu; gap; flatten; fc-10\n}\n"
    uri = await _open(client, RESNET.parent / "warn.arch", text)
    [warning] = client.diagnostics[uri]
    assert warning.severity == T.DiagnosticSeverity.Warning and warning.code == "bias-before-bn"
    actions = await client.text_document_code_action_async(T.CodeActionParams(
        T.TextDocumentIdentifier(uri), warning.range, T.CodeActionContext(diagnostics=[warning])))
    [bias] = [a for a in actions if a.title == "Write bias=false"]
    [edit] = bias.edit.changes[uri]
    assert edit.new_text == "(bias=false)" and edit.range.start == warning.range.end
    [allow] = [a for a in actions if "allow" in a.title.lower()]
    [edit] = allow.edit.changes[uri]
    lines = text.split("\n")
    line = lines[edit.range.start.line]
    lines[edit.range.start.line] = line[:edit.range.start.character] + edit.new_text + line[edit.range.start.character:]
    await _change(client, uri, "\n".join(lines), 2)
    assert list(client.diagnostics[uri]) == []


@pytest.mark.asyncio
async def test_go_to_a_block_across_use_and_find_its_references(client: LanguageClient):
    text = RESNET.read_text()
    uri = await _open(client, RESNET)
    where = _position(text, "basic(64)", 1)
    location = await client.text_document_definition_async(T.DefinitionParams(T.TextDocumentIdentifier(uri), where))
    assert location.uri == from_fs_path(str(BLOCKS.resolve()))
    defined = BLOCKS.read_text().splitlines()[location.range.start.line]
    assert defined[location.range.start.character:].startswith("basic(")
    found = await client.text_document_references_async(T.ReferenceParams(
        text_document=T.TextDocumentIdentifier(uri), position=where,
        context=T.ReferenceContext(include_declaration=True)))
    assert len([f for f in found if f.uri == uri]) == text.count("basic(")
    use = await client.text_document_definition_async(T.DefinitionParams(
        T.TextDocumentIdentifier(uri), _position(text, 'use "', 6)))
    assert use.uri == from_fs_path(str(BLOCKS.resolve()))


@pytest.mark.asyncio
async def test_outline_completion_formatting_and_rename(client: LanguageClient):
    text = ("block pair(c) {\n  conv3-(c); relu\n}\nnetwork N {\n  input 3x32x32;\n  freeze first;\n"
            "  first: pair(16);\n  second: pair(32); gap; flatten; fc-10\n}\n")
    uri = await _open(client, RESNET.parent / "outline.arch", text)
    symbols = await client.text_document_document_symbol_async(T.DocumentSymbolParams(T.TextDocumentIdentifier(uri)))
    assert [s.name for s in symbols] == ["pair", "N"]
    assert [c.name for c in symbols[1].children] == ["first", "second"]

    options = await client.text_document_completion_async(T.CompletionParams(
        T.TextDocumentIdentifier(uri), _position(text, "conv3-(c)", len("conv3-(c)"))))
    del options  # after ")" nothing is promised; inside a call's parentheses options are:
    inside = text.replace("conv3-(c);", "conv3-(c)(st);")
    await _change(client, uri, inside, 2)
    offered = await client.text_document_completion_async(T.CompletionParams(
        T.TextDocumentIdentifier(uri), _position(inside, "(st", 3)))
    assert "stride" in [i.label for i in offered.items]
    await _change(client, uri, text, 3)
    words = await client.text_document_completion_async(T.CompletionParams(
        T.TextDocumentIdentifier(uri), _position(text, "gap", 0)))
    labels = [i.label for i in words.items]
    assert {"conv", "relu6", "pair", "residual"} <= set(labels)
    snippets = {i.label: i.insert_text for i in words.items}
    assert snippets["conv"] == "conv${1:3}-${2:channels}" and snippets["fc"] == "fc-${1:features}"
    assert snippets["pair"] == "pair(${1:c})"

    messy = text.replace("  conv3-(c); relu", "conv3-(c);relu")
    await _change(client, uri, messy, 4)
    edits = await client.text_document_formatting_async(T.DocumentFormattingParams(
        T.TextDocumentIdentifier(uri), T.FormattingOptions(tab_size=4, insert_spaces=True)))
    assert edits and "conv3-(c); relu" in edits[0].new_text

    await _change(client, uri, text, 5)
    renamed = await client.text_document_rename_async(T.RenameParams(
        T.TextDocumentIdentifier(uri), _position(text, "first:", 0), "stem"))
    assert len(renamed.changes[uri]) == 2  # the label and its mention in `freeze`
    renamed = await client.text_document_rename_async(T.RenameParams(
        T.TextDocumentIdentifier(uri), _position(text, "pair(16)", 0), "duo"))
    assert len(renamed.changes[uri]) == 3  # the definition and two uses


@pytest.mark.asyncio
async def test_a_broken_text_keeps_hovers_where_it_is_unchanged(client: LanguageClient):
    text = RESNET.read_text()
    uri = await _open(client, RESNET)
    broken = text.replace("fc: fc-num_classes", "fc: fc-num_classes(((")
    await _change(client, uri, broken, 2)
    assert client.diagnostics[uri][0].severity == T.DiagnosticSeverity.Error
    hover = await client.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(uri),
                                                                 _position(broken, "layer3", 0)))
    assert hover is not None and "256x14x14" in hover.contents.value
    assert "last version that compiled" in hover.contents.value


@pytest.mark.asyncio
async def test_a_reference_goes_to_its_label_and_hovers_with_its_shape(client: LanguageClient):
    text = ("network N {\n  input 3x32x32;\n  d1: conv3-16; relu; maxpool;\n  conv3-16;\n"
            "  concat< @d1; maxpool | identity >;\n  gap; flatten; fc-10\n}\n")
    uri = await _open(client, RESNET.parent / "refs.arch", text)
    assert list(client.diagnostics[uri]) == []
    where = _position(text, "@d1", 2)
    location = await client.text_document_definition_async(T.DefinitionParams(T.TextDocumentIdentifier(uri), where))
    assert location is not None and location.range.start == _position(text, "d1:")
    hover = await client.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(uri),
                                                                 _position(text, "concat<")))
    assert hover is not None and "32x16x16" in hover.contents.value  # 16 + 16 channels concatenated


@pytest.mark.asyncio
async def test_a_layer_word_parameter_hovers_as_the_parameter_it_is(client: LanguageClient, tmp_path):
    text = ("block b(c, act = relu6) {\n    conv3-c(bias=false); bn; act\n}\n\n"
            "network n {\n    input 3x8x8;\n    b(8, act=silu)\n}\n")
    path = tmp_path / "words.arch"
    path.write_text(text)
    uri = await _open(client, path)
    assert list(client.diagnostics[uri]) == []
    hover = await client.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(uri),
                                                                 _position(text, "act\n}", 1)))
    assert hover is not None
    value = hover.contents.value
    assert "**act**: a parameter of block `b` holding a layer word (default `relu6`)" in value
    assert "8x8x8" in value  # and the statement's figures, as any statement's
