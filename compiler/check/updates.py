"""Check pass: an environment updated in the cluster has one writer of versions.

With `updates = in_cluster(...)` Argo CD Image Updater chooses the versions the environment
runs and writes them (to the Application, or to the overlay in Git). A pin in the spec or a
promotion into or out of that environment would be a second source of versions for the
same place, and the two would undo each other's changes.
"""

from __future__ import annotations

from .. import model as m
from .. import spec as s
from ..diagnostics import Related, Span
from .context import Context
from .names import ctx_decl


def check_in_cluster_updates(ctx: Context, spec: s.Spec) -> None:
    in_cluster = {e.name: e for e in spec.environments if e.updates.kind == "in_cluster"}
    if not in_cluster:
        return
    for image in spec.images:
        if image.tag is None and image.digest is None:
            continue
        envs = sorted({env for app in spec.apps if any(i.image == image.name for i in app.images)
                       for env in app.deploy if env in in_cluster})
        if envs:
            _pinned(ctx, image, [in_cluster[e] for e in envs])
    rules = _rules(ctx)
    for promotion in spec.promotions:
        for stage in promotion.stages:
            rule = rules.get(_key(stage.span))
            if stage.env in in_cluster and stage.source != "registry":
                env = in_cluster[stage.env]
                ctx.error(rule.stage_span if rule else stage.span, "SL506",
                          f"'{stage.env}' cannot receive versions of '{promotion.image}' by "
                          f"promotion from '{stage.source}': Image Updater moves its versions "
                          "in the cluster",
                          f"write '{stage.env} <- registry' (Image Updater follows the "
                          "image's strategy), or remove 'updates = in_cluster(...)' from "
                          f"'{stage.env}' to promote into it",
                          related=_updates_here(env))
            elif stage.source in in_cluster:
                env = in_cluster[stage.source]
                ctx.error(rule.source_span if rule else stage.span, "SL506",
                          f"'{stage.env}' cannot promote '{promotion.image}' from "
                          f"'{stage.source}': Image Updater sets the versions of "
                          f"'{stage.source}' in the cluster, so Setlist never knows them",
                          "promote from an environment Setlist updates, or from registry",
                          related=_updates_here(env))


def _pinned(ctx: Context, image: s.Image, envs: list[s.Environment]) -> None:
    pin = _pin_span(ctx, image)
    what = f'tag = "{image.tag}"' if image.tag is not None else "a digest"
    listed = ", ".join(f"'{e.name}'" for e in envs)
    where = "environment" if len(envs) == 1 else "environments"
    ctx.error(pin or image.span, "SL505",
              f"image '{image.name}' is pinned ({what}) but updated in the cluster in the "
              f"{where} {listed}: Image Updater and the pin would both write its version",
              "remove the pin and let Image Updater choose (constrain it with strategy, "
              "allow_tags and ignore_tags), or update those environments with "
              "updates = setlist",
              related=tuple(r for e in envs for r in _updates_here(e)))


def _updates_here(env: s.Environment) -> tuple[Related, ...]:
    span = env.updates.span or env.span
    return (Related(span=span, message=f"'{env.name}' is updated in the cluster here"),)


def _pin_span(ctx: Context, image: s.Image) -> Span | None:
    decl = ctx_decl(ctx, "image", image.name)
    if not isinstance(decl, m.Block):
        return None
    for name in ("tag", "digest"):
        for fld in decl.fields:
            if fld.name == name:
                return fld.value.span
    return None


def _key(span: Span) -> tuple[str, int, int]:
    return (span.file, span.line, span.column)


def _rules(ctx: Context) -> dict[tuple[str, int, int], m.PromotionRule]:
    """Every promotion rule by where it starts: the spec's stages keep that span."""
    out = {}
    for source in ctx.project.files.values():
        for decl in source.module.decls:
            if isinstance(decl, m.Promotion):
                for rule in decl.rules:
                    out[_key(rule.span)] = rule
    return out
