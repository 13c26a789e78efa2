"""A cold `setlist check` loads only what checking needs, and the shortcuts that keep it so
answer exactly as the libraries they stand in for (pydantic, ruamel.yaml)."""

from __future__ import annotations

import subprocess
import sys

import pydantic
import pydantic_core
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

import setlist
from conftest import EXAMPLES, ROOT
from setlist import lockfile
from setlist import spec as s
from setlist.diagnostics import Span
from setlist.lockfile import Lock, LockEntry, dump, parse

# Importing any of these costs a cold check more than the check itself.
HEAVY = ("pydantic", "pydantic_core", "ruamel", "setlist.compile", "setlist.plan")

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_check_of_the_quickstart_loads_no_heavy_module():
    script = ("import sys\n"
              "from setlist.cli import main\n"
              "sys.argv = ['setlist', 'check', sys.argv[1]]\n"
              "try:\n"
              "    main()\n"
              "except SystemExit as exc:\n"
              "    code = exc.code\n"
              "print(code, ' '.join(sorted(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", script, str(EXAMPLES / "quickstart")],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    first, rest = done.stdout.rsplit("\n", 2)[-2].split(" ", 1)
    assert done.stdout.startswith("checked 1 file: no problems found\n"), done.stderr
    assert first == "0"
    loaded = set(rest.split())
    assert "setlist.policy" in loaded and "setlist.lockfile" in loaded  # the lock was read
    assert sorted(m for m in loaded if m.split(".")[0] in HEAVY or m.startswith(HEAVY)) == []


# ---------------------------------------------------------------- spec records


def test_a_record_takes_exact_values_and_leaves_the_rest_to_pydantic():
    span = Span(file="f", line=1, column=1, end_line=1, end_column=2)
    image = s.Image(name="i", registry=None, host="h", repository="r", span=span,
                    strategy=s.Strategy(kind="semver"), platforms=["linux/amd64"])
    assert image.platforms == ("linux/amd64",)
    # conversions pydantic makes are still made, by pydantic
    assert s.Freeze(cron="0 * * * *", duration_seconds="60", span=span).duration_seconds == 60
    assert s.Environment(name="e", span=span, selector={"kind": "all"}).selector == s.SelAll()
    with pytest.raises(pydantic.ValidationError, match="host\n  Field required"):
        s.Registry(name="r", span=span)
    with pytest.raises(pydantic.ValidationError, match="Input should be 'semver'"):
        s.Strategy(kind="newest")
    with pytest.raises(pydantic.ValidationError, match="Instance is frozen"):
        image.name = "other"  # type: ignore[misc]


def test_records_dump_as_pydantic_dumps_them():
    spec = setlist.load(EXAMPLES / "quickstart").spec
    assert spec is not None
    for record in (spec, spec.gitops, *spec.environments, *spec.images, *spec.apps):
        assert record.model_dump_json() == pydantic_core.to_json(record.model_dump()).decode()
    odd = s.Base(path='a\u00e9\n\t\x01\x7f"\\/\U0001f600\u2028')
    assert odd.model_dump_json() == pydantic_core.to_json(odd.model_dump()).decode()


# ---------------------------------------------------------------- the lock as written

NAME = st.text(st.sampled_from("abz_-.019"), min_size=1, max_size=6) | st.sampled_from(
    ["api", "prod", "true", "on", "null", "y", "1.0", "-x", "a: b", "#c", "é", "a b", "x:"])
TEXT = st.text(min_size=0, max_size=12) | st.sampled_from(
    ["1.10", "2026-11-20", "2026-11-20T10:00:00Z", "sha256:" + "a" * 64, 'semver("^1.4")',
     "main-0b7e1d4", "latest", "promotion:dev", "yes", "Null", "0x1F", "1e3", ".inf", "~"])
ENTRIES = st.builds(LockEntry, repository=TEXT.filter(bool), tag=st.none() | TEXT,
                    digest=st.none() | TEXT, platforms=st.lists(TEXT, max_size=3),
                    created=st.none() | TEXT, strategy=TEXT, since=st.none() | TEXT,
                    source=TEXT)
LOCKS = st.dictionaries(st.tuples(NAME, NAME), ENTRIES, max_size=6).map(
    lambda entries: Lock(entries=entries))


def _ruamel(text: str):
    return YAML(typ="safe", pure=True).load(text)


def _parsed_by_the_yaml_library(text: str) -> Lock:
    shortcut = lockfile._as_written
    lockfile._as_written = lambda text: lockfile._UNUSUAL
    try:
        return parse(text)
    finally:
        lockfile._as_written = shortcut


@SETTINGS
@given(LOCKS)
def test_a_lock_as_written_reads_as_the_yaml_library_reads_it(lock):
    text = dump(lock)
    data = lockfile._as_written(text)
    if data is not lockfile._UNUSUAL:
        assert data == _ruamel(text)
        assert parse(text) == _parsed_by_the_yaml_library(text)


@SETTINGS
@given(LOCKS, st.data())
def test_an_edited_lock_reads_as_the_yaml_library_reads_it_or_goes_to_it(lock, data):
    lines = dump(lock).split("\n")
    at = data.draw(st.integers(0, len(lines) - 1))
    line = lines[at]
    cut = data.draw(st.integers(0, len(line)))
    piece = data.draw(st.sampled_from([" ", "  ", "- ", ":", ": ", "#", " #", '"', "'", "\\",
                                       "\t", "\r", "\n", "\n  ", "\x85", "\u2028", "\ufeff",
                                       "é", "{}", "[]", "[a]", "---", "...", "x", "1", "0x1",
                                       "true", "~", "&a", "*a", "!t", "|", ">", "%", "?",
                                       ",", "@", "`"]))
    lines[at] = line[:cut] + piece + line[cut:]
    text = "\n".join(lines)
    fast = lockfile._as_written(text)
    if fast is lockfile._UNUSUAL:
        return
    assert fast == _ruamel(text)


def test_the_written_form_is_read_without_the_yaml_library():
    text = (EXAMPLES / "quickstart" / "setlist.lock").read_text("utf-8")
    data = lockfile._as_written(text)
    assert data == _ruamel(text)
    assert lockfile._as_written(dump(parse(text))) == data
    # hand-written locks (unquoted versions) go to the YAML library, which reads 1.4.0 as text
    assert lockfile._as_written("version: 1\nimages:\n  a:\n    b:\n      tag: 1.4.0\n") \
        is lockfile._UNUSUAL
