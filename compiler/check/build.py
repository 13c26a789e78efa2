"""Check pass: evaluate every block and assemble the typed ``Spec``."""

from __future__ import annotations

from typing import Any

from .. import model as m
from .. import spec as s
from .. import values_time as vt
from ..diagnostics import Related
from .blocks import evaluate_fields
from .context import Context
from .evaluate import Evaluator

ORDER = ("gitops", "registry", "image", "environment", "app")


def build_spec(ctx: Context, ev: Evaluator) -> dict[str, Any]:
    """Returns the pieces of the spec; promotions are added by their own pass."""
    blocks: dict[str, list[tuple[m.Block, str]]] = {k: [] for k in ORDER}
    for key in sorted(ctx.project.files):
        for decl in ctx.project.files[key].module.decls:
            if isinstance(decl, m.Block):
                blocks[decl.block].append((decl, key))

    out: dict[str, Any] = {"gitops": None, "registries": [], "images": [], "environments": [],
                           "apps": [], "incomplete": set()}
    seen: dict[tuple[str, str], tuple[m.Block, str]] = {}
    gitops_first: m.Block | None = None
    for kind in ORDER:
        for decl, file in blocks[kind]:
            if kind == "gitops":
                if gitops_first is not None:
                    ctx.error(decl.keyword_span, "SL306",
                              "the project already has a gitops block",
                              "a project writes to one config repository",
                              related=(Related(span=gitops_first.keyword_span,
                                               message="first one"),))
                    continue
                gitops_first = decl
            else:
                first = seen.get((kind, decl.name))
                if first is not None:
                    # Within one scope build_scopes has reported it already.
                    if ctx.scope_of(first[1]) is not ctx.scope_of(file):
                        ctx.error(decl.name_span or decl.span, "SL201",
                                  f"{kind} '{decl.name}' is also declared in another module; "
                                  "the generated names would collide",
                                  related=(Related(span=first[0].name_span or first[0].span,
                                                   message="first declared here"),))
                    continue
                seen[(kind, decl.name)] = (decl, file)
            if kind != "environment":
                for fr in decl.freezes:
                    ctx.error(fr.span, "SL300", f"{kind} has no freeze windows",
                              "freeze windows belong to environments")
            values = evaluate_fields(ctx, ev, decl, file)
            entity = _make(ctx, ev, kind, decl, file, values)
            if entity is None:
                out["incomplete"].add(kind)
                continue
            if kind == "gitops":
                out["gitops"] = entity
            else:
                out[{"registry": "registries", "image": "images",
                     "environment": "environments", "app": "apps"}[kind]].append(entity)
    return out


def _make(ctx: Context, ev: Evaluator, kind: str, decl: m.Block, file: str,
          values: dict[str, Any]):
    failed = values.pop("_failed")
    common = {"span": decl.span}
    if kind == "gitops":
        if "repo" in failed:
            return None
        optional = {k: values[k] for k in ("branch", "path", "namespace", "argocd_dir",
                                           "overlays", "root_app") if k in values}
        return s.GitOps(repo=values["repo"], **optional, **common)
    common["doc"] = decl.doc
    if kind == "registry":
        if "host" in failed:
            return None
        return s.Registry(name=decl.name, host=values["host"],
                          credentials=values.get("credentials", s.Credentials()),
                          insecure=values.get("insecure", False),
                          ca_file=values.get("ca_file"), layout=values.get("layout"),
                          concurrency=values.get("concurrency"),
                          requests_per_second=values.get("requests_per_second"),
                          **common)
    if kind == "image":
        if "repository" in failed:
            return None
        registry, host, path = values["repository"]
        return s.Image(name=decl.name, registry=registry, host=host, repository=path,
                       strategy=values.get("strategy", s.Strategy(kind="semver")),
                       allow_tags=values.get("allow_tags"),
                       ignore_tags=tuple(values.get("ignore_tags", ())),
                       platforms=tuple(values.get("platforms", ())),
                       tag=values.get("tag"), digest=values.get("digest"), **common)
    if kind == "environment":
        freezes = tuple(f for f in (_freeze(ctx, ev, fr, file) for fr in decl.freezes) if f)
        if "clusters" in failed:
            return None
        clusters_kind, clusters = values["clusters"]
        if clusters_kind == "static" and values.get("rollout"):
            rollout = next(f for f in decl.fields if f.name == "rollout")
            ctx.error(rollout.name_span, "SL307",
                      "a rollout needs clusters chosen by a selector",
                      "RollingSync orders the Applications of an ApplicationSet; listed "
                      "clusters become plain Applications. Select the clusters with labels, "
                      'e.g. clusters = cluster.env == "prod"')
            return None
        return s.Environment(
            name=decl.name,
            selector=clusters if clusters_kind == "selector" else None,
            static_clusters=tuple(clusters) if clusters_kind == "static" else (),
            updates=values.get("updates", s.UpdateMethod()),
            writeback=values.get("writeback", "direct"), freezes=freezes,
            rollout=tuple(values.get("rollout", ())),
            preserve_resources_on_deletion=values.get("preserve_resources_on_deletion", False),
            applications_sync=values.get("applications_sync"),
            labels=tuple(values.get("labels", ())), **common)
    if kind == "app":
        if failed & {"base", "namespace", "deploy"}:
            return None
        return s.App(name=decl.name, base=values["base"], namespace=values["namespace"],
                     project=values.get("project", decl.name),
                     images=tuple(values.get("images", ())), deploy=tuple(values["deploy"]),
                     sync=values.get("sync", s.SyncPolicy()),
                     labels=tuple(values.get("labels", ())),
                     annotations=tuple(values.get("annotations", ())), **common)
    raise AssertionError(kind)


def _freeze(ctx: Context, ev: Evaluator, fr: m.Freeze, file: str) -> s.Freeze | None:
    cron = ev.checked_string(fr.cron, file, vt.check_cron, "SL405")
    duration = ev.want_duration(fr.duration, file)
    tz = "UTC"
    if fr.tz is not None:
        tz = ev.checked_string(fr.tz, file, vt.check_timezone, "SL406")
    if cron is None or duration is None or tz is None:
        return None
    if duration <= 0:
        ctx.error(fr.duration.span, "SL403", "a freeze window must last longer than 0s",
                  "give the window a length, e.g. for 2h, or remove the freeze line")
        return None
    return s.Freeze(cron=cron, duration_seconds=duration, timezone=tz, span=fr.span)
