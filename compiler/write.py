"""Write stage: put compiled documents on disk, all or nothing, touching only what changed.

A manifest (``.setlist/manifest.json`` below the output root) records every file Setlist
wrote and the hash of the bytes it wrote. With it the writer can tell

- a stale generated file (in the manifest, no longer produced) → removed;
- a hand edit of a generated file (bytes differ from the recorded hash) → refused, naming
  the file, unless forced;
- a Kustomize overlay the user edited → updated round-trip (ruamel.yaml), so that only its
  `images:` list changes and comments, patches and order stay.

Planning reads the disk and changes nothing; ``apply`` stages every new file next to its
target first and then renames them into place, restoring the old files if any step fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .cache import MANIFEST  # defined there: the compile cache needs no write stage
from .compile.documents import Document
from .gcpause import gc_paused

MANIFEST_VERSION = 1

Action = Literal["create", "update", "delete"]


class WriteError(Exception):
    """The output tree cannot be written as asked (reported, never a traceback)."""


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    hint: str = ""


@dataclass(frozen=True)
class Change:
    path: str
    action: Action
    old: bytes | None
    new: bytes | None


@dataclass
class WritePlan:
    changes: list[Change] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # The manifest's path: written with the other changes, but never counted as a file of
    # the output (it is not listed under `unchanged` either).
    manifest: str | None = None
    # What the output holds once the plan is applied: path -> sha256 of its bytes (the
    # manifest included), for the compile cache's output record.
    hashes: dict[str, str] = field(default_factory=dict)
    # Every produced file is Setlist's own rendering, and the manifest lists exactly them.
    pristine: bool = True

    @property
    def clean(self) -> bool:
        return not self.changes and not self.problems

    def summary(self) -> str:
        counts = {a: sum(1 for c in self.changes if c.action == a and c.path != self.manifest)
                  for a in ("create", "update", "delete")}
        parts = [f"{counts['create']} created", f"{counts['update']} updated",
                 f"{counts['delete']} removed", f"{len(self.unchanged)} unchanged"]
        return ", ".join(parts)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def render(doc: Document) -> bytes:
    from .emit import dump

    return dump(doc.documents, doc.header).encode("utf-8")


# ---------------------------------------------------------------- planning


def _inside(root: Path, rel: str, folders: dict[str, str] | None = None) -> Path:
    """The path of ``rel`` below ``root``; refuses anything that would leave the tree.

    ``folders`` remembers each folder's verdict for one planning or applying pass (its
    resolved path once it is known to stay inside the tree), so that each distinct folder
    costs one lstat instead of resolving every path from the root.
    """
    if rel.startswith("/") or ".." in rel.split("/") or "\\" in rel or "\0" in rel:
        raise WriteError(f"{rel!r}: refusing a path outside the output folder")
    folders = {} if folders is None else folders
    parent = posixpath.dirname(rel)
    if parent not in folders:
        resolved_root = _resolved(root, "", folders)
        real = _resolved(root, parent, folders)
        if real != resolved_root and not real.startswith(resolved_root.rstrip("/") + "/"):
            raise WriteError(f"{rel}: its folder leads outside the output folder "
                             f"(through a symbolic link)")
    target = os.path.join(root, rel)
    try:
        is_link = stat.S_ISLNK(os.lstat(target).st_mode)
    except (OSError, ValueError):
        is_link = False
    if is_link:
        raise WriteError(f"{rel}: is a symbolic link; refusing to write through it")
    return Path(target)


def _resolved(root: Path, folder: str, cache: dict[str, str]) -> str:
    """``os.path.realpath(root / folder)``, built from the resolved parent folder (cached).
    A folder in ``cache`` has been checked by ``_inside`` or is one of the ancestors of
    such a folder."""
    real = cache.get(folder)
    if real is None:
        if not folder:
            real = os.path.realpath(root)
        else:
            head, _, name = folder.rpartition("/")
            path = os.path.join(root, folder)
            real = os.path.realpath(path) if os.path.islink(path) else \
                os.path.join(_resolved(root, head, cache), name)
        cache[folder] = real
    return real


#: Setlist reads every file of the output tree it would write; none of its own comes near
#: this, and a larger one (or a FIFO, a device) is refused rather than read.
MAX_READ_BYTES = 64 * 1024 * 1024


def _read(path: Path) -> bytes | None:
    try:
        # Non-blocking, so that a FIFO planted in the tree cannot hang the run; never
        # through a symbolic link that appeared after _inside looked.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) |
                     getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise WriteError(f"{path}: is a folder where a file should be written") from None
    except OSError as exc:
        raise WriteError(f"{path}: cannot be read ({exc.strerror})") from None
    mode = os.fstat(fd).st_mode  # before fdopen, which refuses a folder with its own error
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise WriteError(f"{path}: is a folder where a file should be written")
        raise WriteError(f"{path}: is not a regular file; refusing to read or replace it")
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(MAX_READ_BYTES + 1)
        except OSError as exc:
            raise WriteError(f"{path}: cannot be read ({exc.strerror})") from None
    if len(data) > MAX_READ_BYTES:
        raise WriteError(f"{path}: is larger than {MAX_READ_BYTES // (1024 * 1024)} MiB; "
                         "setlist does not read files that large")
    return data


_SHA256 = re.compile(r"[0-9a-fA-F]{64}").fullmatch
_SHA256_LOWER = re.compile(r"[0-9a-f]{64}").fullmatch
# JSON text that needs no escaping: printable ASCII but for '"' and '\\'
_PLAIN_JSON = re.compile(r'[ !#-\[\]-~]*').fullmatch
_START_OVER = "to start over (generated files are then treated as new)"


@dataclass(frozen=True)
class Manifest:
    """A manifest as read: its bytes (None when there is none) and its entries."""

    data: bytes | None
    entries: dict[str, dict[str, str]]


def read_manifest(root: Path, manifest_rel: str = MANIFEST) -> dict[str, dict[str, str]]:
    """The manifest's entries, each {"sha256", "owner"[, "edited"]}; every entry is checked
    (a WriteError names the first bad one), and a missing "owner" means "setlist"."""
    return load_manifest(root, manifest_rel).entries


def load_manifest(root: Path, manifest_rel: str = MANIFEST) -> Manifest:
    """The manifest's bytes and entries (see :func:`read_manifest`)."""
    data = _read(_inside(root, manifest_rel))
    return Manifest(data, _manifest_entries(data, manifest_rel) if data is not None else {})


def _manifest_entries(data: bytes, manifest_rel: str) -> dict[str, dict[str, str]]:
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError included; too deeply nested
        parsed = None
    files = parsed.get("files") if isinstance(parsed, dict) else None
    if not isinstance(files, dict):
        raise WriteError(f"{manifest_rel}: is not a manifest written by setlist; "
                         f"remove it {_START_OVER}")
    out = {}
    for path, entry in files.items():
        # the usual entry, as setlist writes it, checked inline: tens of thousands of them
        if type(entry) is dict and len(entry) == 2 and path != manifest_rel:
            digest, owner = entry.get("sha256"), entry.get("owner")
            if (owner == "setlist" or owner == "user") and type(digest) is str and \
                    _SHA256_LOWER(digest):
                out[path] = {"sha256": digest, "owner": owner}
                continue
        out[path] = _manifest_entry(manifest_rel, path, entry)
    return out


def _shown(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _manifest_entry(manifest_rel: str, path: str, entry: object) -> dict[str, str]:
    def bad(what: str) -> WriteError:
        return WriteError(f"{manifest_rel}: the entry for {_shown(path)} {what}; "
                          f"fix the entry, or remove the manifest {_START_OVER}")

    if path == manifest_rel:
        raise bad("names the manifest itself")
    if not isinstance(entry, dict):
        raise bad(f"is not an object (found {_shown(entry)})")
    digest = entry.get("sha256")
    if not isinstance(digest, str) or not _SHA256(digest):
        raise bad("has no \"sha256\" of 64 hexadecimal digits"
                  if digest is None else
                  f"has a \"sha256\" that is not 64 hexadecimal digits ({_shown(digest)})")
    owner = entry.get("owner", "setlist")
    if owner not in ("setlist", "user"):
        raise bad(f"has an \"owner\" other than \"setlist\" or \"user\" ({_shown(owner)})")
    out = {"sha256": digest.lower(), "owner": owner}
    if "edited" in entry:
        if entry["edited"] != "true":
            raise bad(f"has an \"edited\" other than \"true\" ({_shown(entry['edited'])})")
        out["edited"] = "true"
    return out


def _manifest_bytes(entries: dict[str, dict[str, str]]) -> bytes:
    """JSON with one file per line (short diffs in review); built by hand because the
    indenting encoder is pure Python and slow for tens of thousands of entries. An entry
    is written as ``{"sha256": ..., "owner": ...[, "edited": "true"]}``."""
    dumps, plain = json.dumps, _PLAIN_JSON
    lines = []
    for path in sorted(entries):
        entry = entries[path]
        digest, owner = entry["sha256"], entry["owner"]
        edited = ', "edited": "true"' if entry.get("edited") == "true" else ""
        if len(entry) == 2 + bool(edited) and plain(path) and plain(digest) and plain(owner):
            lines.append(f'    "{path}": {{"sha256": "{digest}", "owner": "{owner}"{edited}}}')
        else:
            lines.append(f"    {dumps(path)}: {dumps(entry, separators=(', ', ': '))}")
    body = ",\n".join(lines)
    return (f'{{\n  "version": {MANIFEST_VERSION},\n  "generator": "setlist",\n'
            f'  "files": {{\n{body}\n  }}\n}}\n' if lines else
            f'{{\n  "version": {MANIFEST_VERSION},\n  "generator": "setlist",\n'
            f'  "files": {{}}\n}}\n').encode("utf-8")


@gc_paused()
def plan_writes(documents: Iterable[Document], root: Path, *, force: bool = False,
                manifest_rel: str = MANIFEST,
                trusted: Mapping[str, str] | None = None,
                read: Manifest | None = None) -> WritePlan:
    """What writing ``documents`` below ``root`` would change, without changing anything.

    ``trusted`` maps paths to the SHA-256 of bytes known to be in those files (the compile
    cache's output record): a file whose new rendering has that hash is not read again.
    ``read``: the manifest, when the caller has just read it (``load_manifest``)."""
    plan = WritePlan(manifest=manifest_rel)
    trusted = trusted or {}
    if read is None:
        read = load_manifest(root, manifest_rel)
    manifest = read.entries
    entries: dict[str, dict[str, str]] = {}
    produced: set[str] = set()
    folders: dict[str, str] = {}
    for doc in documents:
        if doc.path in produced:
            # Two documents for one file (e.g. app "a" in env "b-c" and app "a-b" in env
            # "c" both give a-b-c.yaml): writing both would lose one, so write neither.
            plan.problems.append(Problem(
                doc.path, "more than one generated document would be written to this file",
                "rename an app or environment so that their names do not collide"))
            continue
        produced.add(doc.path)
        if doc.digest is not None:
            _reuse(plan, doc, manifest.get(doc.path), trusted, entries)
            continue
        target = _inside(root, doc.path, folders)
        fresh = render(doc)
        digest = sha256(fresh)
        old = fresh if trusted.get(doc.path) == digest else _read(target)
        recorded = manifest.get(doc.path)
        pristine = True
        if doc.owner == "user":
            new, pristine = _overlay_bytes(doc, old, recorded, plan, fresh)
        else:
            new = fresh
            if old is not None and old != new and not force:
                if recorded is None:
                    plan.problems.append(Problem(
                        doc.path, "exists but was not written by setlist; refusing to "
                        "overwrite it", "move it away, or pass --force to replace it"))
                elif sha256(old) != recorded["sha256"]:
                    plan.problems.append(Problem(
                        doc.path, "was edited by hand since setlist wrote it",
                        "put the change into the spec, or pass --force to discard the edit"))
        if new is None:
            plan.pristine = False
            continue
        entries[doc.path] = {"sha256": digest if new is fresh else sha256(new),
                             "owner": doc.owner}
        if not pristine:
            entries[doc.path]["edited"] = "true"
            plan.pristine = False
        plan.hashes[doc.path] = entries[doc.path]["sha256"]
        _record(plan, doc.path, old, new)
    for path in sorted(set(manifest) - produced):
        target = _inside(root, path, folders)
        old = _read(target)
        if old is None:
            continue
        # An overlay marked "edited" holds the user's own changes (patches and the like)
        # even when its bytes are what setlist last wrote: only its images: are setlist's.
        edited = manifest[path].get("edited") == "true"
        if (edited or sha256(old) != manifest[path]["sha256"]) and not force:
            what = "overlay" if manifest[path]["owner"] == "user" else "generated file"
            plan.problems.append(Problem(
                path, f"is a stale {what} (the spec no longer produces it) but was edited "
                "since setlist wrote it; refusing to remove it",
                "delete it yourself, or pass --force"))
            entries[path] = manifest[path]
            plan.pristine = False
            continue
        plan.changes.append(Change(path, "delete", old, None))
    manifest_old = read.data
    manifest_new = _manifest_bytes(entries)
    plan.hashes[manifest_rel] = sha256(manifest_new)
    if plan.changes or manifest_old != manifest_new:
        _record(plan, manifest_rel, manifest_old, manifest_new, listed=False)
    plan.changes.sort(key=lambda c: c.path)
    plan.unchanged.sort()
    return plan


def _reuse(plan: WritePlan, doc: Document, recorded: dict[str, str] | None,
           trusted: Mapping[str, str], entries: dict[str, dict[str, str]]) -> None:
    """A memo placeholder (``Document.digest``): the file holds what an earlier compile of
    the same inputs wrote, as the compile cache's output record and the manifest agree."""
    assert doc.digest is not None
    if recorded is None or recorded["sha256"] != doc.digest or \
            recorded["owner"] != doc.owner or trusted.get(doc.path) != doc.digest:
        plan.problems.append(Problem(
            doc.path, "changed while setlist was compiling", "run `setlist compile` again"))
        return
    entries[doc.path] = dict(recorded)
    if recorded.get("edited") == "true":
        plan.pristine = False
    plan.hashes[doc.path] = doc.digest
    plan.unchanged.append(doc.path)


def _record(plan: WritePlan, path: str, old: bytes | None, new: bytes,
            listed: bool = True) -> None:
    if old == new:
        if listed:
            plan.unchanged.append(path)
        return
    plan.changes.append(Change(path, "create" if old is None else "update", old, new))


def _overlay_bytes(doc: Document, old: bytes | None, recorded: dict[str, str] | None,
                   plan: WritePlan, fresh: bytes | None = None) -> tuple[bytes | None, bool]:
    """A user-owned overlay and whether it is Setlist's own rendering ("pristine").

    Absent, or still exactly as Setlist last rendered it: rendered afresh, so that a
    compile from scratch and an incremental one give the same bytes. Edited by someone (or
    not written by Setlist at all): only its images: list is replaced, round-trip.
    """
    if fresh is None:
        fresh = render(doc)
    if old is None or old == fresh:
        return fresh, True
    if recorded is not None and recorded.get("edited") != "true" and \
            sha256(old) == recorded["sha256"]:
        return fresh, True
    try:
        return update_overlay_images(old, doc.documents[0].get("images")), False
    except WriteError as exc:
        plan.problems.append(Problem(doc.path, str(exc),
                                     "fix the file, or delete it to have it generated anew"))
        return None, False


def update_overlay_images(text: bytes, images: list | None) -> bytes:
    """Replace only Setlist's `images:` entries of a user's kustomization (overlay_edit)."""
    from .overlay_edit import update_overlay_images as update

    return update(text, images)


# ---------------------------------------------------------------- applying


@gc_paused()
def apply(plan: WritePlan, root: Path,
          on_step: Callable[[int], None] | None = None) -> None:
    """Apply every change or none: stage new files, swap them in, roll back on failure.

    Files for folders that already exist are staged next to their targets and renamed over
    them one by one. Files for folders that do not exist yet (all of them, on a first
    compile) are staged as whole folder trees in a work folder and moved into place with
    one rename per new top folder. ``on_step`` is called after each change is in place
    (with its index); an exception from it rolls everything back like any other failure,
    which is how the tests prove that.
    """
    if plan.problems:
        raise WriteError("refusing to write: " + "; ".join(p.path for p in plan.problems))
    if not plan.changes:
        return
    # The output folder and its missing parents are created too, and removed again (when
    # empty) on failure, so that a failed first write leaves no trace either.
    created_dirs: list[Path] = [p for p in reversed((root, *root.parents)) if not p.exists()]
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".setlist-work-", dir=root))
    fresh = os.path.join(work, "new")   # trees of folders that do not exist yet
    backups = work / "old"
    backups.mkdir()
    folders: dict[str, str] = {}        # resolved folders, for _inside
    missing_top: dict[str, str | None] = {"": None}
    made: set[str] = set()               # folders made below `fresh`
    items: list[tuple[Change, Path, str | None, str | None]] = []
    done: list[list] = []                # [target, backup or None, file placed?]
    moved: list[str] = []                # new top folders moved into place

    def top_missing(folder: str) -> str | None:
        """The outermost folder of ``folder`` (relative) that does not exist yet."""
        if folder not in missing_top:
            up = top_missing(posixpath.dirname(folder))
            missing_top[folder] = up if up is not None else (
                None if os.path.isdir(os.path.join(root, folder)) else folder)
        return missing_top[folder]

    try:
        for change in plan.changes:
            target = _inside(root, change.path, folders)
            if change.new is None:
                items.append((change, target, None, None))
                continue
            folder = posixpath.dirname(change.path)
            top = top_missing(folder)
            if top is None:
                staged = os.path.join(target.parent, f".{target.name}.setlist-new")
            else:
                if folder not in made:
                    os.makedirs(os.path.join(fresh, folder), exist_ok=True)
                    made.add(folder)
                staged = os.path.join(fresh, change.path)
            # Recorded before writing, so that a write that fails half-way (a full disk, a
            # size limit) is cleaned up with the rest.
            items.append((change, target, staged, top))
            with open(staged, "wb") as f:
                f.write(change.new)
                if not _SYNC_ONCE:
                    f.flush()
                    os.fsync(f.fileno())
        if _SYNC_ONCE and any(c.action == "update" for c in plan.changes):
            # Every staged file is on disk before the first one replaces an old file, so a
            # crash cannot leave a half-written file where a good one was. Brand-new files
            # replace nothing; a rerun rewrites them.
            os.sync()
        placed_tops: set[str] = set()
        for index, (_change, target, staged, top) in enumerate(items):
            step: list = [target, None, False]
            done.append(step)
            if top is not None:
                if top not in placed_tops:
                    os.rename(os.path.join(fresh, top), os.path.join(root, top))
                    placed_tops.add(top)
                    moved.append(top)
            else:
                if os.path.lexists(target):
                    step[1] = backups / str(index)
                    os.replace(target, step[1])
                if staged is not None:
                    os.replace(staged, target)
                    step[2] = True
            if on_step is not None:
                on_step(index)
    except BaseException:
        for target, backup, placed in reversed(done):
            if placed:
                target.unlink(missing_ok=True)
            if backup is not None:
                os.replace(backup, target)
        for top in reversed(moved):
            shutil.rmtree(os.path.join(root, top), ignore_errors=True)
        for _, _, staged, top in items:
            if staged is not None and top is None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(staged)
        shutil.rmtree(work, ignore_errors=True)
        for folder in reversed(created_dirs):
            _remove_if_empty(folder)
        raise
    shutil.rmtree(work, ignore_errors=True)
    for change in plan.changes:
        if change.action == "delete":
            _prune_empty_parents(_inside(root, change.path, folders).parent, root)


# Staged files must be on disk before they replace the old ones. One sync() after staging
# gives that for every file at once; fsync() per file costs a disk flush each (seconds for
# thousands of files). Without os.sync (Windows), each staged file is fsync'ed.
_SYNC_ONCE = hasattr(os, "sync")


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def _prune_empty_parents(folder: Path, root: Path) -> None:
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def unified_diff(plan: WritePlan) -> str:
    import difflib

    out: list[str] = []
    for change in plan.changes:
        old = (change.old or b"").decode("utf-8", "replace").splitlines(keepends=True)
        new = (change.new or b"").decode("utf-8", "replace").splitlines(keepends=True)
        a = posixpath.join("a", change.path) if change.old is not None else "/dev/null"
        b = posixpath.join("b", change.path) if change.new is not None else "/dev/null"
        out.extend(difflib.unified_diff(old, new, a, b))
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n"
    return "".join(out)
