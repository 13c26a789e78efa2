"""`setlist import`: Argo CD and Image Updater manifests in, a Setlist spec out.

Each case in tests/data/import/<case>/ is a config repository as a team keeps it before
Setlist. The test imports it, checks the spec, compiles it with the real compile stage and
compares the generated documents with the input, structurally. What Setlist changes by
design is normalized on both sides, each step named where it happens:

- **N1 names**: Application and ApplicationSet names are not compared (Setlist names them
  `<app>-<env>`, `<app>-<env>.<cluster>`); documents are matched by their source path and
  destination instead, and the renames the import reports are asserted separately.
- **N2 stamps**: labels and annotations Setlist adds (`app.kubernetes.io/managed-by`,
  `setlist.dev/*`), the resources finalizer (every input here has it), header comments and
  field order (documents are compared as data).
- **N3 templating**: a list generator is compared as the Applications it generates (Setlist
  writes them as Applications); `{{server}}`, `{{.server}}` and `{{name}}` destinations are
  the same "generated cluster"; `goTemplate` settings and template names are not compared.
- **N4 selectors**: `matchLabels: {k: v}` is the test `k In [v]`; tests are a set.
- **N5 defaults**: Argo CD's defaults are written out (`automated` booleans false, retry
  backoff 5s ×2 up to 3m), durations compared in seconds.
- **N6 Image Updater**: annotations and ImageUpdater resources are both turned into one
  record per Application source path: (repository with Docker Hub names expanded, strategy
  with Image Updater's old names `latest`/`name` mapped, constraint, allow regex, ignore
  globs, platforms, kustomize image name), write-back method and pull request; aliases are
  not compared (Setlist names them after its image blocks).
- **N7 AppProjects**: only freezes are compared (deny windows: schedule, duration, zone and
  which deployments they hold); destinations, sourceRepos and roles are regenerated or not
  imported, which the import reports.
- **N8 overlays**: resources as paths from the repository root; `images:` entries by name and
  newName, except entries of images Image Updater updates (with git write-back it writes
  them and Setlist leaves them to it; with argocd write-back Setlist lists them without a
  version and Image Updater sets it on the Application); newTag/digest where the spec pins
  them.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from schema_util import (
    KUSTOMIZATION,
    Loader,
    compile_folder,
    image_updater_rule_errors,
    load_crd_validators,
    load_image_updater_validator,
    run_cli,
    schema_errors,
    write_spec,
)

import setlist
from setlist.importer.convert import convert

DATA = Path(__file__).resolve().parent / "data" / "import"
CASES = sorted(p.name for p in DATA.iterdir() if p.is_dir())
SETLIST_STAMPS = ("app.kubernetes.io/managed-by", "setlist.dev/")
IU = "argocd-image-updater.argoproj.io/"


# ---------------------------------------------------------------- reading both sides


def _yaml_docs(root: Path) -> list[tuple[str, dict]]:
    out = []
    for path in sorted(root.rglob("*.y*ml")):
        with open(path, encoding="utf-8") as f:
            for doc in yaml.load_all(f, Loader=Loader):
                if isinstance(doc, dict):
                    out.append((path.relative_to(root).as_posix(), doc))
    return out


def _fill(value, params: dict):
    """N3: a template with `{{key}}` / `{{.key}}` filled from a list element."""
    if isinstance(value, dict):
        return {k: _fill(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, params) for v in value]
    if isinstance(value, str):
        return re.sub(r"\{\{\s*\.?(\w+)\s*\}\}", lambda m: str(params[m.group(1)]), value)
    return value


def _sync(policy: dict | None) -> dict:
    """N5: Argo CD's defaults written out."""
    policy = policy or {}
    out: dict = {}
    auto = policy.get("automated")
    if isinstance(auto, dict):
        out["automated"] = {k: bool(auto.get(k)) for k in ("prune", "selfHeal", "allowEmpty")}
    out["syncOptions"] = sorted(policy.get("syncOptions") or [])
    if "retry" in policy:
        backoff = policy["retry"].get("backoff") or {}
        out["retry"] = (policy["retry"].get("limit", 5), _seconds(backoff.get("duration", "5s")),
                        backoff.get("factor", 2), _seconds(backoff.get("maxDuration", "3m")))
    return out


def _seconds(text: str) -> int:
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([hms])", str(text)))


def _cluster(dest: dict) -> tuple[str, str]:
    """N3: a generated cluster is one value whatever the placeholder."""
    target = dest.get("name") or dest.get("server")
    if re.fullmatch(r"\{\{\s*\.?(name|server|nameNormalized)\s*\}\}", str(target)):
        return ("generated", "<cluster>")
    return ("name", target) if dest.get("name") else ("server", target)


def _user_labels(meta: dict) -> dict:
    """N2: without Setlist's own labels."""
    return {k: v for k, v in (meta.get("labels") or {}).items()
            if not k.startswith(SETLIST_STAMPS)}


def _app_record(doc: dict) -> tuple[tuple, dict]:
    spec = doc["spec"]
    src = spec["source"]
    key = (src["path"].strip("/"), _cluster(spec["destination"]))
    meta = doc.get("metadata") or {}
    return key, {
        "project": spec["project"],
        "source": (src["repoURL"], src["targetRevision"]),
        "namespace": spec["destination"]["namespace"],
        "sync": _sync(spec.get("syncPolicy")),
        "labels": _user_labels(meta),
        "annotations": {k: v for k, v in (meta.get("annotations") or {}).items()
                        if not k.startswith(IU)},
        "finalizers": meta.get("finalizers"),
    }


def _selector(generators: list) -> frozenset:
    """N4: each cluster generator as a set of tests; an appset as the set of generators."""
    out = []
    for gen in generators:
        sel = gen["clusters"].get("selector") or {}
        tests = {(k, "In", (v,)) for k, v in (sel.get("matchLabels") or {}).items()}
        tests |= {(e["key"], e["operator"], tuple(sorted(e.get("values") or ())))
                  for e in sel.get("matchExpressions") or []}
        out.append(frozenset(tests))
    return frozenset(out)


def deployments(docs: list[tuple[str, dict]], skip: set[str]) -> tuple[dict, dict, dict]:
    """Applications (list generators expanded) by (path, cluster), cluster-generator
    ApplicationSets by path, and every Application name → source path (for N6, N7)."""
    apps, appsets, paths = {}, {}, {}
    for _, doc in docs:
        kind, name = doc.get("kind"), (doc.get("metadata") or {}).get("name")
        if name in skip or kind not in ("Application", "ApplicationSet"):
            continue
        if kind == "Application" and name != "setlist-root":
            key, record = _app_record(doc)
            apps[key] = record
            paths[name] = key[0]
        elif kind == "ApplicationSet":
            spec = doc["spec"]
            if "list" in spec["generators"][0]:
                for element in spec["generators"][0]["list"]["elements"]:
                    filled = _fill(spec["template"], element)
                    key, record = _app_record(filled)
                    apps[key] = record
                    paths[filled["metadata"]["name"]] = key[0]
                continue
            key, record = _app_record(spec["template"])
            record["selector"] = _selector(spec["generators"])
            record["preserve"] = bool((spec.get("syncPolicy") or {})
                                      .get("preserveResourcesOnDeletion"))
            appsets[key[0]] = record
            paths[re.sub(r"\{\{.*?\}\}", "x", spec["template"]["metadata"]["name"])] = key[0]
    return apps, appsets, paths


def _canonical(repo: str) -> str:
    first, _, rest = repo.partition("/")
    if not rest:
        return f"docker.io/library/{repo}"
    return repo if "." in first or ":" in first or first == "localhost" else f"docker.io/{repo}"


_STRATEGY = {"latest": "newest-build", "name": "alphabetical"}


def _image(name: str, strategy: str | None, allow: str | None, ignore, platforms,
           kustomize: str | None) -> tuple:
    """N6: one image as Image Updater tracks it."""
    slash = name.rfind("/")
    repo, _, constraint = name[slash + 1:].partition(":")
    repo = name[:slash + 1] + repo
    strategy = _STRATEGY.get(strategy or "semver", strategy or "semver")
    if strategy in ("newest-build", "alphabetical"):
        constraint = ""
    allow = None if allow in (None, "any") else allow
    kustomize = None if kustomize in (None, repo, _canonical(repo)) else kustomize
    return (_canonical(repo), strategy, constraint or None, allow,
            tuple(sorted(ignore or ())), tuple(sorted(platforms or ())), kustomize)


def _from_annotations(ann: dict) -> dict | None:
    ann = {k[len(IU):]: v for k, v in ann.items() if k.startswith(IU)}
    if "image-list" not in ann:
        return None
    images = set()
    for item in ann["image-list"].split(","):
        alias, _, ref = item.strip().rpartition("=")

        def get(key, alias=alias):
            return ann.get(f"{alias}.{key}", ann.get(key))
        split = [p.strip() for p in (get("ignore-tags") or "").split(",") if p.strip()]
        platforms = [p.strip() for p in (get("platforms") or "").split(",") if p.strip()]
        images.add(_image(ref, get("update-strategy"), get("allow-tags"), split, platforms,
                          get("kustomize.image-name")))
    method = ann.get("write-back-method", "argocd").split(":")[0]
    return {"images": frozenset(images), "method": method, "pr": False}


def _from_resource(doc: dict, names: dict[str, str]) -> dict[str, dict]:
    spec = doc["spec"]
    out = {}
    for ref in spec["applicationRefs"]:
        wb = ref.get("writeBackConfig") or spec.get("writeBackConfig") or {}
        common = {**(spec.get("commonUpdateSettings") or {}),
                  **(ref.get("commonUpdateSettings") or {})}
        images = set()
        for img in ref["images"]:
            s = {**common, **(img.get("commonUpdateSettings") or {})}
            allow = s.get("allowTags")
            images.add(_image(img["imageName"], s.get("updateStrategy"), allow, s.get(
                "ignoreTags"), s.get("platforms"), ((img.get("manifestTargets") or {})
                                                   .get("kustomize") or {}).get("name")))
        record = {"images": frozenset(images), "method": wb.get("method", "argocd"),
                  "pr": bool((wb.get("gitConfig") or {}).get("pullRequest"))}
        for name, path in names.items():
            if fnmatch.fnmatchcase(name, ref["namePattern"]):
                out[path] = record
    return out


def image_updates(docs: list[tuple[str, dict]], names: dict[str, str],
                  skip: set[str]) -> dict[str, dict]:
    """N6: Image Updater's settings by the source path of the Applications it updates."""
    out: dict[str, dict] = {}
    for _, doc in docs:
        if doc.get("kind") in ("Application", "ApplicationSet") and \
                doc["metadata"]["name"] not in skip:
            meta = doc["metadata"] if doc["kind"] == "Application" else \
                doc["spec"]["template"]["metadata"]
            record = _from_annotations(meta.get("annotations") or {})
            if record:
                for name, path in names.items():
                    if name == doc["metadata"]["name"] or doc["kind"] == "ApplicationSet":
                        out.setdefault(path, record)
    for _, doc in docs:
        if doc.get("kind") == "ImageUpdater":
            out.update(_from_resource(doc, names))
    return out


def freezes(docs: list[tuple[str, dict]], names: dict[str, str]) -> set:
    """N7: deny windows as (schedule, seconds, zone, paths of the deployments held)."""
    out = set()
    for _, doc in docs:
        if doc.get("kind") != "AppProject":
            continue
        for w in doc["spec"].get("syncWindows") or []:
            if w["kind"] != "deny":
                continue
            held = frozenset(path for name, path in names.items()
                             if any(fnmatch.fnmatchcase(name, p) for p in w["applications"]))
            out.add((w["schedule"], _seconds(w["duration"]), w.get("timeZone", "UTC"), held))
    return out


def overlays(root: Path, paths: set[str], git_images: dict[str, set[str]]) -> dict:
    """N8: each overlay's base and image entries (without those of Image Updater's images)."""
    out = {}
    for path in sorted(paths):
        file = root / path / "kustomization.yaml"
        if not file.exists():
            continue
        data = yaml.load(file.read_text("utf-8"), Loader=Loader)
        resources = sorted(str(Path(path, r)).replace("\\", "/") for r in data["resources"])
        resources = [re.sub(r"[^/]+/\.\./", "", r) for r in resources]
        while any("/../" in r for r in resources):
            resources = [re.sub(r"[^/]+/\.\./", "", r) for r in resources]
        entries = {}
        for entry in data.get("images") or []:
            if _canonical(entry.get("newName") or entry["name"]) in git_images.get(path, ()):
                continue
            new_name = entry.get("newName")
            if new_name and _canonical(new_name) == _canonical(entry["name"]):
                new_name = None  # `redis` with newName `docker.io/library/redis`: the same
            entries[(entry["name"], new_name)] = (entry.get("newTag"),
                                                              entry.get("digest"))
        out[path] = (resources, entries)
    return out


# ---------------------------------------------------------------- the cases

# Per case: documents the import must leave out, and words its warnings must contain.
EXPECTED = {
    "fleet": {
        "skip": {"monitoring", "addons"},
        "warnings": ["Application monitoring: not imported: its source is a helm source",
                     "ApplicationSet addons: not imported: its generator matrix",
                     "spec.roles has no Setlist equivalent",
                     "the sync window '0 8 * * 1-5' is not a freeze",
                     "written as the Application cart-qa.qa-eu",
                     "image api: versions pinned by the overlays (shop in prod: 1.4.5; "
                     "shop in staging: 1.4.6) are not imported"],
        "renames": {"cart-qa-eu": "cart-qa.qa-eu", "cart-qa-us": "cart-qa.qa-us"},
        "pinned": {},
    },
    "envs": {
        "skip": set(),
        "warnings": ["spec.ignoreDifferences has no Setlist equivalent",
                     "reports.pull-secret has no Setlist equivalent",
                     "image billing: the overlays pin different versions"],
        "renames": {},
        "pinned": {"redis": ("7.2", "sha256:5a93f6b2c0d8e1f4a7b9c2d5e8f1a4b7c0d3e6f9a2b5c8d1e4"
                                    "f7a0b3c6d9e2f5")},
    },
}


@pytest.fixture(scope="module", params=CASES)
def case(request, tmp_path_factory):
    name = request.param
    root = DATA / name
    outcome = convert((str(root),))
    assert not outcome.errors
    assert not outcome.diagnostics, [str(d) for d in outcome.diagnostics]
    folder = write_spec(tmp_path_factory.mktemp(name), outcome.text, "imported.setlist")
    project, result = compile_folder(folder)
    compiled = [(d.path, doc) for d in result.documents for doc in d.documents]
    return name, root, outcome, project, compiled


def test_cases_are_covered():
    assert set(CASES) == set(EXPECTED)


def test_imported_spec_checks_clean(case):
    _, _, outcome, project, _ = case
    assert project.ok, [str(d) for d in project.errors]
    assert not setlist.load(str(next(iter(project.files)))).errors
    assert outcome.text.startswith("// Imported by `setlist import`")


def test_applications_round_trip(case):
    name, root, _, _, compiled = case
    skip = EXPECTED[name]["skip"]
    want_apps, want_sets, _ = deployments(_yaml_docs(root), skip)
    got_apps, got_sets, _ = deployments(compiled, set())
    for record in got_apps.values():  # N2: the resources finalizer Setlist adds
        assert record["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]
    assert got_apps == want_apps
    for path, want in want_sets.items():
        assert got_sets[path] == want, path
    assert set(got_sets) == set(want_sets)


def test_image_updater_round_trip(case):
    name, root, _, _, compiled = case
    skip = EXPECTED[name]["skip"]
    source = _yaml_docs(root)
    want = image_updates(source, deployments(source, skip)[2], skip)
    got = image_updates(compiled, deployments(compiled, set())[2], set())
    assert got == want


def test_freezes_round_trip(case):
    name, root, _, _, compiled = case
    source = _yaml_docs(root)
    want = freezes(source, deployments(source, EXPECTED[name]["skip"])[2])
    got = freezes(compiled, deployments(compiled, set())[2])
    assert got == want


def test_overlays_round_trip(case, tmp_path):
    name, root, _, _, compiled = case
    source = _yaml_docs(root)
    skip = EXPECTED[name]["skip"]
    names = deployments(source, skip)[2]
    updates = image_updates(source, names, skip)
    git_images = {path: {img[0] for img in rec["images"]} for path, rec in updates.items()}
    paths = set(names.values())
    want = overlays(root, paths, git_images)
    out = tmp_path / "out"
    for path, doc in compiled:
        if path.endswith("kustomization.yaml"):
            (out / path).parent.mkdir(parents=True, exist_ok=True)
            (out / path).write_text(yaml.safe_dump(doc), encoding="utf-8")
    got = overlays(out, paths, git_images)
    assert set(got) == set(want)
    pinned = EXPECTED[name]["pinned"]
    for path, (resources, entries) in want.items():
        got_resources, got_entries = got[path]
        assert got_resources == resources, path
        assert set(got_entries) == set(entries), path
        for key, version in got_entries.items():
            short = key[0].rsplit("/", 1)[-1]
            if short in pinned:
                assert version == pinned[short] == entries[key], (path, key)
            else:  # versions the import reports as not imported stay out of the spec
                assert version == (None, None), (path, key)


def test_compiled_documents_match_the_schemas(case):
    *_, compiled = case
    validators = load_crd_validators()
    image_updater = load_image_updater_validator()
    from jsonschema import Draft202012Validator
    kustomization = Draft202012Validator(KUSTOMIZATION)
    kinds = set()
    for path, doc in compiled:
        kinds.add(doc["kind"])
        # read back as a cluster would (YAML 1.1): no value changes type on the way
        if doc["kind"] == "ImageUpdater":
            assert schema_errors(image_updater, doc) == [], path
            assert image_updater_rule_errors(doc) == [], path
        elif doc["kind"] == "Kustomization":
            assert schema_errors(kustomization, doc) == [], path
        else:
            assert schema_errors(validators[doc["kind"]], doc) == [], path
    assert {"Application", "AppProject", "Kustomization"} <= kinds


def test_input_manifests_match_the_schemas(case):
    """The fixtures are realistic: every Argo CD and Image Updater document is valid."""
    _, root, *_ = case
    validators = load_crd_validators()
    image_updater = load_image_updater_validator()
    for path, doc in _yaml_docs(root):
        if doc.get("kind") in validators:
            assert schema_errors(validators[doc["kind"]], doc) == [], path
        elif doc.get("kind") == "ImageUpdater":
            assert schema_errors(image_updater, doc) == [], path


def test_warnings_name_what_is_not_imported(case):
    name, _, outcome, _, _ = case
    text = "\n".join(str(n) for n in outcome.notes)
    for expected in EXPECTED[name]["warnings"]:
        assert expected in text
    for note in outcome.notes:
        assert note.origin.file.startswith(str(DATA / name)), str(note)
        assert note.origin.line > 0, str(note)
    # every warning is also a comment at the top of the spec
    header = outcome.text.split("\n\n", 1)[0]
    flat = re.sub(r"\n//\s+", " ", header)
    for note in outcome.notes:
        assert str(note) in flat


def test_renamed_applications_are_reported(case):
    name, _, outcome, _, compiled = case
    text = "\n".join(str(n) for n in outcome.notes)
    names = {(doc.get("metadata") or {}).get("name") for _, doc in compiled}
    for old, new in EXPECTED[name]["renames"].items():
        assert f"{old} of its list generator is written as the Application {new}" in text
        assert new in names


def test_fleet_spec():
    """The spec reads like one written by hand: one app per app, one environment per stage."""
    text = convert((str(DATA / "fleet"),)).text
    assert 'environment prod {\n  clusters                       = cluster.env == "prod" ' \
        'and not exists cluster.quarantine' in text
    assert 'cluster.env == "staging" and cluster.region in ["eu-west-1", "us-east-1"]' in text
    assert 'clusters = ["https://dev.k8s.acme.example:6443"]\n  updates  = in_cluster(' \
        'method: git)' in text
    assert 'freeze "0 16 * * 5" for 64h tz "Europe/Berlin"' in text
    assert 'images    = [api, web as "shop-web"]\n  deploy    = [dev, prod, staging]' in text
    assert "strategy   = newest_build\n  allow_tags = /^main-[0-9a-f]{7}$/" in text
    assert 'clusters  = ["qa-eu", "qa-us"]\n  updates   = in_cluster(method: git)\n' \
        '  writeback = pull_request' in text


def test_envs_spec():
    text = convert((str(DATA / "envs"),)).text
    assert 'overlays  = "envs/{env}/{app}"' in text
    assert 'namespace = "argo"' in text and 'branch    = "release"' in text
    assert 'strategy   = digest("stable")' in text
    assert 'images      = [billing, redis as "redis"]' in text


# ---------------------------------------------------------------- smaller inputs

APP = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {name}
  namespace: argocd
spec:
  project: web
  source:
    repoURL: https://github.com/acme/gitops
    targetRevision: main
    path: apps/web/overlays/{env}
  destination:
    server: https://{env}.example.com
    namespace: {namespace}
"""


def _files(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def test_label_in_path_gives_one_environment_per_value(tmp_path):
    _files(tmp_path, {"web.yaml": """\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: web, namespace: argocd}
spec:
  goTemplate: true
  generators:
  - clusters:
      selector:
        matchExpressions:
        - {key: env, operator: In, values: [dev, prod]}
        - {key: retired, operator: DoesNotExist}
  template:
    metadata: {name: 'web-{{.name}}'}
    spec:
      project: web
      source:
        repoURL: https://github.com/acme/gitops
        targetRevision: main
        path: 'apps/web/overlays/{{index .metadata.labels "env"}}'
      destination: {server: '{{.server}}', namespace: web}
"""})
    outcome = convert((str(tmp_path),))
    assert not outcome.diagnostics
    assert 'environment dev {\n  clusters = cluster.env == "dev" and not exists ' \
        'cluster.retired\n}' in outcome.text
    assert 'environment prod {\n  clusters = cluster.env == "prod" and not exists ' \
        'cluster.retired\n}' in outcome.text
    assert "deploy    = [dev, prod]" in outcome.text


def test_per_environment_differences_split_the_app(tmp_path):
    _files(tmp_path, {"dev.yaml": APP.format(name="web-dev", env="dev", namespace="web"),
                      "prod.yaml": APP.format(name="web-prod", env="prod",
                                              namespace="web-live")})
    outcome = convert((str(tmp_path),))
    assert not outcome.diagnostics
    assert "app web {" in outcome.text and "app web-prod {" in outcome.text
    assert any("namespace differ from the other environments of app 'web'; imported as "
               "app 'web-prod'" in n.message for n in outcome.notes)


@pytest.mark.parametrize("text,expected", [
    ("kind: Application\napiVersion: argoproj.io/v1alpha1\nmetadata:\n  name: a\n"
     "spec:\n  sources: []\n  source: {repoURL: x, path: y}\n", None),
    (APP.format(name="web-dev", env="dev", namespace="web").replace(
        "  destination:", "  ignoreDifferences: []\n  destination:"),
     "ignoreDifferences has no Setlist equivalent"),
    (APP.format(name="web-dev", env="dev", namespace="web").replace(
        "  namespace: argocd\n", "  namespace: argocd\n  annotations:\n"
        "    argocd-image-updater.argoproj.io/image-list: x=ghcr.io/a/x\n"
        "    argocd-image-updater.argoproj.io/x.helm.image-name: image.repo\n"
        "    argocd-image-updater.argoproj.io/x.colour: blue\n"),
     "argocd-image-updater.argoproj.io/x.colour is unknown; not imported"),
])
def test_inexpressible_parts_are_warnings(tmp_path, text, expected):
    _files(tmp_path, {"a.yaml": text,
                      "b.yaml": APP.format(name="web-prod", env="prod", namespace="web")})
    outcome = convert((str(tmp_path),))
    assert not outcome.diagnostics
    messages = [str(n) for n in outcome.notes]
    if expected:
        assert any(expected in m for m in messages), messages
    assert all(re.match(rf"{re.escape(str(tmp_path))}/[ab]\.yaml:\d+: ", m) for m in messages)


def test_helm_target_annotation_is_reported(tmp_path):
    _files(tmp_path, {"a.yaml": APP.format(name="web-dev", env="dev", namespace="web").replace(
        "  namespace: argocd\n", "  namespace: argocd\n  annotations:\n"
        "    argocd-image-updater.argoproj.io/image-list: x=ghcr.io/a/x\n"
        "    argocd-image-updater.argoproj.io/x.helm.image-name: image.repo\n")})
    outcome = convert((str(tmp_path),))
    assert any("x.helm.image-name has no Setlist equivalent" in n.message
               for n in outcome.notes)


# ---------------------------------------------------------------- the command


def test_cli_writes_the_spec_and_warns_on_stderr(tmp_path):
    out = tmp_path / "fleet.setlist"
    result = run_cli("import", str(DATA / "fleet"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert re.search(r"fleet/argocd/applications/unsupported\.yaml:2: warning: Application "
                     r"monitoring: not imported", result.stderr)
    assert "Traceback" not in result.stderr
    check = run_cli("check", str(out))
    assert check.returncode == 0, check.stdout + check.stderr


def test_cli_prints_to_stdout_by_default():
    result = run_cli("import", str(DATA / "envs"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("// Imported by `setlist import` from 12 files.")


def test_output_is_deterministic(tmp_path):
    a, b = tmp_path / "a.setlist", tmp_path / "b.setlist"
    env = {"PYTHONHASHSEED": "1"}
    assert run_cli("import", str(DATA / "fleet"), "-o", str(a), env=env).returncode == 0
    env = {"PYTHONHASHSEED": "2"}
    assert run_cli("import", str(DATA / "fleet"), "-o", str(b), env=env).returncode == 0
    assert a.read_bytes() == b.read_bytes()


def test_compile_check_of_the_import_is_clean(tmp_path):
    """Compile the import, then `compile --check` finds no drift: the spec is complete."""
    spec = tmp_path / "spec"
    spec.mkdir()
    assert run_cli("import", str(DATA / "fleet"), "-o",
                   str(spec / "imported.setlist")).returncode == 0
    out = tmp_path / "out"
    first = run_cli("compile", str(spec), "-o", str(out))
    assert first.returncode == 0, first.stderr
    again = run_cli("compile", str(spec), "-o", str(out), "--check")
    assert again.returncode == 0, again.stdout + again.stderr


def test_missing_path_is_a_usage_error(tmp_path):
    result = run_cli("import", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr


def test_no_paths_is_a_usage_error():
    assert run_cli("import").returncode == 2


def test_malformed_yaml_names_file_and_line(tmp_path):
    _files(tmp_path, {"good.yaml": APP.format(name="web-dev", env="dev", namespace="web"),
                      "bad.yaml": "apiVersion: argoproj.io/v1alpha1\nkind: Application\n"
                                  "metadata:\n  name: [unclosed\n  namespace: argocd\n"})
    result = run_cli("import", str(tmp_path))
    assert result.returncode == 1
    assert re.search(r"bad\.yaml:\d+:\d+: malformed YAML", result.stderr), result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_duplicate_keys_are_malformed(tmp_path):
    _files(tmp_path, {"dup.yaml": "kind: Application\nkind: ApplicationSet\n"})
    result = run_cli("import", str(tmp_path / "dup.yaml"))
    assert result.returncode == 1
    assert "dup.yaml:2:" in result.stderr and "Traceback" not in result.stderr


def test_not_utf8_is_an_error(tmp_path):
    (tmp_path / "latin.yaml").write_bytes(b"name: caf\xe9\n")
    result = run_cli("import", str(tmp_path))
    assert result.returncode == 1
    assert "latin.yaml: not UTF-8" in result.stderr


def test_documents_of_an_unexpected_shape_are_warnings(tmp_path):
    _files(tmp_path, {"odd.yaml": "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\n"
                                  "metadata: {name: odd}\nspec:\n  generators: [[1]]\n---\n"
                                  "apiVersion: argoproj.io/v1alpha1\nkind: Application\n"
                                  "metadata: {name: odd2}\nspec: [1, 2]\n",
                      "web.yaml": APP.format(name="web-dev", env="dev", namespace="web")})
    result = run_cli("import", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(r"odd\.yaml:1: warning: ApplicationSet odd: not imported", result.stderr)
    assert re.search(r"odd\.yaml:7: warning: Application odd2: not imported", result.stderr)


def test_nothing_to_import_exits_1(tmp_path):
    _files(tmp_path, {"deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\n"
                                     "metadata: {name: x}\n"})
    result = run_cli("import", str(tmp_path))
    assert result.returncode == 1
    assert "no Argo CD Application or ApplicationSet could be imported" in result.stderr


def test_spec_that_does_not_check_exits_1(tmp_path):
    _files(tmp_path, {"a.yaml": APP.format(name="web-dev", env="dev", namespace="Web_NS")})
    out = tmp_path / "out.setlist"
    result = run_cli("import", str(tmp_path / "a.yaml"), "-o", str(out))
    assert result.returncode == 1
    assert "SL409" in result.stderr
    assert "does not check" in result.stderr
    assert out.exists()  # written, so that it can be fixed by hand


def test_help_does_not_load_the_importer():
    code = ("import sys, setlist.importer; "
            "loaded = [m for m in sys.modules if m.startswith(('ruamel', 'setlist.importer.'))]; "
            "assert not loaded, loaded")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
