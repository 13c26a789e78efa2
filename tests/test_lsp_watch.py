"""Language server: files that change outside the editor (workspace/didChangeWatchedFiles)
and workspace folders that come and go, end to end against the real server process.
Tests wait for what the server sends; none of them sleeps."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient
from test_lsp_helpers import (
    SERVER,
    SPEC,
    TIMEOUT,
    change,
    complete,
    diagnostics,
    hover_text,
    open_file,
    pos,
    start,
    uri,
    write_files,
)

pytestmark = pytest.mark.asyncio

Created, Changed, Deleted = (lsp.FileChangeType.Created, lsp.FileChangeType.Changed,
                             lsp.FileChangeType.Deleted)


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):
    # What the server asks of the client about watching, in order (the client agrees).
    asked: asyncio.Queue = asyncio.Queue()

    @lsp_client.feature(lsp.CLIENT_REGISTER_CAPABILITY)
    def register(params: lsp.RegistrationParams) -> None:
        asked.put_nowait(params)

    @lsp_client.feature(lsp.CLIENT_UNREGISTER_CAPABILITY)
    def unregister(params: lsp.UnregistrationParams) -> None:
        asked.put_nowait(params)

    lsp_client.asked = asked
    yield
    await lsp_client.shutdown_session()


async def next_request(client: LanguageClient):
    return await asyncio.wait_for(client.asked.get(), TIMEOUT)


def files_changed(client: LanguageClient, *events: tuple[Path, lsp.FileChangeType]) -> None:
    client.workspace_did_change_watched_files(lsp.DidChangeWatchedFilesParams(changes=[
        lsp.FileEvent(uri=uri(path), type=kind) for path, kind in events]))


def rewrite_keeping_stamp(path: Path, text: str) -> None:
    """Write ``text`` (of the old text's size) and put the old modification time back: a
    rewrite within the file system's timestamp granularity looks the same to stat()."""
    before = path.stat()
    assert len(text.encode()) == before.st_size
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def watched_patterns(params: lsp.RegistrationParams) -> list:
    [registration] = params.registrations
    assert registration.method == lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES
    return [w["globPattern"] for w in registration.register_options["watchers"]]


INVENTORY = ("- name: eu1\n  server: https://eu1.example.com\n"
             "  labels: {env: prod, region: eu-west-1}\n")


# ---------------------------------------------------------------- registration

async def test_watchers_are_registered_for_specs_locks_and_the_inventory(client, tmp_path):
    root = tmp_path / "ws"
    inventory = write_files(tmp_path / "fleet", {"clusters.yaml": INVENTORY})["clusters.yaml"]
    write_files(root, {"spec.setlist": SPEC})
    await start(client, root, watch=True, inventory=str(inventory))
    assert watched_patterns(await next_request(client)) == [
        "**/*.setlist", "**/setlist.lock",
        {"baseUri": uri(inventory.parent), "pattern": "clusters.yaml"}]
    # Another inventory: the old watchers go, watchers for the new file come.
    other = write_files(tmp_path / "fleet2", {"eu.yaml": INVENTORY})["eu.yaml"]
    client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(
        settings={"setlist": {"inventory": str(other)}}))
    gone = await next_request(client)
    assert isinstance(gone, lsp.UnregistrationParams)
    assert [u.method for u in gone.unregisterations] == [lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES]
    assert watched_patterns(await next_request(client))[2] == {
        "baseUri": uri(other.parent), "pattern": "eu.yaml"}


async def test_no_watchers_are_registered_when_the_client_cannot_take_them(client, tmp_path):
    root = tmp_path / "ws"
    write_files(root, {"spec.setlist": SPEC})
    await start(client, root)
    # The server would have asked right after `initialized`, before analysing the file.
    await diagnostics(client, open_file(client, root / "spec.setlist"))
    assert client.asked.empty()


# ---------------------------------------------------------------- spec files on disk

APPS = 'app shop {\n  base = "a"\n  namespace = "shop"\n  deploy = [dev, qa]\n}\n'
ENVS = 'environment dev { clusters = cluster.env == "dev" }\n'


async def test_created_and_deleted_files_are_analysed_again(client, tmp_path):
    root = tmp_path / "ws"
    files = write_files(root, {"apps.setlist": APPS, "envs.setlist": ENVS})
    await start(client, root, watch=True)
    apps_uri = open_file(client, files["apps.setlist"])
    [unknown] = await diagnostics(client, apps_uri)
    assert unknown.message.startswith("unknown environment 'qa'")

    # `setlist new env qa` writes a file: the environment is known now.
    qa = write_files(root, {"envs/qa.setlist": 'environment qa { clusters = all }\n'})
    client.diagnostics.pop(apps_uri)
    files_changed(client, (qa["envs/qa.setlist"], Created))
    assert list(await diagnostics(client, apps_uri)) == []

    # A file that is not open, with a problem of its own: reported, then cleared when
    # it is deleted.
    broken = write_files(root, {"broken.setlist": "environment qa2 { clusters = }\n"})
    files_changed(client, (broken["broken.setlist"], Created))
    found = await diagnostics(client, uri(broken["broken.setlist"]))
    assert [d.code for d in found] == ["SL100"]
    broken["broken.setlist"].unlink()
    files_changed(client, (broken["broken.setlist"], Deleted))
    assert list(await diagnostics(client, uri(broken["broken.setlist"]), lambda d: not d)) == []

    # Deleting the environment's file makes `qa` unknown again.
    client.diagnostics.pop(apps_uri, None)
    qa["envs/qa.setlist"].unlink()
    files_changed(client, (qa["envs/qa.setlist"], Deleted))
    [again] = await diagnostics(client, apps_uri, lambda d: len(d) > 0)
    assert again.message.startswith("unknown environment 'qa'")


async def test_an_open_buffer_wins_over_its_file_on_disk(client, tmp_path):
    root = tmp_path / "ws"
    files = write_files(root, {"apps.setlist": APPS, "envs.setlist": ENVS})
    await start(client, root, watch=True)
    apps_uri = open_file(client, files["apps.setlist"])
    assert [d.code for d in await diagnostics(client, apps_uri)] == ["SL200"]
    # A checkout changes both files; apps.setlist is open in the editor, unsaved.
    files["apps.setlist"].write_text(APPS.replace("[dev, qa]", "[dev, qa, nope]"))
    files["envs.setlist"].write_text(ENVS + "environment qa { clusters = all }\n")
    client.diagnostics.pop(apps_uri)
    files_changed(client, (files["apps.setlist"], Changed), (files["envs.setlist"], Changed))
    # envs.setlist is read again; apps.setlist keeps the editor's text (no `nope`).
    assert list(await diagnostics(client, apps_uri)) == []


# ---------------------------------------------------------------- the lock and the inventory

POLICED = 'import "std/policies" as std\n' + SPEC + "use std.no_latest_tag\n"
LOCKED = """\
version: 1
images:
  api:
    dev:
      repository: ghcr.io/example/shop-api
      tag: {dev}
    prod:
      repository: ghcr.io/example/shop-api
      tag: 1.4.1
"""


async def test_a_rewritten_lock_is_judged_and_shown_again(client, tmp_path):
    root = tmp_path / "ws"
    files = write_files(root, {"spec.setlist": POLICED,
                               "setlist.lock": LOCKED.format(dev="1.4.20")})
    await start(client, root, watch=True)
    doc_uri = open_file(client, files["spec.setlist"])
    assert list(await diagnostics(client, doc_uri)) == []
    at = pos(POLICED, "[api]", 2)
    assert "| dev | `1.4.20` |" in await hover_text(client, doc_uri, at)

    # `setlist resolve` (or a checkout) rewrites the lock: dev runs `latest` now.
    rewrite_keeping_stamp(files["setlist.lock"], LOCKED.format(dev="latest"))
    client.diagnostics.pop(doc_uri)
    files_changed(client, (files["setlist.lock"], Changed))
    [violation] = await diagnostics(client, doc_uri, lambda d: len(d) > 0)
    assert violation.code == "SL800"
    assert "shop runs api:latest in dev" in violation.message
    shown = await hover_text(client, doc_uri, at)
    assert "| dev | `latest` |" in shown and "1.4.20" not in shown

    # The lock is deleted: nothing is locked, nothing violates the policy.
    files["setlist.lock"].unlink()
    files_changed(client, (files["setlist.lock"], Deleted))
    assert list(await diagnostics(client, doc_uri, lambda d: not d)) == []
    assert "| dev |" not in await hover_text(client, doc_uri, at)


async def test_a_changed_inventory_is_read_again_and_never_analysed(client, tmp_path):
    root = tmp_path / "ws"
    files = write_files(root, {"spec.setlist": SPEC})
    inventory = write_files(tmp_path / "fleet", {"clusters.yaml": INVENTORY})["clusters.yaml"]
    await start(client, root, watch=True, inventory=str(inventory))
    doc_uri = open_file(client, files["spec.setlist"])
    await diagnostics(client, doc_uri)
    edited = SPEC.replace('cluster.env == "dev" }', "cluster. }")
    change(client, doc_uri, 2, [(None, edited)])
    at = pos(edited, "cluster. }", len("cluster."))
    assert set(await complete(client, doc_uri, at)) == {"env", "region"}

    rewrite_keeping_stamp(inventory, INVENTORY.replace("region", "canary"))
    files_changed(client, (inventory, Changed))
    assert set(await complete(client, doc_uri, at)) == {"env", "canary"}
    # The inventory is no spec: an edit's analysis comes after anything the event started,
    # and nothing was published for the inventory.
    change(client, doc_uri, 3, [(None, SPEC)])
    assert list(await diagnostics(client, doc_uri)) == []
    assert uri(inventory) not in client.diagnostics


# ---------------------------------------------------------------- workspace folders

async def test_removing_a_folder_clears_the_diagnostics_of_its_files(client, tmp_path):
    main = tmp_path / "main"
    other = tmp_path / "other"
    write_files(main, {"spec.setlist": SPEC})
    files = write_files(other, {"ok.setlist": ENVS,
                                "broken.setlist": "environment qa { clusters = }\n"})
    await start(client, main, other)
    ok_uri = open_file(client, files["ok.setlist"])
    await diagnostics(client, ok_uri)
    broken_uri = uri(files["broken.setlist"])
    assert [d.code for d in await diagnostics(client, broken_uri)] == ["SL100"]
    client.diagnostics.pop(broken_uri)
    client.workspace_did_change_workspace_folders(lsp.DidChangeWorkspaceFoldersParams(
        event=lsp.WorkspaceFoldersChangeEvent(
            added=[], removed=[lsp.WorkspaceFolder(uri=uri(other), name="other")])))
    assert list(await diagnostics(client, broken_uri)) == []


async def test_an_open_file_of_a_removed_folder_moves_to_the_folder_around_it(client,
                                                                            tmp_path):
    outer = tmp_path / "fleet"
    inner = outer / "team"
    files = write_files(outer, {"envs.setlist": ENVS, "team/app.setlist": APPS.replace(
        "[dev, qa]", "[dev]")})
    await start(client, outer, inner)
    # The editor's text names an environment nobody declares; `dev` is declared in the
    # outer folder only, unknown while the file belongs to the inner one.
    app_uri = open_file(client, files["team/app.setlist"], APPS.replace("[dev, qa]",
                                                                        "[dev, dve]"))
    found = await diagnostics(client, app_uri)
    assert sorted(d.message.split("\n")[0] for d in found) == [
        "unknown environment 'dev'", "unknown environment 'dve'"]
    client.diagnostics.pop(app_uri)
    client.workspace_did_change_workspace_folders(lsp.DidChangeWorkspaceFoldersParams(
        event=lsp.WorkspaceFoldersChangeEvent(
            added=[], removed=[lsp.WorkspaceFolder(uri=uri(inner), name="team")])))
    # Not cleared: analysed at once in the outer folder, with the editor's text.
    [left] = await diagnostics(client, app_uri)
    assert left.message.startswith("unknown environment 'dve'")
    assert "did you mean 'dev'?" in left.message


async def test_an_added_folder_takes_over_an_open_file_outside_every_folder(client,
                                                                          tmp_path):
    main = tmp_path / "main"
    shop = tmp_path / "shop"
    write_files(main, {"spec.setlist": SPEC})
    files = write_files(shop, {"envs.setlist": ENVS,
                               "app.setlist": APPS.replace("[dev, qa]", "[dev]")})
    await start(client, main)
    app_uri = open_file(client, files["app.setlist"])
    [alone] = await diagnostics(client, app_uri)  # checked on its own: `dev` is unknown
    assert alone.message.startswith("unknown environment 'dev'")
    client.diagnostics.pop(app_uri)
    client.workspace_did_change_workspace_folders(lsp.DidChangeWorkspaceFoldersParams(
        event=lsp.WorkspaceFoldersChangeEvent(
            added=[lsp.WorkspaceFolder(uri=uri(shop), name="shop")], removed=[])))
    assert list(await diagnostics(client, app_uri)) == []
