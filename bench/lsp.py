"""Language server latency on a large spec: the real `setlist lsp` process over stdio.

    python bench/lsp.py [--lines 10000] [--edits 30] [--requests 50] [--debounce-ms 150]
                        [--single-file] [--keep]

Generates (deterministically, into a temporary folder) a ~N-line project with the estate
generator of bench/estate.py (registries, environments, and apps-NN.setlist files of 100
images + apps each; --single-file puts everything into one file instead), starts
`python -m setlist lsp` with that folder as its workspace, opens one apps file and measures:

- diagnostics after an edit: from sending a didChange to receiving the publishDiagnostics
  it causes, --edits times; edits alternate between breaking a reference (one diagnostic
  expected) and repairing it (none), so every publication is checked to belong to its edit.
  The server analyses an edit that follows a quiet spell at once and debounces bursts
  (--debounce-ms, the server's default 150 ms); each timed edit follows the previous
  publication, so it is such an isolated edit;
- hover on an image reference and completion after `deploy = [`, --requests times each,
  with nothing changed in between (answered from the cached analysis).

Prints median/min/max per figure next to its target: diagnostics ≤ 300 ms, hover ≤ 50 ms,
completion ≤ 50 ms. Missed targets print FAIL; --strict makes them exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from estate import APPS_PER_FILE, generate  # noqa: E402 - a sibling script, not a package

TARGETS_MS = {"diagnostics after an edit": 300.0, "hover": 50.0, "completion": 50.0}
LINES_PER_APP = 17.3  # what the estate generator writes per image + app


def build(root: Path, lines: int, single_file: bool) -> tuple[Path, Path]:
    """The project folder and the file the edits go to."""
    apps = max(1, round(lines / LINES_PER_APP))
    project = generate(root, apps, 10)
    target = project / "apps-00.setlist"
    if single_file:
        parts = []
        imports = set()
        for path in sorted(project.glob("*.setlist")):
            for line in path.read_text().splitlines(keepends=True):
                if line.startswith("import "):
                    imports.add(line)
                else:
                    parts.append(line)
            path.unlink()
        target = project / "spec.setlist"
        target.write_text("".join(sorted(imports)) + "".join(parts))
    return project, target


class Client(LanguageClient):
    """Records when diagnostics arrive, per URI."""

    def __init__(self) -> None:
        super().__init__("setlist-bench", "1")
        self.published: dict[str, asyncio.Queue] = {}

        @self.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def on_diagnostics(params: lsp.PublishDiagnosticsParams) -> None:
            queue = self.published.setdefault(params.uri, asyncio.Queue())
            queue.put_nowait((time.perf_counter(), params.diagnostics))

    def queue(self, uri: str) -> asyncio.Queue:
        return self.published.setdefault(uri, asyncio.Queue())


def position(text: str, needle: str, after: int = 0) -> lsp.Position:
    at = text.index(needle) + after
    line = text.count("\n", 0, at)
    start = text.rfind("\n", 0, at) + 1
    return lsp.Position(line=line, character=len(text[start:at].encode("utf-16-le")) // 2)


async def run(args: argparse.Namespace, project: Path, target: Path) -> dict[str, list[float]]:
    client = Client()
    await client.start_io(sys.executable, "-m", "setlist", "lsp")
    figures: dict[str, list[float]] = {name: [] for name in TARGETS_MS}
    try:
        await client.initialize_async(lsp.InitializeParams(
            capabilities=lsp.ClientCapabilities(),
            workspace_folders=[lsp.WorkspaceFolder(uri=project.as_uri(), name="estate")],
            initialization_options={"debounceMs": args.debounce_ms}))
        client.initialized(lsp.InitializedParams())
        uri = target.as_uri()
        text = target.read_text("utf-8")
        started = time.perf_counter()
        client.text_document_did_open(lsp.DidOpenTextDocumentParams(
            text_document=lsp.TextDocumentItem(uri=uri, language_id="setlist", version=1,
                                               text=text)))
        arrived, diags = await asyncio.wait_for(client.queue(uri).get(), 120)
        if diags:
            sys.exit(f"the generated spec has diagnostics: {diags[0].message}")
        print(f"first analysis after didOpen: {(arrived - started) * 1000:.0f} ms")
        await edits(client, uri, text, args.edits, figures["diagnostics after an edit"])
        await requests(client, uri, text, args.requests, figures)
        await client.shutdown_async(None)
        client.exit(None)
    finally:
        await client.stop()
    return figures


async def edits(client: Client, uri: str, text: str, count: int, out: list[float]) -> None:
    """Break and repair one reference, alternately; time each publication."""
    at = position(text, "deploy    = everywhere", len("deploy    = "))
    for version in range(2, count + 2):
        broken = version % 2 == 0
        new, old = ("everywher", "everywhere") if broken else ("everywhere", "everywher")
        old_end = lsp.Position(line=at.line, character=at.character + len(old))
        sent = time.perf_counter()
        client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[lsp.TextDocumentContentChangePartial(
                range=lsp.Range(start=at, end=old_end), text=new)]))
        arrived, diags = await asyncio.wait_for(client.queue(uri).get(), 60)
        if bool(diags) != broken:
            sys.exit(f"edit {version}: expected {'a' if broken else 'no'} diagnostic, got "
                     f"{[d.message for d in diags]}")
        out.append(arrived - sent)


async def requests(client: Client, uri: str, text: str, count: int,
                   figures: dict[str, list[float]]) -> None:
    hover_at = position(text, "images    = [", len("images    = [") + 1)
    complete_at = position(text, "deploy    = ", len("deploy    = "))
    for _ in range(count):
        sent = time.perf_counter()
        result = await client.text_document_hover_async(lsp.HoverParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri), position=hover_at))
        figures["hover"].append(time.perf_counter() - sent)
        assert result is not None and "image" in result.contents.value, result
        sent = time.perf_counter()
        items = await client.text_document_completion_async(lsp.CompletionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri), position=complete_at))
        figures["completion"].append(time.perf_counter() - sent)
        assert items is not None and any(i.label == "dev" for i in items.items), items


def report(figures: dict[str, list[float]], args: argparse.Namespace) -> bool:
    ok = True
    for name, times in figures.items():
        ms = [t * 1000 for t in times]
        median = statistics.median(ms)
        target = TARGETS_MS[name]
        verdict = "PASS" if median <= target else "FAIL"
        ok &= median <= target
        print(f"{name:28s} median {median:7.1f} ms  min {min(ms):6.1f}  max {max(ms):6.1f}"
              f"  ({len(ms)} runs; target ≤ {target:.0f} ms: {verdict})")
    if args.debounce_ms:
        print(f"(debounce {args.debounce_ms} ms: isolated edits are analysed at once, bursts "
              "after the pause)")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10000)
    parser.add_argument("--edits", type=int, default=30)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--debounce-ms", type=int, default=150)
    parser.add_argument("--single-file", action="store_true")
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="setlist-lsp-bench-"))
    try:
        project, target = build(root, args.lines, args.single_file)
        files = sorted(project.glob("*.setlist"))
        total = sum(p.read_text().count("\n") for p in files)
        print(f"spec: {total} lines in {len(files)} files "
              f"({'one file' if args.single_file else f'{APPS_PER_FILE} apps per file'}); "
              f"edited file {target.name}: {target.read_text().count(chr(10))} lines")
        figures = asyncio.run(run(args, project, target))
        ok = report(figures, args)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
