"""Every generated Argo CD document is valid against the upstream CRD of its kind.

The CRDs (../shared/schemas/argocd) are converted to JSON Schema by ``schema_util`` and
parsed once per session. Documents are checked as a cluster would receive them: rendered to
bytes by the writer and read back with a YAML 1.1 reader (PyYAML), so a string the emitter
left plain that reads back as a boolean or number fails here too.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from schema_util import (
    CRD_FILES,
    KUSTOMIZATION,
    SCHEMAS,
    SYNTHETIC,
    Loader,
    compile_folder,
    load_crd_validators,
    openapi_to_jsonschema,
    rendered,
    schema_errors,
    write_spec,
)

from conftest import EXAMPLES, unavailable


@pytest.fixture(scope="session")
def validators():
    missing = [name for name in CRD_FILES.values() if not (SCHEMAS / name).is_file()]
    if missing:
        unavailable(f"the Argo CD CRDs are not at {SCHEMAS} (missing: {', '.join(missing)})")
    out = load_crd_validators()
    out["Kustomization"] = Draft202012Validator(KUSTOMIZATION)
    return out


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    for name, text in SYNTHETIC.items():
        write_spec(root / name, text)
    return root


CASES = ["quickstart", "multi-cluster", *SYNTHETIC]


def documents_of(case: str, synthetic_dir: Path) -> list[tuple[str, dict]]:
    folder = EXAMPLES / case if case in ("quickstart", "multi-cluster") else \
        synthetic_dir / case
    _, result = compile_folder(folder)
    out = []
    for path, data in rendered(result).items():
        for doc in yaml.load_all(data, Loader=Loader):
            out.append((path, doc))
    return out


@pytest.mark.parametrize("case", CASES)
def test_every_generated_document_is_valid(case, validators, synthetic_dir):
    docs = documents_of(case, synthetic_dir)
    assert docs
    problems = []
    for path, doc in docs:
        kind = doc.get("kind")
        assert kind in validators, f"{path}: no schema for kind {kind!r}"
        problems += [f"{path} ({kind}) {e}" for e in schema_errors(validators[kind], doc)]
    assert problems == []


def test_the_cases_cover_what_the_schemas_check(synthetic_dir):
    """The valid-documents test means something only if the documents use the features."""
    docs = [doc for case in CASES for _, doc in documents_of(case, synthetic_dir)]
    by_kind: dict[str, list[dict]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    assert set(by_kind) == {"Application", "ApplicationSet", "AppProject", "Kustomization"}
    appsets = [d["spec"] for d in by_kind["ApplicationSet"]]
    apps = [d["spec"] for d in by_kind["Application"]]
    projects = [d["spec"] for d in by_kind["AppProject"]]
    assert any(len(s["generators"]) > 1 for s in appsets)                       # or
    assert any(s.get("strategy", {}).get("type") == "RollingSync" for s in appsets)
    assert any(s.get("syncPolicy", {}).get("applicationsSync") for s in appsets)
    assert any(s.get("syncPolicy", {}).get("preserveResourcesOnDeletion") for s in appsets)
    assert any("retry" in s["template"]["spec"].get("syncPolicy", {}) for s in appsets)
    assert any("retry" in s.get("syncPolicy", {}) and "automated" in s["syncPolicy"]
               for s in apps)                                                   # static
    assert any("name" in s["destination"] for s in apps)
    assert any("server" in s["destination"] and s["project"] != "default" for s in apps)
    assert sum(len(s.get("syncWindows", [])) for s in projects) >= 3            # freezes
    assert any("://" in d["resources"][0] for d in by_kind["Kustomization"])  # remote base


# ---------------------------------------------------------------- the schemas can fail


def valid_application() -> dict:
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "api-dev", "namespace": "argocd", "labels": {"team": "core"}},
        "spec": {
            "project": "api",
            "source": {"repoURL": "https://git.example.com/ops", "targetRevision": "main",
                       "path": "apps/api/overlays/dev"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "api"},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True},
                           "retry": {"limit": 5, "backoff": {"duration": "5s", "factor": 2,
                                                             "maxDuration": "3m"}}},
        },
    }


def broken(change) -> dict:
    doc = copy.deepcopy(valid_application())
    change(doc)
    return doc


def test_a_valid_application_passes(validators):
    assert schema_errors(validators["Application"], valid_application()) == []


@pytest.mark.parametrize("change, where", [
    (lambda d: d["spec"]["syncPolicy"]["automated"].update(prune="true"),
     "spec.syncPolicy.automated.prune"),
    (lambda d: d["spec"]["syncPolicy"]["retry"].update(limit="5"), "spec.syncPolicy.retry.limit"),
    (lambda d: d["spec"]["syncPolicy"].update(sycnOptions=["A=b"]), "spec.syncPolicy"),
    (lambda d: d["spec"].pop("destination"), "spec"),
    (lambda d: d["metadata"]["labels"].update(team=True), "metadata.labels.team"),
    (lambda d: d["metadata"]["labels"].update(team="a b"), "metadata.labels.team"),
    (lambda d: d["metadata"].update(name="Api_Dev"), "metadata.name"),
    (lambda d: d.update(apiVersion="argoproj.io/v1"), "apiVersion"),
    (lambda d: d["spec"]["source"].update(kustomize={"replicas": [{"name": "x", "count": [1]}]}),
     "spec.source.kustomize.replicas.0.count"),
], ids=["bool-as-string", "int-as-string", "misspelled-field", "missing-required",
        "label-not-string", "label-value-syntax", "name-syntax", "api-version",
        "int-or-string-list"])
def test_schema_validation_rejects_a_broken_document(validators, change, where):
    errors = schema_errors(validators["Application"], broken(change))
    assert errors, "the schema accepted a broken document"
    assert any(e.startswith(where + ": ") for e in errors), errors


@pytest.mark.parametrize("count", [3, "3", "50%"])
def test_int_or_string_takes_either(validators, count):
    doc = broken(lambda d: d["spec"]["source"].update(
        kustomize={"replicas": [{"name": "x", "count": count}]}))
    assert schema_errors(validators["Application"], doc) == []


def test_preserve_unknown_fields_is_an_open_object(validators):
    doc = broken(lambda d: d["spec"]["source"].update(
        helm={"valuesObject": {"anything": {"goes": [1, True, None]}}}))
    assert schema_errors(validators["Application"], doc) == []


def test_applicationset_and_appproject_reject_wrong_types(validators):
    appset = {"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
              "metadata": {"name": "a", "namespace": "argocd"},
              "spec": {"goTemplate": "true", "generators": [{"clusters": {}}],
                       "template": {"metadata": {}, "spec": {
                           "project": "p", "destination": {}}}}}
    assert any(e.startswith("spec.goTemplate: ")
               for e in schema_errors(validators["ApplicationSet"], appset))
    project = {"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
               "metadata": {"name": "p", "namespace": "argocd"},
               "spec": {"syncWindows": [{"kind": "deny", "schedule": "* * * * *",
                                         "duration": 3600}]}}
    assert any(e.startswith("spec.syncWindows.0.duration: ")
               for e in schema_errors(validators["AppProject"], project))


def test_kustomization_schema_rejects_a_numeric_tag(validators):
    overlay = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
               "resources": ["../../base"], "images": [{"name": "x", "newTag": 1.1}]}
    assert schema_errors(validators["Kustomization"], overlay) == [
        "images.0.newTag: 1.1 is not of type 'string'"]


# ---------------------------------------------------------------- the conversion itself


def test_conversion_rules():
    node = {
        "type": "object", "description": "dropped", "required": ["a"],
        "properties": {
            "a": {"type": "string", "x-kubernetes-list-type": "atomic"},
            "n": {"anyOf": [{"type": "integer"}, {"type": "string"}],
                  "x-kubernetes-int-or-string": True},
            "open": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "any": {"x-kubernetes-preserve-unknown-fields": True},
            "map": {"type": "object", "additionalProperties": {"type": "string"}},
            "maybe": {"type": "string", "nullable": True},
        },
    }
    assert openapi_to_jsonschema(node) == {
        "type": "object", "required": ["a"], "additionalProperties": False,
        "properties": {
            "a": {"type": "string"},
            "n": {"type": ["integer", "string"]},
            "open": {"type": "object"},
            "any": {},
            "map": {"type": "object", "additionalProperties": {"type": "string"}},
            "maybe": {"type": ["string", "null"]},
        },
    }


def test_conversion_refuses_unknown_keywords():
    with pytest.raises(ValueError, match="'discriminator'"):
        openapi_to_jsonschema({"type": "object", "discriminator": {"propertyName": "k"}})
