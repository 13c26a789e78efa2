"""Hostile input against the compiler (docs/security.md): names and paths that try to leave
the output tree, symbolic links in it, strings that try to change the YAML's structure, and
YAML bombs and huge files in what Setlist reads back (overlays, inventories, lockfiles,
imported manifests). Every test runs the real command or stage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ruamel.yaml import YAML

from conftest import write
from setlist import write as writer
from setlist.compile.documents import Document

APP = '''environment dev { clusters = all }
app shop {
  base      = "apps/shop/base"
  namespace = "shop"
  deploy    = [dev]
}
'''
GITOPS = 'gitops {\n  repo = "https://git.example.com/ops"\n}\n'


def run(*args: str, cwd: Path, env: dict[str, str] | None = None,
        stdin: str | None = None) -> subprocess.CompletedProcess:
    """The CLI, with a generous timeout that only guards against a hang."""
    return subprocess.run([sys.executable, "-m", "setlist", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def spec(tmp_path: Path, text: str = GITOPS + APP) -> Path:
    write(tmp_path / "spec" / "main.setlist", text)
    return tmp_path / "spec"


def files_below(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


def no_traceback(proc: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr


# ================================================================ paths leaving the tree

@pytest.mark.parametrize(("block", "field"), [
    ("gitops", 'path = "../escape"'),
    ("gitops", 'path = "/tmp/escape"'),
    ("gitops", 'argocd_dir = "../../escape"'),
    ("gitops", 'argocd_dir = "a/./../../escape"'),
    ("gitops", 'overlays = "../{app}/{env}"'),
    ("gitops", 'overlays = "/abs/{app}/{env}"'),
    ("gitops", r'path = "a\u{0}b"'),
    ("gitops", r'path = "..\\..\\escape"'),
    ("gitops", r'path = "a\nb"'),
    ("app", 'base = "../../etc"'),
    ("app", 'base = "/etc"'),
    ("app", 'base = git("https://example.com/b.git", path: "../x")'),
    ("registry", 'layout = "../../oci"'),
    ("registry", 'layout = "/var/lib/oci"'),
])
def test_paths_that_would_leave_the_tree_are_spec_errors(tmp_path, block, field):
    gitops = GITOPS.replace("\n}", f"\n  {field}\n}}") if block == "gitops" else GITOPS
    app = APP.replace('  base      = "apps/shop/base"\n', f"  {field}\n") \
        if block == "app" else APP
    registry = (f'registry local {{\n  host = "example.com"\n  {field}\n}}\n'
                if block == "registry" else "")
    folder = spec(tmp_path, gitops + registry + app)
    checked = run("check", "main.setlist", cwd=folder)
    assert checked.returncode == 1 and "SL302" in checked.stdout, checked.stdout
    no_traceback(checked)
    out = tmp_path / "out"
    compiled = run("compile", "main.setlist", "-o", str(out), cwd=folder)
    assert compiled.returncode == 1
    no_traceback(compiled)
    assert not out.exists() and not (tmp_path / "escape").exists()


@pytest.mark.parametrize("rel", ["../x", "/etc/x", "a/../../x", "a/..", r"a\..\..\x", "a\0b"])
def test_the_write_stage_refuses_paths_outside_whatever_the_checker_let_through(tmp_path, rel):
    with pytest.raises(writer.WriteError, match="refusing a path outside the output folder"):
        writer.plan_writes([Document(rel, {"a": 1})], tmp_path / "out")
    assert not (tmp_path / "x").exists()


def test_imports_read_only_setlist_files_relative_or_from_std(tmp_path):
    """An import cannot name an absolute path, and a relative one always gets `.setlist`:
    a file without that suffix next to the project is never read (nor shown)."""
    write(tmp_path / "secret", "TOPSECRET-content\n")
    folder = spec(tmp_path, 'import "/etc/passwd" as a\nimport "../secret" as b\n' +
                  GITOPS + APP)
    proc = run("check", "main.setlist", cwd=folder)
    assert proc.returncode == 1
    assert "import path '/etc/passwd' is neither relative nor a std module" in proc.stdout
    assert "cannot find '../secret'" in proc.stdout and "secret.setlist" in proc.stdout
    assert "TOPSECRET" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("force", [False, True])
def test_manifest_entries_naming_files_outside_are_refused(tmp_path, force):
    """The manifest lives in the config repository, which others write to: an entry that
    names a file outside the tree (as a stale file to delete) must not delete it."""
    folder, out = spec(tmp_path), tmp_path / "out"
    assert run("compile", "main.setlist", "-o", str(out), cwd=folder).returncode == 0
    victim = write(tmp_path / "victim" / "f", "keep\n")
    digest = writer.sha256(victim.read_bytes())
    manifest = out / ".setlist/manifest.json"
    data = json.loads(manifest.read_text())
    for path in ("../victim/f", str(victim)):
        data["files"][path] = {"sha256": digest, "owner": "setlist"}
    manifest.write_text(json.dumps(data))
    proc = run("compile", "main.setlist", "-o", str(out), *(["--force"] if force else []),
               cwd=folder)
    assert proc.returncode == 3 and "refusing a path outside the output folder" in proc.stderr
    assert victim.read_text() == "keep\n"


# ================================================================ symbolic links

@pytest.fixture
def compiled(tmp_path):
    folder, out = spec(tmp_path), tmp_path / "out"
    assert run("compile", "main.setlist", "-o", str(out), cwd=folder).returncode == 0
    outside = tmp_path / "outside"
    outside.mkdir()
    return folder, out, outside


def test_a_symlinked_manifest_folder_is_refused(tmp_path):
    folder, out, outside = spec(tmp_path), tmp_path / "out", tmp_path / "outside"
    outside.mkdir()
    out.mkdir()
    (out / ".setlist").symlink_to(outside, target_is_directory=True)
    proc = run("compile", "main.setlist", "-o", str(out), cwd=folder)
    assert proc.returncode == 3 and "symbolic link" in proc.stderr
    assert list(outside.iterdir()) == []


def test_a_dangling_symlink_where_a_new_file_goes_is_refused(tmp_path):
    folder, out, outside = spec(tmp_path), tmp_path / "out", tmp_path / "outside"
    outside.mkdir()
    (out / "argocd").mkdir(parents=True)
    (out / "argocd/root.yaml").symlink_to(outside / "planted.yaml")
    proc = run("compile", "main.setlist", "-o", str(out), "--force", cwd=folder)
    assert proc.returncode == 3 and "is a symbolic link" in proc.stderr
    assert not (outside / "planted.yaml").exists()


@pytest.mark.parametrize("force", [False, True])
def test_a_stale_file_replaced_by_a_symlink_is_not_followed(compiled, force):
    folder, out, outside = compiled
    target = write(outside / "precious.yaml", "precious\n")
    stale = out / "argocd/applicationsets/shop-dev.yaml"
    stale.unlink()
    stale.symlink_to(target)
    write(folder / "main.setlist", GITOPS + "environment dev { clusters = all }\n")
    proc = run("compile", "main.setlist", "-o", str(out), *(["--force"] if force else []),
               cwd=folder)
    assert proc.returncode == 3 and "is a symbolic link" in proc.stderr
    assert target.read_text() == "precious\n" and stale.is_symlink()


def test_a_symlinked_overlay_folder_is_refused(compiled):
    folder, out, outside = compiled
    overlays = out / "apps/shop/overlays"
    for path in sorted(overlays.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    overlays.rmdir()
    overlays.symlink_to(outside, target_is_directory=True)
    proc = run("compile", "main.setlist", "-o", str(out), "--force", cwd=folder)
    assert proc.returncode == 3 and "leads outside the output folder" in proc.stderr
    assert list(outside.iterdir()) == []


def test_a_file_swapped_for_a_symlink_after_planning_is_refused(tmp_path):
    """Planning saw a plain file; a symlink put in its place before writing is refused
    (the write stage looks again), and nothing outside changes."""
    out, outside = tmp_path / "out", tmp_path / "outside"
    outside.mkdir()
    target = write(outside / "victim.yaml", "victim\n")
    write(out / "a/file.yaml", "old\n")
    plan = writer.plan_writes([Document("a/file.yaml", {"new": 1})], out, force=True)
    assert [c.path for c in plan.changes] == [".setlist/manifest.json", "a/file.yaml"]
    (out / "a/file.yaml").unlink()
    (out / "a/file.yaml").symlink_to(target)
    with pytest.raises(writer.WriteError, match="symbolic link"):
        writer.apply(plan, out)
    assert target.read_text() == "victim\n"
    assert not (out / ".setlist").exists()


def test_a_fifo_in_the_output_tree_is_refused_not_waited_on(compiled):
    folder, out, _ = compiled
    overlay = out / "apps/shop/overlays/dev/kustomization.yaml"
    overlay.unlink()
    os.mkfifo(overlay)
    proc = run("compile", "main.setlist", "-o", str(out), cwd=folder)
    assert proc.returncode == 3 and "is not a regular file" in proc.stderr


# ================================================================ YAML structure

HOSTILE = {
    "nl": "line1\nkind: Secret", "colon": "a: b", "hash": "x #comment",
    "quotes": "'single' \"double\"", "anchor": "&a", "alias": "*a", "tag": "!tag x",
    "flow": "{}", "seq": "[x]", "dash": "- x", "qmark": "? k", "pipe": "| x",
    "separators": "a\u2028b\u2029c\u0085d", "yes": "yes", "on": "On", "y": "y",
    "octal": "0o17", "old-octal": "017", "sexagesimal": "1:20", "null": "~",
    "doc-start": "---", "doc-end": "...", "tab": "a\tb", "cr": "a\rb", "bom": "\ufeffx",
    "merge": "<<", "float": "1e3", "nul": "a\x00b", "directive": "%YAML 1.1",
    "trailing": "x ", "leading": " x", "empty": "", "backslash": "a\\b",
}


def setlist_string(text: str) -> str:
    """``text`` as a Setlist string literal."""
    out = []
    for ch in text:
        if ch in '"\\$':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif not ch.isprintable() or ch == "\t":
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def hostile_spec() -> str:
    annotations = ",\n".join(f"    {setlist_string('example.com/' + k)}: {setlist_string(v)}"
                             for k, v in HOSTILE.items())
    return f'''gitops {{
  repo   = "https://git.example.com/ops"
  branch = "main: x #y"
}}
image api {{
  repository  = "ghcr.io/example/api"
  strategy    = semver("^1")
  allow_tags  = /^v?\\d+: &a *b !tag {{}} - #c$/
  ignore_tags = ["*-debug", "yes", "0123", "on", "1.10"]
}}
environment dev {{ clusters = all }}
environment live {{
  clusters = cluster.env == "on"
  updates  = in_cluster(method: git)
}}
app shop {{
  base        = "apps/sh op: #x/base"
  namespace   = "shop"
  images      = [api as "on"]
  deploy      = [dev, live]
  labels      = {{ "example.com/v": "0123", "example.com/w": "yes" }}
  annotations = {{
{annotations}
  }}
  sync        = automated(prune: true, options: ["a: b", "# c", "yes", "- x", "&x"])
}}
'''


def test_hostile_strings_keep_the_intended_structure(tmp_path):
    """Every generated file, read back by a YAML 1.1 reader (PyYAML, as Kubernetes tooling
    reads) and a YAML 1.2 reader (ruamel.yaml), is exactly the compiled data."""
    import setlist

    folder = spec(tmp_path, hostile_spec())
    project = setlist.load(str(folder))
    assert project.ok, [d.message for d in project.errors]
    result = project.compile()
    out = tmp_path / "out"
    proc = run("compile", "main.setlist", "-o", str(out), cwd=folder)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    written = files_below(out)
    assert {d.path for d in result.documents} | {".setlist/manifest.json"} == set(written)
    assert any("image-updaters" in d.path for d in result.documents)
    yaml12 = YAML(typ="safe", pure=True)
    for doc in result.documents:
        text = written[doc.path].decode("utf-8")
        assert list(yaml.load_all(text, Loader=yaml.SafeLoader)) == doc.documents, doc.path
        assert list(yaml12.load_all(text)) == doc.documents, doc.path
    annotations = next(d for d in result.documents if "applicationsets/shop-dev" in d.path
                       ).documents[0]["spec"]["template"]["metadata"]["annotations"]
    assert {k.removeprefix("example.com/"): v for k, v in annotations.items()} == HOSTILE


def test_a_spec_file_name_cannot_inject_yaml_through_the_header(tmp_path):
    name = "x\nkind: Secret\u2028data: {}.setlist"
    write(tmp_path / "spec" / name, GITOPS + APP)
    out = tmp_path / "out"
    proc = run("compile", ".", "-o", str(out), cwd=tmp_path / "spec")
    assert proc.returncode == 0, proc.stderr
    for path in out.rglob("*.yaml"):
        text = path.read_text("utf-8")
        assert "kind: Secret" not in text.replace("# kind: Secret", "")
        docs = list(yaml.load_all(text, Loader=yaml.SafeLoader))
        assert len(docs) == 1 and docs[0]["kind"] != "Secret"


def test_credentials_in_repository_urls_never_reach_generated_files(tmp_path):
    secret = "UrlPass-9f3c1"
    folder = spec(tmp_path, GITOPS.replace("https://", f"https://robot:{secret}@") +
                  APP.replace('"apps/shop/base"',
                              f'git("https://bot:{secret}@example.com/b.git", path: "b")'))
    out = tmp_path / "out"
    proc = run("compile", "main.setlist", "-o", str(out), cwd=folder)
    assert proc.returncode == 0, proc.stderr
    written = files_below(out)
    assert all(secret.encode() not in data for data in written.values())
    assert b"repoURL: https://git.example.com/ops" in written["argocd/root.yaml"]
    assert b"https://example.com/b.git//b" in \
        written["apps/shop/overlays/dev/kustomization.yaml"]
    assert secret not in proc.stdout + proc.stderr


# ================================================================ YAML bombs, huge files

def bomb(levels: int = 9, width: int = 9) -> str:
    """A "billion laughs": ``width ** levels`` strings through nested aliases."""
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]"
              for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def nested(depth: int = 5000) -> str:
    return "deep: " + "[" * depth + "]" * depth + "\n"


def indented(text: str, by: int) -> str:
    return "".join(" " * by + line + "\n" for line in text.splitlines())


def huge(path: Path, size: int = 4 * 1024 ** 3) -> Path:
    """A sparse file of ``size`` bytes: reading it whole would take that much memory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


HOSTILE_YAML = {
    "bomb": ("expands to more than 2,000,000 nodes", bomb),
    "nested": ("nests mappings or sequences more than 200 levels deep", nested),
    # The round-trip loader (overlays, imports) reads a self-reference as null instead.
    "recursive": ("contains itself", lambda: "a: &a [*a]\n"),
}
ROUND_TRIP = ["bomb", "nested", "huge"]


@pytest.mark.parametrize("kind", [*ROUND_TRIP, "big"])
def test_hostile_overlay_files_stop_compile_with_a_clear_error(compiled, kind):
    folder, out, _ = compiled
    overlay = out / "apps/shop/overlays/dev/kustomization.yaml"
    status = 1  # the overlay is a problem of the plan: nothing is written
    if kind == "huge":  # beyond what the write stage reads of any file
        huge(overlay)
        message, status = "is larger than 64 MiB", 3
    elif kind == "big":  # beyond what is parsed as a kustomization
        overlay.write_text("resources: [../../base]\n" + "# padding\n" * 120_000)
        message = "is larger than 1 MiB"
    else:
        message, make = HOSTILE_YAML[kind]
        overlay.write_text("resources: [../../base]\n" + make() + "images: []\n")
    # A version for the overlay to take, so that the edited file must be rewritten.
    write(folder / "main.setlist", GITOPS + APP.replace(
        '  deploy', '  images    = [api]\n  deploy') +
        'image api {\n  repository = "ghcr.io/example/api"\n  tag = "1.0.0"\n}\n')
    proc = run("compile", "main.setlist", "-o", str(out), cwd=folder)
    no_traceback(proc)
    assert proc.returncode == status
    assert f"kustomization.yaml: {message}" in proc.stdout + proc.stderr
    if kind != "huge":
        assert overlay.read_bytes().startswith(b"resources: [../../base]\n")


@pytest.mark.parametrize("kind", [*HOSTILE_YAML, "huge"])
def test_hostile_lockfiles_are_a_clear_diagnostic(tmp_path, kind):
    folder = spec(tmp_path, GITOPS + APP)
    lock = folder / "setlist.lock"
    if kind == "huge":
        huge(lock)
        message = "is larger than 32 MiB"
    else:
        message, make = HOSTILE_YAML[kind]
        lock.write_text("version: 1\nimages:\n  api:\n    dev:\n" + indented(make(), 6))
    proc = run("compile", "main.setlist", "-o", str(tmp_path / "out"), cwd=folder)
    no_traceback(proc)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "SL706" in output and f"setlist.lock: {message}" in output


@pytest.mark.parametrize("kind", [*HOSTILE_YAML, "huge"])
def test_hostile_inventories_are_a_clear_error(tmp_path, kind):
    folder = spec(tmp_path, GITOPS + APP)
    inventory = tmp_path / "clusters.yaml"
    if kind == "huge":
        huge(inventory)
        message = "is larger than 32 MiB"
    else:
        message, make = HOSTILE_YAML[kind]
        inventory.write_text("clusters:\n- name: a\n  server: https://a\n  labels:\n" +
                             indented(make(), 4))
    proc = run("preview", "main.setlist", "--clusters", str(inventory), cwd=folder)
    no_traceback(proc)
    assert proc.returncode == 2 and message in proc.stderr


@pytest.mark.parametrize("kind", ROUND_TRIP)
def test_hostile_manifests_to_import_are_a_clear_error(tmp_path, kind):
    folder = tmp_path / "manifests"
    path = folder / "app.yaml"
    if kind == "huge":
        huge(path)
        message = "is larger than 32 MiB"
    else:
        message, make = HOSTILE_YAML[kind]
        write(path, "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n"
              "  name: x\nspec:\n" + indented(make(), 2))
    proc = run("import", str(folder), "-o", str(tmp_path / "spec.setlist"), cwd=tmp_path)
    no_traceback(proc)
    assert proc.returncode != 0 and f"app.yaml: {message}" in proc.stderr
    assert not (tmp_path / "spec.setlist").exists()


def test_a_deeply_nested_manifest_json_is_refused(tmp_path):
    """The manifest (.setlist/manifest.json) is JSON in the config repository; nesting
    that overflows the JSON reader is "not a manifest", not a crash."""
    folder, out = spec(tmp_path), tmp_path / "out"
    write(out / ".setlist/manifest.json", "[" * 100_000 + "]" * 100_000)
    proc = run("compile", "main.setlist", "-o", str(out), cwd=folder)
    no_traceback(proc)
    assert proc.returncode == 3 and "is not a manifest written by setlist" in proc.stderr
