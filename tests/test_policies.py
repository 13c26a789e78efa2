"""Policies: the standard library's cases (run through `setlist test`), three-valued rules,
severities, waivers, renderers, and the refusal to write in resolve, apply and promote —
against the real registry and real git."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from git_util import IDENTITY, branches, log, show

from conftest import ROOT, write
from setlist import lockfile
from setlist.fmt import format_source
from setlist.lockfile import Lock, LockEntry
from setlist.policy.testing import read_case, run_case
from setlist.project import load

CASES = ROOT / "tests" / "policy_cases"
STDLIB = ROOT / "stdlib" / "std" / "policies.setlist"


def setlist(*args: str, cwd, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environ = dict(os.environ)
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "setlist", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, encoding="utf-8", timeout=300)


def codes(project) -> list[tuple[str, str]]:
    return [(d.code, d.message) for d in project.diagnostics]


# ================================================================ the standard library


@pytest.mark.parametrize("case", sorted(CASES.glob("*.test.setlist")), ids=lambda p: p.name)
def test_stdlib_case(case, monkeypatch):
    monkeypatch.chdir(CASES)
    outcome = run_case(read_case(Path(case.name)))
    assert outcome.passed, (outcome.case.problems, [str(e) for e in outcome.missing],
                            [v.message for v in outcome.unexpected],
                            [str(d) for d in outcome.errors])


def test_every_stdlib_policy_has_a_violating_and_a_passing_case():
    names = re.findall(r"(?m)^policy (\w+)", STDLIB.read_text("utf-8"))
    assert len(names) == 9
    for name in names:
        texts = [p.read_text("utf-8") for p in CASES.glob("*.test.setlist")
                 if f"use std.{name}" in p.read_text("utf-8")]
        assert any(f"// expect: std.{name}" in t for t in texts), f"{name}: no violating case"
        assert any("// expect: nothing" in t for t in texts), f"{name}: no passing case"


def test_setlist_test_runs_every_case_from_the_command_line():
    done = setlist("test", str(CASES), cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    total = len(list(CASES.glob("*.test.setlist")))
    assert done.stdout.count("PASS ") == total
    assert done.stdout.strip().endswith(f"{total} cases, 0 failed")


def test_a_failing_case_prints_expected_against_actual(tmp_path):
    write(tmp_path / "labels.test.setlist", """// expect: std.required_labels for app web
// expect: std.required_labels for app shop "no label 'owner'"
import "std/policies" as std
environment prod { clusters = cluster.env == "prod" }
app web { base = "apps/web"; namespace = "web"; deploy = [prod]; labels = { team: "a" } }
app shop { base = "apps/shop"; namespace = "shop"; deploy = [prod] }
use std.required_labels(["team"])
""")
    write(tmp_path / "empty.test.setlist", 'environment prod { clusters = cluster.env == "p" }\n')
    done = setlist("test", ".", cwd=tmp_path)
    assert done.returncode == 1
    out = done.stdout
    assert "FAIL empty.test.setlist" in out and "no 'expect:' line" in out
    assert "FAIL labels.test.setlist" in out
    assert "expected (line 1): std.required_labels for app web" in out
    assert "expected (line 2): std.required_labels for app shop \"no label 'owner'\"" in out
    assert "unexpected: std.required_labels for app shop: \"app shop has no label 'team'\"" \
        in out
    assert out.strip().endswith("2 cases, 2 failed")
    (tmp_path / "none").mkdir()
    empty = setlist("test", "none", cwd=tmp_path)
    assert empty.returncode == 2 and "no policy test cases" in empty.stderr


def test_check_skips_test_cases_and_fmt_formats_them(tmp_path):
    write(tmp_path / "main.setlist", 'environment prod { clusters = cluster.env == "prod" }\n')
    write(tmp_path / "x.test.setlist", "// expect: nothing\nenvironment prod {}\n")
    assert setlist("check", ".", cwd=tmp_path).returncode == 0
    assert setlist("fmt", "--check", ".", cwd=tmp_path).returncode == 1  # x is not formatted


# ================================================================ evaluation


SHOP = """
gitops { repo = "https://git.example.com/ops" }
image api { repository = "ghcr.io/acme/api"; strategy = semver("^1") }
environment dev { clusters = cluster.env == "dev" }
environment prod { clusters = cluster.env == "prod" }
app shop { base = "apps/shop/base"; namespace = "shop"; images = [api]; deploy = [dev, prod] }
"""


def entry(tag: str, digest: str | None = "sha256:" + "a" * 64, **kw) -> LockEntry:
    return LockEntry(repository="ghcr.io/acme/api", tag=tag, digest=digest, **kw)


def project_with(tmp_path, policy: str, lock: Lock | None = None):
    write(tmp_path / "main.setlist", SHOP + policy)
    if lock is not None:
        write(tmp_path / "setlist.lock", lockfile.dump(lock))
    return load([str(tmp_path)])


def test_a_rule_on_unknown_facts_is_undecided_until_the_lock_knows(tmp_path):
    policy = "import \"std/policies\" as std\nuse std.digest_pinned([prod])\n"
    assert codes(project_with(tmp_path, policy)) == []
    unpinned = project_with(tmp_path, policy, Lock(entries={("api", "prod"): entry(
        "1.2.0", digest=None), ("api", "dev"): entry("1.3.0", digest=None)}))
    assert codes(unpinned) == [("SL800", "shop runs api in prod without a digest "
                                         "(policy std.digest_pinned)")]
    assert unpinned.diagnostics[0].span.line == 6  # prod in the app's deploy list
    pinned = project_with(tmp_path, policy, Lock(entries={("api", "prod"): entry("1.2.0")}))
    assert codes(pinned) == []


def test_or_with_an_unknown_side_is_decided_by_the_known_side(tmp_path):
    policy = """policy dev_or_pinned {
  for d in deployments {
    require d.env == dev or d.image.digest != none, "${d.env.name} unpinned"
  }
}
"""
    assert codes(project_with(tmp_path, policy)) == []  # dev: true; prod: undecided
    lock = Lock(entries={("api", "prod"): entry("1.0.0", digest=None)})
    assert codes(project_with(tmp_path, policy, lock)) == [
        ("SL800", "prod unpinned (policy dev_or_pinned)")]


def test_facts_age_comprehensions_functions_and_regex(tmp_path):
    created = (datetime.now(UTC) - timedelta(days=400)).isoformat().replace("+00:00", "Z")
    lock = Lock(entries={
        ("api", "dev"): entry("1.3.0-rc.1", created=created, platforms=("linux/amd64",)),
        ("api", "prod"): entry("1.2.0", created=created,
                               platforms=("linux/amd64", "linux/arm64"))})
    policy = """
const stale = 365d
policy hygiene {
  for d in deployments {
    require d.image.age < stale, "${d.env.name} runs a build older than ${stale}"
    deny d.image.tag =~ /-rc\\./ and d.env != dev, "release candidate outside dev"
    require all([p in d.image.provided_platforms for p in ["linux/amd64"]]), "no amd64"
    require any([startswith(p, "linux/arm") for p in d.image.provided_platforms])
      or d.env == dev, "no arm"
  }
  require len([a for a in apps where contains(lower(a.name), "sho")]) == 1, "one shop"
  require upper(apps[0].namespace) == "SHOP", "namespace"
}
"""
    found = codes(project_with(tmp_path, policy, lock))
    assert found == [("SL800", "dev runs a build older than 52w1d (policy hygiene)"),
                     ("SL800", "prod runs a build older than 52w1d (policy hygiene)")]


def test_local_policies_apply_unless_a_use_gives_their_arguments(tmp_path):
    policy = """policy namespaced(prefix: string = "team-") {
  for a in apps {
    require startswith(a.namespace, prefix), "${a.name}: namespace ${a.namespace}"
  }
}
"""
    assert codes(project_with(tmp_path, policy)) == [
        ("SL800", "shop: namespace shop (policy namespaced)")]
    assert codes(project_with(tmp_path, policy + 'use namespaced(prefix: "sh")\n')) == []


def test_severity_from_the_policy_or_its_use(tmp_path):
    policy = """import "std/policies" as std
use std.required_labels(["team"], severity: "warning")
"""
    project = project_with(tmp_path, policy)
    assert [(d.code, d.severity.value) for d in project.diagnostics] == [("SL800", "warning")]
    assert project.ok
    done = setlist("check", ".", cwd=tmp_path)
    assert done.returncode == 0 and "warning[SL800]" in done.stdout
    assert setlist("check", "--strict", ".", cwd=tmp_path).returncode == 1
    own = project_with(tmp_path, """policy labelled {
  severity = "warning"
  for a in apps { require "team" in a.labels, "no team" }
}
""")
    assert [(d.code, d.severity.value) for d in own.diagnostics] == [("SL800", "warning")]


def test_waivers_active_expired_and_unused(tmp_path):
    today = datetime.now(UTC).date()
    later = (today + timedelta(days=10)).isoformat()
    policy = f"""import "std/policies" as std
use std.required_labels(["team"])
waive std.required_labels for app shop until {later} because "labels after the migration"
"""
    assert codes(project_with(tmp_path, policy)) == []
    expired = project_with(tmp_path, policy.replace(later, today.isoformat()))
    assert codes(expired) == []  # a date holds through that whole day
    yesterday = (today - timedelta(days=1)).isoformat()
    expired = project_with(tmp_path, policy.replace(later, yesterday))
    assert sorted(c for c, _ in codes(expired)) == ["SL800", "SL801"]
    other = project_with(tmp_path, policy.replace("for app shop", "for image api"))
    assert sorted(c for c, _ in codes(other)) == ["SL800", "SL802"]


def test_violation_hint_offers_a_dated_waiver_and_names_the_rule(tmp_path):
    project = project_with(tmp_path, 'import "std/policies" as std\n'
                                     'use std.required_labels(["team"])\n')
    (diag,) = project.diagnostics
    until = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    assert diag.hints[-1] == (f"to accept it for now: waive std.required_labels for app shop "
                              f'until {until} because "..."')
    assert diag.policy == "std.required_labels"
    assert diag.related[0].span.file == "std/policies.setlist"
    assert diag.related[1].message == "the policy is turned on here"


def test_sarif_has_one_rule_per_policy_with_its_help_text(tmp_path):
    shop = SHOP.replace("deploy = [dev, prod] }",
                        "deploy = [dev, prod]; sync = automated(prune: true) }")
    write(tmp_path / "main.setlist", shop + """import "std/policies" as std
use std.required_labels(["team"])
use std.no_auto_prune([prod])
// Production namespaces start with prod-.
policy prod_namespaces {
  for a in apps { require startswith(a.namespace, "prod-"), "${a.name}" }
}
""")
    done = setlist("check", "--format", "sarif", ".", cwd=tmp_path)
    assert done.returncode == 1
    run = json.loads(done.stdout)["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert sorted(rules) == ["SL800/prod_namespaces", "SL800/std.no_auto_prune",
                             "SL800/std.required_labels"]
    assert rules["SL800/std.required_labels"]["fullDescription"]["text"] == \
        "labels say who owns an app and who pays for it"
    assert rules["SL800/prod_namespaces"]["fullDescription"]["text"] == \
        "Production namespaces start with prod-."
    for result in run["results"]:
        assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
    as_json = json.loads(setlist("check", "--format", "json", ".", cwd=tmp_path).stdout)
    assert {d["policy"] for d in as_json} == {"prod_namespaces", "std.no_auto_prune",
                                              "std.required_labels"}


def test_comprehension_formats_idempotently_and_keeps_meaning(tmp_path):
    text = ("policy p {\n  require len([ a.name  for a in apps where a.namespace!=\"x\" ]) "
            "> 0, \"m\"\n}\n")
    once = format_source(text, "p.setlist")
    assert "[a.name for a in apps where a.namespace != \"x\"]" in once
    assert format_source(once, "p.setlist") == once


# ================================================================ refusing to write


RESOLVE_SPEC = """gitops {{ repo = "https://git.example.com/ops" }}
registry local {{ host = "{host}" }}
image api {{ repository = local / "policies/api"; strategy = semver("{constraint}") }}
environment dev {{ clusters = cluster.env == "dev" }}
app shop {{ base = "apps/shop/base"; namespace = "shop"; images = [api]; deploy = [dev] }}
policy fresh_builds {{
  for d in deployments {{
    require d.image.created >= 2024-02-01, "${{d.image.name}} ${{d.image.tag}} is too old"
  }}
}}
"""


@pytest.fixture(scope="module")
def images(registry):
    old = registry.push_image("policies/api", "1.4.2", created="2024-01-01T00:00:00Z")
    new = registry.push_image("policies/api", "1.5.0", created="2024-03-01T00:00:00Z")
    return {"1.4.2": old, "1.5.0": new}


def test_resolve_refuses_a_version_that_breaks_a_policy(tmp_path, registry, images):
    write(tmp_path / "main.setlist", RESOLVE_SPEC.format(host=registry.host,
                                                         constraint="~1.4"))
    write(tmp_path / "setlist.lock", "version: 1\nimages: {}\n")
    before = (tmp_path / "setlist.lock").read_bytes()
    done = setlist("resolve", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "api 1.4.2 is too old (policy fresh_builds)" in done.stderr
    assert "nothing was written" in done.stderr
    assert (tmp_path / "setlist.lock").read_bytes() == before
    write(tmp_path / "main.setlist", RESOLVE_SPEC.format(host=registry.host,
                                                         constraint="^1"))
    done = setlist("resolve", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert lockfile.read(tmp_path).get("api", "dev").digest == images["1.5.0"]


SIGNED_SPEC = """gitops {{ repo = "https://git.example.com/ops" }}
registry local {{ host = "{host}" }}
image api {{ repository = local / "{repo}"; strategy = semver("^1") }}
environment dev {{ clusters = cluster.env == "dev" }}
app shop {{ base = "apps/shop/base"; namespace = "shop"; images = [api]; deploy = [dev] }}
import "std/policies" as std
use std.signed_images([dev])
"""


def test_signed_images_asks_the_real_registry(tmp_path, registry):
    digest = registry.push_image("policies/signed", "1.0.0", created="2024-01-01T00:00:00Z")
    write(tmp_path / "main.setlist", SIGNED_SPEC.format(host=registry.host,
                                                        repo="policies/signed"))
    assert setlist("check", cwd=tmp_path).returncode == 0  # undecided without facts
    refused = setlist("resolve", cwd=tmp_path)
    assert refused.returncode == 1
    assert f"api@{digest} in dev has no signature" in refused.stderr
    assert not (tmp_path / "setlist.lock").exists()
    registry.push_image("policies/signed", "sha256-" + digest.removeprefix("sha256:") + ".sig",
                        created="2024-01-01T00:00:01Z")
    done = setlist("resolve", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert lockfile.read(tmp_path).get("api", "dev").digest == digest


PROMOTE_SPEC = """gitops {{ repo = "{url}" }}
image api {{ repository = "ghcr.io/example/api" }}
environment staging {{ clusters = cluster.env == "staging" }}
environment prod {{ clusters = cluster.env == "prod" }}
app shop {{ base = "apps/shop/base"; namespace = "shop"; images = [api]; deploy = [staging, prod] }}
promotion api {{
  staging <- registry
  prod    <- staging after 1h
}}
// Versions known to be broken never reach production.
policy blocked_versions(bad: list[string] = ["1.2.0"]) {{
  for d in deployments where d.env == prod {{
    deny d.image.tag in bad, "${{d.image.tag}} is blocked"
  }}
}}
"""


def _lock(staging: str, prod: str) -> Lock:
    def e(tag: str, source: str) -> LockEntry:
        return LockEntry(repository="ghcr.io/example/api", tag=tag,
                         digest="sha256:" + tag.replace(".", "").ljust(64, "b"),
                         since="2026-07-01T00:00:00Z", source=source)
    return Lock(entries={("api", "staging"): e(staging, "registry"),
                         ("api", "prod"): e(prod, "promotion:staging")})


def _git_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(IDENTITY)
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    return env


def test_promote_refuses_a_promotion_that_breaks_a_policy(git_daemon, tmp_path):
    lock = _lock("1.2.0", "1.1.0")
    url = git_daemon.bare("policy-promote.git",
                          seed={"README.md": "ops\n", "setlist.lock": lockfile.dump(lock)})
    folder = tmp_path / "spec"
    write(folder / "main.setlist", PROMOTE_SPEC.format(url=url))
    write(folder / "setlist.lock", lockfile.dump(lock))
    assert setlist("check", cwd=folder).returncode == 0
    bare = git_daemon.path("policy-promote.git")
    done = subprocess.run([sys.executable, "-m", "setlist", "promote", str(folder),
                           "--no-resolve", "--at", "2026-07-02T00:00Z"], env=_git_env(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "1.2.0 is blocked (policy blocked_versions)" in done.stderr
    assert "nothing was written" in done.stderr
    assert len(log(bare)) == 1 and branches(bare) == ["main"]
    assert lockfile.parse(show(bare, "main", "setlist.lock")).get("api", "prod").tag == "1.1.0"


def test_apply_refuses_a_lock_that_breaks_a_policy(git_daemon, tmp_path):
    url = git_daemon.bare("policy-apply.git", seed={"README.md": "ops\n"})
    folder = tmp_path / "spec"
    write(folder / "main.setlist", PROMOTE_SPEC.format(url=url))
    write(folder / "setlist.lock", lockfile.dump(_lock("1.3.0", "1.2.0")))
    done = subprocess.run([sys.executable, "-m", "setlist", "apply", str(folder)],
                          env=_git_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "1.2.0 is blocked (policy blocked_versions)" in done.stderr
    assert len(log(git_daemon.path("policy-apply.git"))) == 1
