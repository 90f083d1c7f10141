"""Language server latency on ResNet-152: what an editor waits for after each keystroke and each hover.

A real client (pygls) talks to a real `archdsl lsp` process over stdio, as VS Code does:
1. diagnostics: an edit (didChange with the whole text) until its publishDiagnostics arrives;
2. hover over `layer3` (shape, parameters and MACs of 36 bottlenecks);
3. inlay hints for the whole file.
Reference, in the same run: `archdsl check architectures/resnet152.arch` as a process, what a user
without the server waits for. Goal: diagnostics and hover well under 100 ms after the first build.

    .venv/bin/python bench/lsp_latency.py [--runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

from lsprotocol import types as T
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

ROOT = Path(__file__).resolve().parent.parent
FILE = ROOT / "architectures" / "resnet152.arch"


async def measure(runs: int) -> dict[str, list[float]]:
    client = LanguageClient("bench", "1")
    published: asyncio.Queue = asyncio.Queue()

    @client.feature(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: T.PublishDiagnosticsParams) -> None:
        published.put_nowait(params)

    await client.start_io(sys.executable, "-m", "archdsl", "lsp")
    await client.initialize_async(T.InitializeParams(capabilities=T.ClientCapabilities()))
    client.initialized(T.InitializedParams())
    uri, text = from_fs_path(str(FILE)), FILE.read_text()
    start = time.perf_counter()
    client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(uri, "archdsl", 1, text)))
    await published.get()
    times: dict[str, list[float]] = {"first build": [time.perf_counter() - start], "diagnostics": [],
                                     "hover": [], "inlay hints": []}
    line = next(i for i, s in enumerate(text.splitlines()) if s.strip().startswith("layer3"))
    for version in range(2, runs + 2):
        edited = text.replace("num_classes = 1000", f"num_classes = {1000 + version % 2}")
        start = time.perf_counter()
        client.text_document_did_change(T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(uri=uri, version=version),
            [T.TextDocumentContentChangeWholeDocument(text=edited)]))
        diagnostics = await published.get()
        times["diagnostics"].append(time.perf_counter() - start)
        assert not diagnostics.diagnostics, diagnostics
        start = time.perf_counter()
        hover = await client.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(uri),
                                                                     T.Position(line, 6)))
        times["hover"].append(time.perf_counter() - start)
        assert hover is not None and "1024x14x14" in hover.contents.value
        start = time.perf_counter()
        await client.text_document_inlay_hint_async(T.InlayHintParams(
            T.TextDocumentIdentifier(uri), T.Range(T.Position(0, 0), T.Position(len(text.splitlines()), 0))))
        times["inlay hints"].append(time.perf_counter() - start)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    times = asyncio.run(measure(args.runs))
    check = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "archdsl", "check", str(FILE)], check=True, capture_output=True)
        check.append(time.perf_counter() - start)
    print(f"ResNet-152 ({FILE.relative_to(ROOT)}), {args.runs} edits")
    for name, values in times.items():
        print(f"  {name:<12} median {1000 * statistics.median(values):7.1f} ms   min {1000 * min(values):7.1f} ms")
    reference = statistics.median(check)
    print(f"  reference: `archdsl check` as a process, median {1000 * reference:.1f} ms")
    print(f"  diagnostics after an edit: {reference / statistics.median(times['diagnostics']):.1f}x faster than "
          f"running `archdsl check`; hover {reference / statistics.median(times['hover']):.0f}x")


if __name__ == "__main__":
    main()
