"""Helpers for the language server tests (no tests here): a workspace on disk, a client
talking to the real `python -m setlist lsp` process, and waiting for what it publishes."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from lsprotocol import types as lsp
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient

SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "setlist", "lsp"])
TIMEOUT = 30  # seconds: a hung server fails the test instead of hanging the suite


def uri(path: Path) -> str:
    return from_fs_path(str(path))


def write_files(root: Path, files: dict[str, str]) -> dict[str, Path]:
    out = {}
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        out[name] = path
    return out


async def start(client: LanguageClient, root: Path, *more: Path, watch: bool = False,
                **options) -> lsp.InitializeResult:
    """Initialize the server on the workspace folders ``root`` and ``more``; with ``watch``
    the client offers to watch files for it (dynamic registration, relative patterns)."""
    options.setdefault("debounceMs", 0)
    workspace = lsp.WorkspaceClientCapabilities(
        workspace_folders=True,
        did_change_watched_files=lsp.DidChangeWatchedFilesClientCapabilities(
            dynamic_registration=True, relative_pattern_support=True)) if watch else None
    return await client.initialize_session(lsp.InitializeParams(
        capabilities=lsp.ClientCapabilities(
            general=lsp.GeneralClientCapabilities(position_encodings=[
                lsp.PositionEncodingKind.Utf16]),
            workspace=workspace,
            text_document=lsp.TextDocumentClientCapabilities(
                completion=lsp.CompletionClientCapabilities(
                    completion_item=lsp.ClientCompletionItemOptions(
                        documentation_format=[lsp.MarkupKind.Markdown])),
                hover=lsp.HoverClientCapabilities(content_format=[lsp.MarkupKind.Markdown]),
                rename=lsp.RenameClientCapabilities(prepare_support=True))),
        workspace_folders=[lsp.WorkspaceFolder(uri=uri(folder), name=folder.name)
                           for folder in (root, *more)],
        initialization_options=options))


def open_file(client: LanguageClient, path: Path, text: str | None = None) -> str:
    """Open ``path`` in the client (with ``text``, or what is on disk) and return its URI."""
    doc_uri = uri(path)
    client.diagnostics.pop(doc_uri, None)
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(
        text_document=lsp.TextDocumentItem(
            uri=doc_uri, language_id="setlist", version=1,
            text=path.read_text("utf-8") if text is None else text)))
    return doc_uri


def change(client: LanguageClient, doc_uri: str, version: int,
           edits: Sequence[tuple[lsp.Range | None, str]]) -> None:
    """Send edits (range None = the whole text) as one didChange."""
    client.diagnostics.pop(doc_uri, None)
    changes: list = []
    for rng, text in edits:
        if rng is None:
            changes.append(lsp.TextDocumentContentChangeWholeDocument(text=text))
        else:
            changes.append(lsp.TextDocumentContentChangePartial(range=rng, text=text))
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        text_document=lsp.VersionedTextDocumentIdentifier(uri=doc_uri, version=version),
        content_changes=changes))


async def diagnostics(client: LanguageClient, doc_uri: str,
                      until: Callable[[Sequence[lsp.Diagnostic]], bool] | None = None
                      ) -> Sequence[lsp.Diagnostic]:
    """The diagnostics published for ``doc_uri`` (forgotten by ``open_file``/``change``),
    waiting for the next publication until ``until`` holds."""
    async def wait() -> Sequence[lsp.Diagnostic]:
        while True:
            # Registered before looking, so that a publication in between is not missed.
            pending = client.protocol.wait_for_notification(
                lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
            found = client.diagnostics.get(doc_uri)
            if found is not None and (until is None or until(found)):
                return found
            if found is not None:
                client.diagnostics.pop(doc_uri)
            await asyncio.wrap_future(pending)
    return await asyncio.wait_for(wait(), TIMEOUT)


def pos(text: str, needle: str, delta: int = 0, nth: int = 0) -> lsp.Position:
    """The UTF-16 position of the ``nth`` occurrence of ``needle`` in ``text``, plus
    ``delta`` characters."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(needle, at + 1)
    at += delta
    line = text.count("\n", 0, at)
    start = text.rfind("\n", 0, at) + 1
    return lsp.Position(line=line, character=len(text[start:at].encode("utf-16-le")) // 2)


def doc(doc_uri: str) -> lsp.TextDocumentIdentifier:
    return lsp.TextDocumentIdentifier(uri=doc_uri)


def apply_edits(text: str, edits: Sequence[lsp.TextEdit]) -> str:
    """Apply LSP text edits (UTF-16 positions) to ``text``, last first."""
    def offset(p: lsp.Position) -> int:
        lines = text.split("\n")
        before = sum(len(line) + 1 for line in lines[:p.line])
        line = lines[p.line] if p.line < len(lines) else ""
        units = 0
        for i, ch in enumerate(line):
            if units >= p.character:
                return before + i
            units += 2 if ord(ch) > 0xFFFF else 1
        return before + len(line)
    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character),
                       reverse=True):
        start, end = offset(edit.range.start), offset(edit.range.end)
        text = text[:start] + edit.new_text + text[end:]
    return text


SPEC = """\
import "std/sync"

registry ghcr {
  host        = "ghcr.io"
  credentials = docker_config
}

/// The storefront API.
// Deployed everywhere.
image api {
  repository = ghcr / "example/shop-api"
  strategy   = semver("^1.4")
}

environment dev { clusters = cluster.env == "dev" }
environment prod {
  clusters  = cluster.env == "prod" and cluster.region in ["eu-west-1", "us-east-1"]
  writeback = pull_request
}

const team = "shop"

app shop {
  base      = "apps/shop/base"
  namespace = "${team}-api"
  images    = [api]
  deploy    = [dev, prod]
  sync      = sync.auto
}

promotion api {
  dev  <- registry
  prod <- dev after 24h, approval
}
"""

LOCK = """\
version: 1
images:
  api:
    dev:
      repository: ghcr.io/example/shop-api
      tag: 1.4.2
      digest: sha256:1111111111111111111111111111111111111111111111111111111111111111
    prod:
      repository: ghcr.io/example/shop-api
      tag: 1.4.1
      digest: sha256:2222222222222222222222222222222222222222222222222222222222222222
"""


async def opened(client: LanguageClient, root: Path, name: str = "spec.setlist",
                 **options) -> tuple[str, str]:
    """Start the server on ``root``, open ``name`` and wait for its first diagnostics."""
    await start(client, root, **options)
    path = root / name
    doc_uri = open_file(client, path)
    await diagnostics(client, doc_uri)
    return doc_uri, path.read_text("utf-8")


async def hover_text(client: LanguageClient, doc_uri: str, at: lsp.Position) -> str:
    result = await client.text_document_hover_async(
        lsp.HoverParams(text_document=doc(doc_uri), position=at))
    assert result is not None
    return result.contents.value


async def complete(client: LanguageClient, doc_uri: str, at: lsp.Position) -> list[str]:
    result = await client.text_document_completion_async(
        lsp.CompletionParams(text_document=doc(doc_uri), position=at))
    items = result.items if isinstance(result, lsp.CompletionList) else result
    return [i.label for i in items]
