"""Check passes about names: Kubernetes name rules, policy references, unused imports."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .. import model as m
from .. import spec as s
from .. import values as v
from ..diagnostics import Related
from .context import KINDS, Context
from .evaluate import Evaluator

MAX_NAME = 63
WAIVE_SCOPES = ("app", "environment", "image", "registry")


def walk(node: m.Node) -> Iterator[m.Node]:
    """Every syntax node below ``node`` (depth first, source order)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children()))


def check_kubernetes_names(ctx: Context, spec: s.Spec) -> None:
    for entity, kind in [(a, "app") for a in spec.apps] + \
            [(e, "environment") for e in spec.environments]:
        decl = ctx_decl(ctx, kind, entity.name)
        span = decl.name_span if decl is not None and decl.name_span else entity.span
        if problem := v.check_dns1123_label(entity.name):
            ctx.error(span, "SL409",
                      f"{kind} name '{entity.name}' cannot be used in Kubernetes names: "
                      f"{problem.message}", problem.hint or "")
    envs = {e.name for e in spec.environments if not v.check_dns1123_label(e.name)}
    _check_collisions(ctx, spec, envs)
    for app in spec.apps:
        if v.check_dns1123_label(app.name):
            continue
        for env in app.deploy:
            name = f"{app.name}-{env}"
            if env in envs and len(name) > MAX_NAME:
                decl = ctx_decl(ctx, "app", app.name)
                ctx.error(decl.name_span if decl and decl.name_span else app.span, "SL410",
                          f"the generated name '{name}' is {len(name)} characters long; "
                          f"Kubernetes allows {MAX_NAME}",
                          "shorten the app or the environment name")


def _check_collisions(ctx: Context, spec: s.Spec, envs: set[str]) -> None:
    """`<app>-<env>` names every generated document; two pairs must not spell the same."""
    seen: dict[str, tuple[str, str]] = {}
    for app in spec.apps:
        for env in app.deploy:
            if env not in envs:
                continue
            name = f"{app.name}-{env}"
            first = seen.setdefault(name, (app.name, env))
            if first != (app.name, env):
                decl = ctx_decl(ctx, "app", app.name)
                other = ctx_decl(ctx, "app", first[0])
                related = (Related(span=other.name_span or other.span,
                                   message=f"app '{first[0]}' in '{first[1]}' is also "
                                           f"'{name}'"),) if other is not None else ()
                ctx.error(decl.name_span if decl and decl.name_span else app.span, "SL209",
                          f"app '{app.name}' in '{env}' and app '{first[0]}' in '{first[1]}' "
                          f"would both be named '{name}'",
                          "rename one of the apps or environments", related=related)


def ctx_decl(ctx: Context, kind: str, name: str):
    entry = ctx.root.names[kind].get(name)
    if entry is None:
        for scope in ctx.modules.values():
            entry = scope.names[kind].get(name)
            if entry:
                break
    return entry.decl if entry else None


def _policy_ref(expr: m.Expr) -> m.Expr:
    return expr.func if isinstance(expr, m.Call) else expr


def check_policy_refs(ctx: Context, ev: Evaluator) -> None:
    """`use` and `waive` name policies that exist; waivers name real scopes and dates."""
    for key in sorted(ctx.project.files):
        for decl in ctx.project.files[key].module.decls:
            if isinstance(decl, (m.Use, m.Waive)):
                target = _policy_ref(decl.target)
                _, handled = ctx.resolve_ref(key, target, "policy")
                if not handled:
                    ev.type_error(target, "a policy name")
            if isinstance(decl, m.Waive):
                ev.check_date(decl.until)
                if decl.scope_kind is not None:
                    if decl.scope_kind not in WAIVE_SCOPES:
                        ctx.error(decl.scope_kind_span, "SL302",
                                  f"cannot waive a policy for '{decl.scope_kind}'",
                                  "write 'for app NAME', 'for environment NAME', "
                                  "'for image NAME' or 'for registry NAME'")
                    else:
                        ctx.resolve_ref(key, m.Name(span=decl.scope_name_span,
                                                    name=decl.scope_name), decl.scope_kind)
                if not decl.reason.text.strip():
                    ctx.error(decl.reason.span, "SL302", "a waiver needs a reason",
                              'say why, e.g. because "vendor image, ticket OPS-123"')


def check_unused_imports(ctx: Context) -> None:
    for key in sorted(ctx.project.files):
        source = ctx.project.files[key]
        # Aliases the checker looked up are used; the others may still be written in a
        # place it does not evaluate, so the file is walked until all of them are found.
        unseen = {alias for alias in source.import_decls
                  if (key, alias) not in ctx.used_imports}
        for decl in source.module.decls if unseen else ():
            if isinstance(decl, m.Import):
                continue
            for node in walk(decl):
                if isinstance(node, m.Attr) and isinstance(node.value, m.Name):
                    unseen.discard(node.value.name)
            if not unseen:
                break
        for alias in sorted(unseen):
            decl = source.import_decls[alias]
            ctx.warning(decl.name_span or decl.span, "SL207",
                        f"the module imported as '{alias}' is never used",
                        "remove the import")


__all__ = ["KINDS", "check_kubernetes_names", "check_policy_refs", "check_unused_imports",
           "walk"]


def check_output_names(ctx: Context, spec: s.Spec) -> None:
    """Names that only clash once documents are generated: two listed clusters of one
    environment giving one Application name, two images of an app that the overlay would
    list under one name, and overlays or bases inside the folder the root app syncs."""
    for env in spec.environments:
        if not env.static_clusters:
            continue
        # the names compile gives (one definition of them), imported only for listed
        # clusters, so that checking a spec without any does not load the compile stage
        from ..compile.argocd import application_name, cluster_label_value

        seen: dict[str, s.StaticCluster] = {}
        labels: dict[str, s.StaticCluster] = {}
        # the cluster part of `<app>-<env>.<cluster>` is cut to fit 253 characters; the
        # longest app leaves it the least room
        base = max((f"{a.name}-{env.name}" for a in spec.apps if env.name in a.deploy),
                   key=len, default=env.name)
        for cluster in env.static_clusters:
            target = cluster.name or re.sub(r"^https?://", "", cluster.server or "")
            suffix = v.name_normalized(target)
            name = application_name(base, suffix)[len(base) + 1:]
            first = seen.setdefault(name, cluster)
            if first is not cluster and len(env.static_clusters) > 1:
                ctx.error(cluster.span, "SL209",
                          f"two clusters of '{env.name}' would give Applications the same "
                          f"name: both become '{name}'",
                          "list each cluster once, by name or by server",
                          related=(Related(span=first.span, message="the first one"),))
                continue
            label = cluster_label_value(suffix)
            other = labels.setdefault(label, cluster)
            if other is not cluster:
                ctx.warning(cluster.span, "SL415",
                            f"two clusters of '{env.name}' get the same label "
                            f"setlist.dev/cluster={label}: label values hold at most 63 "
                            "characters, so both names are cut to the same value",
                            "register one of the clusters under a name whose first 63 "
                            "characters differ, and list it by that name",
                            related=(Related(span=other.span, message="the other one"),))
    images = {i.name: i for i in spec.images}
    for app in spec.apps:
        names: dict[str, s.AppImage] = {}
        for entry in app.images:
            image = images.get(entry.image)
            if image is None:
                continue
            name = entry.alias or image.reference
            first = names.setdefault(name, entry)
            if first is not entry:
                ctx.error(entry.span, "SL308",
                          f"app '{app.name}' lists two images under the name '{name}'; its "
                          "overlays could not tell them apart",
                          "give one of them the name its manifests use: "
                          f'{entry.image} as "NAME"',
                          related=(Related(span=first.span, message="the first one"),))
    if spec.gitops is None:
        return
    root = spec.gitops.path.strip("/")
    argocd = f"{root}/{spec.gitops.argocd_dir}" if root else spec.gitops.argocd_dir
    overlays = spec.gitops.overlays
    overlays = f"{root}/{overlays}" if root else overlays
    if _below(overlays, argocd):
        ctx.error(_gitops_field_span(ctx, "overlays") or spec.gitops.span, "SL302",
                  f"overlays ('{overlays}') would lie inside '{argocd}', which the root app "
                  "applies as Argo CD documents",
                  "keep overlays out of argocd_dir, e.g. overlays = \"apps/{app}/overlays/{env}\"")
    for app in spec.apps:
        if app.base.repo is None and _below(app.base.path, argocd):
            ctx.error(app.base.span or app.span, "SL302",
                      f"the base of '{app.name}' lies inside '{argocd}', which the root app "
                      "applies as Argo CD documents",
                      "keep Kustomize bases out of argocd_dir")


def _gitops_field_span(ctx: Context, name: str):
    for source in ctx.project.files.values():
        for decl in source.module.decls:
            if isinstance(decl, m.Block) and decl.block == "gitops":
                for fld in decl.fields:
                    if fld.name == name:
                        return fld.value.span
    return None


def _below(path: str, folder: str) -> bool:
    path, folder = path.strip("/"), folder.strip("/")
    return path == folder or path.startswith(folder + "/")
