"""The language server end to end: `python -m setlist lsp` as a subprocess, driven over stdio
by pytest-lsp, on workspaces of real files. Tests wait for what the server publishes;
none of them sleeps."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient
from test_lsp_helpers import (
    LOCK,
    SERVER,
    SPEC,
    change,
    complete,
    diagnostics,
    doc,
    hover_text,
    open_file,
    opened,
    pos,
    start,
    uri,
    write_files,
)

pytestmark = pytest.mark.asyncio


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    write_files(root, {"spec.setlist": SPEC, "setlist.lock": LOCK})
    return root


# ---------------------------------------------------------------- diagnostics

async def test_clean_spec_publishes_no_diagnostics(client, workspace):
    await start(client, workspace)
    doc_uri = open_file(client, workspace / "spec.setlist")
    assert list(await diagnostics(client, doc_uri)) == []


async def test_edit_reports_unknown_name_with_code_hint_and_related(client, workspace):
    doc_uri, text = await opened(client, workspace)
    at = pos(text, "[dev, prod]", 1)
    change(client, doc_uri, 2, [(lsp.Range(start=at, end=lsp.Position(
        line=at.line, character=at.character + 3)), "dve")])
    found = await diagnostics(client, doc_uri, lambda d: len(d) > 0)
    [diag] = [d for d in found if d.code == "SL200"]
    assert diag.severity == lsp.DiagnosticSeverity.Error
    assert diag.message.startswith("unknown environment 'dve'")
    assert "hint: did you mean 'dev'?" in diag.message
    assert diag.range == lsp.Range(start=at, end=lsp.Position(line=at.line,
                                                              character=at.character + 3))
    assert diag.source == "setlist"
    related = diag.related_information[0]
    assert related.location.uri == doc_uri
    assert related.location.range.start == pos(text, "dev {", 0)
    assert related.message == "'dev' is declared here"


async def test_syntax_error_is_a_diagnostic_and_fixing_it_clears_it(client, workspace):
    doc_uri, text = await opened(client, workspace)
    broken = text.replace("writeback = pull_request", "writeback pull_request")
    change(client, doc_uri, 2, [(None, broken)])
    found = await diagnostics(client, doc_uri, lambda d: len(d) > 0)
    assert [d.code for d in found] == ["SL100"]
    assert found[0].range.start.line == broken[:broken.index("pull_request")].count("\n")
    change(client, doc_uri, 3, [(None, text)])
    assert list(await diagnostics(client, doc_uri)) == []


async def test_diagnostics_reach_the_file_that_imports_the_edited_one(client, tmp_path):
    root = tmp_path / "ws"
    files = write_files(root, {
        "envs.setlist": 'environment dev { clusters = cluster.env == "dev" }\n',
        "apps.setlist": 'import "./envs.setlist" as envs\n\n'
                        'app shop {\n  base = "apps/shop/base"\n  namespace = "shop"\n'
                        "  deploy = [envs.dev]\n}\n"})
    await start(client, root)
    envs_uri = open_file(client, files["envs.setlist"])
    await diagnostics(client, envs_uri)
    apps_uri = uri(files["apps.setlist"])
    client.diagnostics.pop(apps_uri, None)
    change(client, envs_uri, 2, [(None, 'environment qa { clusters = cluster.env == "qa" }\n')])
    found = await diagnostics(client, apps_uri, lambda d: len(d) > 0)
    assert [d.code for d in found] == ["SL203"]
    assert "module 'envs' has no environment 'dev'" in found[0].message
    client.diagnostics.pop(apps_uri)
    change(client, envs_uri, 3, [(None, files["envs.setlist"].read_text())])
    assert list(await diagnostics(client, apps_uri)) == []


async def test_burst_of_edits_is_debounced_into_the_last_text(client, workspace):
    """The first edit after a quiet spell is analysed at once; the rest of the burst waits
    for the pause and is analysed once, with the last text: at most two publications."""
    await start(client, workspace, debounceMs=200)
    doc_uri = open_file(client, workspace / "spec.setlist")
    await diagnostics(client, doc_uri)
    published: list[int] = []
    for version, name in enumerate(["d", "dx", "dxy", "dev"], start=2):
        change(client, doc_uri, version, [(None, SPEC.replace("[dev, prod]",
                                                              f"[{name}, prod]"))])
    while True:
        found = list(await diagnostics(client, doc_uri))
        published.append(len(found))
        client.diagnostics.pop(doc_uri, None)
        if not found:
            break
    assert len(published) <= 2, published  # the leading analysis, then the last text


# ---------------------------------------------------------------- hover

async def test_hover_image_shows_doc_and_locked_versions(client, workspace):
    doc_uri, text = await opened(client, workspace)
    shown = await hover_text(client, doc_uri, pos(text, "[api]", 2))
    assert "image api" in shown
    assert "The storefront API.\nDeployed everywhere." in shown
    assert "| dev | `1.4.2` | `sha256:1111" in shown
    assert "| prod | `1.4.1` | `sha256:2222" in shown
    assert "ghcr.io/example/shop-api" in shown


async def test_hover_environment_shows_argo_cd_selector(client, workspace):
    doc_uri, text = await opened(client, workspace)
    shown = await hover_text(client, doc_uri, pos(text, "prod]", 1))
    assert "environment prod" in shown
    assert "matchLabels:\n" in shown and "env: prod" in shown
    assert "- key: region\n" in shown and "operator: In" in shown
    assert "- eu-west-1" in shown


async def test_hover_constant_field_and_builtin(client, workspace):
    doc_uri, text = await opened(client, workspace)
    assert "const team: string" in await hover_text(client, doc_uri, pos(text, "{team}", 2))
    field = await hover_text(client, doc_uri, pos(text, "strategy", 2))
    assert "image.strategy" in field and "newest_build" in field
    assert "highest version" in await hover_text(client, doc_uri, pos(text, "semver", 1))


async def test_hover_on_nothing_answers_nothing(client, workspace):
    doc_uri, text = await opened(client, workspace)
    result = await client.text_document_hover_async(
        lsp.HoverParams(text_document=doc(doc_uri), position=pos(text, "\n\nregistry", 1)))
    assert result is None


# ---------------------------------------------------------------- completion

async def edit_and_complete(client, doc_uri, text: str, old: str, new: str,
                            cursor: str) -> list[str]:
    """Replace ``old`` by ``new`` in the buffer and complete right after ``cursor``."""
    edited = text.replace(old, new, 1)
    change(client, doc_uri, 2, [(None, edited)])
    return await complete(client, doc_uri, pos(edited, cursor, len(cursor)))


async def test_completion_offers_keywords_at_top_level(client, workspace):
    doc_uri, text = await opened(client, workspace)
    labels = await edit_and_complete(client, doc_uri, text, "const team", "im\nconst team",
                                     "\nim")
    assert {"import", "image", "environment", "app", "policy", "waive"} <= set(labels)
    assert "api" not in labels


async def test_completion_offers_names_of_the_kind_the_field_wants(client, workspace):
    doc_uri, text = await opened(client, workspace)
    images = await edit_and_complete(client, doc_uri, text, "images    = [api]",
                                     "images    = [", "images    = [")
    assert "api" in images and "dev" not in images and "ghcr" not in images
    deploy = await edit_and_complete(client, doc_uri, text, "deploy    = [dev, prod]",
                                     "deploy    = [dev, ", "deploy    = [dev, ")
    assert {"dev", "prod"} <= set(deploy) and "api" not in deploy
    repo = await edit_and_complete(client, doc_uri, text, 'repository = ghcr / "example/shop-api"',
                                   "repository = ", "repository = ")
    assert "ghcr" in repo and "api" not in repo


async def test_completion_offers_fields_strategies_and_std_members(client, workspace):
    doc_uri, text = await opened(client, workspace)
    fields = await edit_and_complete(client, doc_uri, text, '  strategy   = semver("^1.4")\n',
                                     '  strategy   = semver("^1.4")\n  al\n', "\n  al")
    assert "allow_tags" in fields and "ignore_tags" in fields
    assert "strategy" not in fields and "repository" not in fields  # already set
    strategies = await edit_and_complete(client, doc_uri, text, 'semver("^1.4")', "",
                                         "strategy   = ")
    assert {"semver", "newest_build", "alphabetical", "digest"} <= set(strategies)
    members = await edit_and_complete(client, doc_uri, text, "sync.auto", "sync.",
                                      "sync      = sync.")
    assert {"auto", "auto_retry", "manual_only"} <= set(members)


async def test_completion_offers_cluster_labels_from_the_inventory(client, workspace):
    (workspace / "clusters.yaml").write_text(
        "- name: eu1\n  server: https://eu1.example.com\n"
        "  labels: {env: prod, region: eu-west-1}\n"
        "- name: dev1\n  server: https://dev1.example.com\n  labels: {env: dev, canary: 'true'}\n")
    doc_uri, text = await opened(client, workspace, inventory="clusters.yaml")
    keys = await edit_and_complete(client, doc_uri, text, 'cluster.env == "dev" }',
                                   "cluster. }", "clusters = cluster.")
    assert set(keys) == {"env", "region", "canary"}
    values = await edit_and_complete(client, doc_uri, text, 'cluster.env == "dev" }',
                                     'cluster.env == "" }', 'cluster.env == "')
    assert values == ["dev", "prod"]


# ---------------------------------------------------------------- robustness

GARBAGE = [
    "\x00\x01 app {{{ ]]] \"unterminated\n",
    "environment e { clusters = " + "[" * 3000 + "\n",
    "app 🚀 { base = \"${\" }\n#!/bin/sh\n@@@\n",
    "",
]


@pytest.mark.parametrize("text", GARBAGE, ids=["control", "deep", "symbols", "empty"])
async def test_bad_input_is_diagnosed_and_every_request_still_answers(client, tmp_path, text):
    root = tmp_path / "ws"
    write_files(root, {"bad.setlist": text})
    await start(client, root)
    doc_uri = open_file(client, root / "bad.setlist")
    found = await diagnostics(client, doc_uri)
    assert all(d.code.startswith("SL1") for d in found) and (found or not text)
    for at in (lsp.Position(line=0, character=3), lsp.Position(line=99, character=99)):
        ident = doc(doc_uri)
        await client.text_document_hover_async(lsp.HoverParams(text_document=ident,
                                                               position=at))
        await client.text_document_completion_async(lsp.CompletionParams(
            text_document=ident, position=at))
        await client.text_document_definition_async(lsp.DefinitionParams(
            text_document=ident, position=at))
    assert not await client.text_document_formatting_async(lsp.DocumentFormattingParams(
        text_document=doc(doc_uri), options=lsp.FormattingOptions(tab_size=2,
                                                                   insert_spaces=True))) \
        or not text
    # The server is still alive and analysing.
    change(client, doc_uri, 2, [(None, 'environment dev { clusters = cluster.env == "dev" }\n')])
    assert list(await diagnostics(client, doc_uri)) == []


async def test_file_outside_the_workspace_is_checked_on_its_own(client, tmp_path, workspace):
    lone = write_files(tmp_path / "elsewhere", {
        "lone.setlist": "app x { base = \"a\"; namespace = \"x\"; deploy = [dev] }\n"})
    await start(client, workspace)
    doc_uri = open_file(client, lone["lone.setlist"])
    found = await diagnostics(client, doc_uri)
    # `dev` is declared in the workspace, not next to this file: unknown here.
    assert [d.code for d in found] == ["SL200"]


async def test_closing_a_buffer_falls_back_to_the_file_on_disk(client, workspace):
    doc_uri, text = await opened(client, workspace)
    change(client, doc_uri, 2, [(None, text.replace("[dev, prod]", "[dve, prod]"))])
    assert await diagnostics(client, doc_uri, lambda d: len(d) > 0)
    client.diagnostics.pop(doc_uri)
    client.text_document_did_close(lsp.DidCloseTextDocumentParams(text_document=doc(doc_uri)))
    assert list(await diagnostics(client, doc_uri)) == []


async def test_completion_of_std_policies_and_waiver_scopes(client, tmp_path):
    root = tmp_path / "ws"
    text = ('import "std/policies" as std\n\n'
            'environment prod { clusters = cluster.env == "prod" }\n'
            "use std.no_latest_tag\n")
    write_files(root, {"spec.setlist": text})
    doc_uri, text = await opened(client, root)
    policies = await edit_and_complete(client, doc_uri, text, "use std.no_latest_tag",
                                       "use std.", "use std.")
    assert {"no_latest_tag", "digest_pinned", "min_soak"} <= set(policies)
    kinds = await edit_and_complete(client, doc_uri, text, "use std.no_latest_tag",
                                    "use std.no_latest_tag\nwaive std.no_latest_tag for ",
                                    "for ")
    assert kinds == ["app", "environment", "image", "registry"]
    envs = await edit_and_complete(client, doc_uri, text, "use std.no_latest_tag",
                                   "use std.no_latest_tag\nwaive std.no_latest_tag for "
                                   "environment ", "for environment ")
    assert envs == ["prod"]


async def test_completion_of_std_members_adds_the_import(client, tmp_path):
    root = tmp_path / "ws"
    text = ('environment dev { clusters = cluster.env == "dev" }\n'
            'app shop {\n  base = "a"\n  namespace = "shop"\n  deploy = [dev]\n'
            "  sync = auto\n}\n")
    write_files(root, {"spec.setlist": text})
    doc_uri, text = await opened(client, root)
    edited = text.replace("sync = auto", "sync = sync.")
    change(client, doc_uri, 2, [(None, edited)])
    result = await client.text_document_completion_async(lsp.CompletionParams(
        text_document=doc(doc_uri), position=pos(edited, "sync.", 5)))
    item = next(i for i in result.items if i.label == "auto")
    assert [e.new_text for e in item.additional_text_edits] == ['import "std/sync"\n']
    assert item.additional_text_edits[0].range.start == lsp.Position(line=0, character=0)


async def test_a_changed_file_on_disk_is_read_again_when_the_client_says_so(client,
                                                                            tmp_path):
    root = tmp_path / "ws"
    files = write_files(root, {
        "envs.setlist": 'environment dev { clusters = cluster.env == "dev" }\n',
        "apps.setlist": 'app shop {\n  base = "a"\n  namespace = "shop"\n  deploy = [dev]\n}\n'})
    await start(client, root)
    apps_uri = open_file(client, files["apps.setlist"])
    assert list(await diagnostics(client, apps_uri)) == []
    files["envs.setlist"].write_text('environment qa { clusters = cluster.env == "qa" }\n')
    client.diagnostics.pop(apps_uri, None)
    client.workspace_did_change_watched_files(lsp.DidChangeWatchedFilesParams(changes=[
        lsp.FileEvent(uri=uri(files["envs.setlist"]), type=lsp.FileChangeType.Changed)]))
    found = await diagnostics(client, apps_uri, lambda d: len(d) > 0)
    assert [d.code for d in found] == ["SL200"] and "unknown environment 'dev'" in \
        found[0].message
