"""The parse cache (setlist.parsecache): a syntax tree rebuilt from the cache equals the
parse of the same text, for every spec file of the repository; entries that are broken,
foreign or stale are ignored; files with syntax errors are never stored."""

from __future__ import annotations

import marshal

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
    # another file name or another text is another entry
    cached(text, "other.setlist")
    cached(text + "\n// more\n", "main.setlist")
    assert calls == ["main.setlist", "other.setlist", "main.setlist"]
    assert len(list(cache_home.glob("*.bin"))) == 3


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
    for junk in (b"", b"\x00junk", marshal.dumps((parsecache.FORMAT, (999, 1))),
                 marshal.dumps((parsecache.FORMAT + 1, None)), marshal.dumps([1, 2, 3])):
        entry.write_bytes(junk)
        module, diags = cached(text, "main.setlist")
        assert module == expected and not diags
    assert len(calls) == 6
    assert cached(text, "main.setlist")[0] == expected and len(calls) == 6


def test_the_folder_is_kept_small(cache_home, monkeypatch):
    monkeypatch.setattr(parsecache, "MAX_ENTRIES", 8)
    cached = parsecache.cached(parse_source)
    for n in range(20):
        cached(f"const n{n} = {n}\n", "main.setlist")
    assert 4 <= len(list(cache_home.glob("*.bin"))) <= 8


def test_no_cache_when_turned_off(cache_home, monkeypatch):
    monkeypatch.setenv("SETLIST_NO_CACHE", "1")
    assert parsecache.cached(parse_source) is parse_source
