"""Files that change outside the editor: which ones the server asks the client to watch,
and which sessions a reported change concerns.

A project's diagnostics depend on more than its open buffers: the other ``*.setlist`` files
of the folder (created, changed or deleted by ``git checkout``, ``setlist new env`` or a
formatter), ``setlist.lock`` (policies judge the locked versions; ``setlist resolve``
rewrites it) and, for completion and hover of cluster labels, the configured inventory.
The protocol has no static way to ask for file events: the server registers watchers
(``client/registerCapability``) after ``initialized`` when the client supports dynamic
registration of ``workspace/didChangeWatchedFiles``.
"""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types as lsp
from pygls.uris import from_fs_path

from ..lockfile import LOCK_NAME
from ..project import SKIP_DIRS
from .session import Session, key_of

REGISTRATION_ID = "setlist-watched-files"
SPEC_GLOB = "**/*.setlist"
LOCK_GLOB = f"**/{LOCK_NAME}"


def can_register(caps: lsp.ClientCapabilities) -> tuple[bool, bool]:
    """Whether the client accepts watchers registered at run time, and whether it
    understands relative patterns (a base folder and a glob below it, LSP 3.17)."""
    watched = caps.workspace.did_change_watched_files if caps.workspace else None
    if watched is None:
        return False, False
    return bool(watched.dynamic_registration), bool(watched.relative_pattern_support)


def watchers(inventory: Path | None, relative: bool) -> list[lsp.FileSystemWatcher]:
    """Every spec file and lock of the workspace folders, and the inventory file.

    A plain glob covers the workspace folders only; an inventory may lie anywhere, so it is
    watched with a relative pattern (its folder and its name) when the client understands
    one, else by its name in the workspace folders (other files of that name are reported
    too, and ignored)."""
    out = [lsp.FileSystemWatcher(glob_pattern=SPEC_GLOB),
           lsp.FileSystemWatcher(glob_pattern=LOCK_GLOB)]
    if inventory is not None:
        pattern: lsp.GlobPattern = f"**/{inventory.name}"
        if relative:
            pattern = lsp.RelativePattern(base_uri=from_fs_path(str(inventory.parent)) or "",
                                          pattern=inventory.name)
        out.append(lsp.FileSystemWatcher(glob_pattern=pattern))
    return out


def registration(inventory: Path | None, relative: bool) -> lsp.RegistrationParams:
    return lsp.RegistrationParams(registrations=[lsp.Registration(
        id=REGISTRATION_ID, method=lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES,
        register_options=lsp.DidChangeWatchedFilesRegistrationOptions(
            watchers=watchers(inventory, relative)))])


def unregistration() -> lsp.UnregistrationParams:
    return lsp.UnregistrationParams(unregisterations=[lsp.Unregistration(
        id=REGISTRATION_ID, method=lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)])


def folder_of(session: Session) -> Path:
    """The folder whose ``setlist.lock`` the session's project reads: the workspace folder,
    or the folder of a lone file."""
    return session.root.parent if session.lone else session.root


def concerns(session: Session, path: Path) -> bool:
    """Whether a change of ``path`` on disk can change what ``session`` reports.

    The lock concerns the session whose project folder holds it. Any other path concerns
    the session when its last project read the file (an import from elsewhere, a standard
    library module of a source checkout) or when it lies in the folder where the project
    looks for spec files (a new file, a deleted folder), unless an open buffer replaces it:
    the editor's text wins over the disk's. A session that has not analysed anything yet
    reads every file when it first does: nothing concerns it."""
    project = session.last_loaded()
    if project is None:
        return False
    if path.name == LOCK_NAME:
        return _same(path.parent, folder_of(session))
    key = key_of(path)
    if key in session.buffers:
        return False
    if key in project.files:
        return True
    if not session.owns(path):
        return False
    inside = path.relative_to(session.root).parts[:-1] if path != session.root else ()
    return not any(part in SKIP_DIRS or part.startswith(".") for part in inside)


def _same(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False
