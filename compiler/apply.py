"""`setlist apply`: compile into the config repository and commit, safely when writers race.

One attempt: fetch the target branch into the cached clone, make the work tree exactly the
remote head, read the lock committed there, merge this run's lock changes into it (per
image and environment), compile the spec with the merged lock, write the output and the
lock, stage only those paths, commit and push.

Races: a push the remote refuses because it moved on (another writer landed first) starts
a new attempt from the new head — the other writer's lock entries are kept, this run's
changes are applied on top, the output is computed again from spec and merged lock, so
both changes land and history stays linear. Attempts are bounded and spaced with jittered
backoff; a shared branch is never force-pushed. In pull-request mode the change goes to a
branch of Setlist's own (``setlist/<envs>/<hash of the change>``), which a rerun of the
same change updates (force-with-lease, on that branch only).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import random
import shlex
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import lockfile
from .gitrepo import GitError, Repo, cached_clone, redact
from .lockfile import Lock, LockEntry
from .plan import deployments

__all__ = ["ApplyError", "ApplyOptions", "ApplyResult", "TEMPLATE_VARIABLES", "apply",
           "contested", "lock_delta", "merge_lock"]

DEFAULT_TEMPLATE = "setlist: {summary}\n\n{changes}"
TEMPLATE_VARIABLES = ("summary", "changes", "images", "envs", "spec_hash", "lock_hash",
                      "branch", "promotion")
MAX_ATTEMPTS = 6
BACKOFF_BASE = 0.2
BACKOFF_MAX = 5.0


class ApplyError(Exception):
    """The run stopped; ``exit_code`` is 1 (the spec or the repository content is at
    fault) or 3 (git or another external system failed). The text is redacted."""

    def __init__(self, message: str, exit_code: int = 3, details: tuple[str, ...] = ()):
        super().__init__(message)
        self.exit_code = exit_code
        self.details = details


@dataclass(frozen=True)
class ApplyOptions:
    repo: str
    branch: str
    mode: str = "auto"                # "commit", "pull-request" or "auto"
    dry_run: bool = False
    force: bool = False
    author: str | None = None
    template: str = DEFAULT_TEMPLATE
    open_pr_command: str | None = None
    # A Setlist-Promotion trailer, when promoting (a callable is asked once the change is
    # known).
    promotion: str | Callable[[], str | None] | None = None
    # In "auto" mode: asked once the change is known; True makes it a pull request.
    wants_review: Callable[[], bool] | None = None
    # Commit only when the lock changes (promote: no promotion, no commit, even when the
    # committed output is behind the spec).
    lock_changes_only: bool = False
    max_attempts: int = MAX_ATTEMPTS


@dataclass
class ApplyResult:
    status: str                       # "unchanged", "committed", "branch", "dry-run"
    message: str = ""
    commit: str | None = None
    branch: str | None = None
    paths: list[str] = field(default_factory=list)
    attempts: int = 1
    lock: Lock | None = None
    diffstat: str = ""


# ================================================================ lock merging


def lock_delta(desired: Lock, base: Lock) -> dict[tuple[str, str], LockEntry]:
    """What this run changes: the entries of ``desired`` that differ from ``base``."""
    return {k: v for k, v in desired.entries.items() if base.get(*k) != v}


def _decided(entry: LockEntry) -> tuple[str, str, str, str]:
    """When a version was decided (``since``: the resolve or promotion that chose it), then a
    fixed order of what it names, so that any two entries compare the same on every writer."""
    return (entry.since or "", entry.created or "", entry.tag or "", entry.digest or "")


def contested(delta: Mapping[tuple[str, str], LockEntry], base: Lock, remote: Lock
              ) -> dict[tuple[str, str], LockEntry]:
    """``delta`` without the entries another writer changed too, since ``base`` (the lock this
    run started from), with a later decision than ours. Two writers that change the same image
    in the same environment at once thus end on the later decision whichever lands last:
    the outcome depends on what was decided, not on who pushed first."""
    out = {}
    for key, ours in delta.items():
        theirs = remote.get(*key)
        if theirs is not None and theirs != base.get(*key) and theirs != ours and \
                _decided(theirs) > _decided(ours):
            continue
        out[key] = ours
    return out


def merge_lock(remote: Lock, delta: Mapping[tuple[str, str], LockEntry],
               deployed: set[tuple[str, str]]) -> Lock:
    """The remote lock with this run's changes on top, for the pairs still deployed."""
    merged = dict(remote.entries)
    merged.update(delta)
    return Lock(entries={k: v for k, v in merged.items() if k in deployed})


# ================================================================ messages


def _short(digest: str | None) -> str:
    return digest[:19] + "…" if digest and len(digest) > 19 else (digest or "")


def _version(entry: LockEntry | None) -> str:
    if entry is None:
        return "none"
    return entry.tag or _short(entry.digest)


def describe(old: Lock, new: Lock) -> tuple[str, str, list[str], list[str]]:
    """(summary, one line per change, images, environments) of the lock change."""
    keys = sorted(k for k in set(old.entries) | set(new.entries)
                  if old.get(*k) != new.get(*k))
    lines = []
    for image, env in keys:
        before, after = old.get(image, env), new.get(image, env)
        line = f"{image} {env}: {_version(before)} → {_version(after)}"
        if after is not None and after.digest:
            line += f" ({_short(after.digest)})"
        if after is not None and after.source and after.source != "registry":
            line += f" [{after.source}]"
        lines.append(line)
    images = sorted({k[0] for k in keys})
    envs = sorted({k[1] for k in keys})
    if not keys:
        summary = "regenerate the output from the spec"
    elif len(keys) == 1:
        summary = lines[0].split(" (")[0]
    else:
        summary = f"update {', '.join(images)} in {', '.join(envs)}"
    return summary, "\n".join(lines), images, envs


class _Strict(dict):
    def __missing__(self, key: str) -> str:
        raise KeyError(key)


def render_message(template: str, values: Mapping[str, str]) -> str:
    """The template with ``{variable}`` replaced; an unknown variable is a ValueError."""
    try:
        text = template.format_map(_Strict(values))
    except KeyError as exc:
        raise ValueError(f"unknown variable {{{exc.args[0]}}} in the message template "
                         f"(known: {', '.join(TEMPLATE_VARIABLES)})") from None
    except (ValueError, IndexError) as exc:
        raise ValueError(f"the message template cannot be used: {exc}") from None
    return text.rstrip() + "\n"


def trailers(spec_hash: str, lock_hash: str, promotion: str | None) -> str:
    lines = [f"Setlist-Spec: {spec_hash}", f"Setlist-Lock: {lock_hash}"]
    if promotion:
        lines.append(f"Setlist-Promotion: {promotion}")
    return "\n".join(lines) + "\n"


def spec_hash(project) -> str:  # noqa: ANN001
    digest = hashlib.sha256()
    for source in sorted(project.roots, key=lambda s: s.key):
        digest.update(source.key.encode() + b"\0" + source.text.encode() + b"\0")
    return digest.hexdigest()[:12]


# ================================================================ the run


def _lock_rel(project) -> str:  # noqa: ANN001
    root = project.spec.gitops.path.strip("/") if project.spec.gitops else ""
    return posixpath.join(root, lockfile.LOCK_NAME) if root else lockfile.LOCK_NAME


def _read_lock(repo: Repo, rel: str) -> Lock:
    """The lock committed in the repository (its work tree is reset to the fetched commit),
    read like any file someone else wrote: at most MAX_LOCK_BYTES, and never through a
    symbolic link, which could point anywhere on this machine (/dev/zero included)."""
    from .yamlguard import YAMLLimitError, read_capped

    path = repo.path / rel
    if path.is_symlink():
        raise ApplyError(f"{rel} in the config repository is a symbolic link; setlist reads "
                         "its lock only from a regular file", 1,
                         ("replace the link with the lock itself",))
    try:
        text = read_capped(path, lockfile.MAX_LOCK_BYTES).decode("utf-8")
    except FileNotFoundError:
        return Lock()
    except YAMLLimitError as exc:
        raise ApplyError(f"{rel} in the config repository {exc}", 1,
                         ("a lock holds one entry per image and environment; replace it "
                          "with one written by setlist resolve",)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ApplyError(f"{rel} in the config repository cannot be read ({exc})", 1) \
            from None
    try:
        return lockfile.parse(text, rel)
    except lockfile.LockError as exc:
        raise ApplyError(f"the config repository's {exc}", 1) from None


def _mode_for(options: ApplyOptions, project, envs: list[str]) -> str:  # noqa: ANN001
    if options.mode != "auto":
        return options.mode
    if options.wants_review is not None and options.wants_review():
        return "pull-request"
    by_name = {e.name: e for e in project.spec.environments}
    wants_review = any(by_name[e].writeback == "pull_request" for e in envs if e in by_name)
    return "pull-request" if wants_review else "commit"


def apply(project, desired: Lock | None, options: ApplyOptions, *,  # noqa: ANN001
          environ: Mapping[str, str], log: Callable[[str], None] = lambda text: None,
          sleep: Callable[[float], object] = time.sleep,
          resolver: Callable[[Lock], Lock] | None = None) -> ApplyResult:
    """Commit what ``project`` (checked) produces into ``options.repo``. Raises ApplyError.

    This run's lock changes are either ``resolver(repository's lock)`` (resolution against
    what is committed), or the entries of ``desired`` (the project's own setlist.lock) that
    the repository does not have — except entries the repository had once and has since
    moved on from, which are a stale local lock, not a change (see :func:`_unseen`)."""
    from .write import WriteError, plan_writes
    from .write import apply as write_files

    deployed = set(deployments(project.spec))
    lock_rel = _lock_rel(project)
    secrets = [environ.get("SETLIST_GIT_TOKEN", "")]
    shown_repo = redact(options.repo, secrets)
    try:
        with cached_clone(options.repo, environ) as repo:
            delta: dict[tuple[str, str], LockEntry] | None = None
            base = Lock()
            for attempt in range(1, options.max_attempts + 1):
                head = repo.fetch(options.branch)
                repo.reset_to(head, options.branch)
                remote = _read_lock(repo, lock_rel)
                if delta is None:
                    base = remote
                    if resolver is not None:  # resolved against the repository's lock
                        delta = lock_delta(resolver(remote), remote)
                    elif desired is not None:
                        delta = _unseen(repo, lock_rel, lock_delta(desired, remote))
                    else:
                        delta = {}
                mine = contested(delta, base, remote)
                if not mine and options.lock_changes_only:
                    return ApplyResult("unchanged", attempts=attempt, lock=remote)
                merged = merge_lock(remote, mine, deployed)
                result = project.compile(merged)
                errors = [d for d in result.diagnostics if d.severity.value == "error"]
                if errors:
                    raise ApplyError("the spec does not compile with the repository's lock",
                                     1, tuple(f"{d.span}: {d.code}: {d.message}"
                                              for d in errors))
                try:
                    plan = plan_writes(result.documents, repo.path, force=options.force)
                except WriteError as exc:
                    raise ApplyError(str(exc), 3) from None
                if plan.problems:
                    raise ApplyError(
                        "the config repository has changes setlist would overwrite", 1,
                        tuple(f"{p.path}: {p.message}" + (f" ({p.hint})" if p.hint else "")
                              for p in plan.problems))
                lock_text = lockfile.dump(merged) if merged.entries else None
                try:
                    _write_clone(repo, plan, lock_rel, lock_text, write_files)
                except OSError as exc:  # a full disk: say where, not only the errno
                    raise ApplyError(f"{shown_repo}: cannot write the output into the "
                                     f"cached clone {repo.path}: {exc.strerror or exc}",
                                     3) from None
                candidates = sorted({c.path for c in plan.changes} | {lock_rel})
                changed = repo.changed_paths(candidates)
                if not changed:
                    return ApplyResult("unchanged", attempts=attempt, lock=merged)
                summary, lines, images, envs = describe(remote, merged)
                mode = _mode_for(options, project, envs)
                lock_hash = hashlib.sha256((lock_text or "").encode()).hexdigest()[:12]
                s_hash = spec_hash(project)
                change_hash = hashlib.sha256(json.dumps(
                    [s_hash, sorted((list(k), v.model_dump()) for k, v in delta.items())],
                    sort_keys=True, default=str).encode()).hexdigest()[:10]
                branch = (f"setlist/{'+'.join(envs) or 'all'}/{change_hash}"
                          if mode == "pull-request" else options.branch)
                promotion = options.promotion() if callable(options.promotion) \
                    else options.promotion
                values = {"summary": summary, "changes": lines, "images": ", ".join(images),
                          "envs": ", ".join(envs), "spec_hash": s_hash,
                          "lock_hash": lock_hash, "branch": branch,
                          "promotion": promotion or ""}
                try:
                    body = render_message(options.template, values)
                except ValueError as exc:
                    raise ApplyError(str(exc), 2) from None
                message = body + "\n" + trailers(s_hash, lock_hash, promotion)
                if options.dry_run:
                    stat = repo.run("diff", "--cached", "--stat").stdout
                    repo.reset_to(head, options.branch)
                    return ApplyResult("dry-run", message=message, branch=branch,
                                       paths=changed, attempts=attempt, lock=merged,
                                       diffstat=stat)
                commit = repo.commit(message, options.author)
                if mode == "pull-request" and repo.remote_tree(branch) == repo.tree():
                    log(f"branch {branch} already holds this change")
                    return ApplyResult("branch", message=message, commit=None,
                                       branch=branch, paths=changed, attempts=attempt,
                                       lock=merged)
                try:
                    if mode == "pull-request":
                        lease = _remote_branch(repo, branch)
                        repo.push("HEAD", branch, lease=lease, force_with_lease=True)
                    else:
                        repo.push("HEAD", options.branch)
                except GitError as exc:
                    if not exc.rejected or attempt == options.max_attempts:
                        raise
                    delay = random.random() * min(BACKOFF_MAX, BACKOFF_BASE * 2 ** attempt)
                    log(f"the remote moved on; trying again from its new head "
                        f"(attempt {attempt + 1} of {options.max_attempts})")
                    sleep(delay)
                    continue
                if mode == "pull-request":
                    _open_request(options, branch, summary, message, environ, log)
                    return ApplyResult("branch", message=message, commit=commit,
                                       branch=branch, paths=changed, attempts=attempt,
                                       lock=merged)
                return ApplyResult("committed", message=message, commit=commit,
                                   branch=options.branch, paths=changed, attempts=attempt,
                                   lock=merged)
            raise ApplyError(f"gave up after {options.max_attempts} attempts: the remote "
                             "kept moving", 3)
    except GitError as exc:
        text = redact(str(exc), secrets)
        if any(s in text for s in ("could not read Username", "Authentication failed",
                                   "could not read Password")):
            text += (" (git needs credentials for this repository: set SETLIST_GIT_TOKEN, or "
                     "configure a git credential helper or ssh key)")
        raise ApplyError(f"{shown_repo}: {text}", 3) from None
    except OSError as exc:
        raise ApplyError(f"{shown_repo}: {redact(str(exc), secrets)}", 3) from None


def _write_clone(repo: Repo, plan, lock_rel: str, lock_text: str | None,  # noqa: ANN001
                 write_files: Callable) -> None:
    """The output and the lock into the clone's work tree (reset again by the next run, so
    a failure half-way leaves nothing that lasts)."""
    write_files(plan, repo.path)
    lock_path = repo.path / lock_rel
    if lock_text is not None:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        if not lock_path.exists() or lock_path.read_text("utf-8") != lock_text:
            lock_path.write_text(lock_text, encoding="utf-8")
    elif lock_path.exists():
        lock_path.unlink()


#: How far back the lock's history is read to tell a stale local entry from a change.
HISTORY_DEPTH = 200


def _unseen(repo: Repo, lock_rel: str, delta: dict[tuple[str, str], LockEntry]
            ) -> dict[tuple[str, str], LockEntry]:
    """The entries of ``delta`` that never were in the repository's lock. A local lock
    that is behind (made before other writers landed) still holds versions the repository
    had and replaced; pushing those would undo the other writers' work. Rolling back to an
    earlier version is a pin in the spec, or a promotion — not an old local lock."""
    if not delta:
        return delta
    done = repo.run("log", f"-n{HISTORY_DEPTH}", "--format=%H", "--", lock_rel, check=False)
    seen: dict[tuple[str, str], list[LockEntry]] = {}
    # a past lock too large to read (or deleted, or unreadable) tells nothing: skipped
    for _commit, text in repo.read_files(done.stdout.split(), lock_rel,
                                         lockfile.MAX_LOCK_BYTES):
        if text is None:
            continue
        try:
            past = lockfile.parse(text, lock_rel)
        except lockfile.LockError:
            continue
        for key in delta:
            value = past.get(*key)
            if value is not None:
                seen.setdefault(key, []).append(value)
    return {k: v for k, v in delta.items() if not any(_same_version(v, old)
                                                       for old in seen.get(k, ()))}


def _same_version(a: LockEntry, b: LockEntry) -> bool:
    return (a.repository, a.tag, a.digest) == (b.repository, b.tag, b.digest)


def _remote_branch(repo: Repo, branch: str) -> str:
    """The commit Setlist's own branch has on the remote now ('' when it does not exist),
    the lease for a force-push that must not overwrite anyone else's push."""
    done = repo.run("ls-remote", "origin", f"refs/heads/{branch}", check=False)
    return done.stdout.split()[0] if done.returncode == 0 and done.stdout.strip() else ""


def _open_request(options: ApplyOptions, branch: str, title: str, message: str,
                  environ: Mapping[str, str], log: Callable[[str], None]) -> None:
    """Run the --open-pr-command (its {branch}, {base}, {title} and {body_file} are
    replaced, each shell-quoted), or say what to do."""
    if not options.open_pr_command:
        log(f"pushed branch {branch}; open a pull request from it into {options.branch}")
        return
    import tempfile

    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".md",
                                     delete=False) as handle:
        handle.write(message)
    try:
        values = {"branch": branch, "base": options.branch, "title": f"setlist: {title}",
                  "body_file": handle.name}
        command = options.open_pr_command
        for key, value in values.items():
            command = command.replace("{" + key + "}", shlex.quote(value))
        done = subprocess.run(command, shell=True, env=dict(environ), capture_output=True,
                              text=True, timeout=300)
    finally:
        Path(handle.name).unlink(missing_ok=True)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        tail = redact(lines[-1] if lines else "no message",
                      [environ.get("SETLIST_GIT_TOKEN", "")])
        raise ApplyError(f"the branch {branch} was pushed, but the pull-request command "
                         f"failed (exit {done.returncode}): {tail}", 3)
    log(f"pushed branch {branch} and ran the pull-request command")
