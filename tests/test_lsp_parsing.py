"""The language server's incremental parse gives exactly what ``parse_source`` gives, and
parses again only the declarations an edit touched."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from setlist.lsp import parsing
from setlist.lsp.parsing import SessionParser, pieces
from setlist.parse import parse_source

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted(p for folder in ("examples", "tests/golden", "stdlib")
               for p in (ROOT / folder).rglob("*.setlist"))

BIG = "".join(
    f"/// Service {i}.\n// Owned by team {i % 7}.\n"
    f'image svc-{i} {{\n  repository = "ghcr.io/example/svc-{i}"\n'
    f'  strategy   = semver("^1.{i}")  // «{i}» 🚀\n}}\n\n'
    f'app svc-{i} {{\n  base      = "apps/svc-{i}/base"\n  namespace = "svc-{i}"\n'
    f"  images    = [svc-{i}]\n  deploy    = [dev]\n}}\n\n"
    for i in range(60)) + 'environment dev { clusters = cluster.env == "dev" }\n'


@pytest.fixture
def everything_in_pieces(monkeypatch):
    monkeypatch.setattr(parsing, "SMALL", 0)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_same_module_and_diagnostics_as_parse_source(path, everything_in_pieces):
    text = path.read_text("utf-8")
    assert SessionParser()(text, "f.setlist") == parse_source(text, "f.setlist")


def test_pieces_keep_doc_comments_with_their_declaration():
    text = "// header\n\n/// doc\n// more\nimage a {}\n// not doc\n\nimage b {}\n"
    cuts = pieces(text)
    assert [text[a:b] for a, b in zip(cuts, cuts[1:] + [len(text)], strict=True)] == [
        "// header\n\n", "/// doc\n// more\nimage a {}\n// not doc\n\n", "image b {}\n"]


def test_random_edits_match_parse_source_and_reuse_the_rest():
    parse = SessionParser()
    text = BIG
    assert parse(text, "k") == parse_source(text, "k")
    rng = random.Random(7)
    for _ in range(60):
        at = rng.randrange(len(text))
        edit = rng.choice(["x", "", "\n", " ", '"', "}", "\n// note\n"])
        cut = rng.choice([0, 1])
        edited = text[:at] + edit + text[at + cut:]
        expected = parse_source(edited, "k")
        before = parse.reparsed
        assert parse(edited, "k") == expected
        if not expected[1]:
            assert parse.reparsed - before <= 2  # the edited piece (or the two it joined)
            text = edited
