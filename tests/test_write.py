"""The write stage, through `setlist compile` / `setlist diff` (subprocesses) and the API
(``plan_writes`` / ``apply``): what lands on disk, what is left alone, and that a failure at
any point leaves the output tree exactly as it was.

Rewrites are detected without timing: before a run every file gets an old modification time,
and a file the run did not rewrite keeps it (and its inode, since writes are renames).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from schema_util import (
    FLEET,
    YAML11,
    Loader,
    compile_folder,
    pinned_quickstart,
    rendered,
    run_cli,
    tree,
    write_spec,
)

from conftest import EXAMPLES
from setlist.compile import Document
from setlist.write import MANIFEST, WriteError, apply, plan_writes, update_overlay_images

OLD = 1_000_000_000 * 10**9  # 2001-09-09, in nanoseconds: "not rewritten by this run"

SHOP_OVERLAYS = [f"apps/shop/overlays/{env}/kustomization.yaml"
                 for env in ("dev", "prod", "staging")]


# ---------------------------------------------------------------- helpers


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def drop_block(text: str, head: str) -> str:
    """``text`` without the block that starts with ``head`` (up to its closing brace)."""
    start = text.index(head)
    end = text.index("\n}\n", start) + 3
    return text[:start] + text[end:]


QUICKSTART = pinned_quickstart()


def pin_api(text: str, tag: str) -> str:
    return replace_once(text, 'tag         = "1.4.2"', f'tag         = "{tag}"')


def without_analytics(text: str) -> str:
    for head in ("app analytics {", "image reports {", "promotion reports {"):
        text = drop_block(text, head)
    return text


def with_qa(text: str) -> str:
    """The shop also runs in a new environment `qa` of one static cluster."""
    text = replace_once(text, "deploy    = [dev, staging, prod]",
                        "deploy    = [dev, staging, prod, qa]")
    text = replace_once(text, "environment dev {",
                        'environment qa {\n  clusters = ["in-cluster"]\n}\n\nenvironment dev {')
    return text.replace("  dev     <- registry\n", "  dev     <- registry\n  qa      <- dev\n")


def stamp(root: Path) -> dict[str, int]:
    """Give every file below ``root`` an old modification time; returns their inodes."""
    inodes = {}
    for rel in tree(root):
        path = root / rel
        if path.is_file() and not path.is_symlink():
            os.utime(path, ns=(OLD, OLD))
            inodes[rel] = path.stat().st_ino
    return inodes


def rewritten(root: Path, inodes: dict[str, int]) -> set[str]:
    """Files (of those stamped) that were replaced or touched since ``stamp``."""
    out = set()
    for rel, ino in inodes.items():
        path = root / rel
        if not path.exists():
            continue
        st = path.stat()
        if st.st_ino != ino or st.st_mtime_ns != OLD:
            out.add(rel)
    return out


def changed(before: dict[str, bytes], after: dict[str, bytes]) -> dict[str, str]:
    keys = set(before) | set(after)
    return {k: "created" if k not in before else "removed" if k not in after else "updated"
            for k in sorted(keys) if before.get(k) != after.get(k)}


def manifest(root: Path, rel: str = MANIFEST) -> dict:
    return json.loads((root / rel).read_text(encoding="utf-8"))


@pytest.fixture
def spec(tmp_path):
    """A copy of the quickstart spec: ``spec.dir`` to compile, ``spec.set(text)`` to edit."""

    class Spec:
        dir = write_spec(tmp_path / "spec", QUICKSTART, "setlist.setlist")

        def set(self, text: str) -> None:
            write_spec(self.dir, text, "setlist.setlist")

    return Spec()


@pytest.fixture
def repo(tmp_path):
    """A checkout of the quickstart's config repository (bases only)."""
    out = tmp_path / "repo"
    shutil.copytree(EXAMPLES / "quickstart" / "gitops", out)
    return out


def compile_cli(spec_dir: Path, out: Path, *flags: str, cwd: Path | None = None):
    return run_cli("compile", str(spec_dir), "-o", str(out), *flags, cwd=cwd or out.parent)


@pytest.fixture
def compiled(spec, repo):
    proc = compile_cli(spec.dir, repo)
    assert proc.returncode == 0, proc.stderr
    return repo


# ---------------------------------------------------------------- first and second runs


def test_first_write_creates_every_file_and_the_manifest(spec, repo):
    bases = tree(repo)
    proc = compile_cli(spec.dir, repo)
    assert proc.returncode == 0, proc.stderr
    # the manifest is written too, but not counted: 13 files, as --check reports later
    assert proc.stdout == f"{repo}: 13 created, 0 updated, 0 removed, 0 unchanged\n"
    _, result = compile_folder(spec.dir)
    expected = rendered(result)
    assert len(expected) == 13
    after = tree(repo)
    assert {k: after[k] for k in expected} == expected
    assert set(after) == set(bases) | set(expected) | {MANIFEST}
    assert {k: after[k] for k in bases} == bases
    recorded = manifest(repo)
    assert recorded["version"] == 1 and recorded["generator"] == "setlist"
    assert recorded["files"] == {
        path: {"sha256": hashlib.sha256(data).hexdigest(),
               "owner": "user" if path.startswith("apps/") else "setlist"}
        for path, data in expected.items()}


def test_second_run_rewrites_nothing(spec, compiled):
    before = tree(compiled)
    inodes = stamp(compiled)
    proc = compile_cli(spec.dir, compiled)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith(": 0 created, 0 updated, 0 removed, 13 unchanged\n")
    assert rewritten(compiled, inodes) == set()
    assert tree(compiled) == before


def test_api_writes_then_finds_nothing_to_do(tmp_path):
    _, result = compile_folder(EXAMPLES / "quickstart")
    out = tmp_path / "out"
    plan = plan_writes(result.documents, out)
    assert [c.action for c in plan.changes] == ["create"] * 14 and not plan.problems
    assert not out.exists(), "planning wrote something"
    apply(plan, out)
    assert {k: v for k, v in tree(out).items() if k != MANIFEST} == rendered(result)
    again = plan_writes(result.documents, out)
    assert again.clean and len(again.unchanged) == 13
    assert again.summary() == "0 created, 0 updated, 0 removed, 13 unchanged"


def test_the_summary_does_not_count_the_manifest(tmp_path):
    """The manifest is written with the files but is none of them: a first write reports
    as many created files as a later check finds unchanged."""
    _, result = compile_folder(EXAMPLES / "quickstart")
    out = tmp_path / "out"
    plan = plan_writes(result.documents, out)
    assert plan.manifest == MANIFEST
    assert MANIFEST in [c.path for c in plan.changes], "the manifest must still be written"
    assert plan.summary() == "13 created, 0 updated, 0 removed, 0 unchanged"
    apply(plan, out)
    again = plan_writes(result.documents, out)
    assert len(again.unchanged) == 13 and MANIFEST not in again.unchanged
    # A change of the manifest alone (an owner added back) is written, and counted nowhere.
    recorded = manifest(out)
    del recorded["files"]["argocd/root.yaml"]["owner"]
    (out / MANIFEST).write_text(json.dumps(recorded))
    plan = plan_writes(result.documents, out)
    assert [c.path for c in plan.changes] == [MANIFEST] and not plan.problems
    assert plan.summary() == "0 created, 0 updated, 0 removed, 13 unchanged"


def test_one_pin_rewrites_exactly_the_overlays_that_run_it(spec, compiled):
    before = tree(compiled)
    inodes = stamp(compiled)
    spec.set(pin_api(QUICKSTART, "1.4.3"))
    proc = compile_cli(spec.dir, compiled)
    assert proc.returncode == 0, proc.stderr
    # the three overlays of the shop (the api runs there, nowhere else), and the manifest
    # (written, not counted)
    assert proc.stdout.endswith(": 0 created, 3 updated, 0 removed, 10 unchanged\n")
    after = tree(compiled)
    assert changed(before, after) == {MANIFEST: "updated",
                                      **{p: "updated" for p in SHOP_OVERLAYS}}
    assert rewritten(compiled, inodes) == {MANIFEST, *SHOP_OVERLAYS}
    for path in SHOP_OVERLAYS:
        assert after[path] == before[path].replace(b'newTag: "1.4.2"', b'newTag: "1.4.3"')


# ---------------------------------------------------------------- stale files


def test_removed_app_and_environment_remove_their_files(spec, compiled):
    before = tree(compiled)
    spec.set(without_analytics(QUICKSTART))
    proc = compile_cli(spec.dir, compiled)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith(": 0 created, 0 updated, 5 removed, 8 unchanged\n")
    after = tree(compiled)
    assert changed(before, after) == {
        MANIFEST: "updated",
        "apps/analytics/overlays/dev/kustomization.yaml": "removed",
        "apps/analytics/overlays/prod/kustomization.yaml": "removed",
        "argocd/applicationsets/analytics-dev.yaml": "removed",
        "argocd/applicationsets/analytics-prod.yaml": "removed",
        "argocd/projects/analytics.yaml": "removed",
    }
    # the overlays folder is pruned; the user's base (not Setlist's) stays
    assert not (compiled / "apps/analytics/overlays").exists()
    assert (compiled / "apps/analytics/base/kustomization.yaml").is_file()
    assert not [k for k in after if k.endswith("/")], "empty folders were left behind"
    generated = {k for k in after if k != MANIFEST and "/base/" not in k and k != "README.md"}
    assert set(manifest(compiled)["files"]) == generated and len(generated) == 8


def test_removed_environments_prune_whole_folders(tmp_path):
    spec_dir = write_spec(tmp_path / "spec", FLEET)
    out = tmp_path / "out"
    assert compile_cli(spec_dir, out).returncode == 0
    assert (out / "argocd/applications/api-edge.yaml").is_file()
    # worker goes away; api keeps only prod: every static-cluster environment is gone
    text = drop_block(FLEET, "app worker {")
    text = replace_once(text, "deploy      = [lab, edge, prod]", "deploy      = [prod]")
    write_spec(spec_dir, text)
    proc = compile_cli(spec_dir, out)
    assert proc.returncode == 0, proc.stderr
    after = tree(out)
    assert sorted(after) == [MANIFEST, "apps/api/overlays/prod/kustomization.yaml",
                             "argocd/applicationsets/api-prod.yaml",
                             "argocd/projects/platform.yaml", "argocd/root.yaml"]
    for gone in ("argocd/applications", "apps/worker", "apps/api/overlays/lab"):
        assert not (out / gone).exists(), gone


def test_edited_stale_file_is_refused(spec, compiled):
    path = compiled / "argocd/projects/analytics.yaml"
    path.write_bytes(path.read_bytes() + b"# keep me\n")
    before = tree(compiled)
    spec.set(without_analytics(QUICKSTART))
    proc = compile_cli(spec.dir, compiled)
    assert proc.returncode == 1
    assert "argocd/projects/analytics.yaml: is a stale generated file" in proc.stderr
    assert tree(compiled) == before


def test_a_stale_overlay_the_user_edited_is_kept(spec, compiled):
    """An overlay whose images setlist merged into a user's edit is the user's file: when
    the spec stops producing it, it is not removed (its bytes alone cannot show the edit)."""
    overlay = compiled / "apps/analytics/overlays/prod/kustomization.yaml"
    overlay.write_text(overlay.read_text() + "namePrefix: prod-\n")
    spec.set(replace_once(QUICKSTART, 'tag        = "2.3.7"', 'tag        = "2.3.8"'))
    assert compile_cli(spec.dir, compiled).returncode == 0
    assert manifest(compiled)["files"][str(overlay.relative_to(compiled))]["edited"] == "true"
    spec.set(without_analytics(QUICKSTART))
    before = tree(compiled)
    proc = compile_cli(spec.dir, compiled)
    assert proc.returncode == 1
    assert "apps/analytics/overlays/prod/kustomization.yaml: is a stale overlay" in proc.stderr
    assert tree(compiled) == before
    proc = compile_cli(spec.dir, compiled, "--force")
    assert proc.returncode == 0, proc.stderr
    assert not overlay.exists()


# ---------------------------------------------------------------- refusals and --force


def test_two_documents_for_one_file_are_refused(tmp_path):
    docs = [Document("argocd/a-b-c.yaml", {"kind": "ApplicationSet", "n": 1}),
            Document("argocd/a-b-c.yaml", {"kind": "ApplicationSet", "n": 2})]
    plan = plan_writes(docs, tmp_path)
    assert [(p.path, p.message) for p in plan.problems] == [
        ("argocd/a-b-c.yaml", "more than one generated document would be written to this "
                              "file")]
    with pytest.raises(WriteError):
        apply(plan, tmp_path)
    assert tree(tmp_path) == {}


def test_hand_edit_is_refused_and_nothing_is_written(spec, compiled):
    target = compiled / "argocd/applicationsets/shop-prod.yaml"
    target.write_bytes(target.read_bytes().replace(b"namespace: shop", b"namespace: shop-x"))
    spec.set(pin_api(QUICKSTART, "1.4.3"))  # other files would change too
    before = tree(compiled)
    proc = compile_cli(spec.dir, compiled)
    assert proc.returncode == 1
    assert "setlist: error: argocd/applicationsets/shop-prod.yaml: was edited by hand" \
        in proc.stderr
    assert "nothing was written" in proc.stderr
    assert proc.stdout == ""
    assert tree(compiled) == before


def test_force_overrides_a_hand_edit(spec, compiled):
    target = compiled / "argocd/applicationsets/shop-prod.yaml"
    fresh = target.read_bytes()
    target.write_bytes(fresh.replace(b"namespace: shop", b"namespace: shop-x"))
    proc = compile_cli(spec.dir, compiled, "--force")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith(": 0 created, 1 updated, 0 removed, 12 unchanged\n")
    assert target.read_bytes() == fresh
    assert compile_cli(spec.dir, compiled, "--check").returncode == 0


def test_a_file_setlist_did_not_write_is_refused(spec, repo):
    foreign = repo / "argocd" / "root.yaml"
    foreign.parent.mkdir()
    foreign.write_text("# the platform team's root app\nkind: Application\n")
    before = tree(repo)
    proc = compile_cli(spec.dir, repo)
    assert proc.returncode == 1
    assert "argocd/root.yaml: exists but was not written by setlist" in proc.stderr
    assert tree(repo) == before
    proc = compile_cli(spec.dir, repo, "--force")
    assert proc.returncode == 0, proc.stderr
    assert foreign.read_bytes().startswith(b"# Generated by setlist")


# ---------------------------------------------------------------- a damaged manifest


SHA = "0" * 64


@pytest.mark.parametrize("entry, message", [
    (["x"], 'the entry for "argocd/root.yaml" is not an object'),
    ("abc", 'the entry for "argocd/root.yaml" is not an object'),
    ({"owner": "setlist"}, 'the entry for "argocd/root.yaml" has no "sha256"'),
    ({"sha256": "abc", "owner": "setlist"}, '"sha256" that is not 64 hexadecimal digits'),
    ({"sha256": 7, "owner": "setlist"}, '"sha256" that is not 64 hexadecimal digits'),
    ({"sha256": "g" * 64}, '"sha256" that is not 64 hexadecimal digits'),
    ({"sha256": SHA, "owner": "root"}, 'has an "owner" other than "setlist" or "user"'),
    ({"sha256": SHA, "owner": None}, 'has an "owner" other than "setlist" or "user"'),
    ({"sha256": SHA, "owner": "user", "edited": "yes"}, 'has an "edited" other than "true"'),
    ({"sha256": SHA, "owner": "user", "edited": True}, 'has an "edited" other than "true"'),
], ids=["list", "string", "no-sha256", "short-sha256", "number-sha256", "not-hex",
        "bad-owner", "null-owner", "bad-edited", "boolean-edited"])
def test_a_bad_manifest_entry_is_a_write_error(tmp_path, entry, message):
    _, result = compile_folder(EXAMPLES / "quickstart")
    out = tmp_path / "out"
    (out / ".setlist").mkdir(parents=True)
    (out / MANIFEST).write_text(json.dumps(
        {"version": 1, "generator": "setlist", "files": {
            "argocd/projects/shop.yaml": {"sha256": SHA, "owner": "setlist"},
            "argocd/root.yaml": entry}}))
    with pytest.raises(WriteError) as info:
        plan_writes(result.documents, out)
    assert str(info.value).startswith(f"{MANIFEST}: ")
    assert message in str(info.value)


@pytest.mark.parametrize("text", ["[]", '{"files": []}', '{"version": 1}', "{", "\xff"])
def test_a_file_that_is_no_manifest_is_a_write_error(tmp_path, text):
    (tmp_path / ".setlist").mkdir()
    (tmp_path / MANIFEST).write_bytes(text.encode("latin-1"))
    with pytest.raises(WriteError, match="is not a manifest written by setlist"):
        plan_writes([], tmp_path)


def test_a_bad_manifest_entry_is_reported_by_the_cli(spec, compiled):
    recorded = manifest(compiled)
    recorded["files"]["argocd/root.yaml"] = ["x"]
    (compiled / MANIFEST).write_text(json.dumps(recorded))
    before = tree(compiled)
    proc = compile_cli(spec.dir, compiled)
    assert proc.returncode == 3
    assert f'{MANIFEST}: the entry for "argocd/root.yaml" is not an object' in proc.stderr
    assert "Traceback" not in proc.stderr
    assert tree(compiled) == before


def test_a_manifest_entry_without_owner_is_setlists(spec, compiled):
    """Entries without "owner" (written by hand, or by an older setlist) are setlist's,
    for produced files and for stale ones alike."""
    stale = compiled / "argocd/projects/old.yaml"
    stale.write_text("kind: AppProject\n")
    recorded = manifest(compiled)
    for entry in recorded["files"].values():
        del entry["owner"]
    recorded["files"]["argocd/projects/old.yaml"] = {"sha256": SHA}   # edited since
    (compiled / MANIFEST).write_text(json.dumps(recorded))
    proc = compile_cli(spec.dir, compiled)
    assert proc.returncode == 1
    assert "argocd/projects/old.yaml: is a stale generated file" in proc.stderr
    assert "Traceback" not in proc.stderr
    stale.unlink()
    proc = compile_cli(spec.dir, compiled)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith(": 0 created, 0 updated, 0 removed, 13 unchanged\n")
    files = manifest(compiled)["files"]
    assert "argocd/projects/old.yaml" not in files
    assert {e["owner"] for p, e in files.items() if not p.startswith("apps/")} == {"setlist"}
    assert {e["owner"] for p, e in files.items() if p.startswith("apps/")} == {"user"}


# ---------------------------------------------------------------- --check and diff


def test_check_passes_when_up_to_date_and_fails_on_drift(spec, compiled):
    proc = compile_cli(spec.dir, compiled, "--check")
    assert (proc.returncode, proc.stdout) == (0, "up to date: 13 files match the spec\n")
    spec.set(pin_api(QUICKSTART, "1.4.3"))
    before = tree(compiled)
    proc = compile_cli(spec.dir, compiled, "--check")
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [f"  update  {p}" for p in [MANIFEST, *SHOP_OVERLAYS]]
    assert "drift: 0 created, 3 updated, 0 removed, 10 unchanged if compiled now" \
        in proc.stderr
    assert tree(compiled) == before


def test_check_of_an_empty_checkout_writes_nothing(spec, tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    proc = compile_cli(spec.dir, out, "--check")
    assert proc.returncode == 1
    assert "  create  argocd/root.yaml" in proc.stdout.splitlines()
    assert "drift: 13 created, 0 updated, 0 removed, 0 unchanged" in proc.stderr
    assert tree(out) == {}


def test_check_reports_a_hand_edit(spec, compiled):
    (compiled / "argocd/root.yaml").write_text("kind: Application\n")
    proc = compile_cli(spec.dir, compiled, "--check")
    assert proc.returncode == 1
    assert "argocd/root.yaml: was edited by hand" in proc.stderr


def test_diff_prints_a_unified_diff_and_writes_nothing(spec, compiled):
    proc = run_cli("diff", str(spec.dir), "-o", str(compiled))
    assert (proc.returncode, proc.stdout) == (0, "")
    spec.set(pin_api(QUICKSTART, "1.4.3"))
    before = tree(compiled)
    proc = run_cli("diff", str(spec.dir), "-o", str(compiled))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line for line in lines if line.startswith("+++ ")] == \
        [f"+++ b/{p}" for p in [MANIFEST, *SHOP_OVERLAYS]]
    assert [line for line in lines if line.startswith("--- ")] == \
        [f"--- a/{p}" for p in [MANIFEST, *SHOP_OVERLAYS]]
    assert lines.count('-  newTag: "1.4.2"') == 3 and lines.count('+  newTag: "1.4.3"') == 3
    assert all(line.startswith(("--- ", "+++ ", "@@ ", " ", "-", "+")) for line in lines)
    assert tree(compiled) == before
    proc = run_cli("diff", "--exit-code", str(spec.dir), "-o", str(compiled))
    assert proc.returncode == 1 and proc.stdout


def test_diff_of_a_new_file_is_against_dev_null(spec, tmp_path):
    proc = run_cli("diff", str(spec.dir), "-o", str(tmp_path / "none"))
    assert proc.returncode == 0, proc.stderr
    assert "--- /dev/null\n+++ b/argocd/root.yaml\n" in proc.stdout
    assert not (tmp_path / "none").exists()


# ---------------------------------------------------------------- user overlays


USER_OVERLAY = """\
# Production overlay for the shop.
# Owned by the storefront team.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namePrefix: prod-   # every resource gets this prefix
resources:
  - ../../base      # the shared base
{images}
# Prod runs more replicas.
patches:
  - target:
      kind: Deployment
      name: shop
    patch: |-
      - op: replace
        path: /spec/replicas
        value: 5   # peak traffic

labels:
  - pairs: {{tier: prod}}   # flow style stays
"""

USER_IMAGES = """\
images:
  # the api, pinned by setlist
  - name: ghcr.io/example/shop-api
    newTag: '1.4.2'
  - {name: shop-web, newName: ghcr.io/example/shop-web, newTag: main-3f9c2ab}"""

NEW_IMAGES = """\
images:
- name: ghcr.io/example/shop-api
  newTag: "1.4.3"
- name: shop-web
  newName: ghcr.io/example/shop-web
  newTag: main-3f9c2ab"""

# USER_IMAGES after the pin: only the api's entry is rewritten (where it stood, at the
# list's indentation); the comment above it and the web's entry (already right) stay.
SPLICED_IMAGES = """\
images:
  # the api, pinned by setlist
  - name: ghcr.io/example/shop-api
    newTag: "1.4.3"
  - {name: shop-web, newName: ghcr.io/example/shop-web, newTag: main-3f9c2ab}"""

SIDECAR = """
  # our own sidecar, not setlist's
  - name: sidecar
    newTag: v9  # mine"""

PROD = "apps/shop/overlays/prod/kustomization.yaml"


def test_an_edited_overlay_is_updated_round_trip(spec, compiled):
    overlay = compiled / PROD
    overlay.write_text(USER_OVERLAY.format(images=USER_IMAGES))
    spec.set(pin_api(QUICKSTART, "1.4.3"))
    proc = compile_cli(spec.dir, compiled)
    assert proc.returncode == 0, proc.stderr
    assert overlay.read_text() == USER_OVERLAY.format(images=SPLICED_IMAGES)
    assert manifest(compiled)["files"][PROD]["edited"] == "true"
    assert compile_cli(spec.dir, compiled, "--check").returncode == 0
    # Back to the old pin: only the images change again, and the file stays the user's.
    spec.set(QUICKSTART)
    assert compile_cli(spec.dir, compiled).returncode == 0
    assert overlay.read_text() == USER_OVERLAY.format(
        images=SPLICED_IMAGES.replace('"1.4.3"', '"1.4.2"'))


def test_the_users_own_images_entries_are_kept(spec, compiled):
    """Only the entries named by the images setlist computes are setlist's: an entry the
    user added stays, with its comments, through a pin and through a compile that changes
    nothing."""
    overlay = compiled / PROD
    overlay.write_text(USER_OVERLAY.format(images=USER_IMAGES + SIDECAR))
    spec.set(pin_api(QUICKSTART, "1.4.3"))
    proc = compile_cli(spec.dir, compiled)
    assert proc.returncode == 0, proc.stderr
    assert overlay.read_text() == USER_OVERLAY.format(images=SPLICED_IMAGES + SIDECAR)
    assert compile_cli(spec.dir, compiled, "--check").returncode == 0
    before = tree(compiled)
    assert compile_cli(spec.dir, compiled).returncode == 0
    assert tree(compiled) == before


def test_an_overlay_written_before_setlist_is_kept_round_trip(spec, repo):
    overlay = repo / PROD
    overlay.parent.mkdir(parents=True)
    overlay.write_text(USER_OVERLAY.format(images=USER_IMAGES))
    spec.set(pin_api(QUICKSTART, "1.4.3"))
    proc = compile_cli(spec.dir, repo)
    assert proc.returncode == 0, proc.stderr
    assert overlay.read_text() == USER_OVERLAY.format(images=SPLICED_IMAGES)


def test_an_overlay_without_images_gets_them_appended(spec, compiled):
    overlay = compiled / PROD
    text = "# mine\nresources:\n  - ../../base\n"
    overlay.write_text(text)
    proc = compile_cli(spec.dir, compiled)
    assert proc.returncode == 0, proc.stderr
    assert overlay.read_text() == text + NEW_IMAGES.replace('"1.4.3"', '"1.4.2"') + "\n"


IMAGES_ON = [{"name": "a", "newTag": "on"}]


@pytest.mark.parametrize("old, images, new", [
    # a comment after the list at the margin belongs to what follows; blank lines stay
    ("resources:\n- ../../base\nimages:\n- name: a\n  newTag: x\n\n# next\nnamePrefix: p\n",
     IMAGES_ON,
     'resources:\n- ../../base\nimages:\n- name: a\n  newTag: "on"\n\n# next\nnamePrefix: p\n'),
    ("resources:\n- ../../base\nimages:\n- name: a\n  newTag: x\n# trailing\n", IMAGES_ON,
     'resources:\n- ../../base\nimages:\n- name: a\n  newTag: "on"\n# trailing\n'),
    # no images any more and none left: the entry goes, the rest stays
    ("resources:\n- ../../base\nimages: []  # mine\n\nnamePrefix: p\n",
     None, "resources:\n- ../../base\n\nnamePrefix: p\n"),
    # no images yet: appended (a missing final newline is added)
    ("resources: [../../base]", IMAGES_ON,
     'resources: [../../base]\nimages:\n- name: a\n  newTag: "on"\n'),
    # Windows line endings stay Windows line endings
    ("resources:\r\n- ../../base\r\nimages:\r\n- name: a\r\nnamePrefix: p\r\n", IMAGES_ON,
     'resources:\r\n- ../../base\r\nimages:\r\n- name: a\r\n  newTag: "on"\r\n'
     "namePrefix: p\r\n"),
    # a flow-style top level cannot be spliced: dumped again, still YAML-1.1 safe
    ("{resources: [../../base], images: [{name: a, newTag: x}]}\n", IMAGES_ON,
     '{resources: [../../base], images: [{name: a, newTag: "on"}]}\n'),
    # already right: not touched at all, whatever its style
    ("images: [{name: a, newTag: 'on'}]  # ok\nresources: [x]\n", IMAGES_ON,
     "images: [{name: a, newTag: 'on'}]  # ok\nresources: [x]\n"),
    # the user's own entries stay as written (comments too); setlist's is replaced in place
    ("images:\n- name: sidecar\n  newTag: v9  # mine\n- name: a\n  newTag: x  # old\n"
     "- name: b  # theirs\nnamePrefix: p\n", IMAGES_ON,
     'images:\n- name: sidecar\n  newTag: v9  # mine\n- name: a\n  newTag: "on"\n'
     "- name: b  # theirs\nnamePrefix: p\n"),
    # a managed entry the list lacks is appended after the last one, at its indentation
    ("images:  # ours\n  # mine\n  - name: sidecar\n    newTag: v9  # mine\n\n# next\n"
     "namePrefix: p\n", IMAGES_ON,
     'images:  # ours\n  # mine\n  - name: sidecar\n    newTag: v9  # mine\n'
     '  - name: a\n    newTag: "on"\n\n# next\nnamePrefix: p\n'),
    # ... also to a file without a final newline
    ("images:\n- name: sidecar", IMAGES_ON,
     'images:\n- name: sidecar\n- name: a\n  newTag: "on"\n'),
    # no images any more: only setlist's entries would go, so the user's stay
    ("images:  # mine\n- name: sidecar\n  newTag: v9\n", None,
     "images:  # mine\n- name: sidecar\n  newTag: v9\n"),
    # a second entry for a managed name goes (it would shadow setlist's or be shadowed)
    ("images:\n- name: a\n  newTag: x\n- name: s\n- name: a\n  newTag: y\n", IMAGES_ON,
     'images:\n- name: a\n  newTag: "on"\n- name: s\n'),
    # Windows line endings, for entries replaced and appended
    ("images:\r\n- name: s\r\n- name: a\r\n  newTag: x\r\nb: 1\r\n",
     [*IMAGES_ON, {"name": "z", "newTag": "1.10"}],
     'images:\r\n- name: s\r\n- name: a\r\n  newTag: "on"\r\n- name: z\r\n'
     '  newTag: "1.10"\r\nb: 1\r\n'),
    # a flow-style list is written anew in block style, the user's entries kept
    ("images: [{name: s, newTag: v9}, {name: a}]  # c\nnamePrefix: p\n", IMAGES_ON,
     'images:\n- name: s\n  newTag: v9\n- name: a\n  newTag: "on"\nnamePrefix: p\n'),
    # ... and in a flow-style top level they are kept too
    ("{images: [{name: s, newTag: v9}, {name: a}]}\n", IMAGES_ON,
     '{images: [{name: s, newTag: v9}, {name: a, newTag: "on"}]}\n'),
], ids=["comment-before-next-key", "trailing-comment", "removed", "appended", "crlf", "flow",
        "unchanged", "users-entries-kept", "managed-appended", "appended-no-final-newline",
        "none-managed", "duplicate-managed", "crlf-merge", "flow-list-merge",
        "flow-top-level-merge"])
def test_update_overlay_images(old, images, new):
    assert update_overlay_images(old.encode(), images).decode() == new
    # and once up to date, the file is left as it is
    assert update_overlay_images(new.encode(), images).decode() == new


@pytest.mark.parametrize("text, message", [
    (b"resources: [\n", "is not valid YAML"),
    (b"- a\n- b\n", "its top level is not a mapping"),
])
def test_update_overlay_images_refuses_what_is_not_a_kustomization(text, message):
    with pytest.raises(WriteError, match=message):
        update_overlay_images(text, IMAGES_ON)


def test_untouched_overlays_are_regenerated_fresh(spec, compiled, tmp_path):
    """An incremental compile gives the same bytes as a compile from scratch, for every
    file the user did not edit (the manifest too, which records no edit)."""
    spec.set(with_qa(pin_api(QUICKSTART, "1.4.3")))
    assert compile_cli(spec.dir, compiled).returncode == 0
    scratch = tmp_path / "scratch"
    shutil.copytree(EXAMPLES / "quickstart" / "gitops", scratch)
    assert compile_cli(spec.dir, scratch).returncode == 0
    assert tree(compiled) == tree(scratch)
    _, result = compile_folder(spec.dir)
    for path, data in rendered(result).items():
        assert (compiled / path).read_bytes() == data, path


# ---------------------------------------------------------------- atomicity


class Boom(Exception):
    pass


@pytest.fixture
def pending(spec, compiled):
    """A compiled quickstart and the write plan of a changed spec that creates (in new
    folders), updates and removes files: (root, plan)."""
    spec.set(with_qa(without_analytics(pin_api(QUICKSTART, "1.4.3"))))
    _, result = compile_folder(spec.dir)
    plan = plan_writes(result.documents, compiled)
    assert not plan.problems
    assert {c.action for c in plan.changes} == {"create", "update", "delete"}
    assert len(plan.changes) == 12
    return compiled, plan


@pytest.mark.parametrize("fail_at", ["second", "last"])
def test_a_failure_after_a_swap_restores_everything(pending, fail_at):
    root, plan = pending
    before = tree(root)
    last = len(plan.changes) - 1
    at = 1 if fail_at == "second" else last
    seen = []

    def on_step(index):
        seen.append(index)
        if index == at:
            raise Boom(index)

    with pytest.raises(Boom):
        apply(plan, root, on_step=on_step)
    assert seen == list(range(at + 1))
    assert tree(root) == before
    apply(plan, root)  # the same plan still applies afterwards
    assert tree(root) != before
    assert set(tree(root)) >= {"argocd/applications/shop-qa.yaml",
                               "apps/shop/overlays/qa/kustomization.yaml"}


def test_a_filesystem_failure_while_staging_restores_everything(pending):
    root, plan = pending
    # A regular file where the folder of a new file must go: staging fails after the
    # manifest and the shop's overlays (one in a new folder) were staged.
    (root / "argocd/applications").write_text("in the way\n")
    before = tree(root)
    with pytest.raises(NotADirectoryError):
        apply(plan, root)
    assert tree(root) == before


def test_a_failure_writing_into_a_new_checkout_leaves_no_folder(tmp_path):
    _, result = compile_folder(EXAMPLES / "quickstart")
    out = tmp_path / "new" / "checkout"
    plan = plan_writes(result.documents, out)

    def on_step(index):
        if index == 3:
            raise Boom(index)

    with pytest.raises(Boom):
        apply(plan, out, on_step=on_step)
    assert tree(tmp_path) == {}


# ---------------------------------------------------------------- symbolic links


def test_a_symlinked_folder_leading_outside_is_refused(spec, repo, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo / "argocd").symlink_to(outside, target_is_directory=True)
    before = tree(repo)
    proc = compile_cli(spec.dir, repo)
    assert proc.returncode == 3  # the output folder cannot be written
    assert "argocd/" in proc.stderr and "symbolic link" in proc.stderr
    assert tree(repo) == before and tree(outside) == {}
    _, result = compile_folder(spec.dir)
    with pytest.raises(WriteError, match="symbolic link"):
        plan_writes(result.documents, repo)


def test_a_symlinked_file_is_refused(spec, compiled, tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text("precious\n")
    target = compiled / "argocd/root.yaml"
    target.unlink()
    target.symlink_to(outside)
    before = tree(compiled)
    proc = compile_cli(spec.dir, compiled)
    assert proc.returncode == 3  # the output folder cannot be written
    assert "argocd/root.yaml: is a symbolic link" in proc.stderr
    assert tree(compiled) == before and outside.read_text() == "precious\n"


def test_a_symlink_appearing_after_planning_is_refused_while_applying(pending, tmp_path):
    root, plan = pending
    outside = tmp_path / "outside"
    shutil.move(root / "argocd", outside)
    (root / "argocd").symlink_to(outside, target_is_directory=True)
    before, outside_before = tree(root), tree(outside)
    with pytest.raises(WriteError, match="symbolic link"):
        apply(plan, root)
    assert tree(root) == before and tree(outside) == outside_before


# ---------------------------------------------------------------- determinism


@pytest.mark.parametrize("spec_text", [QUICKSTART, FLEET], ids=["quickstart", "fleet"])
def test_output_does_not_depend_on_hash_seeds(tmp_path, spec_text):
    spec_dir = write_spec(tmp_path / "spec", spec_text)
    trees = []
    for seed in ("0", "1", "random"):
        out = tmp_path / f"out-{seed}"
        proc = run_cli("compile", str(spec_dir), "-o", str(out),
                       env={"PYTHONHASHSEED": seed})
        assert proc.returncode == 0, proc.stderr
        trees.append(tree(out))
    assert trees[0] and trees[0] == trees[1] == trees[2]


# ---------------------------------------------------------------- YAML 1.1


def strings_read_back(root: Path) -> list:
    return [doc for rel, data in tree(root).items() if rel.endswith(".yaml")
            for doc in yaml.load_all(data, Loader=Loader)]


def test_yaml_1_1_lookalikes_stay_strings(tmp_path):
    spec_dir = write_spec(tmp_path / "spec", YAML11)
    out = tmp_path / "out"
    assert compile_cli(spec_dir, out).returncode == 0
    docs = {(d["kind"], d["metadata"]["name"] if "metadata" in d else d["resources"][0]): d
            for d in strings_read_back(out)}
    overlay = yaml.load((out / "apps/trap/overlays/dev/kustomization.yaml").read_bytes(),
                        Loader=Loader)
    assert overlay["images"] == [
        {"name": "ghcr.io/example/on", "newTag": "on"},
        {"name": "ghcr.io/example/yes", "newTag": "1.10"},
        {"name": "yes", "newName": "ghcr.io/example/octal", "newTag": "0123"}]
    appset = docs[("ApplicationSet", "trap-dev")]["spec"]
    assert appset["generators"][0]["clusters"]["selector"] == {
        "matchLabels": {"enabled": "on"},
        "matchExpressions": [{"key": "version", "operator": "In", "values": ["0123", "1.10"]}]}
    meta = appset["template"]["metadata"]
    assert {k: v for k, v in meta["labels"].items() if "/" not in k} == {
        "accepted": "yes", "enabled": "on", "no": "no", "version": "1.10", "zero": "0123"}
    assert meta["annotations"] == {"example.com/at": "12:30", "example.com/off": "off"}
    app = docs[("Application", "trap-night")]
    assert app["metadata"]["annotations"]["example.com/at"] == "12:30"
    (window,) = docs[("AppProject", "trap")]["spec"]["syncWindows"]
    assert window["schedule"] == "30 12 * * *" and window["duration"] == "30m"


def test_yaml_1_1_lookalikes_stay_strings_in_a_round_tripped_overlay(tmp_path):
    spec_dir = write_spec(tmp_path / "spec", YAML11)
    out = tmp_path / "out"
    assert compile_cli(spec_dir, out).returncode == 0
    overlay = out / "apps/trap/overlays/dev/kustomization.yaml"
    overlay.write_text("# edited\n" + overlay.read_text() + "namePrefix: x-\n")
    text = YAML11.replace('tag        = "on"', 'tag        = "off"').replace(
        '"1.10"\n}', '"1.20"\n}').replace('"0123"\n}', '"012"\n}')
    write_spec(spec_dir, text)
    proc = compile_cli(spec_dir, out)
    assert proc.returncode == 0, proc.stderr
    data = yaml.load(overlay.read_bytes(), Loader=Loader)
    assert data["images"] == [
        {"name": "ghcr.io/example/on", "newTag": "off"},
        {"name": "ghcr.io/example/yes", "newTag": "1.20"},
        {"name": "yes", "newName": "ghcr.io/example/octal", "newTag": "012"}]
    assert data["namePrefix"] == "x-" and overlay.read_text().startswith("# edited\n")
