"""Check pass: every block's fields against its schema, building the typed spec.

A schema is a table of fields: how to evaluate each one and whether it is required. Field
names and their documentation here are the source for docs/language.md's block tables.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import model as m
from .. import spec as s
from .. import values as v
from ..diagnostics import Related
from .context import Context, did_you_mean
from .evaluate import Arg, Evaluator, is_reported
from .selectors import want_rollout_step, want_selector


@dataclass(frozen=True)
class FieldSpec:
    want: Callable[[Evaluator, m.Expr, str], Any]
    required: bool = False
    doc: str = ""


def _url(ev: Evaluator, e: m.Expr, f: str) -> str | None:
    return ev.checked_string(e, f, v.check_url, "SL408")


def _host(ev, e, f):
    return ev.checked_string(e, f, v.check_host, "SL412")


def _str(ev, e, f):
    return ev.want_string(e, f)


def _bool(ev, e, f):
    return ev.want_bool(e, f)


def _int(ev, e, f):
    return ev.want_int(e, f)


def _int_between(low: int, high: int):
    def check(ev, e, f):
        value = ev.want_int(e, f)
        if value is not None and not low <= value <= high:
            ev.ctx.error(e.span, "SL414", f"{value} is not between {low} and {high}",
                         f"write a whole number from {low} to {high}")
            return None
        return value
    return check


def _duration(ev, e, f):
    return ev.want_duration(e, f)


def _k8s_label(ev, e, f):
    return ev.checked_string(e, f, v.check_dns1123_label, "SL409")


def _k8s_subdomain(ev, e, f):
    return ev.checked_string(e, f, v.check_dns1123_subdomain, "SL409")


def _labels(ev, e, f):
    return ev.want_string_map(e, f, v.check_label_key, v.check_label_value)


def _annotations(ev, e, f):
    return ev.want_string_map(e, f, v.check_label_key, None)


def _strings(ev, e, f):
    return ev.want_list(e, f, lambda x, ff: ev.want_string(x, ff), unique_what="value")


def _credentials(ev: Evaluator, e: m.Expr, f: str) -> s.Credentials | None:
    expr, file = ev.deref(e, f)
    if isinstance(expr, m.Str):
        ev.ctx.error(expr.span, "SL305",
                     "credentials must not be written into the spec" +
                     (" (this looks like a secret)" if expr.is_plain and
                      v.looks_like_secret(expr.text) else ""),
                     'use docker_config, or env("REGISTRY_TOKEN") to read a variable at run '
                     'time; revoke the credential if it was ever committed')
        return None
    name = ev.call_name(expr, file)
    if name == "env":
        args = ev.want_call(expr, file, "env", {"variable": Arg(_env_var, True)}, ("variable",))
        return s.Credentials(source="env", variable=args["variable"], span=expr.span) \
            if args else None
    if isinstance(expr, m.NoneLit):
        return s.Credentials(span=expr.span)
    kind = ev.want_enum(expr, file, ("docker_config", "anonymous"), "a credential source")
    return s.Credentials(source=kind, span=expr.span) if kind else None


def _env_var(ev: Evaluator, e: m.Expr, f: str) -> str | None:
    text = ev.want_string(e, f)
    if text is None:
        return None
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
        ev.ctx.error(e.span, "SL302", f"'{text}' is not an environment variable name",
                     "use letters, digits and '_', e.g. GHCR_TOKEN")
        return None
    return text


def _repository(ev: Evaluator, e: m.Expr, f: str) -> tuple[str | None, str, str] | None:
    """``registry / "path"`` or ``"host/path"`` → (registry name, host, path)."""
    expr, file = ev.deref(e, f)
    if isinstance(expr, m.Binary) and expr.op == "/":
        entry, handled = ev.ref(expr.left, file, "registry")
        if not handled:
            ev.type_error(expr.left, "a registry name")
            return None
        path = ev.checked_string(expr.right, file, v.check_repository_path, "SL412")
        if entry is None or path is None:
            return None
        host = _declared_host(ev, entry)
        return (entry.decl.name, host or "", path)
    if isinstance(expr, m.Str):
        text = ev.want_string(expr, file)
        if text is None:
            return None
        first, _, rest = text.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost"):
            host, path = first, rest
        else:
            host, path = "docker.io", text if "/" in text else f"library/{text}"
        for check, value in ((v.check_host, host), (v.check_repository_path, path)):
            if problem := check(value):
                ev.ctx.error(expr.span, "SL412", problem.message, problem.hint or "")
                return None
        return (None, host, path)
    ev.type_error(expr, 'a repository such as ghcr / "org/app"')
    return None


def _declared_host(ev: Evaluator, entry) -> str | None:
    for fld in entry.decl.fields:
        if fld.name == "host":
            value, _ = ev.deref(fld.value, entry.file)
            if isinstance(value, m.Str) and value.is_plain:
                return value.text
    return None


def _strategy(ev: Evaluator, e: m.Expr, f: str) -> s.Strategy | None:
    expr, file = ev.deref(e, f)
    name = ev.call_name(expr, file)
    if name == "semver":
        args = ev.want_call(expr, file, "semver", {"constraint": Arg(_constraint)},
                            ("constraint",))
        return None if args is None else s.Strategy(kind="semver", span=expr.span,
                                                    constraint=args.get("constraint"))
    if name == "digest":
        args = ev.want_call(expr, file, "digest", {"tag": Arg(_tag, True)}, ("tag",))
        return None if args is None else s.Strategy(kind="digest", tag=args["tag"],
                                                                span=expr.span)
    if name in ("newest_build", "alphabetical"):
        args = ev.want_call(expr, file, name, {})
        return None if args is None else s.Strategy(kind=name, span=expr.span)
    options = ("semver", "newest_build", "alphabetical", "digest")
    if is_reported(expr):
        return None
    if isinstance(expr, m.Name) or isinstance(expr, m.Call):
        label = name or "this"
        ev.ctx.error(expr.span, "SL302", f"'{label}' is not an update strategy",
                     did_you_mean(label, options) or
                     'use semver("^1.2"), newest_build, alphabetical or digest("latest")')
        return None
    ev.type_error(expr, 'an update strategy such as semver("^1.2")',
                  f'write semver("{expr.text}")' if isinstance(expr, m.Str) else "")
    return None


def _constraint(ev, e, f):
    return ev.checked_string(e, f, v.check_semver_constraint, "SL400")


def _tag(ev, e, f):
    return ev.checked_string(e, f, v.check_tag, "SL413")


def _digest(ev, e, f):
    return ev.checked_string(e, f, v.check_digest, "SL413")


def _regex(ev: Evaluator, e: m.Expr, f: str) -> str | None:
    expr, file = ev.deref(e, f)
    if isinstance(expr, m.Regex):
        if problem := v.check_regex(expr.pattern):
            ev.ctx.error(expr.span, "SL401", problem.message, problem.hint or "")
            return None
        return expr.pattern
    hint = f"write /{expr.text}/" if isinstance(expr, m.Str) else ""
    ev.type_error(expr, "a regular expression /.../", hint)
    return None


def _globs(ev, e, f):
    return ev.want_list(e, f, lambda x, ff: ev.checked_string(x, ff, v.check_glob, "SL402"),
                        unique_what="pattern")


def _platforms(ev, e, f):
    return ev.want_list(e, f, lambda x, ff: ev.checked_string(x, ff, v.check_platform,
                                                              "SL407"),
                        unique_what="platform")


def _updates(ev: Evaluator, e: m.Expr, f: str) -> s.UpdateMethod | None:
    expr, file = ev.deref(e, f)
    if ev.call_name(expr, file) == "in_cluster":
        args = ev.want_call(expr, file, "in_cluster", {
            "method": Arg(lambda ev, x, ff: ev.want_enum(x, ff, ("argocd", "git"),
                                                         "a write-back method")),
            "interval": Arg(_duration)})
        if args is None:
            return None
        return s.UpdateMethod(kind="in_cluster", span=expr.span,
                              write_method=args.get("method", "argocd"),
                              interval_seconds=args.get("interval"))
    kind = ev.want_enum(expr, file, ("setlist", "in_cluster"), "an update method")
    return s.UpdateMethod(kind=kind, span=expr.span) if kind else None


def _retry(ev: Evaluator, e: m.Expr, f: str) -> s.Retry | None:
    args = ev.want_call(e, f, "retry", {"limit": Arg(_int), "backoff": Arg(_duration),
                                        "factor": Arg(_int), "max_backoff": Arg(_duration)})
    if args is None:
        return None
    return s.Retry(span=e.span, limit=args.get("limit", 5), backoff_seconds=args.get("backoff", 5),
                   factor=args.get("factor", 2), max_seconds=args.get("max_backoff", 180))


def _sync(ev: Evaluator, e: m.Expr, f: str) -> s.SyncPolicy | None:
    expr, file = ev.deref(e, f)
    name = ev.call_name(expr, file)
    common = {"options": Arg(_strings), "retry": Arg(_retry)}
    if name == "automated":
        args = ev.want_call(expr, file, "automated", {
            "prune": Arg(_bool), "self_heal": Arg(_bool), "allow_empty": Arg(_bool), **common})
        if args is None:
            return None
        return s.SyncPolicy(span=expr.span, automated=True, prune=args.get("prune", False),
                            self_heal=args.get("self_heal", False),
                            allow_empty=args.get("allow_empty", False),
                            options=tuple(args.get("options", ())), retry=args.get("retry"))
    if name == "manual":
        args = ev.want_call(expr, file, "manual", common)
        if args is None:
            return None
        return s.SyncPolicy(span=expr.span, options=tuple(args.get("options", ())),
                            retry=args.get("retry"))
    if name is not None:
        ev.ctx.error(expr.span, "SL302", f"'{name}' is not a sync policy",
                     did_you_mean(name, ("automated", "manual")) or
                     "use automated(...) or manual(...), or a preset from std/sync")
        return None
    ev.type_error(expr, "a sync policy such as automated(prune: true)")
    return None


def _base(ev: Evaluator, e: m.Expr, f: str) -> s.Base | None:
    expr, file = ev.deref(e, f)
    if ev.call_name(expr, file) == "git":
        args = ev.want_call(expr, file, "git", {"repo": Arg(_url, True), "path": Arg(_rel_path),
                                                "ref": Arg(_str)}, ("repo",))
        if args is None:
            return None
        return s.Base(span=expr.span, repo=args["repo"], path=args.get("path", ""),
                      ref=args.get("ref"))
    if isinstance(expr, m.Str):
        path = _rel_path(ev, expr, file)
        return None if path is None else s.Base(path=path, span=expr.span)
    ev.type_error(expr, 'a folder of the gitops repo ("apps/x/base") or git("URL", path: "...")')
    return None


def _rel_path(ev: Evaluator, e: m.Expr, f: str) -> str | None:
    text = ev.want_string(e, f)
    if text is None:
        return None
    parts = text.split("/")
    if text.startswith("/") or ".." in parts or "://" in text or not text.strip():
        hint = 'use git("URL", path: "...") for a base in another repository' \
            if "://" in text else "write a path relative to the repository root"
        ev.ctx.error(e.span, "SL302", f"'{text}' is not a relative folder path", hint)
        return None
    odd = next((ch for ch in text if ch == "\\" or not ch.isprintable()), None)
    if odd is not None:
        # A NUL cannot be in a file name at all; line breaks, other control characters
        # and backslashes (a separator elsewhere) only ever make confusing paths.
        ev.ctx.error(e.span, "SL302", f"the folder path holds U+{ord(odd):04X} "
                     f"({'a backslash' if odd == chr(92) else 'a control character'})",
                     "folder paths are written with '/' and printable characters")
        return None
    return text.strip("/")


def _rel_path_or_root(ev: Evaluator, e: m.Expr, f: str) -> str | None:
    target, _ = ev.deref(e, f)
    if isinstance(target, m.Str) and target.is_plain and target.text.strip("/") == "":
        return ""
    return _rel_path(ev, e, f)


def _overlay_pattern(ev: Evaluator, e: m.Expr, f: str) -> str | None:
    # {app} and {env} are placeholders here, not interpolations: the string is plain text.
    text = _rel_path(ev, e, f)
    if text is None:
        return None
    if "{app}" not in text or "{env}" not in text:
        ev.ctx.error(e.span, "SL302", f"'{text}' must contain both {{app}} and {{env}}",
                     'every app and environment needs its own overlay, e.g. '
                     '"apps/{app}/overlays/{env}"')
        return None
    leftover = text.replace("{app}", "").replace("{env}", "")
    if "{" in leftover or "}" in leftover:
        ev.ctx.error(e.span, "SL302", f"'{text}' has a placeholder other than {{app}} and {{env}}",
                     "only {app} and {env} are replaced")
        return None
    return text


def _clusters(ev: Evaluator, e: m.Expr, f: str):
    expr, file = ev.deref(e, f)
    if isinstance(expr, m.ListExpr) and all(isinstance(ev.deref(i, file)[0], m.Str)
                                            for i in expr.items) and expr.items:
        out = []
        for item in expr.items:
            text = ev.want_string(item, file)
            if text is None:
                continue
            if "://" in text:
                if problem := v.check_url(text, schemes=("https", "http")):
                    ev.ctx.error(item.span, "SL408", problem.message, problem.hint or "")
                    continue
                out.append(s.StaticCluster(server=text, span=item.span))
            else:
                if problem := v.check_dns1123_subdomain(text):
                    ev.ctx.error(item.span, "SL409", problem.message, problem.hint or "")
                    continue
                out.append(s.StaticCluster(name=text, span=item.span))
        return ("static", out)
    selector = want_selector(ev, expr, file)
    return None if selector is None else ("selector", selector)


def _rollout(ev, e, f):
    steps = ev.want_list(e, f, lambda x, ff: want_rollout_step(ev, x, ff), single=False)
    expr, file = ev.deref(e, f)
    if steps is not None and isinstance(expr, m.ListExpr):
        for item in expr.items[:-1]:
            target, _ = ev.deref(item, file)
            if isinstance(target, m.Name) and target.name == "rest":
                ev.ctx.error(item.span, "SL307", "'rest' must be the last rollout step",
                             "the steps after it would find no cluster left; move rest to "
                             "the end")
                return None
    return steps


def _writeback(ev, e, f):
    return ev.want_enum(e, f, ("direct", "pull_request"), "a write-back mode")


def _apps_sync(ev, e, f):
    text = ev.want_string(e, f)
    options = ("create-only", "create-update", "create-delete", "sync")
    if text is not None and text not in options:
        ev.ctx.error(e.span, "SL302", f"'{text}' is not an applications sync policy",
                     did_you_mean(text, options) or "one of: " + ", ".join(options))
        return None
    return text


def _ref_list(kind: str):
    def want(ev: Evaluator, e: m.Expr, f: str):
        def item(x: m.Expr, ff: str):
            entry, handled = ev.ref(x, ff, kind)
            if not handled:
                ev.type_error(x, f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} name")
            return entry.decl.name if entry else None
        return ev.want_list(e, f, item, unique_what=kind)
    return want


def _deploy(ev: Evaluator, e: m.Expr, f: str):
    envs = _ref_list("environment")(ev, e, f)
    if envs == [] and isinstance(ev.deref(e, f)[0], m.ListExpr) and \
            not ev.deref(e, f)[0].items:
        ev.ctx.error(e.span, "SL302", "an app must deploy to at least one environment",
                     "name the environments, e.g. deploy = [dev, prod]; remove the app to "
                     "stop deploying it")
        return None
    return envs


def _app_images(ev: Evaluator, e: m.Expr, f: str):
    def item(x: m.Expr, ff: str):
        alias = None
        target = x
        if isinstance(x, m.As):
            alias = ev.want_string(x.alias, ff)
            target = x.value
        entry, handled = ev.ref(target, ff, "image")
        if not handled:
            ev.type_error(target, "an image name")
        if entry is None:
            return None
        return (entry.decl.name, alias, x.span)
    items = ev.want_list(e, f, item)
    if items is None:
        return None
    seen: dict[str, Any] = {}
    out = []
    for name, alias, span in items:
        if name in seen:
            ev.ctx.error(span, "SL308", f"image '{name}' is listed twice",
                         "an app runs each image once; remove the second one",
                         related=(Related(span=seen[name], message="first listed here"),))
            continue
        seen[name] = span
        out.append(s.AppImage(image=name, alias=alias, span=span))
    return out


def _layout_folder(ev: Evaluator, e: m.Expr, f: str) -> str | None:
    """A registry's OCI image layout: a folder relative to the project folder."""
    target, _ = ev.deref(e, f)
    text = target.text if isinstance(target, m.Str) and target.is_plain else None
    if text is not None and (text.startswith("/") or ".." in text.split("/") or
                             "://" in text or not text.strip()):
        ev.ctx.error(e.span, "SL302", f"'{text}' is not a relative folder path",
                     "write the layout folder relative to the project folder; the "
                     "registry's address stays in host")
        return None
    return _rel_path(ev, e, f)  # other strings: the repository-path checker's rules


SCHEMAS: dict[str, dict[str, FieldSpec]] = {
    "gitops": {
        "repo": FieldSpec(_url, True, "URL of the config repository that receives the output"),
        "branch": FieldSpec(_str, False, "branch to write to (default main)"),
        "path": FieldSpec(_rel_path_or_root, False,
                          "folder inside the repository for all output (default: the root)"),
        "namespace": FieldSpec(_k8s_label, False, "namespace Argo CD runs in (default argocd)"),
        "argocd_dir": FieldSpec(_rel_path, False,
                                "folder for Argo CD documents, below path (default argocd)"),
        "overlays": FieldSpec(_overlay_pattern, False,
                              'folder of each overlay, with {app} and {env} (default '
                              '"apps/{app}/overlays/{env}")'),
        "root_app": FieldSpec(_k8s_subdomain, False,
                              "name of the app-of-apps Application (default setlist-root)"),
    },
    "registry": {
        "host": FieldSpec(_host, True, "registry host, optionally with a port"),
        "credentials": FieldSpec(_credentials, False,
                                 'docker_config, env("VAR") or anonymous (default)'),
        "insecure": FieldSpec(_bool, False, "allow plain HTTP or unverified TLS"),
        "ca_file": FieldSpec(_str, False, "PEM file of extra trusted certificate authorities"),
        "layout": FieldSpec(_layout_folder, False,
                            "OCI image layout folder, relative to the project folder, read "
                            "instead of contacting the registry"),
        "concurrency": FieldSpec(_int_between(1, 64), False,
                                 "requests in flight at once while resolving (default 8)"),
        "requests_per_second": FieldSpec(_int_between(1, 10000), False,
                                         "at most this many requests a second while "
                                         "resolving (default: no limit)"),
    },
    "image": {
        "repository": FieldSpec(_repository, True, 'registry / "path", or "host/path"'),
        "strategy": FieldSpec(_strategy, False,
                              'semver("c") (default semver(): any version), newest_build, '
                              'alphabetical, digest("tag")'),
        "allow_tags": FieldSpec(_regex, False, "only tags matching this regex are considered"),
        "ignore_tags": FieldSpec(_globs, False, "tags matching these globs are skipped"),
        "platforms": FieldSpec(_platforms, False, "platforms every candidate must provide"),
        "tag": FieldSpec(_tag, False, "a pinned tag, used until the lockfile has one"),
        "digest": FieldSpec(_digest, False, "a pinned digest"),
    },
    "environment": {
        "clusters": FieldSpec(_clusters, True,
                              "a cluster selector, or a list of cluster names / server URLs"),
        "updates": FieldSpec(_updates, False,
                             "setlist (default) or in_cluster(method: argocd|git)"),
        "writeback": FieldSpec(_writeback, False, "direct (default) or pull_request"),
        "rollout": FieldSpec(_rollout, False, "RollingSync steps: selectors, then rest"),
        "preserve_resources_on_deletion": FieldSpec(_bool, False,
                                                    "keep resources when an app goes away"),
        "applications_sync": FieldSpec(_apps_sync, False,
                                       "create-only, create-update, create-delete or sync"),
        "labels": FieldSpec(_labels, False, "labels added to the generated Applications"),
    },
    "app": {
        "base": FieldSpec(_base, True,
                          'Kustomize base: a folder of the gitops repo, or git("URL", path:, '
                          'ref:)'),
        "namespace": FieldSpec(_k8s_label, True, "destination namespace"),
        "project": FieldSpec(_k8s_subdomain, False, "Argo CD project (default: the app name)"),
        "images": FieldSpec(_app_images, False, 'images the app runs; `api as "name"`'),
        "deploy": FieldSpec(_deploy, True, "environments the app runs in"),
        "sync": FieldSpec(_sync, False, "sync policy (default manual)"),
        "labels": FieldSpec(_labels, False, "labels added to the generated Applications"),
        "annotations": FieldSpec(_annotations, False, "annotations on the Applications"),
    },
}


def evaluate_fields(ctx: Context, ev: Evaluator, decl: m.Block, file: str) -> dict[str, Any]:
    """Evaluate a block's fields; unknown, duplicate and missing fields are reported."""
    schema = SCHEMAS[decl.block]
    values: dict[str, Any] = {}
    seen: dict[str, m.FieldNode] = {}
    failed: set[str] = set()
    for fld in decl.fields:
        if fld.name in seen:
            ctx.error(fld.name_span, "SL303", f"field '{fld.name}' is set twice",
                      "remove one of them",
                      related=(Related(span=seen[fld.name].name_span,
                                       message="first set here"),))
            continue
        seen[fld.name] = fld
        spec = schema.get(fld.name)
        if spec is None:
            hint = did_you_mean(fld.name, schema) or \
                f"{decl.block} fields: " + ", ".join(schema)
            if decl.block != "environment" and fld.name == "freeze":
                hint = "freeze windows belong to environments"
            ctx.error(fld.name_span, "SL300",
                      f"{decl.block} has no field '{fld.name}'", hint)
            continue
        value = spec.want(ev, fld.value, file)
        if value is None:
            failed.add(fld.name)
        else:
            values[fld.name] = value
    for name, spec in schema.items():
        if spec.required and name not in seen:
            failed.add(name)
            if decl.recovered:  # the field may be on a line the parser had to skip
                continue
            label = f"{decl.block} '{decl.name}'" if decl.block != "gitops" else "gitops"
            ctx.error(decl.name_span or decl.span, "SL301",
                      f"{label} needs the field '{name}'", f"{name} = <{spec.doc}>")
    values["_failed"] = failed
    return values
