"""The Neovim runtime files in editors/nvim work in a real, headless Neovim (Debian ships
0.7, the oldest release they support): `*.setlist` buffers get the `setlist` filetype and its
settings, and `require("setlist.lsp").setup()` starts `setlist lsp`, attaches it at the
project root and shows its diagnostics. Each run writes what it saw as JSON; the assertions
are made here. Neovim is isolated from the user's configuration (`-u` and XDG folders)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import unavailable

ROOT = Path(__file__).resolve().parent.parent
NVIM_RUNTIME = ROOT / "editors" / "nvim"
SETLIST = ROOT / ".venv" / "bin" / "setlist"

PROBE = """
local buf = vim.api.nvim_get_current_buf()
local out = {
  filetype = vim.bo.filetype,
  commentstring = vim.bo.commentstring,
  shiftwidth = vim.bo.shiftwidth,
  expandtab = vim.bo.expandtab,
}
-- The syntax group at the first character of each needle (a line's text, found verbatim).
out.syntax = {}
local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
for _, needle in ipairs(vim.g.setlist_probe_needles or {}) do
  for lnum, line in ipairs(lines) do
    local col = line:find(needle, 1, true)
    if col then
      out.syntax[needle] = vim.fn.synIDattr(vim.fn.synID(lnum, col, 1), "name")
      break
    end
  end
end
%(extra)s
local file = io.open(vim.g.setlist_probe_out, "w")
file:write(vim.fn.json_encode(out))
file:close()
"""

# Waits (polling, no fixed sleep) for the client to attach and for its diagnostics.
LSP_PROBE = """
local function clients()
  if vim.lsp.get_active_clients then
    return vim.lsp.get_active_clients({ bufnr = buf })
  end
  return vim.lsp.buf_get_clients(buf)
end
out.attached = vim.wait(30000, function() return #clients() > 0 end, 20)
out.clients = {}
for _, client in pairs(clients()) do
  table.insert(out.clients, { name = client.name, root_dir = client.config.root_dir,
                              init_options = client.config.init_options })
end
out.got_diagnostics = vim.wait(30000, function() return #vim.diagnostic.get(buf) > 0 end, 20)
out.diagnostics = {}
for _, d in ipairs(vim.diagnostic.get(buf)) do
  local lsp = d.user_data and d.user_data.lsp or {}
  table.insert(out.diagnostics, { lnum = d.lnum, message = d.message,
                                  code = d.code or lsp.code, severity = d.severity })
end
for _, client in pairs(clients()) do
  client.stop()
end
vim.wait(10000, function() return #clients() == 0 end, 20)
"""


@pytest.fixture(scope="module")
def nvim() -> str:
    path = shutil.which("nvim")
    if path is None:
        unavailable("nvim is not installed (scripts/install-services.sh installs Debian's "
                    "neovim)")
    return path


def run_nvim(nvim: str, tmp_path: Path, spec: Path, *, setup: str = "", extra: str = "",
             needles: tuple[str, ...] = ()) -> dict:
    """Opens `spec` in a headless Neovim whose only configuration is editors/nvim on the
    runtimepath (plus `setup`), runs the probe and returns what it wrote."""
    out = tmp_path / "probe.json"
    init = tmp_path / "init.lua"
    init.write_text(
        f"vim.opt.runtimepath:prepend({json.dumps(str(NVIM_RUNTIME))})\n"
        "vim.cmd('filetype plugin indent on')\n"
        f"vim.g.setlist_probe_out = {json.dumps(str(out))}\n"
        f"vim.g.setlist_probe_needles = {{{', '.join(json.dumps(n) for n in needles)}}}\n"
        f"{setup}\n", encoding="utf-8")
    probe = tmp_path / "probe.lua"
    probe.write_text(PROBE % {"extra": extra}, encoding="utf-8")
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "LANG": "C.UTF-8"}
    run = subprocess.run(
        [nvim, "--headless", "-n", "-i", "NONE", "-u", str(init), str(spec),
         "-c", f"luafile {probe}", "-c", "qa!"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.is_file(), f"Neovim wrote nothing (exit {run.returncode}):\n{run.stderr}"
    return json.loads(out.read_text("utf-8"))


def test_filetype_and_buffer_settings(nvim, tmp_path):
    spec = tmp_path / "shop.setlist"
    spec.write_text('app shop {\n  base = "apps/shop/base"\n}\n', encoding="utf-8")
    seen = run_nvim(nvim, tmp_path, spec)
    assert seen["filetype"] == "setlist"
    assert seen["commentstring"] == "// %s"
    assert (seen["shiftwidth"], seen["expandtab"]) == (2, True)


SYNTAX_SPEC = """\
// a comment with "quotes"
image api-v2 {
  repository = ghcr / "org/api"
  allow_tags = /^v\\d+\\/x$/
  strategy   = semver("^1.4")
}
environment eu-west-2h {
  clusters = cluster.env == "prod" and not exists cluster.quarantine
  freeze "0 16 * * 5" for 64h tz "Europe/Berlin"
}
waive pinned until 2027-03-01 because "say \\"hi\\" ${org}"
"""
SYNTAX = {
    "// a comment": "setlistComment",
    "image": "setlistDeclaration",
    "api-v2": "setlistDeclName",
    "repository": "setlistField",
    '/ "org': "setlistJoin",
    '"org/api"': "setlistString",
    "/^v": "setlistRegex",
    "\\d": "setlistRegexEscape",
    "semver": "setlistBuiltin",
    "eu-west-2h": "setlistDeclName",
    "cluster.env": "setlistCluster",
    "env ==": "",  # a label after '.', not the built-in env()
    "==": "setlistOperator",
    "and": "setlistOperatorWord",
    "freeze": "setlistKeyword",
    "64h": "setlistDuration",
    "2027-03-01": "setlistDate",
    '\\"hi': "setlistEscape",
    "org}": "setlistInterpolation",
}


def test_syntax_highlighting(nvim, tmp_path):
    spec = tmp_path / "syntax.setlist"
    spec.write_text(SYNTAX_SPEC, encoding="utf-8")
    seen = run_nvim(nvim, tmp_path, spec, needles=tuple(SYNTAX))
    assert seen["syntax"] == SYNTAX


def test_other_files_are_not_setlist(nvim, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("setlist\n", encoding="utf-8")
    seen = run_nvim(nvim, tmp_path, notes)
    assert seen["filetype"] != "setlist"
    assert seen["commentstring"] != "// %s"


def test_language_server_attaches_and_reports_diagnostics(nvim, tmp_path):
    if not SETLIST.is_file():
        unavailable(f"{SETLIST} is missing (make test installs it)")
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    (project / "apps").mkdir()
    spec = project / "apps" / "shop.setlist"
    spec.write_text(
        'environment dev { clusters = cluster.env == "dev" }\n'
        "\n"
        "app shop {\n"
        '  base      = "apps/shop/base"\n'
        '  namespace = "shop"\n'
        "  deploy    = [dev, nowhere]\n"
        "}\n", encoding="utf-8")
    setup = ("require('setlist.lsp').setup({ cmd = { "
             f"{json.dumps(str(SETLIST))}, 'lsp' }}, inventory = 'clusters.yaml' }})")
    seen = run_nvim(nvim, tmp_path, spec, setup=setup, extra=LSP_PROBE)
    assert seen["filetype"] == "setlist"
    assert seen["attached"], seen
    (client,) = seen["clients"]
    assert client["name"] == "setlist"
    assert Path(client["root_dir"]) == project  # the nearest folder with .git
    assert client["init_options"] == {"inventory": str(project / "clusters.yaml")}
    assert seen["got_diagnostics"], seen
    unknown = [d for d in seen["diagnostics"] if d["code"] == "SL200"]
    assert unknown, seen["diagnostics"]
    assert unknown[0]["lnum"] == 5  # 0-based: the `deploy` line
    assert "nowhere" in unknown[0]["message"]
    assert unknown[0]["severity"] == 1  # error
