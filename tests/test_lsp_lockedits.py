"""The lock edits behind rename (setlist.lsp.lockedits) on locks of any layout: the names
are replaced where they stand, and the result reads back as the same versions."""

from __future__ import annotations

import pytest

from setlist import lockfile
from setlist.lsp.lockedits import LockRenameError, apply, rename

HAND_WRITTEN = """\
# kept by hand for a while
version: 1
images:
  api:
    dev: {repository: ghcr.io/x/api, tag: '1.0.0'}   # flow style, a comment
    "prod":
      repository: ghcr.io/x/api
      platforms: [linux/amd64, linux/arm64]
      source: promotion:dev
  web:
    dev:
      repository: ghcr.io/x/web
"""


@pytest.mark.parametrize("kind, old, new, expected", [
    ("image", "api", "catalog", HAND_WRITTEN.replace("  api:", "  catalog:")),
    ("environment", "dev", "qa",
     HAND_WRITTEN.replace("    dev:", "    qa:").replace("promotion:dev", "promotion:qa")),
    # The new name is written as `setlist resolve` would write it: quoted where YAML
    # would read it as something else than the name.
    ("environment", "prod", "null", HAND_WRITTEN.replace('"prod":', '"null":')),
    ("environment", "prod", "yes", HAND_WRITTEN.replace('"prod":', '"yes":')),
])
def test_names_are_replaced_in_place(kind, old, new, expected):
    edited = apply(HAND_WRITTEN, rename(HAND_WRITTEN, kind, old, new))
    assert edited == expected
    before = lockfile.parse(HAND_WRITTEN).entries
    after = lockfile.parse(edited).entries
    assert len(after) == len(before)
    assert {(new if kind == "image" and i == old else i,
             new if kind == "environment" and e == old else e) for i, e in before} == set(after)


def test_nothing_to_do_without_entries_under_the_name():
    assert rename(HAND_WRITTEN, "image", "nope", "other") == []
    assert rename(HAND_WRITTEN, "registry", "ghcr", "hub") == []
    assert rename(HAND_WRITTEN, "image", "api", "api") == []


def test_a_name_the_lock_already_holds_is_refused():
    with pytest.raises(LockRenameError, match="already holds versions for image 'web'"):
        rename(HAND_WRITTEN, "image", "api", "web")


def test_a_lock_the_edit_cannot_follow_is_refused():
    # The environment's key is an alias of a scalar elsewhere: no text to replace.
    anchored = "version: 1\nname: &k dev\nimages:\n  api:\n    *k : {repository: r}\n"
    assert ("api", "dev") in lockfile.parse(anchored).entries
    with pytest.raises(LockRenameError, match="cannot edit"):
        rename(anchored, "environment", "dev", "qa")


def test_an_unreadable_lock_is_an_error_of_its_own():
    with pytest.raises(lockfile.LockError):
        rename("version: [1\n", "image", "api", "catalog")
