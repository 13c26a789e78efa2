"""Environments updated in the cluster: the ImageUpdater resources, the overlays beside them,
resolution skipping them, and the checker refusing a second writer of their versions.

Every ImageUpdater is validated against the upstream CRD (../shared/schemas/image-updater),
both its structural schema and its CEL rules, as a cluster would receive it (rendered and
read back with a YAML 1.1 reader). Which Applications a resource selects is computed the
way Image Updater does it (Go's ``filepath.Match`` on the names of the Applications in its
namespace), over the Application names the offline ApplicationSet expansion generates.
"""

from __future__ import annotations

import re

import pytest
import yaml
from schema_util import (
    IMAGE_UPDATER_CRD,
    IMAGE_UPDATER_RULES,
    Loader,
    crd_rules,
    image_updater_rule_errors,
    load_image_updater_crd,
    load_image_updater_validator,
    rendered,
    schema_errors,
    write_spec,
)

from conftest import unavailable
from setlist.compile.imageupdater import API_VERSION, pull_request_provider, repo_host
from setlist.inventory import Cluster
from setlist.lockfile import Lock, LockEntry
from setlist.preview import preview
from setlist.project import load
from setlist.resolve import registry_fed
from setlist.write import apply, plan_writes

SPEC = """\
gitops {
  repo      = "https://github.com/acme/fleet"
  branch    = "release"
  namespace = "argo"
  path      = "clusters/main"
}

registry ghcr { host = "ghcr.io" }

image api {
  repository  = ghcr / "acme/api"
  strategy    = semver("^1.4")
  allow_tags  = /^v?\\d+\\.\\d+\\.\\d+$/
  ignore_tags = ["*-debug", "*-rc*"]
  platforms   = ["linux/amd64", "linux/arm64"]
}
image web {
  repository = ghcr / "acme/web"
  strategy   = digest("stable")
}
image worker {
  repository = "registry.example.com:5000/acme/worker"
  strategy   = newest_build
  allow_tags = /^main-[0-9a-f]{7}$/
}
image pinned {
  repository = ghcr / "acme/pinned"
  tag        = "1.0.0"
}

environment dev {
  clusters = cluster.env == "dev"
  updates  = in_cluster(method: git, interval: 5m)
}
environment prod {
  clusters  = cluster.env == "prod"
  updates   = in_cluster(method: git)
  writeback = pull_request
}
environment prod-eu {
  clusters = cluster.env == "prod-eu"
  updates  = in_cluster
}
environment lab {
  clusters = ["in-cluster"]
  updates  = in_cluster(method: argocd)
}
environment edge {
  clusters = ["edge-1", "https://10.1.2.3:6443"]
  updates  = in_cluster(method: git)
}
environment qa {
  clusters = cluster.env == "qa"
}

app shop {
  base      = "apps/shop/base"
  namespace = "shop"
  images    = [api, web as "shop-web"]
  deploy    = [dev, prod, prod-eu, lab, edge, qa]
}
app jobs {
  base      = "apps/jobs/base"
  namespace = "jobs"
  images    = [worker]
  deploy    = [prod, prod-eu]
}
app legacy {
  base      = "apps/legacy/base"
  namespace = "legacy"
  images    = [pinned]
  deploy    = qa
}
app docs {
  base      = "apps/docs/base"
  namespace = "docs"
  deploy    = [dev, prod]
}
"""

def cluster(name: str, env: str | None = None) -> Cluster:
    """A cluster Secret as the ApplicationSet controller lists it."""
    labels = {"argocd.argoproj.io/secret-type": "cluster"}
    if env:
        labels["env"] = env
    return Cluster(name=name, server=f"https://{name.lower()}.example.com", labels=labels)


CLUSTERS = [cluster("dev-1", "dev"), cluster("Prod_EU.1", "prod-eu"),
            cluster("prod-us-1", "prod"), cluster("prod-us-2", "prod"), cluster("qa-1", "qa"),
            cluster("edge-1")]


@pytest.fixture(scope="module")
def validator():
    if not IMAGE_UPDATER_CRD.is_file():
        unavailable(f"the Image Updater CRD is not at {IMAGE_UPDATER_CRD}")
    return load_image_updater_validator()


def compiled(text: str = SPEC, lock: Lock | None = None):
    project = load((), overrides={"spec.setlist": text})
    assert project.ok, [str(d) for d in project.errors]
    result = project.compile(lock=lock if lock is not None else Lock())
    assert result.ok, [str(d) for d in result.diagnostics]
    return project, result


def updaters(result) -> dict[str, dict]:
    """The ImageUpdater documents by path, as a cluster reads them (YAML 1.1)."""
    out = {}
    for path, data in rendered(result).items():
        if "/image-updaters/" in path:
            (doc,) = yaml.load_all(data, Loader=Loader)
            out[path] = doc
    return out


def by_name(result) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in updaters(result).values()}


def warnings_of(result, code: str) -> list:
    return [d for d in result.diagnostics if d.code == code]


# ---------------------------------------------------------------- valid, and where


def test_the_crd_rules_are_the_ones_the_tests_check():
    if not IMAGE_UPDATER_CRD.is_file():
        unavailable(f"the Image Updater CRD is not at {IMAGE_UPDATER_CRD}")
    assert crd_rules(load_image_updater_crd()) == set(IMAGE_UPDATER_RULES)


def test_every_image_updater_is_valid_against_the_crd(validator):
    _, result = compiled()
    docs = updaters(result)
    assert sorted(docs) == [
        f"clusters/main/argocd/image-updaters/{name}.yaml"
        for name in ("jobs-prod-eu", "jobs-prod", "shop-dev", "shop-edge", "shop-lab",
                     "shop-prod-eu", "shop-prod")]
    for path, doc in docs.items():
        assert doc["apiVersion"] == API_VERSION
        assert schema_errors(validator, doc) == [], path
        assert image_updater_rule_errors(doc) == [], path


def test_the_schema_and_the_rules_can_fail(validator):
    _, result = compiled()
    doc = by_name(result)["shop-prod"]
    doc["spec"]["applicationRefs"][0]["images"][0]["alias"] = "-api"
    doc["spec"]["writeBackConfig"]["method"] = "git:"
    doc["spec"]["writeBackConfig"]["gitConfig"]["pullRequest"] = {"github": {}, "gitlab": {}}
    doc["spec"]["applicationRefs"].append(dict(doc["spec"]["applicationRefs"][0], images=[]))
    errors = schema_errors(validator, doc)
    assert any(e.startswith("spec.applicationRefs.0.images.0.alias: ") for e in errors)
    assert any(e.startswith("spec.writeBackConfig.method: ") for e in errors)
    rules = image_updater_rule_errors(doc)
    assert "spec.applicationRefs: map-keys:namePattern" in rules
    assert any(r.startswith("spec.applicationRefs[]: ") for r in rules)
    assert any(r.startswith("spec.writeBackConfig.gitConfig.pullRequest: ") for r in rules)


def test_no_image_updater_without_images_or_for_setlist_environments():
    _, result = compiled()
    names = set(by_name(result))
    assert not any(n.startswith("docs-") for n in names)       # the CRD needs images
    assert not any(n.endswith("-qa") for n in names)           # updates = setlist


def test_metadata_names_the_app_and_environment_in_argo_cds_namespace():
    _, result = compiled()
    meta = by_name(result)["shop-prod-eu"]["metadata"]
    assert meta == {"name": "shop-prod-eu", "namespace": "argo", "labels": {
        "app.kubernetes.io/managed-by": "setlist", "setlist.dev/app": "shop",
        "setlist.dev/env": "prod-eu"}}


# ---------------------------------------------------------------- which Applications


def go_match(pattern: str, name: str) -> bool:
    """Go's filepath.Match for the patterns Setlist writes ('*' and literals)."""
    assert not set(pattern) & set("[]\\?"), pattern
    regex = "".join("[^/]*" if c == "*" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name) is not None


def generated_applications(result) -> dict[tuple[str, str], set[str]]:
    """(app, env) → the names of the Applications Argo CD would have for ``CLUSTERS``."""
    out: dict[tuple[str, str], set[str]] = {}
    for item in preview(result.documents, CLUSTERS).items:
        out.setdefault((item.app, item.env), set()).update(a.name for a in item.applications)
    return out


def test_application_refs_select_exactly_the_generated_applications():
    _, result = compiled()
    apps = generated_applications(result)
    every = {name for names in apps.values() for name in names}
    # Names a person might give Applications next to Setlist's, and the root app.
    every |= {"shop-prod-eu", "shop-prod", "shop-prodx.a", "shop-dev-old", "setlist-root"}
    checked = 0
    for name, doc in by_name(result).items():
        app, env = doc["metadata"]["labels"]["setlist.dev/app"], \
            doc["metadata"]["labels"]["setlist.dev/env"]
        (ref,) = doc["spec"]["applicationRefs"]
        assert "labelSelectors" not in ref
        want = apps[(app, env)]
        assert want, f"{name}: the inventory gives it no Application"
        got = {n for n in every if go_match(ref["namePattern"], n)}
        assert got == want, (name, ref["namePattern"])
        checked += 1
    assert checked == 7
    assert apps[("shop", "prod")] == {"shop-prod.prod-us-1", "shop-prod.prod-us-2"}
    assert apps[("shop", "prod-eu")] == {"shop-prod-eu.prod-eu.1"}
    assert apps[("shop", "lab")] == {"shop-lab"}


def test_name_patterns():
    _, result = compiled()
    patterns = {n: d["spec"]["applicationRefs"][0]["namePattern"]
                for n, d in by_name(result).items()}
    assert patterns["shop-prod"] == "shop-prod.*"        # ApplicationSet
    assert patterns["shop-lab"] == "shop-lab"            # one listed cluster: exact
    assert patterns["shop-edge"] == "shop-edge.*"        # several listed clusters


# ---------------------------------------------------------------- images


def image_configs(result, name: str) -> dict[str, dict]:
    (ref,) = by_name(result)[name]["spec"]["applicationRefs"]
    return {c["alias"]: c for c in ref["images"]}


def test_images_and_their_settings():
    _, result = compiled()
    assert image_configs(result, "shop-dev") == {
        "api": {"alias": "api", "imageName": "ghcr.io/acme/api:^1.4",
                "commonUpdateSettings": {
                    "updateStrategy": "semver",
                    "allowTags": "regexp:^v?\\d+\\.\\d+\\.\\d+$",
                    "ignoreTags": ["*-debug", "*-rc*"],
                    "platforms": ["linux/amd64", "linux/arm64"]}},
        "web": {"alias": "web", "imageName": "ghcr.io/acme/web:stable",
                "commonUpdateSettings": {"updateStrategy": "digest"},
                "manifestTargets": {"kustomize": {"name": "shop-web"}}},
    }
    assert image_configs(result, "jobs-prod") == {
        "worker": {"alias": "worker", "imageName": "registry.example.com:5000/acme/worker",
                   "commonUpdateSettings": {"updateStrategy": "newest-build",
                                            "allowTags": "regexp:^main-[0-9a-f]{7}$"}}}


STRATEGY_SPEC = """\
gitops {{ repo = "https://github.com/acme/fleet" }}
image x {{
  repository = "ghcr.io/acme/x"
  {strategy}
}}
environment dev {{ clusters = all; updates = in_cluster }}
app x {{ base = "apps/x/base"; namespace = "x"; images = [x]; deploy = dev }}
"""


@pytest.mark.parametrize("strategy, update_strategy, image_name", [
    ('strategy = semver("^1.4")', "semver", "ghcr.io/acme/x:^1.4"),
    ('strategy = semver(">=1.2 <2 || 3.x-0")', "semver", "ghcr.io/acme/x:>=1.2 <2 || 3.x-0"),
    ("strategy = semver()", "semver", "ghcr.io/acme/x"),
    ("", "semver", "ghcr.io/acme/x"),
    ("strategy = newest_build", "newest-build", "ghcr.io/acme/x"),
    ("strategy = alphabetical", "alphabetical", "ghcr.io/acme/x"),
    ('strategy = digest("latest")', "digest", "ghcr.io/acme/x:latest"),
], ids=["semver", "semver-range", "semver-any", "default", "newest-build", "alphabetical",
        "digest"])
def test_strategy_mapping(strategy, update_strategy, image_name, validator):
    _, result = compiled(STRATEGY_SPEC.format(strategy=strategy))
    doc = by_name(result)["x-dev"]
    (config,) = doc["spec"]["applicationRefs"][0]["images"]
    assert config["imageName"] == image_name
    assert config["commonUpdateSettings"] == {"updateStrategy": update_strategy}
    assert schema_errors(validator, doc) == []


@pytest.mark.parametrize("regex, allow", [
    ("/^v\\d+$/", "regexp:^v\\d+$"),
    ("/rc/", "regexp:rc"),
    ("/[a-z]+:[0-9]+/", "regexp:[a-z]+:[0-9]+"),   # the regex is everything after "regexp:"
])
def test_allow_tags_carry_the_regexp_prefix(regex, allow):
    text = STRATEGY_SPEC.format(strategy=f"allow_tags = {regex}")
    _, result = compiled(text)
    (config,) = by_name(result)["x-dev"]["spec"]["applicationRefs"][0]["images"]
    assert config["commonUpdateSettings"]["allowTags"] == allow


def test_aliases_fit_the_crd_and_stay_unique(validator):
    text = STRATEGY_SPEC.format(strategy="").replace(
        "images = [x]", "images = [x, _x as \"other\", image_x as \"third\"]") + (
        'image _x { repository = "ghcr.io/acme/y" }\n'
        'image image_x { repository = "ghcr.io/acme/z" }\n')
    _, result = compiled(text)
    doc = by_name(result)["x-dev"]
    assert sorted(image_configs(result, "x-dev")) == ["image_x", "image_x-2", "x"]
    assert schema_errors(validator, doc) == []


# ---------------------------------------------------------------- write-back


def test_git_write_back_targets_the_overlay_from_the_repository_root():
    _, result = compiled()
    assert by_name(result)["shop-dev"]["spec"]["writeBackConfig"] == {
        "method": "git",
        "gitConfig": {"repository": "https://github.com/acme/fleet", "branch": "release",
                      "writeBackTarget": "kustomization:/clusters/main/apps/shop/overlays/dev"}}
    overlays = {d.path for d in result.documents if d.owner == "user"}
    assert "clusters/main/apps/shop/overlays/dev/kustomization.yaml" in overlays


def test_argocd_write_back():
    _, result = compiled()
    for name in ("shop-lab", "shop-prod-eu", "jobs-prod-eu"):   # explicit and the default
        assert by_name(result)[name]["spec"]["writeBackConfig"] == {"method": "argocd"}


def test_pull_request_write_back_on_github():
    _, result = compiled()
    git = by_name(result)["shop-prod"]["spec"]["writeBackConfig"]["gitConfig"]
    assert git == {"repository": "https://github.com/acme/fleet", "branch": "release",
                   "writeBackTarget": "kustomization:/clusters/main/apps/shop/overlays/prod",
                   "pullRequest": {"github": {}}}
    assert not warnings_of(result, "SL708")


@pytest.mark.parametrize("repo, provider", [
    ("https://github.com/acme/fleet", "github"),
    ("https://github.example.com/acme/fleet.git", "github"),
    ("https://gitlab.com/acme/fleet.git", "gitlab"),
    ("http://gitlab.internal:8080/acme/fleet", "gitlab"),
    ("https://git.example.com/acme/fleet", None),
    ("git@github.com:acme/fleet.git", None),
    ("ssh://git@gitlab.com/acme/fleet.git", None),
])
def test_pull_request_provider(repo, provider):
    assert pull_request_provider(repo)[0] == provider


def test_repo_host():
    assert repo_host("git@github.com:acme/deploy.git") == ("github.com", True)
    assert repo_host("https://GitHub.com/acme/deploy") == ("github.com", False)
    assert repo_host("ssh://git@host:2222/x.git") == ("host", True)


@pytest.mark.parametrize("repo", ["https://git.example.com/acme/fleet",
                                  "git@github.com:acme/fleet.git"])
def test_pull_requests_image_updater_cannot_open_go_to_a_branch(repo, validator):
    text = SPEC.replace("https://github.com/acme/fleet", repo)
    _, result = compiled(text)
    doc = by_name(result)["shop-prod"]
    git = doc["spec"]["writeBackConfig"]["gitConfig"]
    assert "pullRequest" not in git
    assert git["branch"] == "release:image-updater-shop-prod-{{.SHA256}}"
    assert by_name(result)["jobs-prod"]["spec"]["writeBackConfig"]["gitConfig"]["branch"] == \
        "release:image-updater-jobs-prod-{{.SHA256}}"
    assert schema_errors(validator, doc) == [] and image_updater_rule_errors(doc) == []
    (warning,) = warnings_of(result, "SL708")        # once for the environment
    assert warning.message.startswith(f"Image Updater cannot open pull requests for {repo}")
    assert "image-updater-<app>-prod-<hash>" in warning.message
    assert (warning.span.line, warning.span.column) == (37, 15)


def test_direct_writeback_and_argocd_method_ignore_pull_requests():
    text = SPEC.replace("https://github.com/acme/fleet", "https://git.example.com/x")
    _, result = compiled(text.replace("writeback = pull_request", "writeback = direct"))
    assert by_name(result)["shop-prod"]["spec"]["writeBackConfig"]["gitConfig"]["branch"] == \
        "release"
    text = text.replace("updates   = in_cluster(method: git)", "updates = in_cluster")
    _, result = compiled(text)
    assert by_name(result)["shop-prod"]["spec"]["writeBackConfig"] == {"method": "argocd"}
    assert not warnings_of(result, "SL708")


# ---------------------------------------------------------------- interval


def test_an_interval_warns_that_only_the_controller_has_one():
    _, result = compiled()
    (warning,) = warnings_of(result, "SL707")
    assert warning.message.startswith("'dev' asks Image Updater to check every 5m, but an "
                                      "ImageUpdater resource has no interval of its own")
    assert "--interval 5m" in warning.hints[0]
    assert (warning.span.line, warning.span.column) == (33, 14)
    assert all("interval" not in str(d) for d in updaters(result).values())


def test_no_interval_no_warning():
    _, result = compiled(SPEC.replace("in_cluster(method: git, interval: 5m)",
                                      "in_cluster(method: git)"))
    assert not warnings_of(result, "SL707")


# ---------------------------------------------------------------- overlays and the lock


def overlay(result, app: str, env: str) -> dict:
    (doc,) = [d for d in result.documents
              if d.path == f"clusters/main/apps/{app}/overlays/{env}/kustomization.yaml"]
    return doc.documents[0]


def in_cluster_lock() -> Lock:
    digest = "sha256:" + "a" * 64
    entries = {(image, env): LockEntry(repository=repo, tag="1.9.9", digest=digest)
               for image, repo in (("api", "ghcr.io/acme/api"),
                                   ("web", "ghcr.io/acme/web"))
               for env in ("dev", "prod", "prod-eu", "lab", "edge", "qa")}
    return Lock(entries=entries)


def test_overlays_carry_no_versions_and_the_lock_is_not_consulted():
    _, result = compiled(SPEC.replace('strategy   = digest("stable")', 'strategy   = '
                                      'digest("1.9.9")'), lock=in_cluster_lock())
    # git write-back: Image Updater writes (and keeps) the entries of its images
    assert "images" not in overlay(result, "shop", "dev")
    assert "images" not in overlay(result, "shop", "prod")
    # argocd write-back: Image Updater overrides them in the Application; the overlay only
    # names them, without a version
    for env in ("lab", "prod-eu"):
        assert overlay(result, "shop", env)["images"] == [
            {"name": "ghcr.io/acme/api"},
            {"name": "shop-web", "newName": "ghcr.io/acme/web"}]
    # an environment Setlist updates still gets the locked versions
    assert overlay(result, "shop", "qa")["images"][0] == {
        "name": "ghcr.io/acme/api", "newTag": "1.9.9", "digest": "sha256:" + "a" * 64}
    # ... and no SL700 for what Image Updater provides
    assert [d.code for d in result.diagnostics] == ["SL707"]


def test_image_updater_edits_of_an_overlay_survive_the_next_compile(tmp_path):
    """Git write-back rewrites the overlay's entry of an image (by name, with its tag);
    Setlist does not list that entry, so it neither drops the tag nor reports a change."""
    _, result = compiled()
    out = tmp_path / "repo"
    apply(plan_writes(result.documents, out), out)
    path = out / "clusters/main/apps/shop/overlays/dev/kustomization.yaml"
    text = path.read_text("utf-8")
    edited = text + ("images:\n- name: ghcr.io/acme/api\n  newTag: 1.5.0\n"
                     "- name: shop-web\n  newName: ghcr.io/acme/web\n"
                     "  digest: sha256:" + "b" * 64 + "\n")
    path.write_text(edited, "utf-8")
    _, again = compiled()
    plan = plan_writes(again.documents, out)
    assert not plan.problems
    assert [c.path for c in plan.changes] == [".setlist/manifest.json"]  # marked as edited
    apply(plan, out)
    assert path.read_text("utf-8") == edited
    assert plan_writes(compiled()[1].documents, out).changes == []


# ---------------------------------------------------------------- resolve


def test_resolve_skips_in_cluster_environments():
    project, _ = compiled()
    assert registry_fed(project.spec) == {"api": ["qa"], "web": ["qa"]}


# ---------------------------------------------------------------- the checker

CHECK_SPEC = """\
image api {
  repository = "ghcr.io/acme/api"
  tag        = "1.2.3"
}
image web { repository = "ghcr.io/acme/web" }
environment dev  { clusters = cluster.env == "dev"; updates = in_cluster(method: git) }
environment stg  { clusters = cluster.env == "stg" }
environment prod { clusters = cluster.env == "prod"; updates = in_cluster }
app shop { base = "apps/shop/base"; namespace = "shop"; images = [api, web]
           deploy = [dev, stg, prod] }
"""


def diagnostics(text: str) -> list:
    return load((), overrides={"spec.setlist": text}).diagnostics


def test_a_pinned_image_in_an_in_cluster_environment_is_an_error():
    (d,) = diagnostics(CHECK_SPEC)
    assert d.code == "SL505"
    assert d.message == ("image 'api' is pinned (tag = \"1.2.3\") but updated in the cluster "
                         "in the environments 'dev', 'prod': Image Updater and the pin would "
                         "both write its version")
    assert (d.span.line, d.span.column) == (3, 16)          # the pin
    assert [(r.span.line, r.span.column, r.message) for r in d.related] == [
        (6, 63, "'dev' is updated in the cluster here"),
        (8, 64, "'prod' is updated in the cluster here")]


def test_a_digest_pin_is_pointed_at_too():
    text = CHECK_SPEC.replace('tag        = "1.2.3"',
                              'digest     = "sha256:' + "c" * 64 + '"')
    (d,) = diagnostics(text)
    assert d.code == "SL505" and "pinned (a digest)" in d.message
    assert (d.span.line, d.span.column) == (3, 16)


def test_a_pin_only_used_where_setlist_updates_is_fine():
    text = CHECK_SPEC.replace("images = [api, web]", "images = [web]") + (
        'app old { base = "apps/old/base"; namespace = "old"; images = [api]; deploy = stg }\n')
    assert diagnostics(text) == []


PROMOTION = """
promotion web {
  dev  <- registry
  stg  <- dev
  prod <- stg after 1h
}
"""


def test_promotions_into_and_out_of_in_cluster_environments_are_errors():
    text = CHECK_SPEC.replace('  tag        = "1.2.3"\n', "") + PROMOTION
    found = sorted((d.code, d.span.line, d.span.column, d.message) for d in diagnostics(text))
    assert found == [
        ("SL506", 13, 11, "'stg' cannot promote 'web' from 'dev': Image Updater sets the "
                          "versions of 'dev' in the cluster, so Setlist never knows them"),
        ("SL506", 14, 3, "'prod' cannot receive versions of 'web' by promotion from 'stg': "
                         "Image Updater moves its versions in the cluster"),
    ]
    related = {d.span.line: [r.span.line for r in d.related] for d in diagnostics(text)}
    assert related == {13: [5], 14: [7]}


def test_registry_stages_of_in_cluster_environments_are_fine():
    text = CHECK_SPEC.replace('  tag        = "1.2.3"\n', "") + (
        "promotion web {\n  dev <- registry\n  stg <- registry\n  prod <- registry\n}\n")
    assert diagnostics(text) == []


# ---------------------------------------------------------------- the CLI, and a snapshot


def test_compile_writes_image_updaters(tmp_path):
    from schema_util import run_cli

    write_spec(tmp_path, SPEC)
    proc = run_cli("compile", str(tmp_path), "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert "warning[SL707]" in proc.stderr
    written = sorted(p.name for p in
                     (tmp_path / "out/clusters/main/argocd/image-updaters").iterdir())
    assert written == ["jobs-prod-eu.yaml", "jobs-prod.yaml", "shop-dev.yaml",
                       "shop-edge.yaml", "shop-lab.yaml", "shop-prod-eu.yaml",
                       "shop-prod.yaml"]
    check = run_cli("compile", "--check", str(tmp_path), "-o", str(tmp_path / "out"))
    assert check.returncode == 0, check.stdout + check.stderr


def test_image_updater_output(snapshot):
    _, result = compiled()
    texts = {path: data.decode("utf-8") for path, data in rendered(result).items()
             if "/image-updaters/" in path or "/shop/overlays/dev/" in path
             or "/shop/overlays/lab/" in path}
    assert texts == snapshot


def test_argocd_write_back_is_not_undone_by_the_applicationset_or_the_root_app(validator):
    """Image Updater's argocd method writes Kustomize image overrides into the Applications:
    the ApplicationSet of such an environment ignores that field of the Applications it
    generates, and the root app ignores (and keeps, when syncing) it on the Applications it
    syncs directly; environments Image Updater updates through git, or Setlist, do not."""
    _, result = compiled()
    docs = {d.path.rsplit("/", 1)[-1]: d.content for d in result.documents
            if "/applicationsets/" in d.path or d.path.endswith("root.yaml")}
    pointer = {"jsonPointers": ["/spec/source/kustomize/images"]}
    assert docs["shop-prod-eu.yaml"]["spec"]["ignoreApplicationDifferences"] == [pointer]
    assert docs["jobs-prod-eu.yaml"]["spec"]["ignoreApplicationDifferences"] == [pointer]
    for name in ("shop-dev.yaml", "shop-prod.yaml", "shop-qa.yaml"):
        assert "ignoreApplicationDifferences" not in docs[name]["spec"]
    from schema_util import load_crd_validators, schema_errors

    crds = load_crd_validators()
    for doc in docs.values():
        assert schema_errors(crds[doc["kind"]], doc) == []
    root = docs["root.yaml"]["spec"]
    assert root["ignoreDifferences"] == [{"group": "argoproj.io", "kind": "Application",
                                          **pointer}]
    assert root["syncPolicy"]["syncOptions"] == ["RespectIgnoreDifferences=true"]
    without_lab = SPEC.replace("deploy    = [dev, prod, prod-eu, lab, edge, qa]",
                               "deploy    = [dev, prod, prod-eu, edge, qa]")
    _, result = compiled(without_lab)
    root = {d.path.rsplit("/", 1)[-1]: d.content for d in result.documents}["root.yaml"]
    assert "ignoreDifferences" not in root["spec"]
    assert "syncOptions" not in root["spec"]["syncPolicy"]
