"""The imported spec as text: gitops, registries, images, environments and apps."""

from __future__ import annotations

from collections import Counter

from .. import values as v
from . import emit
from .build import Env
from .images import AppImage, app_images, identifier, registry_names
from .layout import DEFAULT_LAYOUT, most_common
from .model import Unit
from .read import Note


def _check(value: str, problem, notes: list[Note], unit: Unit, what: str) -> bool:
    if problem is None:
        return True
    notes.append(Note(unit.origin, unit.subject,
                      f"{what} {value!r} is not valid in Setlist ({problem.message}); "
                      "not imported"))
    return False


def _env_block(env: Env, notes: list[Note]) -> emit.Block:
    block = emit.Block("environment", env.name)
    if env.selector is not None:
        block.fields.append(("clusters", emit.selector(env.selector)))
    else:
        block.fields.append(("clusters", emit.strings([value for _, value in env.static])))
    updaters = [u for u in env.units if u.updater is not None]
    if updaters:
        methods = Counter(u.updater.method for u in updaters)
        method = min(methods, key=lambda m: (-methods[m], m))
        for u in updaters:
            if u.updater.method != method:
                notes.append(Note(u.updater.origin or u.origin, u.subject,
                                  f"Image Updater writes back with {u.updater.method} here "
                                  f"but with {method} elsewhere in '{env.name}'; {method} "
                                  "is used for the whole environment"))
        block.fields.append(("updates", f"in_cluster(method: {method})"))
        for u in env.units:
            if u.updater is None and u.pins:
                notes.append(Note(u.origin, u.subject,
                                  f"Image Updater updates '{env.name}', so it will also "
                                  f"update app '{u.app}' there, which it did not before"))
        if any(u.updater.pull_request for u in updaters):
            block.fields.append(("writeback", "pull_request"))
    appsets = [u for u in env.units if u.selector is not None]
    if env.selector is not None:
        preserve = {u.preserve for u in appsets}
        if True in preserve:
            block.fields.append(("preserve_resources_on_deletion", "true"))
        syncs = sorted({u.applications_sync for u in appsets if u.applications_sync})
        if syncs:
            block.fields.append(("applications_sync", emit.string(syncs[0])))
        if len(preserve) > 1 or len(syncs) > 1:
            notes.append(Note(appsets[0].origin, appsets[0].subject,
                              f"the ApplicationSets of '{env.name}' have different sync "
                              "policies; one is used for the environment"))
    else:
        for u in env.units:
            if u.preserve or u.applications_sync:
                notes.append(Note(u.origin, u.subject, "the ApplicationSet's "
                                  "syncPolicy is not imported: listed clusters get plain "
                                  "Applications"))
    for cron, seconds, tz in sorted(env.freezes):
        tail = f" tz {emit.string(tz)}" if tz != "UTC" else ""
        block.extra.append(f"freeze {emit.string(cron)} for {emit.duration(seconds)}{tail}")
    return block


def _image_blocks(apps: dict[str, list[Unit]], envs: dict[str, Env], notes: list[Note]
                  ) -> tuple[list[emit.Block], dict[str, list[tuple[str, str | None]]],
                             set[str]]:
    """Image blocks, each app's `images` (name, alias) and the registry hosts used."""
    per_app = {app: app_images(sorted(us, key=lambda u: (u.env, u.name)), notes)
               for app, us in sorted(apps.items())}
    # one block per repository and settings, named after Image Updater's alias
    keys: dict[tuple, list[tuple[str, AppImage]]] = {}
    for app, images in per_app.items():
        for img in images.values():
            keys.setdefault((img.canon, img.conf.settings()), []).append((app, img))
    names: dict[tuple, str] = {}
    taken: set[str] = set()
    for key, uses in sorted(keys.items(), key=lambda kv: (kv[1][0][1].hint, kv[0][0])):
        app, img = uses[0]
        name = identifier(img.hint)
        for cand in (name, identifier(f"{app}-{img.hint}")):
            if cand not in taken:
                name = cand
                break
        n = 2
        while name in taken:
            name, n = f"{identifier(img.hint)}-{n}", n + 1
        taken.add(name)
        names[key] = name
    hosts = {k[0].split("/", 1)[0] for k in keys}
    regs = registry_names(hosts)
    blocks, app_refs = [], {}
    for app, images in per_app.items():
        refs = []
        for img in sorted(images.values(), key=lambda i: names[(i.canon, i.conf.settings())]):
            refs.append((names[(img.canon, img.conf.settings())], img.manifest))
        app_refs[app] = refs
    for key, uses in sorted(keys.items(), key=lambda kv: names[kv[0]]):
        blocks.append(_image_block(names[key], uses, regs, apps, envs, notes))
    return blocks, app_refs, hosts


def _image_block(name: str, uses: list[tuple[str, AppImage]], regs: dict[str, str],
                 apps: dict[str, list[Unit]], envs: dict[str, Env],
                 notes: list[Note]) -> emit.Block:
    img = uses[0][1]
    conf = img.conf
    host, _, path = img.canon.partition("/")
    block = emit.Block("image", name)
    if path != path.lower():
        first = apps[uses[0][0]][0]
        notes.append(Note(first.origin, first.subject,
                          f"the repository {img.canon} is written in lower case"))
        path = path.lower()
    block.fields.append(("repository", f"{regs[host]} / {emit.string(path)}"))
    unit = apps[uses[0][0]][0]
    if conf.strategy == "semver" and conf.constraint:
        if _check(conf.constraint, v.check_semver_constraint(conf.constraint), notes, unit,
                  "the semver constraint"):
            block.fields.append(("strategy", f"semver({emit.string(conf.constraint)})"))
    elif conf.strategy == "digest":
        block.fields.append(("strategy", f"digest({emit.string(conf.constraint or 'latest')})"))
    elif conf.strategy in ("newest_build", "alphabetical"):
        block.fields.append(("strategy", conf.strategy))
    elif conf.strategy is None:
        notes.append(Note(unit.origin, unit.subject,
                          f"no update strategy is known for {img.canon} (no Image Updater "
                          "settings); Setlist's default semver applies"))
    if conf.allow_tags and _check(conf.allow_tags, v.check_regex(conf.allow_tags), notes,
                                  unit, "allow-tags"):
        block.fields.append(("allow_tags", emit.regex(conf.allow_tags)))
    ignore = [g for g in conf.ignore_tags if _check(g, v.check_glob(g), notes, unit,
                                                      "the ignore-tags glob")]
    if ignore:
        block.fields.append(("ignore_tags", emit.strings(sorted(set(ignore)))))
    platforms = [p for p in conf.platforms if _check(p, v.check_platform(p), notes, unit,
                                                       "the platform")]
    if platforms:
        block.fields.append(("platforms", emit.strings(sorted(set(platforms)))))
    _pin(block, uses, apps, envs, notes)
    return block


def _pin(block: emit.Block, uses: list[tuple[str, AppImage]], apps: dict[str, list[Unit]],
         envs: dict[str, Env], notes: list[Note]) -> None:
    deployments = [(app, u.env) for app, _ in uses for u in apps[app]]
    in_cluster = sorted({env for _, env in deployments
                         if any(u.updater for u in envs[env].units)})
    # Image Updater's own entries in the overlays of the environments it updates are not pins
    pins = {(app, env): img.pins[env] for app, img in uses for env in img.pins
            if env not in in_cluster}
    if not pins:
        return
    unit = apps[uses[0][0]][0]
    versions = sorted({(p.tag, p.digest) for p in pins.values()}, key=str)
    shown = "; ".join(f"{app} in {env}: {p.tag or ''}{'@' + p.digest if p.digest else ''}"
                      for (app, env), p in sorted(pins.items()))
    if in_cluster:
        notes.append(Note(unit.origin, f"image {block.name}",
                          f"versions pinned by the overlays ({shown}) are not imported: "
                          f"Image Updater updates the image in {', '.join(in_cluster)}, and "
                          "a pinned image cannot run there; record them with `setlist "
                          "resolve` or `setlist promote`"))
        return
    if len(versions) > 1 or len(pins) < len(set(deployments)) - len(in_cluster):
        notes.append(Note(unit.origin, f"image {block.name}",
                          f"the overlays pin different versions ({shown}); a spec pins one "
                          "version for all environments, so none is imported: record them "
                          "with `setlist resolve` or `setlist promote`"))
        return
    tag, digest = versions[0]
    if tag and v.check_tag(tag) is None:
        block.fields.append(("tag", emit.string(tag)))
    if digest and v.check_digest(digest) is None:
        block.fields.append(("digest", emit.string(digest)))


def _app_block(app: str, members: list[Unit], refs: list[tuple[str, str | None]],
               notes: list[Note]) -> emit.Block:
    first = members[0]
    block = emit.Block("app", app)
    origins = ", ".join(sorted({str(u.origin) for u in members}))
    block.doc = [line[3:] for line in emit.comment_lines(f"Imported from {origins}.")]
    if first.base_repo is not None:
        repo, path, ref = first.base_repo
        args = [emit.string(repo)] + ([f"path: {emit.string(path)}"] if path else []) + \
            ([f"ref: {emit.string(ref)}"] if ref else [])
        block.fields.append(("base", f"git({', '.join(args)})"))
    else:
        block.fields.append(("base", emit.string(first.base or "")))
    block.fields.append(("namespace", emit.string(first.namespace)))
    if first.project != app:
        block.fields.append(("project", emit.string(first.project)))
    if refs:
        items = [f"{n} as {emit.string(alias)}" if alias else n for n, alias in refs]
        block.fields.append(("images", "[" + ", ".join(items) + "]"))
    envs = sorted({u.env for u in members})
    block.fields.append(("deploy", "[" + ", ".join(envs) + "]"))
    policy = emit.sync(first.sync)
    if policy:
        block.fields.append(("sync", policy))
    for what in ("labels", "annotations"):
        common = _common(members, what, notes)
        if common:
            block.fields.append((what, emit.map_literal(common)))
    return block


def _common(members: list[Unit], what: str, notes: list[Note]) -> dict[str, str]:
    maps = [getattr(u, what) for u in members]
    keys = set.intersection(*(set(m.items()) for m in maps)) if maps else set()
    out = {}
    for key, value in sorted(keys):
        if key.startswith(("app.kubernetes.io/managed-by",)) or key.startswith("setlist.dev/"):
            continue
        check = v.check_label_key(key) or (v.check_label_value(value) if what == "labels"
                                            else None)
        if check is None:
            out[key] = value
        else:
            notes.append(Note(members[0].origin, members[0].subject,
                              f"the {what[:-1]} {key}: {value} is not valid for Setlist "
                              f"({check.message}); not imported"))
    for u in members:
        for key, value in sorted(getattr(u, what).items()):
            if (key, value) not in keys and not key.startswith("setlist.dev/"):
                notes.append(Note(u.origin, u.subject,
                                  f"the {what[:-1]} {key}: {value} is not on every "
                                  f"environment of app '{u.app}'; not imported"))
    return out


def spec_text(units: list[Unit], envs: dict[str, Env], layout: str, repo: str,
              notes: list[Note]) -> str:
    apps: dict[str, list[Unit]] = {}
    for u in units:
        apps.setdefault(u.app, []).append(u)
    revisions = [u.revision for u in units if u.repo == repo]
    branch = most_common(revisions, "HEAD")
    for u in units:
        if u.repo == repo and u.revision != branch:
            notes.append(Note(u.origin, u.subject, f"targetRevision {u.revision} "
                              f"becomes the gitops branch {branch}"))
    if branch == "HEAD":
        notes.append(Note(units[0].origin, units[0].subject,
                          "targetRevision HEAD (the default branch) becomes branch \"main\""))
        branch = "main"
    namespace = most_common([u.argocd_namespace for u in units], "argocd")
    gitops = emit.Block("gitops")
    gitops.fields.append(("repo", emit.string(repo)))
    gitops.fields.append(("branch", emit.string(branch)))
    if namespace != "argocd":
        gitops.fields.append(("namespace", emit.string(namespace)))
    if layout != DEFAULT_LAYOUT:
        gitops.fields.append(("overlays", emit.string(layout)))
    images, refs, hosts = _image_blocks(apps, envs, notes)
    registries = registry_names(hosts)
    blocks = [gitops]
    blocks += [emit.Block("registry", name, [("host", emit.string(host))])
               for host, name in sorted(registries.items(), key=lambda kv: kv[1])]
    blocks += images
    blocks += [_env_block(env, notes) for _, env in sorted(envs.items())]
    for app, members in sorted(apps.items()):
        members.sort(key=lambda u: (u.env, u.name))
        blocks.append(_app_block(app, members, refs.get(app, []), notes))
    for u in units:
        if not u.has_finalizer:
            notes.append(Note(u.origin, u.subject, "Setlist adds the "
                              "resources-finalizer: deleting the Application deletes its "
                              "resources"))
    return "\n\n".join(b.text() for b in blocks) + "\n"
