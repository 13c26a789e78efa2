"""Language server: definition, references, rename, symbols, formatting and quick fixes,
end to end against the real server process."""

from __future__ import annotations

import datetime as dt
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
    change,
    diagnostics,
    doc,
    open_file,
    opened,
    pos,
    start,
    uri,
    write_files,
)

from setlist.lsp.session import stdlib_dir

pytestmark = pytest.mark.asyncio

ENVS = """\
// Stages of the shop fleet.
environment dev { clusters = cluster.env == "dev" }
environment prod { clusters = cluster.env == "prod" }
"""

APPS = """\
import "./envs.setlist" as envs
import "std/sync"

app shop {
  base      = "apps/shop/base"
  namespace = "shop"
  deploy    = [envs.dev, envs.prod]
  sync      = sync.auto
}

app cart {
  base      = "apps/cart/base"
  namespace = "cart"
  deploy    = envs.dev
}
"""


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    write_files(root, {"spec.setlist": SPEC, "setlist.lock": LOCK})
    return root


@pytest.fixture
def modules(tmp_path: Path) -> Path:
    root = tmp_path / "mods"
    write_files(root, {"platform/envs.setlist": ENVS, "apps.setlist": APPS})
    return root


def span_of(text: str, needle: str, nth: int = 0, delta: int = 0,
            width: int | None = None) -> lsp.Range:
    start = pos(text, needle, delta, nth)
    size = len(needle) - delta if width is None else width
    return lsp.Range(start=start, end=lsp.Position(line=start.line,
                                                   character=start.character + size))


# ---------------------------------------------------------------- definition

async def test_definition_in_the_same_file(client, workspace):
    doc_uri, text = await opened(client, workspace)
    found = await client.text_document_definition_async(lsp.DefinitionParams(
        text_document=doc(doc_uri), position=pos(text, "[api]", 1)))
    assert found == [lsp.Location(uri=doc_uri, range=span_of(text, "api {", width=3))]


async def test_definition_across_an_import(client, modules):
    APPS_WITH_PATH = APPS.replace("./envs.setlist", "./platform/envs.setlist")
    (modules / "apps.setlist").write_text(APPS_WITH_PATH)
    doc_uri, text = await opened(client, modules, "apps.setlist")
    found = await client.text_document_definition_async(lsp.DefinitionParams(
        text_document=doc(doc_uri), position=pos(text, "envs.prod", 5)))
    assert found == [lsp.Location(uri=uri(modules / "platform" / "envs.setlist"),
                                  range=span_of(ENVS, "prod {", width=4))]


async def test_definition_into_the_standard_library(client, modules):
    (modules / "apps.setlist").write_text(APPS.replace("./envs", "./platform/envs"))
    doc_uri, text = await opened(client, modules, "apps.setlist")
    [found] = await client.text_document_definition_async(lsp.DefinitionParams(
        text_document=doc(doc_uri), position=pos(text, "sync.auto", 6)))
    std_file = stdlib_dir() / "sync.setlist"
    assert found.uri == uri(std_file)
    assert found.uri.startswith("file://") and std_file.is_file()
    std_text = std_file.read_text("utf-8")
    assert found.range == span_of(std_text, "auto =", width=4)


# ---------------------------------------------------------------- references and rename

async def test_references_across_files(client, modules):
    (modules / "apps.setlist").write_text(APPS.replace("./envs", "./platform/envs"))
    await start(client, modules)
    envs_path = modules / "platform" / "envs.setlist"
    envs_uri = open_file(client, envs_path)
    await diagnostics(client, envs_uri)
    found = await client.text_document_references_async(lsp.ReferenceParams(
        text_document=doc(envs_uri), position=pos(ENVS, "dev {"),
        context=lsp.ReferenceContext(include_declaration=True)))
    apps_text = (modules / "apps.setlist").read_text()
    apps_uri = uri(modules / "apps.setlist")
    assert sorted(found, key=lambda loc: (loc.uri, loc.range.start.line)) == sorted([
        lsp.Location(uri=envs_uri, range=span_of(ENVS, "dev {", width=3)),
        lsp.Location(uri=apps_uri, range=span_of(apps_text, "envs.dev", delta=5)),
        lsp.Location(uri=apps_uri, range=span_of(apps_text, "envs.dev", nth=1, delta=5)),
    ], key=lambda loc: (loc.uri, loc.range.start.line))


async def test_rename_edits_every_use_including_promotion_and_interpolation(client,
                                                                            workspace):
    doc_uri, text = await opened(client, workspace)
    prepared = await client.text_document_prepare_rename_async(lsp.PrepareRenameParams(
        text_document=doc(doc_uri), position=pos(text, "image api", 6)))
    assert prepared.placeholder == "api"
    edit = await client.text_document_rename_async(lsp.RenameParams(
        text_document=doc(doc_uri), position=pos(text, "image api", 6), new_name="catalog"))
    renamed = apply_edits(text, edit.changes[doc_uri])
    assert "image catalog {" in renamed and "images    = [catalog]" in renamed
    assert "promotion catalog {" in renamed
    assert renamed.replace("catalog", "api") == text
    edit = await client.text_document_rename_async(lsp.RenameParams(
        text_document=doc(doc_uri), position=pos(text, "{team}", 2), new_name="squad"))
    renamed = apply_edits(text, edit.changes[doc_uri])
    assert 'const squad = "shop"' in renamed and '"${squad}-api"' in renamed


async def test_rename_across_files(client, modules):
    (modules / "apps.setlist").write_text(APPS.replace("./envs", "./platform/envs"))
    doc_uri, text = await opened(client, modules, "apps.setlist")
    edit = await client.text_document_rename_async(lsp.RenameParams(
        text_document=doc(doc_uri), position=pos(text, "envs.dev", 6), new_name="qa"))
    envs_uri = uri(modules / "platform" / "envs.setlist")
    assert apply_edits(ENVS, edit.changes[envs_uri]) == ENVS.replace("dev {", "qa {")
    assert apply_edits(text, edit.changes[doc_uri]) == text.replace("envs.dev", "envs.qa")


@pytest.mark.parametrize("new_name, reason", [
    ("9lives", "a name starts with a letter"),
    ("and", "'and' is a word of the language"),
    ("Prod", "Kubernetes names"),
    ("prod", "environment 'prod' is already declared"),
])
async def test_rename_refuses_invalid_names(client, workspace, new_name, reason):
    doc_uri, text = await opened(client, workspace)
    with pytest.raises(JsonRpcException, match=reason):
        await client.text_document_rename_async(lsp.RenameParams(
            text_document=doc(doc_uri), position=pos(text, "dev {"), new_name=new_name))


async def test_prepare_rename_refuses_builtins(client, workspace):
    doc_uri, text = await opened(client, workspace)
    with pytest.raises(JsonRpcException, match="cannot rename a built-in"):
        await client.text_document_prepare_rename_async(lsp.PrepareRenameParams(
            text_document=doc(doc_uri), position=pos(text, "semver", 2)))


# ---------------------------------------------------------------- symbols

async def test_document_symbols_list_declarations_with_fields(client, workspace):
    doc_uri, text = await opened(client, workspace)
    symbols = await client.text_document_document_symbol_async(lsp.DocumentSymbolParams(
        text_document=doc(doc_uri)))
    names = [(s.name, s.kind) for s in symbols]
    assert names == [('import "std/sync"', lsp.SymbolKind.File),
                     ("ghcr", lsp.SymbolKind.Package), ("api", lsp.SymbolKind.Class),
                     ("dev", lsp.SymbolKind.Namespace), ("prod", lsp.SymbolKind.Namespace),
                     ("team", lsp.SymbolKind.Constant), ("shop", lsp.SymbolKind.Module),
                     ("api", lsp.SymbolKind.Event)]
    image = symbols[2]
    assert [c.name for c in image.children] == ["repository", "strategy"]
    assert image.selection_range == span_of(text, "api {", width=3)
    assert image.range.start == pos(text, "image api")


async def test_workspace_symbols_search_every_file(client, modules):
    (modules / "apps.setlist").write_text(APPS.replace("./envs", "./platform/envs"))
    await opened(client, modules, "apps.setlist")
    found = await client.workspace_symbol_async(lsp.WorkspaceSymbolParams(query="pro"))
    assert [(s.name, s.location.uri) for s in found] == [
        ("prod", uri(modules / "platform" / "envs.setlist"))]
    everything = await client.workspace_symbol_async(lsp.WorkspaceSymbolParams(query=""))
    assert {s.name for s in everything} == {"dev", "prod", "shop", "cart"}


# ---------------------------------------------------------------- formatting

async def test_formatting_returns_the_canonical_text(client, tmp_path):
    root = tmp_path / "fmt"
    messy = 'environment dev {clusters=cluster.env=="dev"}\n'
    write_files(root, {"a.setlist": messy})
    await start(client, root)
    doc_uri = open_file(client, root / "a.setlist")
    await diagnostics(client, doc_uri)
    edits = await client.text_document_formatting_async(lsp.DocumentFormattingParams(
        text_document=doc(doc_uri), options=lsp.FormattingOptions(tab_size=2,
                                                                   insert_spaces=True)))
    assert apply_edits(messy, edits) == \
        'environment dev {\n  clusters = cluster.env == "dev"\n}\n'


async def test_formatting_refuses_a_file_with_syntax_errors(client, tmp_path):
    root = tmp_path / "fmt"
    write_files(root, {"a.setlist": "environment dev {clusters=}\n"})
    await start(client, root)
    doc_uri = open_file(client, root / "a.setlist")
    assert [d.code for d in await diagnostics(client, doc_uri)] == ["SL100"]
    edits = await client.text_document_formatting_async(lsp.DocumentFormattingParams(
        text_document=doc(doc_uri), options=lsp.FormattingOptions(tab_size=2,
                                                                   insert_spaces=True)))
    assert not edits


# ---------------------------------------------------------------- code actions

async def quick_fixes(client, doc_uri: str, diag: lsp.Diagnostic) -> list[lsp.CodeAction]:
    return await client.text_document_code_action_async(lsp.CodeActionParams(
        text_document=doc(doc_uri), range=diag.range,
        context=lsp.CodeActionContext(diagnostics=[diag])))


async def test_quick_fix_replaces_a_misspelt_name(client, workspace):
    doc_uri, text = await opened(client, workspace)
    broken = text.replace("[dev, prod]", "[dve, prod]")
    broken = broken.replace('semver("^1.4")', 'semverr("^1.4")')
    change(client, doc_uri, 2, [(None, broken)])
    found = await diagnostics(client, doc_uri, lambda d: len(d) >= 2)
    assert [d.code for d in found] == ["SL302", "SL200", "SL500"]
    fixed = broken
    for diag in found[:2]:
        [action] = await quick_fixes(client, doc_uri, diag)
        assert action.kind == lsp.CodeActionKind.QuickFix and action.is_preferred
        fixed = apply_edits(fixed, action.edit.changes[doc_uri])
    assert fixed == text
    assert not await quick_fixes(client, doc_uri, found[2])  # no app runs api in dev


async def test_quick_fix_adds_the_missing_std_import(client, tmp_path):
    root = tmp_path / "imp"
    body = ('environment dev { clusters = cluster.env == "dev" }\n'
            'app shop {\n  base = "apps/shop/base"\n  namespace = "shop"\n'
            "  deploy = [dev]\n  sync = sync.auto_retry\n}\n")
    write_files(root, {"a.setlist": body})
    await start(client, root)
    doc_uri = open_file(client, root / "a.setlist")
    [diag] = await diagnostics(client, doc_uri)
    assert diag.code == "SL200" and "unknown module 'sync'" in diag.message
    [action] = await quick_fixes(client, doc_uri, diag)
    assert action.title == 'Add import "std/sync"'
    fixed = apply_edits(body, action.edit.changes[doc_uri])
    assert fixed == 'import "std/sync"\n' + body
    change(client, doc_uri, 2, [(None, fixed)])
    assert list(await diagnostics(client, doc_uri)) == []


POLICY_SPEC = """\
import "std/policies" as std

environment dev { clusters = cluster.env == "dev" }
environment prod { clusters = cluster.env == "prod" }

use std.prod_requires_pull_request

app shop {
  base      = "apps/shop/base"
  namespace = "shop"
  deploy    = [dev, prod]
}
"""


async def test_waiver_action_for_a_policy_violation(client, tmp_path):
    root = tmp_path / "pol"
    write_files(root, {"spec.setlist": POLICY_SPEC})
    await start(client, root)
    doc_uri = open_file(client, root / "spec.setlist")
    [diag] = await diagnostics(client, doc_uri)
    assert diag.code == "SL800" and "policy std.prod_requires_pull_request" in diag.message
    assert diag.range == span_of(POLICY_SPEC, "prod {", width=4)
    policy_file = uri(stdlib_dir() / "policies.setlist")
    assert policy_file in {r.location.uri for r in diag.related_information}
    [action] = await quick_fixes(client, doc_uri, diag)
    until = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    assert action.title == \
        f"Waive std.prod_requires_pull_request for environment prod until {until}"
    waived = apply_edits(POLICY_SPEC, action.edit.changes[doc_uri])
    assert waived == POLICY_SPEC + (f"waive std.prod_requires_pull_request for environment "
                                    f'prod until {until} because "TODO: reason"\n')
    change(client, doc_uri, 2, [(None, waived)])
    assert list(await diagnostics(client, doc_uri)) == []  # the waiver holds


async def test_quick_fix_imports_the_std_module_that_declares_a_policy(client, tmp_path):
    root = tmp_path / "pol"
    text = POLICY_SPEC.replace('import "std/policies" as std\n', "")
    write_files(root, {"spec.setlist": text})
    await start(client, root)
    doc_uri = open_file(client, root / "spec.setlist")
    [diag] = await diagnostics(client, doc_uri)
    assert diag.code == "SL200" and "unknown module 'std'" in diag.message
    [action] = await quick_fixes(client, doc_uri, diag)
    assert action.title == 'Add import "std/policies" as std'
    assert apply_edits(text, action.edit.changes[doc_uri]) == \
        'import "std/policies" as std\n' + text
