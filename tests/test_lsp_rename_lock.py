"""Language server: renaming an image or an environment carries its versions along in
setlist.lock, end to end against the real server process; what the edited project then
pins is read back through the project's own API (``load(...).plan()``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient
from test_lsp_helpers import (
    LOCK,
    SERVER,
    SPEC,
    apply_edits,
    doc,
    opened,
    pos,
    uri,
    write_files,
)

from setlist import lockfile
from setlist.diagnostics import Severity
from setlist.project import load

pytestmark = pytest.mark.asyncio

PROMOTED = LOCK.replace("      tag: 1.4.1\n", "      tag: 1.4.1\n      source: promotion:dev\n"
                        "      since: '2024-05-02T10:00:00Z'\n")


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


def workspace(tmp_path: Path, lock: str) -> Path:
    root = tmp_path / "ws"
    write_files(root, {"spec.setlist": SPEC, "setlist.lock": lock})
    return root


def pinned(root: Path) -> dict[tuple[str, str], tuple[str | None, str | None]]:
    """The version of each image in each environment, as compile would deploy it."""
    project = load([root])
    assert project.ok, project.errors
    plan, diags = project.plan()
    assert not [d for d in diags if d.severity is Severity.ERROR], diags
    return {key: (v.tag, v.digest) for key, v in plan.versions.items()}


async def rename(client, root: Path, at: str, delta: int, new_name: str,
                 nth: int = 0) -> lsp.WorkspaceEdit:
    doc_uri, text = await opened(client, root)
    return await client.text_document_rename_async(lsp.RenameParams(
        text_document=doc(doc_uri), position=pos(text, at, delta, nth), new_name=new_name))


def apply_to_disk(root: Path, edit: lsp.WorkspaceEdit) -> None:
    for name in ("spec.setlist", "setlist.lock"):
        path = root / name
        if uri(path) in edit.changes:
            path.write_text(apply_edits(path.read_text("utf-8"), edit.changes[uri(path)]))


async def test_renaming_an_image_renames_its_key_in_the_lock(client, tmp_path):
    root = workspace(tmp_path, LOCK)
    before = pinned(root)
    assert set(before) == {("api", "dev"), ("api", "prod")}
    edit = await rename(client, root, "image api", 6, "catalog")
    lock_edits = edit.changes[uri(root / "setlist.lock")]
    # One edit, of the key alone: the review shows the renamed key and nothing else.
    assert [(e.range, e.new_text) for e in lock_edits] == [
        (lsp.Range(start=lsp.Position(line=2, character=2),
                   end=lsp.Position(line=2, character=5)), "catalog")]
    apply_to_disk(root, edit)
    assert (root / "setlist.lock").read_text() == LOCK.replace("\n  api:\n", "\n  catalog:\n")
    assert pinned(root) == {("catalog", env): version
                            for (_, env), version in before.items()}


async def test_renaming_an_environment_renames_its_keys_and_promotion_sources(client,
                                                                             tmp_path):
    root = workspace(tmp_path, PROMOTED)
    before = pinned(root)
    edit = await rename(client, root, "dev {", 0, "qa")
    lock_edits = edit.changes[uri(root / "setlist.lock")]
    assert [e.new_text for e in lock_edits] == ["qa", "promotion:qa"]
    apply_to_disk(root, edit)
    assert (root / "setlist.lock").read_text() == \
        PROMOTED.replace("    dev:\n", "    qa:\n").replace("promotion:dev", "promotion:qa")
    after = pinned(root)
    assert after == {("api", "qa"): before[("api", "dev")],
                     ("api", "prod"): before[("api", "prod")]}
    assert after[("api", "qa")] == ("1.4.2", "sha256:" + "1" * 64)
    moved = lockfile.read(root).get("api", "prod")
    assert (moved.source, moved.since) == ("promotion:qa", "2024-05-02T10:00:00Z")


async def test_the_lock_is_left_alone_when_it_has_nothing_under_the_name(client, tmp_path):
    no_dev = LOCK.replace(LOCK[LOCK.index("    dev:"):LOCK.index("    prod:")], "")
    root = workspace(tmp_path, no_dev)
    edit = await rename(client, root, "dev {", 0, "qa")
    assert list(edit.changes) == [uri(root / "spec.setlist")]


@pytest.mark.parametrize("at, delta, new_name", [("ghcr {", 0, "hub"), ("{team}", 2, "squad")])
async def test_renaming_other_declarations_leaves_the_lock_alone(client, tmp_path, at, delta,
                                                                  new_name):
    root = workspace(tmp_path, LOCK)
    edit = await rename(client, root, at, delta, new_name)
    assert list(edit.changes) == [uri(root / "spec.setlist")]


async def test_an_unreadable_lock_does_not_stop_the_rename(client, tmp_path):
    root = workspace(tmp_path, "version: [1\n")
    edit = await rename(client, root, "image api", 6, "catalog")
    assert list(edit.changes) == [uri(root / "spec.setlist")]


async def test_rename_is_refused_when_the_lock_already_holds_the_new_name(client, tmp_path):
    stale = LOCK + "    qa:\n      repository: ghcr.io/example/shop-api\n      tag: 0.9.0\n"
    root = workspace(tmp_path, stale)
    with pytest.raises(JsonRpcException,
                       match="setlist.lock already holds versions for environment 'qa'"):
        await rename(client, root, "dev {", 0, "qa")
    assert (root / "setlist.lock").read_text() == stale
