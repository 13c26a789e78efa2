"""The `setlist` command as a user runs it: a subprocess, its exit code, stdout and stderr."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

import setlist
from conftest import EXAMPLES, ROOT, unavailable, write
from setlist.codes import CODES

ANSI = re.compile(r"\x1b\[[0-9;]*m")

CLEAN = """\
import "std/sync"
gitops { repo = "https://github.com/example/gitops" }
environment dev { clusters = cluster.env == "dev" }
app shop {
  base = "apps/shop"
  namespace = "shop"
  deploy = [dev]
  sync = sync.auto
}
"""

# Only an unused import: one SL207 warning, no errors.
WARN_ONLY = CLEAN.replace('import "std/sync"\n', 'import "std/sync"\nimport "./lib"\n')

ERRORS = """\
import "./missing"
gitops { repo = "https://github.com/example/gitops" }
environment dev { clusters = cluster.env == "dev" }
app shop {
  base = "apps/shop"
  namespace = "shop"
  deploy = [dev, devv]
}
"""

JSON_KEYS = ["file", "line", "column", "end_line", "end_column", "severity", "code", "message",
             "hints", "related"]


def run(*args: str, cwd: Path, env: dict[str, str] | None = None,
        exe: list[str] | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    full_env.update(env or {})
    return subprocess.run([*(exe or [sys.executable, "-m", "setlist"]), *args], cwd=cwd,
                          check=False, env=full_env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def clean_dir(tmp_path):
    write(tmp_path / "main.setlist", CLEAN)
    return tmp_path


@pytest.fixture
def warn_dir(tmp_path):
    write(tmp_path / "main.setlist", WARN_ONLY)
    write(tmp_path / "lib.setlist", "const unused = 1\n")
    return tmp_path


@pytest.fixture
def error_dir(tmp_path):
    write(tmp_path / "main.setlist", ERRORS)
    return tmp_path


# ---------------------------------------------------------------- exit codes


def test_clean_exit_0_and_summary(clean_dir):
    result = run("check", "main.setlist", cwd=clean_dir)
    assert (result.returncode, result.stdout, result.stderr) == \
        (0, "checked 1 file: no problems found\n", "")


def test_check_without_path_checks_current_directory(clean_dir):
    write(clean_dir / "sub" / "more.setlist", "const x = 1\n")
    result = run("check", cwd=clean_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "checked 2 files: no problems found\n"


def test_errors_exit_1_with_snippet_and_summary(error_dir):
    result = run("check", ".", cwd=error_dir)
    assert result.returncode == 1
    assert result.stderr == ""
    expected_first = (
        "error[SL204]: cannot find './missing' (looked for missing.setlist)\n"
        " --> main.setlist:1:8\n"
        "  |\n"
        '1 | import "./missing"\n'
        "  |        ^^^^^^^^^^^\n"
        "  |\n"
        "  = hint: paths are relative to the importing file's folder\n"
    )
    assert result.stdout.startswith(expected_first)
    assert "error[SL200]: unknown environment 'devv'\n --> main.setlist:7:18\n" in result.stdout
    assert ("7 |   deploy = [dev, devv]\n  |                  ^^^^\n  |\n"
            "  = hint: did you mean 'dev'?\n"
            "  = note: main.setlist:3:13: 'dev' is declared here\n") in result.stdout
    assert result.stdout.endswith("\n\n2 errors\n")
    assert not ANSI.search(result.stdout)  # not a terminal: no colour


def test_warnings_exit_0_and_1_with_strict(warn_dir):
    result = run("check", ".", cwd=warn_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(
        "warning[SL207]: the module imported as 'lib' is never used\n --> main.setlist:2:1\n")
    assert result.stdout.endswith("\n1 warning\n")
    strict = run("check", "--strict", ".", cwd=warn_dir)
    assert strict.returncode == 1
    assert strict.stdout == result.stdout


def test_strict_on_clean_spec_is_0(clean_dir):
    assert run("check", "--strict", cwd=clean_dir).returncode == 0


def test_unknown_flag_exit_2(clean_dir):
    result = run("check", "--bogus", cwd=clean_dir)
    assert result.returncode == 2
    assert "No such option '--bogus'" in result.stderr
    assert result.stdout == ""


def test_unknown_format_exit_2(clean_dir):
    result = run("check", "--format", "xml", cwd=clean_dir)
    assert result.returncode == 2
    assert "'xml' is not one of 'text', 'json', 'sarif', 'github'" in result.stderr


def test_missing_path_exit_2(clean_dir):
    result = run("check", "nothere.setlist", cwd=clean_dir)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "setlist: error: nothere.setlist: no such file or directory\n"


def test_no_setlist_files_exit_2(tmp_path):
    write(tmp_path / "docs" / "readme.md", "# nothing\n")
    result = run("check", "docs", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "setlist: error: no *.setlist files under docs\n"


def test_no_setlist_files_in_cwd_exit_2(tmp_path):
    result = run("check", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "setlist: error: no *.setlist files under .\n"


# ---------------------------------------------------------------- formats


def test_json_format(error_dir):
    result = run("check", "--format", "json", cwd=error_dir)
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert [list(obj) for obj in data] == [JSON_KEYS] * len(data)
    assert [(o["file"], o["line"], o["column"], o["end_line"], o["end_column"], o["severity"],
             o["code"]) for o in data] == [
        ("main.setlist", 1, 8, 1, 19, "error", "SL204"),
        ("main.setlist", 7, 18, 7, 22, "error", "SL200"),
    ]
    assert data[1]["message"] == "unknown environment 'devv'"
    assert data[1]["hints"] == ["did you mean 'dev'?"]
    assert data[1]["related"] == [{"file": "main.setlist", "line": 3, "column": 13,
                                   "end_line": 3, "end_column": 16,
                                   "message": "'dev' is declared here"}]


def test_json_format_clean_is_empty_list(clean_dir):
    result = run("check", "--format", "json", cwd=clean_dir)
    assert (result.returncode, result.stdout) == (0, "[]\n")


def test_sarif_format(error_dir):
    write(error_dir / "lib.setlist", "const unused = 1\n")
    write(error_dir / "other.setlist", 'import "./lib"\n')
    result = run("check", "--format", "sarif", cwd=error_dir)
    assert result.returncode == 1
    log = json.loads(result.stdout)
    assert log["version"] == "2.1.0"
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    (sarif_run,) = log["runs"]
    driver = sarif_run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("setlist", setlist.__version__)
    rules = driver["rules"]
    assert [r["id"] for r in rules] == ["SL200", "SL204", "SL207"]
    assert [r["defaultConfiguration"]["level"] for r in rules] == \
        ["error", "error", "warning"]
    assert rules[1]["shortDescription"]["text"] == CODES["SL204"].title
    results = sarif_run["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == \
        [("SL204", "error"), ("SL200", "error"), ("SL207", "warning")]
    for r in results:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
    loc = results[0]["locations"][0]["physicalLocation"]
    assert loc == {"artifactLocation": {"uri": "main.setlist"},
                   "region": {"startLine": 1, "startColumn": 8, "endLine": 1,
                              "endColumn": 19}}
    assert results[2]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        "other.setlist"


def test_sarif_clean_has_no_rules(clean_dir):
    result = run("check", "--format", "sarif", cwd=clean_dir)
    assert result.returncode == 0
    log = json.loads(result.stdout)
    assert log["runs"][0]["tool"]["driver"]["rules"] == []
    assert log["runs"][0]["results"] == []


def test_github_format(error_dir):
    write(error_dir / "lib.setlist", "const unused = 1\n")
    write(error_dir / "other.setlist", 'import "./lib"\n')
    result = run("check", "--format", "github", cwd=error_dir)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert lines[0] == ("::error file=main.setlist,line=1,col=8,endLine=1,endColumn=19,"
                        "title=SL204::cannot find './missing' (looked for missing.setlist)"
                        "%0Ahint: paths are relative to the importing file's folder")
    assert lines[1].startswith("::error file=main.setlist,line=7,col=18,")
    assert lines[2].startswith("::warning file=other.setlist,line=1,col=1,")
    assert "title=SL207::" in lines[2]


# ---------------------------------------------------------------- colour


def test_color_always_emits_ansi_even_when_piped(error_dir):
    result = run("check", "--color", "always", cwd=error_dir)
    assert result.returncode == 1
    assert "\x1b[1;31merror[SL204]\x1b[0m" in result.stdout
    assert ANSI.sub("", result.stdout) == run("check", cwd=error_dir).stdout


def test_color_never_and_non_tty_are_plain(error_dir):
    for args in (["--color", "never"], ["--color", "auto"], []):
        result = run("check", *args, cwd=error_dir)
        assert result.returncode == 1
        assert "\x1b[" not in result.stdout, args


def test_machine_formats_never_coloured(error_dir):
    for fmt in ("json", "sarif", "github"):
        result = run("check", "--format", fmt, "--color", "always", cwd=error_dir)
        assert "\x1b[" not in result.stdout, fmt


def _run_in_pty(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run the CLI with stdout on a pseudo-terminal, so that --color auto sees a TTY."""
    master, slave = pty.openpty()
    full_env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    full_env.update(env)
    proc = subprocess.Popen([sys.executable, "-m", "setlist", *args], cwd=cwd, env=full_env,
                            stdout=slave, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=120), b"".join(chunks).decode()


def test_color_auto_on_a_terminal_and_no_color(error_dir):
    code, out = _run_in_pty(["check"], error_dir, {})
    assert code == 1
    assert "\x1b[1;31merror[SL204]\x1b[0m" in out
    code, out = _run_in_pty(["check"], error_dir, {"NO_COLOR": "1"})
    assert code == 1
    assert "error[SL204]" in out and "\x1b[" not in out
    code, out = _run_in_pty(["check", "--color", "never"], error_dir, {})
    assert "error[SL204]" in out and "\x1b[" not in out


def test_no_color_empty_value_is_ignored(error_dir):
    code, out = _run_in_pty(["check"], error_dir, {"NO_COLOR": ""})
    assert code == 1
    assert "\x1b[1;31merror[SL204]\x1b[0m" in out


# ---------------------------------------------------------------- version, explain


def test_version(tmp_path):
    result = run("--version", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, f"setlist, version {setlist.__version__}\n")


def test_explain_code(tmp_path):
    result = run("explain", "SL200", cwd=tmp_path)
    assert result.returncode == 0
    entry = CODES["SL200"]
    assert result.stdout == f"SL200: {entry.title}\n\n{entry.explanation}\n"
    assert result.stdout.startswith("SL200: unknown name\n\n")


def test_explain_is_case_insensitive(tmp_path):
    result = run("explain", "sl204", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("SL204: import not found\n\n")


def test_explain_list(tmp_path):
    result = run("explain", "--list", cwd=tmp_path)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines == [f"{c.code}  {c.title}" for c in CODES.values()]
    for code in ("SL200", "SL203", "SL204", "SL205", "SL206", "SL207"):
        assert any(line.startswith(code + "  ") for line in lines)


def test_explain_unknown_code_exit_2(tmp_path):
    result = run("explain", "SL999", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == ("setlist: error: unknown diagnostic code 'SL999' "
                             "(setlist explain --list shows them all)\n")


# ---------------------------------------------------------------- console script


def test_console_script(error_dir):
    script = Path(sys.executable).parent / "setlist"
    if not script.exists():
        unavailable(f"no console script next to {sys.executable}")
    module = run("check", "--format", "json", cwd=error_dir)
    result = run("check", "--format", "json", cwd=error_dir, exe=[str(script)])
    assert result.returncode == 1
    assert result.stdout == module.stdout
    assert [d["code"] for d in json.loads(result.stdout)] == ["SL204", "SL200"]
    version = run("--version", cwd=error_dir, exe=[str(script)])
    assert version.stdout == f"setlist, version {setlist.__version__}\n"


# ---------------------------------------------------------------- determinism


MANY_ERRORS = {
    "a.setlist": """\
import "std/sync"
import "./nope"
import "./b" as b
import "./c" as b
gitops { repo = "https://github.com/example/gitops" }
registry r { host = "registry.example.com" }
image api {
  repository = r / "example/api"
  strategy = semver("^1.0")
}
app shop {
  base = "apps/shop"
  namespace = "shop"
  deploy = [prod, dev, qa, stage]
  sync = sync.auto_retryy
  images = [apii, webb]
}
promotion api {
  dev <- registry
  prod <- staging after 2h
}
const c = undefined_thing
""",
    "b.setlist": 'import "./a"\nconst x = a.c\nconst y = 1\n',
    "c.setlist": "const z = 1\n",
    "z/d.setlist": """\
environment dev { clusters = cluster.env == "dev" }
environment dev { clusters = cluster.env == "dev" }
app other { base = "x" namespace = "other" deploy = [devv, prodd] images = [api] }
""",
}


def _seeded(args: list[str], cwd: Path, seed: str) -> str:
    result = run(*args, cwd=cwd, env={"PYTHONHASHSEED": seed})
    assert result.returncode in (0, 1), result.stderr
    return result.stdout


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_examples_output_is_deterministic(fmt):
    outs = {seed: _seeded(["check", "--format", fmt, "examples/"], ROOT, seed)
            for seed in ("0", "1", "2", "random")}
    assert len(set(outs.values())) == 1, outs
    assert outs["0"]
    if fmt == "json":
        data = json.loads(outs["0"])
        assert all(list(d) == JSON_KEYS for d in data)
        assert all(d["file"].startswith("examples/") for d in data)
    assert (EXAMPLES / "quickstart").is_dir()


@pytest.mark.parametrize("fmt", ["json", "sarif", "github", "text"])
def test_many_errors_output_is_deterministic(tmp_path, fmt):
    for rel, text in MANY_ERRORS.items():
        write(tmp_path / rel, text)
    outs = {seed: _seeded(["check", "--format", fmt], tmp_path, seed)
            for seed in ("0", "1", "2", "random")}
    assert len(set(outs.values())) == 1, outs
    if fmt == "json":
        data = json.loads(outs["0"])
        assert len(data) >= 10
        keys = [(d["file"], d["line"], d["column"], d["end_line"], d["end_column"], d["code"],
                 d["message"]) for d in data]
        assert keys == sorted(keys)
        codes = {d["code"] for d in data}
        assert {"SL200", "SL201", "SL203", "SL204", "SL205", "SL206"} <= codes
