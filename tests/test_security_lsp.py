"""The language server on a hostile workspace (docs/security.md): huge and deeply nested files
and bytes that are not text do not crash it, and it never runs anything the workspace names
(a credential helper that would leave a mark if it ran stays unrun)."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient
from test_lsp_helpers import diagnostics, hover_text, open_file, pos, start, write_files

pytestmark = pytest.mark.asyncio

# A folder the server's environment points at: DOCKER_CONFIG names a credential helper
# found on PATH there, which would write MARK if anything ran it.
TRAP = Path(tempfile.mkdtemp(prefix="setlist-lsp-trap-"))
atexit.register(shutil.rmtree, TRAP, True)
MARK = TRAP / "helper-ran"
(TRAP / "config.json").write_text(json.dumps({"credsStore": "trap"}))
(TRAP / "docker-credential-trap").write_text(f"#!/bin/sh\ntouch '{MARK}'\necho '{{}}'\n")
(TRAP / "docker-credential-trap").chmod(0o755)

SERVER = ClientServerConfig(
    server_command=[sys.executable, "-m", "setlist", "lsp"],
    server_env={**os.environ, "DOCKER_CONFIG": str(TRAP),
                "PATH": f"{TRAP}{os.pathsep}{os.environ.get('PATH', '')}"})

SPEC = '''registry ghcr {
  host        = "ghcr.io"
  credentials = docker_config
}
image api {
  repository = ghcr / "example/api"
  strategy   = semver("^1")
}
environment dev { clusters = all }
app shop {
  base      = "apps/shop/base"
  namespace = "shop"
  images    = [api]
  deploy    = [dev]
}
'''


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


async def test_hostile_files_do_not_crash_the_server_and_nothing_runs(client, tmp_path):
    root = tmp_path / "ws"
    write_files(root, {
        "spec.setlist": SPEC,
        "nested.setlist": "const x = " + "[" * 50_000 + "1" + "]" * 50_000 + "\n",
        "parens.setlist": "const y = " + "(" * 50_000 + "1" + ")" * 50_000 + "\n",
        "long.setlist": 'const z = "' + "x" * 4_000_000 + '"\n',
        "lines.setlist": "// filler\n" * 200_000,
        "setlist.lock": "a: &a [" + ", ".join(["*a"] * 3) + "]\n",
    })
    (root / "binary.setlist").write_bytes(b"\xff\xfe\x00garbage\x00" * 1000)
    await start(client, root)
    for name in ("nested.setlist", "parens.setlist", "long.setlist", "lines.setlist"):
        found = await diagnostics(client, open_file(client, root / name))
        assert all(d.source == "setlist" for d in found), name
    nested = await diagnostics(client, open_file(client, root / "nested.setlist"))
    assert any(d.severity == lsp.DiagnosticSeverity.Error for d in nested)
    open_file(client, root / "binary.setlist",
              (root / "binary.setlist").read_bytes().decode("utf-8", "replace"))
    doc_uri = open_file(client, root / "spec.setlist")
    await diagnostics(client, doc_uri)
    # Still answering requests after all of that.
    assert "api" in await hover_text(client, doc_uri, pos(SPEC, "[api]", 1))
    assert not MARK.exists(), "the language server ran a credential helper"
