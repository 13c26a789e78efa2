"""Positions between the compiler (1-based lines, character columns, character offsets) and
LSP (0-based lines, UTF-16 code units by default): the conversion module on its own, the
file key ↔ path mapping, and non-ASCII text end to end through the real server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient
from test_lsp_helpers import (
    SERVER,
    apply_edits,
    change,
    diagnostics,
    doc,
    hover_text,
    open_file,
    pos,
    start,
    write_files,
)

from setlist.diagnostics import Span
from setlist.lsp.positions import UTF8, UTF16, UTF32, LineIndex, chars_for_units, units
from setlist.lsp.session import key_of, path_of, stdlib_dir
from setlist.parse import parse_source

TEXT = 'const a = "🚀 速い"  // 日本語 🎉\nconst b = a\n'


@pytest.mark.parametrize("text, utf16, utf8, utf32", [
    ("abc", 3, 3, 3),
    ("é", 1, 2, 1),
    ("速い", 2, 6, 2),
    ("🚀", 2, 4, 1),
    ("a🚀b", 4, 6, 3),
])
def test_code_units_per_encoding(text, utf16, utf8, utf32):
    assert (units(text, UTF16), units(text, UTF8), units(text, UTF32)) == (utf16, utf8, utf32)


def test_units_to_characters_snaps_inside_a_surrogate_pair():
    line = "a🚀b"
    assert [chars_for_units(line, n) for n in range(6)] == [0, 1, 1, 2, 3, 3]
    assert chars_for_units(line, 2, UTF8) == 1  # inside the 4 bytes of 🚀
    assert chars_for_units(line, 5, UTF8) == 2


def test_offsets_and_positions_round_trip_on_non_ascii_lines():
    index = LineIndex(TEXT)
    for offset in range(len(TEXT) + 1):
        assert index.offset(index.position(offset)) == offset
    b = TEXT.index("const b")
    assert index.position(b) == lsp.Position(line=1, character=0)
    assert index.position(TEXT.index("速")) == lsp.Position(line=0, character=14)
    assert index.position(TEXT.index("日")) == lsp.Position(line=0, character=22)
    assert index.offset(lsp.Position(line=0, character=999)) == TEXT.index("\n")
    assert index.offset(lsp.Position(line=9, character=0)) == len(TEXT)


def test_compiler_spans_become_utf16_ranges():
    module, diags = parse_source(TEXT, "t.setlist")
    assert diags == []
    string = module.decls[0].value.span  # "🚀 速い" with its quotes
    assert (string.line, string.column, string.end_column) == (1, 11, 17)
    rng = LineIndex(TEXT).span_range(string)
    assert rng == lsp.Range(start=lsp.Position(line=0, character=10),
                            end=lsp.Position(line=0, character=17))
    assert LineIndex(TEXT, UTF8).span_range(string).end.character == 10 + 1 + 4 + 1 + 6 + 1


def test_span_at_the_end_of_a_line_with_crlf_text():
    index = LineIndex("a = 1\r\nb = 2\r\n")
    span = Span(file="x", line=1, column=1, end_line=1, end_column=6, start=0, end=5)
    assert index.span_range(span).end == lsp.Position(line=0, character=5)
    assert index.line_text(0) == "a = 1"


def test_file_keys_and_paths(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    inside = tmp_path / "ws" / "a.setlist"
    assert key_of(inside) == "ws/a.setlist"                     # below the working folder
    assert path_of("ws/a.setlist") == inside
    outside = Path("/").joinpath(*tmp_path.parts[1:-1], "elsewhere.setlist")
    assert key_of(outside) == outside.as_posix()                # elsewhere: absolute
    assert path_of(outside.as_posix()) == outside
    assert key_of(stdlib_dir() / "sync.setlist") == "std/sync.setlist"
    assert path_of("std/sync.setlist") == stdlib_dir() / "sync.setlist"
    assert Path(os.path.abspath("ws/a.setlist")) == inside


# ---------------------------------------------------------------- end to end

SPEC = """\
// Fleet «東京» 🚀 — comments may hold any text.
environment dev { clusters = cluster.env == "dev" }  // «dév» 🚀
app shop { base = "apps/🚀/速い"; namespace = "shop"; deploy = [dve] }
"""


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


@pytest.mark.asyncio
async def test_non_ascii_diagnostic_hover_and_rename_positions(client, tmp_path):
    root = tmp_path / "ws"
    write_files(root, {"spec.setlist": SPEC})
    await start(client, root)
    doc_uri = open_file(client, root / "spec.setlist")
    found = await diagnostics(client, doc_uri, lambda d: len(d) > 0)
    unknown = next(d for d in found if d.code == "SL200")
    at = pos(SPEC, "dve")
    line = SPEC.splitlines()[2]
    assert at.character == len(line[:line.index("dve")]) + 1  # 🚀: 1 character, 2 units
    assert unknown.range == lsp.Range(start=at, end=lsp.Position(line=2,
                                                                 character=at.character + 3))
    fixed = SPEC.replace("[dve]", "[dev]")
    change(client, doc_uri, 2, [(unknown.range, "dev")])
    assert list(await diagnostics(client, doc_uri)) == []
    assert "environment dev" in await hover_text(client, doc_uri, pos(fixed, "[dev]", 2))
    edit = await client.text_document_rename_async(lsp.RenameParams(
        text_document=doc(doc_uri), position=pos(fixed, "[dev]", 1), new_name="qa"))
    assert apply_edits(fixed, edit.changes[doc_uri]) == fixed.replace("dev {", "qa {") \
        .replace("[dev]", "[qa]")


@pytest.mark.asyncio
async def test_utf8_position_encoding_when_the_client_asks_for_it(client, tmp_path):
    root = tmp_path / "ws"
    write_files(root, {"spec.setlist": SPEC})
    result = await client.initialize_session(lsp.InitializeParams(
        capabilities=lsp.ClientCapabilities(general=lsp.GeneralClientCapabilities(
            position_encodings=[lsp.PositionEncodingKind.Utf8])),
        workspace_folders=[lsp.WorkspaceFolder(uri=root.as_uri(), name="ws")],
        initialization_options={"debounceMs": 0}))
    assert result.capabilities.position_encoding == lsp.PositionEncodingKind.Utf8
    doc_uri = open_file(client, root / "spec.setlist")
    found = await diagnostics(client, doc_uri, lambda d: len(d) > 0)
    unknown = next(d for d in found if d.code == "SL200")
    line = SPEC.splitlines()[2]
    assert unknown.range.start.character == len(line[:line.index("dve")].encode("utf-8"))
