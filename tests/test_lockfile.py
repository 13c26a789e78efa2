"""The lockfile: deterministic text, strict reading, merging per image and environment."""

from __future__ import annotations

import re

import pytest
import yaml

from setlist.lockfile import Lock, LockEntry, LockError, dump, parse

ENTRY = LockEntry(repository="ghcr.io/ex/api", tag="1.10", digest="sha256:" + "a" * 64,
                  platforms=("linux/amd64", "linux/arm64"), created="2026-11-20T10:00:00Z",
                  strategy='semver("^1.4")', since="2026-11-28T20:00:00Z", source="registry")


def test_round_trip_and_sorted_deterministic_text():
    lock = Lock(entries={("web", "prod"): ENTRY.model_copy(update={"repository": "x/web"}),
                         ("api", "prod"): ENTRY,
                         ("api", "dev"): ENTRY.model_copy(update={"source": "promotion:x"})})
    text = dump(lock)
    assert parse(text) == lock
    assert text == dump(Lock(entries=dict(reversed(list(lock.entries.items())))))
    assert text.index("api:") < text.index("web:") and text.index("dev:") < text.index("prod:")
    assert text.startswith("# Written by setlist: the version each image runs")
    # YAML 1.1 readers keep tags and dates as strings
    data = yaml.safe_load(text)
    assert data["images"]["api"]["prod"]["tag"] == "1.10"
    assert data["images"]["api"]["prod"]["since"] == "2026-11-28T20:00:00Z"


def test_merge_replaces_only_named_entries():
    lock = Lock(entries={("api", "dev"): ENTRY, ("api", "prod"): ENTRY})
    newer = ENTRY.model_copy(update={"tag": "1.11"})
    merged = lock.with_entries({("api", "dev"): newer})
    assert merged.get("api", "dev").tag == "1.11" and merged.get("api", "prod").tag == "1.10"
    assert merged.without({("api", "prod")}).entries.keys() == {("api", "prod")}


@pytest.mark.parametrize("text, message", [
    ("version: 2\nimages: {}\n", "lock format version 2 is not 1"),
    ("images: {}\n", "lock format version None is not 1"),
    ("version: 1\nimages: [a]\n", "'images' must be a mapping"),
    ("version: 1\nimages:\n  api:\n    dev:\n      tag: x\n", "images.api.dev.repository"),
    ("version: 1\nimages:\n  api:\n    dev:\n      repository: r\n      password: x\n",
     "images.api.dev.password"),
    ("version: 1\nimages: {a: [\n", "not valid YAML"),
])
def test_bad_locks_are_clear_errors(text, message):
    with pytest.raises(LockError, match=re.escape(message)):
        parse(text)


def test_empty_file_is_an_empty_lock():
    assert parse("") == Lock()
