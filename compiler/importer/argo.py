"""Argo CD Applications and ApplicationSets as units.

A plain Application is one unit. An ApplicationSet's list generator is expanded, element by
element, into the Applications it would generate (placeholders `{{key}}` or, with
goTemplate, `{{.key}}` filled from the element). A cluster generator becomes a unit with a
selector; when the source path names a cluster label (`{{metadata.labels.env}}`), one unit
per value the selector allows for that label. Everything else is a note.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from .model import Conjunction, Retry, Selector, Sync, Test, Unit
from .read import Doc, Note, Origin

IU_PREFIX = "argocd-image-updater.argoproj.io/"
FINALIZER = "resources-finalizer.argocd.argoproj.io"
_PLACEHOLDER = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_OPS = {"In": "in", "NotIn": "not in", "Exists": "exists", "DoesNotExist": "not exists"}
_CLUSTER_PARAMS = {"name", "nameNormalized", "server"}
_KNOWN_APP_SPEC = {"project", "source", "destination", "syncPolicy", "sources"}
_KNOWN_SOURCE = {"repoURL", "targetRevision", "path", "kustomize"}


class Skip(Exception):
    """This unit cannot be imported; the message says why."""


def go_duration(text: Any) -> int | None:
    """Seconds of a Go duration (or a bare number of seconds); None if not whole seconds."""
    text = str(text).strip()
    if re.fullmatch(r"\d+", text):
        return int(text)
    if not text or _GO_DURATION.sub("", text):
        return None
    total = sum(float(n) * _UNIT_SECONDS[u] for n, u in _GO_DURATION.findall(text))
    return int(total) if abs(total - round(total)) < 1e-9 else None


def _param(expr: str, params: dict[str, Any], go: bool) -> str | None:
    """The value of one placeholder expression, or None when it is not a plain lookup."""
    m = re.fullmatch(r'index\s+\.?([\w.]+)\s+"([^"]+)"', expr)
    if m:
        path = m.group(1).split(".") + [m.group(2)]
    else:
        if go and not expr.startswith("."):
            return None
        path = expr.lstrip(".").split(".")
        if not all(re.fullmatch(r"[\w-]+", p) for p in path):
            return None
    node: Any = params
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return None if isinstance(node, (dict, list)) else str(node)


def render(value: Any, params: dict[str, Any], go: bool) -> Any:
    """``value`` with every placeholder filled; raises Skip naming one that cannot be."""
    if isinstance(value, dict):
        return {k: render(v, params, go) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, params, go) for v in value]
    if not isinstance(value, str):
        return value

    def sub(match: re.Match) -> str:
        found = _param(match.group(1), params, go)
        if found is None:
            raise Skip(f"the placeholder {match.group(0)} cannot be filled")
        return found
    return _PLACEHOLDER.sub(sub, value)


def placeholders(value: str) -> list[str]:
    return [m.group(1).lstrip(".") for m in _PLACEHOLDER.finditer(value)]


def parse_sync(policy: Any, origin: Origin, subject: str, notes: list[Note]) -> Sync:
    if not isinstance(policy, dict):
        return Sync()
    for key in sorted(set(policy) - {"automated", "syncOptions", "retry"}):
        notes.append(Note(origin, subject, f"syncPolicy.{key} has no Setlist equivalent; "
                          "not imported"))
    auto = policy.get("automated")
    automated = isinstance(auto, dict) and auto.get("enabled", True) is not False
    auto = auto if isinstance(auto, dict) else {}
    options = tuple(str(o) for o in policy.get("syncOptions") or [])
    retry = None
    raw = policy.get("retry")
    if isinstance(raw, dict):
        backoff = raw.get("backoff") or {}
        values = {"limit": raw.get("limit", 5), "factor": backoff.get("factor", 2)}
        durations = {"backoff": backoff.get("duration", "5s"),
                     "max_backoff": backoff.get("maxDuration", "3m")}
        fields: dict[str, int] = {}
        for key, val in values.items():
            if isinstance(val, int) and not isinstance(val, bool) and val >= 0:
                fields[key] = val
            else:
                notes.append(Note(origin, subject, f"retry {key} {val!r} is not a "
                                  "non-negative whole number; Setlist's default is used"))
        for key, val in durations.items():
            seconds = go_duration(val)
            if seconds is None:
                notes.append(Note(origin, subject, f"retry duration {val!r} is not a whole "
                                  "number of seconds; Setlist's default is used"))
            else:
                fields[key] = seconds
        retry = Retry(**fields)
    return Sync(automated=automated, prune=bool(auto.get("prune")) and automated,
                self_heal=bool(auto.get("selfHeal")) and automated,
                allow_empty=bool(auto.get("allowEmpty")) and automated,
                options=options, retry=retry)


def _source(spec: dict[str, Any], doc: Doc, where: tuple, subject: str,
            notes: list[Note]) -> dict[str, Any]:
    if spec.get("sources"):
        raise Skip("it has several sources (spec.sources), which Setlist cannot express")
    source = spec.get("source")
    if not isinstance(source, dict):
        raise Skip("it has no source")
    for kind in ("helm", "chart", "plugin", "directory"):
        if kind in source:
            raise Skip(f"its source is a {kind} source; Setlist deploys Kustomize overlays")
    if not source.get("repoURL") or source.get("path") in (None, ""):
        raise Skip("its source has no repoURL or path")
    for key in sorted(set(source) - _KNOWN_SOURCE):
        notes.append(Note(doc.line_of(*where, "source", key), subject,
                          f"source.{key} is not imported"))
    return source


def _kustomize_pins(source: dict[str, Any], origin: Origin, subject: str,
                    notes: list[Note]) -> list[str]:
    kustomize = source.get("kustomize") or {}
    if not isinstance(kustomize, dict):
        return []
    for key in sorted(set(kustomize) - {"images"}):
        notes.append(Note(origin, subject, f"source.kustomize.{key} is not imported; put it "
                          "in the overlay's kustomization.yaml"))
    return [str(i) for i in kustomize.get("images") or []]


def unit_from_app(data: dict[str, Any], doc: Doc, where: tuple, kind: str, name: str,
                  notes: list[Note]) -> Unit:
    """A unit from an Application (or a rendered template) ``data``."""
    subject = f"{kind} {name}"
    origin = doc.line_of(*where) if where else doc.origin
    meta = data.get("metadata") or {}
    spec = data.get("spec") or {}
    for key in sorted(set(spec) - _KNOWN_APP_SPEC - {"ignoreDifferences", "info",
                                                      "revisionHistoryLimit"}):
        notes.append(Note(doc.line_of(*where, "spec", key), subject,
                          f"spec.{key} is not imported"))
    for key in ("ignoreDifferences", "info", "revisionHistoryLimit"):
        if key in spec:
            notes.append(Note(doc.line_of(*where, "spec", key), subject,
                              f"spec.{key} has no Setlist equivalent; not imported"))
    source = _source(spec, doc, (*where, "spec"), subject, notes)
    dest = spec.get("destination") or {}
    static: tuple[tuple[str, str], ...] = ()
    if dest.get("name"):
        static = (("name", str(dest["name"])),)
    elif dest.get("server"):
        static = (("server", str(dest["server"])),)
    if not dest.get("namespace"):
        raise Skip("its destination has no namespace")
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    annotations = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
    finalizers = [str(f) for f in meta.get("finalizers") or []]
    for extra in sorted(set(finalizers) - {FINALIZER}):
        notes.append(Note(origin, subject, f"the finalizer {extra} is not imported"))
    unit = Unit(
        name=name, kind=kind, origin=origin, repo=str(source["repoURL"]),
        revision=str(source.get("targetRevision") or "HEAD"),
        path=str(source["path"]).strip("/"), namespace=str(dest["namespace"]),
        project=str(spec.get("project") or "default"),
        argocd_namespace=str(meta.get("namespace") or "argocd"),
        sync=parse_sync(spec.get("syncPolicy"), origin, subject, notes), static=static,
        labels=labels,
        annotations={k: v for k, v in annotations.items() if not k.startswith(IU_PREFIX)},
        iu_annotations={k: v for k, v in annotations.items() if k.startswith(IU_PREFIX)},
        has_finalizer=FINALIZER in finalizers, template_name=name, document=name,
        kustomize_images=_kustomize_pins(source, origin, subject, notes))
    return unit


def application(doc: Doc, notes: list[Note]) -> list[Unit]:
    unit = unit_from_app(doc.data, doc, (), "Application", doc.name, notes)
    if not unit.static:
        raise Skip("its destination names no cluster (server or name)")
    return [unit]


# ---------------------------------------------------------------- ApplicationSets


def _selector(sel: Any, origin: Origin, subject: str) -> Conjunction:
    if not isinstance(sel, dict):
        return ()
    tests: list[Test] = []
    for key in sorted(set(sel) - {"matchLabels", "matchExpressions"}):
        raise Skip(f"its cluster selector has {key}")
    for key, value in sorted((sel.get("matchLabels") or {}).items()):
        tests.append((str(key), "==", (str(value),)))
    for expr in sel.get("matchExpressions") or []:
        op = _OPS.get(str(expr.get("operator")))
        if op is None:
            raise Skip(f"its cluster selector uses the operator {expr.get('operator')!r}")
        values = tuple(sorted({str(v) for v in expr.get("values") or []}))
        if op in ("in", "not in") and not values:
            raise Skip(f"its cluster selector tests {expr.get('key')} against no values")
        if op == "in" and len(values) == 1:
            op = "=="
        tests.append((str(expr.get("key")), op, values if op not in ("exists", "not exists")
                      else ()))
    return tuple(sorted(set(tests)))


def _label_values(conj: Conjunction, key: str) -> tuple[str, ...] | None:
    for k, op, values in conj:
        if k == key and op in ("==", "in"):
            return values
    return None


def _path_label(expr: str) -> str | None:
    m = re.fullmatch(r'\.?metadata\.labels\.([\w.-]+)', expr) or \
        re.fullmatch(r'index\s+\.?metadata\.labels\s+"([^"]+)"', expr)
    return m.group(1) if m else None


def application_set(doc: Doc, notes: list[Note]) -> list[Unit]:
    spec = doc.data.get("spec") or {}
    subject = f"ApplicationSet {doc.name}"
    go = bool(spec.get("goTemplate"))
    for key in ("templatePatch", "ignoreApplicationDifferences"):
        if key in spec:
            notes.append(Note(doc.line_of("spec", key), subject,
                              f"spec.{key} has no Setlist equivalent; not imported"))
    if "strategy" in spec:
        notes.append(Note(doc.line_of("spec", "strategy"), subject,
                          "spec.strategy (progressive sync) is not imported; write the steps "
                          "as the environment's rollout"))
    for key in sorted(set(spec) - {"goTemplate", "goTemplateOptions", "generators",
                                   "template", "syncPolicy", "templatePatch", "strategy",
                                   "ignoreApplicationDifferences"}):
        notes.append(Note(doc.line_of("spec", key), subject, f"spec.{key} is not imported"))
    appset_sync = spec.get("syncPolicy") or {}
    template = spec.get("template") or {}
    generators = spec.get("generators") or []
    if not generators:
        raise Skip("it has no generators")
    kinds = set()
    for i, gen in enumerate(generators):
        kind = next(iter(gen), "") if isinstance(gen, dict) and len(gen) == 1 else "?"
        if kind not in ("clusters", "list"):
            line = doc.line_of("spec", "generators", i).line
            raise Skip(f"its generator {kind or '?'} (line {line}) has no Setlist "
                       "equivalent; only cluster and list generators are imported")
        kinds.add(kind)
    if len(kinds) > 1:
        raise Skip("it mixes cluster and list generators")
    units = (_list_units(doc, spec, template, go, notes) if "list" in kinds
             else _cluster_units(doc, spec, template, go, subject, notes))
    for unit in units:
        unit.preserve = bool(appset_sync.get("preserveResourcesOnDeletion"))
        unit.applications_sync = appset_sync.get("applicationsSync")
    for key in sorted(set(appset_sync) - {"preserveResourcesOnDeletion", "applicationsSync"}):
        notes.append(Note(doc.line_of("spec", "syncPolicy", key), subject,
                          f"spec.syncPolicy.{key} is not imported"))
    return units


def _list_units(doc: Doc, spec: dict, template: dict, go: bool,
                notes: list[Note]) -> list[Unit]:
    units = []
    for g, gen in enumerate(spec["generators"]):
        body = gen["list"] or {}
        if "elementsYaml" in body or "template" in body or "selector" in gen["list"]:
            notes.append(Note(doc.line_of("spec", "generators", g), f"ApplicationSet {doc.name}",
                              "elementsYaml, a per-generator template or selector is not "
                              "imported"))
        for e, element in enumerate(body.get("elements") or []):
            where = ("spec", "generators", g, "list", "elements", e)
            try:
                rendered = render(template, element if isinstance(element, dict) else {}, go)
                name = str((rendered.get("metadata") or {}).get("name") or "")
                unit = unit_from_app(rendered, doc, where, "ApplicationSet", doc.name, notes)
            except Skip as exc:
                notes.append(Note(doc.line_of(*where), f"ApplicationSet {doc.name}",
                                  f"element {e + 1} is not imported: {exc}"))
                continue
            if not unit.static:
                notes.append(Note(doc.line_of(*where), f"ApplicationSet {doc.name}",
                                  f"element {e + 1} is not imported: its destination names "
                                  "no cluster"))
                continue
            unit.name = unit.template_name = name or f"{doc.name}-{e + 1}"
            units.append(unit)
    return units


def _cluster_units(doc: Doc, spec: dict, template: dict, go: bool, subject: str,
                   notes: list[Note]) -> list[Unit]:
    conjs: list[Conjunction] = []
    for g, gen in enumerate(spec["generators"]):
        body = gen["clusters"] or {}
        for key in sorted(set(body) - {"selector"}):
            notes.append(Note(doc.line_of("spec", "generators", g, "clusters", key), subject,
                              f"the cluster generator's {key} is not imported"))
        conjs.append(_selector(body.get("selector"), doc.origin, subject))
    tspec = template.get("spec") or {}
    source = tspec.get("source") or {}
    dest = dict(tspec.get("destination") or {})
    target = dest.pop("server", None) or dest.pop("name", None)
    names = placeholders(str(target or ""))
    if len(names) != 1 or names[0] not in _CLUSTER_PARAMS:
        raise Skip("its template's destination is not the generated cluster "
                   "({{server}} or {{name}})")
    path = str(source.get("path") or "")
    keys = sorted({k for k in (_path_label(p) for p in placeholders(path)) if k})
    others = [p for p in placeholders(path) if not _path_label(p)]
    if others:
        raise Skip(f"its source path {path!r} depends on {{{{{others[0]}}}}}")
    # one unit per combination of the path's label values, per generator
    by_path: dict[str, list[Conjunction]] = {}
    for conj in conjs:
        choices = []
        for key in keys:
            values = _label_values(conj, key)
            if values is None:
                raise Skip(f"its source path names the cluster label {key}, which the "
                           "selector does not limit to a list of values")
            choices.append(values)
        for combo in itertools.product(*choices):
            params = {"metadata": {"labels": dict(zip(keys, combo, strict=True))}}
            rendered_path = render(path, params, go)
            narrowed = tuple(sorted(
                [t for t in conj if t[0] not in keys] +
                [(k, "==", (v,)) for k, v in zip(keys, combo, strict=True)]))
            by_path.setdefault(rendered_path, []).append(narrowed)
    units = []
    for rendered_path, parts in sorted(by_path.items()):
        data = {"metadata": {**(template.get("metadata") or {}),
                             "namespace": (doc.data.get("metadata") or {}).get("namespace")},
                "spec": {**tspec, "source": {**source, "path": rendered_path},
                         "destination": dest}}
        meta = data["metadata"]
        for field in ("labels", "annotations"):
            values = dict(meta.get(field) or {})
            for k, v in sorted(values.items()):
                if placeholders(str(v)) or placeholders(str(k)):
                    notes.append(Note(doc.line_of("spec", "template", "metadata", field),
                                      subject, f"the template {field[:-1]} {k}: {v} depends on "
                                      "the cluster; not imported"))
                    del values[k]
            meta[field] = values
        unit = unit_from_app(data, doc, (), "ApplicationSet", doc.name, notes)
        selector: Selector = tuple(sorted(set(parts)))
        unit.selector = selector
        unit.template_name = str((template.get("metadata") or {}).get("name") or "")
        if keys and len(by_path) > 1:
            label = rendered_path.rstrip("/").rsplit("/", 1)[-1]
            unit.name = f"{doc.name}-{label}" if not doc.name.endswith(label) else doc.name
        units.append(unit)
    return units
