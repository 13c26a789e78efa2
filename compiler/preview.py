"""Offline preview: the Applications Argo CD's ApplicationSet controller would generate.

Pure logic: takes compiled documents and a cluster inventory (``setlist.inventory``) and
returns what the controller would make of every generated ApplicationSet, with warnings.
The rules follow argo-cd's applicationset/generators/cluster.go (which clusters a cluster
generator yields and with which parameters), applicationset/utils (``SanitizeName``, which is
``compile.argocd.name_normalized``; Go templates, evaluated by ``setlist.gotemplate``) and
applicationset/controllers (duplicate names); label selectors follow Kubernetes'
``metav1.LabelSelectorAsSelector``. See docs/preview.md.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .compile.documents import IN_CLUSTER_SERVER, LABEL_APP, LABEL_CLUSTER, LABEL_ENV
from .gotemplate import StrMap, TemplateError, Unsupported
from .gotemplate import render as render_go
from .inventory import SECRET_TYPE_CLUSTER, SECRET_TYPE_LABEL, Cluster, Inventory
from .values import (
    check_dns1123_subdomain,
    check_label_key,
    check_label_value,
    name_normalized,
)

IN_CLUSTER_NAME = "in-cluster"
FORMATS = ("table", "yaml", "json")


# ---------------------------------------------------------------- label selectors


class SelectorError(Exception):
    """A selector ``metav1.LabelSelectorAsSelector`` rejects; the generator fails."""




def _valid_label_key(key: str) -> bool:
    return check_label_key(key) is None


def valid_label_value(value: str) -> bool:
    return check_label_value(value) is None


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str                       # In, NotIn, Exists, DoesNotExist (matchLabels: In)
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        has = self.key in labels
        if self.op == "In":
            return has and labels[self.key] in self.values
        if self.op == "NotIn":
            return not has or labels[self.key] not in self.values
        if self.op == "Exists":
            return has
        return not has  # DoesNotExist


def requirements(selector: Mapping[str, Any] | None) -> list[Requirement]:
    """A LabelSelector as requirements (all must hold), validated like Kubernetes does."""
    selector = selector or {}
    out: list[Requirement] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        _check_key(key)
        if not isinstance(value, str) or not valid_label_value(value):
            raise SelectorError(f"matchLabels: {value!r} is not a valid label value for "
                                f"'{key}'")
        out.append(Requirement(key, "In", frozenset([value])))
    for expr in selector.get("matchExpressions") or []:
        key, op = expr.get("key", ""), expr.get("operator", "")
        values = list(expr.get("values") or [])
        _check_key(key)
        if op in ("In", "NotIn"):
            if not values:
                raise SelectorError(f"{key} {op}: for 'in', 'notin' operators, values set "
                                    "can't be empty")
            for v in values:
                if not isinstance(v, str) or not valid_label_value(v):
                    raise SelectorError(f"{key} {op}: {v!r} is not a valid label value")
        elif op in ("Exists", "DoesNotExist"):
            if values:
                raise SelectorError(f"{key} {op}: values set must be empty for exists and "
                                    "does not exist")
        else:
            raise SelectorError(f'"{op}" is not a valid label selector operator')
        out.append(Requirement(key, op, frozenset(values)))
    return out


def _check_key(key: Any) -> None:
    if not isinstance(key, str) or not _valid_label_key(key):
        raise SelectorError(f"{key!r} is not a valid label key")


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes label selector semantics: matchLabels and matchExpressions all ANDed."""
    return all(r.matches(labels) for r in requirements(selector))


# ---------------------------------------------------------------- cluster generator


def cluster_params(cluster: Cluster, go_template: bool = True) -> dict[str, Any]:
    """The parameters the cluster generator gives a cluster Secret (getClusterParameters)."""
    params: dict[str, Any] = {"name": cluster.name, "nameNormalized": name_normalized(cluster.name),
                              "server": cluster.server, "project": cluster.project}
    if go_template:
        meta: dict[str, Any] = {}
        if cluster.annotations:
            meta["annotations"] = StrMap(cluster.annotations)
        if cluster.labels:
            meta["labels"] = StrMap(cluster.labels)
        params["metadata"] = meta
    else:
        for k, v in cluster.annotations.items():
            params["metadata.annotations." + k] = v
        for k, v in cluster.labels.items():
            params["metadata.labels." + k] = v
    return params


def local_cluster_params() -> dict[str, Any]:
    """The local cluster without a Secret: no metadata at all, an empty project."""
    return {"name": IN_CLUSTER_NAME, "nameNormalized": IN_CLUSTER_NAME,
            "server": IN_CLUSTER_SERVER, "project": ""}


LOCAL_CLUSTER = Cluster(name=IN_CLUSTER_NAME, server=IN_CLUSTER_SERVER,
                        origin="the local cluster (no Secret)")


def select_clusters(selector: Mapping[str, Any] | None,
                    clusters: Sequence[Cluster]) -> list[Cluster]:
    """The clusters one cluster generator yields, the local one (LOCAL_CLUSTER) included.

    The controller lists the Secrets matching the selector plus
    ``argocd.argoproj.io/secret-type=cluster``, keyed by cluster name (a later Secret of the
    same name replaces an earlier one), and adds the local cluster only when the selector is
    empty and no listed Secret has the in-cluster server.
    """
    selector = dict(selector or {})
    ignore_local = bool(selector.get("matchLabels")) or bool(selector.get("matchExpressions"))
    with_type = dict(selector)
    with_type["matchLabels"] = {**(selector.get("matchLabels") or {}),
                                SECRET_TYPE_LABEL: SECRET_TYPE_CLUSTER}
    reqs = requirements(with_type)
    by_name: dict[str, Cluster] = {}
    for c in clusters:
        if all(r.matches(c.labels) for r in reqs):
            by_name[c.name] = c
    selected = list(by_name.values())
    if not ignore_local and not any(c.server == IN_CLUSTER_SERVER for c in selected):
        selected.append(LOCAL_CLUSTER)
    return selected


# ---------------------------------------------------------------- rendering

_FAST = re.compile(r"\{\{(.*?)\}\}", re.S)


def render_fast(text: str, params: Mapping[str, Any]) -> str:
    """The controller's non-Go templates (fasttemplate): ``{{key}}`` with a flat key; unknown
    keys are left as they are."""
    def sub(m: re.Match[str]) -> str:
        value = params.get(m.group(1).strip())
        return value if isinstance(value, str) and m.group(1).strip() else m.group(0)
    return _FAST.sub(sub, text)


class FieldError(Exception):
    """A string of the template that does not render: where it is, what it says, and the
    TemplateError (an :class:`Unsupported` one when preview cannot tell)."""

    def __init__(self, path: str, text: str, error: TemplateError):
        super().__init__(f"{path}: {error}")
        self.path, self.text, self.error = path, text, error


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _field_path(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if isinstance(key, str) and _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(str(key), ensure_ascii=False)}]"


def render_deep(value: Any, params: Mapping[str, Any], go_template: bool,
                options: Sequence[str], path: str = "template") -> Any:
    """Every string of a template (map keys included) rendered, as deeplyReplace does;
    :class:`FieldError` names the first string that fails."""
    if isinstance(value, str):
        if not go_template:
            return render_fast(value, params)
        try:
            return render_go(value, params, options)
        except TemplateError as exc:
            raise FieldError(path, value, exc) from None
    if isinstance(value, Mapping):
        return {render_deep(k, params, go_template, options, path + " (a key)"):
                render_deep(v, params, go_template, options, _field_path(path, k))
                for k, v in value.items()}
    if isinstance(value, list):
        return [render_deep(v, params, go_template, options, _field_path(path, i))
                for i, v in enumerate(value)]
    return value


# ---------------------------------------------------------------- the preview


@dataclass
class PreviewApp:
    name: str
    cluster: str
    server: str
    namespace: str
    project: str
    path: str
    labels: dict[str, str]
    cluster_labels: tuple[str, ...] = ()   # label keys set from the cluster (table column)
    cluster_key: str = ""                  # identity of the target cluster

    def data(self) -> dict[str, Any]:
        return {"name": self.name, "cluster": self.cluster, "server": self.server,
                "namespace": self.namespace, "project": self.project, "path": self.path,
                "labels": dict(sorted(self.labels.items()))}


@dataclass
class PreviewItem:
    kind: str              # "ApplicationSet", or "Application" for static clusters
    name: str
    app: str
    env: str
    file: str
    applications: list[PreviewApp] = field(default_factory=list)
    failed: bool = False   # the controller would generate none of its Applications

    def data(self) -> dict[str, Any]:
        out = {"kind": self.kind, "name": self.name, "app": self.app, "env": self.env,
               "file": self.file,
               "applications": [a.data() for a in self.applications]}
        if self.kind == "ApplicationSet":
            out["failed"] = self.failed
        return out


@dataclass(frozen=True)
class Issue:
    kind: str
    message: str

    def data(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message}


@dataclass
class Preview:
    items: list[PreviewItem] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    def data(self) -> dict[str, Any]:
        return {"items": [i.data() for i in self.items],
                "warnings": [i.data() for i in self.issues]}


# Issues that mean the controller fails an ApplicationSet (or preview cannot expand it):
# `setlist preview` reports them as errors and exits 1.
FAILURES = ("template-error", "selector-error", "unsupported-generator")


def _visible(clusters: Iterable[Cluster], namespace: str) -> list[Cluster]:
    return [c for c in clusters if c.namespace in (None, namespace)]


def _source_path(spec: Mapping[str, Any]) -> str:
    source = spec.get("source")
    if not isinstance(source, Mapping):
        sources = spec.get("sources") or [{}]
        source = sources[0] if isinstance(sources[0], Mapping) else {}
    return str(source.get("path") or source.get("chart") or "")


def _cluster_key(server: str, name: str) -> str:
    return f"server:{server}" if server else f"name:{name}"


def _appset_item(doc: Mapping[str, Any], file: str, clusters: Sequence[Cluster],
                 issues: list[Issue]) -> PreviewItem:
    meta = doc.get("metadata") or {}
    labels = meta.get("labels") or {}
    name = meta.get("name", "")
    namespace = meta.get("namespace", "")
    item = PreviewItem("ApplicationSet", name, labels.get(LABEL_APP, ""),
                       labels.get(LABEL_ENV, ""), file)
    spec = doc.get("spec") or {}
    go_template = bool(spec.get("goTemplate"))
    options = list(spec.get("goTemplateOptions") or [])
    template = spec.get("template") or {}
    templated_labels = tuple(sorted(k for k, v in (template.get("metadata", {}).get("labels")
                                                   or {}).items() if "{{" in str(v)))
    visible = _visible(clusters, namespace)
    for n, generator in enumerate(spec.get("generators") or [], 1):
        where = f"ApplicationSet {name} ({file}), generator {n}"
        if set(generator) != {"clusters"}:
            issues.append(Issue("unsupported-generator", f"{where}: preview only expands "
                                f"cluster generators (found {', '.join(sorted(generator))})"))
            item.failed = True
            continue
        gen = generator["clusters"] or {}
        try:
            selected = select_clusters(gen.get("selector"), visible)
        except SelectorError as exc:
            issues.append(Issue("selector-error", f"{where}: the controller rejects the "
                                f"selector ({exc}) and generates no Application of {name}"))
            item.failed = True
            continue
        for cluster in selected:
            params = (local_cluster_params() if cluster is LOCAL_CLUSTER
                      else cluster_params(cluster, go_template))
            try:
                rendered = render_deep(template, params, go_template, options,
                                       "spec.template")
            except FieldError as exc:
                outcome = ("preview cannot evaluate it, so it cannot tell what the controller "
                           "makes of it" if isinstance(exc.error, Unsupported) else
                           f"the controller generates no Application of {name}")
                issues.append(Issue("template-error", f"{where}: the template "
                                    f"{exc.path} = {json.dumps(exc.text, ensure_ascii=False)} "
                                    f"does not render for cluster '{cluster.display_name}': "
                                    f"{exc.error}; {outcome}"))
                item.failed = True
                continue
            rmeta = rendered.get("metadata") or {}
            rspec = rendered.get("spec") or {}
            dest = rspec.get("destination") or {}
            item.applications.append(PreviewApp(
                name=str(rmeta.get("name", "")), cluster=cluster.display_name,
                server=str(dest.get("server") or cluster.server),
                namespace=str(dest.get("namespace", "")), project=str(rspec.get("project", "")),
                path=_source_path(rspec), labels=dict(rmeta.get("labels") or {}),
                cluster_labels=templated_labels,
                cluster_key=_cluster_key(cluster.server, cluster.name)))
    item.applications.sort(key=lambda a: (a.name, a.cluster))
    return item


def _static_item(docs: list[Mapping[str, Any]], file: str, clusters: Sequence[Cluster],
                 issues: list[Issue]) -> PreviewItem:
    first = docs[0].get("metadata") or {}
    labels = first.get("labels") or {}
    app, env = labels.get(LABEL_APP, ""), labels.get(LABEL_ENV, "")
    item = PreviewItem("Application", f"{app}-{env}", app, env, file)
    for doc in docs:
        meta = doc.get("metadata") or {}
        spec = doc.get("spec") or {}
        dest = spec.get("destination") or {}
        visible = _visible(clusters, meta.get("namespace", ""))
        if dest.get("name"):
            found = [c for c in visible if c.name == dest["name"]]
            if not found and dest["name"] == IN_CLUSTER_NAME and not any(
                    c.server == IN_CLUSTER_SERVER for c in visible):
                found = [LOCAL_CLUSTER]
        else:
            found = [c for c in visible if c.server == dest.get("server")] or (
                [LOCAL_CLUSTER] if dest.get("server") == IN_CLUSTER_SERVER else [])
        cluster = found[-1] if found else None
        target = dest.get("name") or dest.get("server") or ""
        if cluster is None:
            issues.append(Issue("unknown-cluster", f"Application {meta.get('name')}: its "
                                f"destination '{target}' is not in the inventory; Argo CD "
                                "cannot sync it until that cluster is registered"))
        item.applications.append(PreviewApp(
            name=str(meta.get("name", "")),
            cluster=cluster.display_name if cluster else str(dest.get("name") or ""),
            server=cluster.server if cluster else str(dest.get("server") or ""),
            namespace=str(dest.get("namespace", "")), project=str(spec.get("project", "")),
            path=_source_path(spec), labels=dict(meta.get("labels") or {}),
            cluster_labels=(LABEL_CLUSTER,) if LABEL_CLUSTER in (meta.get("labels") or {})
            else (),
            cluster_key=_cluster_key(cluster.server, cluster.name) if cluster
            else f"name:{target}"))
    return item


def preview(documents: Iterable[Any], inventory: Inventory | Sequence[Cluster], *,
            app: str | None = None, env: str | None = None) -> Preview:
    """Expand the ApplicationSets (and list the static Applications) among ``documents``
    (``setlist.compile.Document``) for the clusters of ``inventory``."""
    clusters = list(inventory.clusters if isinstance(inventory, Inventory) else inventory)
    result = Preview()
    issues = result.issues
    if isinstance(inventory, Inventory):
        issues.extend(Issue("inventory", w) for w in inventory.warnings)
    seen_ns: set[str] = set()
    for document in documents:
        docs = [d for d in document.documents if isinstance(d, Mapping)]
        if not docs or docs[0].get("apiVersion", "").split("/")[0] != "argoproj.io":
            continue
        labels = (docs[0].get("metadata") or {}).get("labels") or {}
        if LABEL_APP not in labels or LABEL_ENV not in labels:
            continue  # the root app-of-apps, AppProjects
        if (app and labels[LABEL_APP] != app) or (env and labels[LABEL_ENV] != env):
            continue
        kind = docs[0].get("kind")
        seen_ns.add((docs[0].get("metadata") or {}).get("namespace", ""))
        if kind == "ApplicationSet":
            result.items.append(_appset_item(docs[0], document.path, clusters, issues))
        elif kind == "Application":
            result.items.append(_static_item(docs, document.path, clusters, issues))
    for c in clusters:
        if c.namespace is not None and seen_ns and c.namespace not in seen_ns:
            issues.append(Issue("inventory", f"{c.origin}: in namespace {c.namespace}, not "
                                f"Argo CD's ({', '.join(sorted(seen_ns))}); the controller "
                                "does not see it"))
    _check(result)
    return result


def _check(result: Preview) -> None:
    issues = result.issues
    # Environments whose selector matches no cluster.
    empty: dict[str, list[str]] = {}
    for item in result.items:
        if item.kind == "ApplicationSet" and not item.applications and not item.failed:
            empty.setdefault(item.env, []).append(item.name)
    for env_name, names in sorted(empty.items()):
        issues.append(Issue("no-cluster", f"environment '{env_name}' selects no cluster of the "
                            f"inventory: {', '.join(names)} generate"
                            f"{'s' if len(names) == 1 else ''} no Application"))
    # One app deployed twice to one cluster by two of its environments.
    targets: dict[tuple[str, str], dict[str, list[str]]] = {}
    for item in result.items:
        for a in item.applications:
            targets.setdefault((item.app, a.cluster_key), {}).setdefault(item.env, []).append(
                a.name)
    for (app_name, _key), by_env in sorted(targets.items()):
        if len(by_env) > 1:
            cluster = next(a.cluster for i in result.items if i.app == app_name
                           for a in i.applications if a.cluster_key == _key)
            apps = ", ".join(n for e in sorted(by_env) for n in by_env[e])
            issues.append(Issue("double-deployment", f"app '{app_name}' is deployed twice to "
                                f"cluster '{cluster}' by environments "
                                f"{', '.join(sorted(by_env))} ({apps}); both Applications "
                                "manage the same resources"))
    # Duplicate Application names: within one ApplicationSet the controller rejects every
    # Application of that name; across sources they fight over one Application.
    owners: dict[str, list[str]] = {}
    for item in result.items:
        counts: dict[str, int] = {}
        for a in item.applications:
            counts[a.name] = counts.get(a.name, 0) + 1
        for n, count in sorted(counts.items()):
            if count > 1 and item.kind == "ApplicationSet":
                issues.append(Issue("duplicate-name", f"ApplicationSet {item.name} generates "
                                    f"{count} Applications named '{n}'; the controller "
                                    "rejects them (\"contains applications with duplicate "
                                    "name\") and creates none of that name"))
            owners.setdefault(n, []).append(f"{item.kind} {item.name}")
    for n, where in sorted(owners.items()):
        distinct = sorted(set(where))
        if len(distinct) > 1:
            issues.append(Issue("duplicate-name", f"the Application name '{n}' is generated by "
                                f"{' and '.join(distinct)}; only one of them can own it"))
    # Two clusters with one setlist.dev/cluster value: names cut to 63 characters that
    # differ only after that. The label no longer tells their Applications apart.
    for item in result.items:
        by_value: dict[str, dict[str, str]] = {}
        for a in item.applications:
            if LABEL_CLUSTER in a.cluster_labels and a.labels.get(LABEL_CLUSTER):
                by_value.setdefault(a.labels[LABEL_CLUSTER], {}).setdefault(a.cluster_key,
                                                                             a.cluster)
        for value, clusters in sorted(by_value.items()):
            if len(clusters) > 1:
                names = " and ".join(f"'{c}'" for c in sorted(clusters.values()))
                issues.append(Issue("label-collision", f"{item.kind} {item.name}: clusters "
                                    f"{names} both get the label {LABEL_CLUSTER}={value} "
                                    "(label values hold at most 63 characters, so longer "
                                    "cluster names are cut); the label does not tell their "
                                    "Applications apart"))
    # Names Kubernetes would refuse: `{{.nameNormalized}}` keeps '.' and '-' inside a
    # cluster name ("a..b", "a.-b", or "..." which normalizes to nothing).
    for item in result.items:
        for a in item.applications:
            if problem := check_dns1123_subdomain(a.name):
                issues.append(Issue("invalid-name", f"{item.kind} {item.name}: the "
                                    f"Application name {a.name!r} for cluster "
                                    f"'{a.cluster}' is not a valid Kubernetes name "
                                    f"({problem.message}); Kubernetes rejects the "
                                    "Application"))
    # Label values Kubernetes would refuse: `{{.nameNormalized}}` of a long cluster name in
    # a template written without `trunc 63` (Setlist's own are cut to fit).
    for item in result.items:
        for a in item.applications:
            for k in a.cluster_labels:
                v = a.labels.get(k, "")
                if not valid_label_value(v):
                    issues.append(Issue("invalid-label", f"Application {a.name}: label {k}="
                                        f"{v!r} is not a valid label value (at most 63 "
                                        "characters, alphanumeric at both ends); Kubernetes "
                                        "rejects the Application"))


# ---------------------------------------------------------------- output


def render_json(result: Preview) -> str:
    return json.dumps(result.data(), indent=2, ensure_ascii=False) + "\n"


def render_yaml(result: Preview) -> str:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # keep our key order
    yaml.width = 4096
    out = io.StringIO()
    yaml.dump(result.data(), out)
    return out.getvalue()


def render_table(result: Preview) -> str:
    lines: list[str] = []
    columns = ("APPLICATION", "CLUSTER", "SERVER", "NAMESPACE", "PROJECT", "PATH", "LABELS")
    for item in result.items:
        if lines:
            lines.append("")
        count = len(item.applications)
        what = f"{count} Application{'s' if count != 1 else ''}"
        if item.failed:
            what += " rendered; the controller would create none of them (see the errors)"
        lines.append(f"{item.kind} {item.name}  (app {item.app}, env {item.env}; {item.file}): "
                     f"{what}")
        if not item.applications:
            continue
        rows = [columns] + [
            tuple(cell or "-" for cell in (
                a.name, a.cluster, a.server, a.namespace, a.project, a.path,
                ",".join(f"{k}={a.labels.get(k, '')}" for k in a.cluster_labels)))
            for a in item.applications]
        widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]
        for r in rows:
            lines.append(("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths,
                                                                       strict=True))).rstrip())
    if not result.items:
        lines.append("nothing to preview")
    return "\n".join(lines) + "\n"


RENDERERS = {"table": render_table, "yaml": render_yaml, "json": render_json}
