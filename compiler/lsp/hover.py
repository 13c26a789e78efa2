"""Hover: what a name is, in the terms the user needs at that moment.

A declaration shows its kind, its type (for constants: what the value is) and its doc
comment; an image adds the tag and digest ``setlist.lock`` pins per environment; an
environment adds its selector as Argo CD will see it (the cluster generators'
matchLabels/matchExpressions, from the compile stage's own function). Field names, built-in
functions and cluster labels explain themselves.
"""

from __future__ import annotations

import os

from lsprotocol import types as lsp

from .. import lockfile
from .. import model as m
from ..check.blocks import SCHEMAS
from ..check.context import Entry
from ..check.evaluate import describe
from ..compile.selectors import cluster_generators
from ..emit import dump
from .index import Occurrence
from .view import View

BUILTINS: dict[str, str] = {
    "semver": 'Update strategy: the highest version matching a constraint, '
              '`semver("^1.4")` (Masterminds semver v3 rules, as Argo CD Image Updater).',
    "newest_build": "Update strategy: the most recently built image (the image config's "
                    "`created`).",
    "alphabetical": "Update strategy: the lexically greatest tag.",
    "digest": 'Update strategy: follow the digest of a mutable tag, `digest("stable")`.',
    "docker_config": "Registry credentials read from Docker's `config.json` (credential "
                     "helpers included).",
    "env": 'Registry credentials from an environment variable at run time, '
           '`env("GHCR_TOKEN")`.',
    "anonymous": "No registry credentials.",
    "setlist": "Updates: Setlist commits new versions to the gitops repository (default).",
    "in_cluster": "Updates: Argo CD Image Updater updates the environment in the cluster, "
                  "`in_cluster(method: argocd|git, interval: 5m)`.",
    "direct": "Write-back: commit to the branch directly (default).",
    "pull_request": "Write-back: open a pull request for every change.",
    "automated": "Sync policy: Argo CD syncs automatically, "
                 "`automated(prune:, self_heal:, allow_empty:, options:, retry:)`.",
    "manual": "Sync policy: Argo CD only syncs when asked, `manual(options:, retry:)`.",
    "retry": "Sync retries: `retry(limit: 5, backoff: 5s, factor: 2, max_backoff: 3m)`.",
    "git": 'Kustomize base in another repository: `git("URL", path: "...", ref: "...")`.',
    "all": "Every cluster Argo CD knows, the local one included (an empty selector).",
    "rest": "Rollout step: every cluster an earlier step did not select.",
    "registry": "Promotion source: the newest version the image's strategy allows.",
    "approval": "Promotion gate: the promotion waits for an approved pull request.",
    "signed": "Promotion gate: the promoted digest must carry a cosign signature.",
}


def hover(view: View, occ: Occurrence, markdown: bool = True) -> lsp.Hover | None:
    if occ.role in ("decl", "ref") and occ.target is not None:
        text = declaration(view, occ.target)
    elif occ.role == "field":
        text = field_text(occ)
    elif occ.role == "builtin":
        text = f"```setlist\n{occ.name}\n```\n{BUILTINS.get(occ.name, 'built-in')}"
    elif occ.role == "label":
        text = label_text(view, occ.name)
    elif occ.role in ("module", "import") and occ.module:
        text = module_text(view, occ.module)
    else:
        return None
    if not text:
        return None
    kind = lsp.MarkupKind.Markdown if markdown else lsp.MarkupKind.PlainText
    return lsp.Hover(contents=lsp.MarkupContent(kind=kind, value=text),
                     range=view.lines().span_range(occ.span))


def declaration(view: View, entry: Entry) -> str:
    decl = entry.decl
    parts = [f"```setlist\n{signature(view, decl)}\n```"]
    where = f"{entry.file}:{(decl.name_span or decl.span).line}"
    parts.append(f"*{kind_of(decl)}* declared in `{where}`")
    if decl.doc:
        parts.append(decl.doc)
    if isinstance(decl, m.Block):
        if decl.block == "image":
            parts.append(image_versions(view, decl.name))
        elif decl.block == "environment":
            parts.append(environment_selector(view, decl.name))
    return "\n\n".join(p for p in parts if p)


def kind_of(decl: m.AnyDecl) -> str:
    return decl.block if isinstance(decl, m.Block) else decl.decl


def signature(view: View, decl: m.AnyDecl) -> str:
    """The declaration's head with its type: `const x: a string`, `image api`, ..."""
    if isinstance(decl, m.Const):
        return f"const {decl.name}: {describe(decl.value).split(' ', 1)[-1]}"
    if isinstance(decl, m.Policy):
        params = ", ".join(p.name + (f": {p.type}" if p.type else "") for p in decl.params)
        return f"policy {decl.name}" + (f"({params})" if decl.params else "")
    if isinstance(decl, m.Block):
        head = f"{decl.block} {decl.name}" if decl.block != "gitops" else "gitops"
        fields = [f"  {f.name} = {_source(view, f)}" for f in decl.fields[:8]]
        return head + (" {\n" + "\n".join(fields) + "\n}" if fields else "")
    return f"{kind_of(decl)} {decl.name}"


def _source(view: View, fld: m.FieldNode) -> str:
    """A field's value as written (its first line, shortened)."""
    span = fld.value.span
    source = view.project.files.get(span.file)
    text = source.text[span.start:span.end] if source is not None else ""
    lines = text.splitlines() or [describe(fld.value)]
    first = lines[0]
    return first if len(first) <= 60 and len(lines) == 1 else first[:57] + " …"


def image_versions(view: View, name: str) -> str:
    """The versions the lock (and pins in the spec) give the image per environment."""
    lines = []
    image = view.project.spec.image(name) if view.project.spec is not None else None
    if image is not None:
        lines.append(f"`{image.reference}`, strategy `{image.strategy.kind}"
                     + (f" {image.strategy.constraint}" if image.strategy.constraint else "")
                     + "`")
        if image.tag or image.digest:
            lines.append(f"pinned in the spec: tag `{image.tag or '—'}`, digest "
                         f"`{image.digest or '—'}`")
    try:
        lock = read_lock(os.path.abspath(view.project.base))
    except lockfile.LockError as exc:
        lines.append(f"setlist.lock cannot be read: {exc}")
        lock = None
    entries = sorted((env, e) for (img, env), e in (lock.entries.items() if lock else ())
                     if img == name)
    if entries:
        lines.append("| environment | tag | digest |\n|---|---|---|")
        lines[-1] += "".join(f"\n| {env} | `{e.tag or '—'}` | `{e.digest or '—'}` |"
                             for env, e in entries)
    elif lock is not None or not lines:
        lines.append("not in setlist.lock yet (run `setlist resolve`)")
    return "\n\n".join(lines)


_LOCKS: dict[str, tuple[tuple[int, int], lockfile.Lock | None]] = {}


def read_lock(folder: str) -> lockfile.Lock | None:
    """The folder's lock, read again only when the file changed (a large lock takes a
    while to parse, and hovers come often). A change is seen by the file's modification
    time and size, or when the client reports it (``forget_lock``): a rewrite within the
    file system's timestamp granularity keeps the time."""
    path = lockfile.lock_path(folder)
    try:
        stat = path.stat()
    except OSError:
        return None
    stamp = (stat.st_mtime_ns, stat.st_size)
    known = _LOCKS.get(folder)
    if known is None or known[0] != stamp:
        known = _LOCKS[folder] = (stamp, lockfile.read(folder))
    return known[1]


def forget_lock(folder: str) -> None:
    """Read the folder's lock again at the next hover (the client reported a change)."""
    _LOCKS.pop(folder, None)


def environment_selector(view: View, name: str) -> str:
    """The environment's clusters as Argo CD selects them."""
    env = view.project.spec.environment(name) if view.project.spec is not None else None
    if env is None:
        return ""
    if env.static_clusters:
        listed = ", ".join(f"`{c.name or c.server}`" for c in env.static_clusters)
        return f"clusters: {listed} (one Application each)"
    if env.selector is None:
        return ""
    generators = cluster_generators(env.selector)
    if generators is None:
        return "the selector needs too many cluster generators to be written (SL701)"
    return "ApplicationSet generators:\n```yaml\n" + dump([{"generators": generators}]) + "```"


def field_text(occ: Occurrence) -> str:
    spec = SCHEMAS.get(occ.kind, {}).get(occ.name)
    if spec is None:
        return f"`{occ.name}` is not a field of {occ.kind}"
    required = "required" if spec.required else "optional"
    return f"```setlist\n{occ.kind}.{occ.name}\n```\n{required}: {spec.doc}"


def label_text(view: View, label: str) -> str:
    text = f"cluster label `{label}`"
    values = sorted(view.inventory.get(label, ()))
    if values:
        text += "\n\nvalues in the inventory: " + ", ".join(f"`{v}`" for v in values[:20])
    return text


def module_text(view: View, key: str) -> str:
    source = view.project.files.get(key)
    if source is None:
        return f"module `{key}`"
    members = sorted(d.name for d in source.module.decls
                     if d.name and not isinstance(d, m.Import))
    text = f"module `{key}`"
    if members:
        text += "\n\nmembers: " + ", ".join(f"`{n}`" for n in members[:30])
    return text
