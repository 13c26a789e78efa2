"""Argo CD documents: ApplicationSets, Applications, AppProjects and the root app-of-apps.

Keys are emitted in the order Argo CD's documentation writes them (apiVersion, kind,
metadata, spec; inside spec: project, source, destination, syncPolicy), so that generated
files read like hand-written ones.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .. import spec as s
from ..values import name_normalized
from .documents import (
    FINALIZER,
    IN_CLUSTER_SERVER,
    LABEL_APP,
    LABEL_CLUSTER,
    LABEL_ENV,
    MANAGED_BY,
    go_duration,
)

API_VERSION = "argoproj.io/v1alpha1"
MAX_LABEL_VALUE = 63   # Kubernetes label values
MAX_OBJECT_NAME = 253  # object names: DNS subdomains


def shortened(normalized: str, limit: int) -> str:
    """A ``nameNormalized`` cut to ``limit`` characters without a '-' or '.' left at the end:
    what the Go template ``trunc LIMIT .nameNormalized | trimAll "-."`` gives (Sprig's trunc
    counts bytes; a normalised name is ASCII). A name that fits is returned as it is, since
    normalising already trims both ends."""
    return normalized[:limit].strip("-.")


def _shortened_template(limit: int) -> str:
    return f'{{{{trunc {limit} .nameNormalized | trimAll "-."}}}}'


# The cluster label of generated Applications. Label values hold at most 63 characters and
# end with a letter or digit; nameNormalized holds up to 253, and with a longer one
# Kubernetes rejects the Application, so the controller would create none for that cluster.
CLUSTER_LABEL_TEMPLATE = _shortened_template(MAX_LABEL_VALUE)


def cluster_label_value(normalized: str) -> str:
    """The value of ``setlist.dev/cluster`` for a cluster with this ``nameNormalized``."""
    return shortened(normalized, MAX_LABEL_VALUE)


def application_name(base: str, normalized: str) -> str:
    """``<app>-<env>.<cluster>``, the cluster part cut so that the name stays a valid object
    name (253 characters): unchanged for every name that fits, so no Application that
    Argo CD can create is ever renamed."""
    return f"{base}.{shortened(normalized, MAX_OBJECT_NAME - len(base) - 1)}"


def application_name_template(base: str) -> str:
    """The ApplicationSet template's ``metadata.name``: :func:`application_name` in Go."""
    return f"{base}.{_shortened_template(MAX_OBJECT_NAME - len(base) - 1)}"


def static_cluster_suffix(cluster: s.StaticCluster) -> str:
    """The ``nameNormalized`` of a listed cluster: its name, or its server without the
    scheme."""
    return name_normalized(cluster.name or re.sub(r"^https?://", "", cluster.server or ""))


def cluster_label_template(key: str) -> str:
    """A Go template giving the value of the cluster label ``key``, or "" when the cluster
    has no such label, whatever its parameters hold.

    Only ``index`` and ``if``, never field access: the local cluster without a Secret has no
    ``metadata`` parameter and a Secret has no ``metadata.labels`` when it has no labels, so
    ``.metadata.labels`` fails with missingkey=error and fails the whole ApplicationSet.
    ``index`` of a missing key gives the zero value (nil, or "" in the ``map[string]string``
    of labels) and ignores missingkey; ``if`` is false for nil and empty maps.
    """
    quoted = json.dumps(key, ensure_ascii=False)  # a valid Go string literal too
    return ('{{$m := index . "metadata"}}{{if $m}}{{$l := index $m "labels"}}'
            f"{{{{if $l}}}}{{{{index $l {quoted}}}}}{{{{end}}}}{{{{end}}}}")


def _metadata(name: str, namespace: str, labels: dict[str, str],
              annotations: dict[str, str] | None = None,
              finalizers: list[str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = dict(sorted(labels.items()))
    if annotations:
        meta["annotations"] = dict(sorted(annotations.items()))
    if finalizers:
        meta["finalizers"] = finalizers
    return meta


def sync_policy(policy: s.SyncPolicy, rolling: bool = False) -> dict[str, Any]:
    """An Application's syncPolicy. Under RollingSync the ApplicationSet controller turns
    automated sync off on every generated Application, so it is left out there."""
    out: dict[str, Any] = {}
    if policy.automated and not rolling:
        automated: dict[str, Any] = {"prune": policy.prune, "selfHeal": policy.self_heal}
        if policy.allow_empty:
            automated["allowEmpty"] = True
        out["automated"] = automated
    if policy.options:
        out["syncOptions"] = list(policy.options)
    if policy.retry is not None:
        out["retry"] = {"limit": policy.retry.limit, "backoff": {
            "duration": go_duration(policy.retry.backoff_seconds),
            "factor": policy.retry.factor,
            "maxDuration": go_duration(policy.retry.max_seconds)}}
    return out


def _source(gitops: s.GitOps, overlay_dir: str) -> dict[str, Any]:
    return {"repoURL": gitops.repo, "targetRevision": gitops.branch, "path": overlay_dir}


def _labels(app: s.App, env: s.Environment) -> dict[str, str]:
    labels = {"app.kubernetes.io/managed-by": MANAGED_BY, LABEL_APP: app.name,
              LABEL_ENV: env.name}
    labels.update(dict(env.labels))
    labels.update(dict(app.labels))
    return labels


def application_set(app: s.App, env: s.Environment, gitops: s.GitOps, overlay_dir: str,
                    generators: list[dict[str, Any]],
                    steps: tuple[list[dict[str, Any]], set[str]] | None) -> dict[str, Any]:
    name = f"{app.name}-{env.name}"
    template_labels = _labels(app, env)
    template_labels[LABEL_CLUSTER] = CLUSTER_LABEL_TEMPLATE
    if steps is not None:
        # RollingSync selects Applications by their labels: copy the cluster labels the
        # steps test. A cluster without the label, without any label or without a Secret
        # (the local cluster: no `metadata` parameter at all) gets "", which In/NotIn treat
        # like a missing label; the template only uses `index` and `if`, because field
        # access such as `.metadata.labels` fails there under missingkey=error and with it
        # the whole ApplicationSet.
        for key in sorted(steps[1]):
            template_labels[key] = cluster_label_template(key)
    spec: dict[str, Any] = {
        "goTemplate": True,
        "goTemplateOptions": ["missingkey=error"],
        "generators": generators,
    }
    if steps is not None:
        spec["strategy"] = {"type": "RollingSync", "rollingSync": {"steps": steps[0]}}
    appset_sync: dict[str, Any] = {}
    if env.preserve_resources_on_deletion:
        appset_sync["preserveResourcesOnDeletion"] = True
    if env.applications_sync is not None:
        appset_sync["applicationsSync"] = env.applications_sync
    if appset_sync:
        spec["syncPolicy"] = appset_sync
    if argocd_write_back(env):
        # Image Updater's argocd write-back sets the generated Application's Kustomize image
        # overrides; without this the ApplicationSet controller puts its template back and
        # every update is undone at its next reconcile (Argo CD 2.9+).
        spec["ignoreApplicationDifferences"] = [{"jsonPointers": [KUSTOMIZE_IMAGES]}]
    template_spec: dict[str, Any] = {
        "project": app.project,
        "source": _source(gitops, overlay_dir),
        "destination": {"server": "{{.server}}", "namespace": app.namespace},
    }
    policy = sync_policy(app.sync, rolling=steps is not None)
    if policy:
        template_spec["syncPolicy"] = policy
    spec["template"] = {
        "metadata": _metadata(application_name_template(name), gitops.namespace,
                              template_labels, dict(app.annotations), [FINALIZER]),
        "spec": template_spec,
    }
    spec["template"]["metadata"].pop("namespace")
    labels = {"app.kubernetes.io/managed-by": MANAGED_BY, LABEL_APP: app.name,
              LABEL_ENV: env.name}
    return {"apiVersion": API_VERSION, "kind": "ApplicationSet",
            "metadata": _metadata(name, gitops.namespace, labels), "spec": spec}


def applications(app: s.App, env: s.Environment, gitops: s.GitOps,
                 overlay_dir: str) -> list[dict[str, Any]]:
    """One Application per static cluster; a single one is named `<app>-<env>`."""
    out = []
    single = len(env.static_clusters) == 1
    for cluster in env.static_clusters:
        suffix = static_cluster_suffix(cluster)
        base = f"{app.name}-{env.name}"
        name = base if single else application_name(base, suffix)
        labels = _labels(app, env)
        labels[LABEL_CLUSTER] = cluster_label_value(suffix)
        destination = {"name": cluster.name} if cluster.name else {"server": cluster.server}
        destination["namespace"] = app.namespace
        spec: dict[str, Any] = {"project": app.project, "source": _source(gitops, overlay_dir),
                                "destination": destination}
        policy = sync_policy(app.sync)
        if policy:
            spec["syncPolicy"] = policy
        out.append({"apiVersion": API_VERSION, "kind": "Application",
                    "metadata": _metadata(name, gitops.namespace, labels,
                                          dict(app.annotations), [FINALIZER]),
                    "spec": spec})
    return out


def app_project(project: str, apps: list[s.App], envs: dict[str, s.Environment],
                gitops: s.GitOps) -> dict[str, Any]:
    destinations: set[tuple[str, str, str]] = set()  # (field, value, namespace)
    windows = []
    needs_namespace = False
    for app in apps:
        needs_namespace |= "CreateNamespace=true" in app.sync.options
        for env_name in app.deploy:
            env = envs[env_name]
            if env.static_clusters:
                for c in env.static_clusters:
                    destinations.add(("name", c.name, app.namespace) if c.name else
                                     ("server", c.server or "", app.namespace))
            else:
                destinations.add(("server", "*", app.namespace))
    for env in sorted({envs[e] for a in apps for e in a.deploy if envs[e].freezes},
                      key=lambda e: e.name):
        targets = sorted({f"{a.name}-{env.name}" for a in apps if env.name in a.deploy})
        # `<app>-<env>.<cluster>`: app and environment names hold no '.', so `shop-prod.*`
        # cannot match the Applications of another environment such as prod-eu.
        patterns = sorted({p for t in targets for p in (t, f"{t}.*")})
        for freeze in env.freezes:
            windows.append({"kind": "deny", "schedule": freeze.cron,
                            "duration": go_duration(freeze.duration_seconds),
                            "timeZone": freeze.timezone, "applications": patterns,
                            "manualSync": False,
                            "description": f"freeze of environment {env.name}"})
    spec: dict[str, Any] = {
        "description": f"Apps of project {project}, generated by setlist",
        "sourceRepos": [gitops.repo],
        "destinations": [{field: value, "namespace": ns}
                         for field, value, ns in sorted(destinations)],
    }
    if needs_namespace:
        spec["clusterResourceWhitelist"] = [{"group": "", "kind": "Namespace"}]
    if windows:
        spec["syncWindows"] = windows
    labels = {"app.kubernetes.io/managed-by": MANAGED_BY}
    return {"apiVersion": API_VERSION, "kind": "AppProject",
            "metadata": _metadata(project, gitops.namespace, labels), "spec": spec}


KUSTOMIZE_IMAGES = "/spec/source/kustomize/images"


def argocd_write_back(env: s.Environment) -> bool:
    """Image Updater writes this environment's versions into the Applications themselves."""
    return env.updates.kind == "in_cluster" and env.updates.write_method == "argocd"


def root_application(gitops: s.GitOps, argocd_dir: str,
                     static_in_cluster: bool = False) -> dict[str, Any]:
    """The app-of-apps: one Application that syncs every generated Argo CD document.

    ``static_in_cluster``: some Application the root app syncs directly is updated by Image
    Updater's argocd write-back; the root app then leaves its Kustomize image overrides
    alone, in the diff and when it syncs (RespectIgnoreDifferences), instead of undoing
    them with self-heal."""
    labels = {"app.kubernetes.io/managed-by": MANAGED_BY}
    sync: dict[str, Any] = {"automated": {"prune": True, "selfHeal": True}}
    spec: dict[str, Any] = {
        "project": "default",
        "source": {"repoURL": gitops.repo, "targetRevision": gitops.branch,
                   "path": argocd_dir,
                   "directory": {"recurse": True, "exclude": "root.yaml"}},
        "destination": {"server": IN_CLUSTER_SERVER, "namespace": gitops.namespace},
        "syncPolicy": sync,
    }
    if static_in_cluster:
        spec["ignoreDifferences"] = [{"group": "argoproj.io", "kind": "Application",
                                      "jsonPointers": [KUSTOMIZE_IMAGES]}]
        sync["syncOptions"] = ["RespectIgnoreDifferences=true"]
    return {"apiVersion": API_VERSION, "kind": "Application",
            "metadata": _metadata(gitops.root_app, gitops.namespace, labels), "spec": spec}
