"""Grouping units into a Setlist spec: the gitops block, environments, apps and images.

Units of one app (same layout app name) that agree on everything but their destination and
overlay become one app deployed to several environments; units that differ are kept apart
under names of their own, with a note. Environments are named by the layout; two different
cluster sets under one name are told apart (`prod`, `prod-2`).
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass, field

from .. import values as v
from ..values_time import check_cron, check_timezone
from .argo import go_duration
from .images import identifier, pins_of
from .layout import (
    DEFAULT_LAYOUT,
    _plausible,
    base_from_resources,
    guess_base,
    infer_layout,
    match,
    split_name,
)
from .model import Selector, Unit
from .read import Doc, Note

_SETLIST_LABELS = ("app.kubernetes.io/managed-by", "setlist.dev/")
_PROJECT_FIELDS = {"description", "sourceRepos", "destinations", "syncWindows",
                   "clusterResourceWhitelist"}


@dataclass
class Env:
    name: str
    selector: Selector | None = None
    static: tuple[tuple[str, str], ...] = ()
    units: list[Unit] = field(default_factory=list)
    freezes: set[tuple[str, int, str]] = field(default_factory=set)


@dataclass
class Imported:
    text: str
    notes: list[Note]
    units: int


def _sample(unit: Unit) -> str:
    return re.sub(r"\{\{.*?\}\}", "x", unit.template_name or unit.name)


def _overlay(kust: dict[str, Doc], path: str) -> Doc | None:
    found = [k for k in kust if k == path or k.endswith("/" + path)]
    return kust[min(found, key=lambda k: (len(k), k))] if found else None


def _place(units: list[Unit], repo: str, kust: dict[str, Doc], notes: list[Note]) -> str:
    """Give every unit its app, environment and base; returns the overlay layout."""
    own = [u for u in units if u.repo == repo]
    layout = infer_layout(own) or DEFAULT_LAYOUT
    for u in units:
        subject = u.subject
        overlay = _overlay(kust, u.path) if u.repo == repo else None
        if overlay is not None:
            u.pins = pins_of(overlay.data.get("images") or [], u.kustomize_images)
        else:
            u.pins = pins_of([], u.kustomize_images)
        m = match(layout, u.path) if u.repo == repo else None
        if m and _plausible(u, *m):
            u.app, u.env = m
            if overlay is not None:
                base, rest = base_from_resources(
                    [str(r) for r in overlay.data.get("resources") or []], u.path)
                u.base = base
                if rest:
                    notes.append(Note(overlay.origin, f"Kustomization {u.path}",
                                      f"resources {', '.join(rest)} are not part of the app's "
                                      "base; they stay in this overlay, which Setlist keeps"))
            if u.base is None:
                u.base = guess_base(layout, u.app) or posixpath.join(u.path, "base")
                notes.append(Note(u.origin, subject, f"no kustomization.yaml of {u.path} was "
                                  f"read; the base is taken to be {u.base}"))
            continue
        u.app, u.env = split_name(u)
        target = layout.replace("{app}", u.app).replace("{env}", u.env)
        if u.repo != repo:
            ref = None if u.revision in ("HEAD", "") else u.revision
            u.base_repo = (u.repo, u.path, ref)
            notes.append(Note(u.origin, subject, f"its source {u.repo} is not the gitops "
                              f"repository; it becomes a git(...) base of the overlay "
                              f"{target}"))
        else:
            u.base = u.path
            notes.append(Note(u.origin, subject, f"{u.path} does not follow the layout "
                              f"{layout}; it becomes the base of a new overlay {target}"))
    return layout


def _split_apps(units: list[Unit], notes: list[Note]) -> None:
    """Units named to one app that differ in more than destination and overlay get an app
    of their own."""
    def signature(u: Unit) -> tuple:
        return (u.namespace, u.project, u.sync, u.base, u.base_repo)

    by_app: dict[str, list[Unit]] = {}
    for u in units:
        by_app.setdefault(u.app, []).append(u)
    taken = set(by_app)
    for app, members in sorted(by_app.items()):
        groups: dict[tuple, list[Unit]] = {}
        for u in sorted(members, key=lambda u: (u.env, u.name)):
            groups.setdefault(signature(u), []).append(u)
        if len(groups) < 2:
            continue
        ordered = sorted(groups.values(), key=lambda g: (-len(g), g[0].env, g[0].name))
        main = signature(ordered[0][0])
        for group in ordered[1:]:
            first = group[0]
            fields = [n for n, a, b in zip(("namespace", "project", "sync policy", "base",
                                            "base"), signature(first), main, strict=True)
                      if a != b]
            new = identifier(first.name.lower(), "app")
            n = 2
            while new in taken:
                new, n = f"{app}-{n}", n + 1
            taken.add(new)
            for u in group:
                u.app = new
            notes.append(Note(first.origin, first.subject,
                              f"its {', '.join(sorted(set(fields)))} differ from the other "
                              f"environments of app '{app}'; imported as app '{new}'"))


def _environments(units: list[Unit], notes: list[Note]) -> dict[str, Env]:
    per_pair: dict[tuple[str, str], list[Unit]] = {}
    for u in units:
        per_pair.setdefault((u.app, u.env), []).append(u)
    # the definition of each (app, env): a selector (or of them) or a set of clusters
    defs: dict[tuple[str, str], tuple] = {}
    for pair, members in sorted(per_pair.items()):
        sel = [c for u in members if u.selector is not None for c in u.selector]
        static = sorted({s for u in members for s in u.static})
        if sel and static:
            notes.append(Note(members[0].origin, members[0].subject,
                              f"app '{pair[0]}' in '{pair[1]}' both selects clusters by "
                              "labels and names clusters; only the selector is imported"))
        defs[pair] = ("selector", tuple(sorted(set(sel)))) if sel else \
            ("static", tuple(static))
    by_name: dict[str, dict[tuple, list[tuple[str, str]]]] = {}
    for pair, d in defs.items():
        by_name.setdefault(pair[1], {}).setdefault(d, []).append(pair)
    envs: dict[str, Env] = {}
    for name, variants in sorted(by_name.items()):
        ordered = sorted(variants.items(), key=lambda kv: (-len(kv[1]), repr(kv[0])))
        for i, (d, pairs) in enumerate(ordered):
            env_name = name if i == 0 else f"{name}-{i + 1}"
            while env_name in by_name and i:
                env_name += "-x"
            env = envs[env_name] = Env(env_name, d[1] if d[0] == "selector" else None,
                                       d[1] if d[0] == "static" else ())
            for pair in pairs:
                for u in per_pair[pair]:
                    if env_name != name:
                        notes.append(Note(u.origin, u.subject,
                                          f"environment '{name}' means other clusters for "
                                          f"another app; imported as environment "
                                          f"'{env_name}'"))
                    u.env = env_name
                    env.units.append(u)
    return envs


def _renames(units: list[Unit], envs: dict[str, Env], notes: list[Note]) -> None:
    for u in units:
        env = envs[u.env]
        stem = f"{u.app}-{u.env}"
        if u.kind == "Application" or env.static:
            for _, value in u.static:
                new = stem if len(env.static) == 1 else \
                    f"{stem}.{v.name_normalized(value.split('://', 1)[-1])}"
                if u.kind == "ApplicationSet":
                    notes.append(Note(u.origin, u.subject,
                                      f"the Application {u.template_name} of its list "
                                      f"generator is written as the Application {new}"))
                elif new != u.template_name:
                    notes.append(Note(u.origin, u.subject,
                                      f"the Application {u.template_name} becomes {new}"))
        elif u.name != stem:
            notes.append(Note(u.origin, u.subject,
                              f"becomes ApplicationSet {stem}"))


def _freezes(projects: list[Doc], units: list[Unit], envs: dict[str, Env],
             repo: str, notes: list[Note]) -> None:
    used = {u.project for u in units}
    for doc in projects:
        subject = f"AppProject {doc.name}"
        if doc.name not in used:
            notes.append(Note(doc.origin, subject, "no imported app uses this project; not "
                              "imported"))
            continue
        spec = doc.data.get("spec") or {}
        for key in sorted(set(spec) - _PROJECT_FIELDS):
            notes.append(Note(doc.line_of("spec", key), subject,
                              f"spec.{key} has no Setlist equivalent; not imported"))
        if spec.get("sourceRepos") and [str(r) for r in spec["sourceRepos"]] != [repo]:
            notes.append(Note(doc.line_of("spec", "sourceRepos"), subject,
                              f"sourceRepos becomes [{repo}], the gitops repository"))
        members = [u for u in units if u.project == doc.name]
        _destinations(doc, spec, members, envs, notes)
        for w, window in enumerate(spec.get("syncWindows") or []):
            _window(doc, w, window, members, envs, notes)


def _destinations(doc: Doc, spec: dict, members: list[Unit], envs: dict[str, Env],
                  notes: list[Note]) -> None:
    want = set()
    for u in members:
        env = envs[u.env]
        for kind, value in env.static or (("server", "*"),):
            want.add((kind, value, u.namespace))
    have = {("name", str(d["name"]), str(d.get("namespace") or "*")) if d.get("name") else
            ("server", str(d.get("server") or "*"), str(d.get("namespace") or "*"))
            for d in spec.get("destinations") or []}
    if have and have != want:
        shown = ", ".join(f"{value}/{ns}" for _, value, ns in sorted(want))
        notes.append(Note(doc.line_of("spec", "destinations"), f"AppProject {doc.name}",
                          f"destinations are regenerated from the apps: {shown}"))
    whitelist = spec.get("clusterResourceWhitelist") or []
    creates = any("CreateNamespace=true" in u.sync.options for u in members)
    expected = [{"group": "", "kind": "Namespace"}] if creates else []
    if whitelist and whitelist != expected:
        notes.append(Note(doc.line_of("spec", "clusterResourceWhitelist"),
                          f"AppProject {doc.name}", "clusterResourceWhitelist is regenerated "
                          "(Namespace when an app syncs with CreateNamespace=true)"))


def _window(doc: Doc, w: int, window: dict, members: list[Unit], envs: dict[str, Env],
            notes: list[Note]) -> None:
    where = doc.line_of("spec", "syncWindows", w)
    subject = f"AppProject {doc.name}"
    if window.get("kind") != "deny" or not window.get("applications"):
        notes.append(Note(where, subject, f"the sync window {window.get('schedule')!r} is not "
                          "a freeze (a deny window over applications); not imported"))
        return
    for key in ("namespaces", "clusters"):
        if window.get(key):
            notes.append(Note(where, subject, f"the sync window's {key} are not imported; "
                              "its applications decide which environments freeze"))
    if window.get("manualSync"):
        notes.append(Note(where, subject, "the sync window allowed manual syncs; Setlist's "
                          "freezes do not"))
    cron = str(window.get("schedule") or "")
    seconds = go_duration(window.get("duration") or "")
    tz = str(window.get("timeZone") or "UTC")
    problem = check_cron(cron) or check_timezone(tz) or \
        (None if seconds else v.ValueProblem("the duration is not whole seconds"))
    if problem:
        notes.append(Note(where, subject, f"the sync window cannot be imported: "
                          f"{problem.message}"))
        return
    patterns = [str(p) for p in window["applications"]]
    hit = sorted({u.env for u in members if any(fnmatch.fnmatchcase(_sample(u), p)
                                                 for p in patterns)})
    if not hit:
        notes.append(Note(where, subject, f"the sync window over {', '.join(patterns)} "
                          "matches no imported Application; not imported"))
        return
    for env in hit:
        envs[env].freezes.add((cron, seconds or 0, tz))
        others = sorted({u.app for u in envs[env].units
                         if not any(fnmatch.fnmatchcase(_sample(u), p) for p in patterns)})
        if others:
            notes.append(Note(where, subject, f"the freeze of '{env}' also holds "
                              f"{', '.join(others)}: a Setlist freeze covers the whole "
                              "environment"))
