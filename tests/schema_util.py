"""Helpers for the tests of the compile output: Argo CD CRD schemas as JSON Schema, synthetic
specs that exercise every part of the compiler, and whole output trees as data.

The CRDs live beside the project in ../shared/schemas/argocd and
../shared/schemas/image-updater (read-only, never copied here).
Kubernetes validates a custom resource against its CRD's ``openAPIV3Schema``, a structural
OpenAPI v3 schema; ``crd_to_jsonschema`` turns it into a JSON Schema that jsonschema can check
with the same meaning:

- ``x-kubernetes-*`` keys are dropped, except
- ``x-kubernetes-preserve-unknown-fields: true``: an open object (any further fields),
- ``x-kubernetes-int-or-string: true``: an integer or a string;
- every other object is closed (``additionalProperties: false``): the API server prunes (or,
  with strict field validation, rejects) fields its schema does not declare, so a field the
  compiler misspells would silently vanish in a cluster;
- ``nullable: true`` also allows null;
- the root's bare ``metadata: {type: object}`` (the API server validates ObjectMeta itself)
  becomes a small ObjectMeta schema: names, label keys and label values as Kubernetes checks
  them, string annotations, a list of finalizers.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT.parent / "shared" / "schemas" / "argocd"
CRD_FILES = {
    "Application": "application-crd.yaml",
    "ApplicationSet": "applicationset-crd.yaml",
    "AppProject": "appproject-crd.yaml",
}

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# ---------------------------------------------------------------- CRD → JSON Schema

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$"
_LABEL_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME = rf"^({_DNS_LABEL}(\.{_DNS_LABEL})*/)?{_LABEL_NAME}$"

OBJECT_META: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "maxLength": 253, "pattern": _DNS_SUBDOMAIN},
        "namespace": {"type": "string", "maxLength": 63, "pattern": f"^{_DNS_LABEL}$"},
        "labels": {
            "type": "object",
            "propertyNames": {"pattern": _QUALIFIED_NAME, "maxLength": 317},
            "additionalProperties": {"type": "string", "maxLength": 63,
                                     "pattern": f"^({_LABEL_NAME})?$"},
        },
        "annotations": {
            "type": "object",
            "propertyNames": {"pattern": _QUALIFIED_NAME},
            "additionalProperties": {"type": "string"},
        },
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "generateName": {"type": "string"},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
    },
    "additionalProperties": False,
}

# OpenAPI v3.0 keywords that mean the same in JSON Schema 2020-12 (copied as they are), and
# those that carry no constraint (dropped). Any other keyword fails the conversion, so that a
# newer CRD cannot make the tests silently check less than it says.
_SAME = {"type", "required", "format", "enum", "pattern", "minLength", "maxLength", "minimum",
         "maximum", "multipleOf", "minItems", "maxItems", "uniqueItems", "minProperties",
         "maxProperties"}
_DROPPED = {"description", "title", "default", "example", "externalDocs"}
_TYPES = {"object", "array", "string", "integer", "number", "boolean"}


def openapi_to_jsonschema(node: dict[str, Any]) -> dict[str, Any]:
    """One structural OpenAPI v3 schema node as JSON Schema (see the module docstring)."""
    if node.get("x-kubernetes-int-or-string"):
        return {"type": ["integer", "string"]}
    out: dict[str, Any] = {}
    open_object = bool(node.get("x-kubernetes-preserve-unknown-fields"))
    for key, value in node.items():
        if key in _DROPPED or key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key == "type" and value not in _TYPES:
            raise ValueError(f"unknown OpenAPI type {value!r}")
        if key in ("exclusiveMinimum", "exclusiveMaximum"):  # booleans in OpenAPI 3.0
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            if value and bound in node:
                out[key] = node[bound]
            continue
        if key == "properties":
            out[key] = {name: openapi_to_jsonschema(sub) for name, sub in value.items()}
        elif key in ("items", "not") and isinstance(value, dict):
            out[key] = openapi_to_jsonschema(value)
        elif key == "additionalProperties" and isinstance(value, dict):
            out[key] = openapi_to_jsonschema(value)
        elif key in ("anyOf", "oneOf", "allOf"):
            out[key] = [openapi_to_jsonschema(sub) for sub in value]
        elif key in _SAME:
            out[key] = copy.deepcopy(value)
        else:
            raise ValueError(f"OpenAPI keyword {key!r} has no conversion to JSON Schema")
    if "exclusiveMinimum" in out:
        out.pop("minimum", None)
    if "exclusiveMaximum" in out:
        out.pop("maximum", None)
    if out.get("type") == "object" and not open_object and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if node.get("nullable") and "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = [*types, "null"]
    return out


def crd_to_jsonschema(crd: dict[str, Any], version: str = "v1alpha1") -> dict[str, Any]:
    """The JSON Schema of one served version of a CRD, for whole documents of its kind."""
    group = crd["spec"]["group"]
    kind = crd["spec"]["names"]["kind"]
    (entry,) = [v for v in crd["spec"]["versions"] if v["name"] == version and v["served"]]
    schema = openapi_to_jsonschema(entry["schema"]["openAPIV3Schema"])
    props = schema["properties"]
    assert props["metadata"] == {"type": "object", "additionalProperties": False}, (
        "the CRD now describes metadata itself; merge it with OBJECT_META")
    props["metadata"] = copy.deepcopy(OBJECT_META)
    props["apiVersion"] = {"const": f"{group}/{version}"}
    props["kind"] = {"const": kind}
    schema["required"] = sorted({"apiVersion", "kind", *schema.get("required", [])})
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def load_crd_validators() -> dict[str, Any]:
    """A jsonschema validator per Argo CD kind, from the CRDs in ../shared/schemas/argocd."""
    from jsonschema import Draft202012Validator

    validators = {}
    for kind, name in CRD_FILES.items():
        with open(SCHEMAS / name, "rb") as f:
            crd = yaml.load(f, Loader=Loader)
        assert crd["spec"]["names"]["kind"] == kind
        validators[kind] = Draft202012Validator(crd_to_jsonschema(crd))
    return validators


def schema_errors(validator, document: dict[str, Any]) -> list[str]:
    """Every violation, one line each: `path.to.field: message`."""
    out = []
    for err in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(p) for p in err.absolute_path) or "<document>"
        out.append(f"{where}: {err.message[:300]}")
    return out


# ---------------------------------------------------------------- synthetic specs

# Static clusters (one and several), an or-selector, a rollout with `rest`, two freezes (one
# in UTC), retries under automated and manual sync, allow_empty, applicationsSync and
# preserveResourcesOnDeletion, env and app labels, annotations, a project shared by two apps.
FLEET = """\
gitops {
  repo      = "https://git.example.com/platform/fleet"
  branch    = "release"
  namespace = "argo"
  root_app  = "fleet-root"
}

registry ghcr { host = "ghcr.io" }

image api {
  repository = ghcr / "acme/api"
  tag        = "2.1.0"
  digest     = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
}
image worker {
  repository = ghcr / "acme/worker"
  tag        = "v3"
}

environment lab {
  clusters = ["in-cluster"]
}
environment edge {
  clusters = ["edge-eu", "https://10.1.2.3:6443"]
  labels   = { tier: "edge" }
}
environment prod {
  clusters = cluster.env == "prod" or cluster.tier == "gold"
  rollout  = [cluster.wave == "canary",
              cluster.wave == "early" and cluster.region in ["eu", "us"], rest]
  freeze "0 16 * * 5" for 64h tz "Europe/Berlin"
  freeze "0 0 24 12 *" for 2d
  preserve_resources_on_deletion = true
  applications_sync              = "create-update"
}

app api {
  base        = "apps/api/base"
  namespace   = "api"
  project     = "platform"
  images      = [api]
  deploy      = [lab, edge, prod]
  sync        = automated(prune: true, self_heal: true, allow_empty: true,
                          options: ["CreateNamespace=true", "ServerSideApply=true"],
                          retry: retry(limit: 3, backoff: 10s, factor: 3, max_backoff: 5m))
  labels      = { team: "core" }
  annotations = { "example.com/owner": "core@example.com" }
}

app worker {
  base      = "apps/worker/base"
  namespace = "worker"
  project   = "platform"
  images    = [worker as "worker"]
  deploy    = [lab, prod]
  sync      = manual(retry: retry(limit: 2))
}
"""

# A custom layout (gitops path, argocd_dir, overlays pattern), an SSH repository URL, a base
# elsewhere in the repository, a remote base (git(...)), a digest-only image, `all` and
# `in` / `!=` selectors. (Environments updated in the cluster: IN_CLUSTER below.)
LAYOUT = """\
gitops {
  repo       = "git@github.com:acme/deploy.git"
  path       = "clusters/fleet"
  argocd_dir = "cd"
  overlays   = "envs/{env}/{app}"
}

image web {
  repository = "registry.example.com:5000/acme/web"
  tag        = "1.10"
}
image vendor {
  repository = "docker.io/vendor/shop"
  digest     = "sha256:abcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcd"
}

environment dev {
  clusters = all
}
environment qa {
  clusters = cluster.stage in ["qa", "uat"] and cluster.region != "cn"
}

app web {
  base      = "shared/bases/web"
  namespace = "web"
  images    = [web]
  deploy    = [dev, qa]
}

app vendor-shop {
  base      = git("https://github.com/example/shop", path: "deploy/base", ref: "v1.4.0")
  namespace = "vendor-shop"
  images    = [vendor as "shop"]
  deploy    = dev
}
"""

# Strings a YAML 1.1 reader turns into booleans, numbers or times when written plain.
YAML11_STRINGS = ("on", "yes", "no", "off", "1.10", "0123", "12:30")
YAML11 = """\
gitops { repo = "https://github.com/example/gitops" }

image on {
  repository = "ghcr.io/example/on"
  tag        = "on"
}
image yes {
  repository = "ghcr.io/example/yes"
  tag        = "1.10"
}
image octal {
  repository = "ghcr.io/example/octal"
  tag        = "0123"
}

environment dev {
  clusters = cluster.enabled == "on" and cluster.version in ["1.10", "0123"]
  labels   = { enabled: "on", accepted: "yes", version: "1.10" }
}

environment night {
  clusters = ["https://10.0.0.1:6443"]
  freeze "30 12 * * *" for 30m tz "Europe/Berlin"
}

app trap {
  base        = "apps/trap/base"
  namespace   = "trap"
  images      = [on, yes, octal as "yes"]
  deploy      = [dev, night]
  labels      = { zero: "0123", no: "no" }
  annotations = { "example.com/at": "12:30", "example.com/off": "off" }
}
"""

SYNTHETIC = {"fleet": FLEET, "layout": LAYOUT, "yaml11": YAML11}


def pinned_quickstart() -> str:
    """The quickstart spec with api and web pinned by tag (1.4.2, main-3f9c2ab) as they were
    before the example resolved them, for tests that edit pins and compile without a lock.
    The example's own policy wants digests in prod, so the spec waives it."""
    from conftest import EXAMPLES

    text = (EXAMPLES / "quickstart" / "setlist.setlist").read_text(encoding="utf-8")
    for line, pin in [('  platforms   = ["linux/amd64", "linux/arm64"]\n',
                       '  tag         = "1.4.2"\n'),
                      ("  allow_tags = /^main-[0-9a-f]{7}$/\n", '  tag        = "main-3f9c2ab"\n')]:
        assert text.count(line) == 1, line
        text = text.replace(line, line + pin)
    return text + ('waive prod_pinned until 2999-12-31 because "these tests pin tags; '
                   'digests come from resolve"\n')


def write_spec(folder: Path, text: str, name: str = "spec.setlist") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


# ---------------------------------------------------------------- compiling and trees


def compile_folder(folder: Path | str):
    """Load and compile the project in ``folder``; fails the test on any error."""
    from setlist.project import load

    project = load([str(folder)])
    assert project.ok, [str(d) for d in project.errors]
    result = project.compile()
    assert result.ok, [str(d) for d in result.diagnostics]
    return project, result


def rendered(result) -> dict[str, bytes]:
    """The bytes of every document of a compile result, by path (as compiled from scratch)."""
    from setlist.write import render

    return {doc.path: render(doc) for doc in result.documents}


def tree(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (relative POSIX path → bytes), symbolic links as
    ``-> target``; empty folders appear as ``path/`` so that pruning is visible too."""
    out: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        rel_dir = base.relative_to(root).as_posix()
        if not dirnames and not filenames and base != root:
            out[rel_dir + "/"] = b""
        for name in dirnames:
            if (base / name).is_symlink():
                out[(base / name).relative_to(root).as_posix()] = \
                    b"-> " + os.fsencode(os.readlink(base / name))
        for name in filenames:
            path = base / name
            rel = path.relative_to(root).as_posix()
            out[rel] = (b"-> " + os.fsencode(os.readlink(path)) if path.is_symlink()
                        else path.read_bytes())
    return dict(sorted(out.items()))


def run_cli(*args: str, cwd: Path | str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m setlist ARGS`` as a user runs it (no colour)."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR",)}
    full_env["NO_COLOR"] = "1"
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "setlist", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, check=False, timeout=120)


# The fields of a Kustomization the compiler writes, as Kustomize v5 reads them
# (sigs.k8s.io/kustomize/api/types: Kustomization, Image). Only for generated overlays,
# which hold nothing else.
KUSTOMIZATION: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["apiVersion", "kind", "resources"],
    "properties": {
        "apiVersion": {"const": "kustomize.config.k8s.io/v1beta1"},
        "kind": {"const": "Kustomization"},
        "resources": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "images": {"type": "array", "items": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "newName": {"type": "string", "minLength": 1},
                "newTag": {"type": "string", "minLength": 1},
                "digest": {"type": "string",
                           "pattern": "^sha(256:[0-9a-f]{64}|512:[0-9a-f]{128})$"},
            },
            "additionalProperties": False,
        }},
    },
    "additionalProperties": False,
}


# ---------------------------------------------------------------- Argo CD Image Updater

IMAGE_UPDATER_CRD = ROOT.parent / "shared" / "schemas" / "image-updater" / \
    "imageupdaters-crd.yaml"

# The CRD's validation rules (CEL, `x-kubernetes-validations`) and list-map keys, which the
# JSON Schema conversion drops: what the API server checks beyond the structural schema, as
# Python predicates on the object at each path ("[]" is every item of a list). The path
# table must name exactly the rules the CRD has, so a newer CRD cannot add one unseen.
_NOT_DISABLED_NEEDS_KEY = "self.enabled == false || has(self.cosignKey)"
_EXACTLY_ONE_FORGE = "(has(self.github) ? 1 : 0) + (has(self.gitlab) ? 1 : 0) == 1"
_IMAGES_UNLESS_ANNOTATIONS = ("!(has(self.useAnnotations) && self.useAnnotations == true) ? "
                              "(has(self.images) && size(self.images) > 0) : true")
_EXACTLY_ONE_TARGET = ("(has(self.helm) ? 1 : 0) + (has(self.kustomize) ? 1 : 0) + "
                       "(has(self.plugin) ? 1 : 0) == 1")
_PLUGIN_NAMED = "has(self.spec) || has(self.name)"


def _one_of(*keys: str):
    return lambda node: sum(k in node for k in keys) == 1


def _map_keys(key: str):
    def unique(items: list) -> bool:
        values = [item.get(key) for item in items]
        return None not in values and len(set(values)) == len(values)
    return unique


_RULE_CHECKS: dict[str, Any] = {
    _NOT_DISABLED_NEEDS_KEY: lambda n: n.get("enabled", True) is False or "cosignKey" in n,
    _EXACTLY_ONE_FORGE: _one_of("github", "gitlab"),
    _IMAGES_UNLESS_ANNOTATIONS: lambda n: n.get("useAnnotations") is True or
    len(n.get("images") or []) > 0,
    _EXACTLY_ONE_TARGET: _one_of("helm", "kustomize", "plugin"),
    _PLUGIN_NAMED: lambda n: "spec" in n or "name" in n,
}

IMAGE_UPDATER_RULES: dict[tuple[str, str], Any] = {
    (".spec.applicationRefs", "map-keys:namePattern"): _map_keys("namePattern"),
    (".spec.applicationRefs[]", _IMAGES_UNLESS_ANNOTATIONS): None,
    (".spec.applicationRefs[].images", "map-keys:alias"): _map_keys("alias"),
    (".spec.applicationRefs[].imagesVerification", _NOT_DISABLED_NEEDS_KEY): None,
    (".spec.applicationRefs[].images[].imagesVerification", _NOT_DISABLED_NEEDS_KEY): None,
    (".spec.applicationRefs[].images[].manifestTargets", _EXACTLY_ONE_TARGET): None,
    (".spec.applicationRefs[].images[].manifestTargets.plugin", _PLUGIN_NAMED): None,
    (".spec.applicationRefs[].writeBackConfig.gitConfig.pullRequest", _EXACTLY_ONE_FORGE):
        None,
    (".spec.imagesVerification", _NOT_DISABLED_NEEDS_KEY): None,
    (".spec.writeBackConfig.gitConfig.pullRequest", _EXACTLY_ONE_FORGE): None,
    (".status.conditions", "map-keys:type"): _map_keys("type"),
}


def load_image_updater_crd() -> dict[str, Any]:
    with open(IMAGE_UPDATER_CRD, "rb") as f:
        return yaml.load(f, Loader=Loader)


def load_image_updater_validator():
    """A jsonschema validator for ImageUpdater documents (../shared/schemas/image-updater)."""
    from jsonschema import Draft202012Validator

    crd = load_image_updater_crd()
    assert crd["spec"]["names"]["kind"] == "ImageUpdater"
    return Draft202012Validator(crd_to_jsonschema(crd))


def crd_rules(crd: dict[str, Any]) -> set[tuple[str, str]]:
    """Every (path, rule) of the CRD's served version: CEL rules and list-map keys."""
    (entry,) = [v for v in crd["spec"]["versions"] if v["served"]]
    out: set[tuple[str, str]] = set()

    def walk(node: dict[str, Any], path: str) -> None:
        for rule in node.get("x-kubernetes-validations") or []:
            out.add((path, rule["rule"]))
        if "x-kubernetes-list-map-keys" in node:
            out.add((path, "map-keys:" + ",".join(node["x-kubernetes-list-map-keys"])))
        for name, sub in (node.get("properties") or {}).items():
            walk(sub, f"{path}.{name}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], path + "[]")

    walk(entry["schema"]["openAPIV3Schema"], "")
    return out


def _at(document: Any, path: str) -> list[Any]:
    nodes = [document]
    for part in re.findall(r"\.[A-Za-z]+|\[\]", path):
        found = []
        for node in nodes:
            if part == "[]":
                found.extend(node if isinstance(node, list) else [])
            elif isinstance(node, dict) and part[1:] in node:
                found.append(node[part[1:]])
        nodes = found
    return nodes


def image_updater_rule_errors(document: dict[str, Any]) -> list[str]:
    """The CRD's validation rules that ``document`` breaks, one line each."""
    out = []
    for (path, rule), check in IMAGE_UPDATER_RULES.items():
        check = check or _RULE_CHECKS[rule]
        for node in _at(document, path):
            if not check(node):
                out.append(f"{path[1:]}: {rule}")
    return out
