"""The parse cache (setlist.parsecache): a syntax tree rebuilt from the cache equals the
parse of the same text, for every spec file of the repository, also after edits that the
cache answers by parsing only the changed pieces; entries that are broken, foreign or
stale are ignored; files with syntax errors are never stored."""

from __future__ import annotations

import marshal
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import ROOT
from setlist import parsecache
from setlist.parse import parse_source

SPECS = sorted(p for folder in ("examples", "tests/golden", "tests/policy_cases", "stdlib",
                                "tests/bad_inputs")
               for p in (ROOT / folder).rglob("*.setlist"))


def test_there_are_specs_to_try():
    assert len(SPECS) > 20


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_rebuilt_tree_equals_the_parse(path):
    text = path.read_text("utf-8")
    key = str(path.relative_to(ROOT))
    module, diags = parse_source(text, key)
    data = marshal.loads(marshal.dumps(parsecache.encode(module), 4))
    rebuilt = parsecache.decode(data, key)
    assert rebuilt == module
    assert [d.span.file for d in rebuilt.decls] == [key] * len(module.decls)


def _counting_parse():
    calls = []

    def parse(text, file):
        calls.append(file)
        return parse_source(text, file)

    return parse, calls


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("SETLIST_NO_CACHE", raising=False)
    return tmp_path / "cache" / "setlist" / "parse"


def test_a_second_parse_of_the_same_text_comes_from_the_cache(cache_home):
    text = (ROOT / "examples" / "quickstart" / "setlist.setlist").read_text()
    parse, calls = _counting_parse()
    cached = parsecache.cached(parse)
    first, diags = cached(text, "main.setlist")
    assert not diags and calls == ["main.setlist"]
    again, diags = cached(text, "main.setlist")
    assert again == first and not diags and calls == ["main.setlist"]
    # another file name is another entry; another text replaces the file's entry
    cached(text, "other.setlist")
    cached(text + "\n// more\n", "main.setlist")
    assert calls == ["main.setlist", "other.setlist", "main.setlist"]
    assert len(list(cache_home.glob("*.bin"))) == 2


def test_syntax_errors_are_parsed_every_time(cache_home):
    parse, calls = _counting_parse()
    cached = parsecache.cached(parse)
    for _ in range(2):
        _module, diags = cached("app {\n", "broken.setlist")
        assert diags and diags[0].code == "SL100"
    assert calls == ["broken.setlist"] * 2
    assert not list(cache_home.glob("*.bin"))


def test_a_broken_entry_is_a_miss_and_is_replaced(cache_home):
    text = (ROOT / "examples" / "quickstart" / "setlist.setlist").read_text()
    parse, calls = _counting_parse()
    cached = parsecache.cached(parse)
    expected, _ = cached(text, "main.setlist")
    (entry,) = cache_home.glob("*.bin")
    digest = marshal.loads(entry.read_bytes())[1]
    for junk in (b"", b"\x00junk", marshal.dumps((parsecache.FORMAT, digest, (999, 1))),
                 marshal.dumps((parsecache.FORMAT, digest, [[text, 0, 0, [(999, 1)], []]])),
                 marshal.dumps((parsecache.FORMAT, digest, [[text, 0, 0, [5], []]])),
                 marshal.dumps((parsecache.FORMAT + 1, digest, [])), marshal.dumps([1, 2, 3])):
        entry.write_bytes(junk)
        module, diags = cached(text, "main.setlist")
        assert module == expected and not diags
    assert len(calls) == 8
    assert cached(text, "main.setlist")[0] == expected and len(calls) == 8


def test_the_folder_is_kept_small(cache_home, monkeypatch):
    monkeypatch.setattr(parsecache, "MAX_ENTRIES", 8)
    cached = parsecache.cached(parse_source)
    for n in range(20):
        cached(f"const n{n} = {n}\n", f"main{n}.setlist")
    assert 4 <= len(list(cache_home.glob("*.bin"))) <= 8


def test_no_cache_when_turned_off(cache_home, monkeypatch):
    monkeypatch.setenv("SETLIST_NO_CACHE", "1")
    assert parsecache.cached(parse_source) is parse_source


# ---------------------------------------------------------------- pieces of a changed file

def _big_texts() -> dict[str, str]:
    """Files of at least SMALL characters: the large specs of the repository, every
    example joined into one file, and a file of the generated estate (100 apps)."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import estate
    finally:
        sys.path.remove(str(ROOT / "bench"))
    with tempfile.TemporaryDirectory() as tmp:
        project = estate.generate(Path(tmp), 100, 3)
        out = {"estate apps-00": (project / "apps-00.setlist").read_text()}
    out["examples joined"] = "\n".join(
        text for p in SPECS if "examples" in p.parts or "golden" in p.parts
        for text in [p.read_text("utf-8")] if not parse_source(text, "x")[1])
    for path in SPECS:
        text = path.read_text("utf-8")
        if len(text) >= parsecache.SMALL:
            out[str(path.relative_to(ROOT))] = text
    return {name: text for name, text in out.items()
            if len(text) >= parsecache.SMALL and not parse_source(text, "x")[1]}


BIG = _big_texts()


def _above(text: str) -> str:
    return "// a note\n\n\n" + text


def _comment(text: str) -> str:
    cuts = parse_pieces(text)
    line_end = text.index("\n", cuts[len(cuts) // 2])
    return text[:line_end] + " // changed" + text[line_end:]


def _removed(text: str) -> str:
    cuts = parse_pieces(text)
    return text[:cuts[len(cuts) // 2]] + text[cuts[len(cuts) // 2 + 1]:]


def _added(text: str) -> str:
    return text + '\nconst added_at_the_end = "x"\n'


# Edits a user makes to a file, one after the other, each with the pieces a parse of the
# whole new text has that the one before did not (at most): lines above everything, a
# changed line in the middle, a declaration removed, one added at the end (the last piece
# gains the blank line above it).
EDITS = [(_above, 1), (_comment, 1), (_removed, 0), (_added, 2)]


def parse_pieces(text: str) -> list[int]:
    from setlist.parse import pieces

    return pieces(text)


def test_there_are_large_specs_to_try():
    assert len(BIG) >= 3


@pytest.mark.parametrize("name", sorted(BIG))
def test_an_edited_file_parses_as_a_whole_parse_only_new_pieces(cache_home, name):
    text = BIG[name]
    parse, calls = _counting_parse()
    cached = parsecache.cached(parse)
    cached(text, "spec.setlist")
    for edit, new_pieces in EDITS:
        calls.clear()
        edited = edit(text)
        assert cached(edited, "spec.setlist") == parse_source(edited, "spec.setlist"), edit
        # parsed: exactly the pieces whose text the last version did not have (a file
        # below SMALL characters is parsed whole)
        before = set(_chunks(text))
        assert len(calls) == (sum(1 for c in _chunks(edited) if c not in before)
                              if len(edited) >= parsecache.SMALL else 1), edit
        if name == "estate apps-00":
            assert len(calls) == new_pieces, (edit, calls)
        text = edited


def _chunks(text: str) -> list[str]:
    cuts = parse_pieces(text)
    return [text[a:b] for a, b in zip(cuts, cuts[1:] + [len(text)], strict=True)]


def test_a_syntax_error_in_a_changed_piece_is_reported_as_a_whole_parse_reports_it(
        cache_home):
    text = BIG["estate apps-00"]
    cached = parsecache.cached(parse_source)
    cached(text, "spec.setlist")
    middle = parse_pieces(text)[2]
    broken = text[:middle] + "app {\n" + text[middle:]
    assert cached(broken, "spec.setlist") == parse_source(broken, "spec.setlist")
    assert parse_source(broken, "spec.setlist")[1]
    # the entry of the last good text is kept, and still serves it
    parse, calls = _counting_parse()
    assert parsecache.cached(parse)(text, "spec.setlist") == parse_source(text, "spec.setlist")
    assert not calls


def test_a_keyword_starting_a_line_inside_a_declaration_keeps_the_file_whole(cache_home):
    """A declaration keyword at the start of a line inside a declaration (a waiver split
    over two lines) is no cut: that file is stored as one piece, and its edits still give
    what a whole parse gives."""
    consts = "".join(f'const c{i} = "{i}"\n' for i in range(300))
    text = consts + 'waive p.q for\napp web until 2027-01-01 because "x"\n' + consts.replace(
        "const c", "const d")
    assert len(text) >= parsecache.SMALL
    cached = parsecache.cached(parse_source)
    assert cached(text, "k.setlist") == parse_source(text, "k.setlist")
    (entry,) = cache_home.glob("*.bin")
    assert len(marshal.loads(entry.read_bytes())[2]) == 1
    for old, new in (('"7"', '"77"'), ("app web", "app shop")):
        text = text.replace(old, new)
        assert cached(text, "k.setlist") == parse_source(text, "k.setlist")
