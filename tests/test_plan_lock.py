"""Versions from setlist.lock: the plan takes locked versions the spec still admits."""

from __future__ import annotations

import subprocess
import sys

from conftest import write
from setlist.lockfile import Lock, LockEntry, dump
from setlist.project import load

SPEC = '''gitops { repo = "https://git.example.com/ops" }
image api {
  repository = "ghcr.io/ex/api"
  strategy   = semver("^1.4")
  allow_tags = /^v?\\d+\\.\\d+\\.\\d+$/
}
environment dev { clusters = all }
environment prod { clusters = all }
app shop { base = "apps/shop/base"; namespace = "shop"; images = [api]; deploy = [dev, prod] }
'''
DIGEST = "sha256:" + "b" * 64


def lock_text(**entries: str) -> str:
    return dump(Lock(entries={("api", env): LockEntry(repository="ghcr.io/ex/api", tag=tag,
                                                      digest=DIGEST)
                              for env, tag in entries.items()}))


def compiled(project_dir, spec: str = SPEC, lock: str | None = None):
    write(project_dir / "main.setlist", spec)
    if lock is not None:
        write(project_dir / "setlist.lock", lock)
    project = load([str(project_dir)])
    assert project.ok, [str(d) for d in project.diagnostics]
    result = project.compile()
    docs = {d.path: d.documents[0] for d in result.documents}
    return result, docs


def images_of(docs, env):
    return docs[f"apps/shop/overlays/{env}/kustomization.yaml"].get("images")


def test_locked_versions_reach_the_overlays(project_dir):
    result, docs = compiled(project_dir, lock=lock_text(dev="1.5.0", prod="v1.4.2"))
    assert [d.code for d in result.diagnostics] == []
    assert images_of(docs, "dev") == [{"name": "ghcr.io/ex/api", "newTag": "1.5.0",
                                       "digest": DIGEST}]
    assert images_of(docs, "prod")[0]["newTag"] == "v1.4.2"


def test_a_pin_wins_over_the_lock(project_dir):
    spec = SPEC.replace('strategy   = semver("^1.4")', 'strategy = semver("^1.4"); tag = "1.4.9"')
    _, docs = compiled(project_dir, spec, lock=lock_text(dev="1.5.0", prod="1.5.0"))
    assert images_of(docs, "dev") == [{"name": "ghcr.io/ex/api", "newTag": "1.4.9"}]


def test_an_environment_missing_from_the_lock_keeps_the_base_tag(project_dir):
    result, docs = compiled(project_dir, lock=lock_text(dev="1.5.0"))
    assert [(d.code, d.severity.value) for d in result.diagnostics] == [("SL700", "warning")]
    assert images_of(docs, "prod") == [{"name": "ghcr.io/ex/api"}]


def test_a_locked_tag_outside_the_new_constraint_is_sl705(project_dir):
    result, _ = compiled(project_dir, lock=lock_text(dev="2.0.0", prod="1.4.2"))
    assert [(d.code, d.span.line) for d in result.diagnostics] == [("SL705", 2)]
    assert "locked for 'dev' (2.0.0) is no longer allowed: tag 2.0.0 is outside the " \
           "constraint ^1.4" in result.diagnostics[0].message
    assert any("setlist resolve" in h for h in result.diagnostics[0].hints)
    assert not result.ok


def test_tag_filters_and_repository_changes_make_entries_stale(project_dir):
    result, _ = compiled(project_dir, lock=lock_text(dev="1.5.0-debug", prod="1.4.2"))
    assert ["excluded by allow_tags" in d.message for d in result.diagnostics] == [True]
    spec = SPEC.replace('"ghcr.io/ex/api"', '"ghcr.io/ex/api2"')
    result, _ = compiled(project_dir, spec, lock=lock_text(dev="1.5.0", prod="1.4.2"))
    assert [d.code for d in result.diagnostics] == ["SL705", "SL705"]
    assert "the image is now ghcr.io/ex/api2" in result.diagnostics[0].message


def test_an_unreadable_lock_is_sl706_and_cli_writes_nothing(project_dir):
    write(project_dir / "main.setlist", SPEC)
    write(project_dir / "setlist.lock", "version: 7\nimages: {}\n")
    proc = subprocess.run([sys.executable, "-m", "setlist", "compile", ".", "-o", "out"],
                          cwd=project_dir, capture_output=True, text=True)
    assert proc.returncode == 1
    assert "error[SL706]" in proc.stderr and "lock format version 7 is not 1" in proc.stderr
    assert not (project_dir / "out").exists()


def test_the_lock_has_no_say_in_an_in_cluster_environment(project_dir):
    """Image Updater sets prod's versions: an old lock entry there is neither used nor
    reported as stale."""
    spec = SPEC.replace("environment prod { clusters = all }",
                        "environment prod {\n  clusters = all\n"
                        "  updates = in_cluster(method: git)\n}")
    result, docs = compiled(project_dir, spec, lock=lock_text(dev="1.5.0", prod="0.1.0"))
    assert [d.code for d in result.diagnostics if d.code != "SL707"] == []
    assert "newTag" not in str(images_of(docs, "prod"))
