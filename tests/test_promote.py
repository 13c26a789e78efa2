"""`setlist promote`: gates with a fixed clock (soak, freeze windows across daylight-saving
changes, hotfix, signatures, approval), and end to end against real git."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest
from git_util import IDENTITY, branches, git, log, show

from conftest import write
from setlist import lockfile
from setlist.freeze import Cron, window_end
from setlist.lockfile import Lock, LockEntry
from setlist.project import load
from setlist.promote import has_signature, plan_promotions, promoted_lock, table

# ================================================================ freeze windows


@pytest.mark.parametrize(("moment", "frozen_until"), [
    # Friday 16:00 Berlin for 64h; 2026-10-25 is the change back to winter time, so the
    # window of Friday 23 October ends at 07:00 local on Monday (64 real hours).
    ("2026-10-23T13:59Z", None),
    ("2026-10-23T14:00Z", "2026-10-26T06:00Z"),
    ("2026-10-25T12:00Z", "2026-10-26T06:00Z"),
    ("2026-10-26T05:59Z", "2026-10-26T06:00Z"),
    ("2026-10-26T06:00Z", None),
    # A summer Friday: 16:00 CEST is 14:00 UTC, the window ends Monday 06:00 UTC.
    ("2026-07-10T14:30Z", "2026-07-13T06:00Z"),
    # A winter Friday: 16:00 CET is 15:00 UTC.
    ("2026-12-04T14:30Z", None),
    ("2026-12-04T15:00Z", "2026-12-07T07:00Z"),
])
def test_freeze_window_in_its_time_zone(moment, frozen_until):
    now = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    end = window_end("0 16 * * 5", 64 * 3600, "Europe/Berlin", now)
    expected = datetime.fromisoformat(frozen_until.replace("Z", "+00:00")) \
        if frozen_until else None
    assert end == expected


def test_a_window_starting_in_the_skipped_hour_never_starts():
    # 2026-03-29 02:30 does not exist in Berlin (clocks jump from 02:00 to 03:00).
    assert window_end("30 2 29 3 *", 3600, "Europe/Berlin",
                      datetime(2026, 3, 29, 1, 10, tzinfo=UTC)) is None


def test_a_window_starting_in_the_repeated_hour_starts_at_its_first_instant():
    # 2026-10-25 02:30 Berlin happens twice: 00:30 UTC (CEST) and 01:30 UTC (CET).
    end = window_end("30 2 25 10 *", 2 * 3600, "Europe/Berlin",
                     datetime(2026, 10, 25, 1, 45, tzinfo=UTC))
    assert end == datetime(2026, 10, 25, 2, 30, tzinfo=UTC)


def test_cron_day_fields_follow_robfig():
    # Both day fields restricted: either one matches.
    both = Cron.parse("0 0 1 * MON")
    assert both.matches(datetime(2026, 6, 1))      # the 1st (a Monday as well)
    assert both.matches(datetime(2026, 7, 1))      # the 1st, a Wednesday
    assert both.matches(datetime(2026, 7, 6))      # a Monday
    assert not both.matches(datetime(2026, 7, 7))
    # One of them '*': both must match.
    weekdays = Cron.parse("*/15 9-17 * * 1-5")
    assert weekdays.matches(datetime(2026, 7, 7, 9, 45))
    assert not weekdays.matches(datetime(2026, 7, 7, 9, 50))
    assert not weekdays.matches(datetime(2026, 7, 11, 10, 0))  # a Saturday
    assert Cron.parse("@weekly").matches(datetime(2026, 7, 12))  # Sunday 00:00


# ================================================================ planning

SPEC = '''gitops { repo = "REPO" }
image api { repository = "ghcr.io/example/api" }
environment dev { clusters = cluster.env == "dev" }
environment staging { clusters = cluster.env == "staging" }
environment prod {
  clusters = cluster.env == "prod"
  freeze "0 16 * * 5" for 64h tz "Europe/Berlin"
}
app shop {
  base = "apps/shop/base"
  namespace = "shop"
  images = [api]
  deploy = [dev, staging, prod]
}
promotion api {
  dev     <- registry
  staging <- dev after 2h
  prod    <- staging after 24h, approval GATES
}
'''


def entry(tag: str, since: str, source: str = "registry") -> LockEntry:
    return LockEntry(repository="ghcr.io/example/api", tag=tag,
                     digest="sha256:" + tag.replace(".", "").ljust(64, "a"),
                     since=since, source=source, strategy="semver()")


def spec_of(tmp_path, gates: str = "", repo: str = "https://git.example.com/ops"):
    write(tmp_path / "main.setlist", SPEC.replace("GATES", gates).replace("REPO", repo))
    loaded = load([str(tmp_path)])
    assert loaded.ok, [str(d) for d in loaded.diagnostics]
    return loaded.spec


LOCK = Lock(entries={
    ("api", "dev"): entry("1.3.0", "2026-07-06T10:00:00Z"),
    ("api", "staging"): entry("1.2.0", "2026-07-01T10:00:00Z", "promotion:dev"),
    ("api", "prod"): entry("1.1.0", "2026-06-20T10:00:00Z", "promotion:staging"),
})


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_soak_blocks_until_it_has_passed(tmp_path):
    spec = spec_of(tmp_path)
    moves = {m.env: m for m in plan_promotions(spec, LOCK, at("2026-07-06T11:00Z"))}
    assert (moves["staging"].status, moves["staging"].gate) == ("blocked", "soak")
    assert moves["staging"].opens == at("2026-07-06T12:00Z")
    assert moves["prod"].status == "promote" and moves["prod"].approval  # 1.2.0, soaked
    text = table(list(moves.values()), at("2026-07-06T11:00Z"))
    assert "blocked by soak; opens 2026-07-06T12:00:00Z (in 1h0m)" in text
    later = {m.env: m for m in plan_promotions(spec, LOCK, at("2026-07-06T12:00Z"))}
    assert later["staging"].status == "promote"
    new = promoted_lock(LOCK, list(later.values()), at("2026-07-06T12:00Z"))
    assert new.get("api", "staging").tag == "1.3.0"
    assert new.get("api", "staging").source == "promotion:dev"
    assert new.get("api", "staging").since == "2026-07-06T12:00:00Z"
    # One hop per run: prod takes what staging ran before this run.
    assert new.get("api", "prod").tag == "1.2.0"


def test_hotfix_skips_the_soak_and_says_so(tmp_path):
    spec = spec_of(tmp_path)
    now = at("2026-07-06T11:00Z")
    moves = plan_promotions(spec, LOCK, now, envs={"staging"}, hotfix=True)
    assert [(m.env, m.status, m.hotfix) for m in moves] == [("staging", "promote", True)]
    assert promoted_lock(LOCK, moves, now).get("api", "staging").source == "hotfix"


def test_freeze_blocks_even_a_hotfix(tmp_path):
    spec = spec_of(tmp_path)
    friday_evening = at("2026-07-10T15:00Z")
    moves = {m.env: m for m in plan_promotions(spec, LOCK, friday_evening, hotfix=True)}
    assert (moves["prod"].status, moves["prod"].gate) == ("blocked", "freeze")
    assert moves["prod"].opens == at("2026-07-13T06:00Z")
    assert moves["staging"].status == "promote"  # staging has no freeze


def test_signature_gate(tmp_path):
    spec = spec_of(tmp_path, gates=", signed")
    now = at("2026-07-06T11:00Z")
    signed_digests = {LOCK.get("api", "staging").digest}
    moves = {m.env: m for m in plan_promotions(
        spec, LOCK, now, signed=lambda image, digest: digest in signed_digests)}
    assert moves["prod"].status == "promote"
    moves = {m.env: m for m in plan_promotions(spec, LOCK, now,
                                               signed=lambda image, digest: False)}
    assert (moves["prod"].status, moves["prod"].gate) == ("blocked", "signature")


def test_cosign_signature_tag_in_a_real_registry(registry):
    from setlist.registry import RegistryClient

    digest = registry.push_image("promote/signed", "1.0.0", created="2024-01-01T00:00:00Z")
    unsigned = registry.push_image("promote/signed", "1.0.1", created="2024-01-02T00:00:00Z")
    registry.push_image("promote/signed", "sha256-" + digest.removeprefix("sha256:") + ".sig",
                        created="2024-01-01T00:00:01Z")
    client = RegistryClient(registry.host, scheme="http", cache_dir=None)
    assert has_signature(client, "promote/signed", digest)
    assert not has_signature(client, "promote/signed", unsigned)


class Referrers:
    """A registry that implements the OCI 1.1 referrers API, which Debian's distribution
    2.8 registry does not: cosign signatures stored as referrers (no `.sig` tag), an empty
    index, and repositories where the API answers 404 (not implemented) or 500."""

    SIGNED = "sha256:" + "1" * 64
    UNSIGNED = "sha256:" + "2" * 64   # other referrers (an SBOM), no signature
    NO_API = "sha256:" + "3" * 64
    BROKEN = "sha256:" + "4" * 64

    def __init__(self) -> None:
        import json

        from loopback import Loopback, reply

        owner = self
        self.paths: list[str] = []

        def index(*types: str) -> bytes:
            return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "digest": "sha256:" + "9" * 64, "size": 10, "artifactType": t}
                for t in types]}).encode()

        class Server(Loopback):
            def answer(self, handler) -> None:  # noqa: ANN001
                path = handler.path.split("?")[0]
                owner.paths.append(path)
                not_found = json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN"}]}).encode()
                if "/manifests/" in path:       # no `.sig` tags anywhere
                    reply(handler, 404, {"Content-Type": "application/json"}, not_found)
                elif path.endswith(owner.SIGNED):
                    reply(handler, 200, {"Content-Type": OCI_INDEX}, index(
                        "application/spdx+json", "application/vnd.dev.cosign.artifact.sig.v1+json"))
                elif path.endswith(owner.UNSIGNED):
                    reply(handler, 200, {"Content-Type": OCI_INDEX}, index("application/spdx+json"))
                elif path.endswith(owner.NO_API):
                    reply(handler, 404, {"Content-Type": "text/plain"}, b"404 page not found")
                else:
                    reply(handler, 500, {"Content-Type": "text/plain"}, b"boom")

        self.server = Server()


OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def test_signatures_stored_as_oci_referrers():
    from setlist.registry import RegistryClient, RegistryError

    fake = Referrers()
    fake.server.start()
    try:
        client = RegistryClient(fake.server.host, scheme="http", cache_dir=None,
                                max_attempts=1)
        assert has_signature(client, "app/api", Referrers.SIGNED)
        assert not has_signature(client, "app/api", Referrers.UNSIGNED)
        assert not has_signature(client, "app/api", Referrers.NO_API)
        assert f"/v2/app/api/referrers/{Referrers.SIGNED}" in fake.paths
        assert "/v2/app/api/manifests/sha256-" + "1" * 64 + ".sig" in fake.paths
        with pytest.raises(RegistryError, match="HTTP 500"):
            has_signature(client, "app/api", Referrers.BROKEN)
    finally:
        fake.server.close()


# ================================================================ end to end


@pytest.fixture(scope="module")
def daemon(git_daemon):
    return git_daemon


def promote(folder, *args: str, cache):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(IDENTITY)
    env["XDG_CACHE_HOME"] = str(cache)
    return subprocess.run([sys.executable, "-m", "setlist", "promote", str(folder),
                           "--no-resolve", *args], env=env, capture_output=True, text=True,
                          timeout=300)


def seeded(daemon, tmp_path, name: str):
    url = daemon.bare(name, seed={"README.md": "ops\n", "setlist.lock": lockfile.dump(LOCK)})
    folder = tmp_path / "spec"
    spec_of(folder, repo=url)
    return url, folder, daemon.path(name)


def test_promote_commits_what_passed_its_gates(daemon, tmp_path):
    _, folder, bare = seeded(daemon, tmp_path, "promote.git")
    early = promote(folder, "--env", "staging", "--at", "2026-07-06T11:00Z",
                    cache=tmp_path / "c")
    assert early.returncode == 0, early.stderr
    assert "blocked by soak" in early.stdout and "nothing to promote" in early.stdout
    assert len(log(bare)) == 1
    dry = promote(folder, "--env", "staging", "--at", "2026-07-06T12:30Z", "--dry-run",
                  cache=tmp_path / "c")
    assert dry.returncode == 0 and "would commit" in dry.stdout and len(log(bare)) == 1
    done = promote(folder, "--env", "staging", "--at", "2026-07-06T12:30Z",
                   cache=tmp_path / "c")
    assert done.returncode == 0, done.stderr
    assert "committed" in done.stdout
    body = git("--git-dir", str(bare), "log", "-1", "--format=%B", "main")
    assert "Setlist-Promotion: api dev->staging" in body
    assert "api staging: 1.2.0 → 1.3.0" in body
    committed = lockfile.parse(show(bare, "main", "setlist.lock"))
    assert committed.get("api", "staging").since == "2026-07-06T12:30:00Z"
    again = promote(folder, "--env", "staging", "--at", "2026-07-06T12:40Z",
                    cache=tmp_path / "c")
    assert again.returncode == 0 and "up to date" in again.stdout
    assert len(log(bare)) == 2


def test_approval_makes_a_pull_request_branch(daemon, tmp_path):
    _, folder, bare = seeded(daemon, tmp_path, "approval.git")
    done = promote(folder, "--env", "prod", "--at", "2026-07-07T12:00Z", cache=tmp_path / "c")
    assert done.returncode == 0, done.stderr
    assert len(log(bare)) == 1  # main untouched: the change waits for review
    review = [b for b in branches(bare) if b.startswith("setlist/prod/")]
    assert len(review) == 1
    assert "Setlist-Promotion: api staging->prod" in git(
        "--git-dir", str(bare), "log", "-1", "--format=%B", review[0])


def test_hotfix_is_recorded_in_the_commit_and_the_lock(daemon, tmp_path):
    _, folder, bare = seeded(daemon, tmp_path, "hotfix.git")
    done = promote(folder, "--env", "staging", "--at", "2026-07-06T10:30Z", "--hotfix",
                   "CVE-2026-1234 fix", cache=tmp_path / "c")
    assert done.returncode == 0, done.stderr
    body = git("--git-dir", str(bare), "log", "-1", "--format=%B", "main")
    assert "Setlist-Promotion: api dev->staging (hotfix: CVE-2026-1234 fix)" in body
    assert lockfile.parse(show(bare, "main", "setlist.lock")).get(
        "api", "staging").source == "hotfix"


def test_no_promotion_commit_inside_a_freeze(daemon, tmp_path):
    _, folder, bare = seeded(daemon, tmp_path, "frozen.git")
    done = promote(folder, "--env", "prod", "--at", "2026-07-11T09:00Z", cache=tmp_path / "c")
    assert done.returncode == 0, done.stderr
    assert "blocked by freeze; opens 2026-07-13T06:00:00Z" in done.stdout
    assert branches(bare) == ["main"] and len(log(bare)) == 1


def test_bad_at_and_empty_hotfix_are_usage_errors(tmp_path):
    spec_of(tmp_path)
    assert promote(tmp_path, "--at", "yesterday", cache=tmp_path / "c").returncode == 2
    assert promote(tmp_path, "--hotfix", " ", cache=tmp_path / "c").returncode == 2
