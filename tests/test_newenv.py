"""`setlist new env`: the spec is edited in place with a minimal diff, the result checks clean
and compiles, the lock is seeded from the model environment, and a request that would break
the spec writes nothing."""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys

import pytest

from conftest import EXAMPLES, write
from setlist import lockfile
from setlist.project import load


def setlist(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "setlist", *args], cwd=cwd,
                          env=dict(os.environ), capture_output=True, text=True,
                          encoding="utf-8", timeout=120)


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """(removed, added) lines of a diff."""
    removed, added = [], []
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="",
                                     n=0):
        if line.startswith(("---", "+++", "@@")):
            continue
        (removed if line.startswith("-") else added).append(line[1:])
    return removed, added


@pytest.fixture
def quickstart(tmp_path):
    folder = tmp_path / "quickstart"
    shutil.copytree(EXAMPLES / "quickstart", folder)
    shutil.copytree(EXAMPLES / "quickstart" / "gitops", tmp_path / "out")
    return folder


def test_like_and_after_insert_into_the_chain_with_a_minimal_diff(quickstart, tmp_path):
    spec = quickstart / "setlist.setlist"
    before = spec.read_text("utf-8")
    lock_before = lockfile.read(quickstart)
    done = setlist("new", "env", "qa", "--like", "staging", "--after", "staging",
                   "-o", str(tmp_path / "out"), cwd=quickstart)
    assert done.returncode == 0, done.stderr
    after = spec.read_text("utf-8")
    removed, added = changed_lines(before, after)
    assert removed == ["  deploy    = [dev, staging, prod]",
                       "  prod    <- staging after 24h, approval",
                       "  prod    <- staging after 24h, approval"]
    assert added == [
        "environment qa {",
        '  clusters = cluster.env == "qa" and cluster.region in ["eu-west-1", "us-east-1"]',
        "}", "",
        "  deploy    = [dev, staging, qa, prod]",
        "  qa      <- staging after 2h", "  prod    <- qa after 24h, approval",
        "  qa      <- staging after 1h", "  prod    <- qa after 24h, approval"]
    project = load([str(quickstart)])
    assert project.ok and not project.diagnostics, [str(d) for d in project.diagnostics]
    lock = lockfile.read(quickstart)
    for image in ("api", "web"):
        seeded, model = lock.get(image, "qa"), lock_before.get(image, "staging")
        assert (seeded.tag, seeded.digest) == (model.tag, model.digest)
        assert seeded.source == "promotion:staging"
        assert seeded.since.endswith("Z") and "." not in seeded.since
    assert lock.get("reports", "qa") is None  # analytics does not deploy staging
    out = tmp_path / "out"
    assert (out / "argocd" / "applicationsets" / "shop-qa.yaml").is_file()
    overlay = (out / "apps" / "shop" / "overlays" / "qa" / "kustomization.yaml").read_text()
    assert lock.get("api", "qa").digest in overlay
    assert setlist("compile", ".", "-o", str(out), "--check", cwd=quickstart).returncode == 0


def test_like_a_registry_fed_environment_copies_its_rule(quickstart):
    done = setlist("new", "env", "perf", "--like", "dev", "--clusters",
                   'cluster.env == "perf"', "--no-compile", cwd=quickstart)
    assert done.returncode == 0, done.stderr
    text = (quickstart / "setlist.setlist").read_text("utf-8")
    assert "  perf    <- registry\n" in text
    assert "deploy    = [dev, perf, prod]" in text  # analytics, which deploys dev
    assert load([str(quickstart)]).ok


def test_every_example_takes_a_new_environment_and_compiles(tmp_path):
    for example in sorted(p for p in EXAMPLES.iterdir() if p.is_dir()):
        folder = tmp_path / example.name
        shutil.copytree(example, folder)
        project = load([str(folder)])
        model = project.spec.environments[-1].name
        before = {k: f.text for k, f in project.files.items()}
        out = tmp_path / f"out-{example.name}"
        done = setlist("new", "env", "extra", "--like", model, "-o", str(out), cwd=folder)
        assert done.returncode == 0, (example.name, done.stderr)
        edited = load([str(folder)])
        for app in (a for a in edited.spec.apps if "extra" in a.deploy):
            generated = [p.name for p in out.rglob(f"{app.name}-extra*.yaml")]
            assert generated, (example.name, app.name)
        assert edited.ok and not edited.errors, [str(d) for d in edited.diagnostics]
        assert "extra" in {e.name for e in edited.spec.environments}
        assert any("extra" in a.deploy for a in edited.spec.apps)
        removed, added = changed_lines("".join(before.values()),
                                       "".join(f.text for f in edited.files.values()))
        assert all("extra" not in line for line in removed)
        assert len(removed) <= len(added) and len(added) <= 12 + 2 * len(removed)


def test_an_unformatted_declaration_keeps_its_layout(tmp_path):
    write(tmp_path / "main.setlist", """environment dev { clusters = cluster.env == "dev" }
app shop { base = "b"; namespace = "shop";   deploy = [dev] }   // one line, on purpose
""")
    done = setlist("new", "env", "qa", "--like", "dev", "--no-compile", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "main.setlist").read_text("utf-8")
    assert 'app shop { base = "b"; namespace = "shop";   deploy = [dev, qa] }   // one line' \
        in text
    assert 'environment qa {\n  clusters = cluster.env == "qa"\n}' in text


@pytest.mark.parametrize(("args", "message"), [
    (["new", "env", "staging", "--like", "dev"], "environment 'staging' already exists"),
    (["new", "env", "qa", "--like", "stagin"], "--like stagin: no such environment"),
    (["new", "env", "qa", "--apps", "shop,nope"], "--apps nope: no such app"),
    (["new", "env", "bad name"], "is not a valid environment name"),
    (["new", "env", "qa", "--like", "dev", "--clusters", "cluster.env =="], "does not parse"),
])
def test_bad_requests_are_usage_errors_and_write_nothing(quickstart, args, message):
    before = {p.name: p.read_bytes() for p in quickstart.iterdir() if p.is_file()}
    done = setlist(*args, cwd=quickstart)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert {p.name: p.read_bytes() for p in quickstart.iterdir() if p.is_file()} == before


def test_a_result_that_would_not_check_writes_nothing(quickstart, tmp_path):
    before = {p.name: p.read_bytes() for p in quickstart.iterdir() if p.is_file()}
    done = setlist("new", "env", "qa", "--like", "staging", "--clusters", "cluster.env == 3",
                   "-o", str(tmp_path / "out"), cwd=quickstart)
    assert done.returncode == 1
    assert "would not check; nothing was written" in done.stderr
    assert {p.name: p.read_bytes() for p in quickstart.iterdir() if p.is_file()} == before
    assert not (tmp_path / "out" / "argocd").exists()


def test_dry_run_prints_the_diff_and_writes_nothing(quickstart):
    before = (quickstart / "setlist.setlist").read_bytes()
    done = setlist("new", "env", "qa", "--like", "staging", "--dry-run", cwd=quickstart)
    assert done.returncode == 0, done.stderr
    assert "+environment qa {" in done.stdout
    assert (quickstart / "setlist.setlist").read_bytes() == before
