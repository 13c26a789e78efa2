"""`setlist lsp`: the language server, a thin face over the session (pygls, over stdio).

Every analysis goes through ``setlist.project.load`` (see ``session.py``); this module only
wires protocol messages to the features and keeps one session per workspace folder.
Handlers never let an exception reach the client: problems are logged to stderr and to the
client's log, and the request answers with nothing.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from .. import __version__
from ..diagnostics import Diagnostic
from ..fmt import FormatError, format_source
from ..inventory import SECRET_TYPE_LABEL, InventoryError, read_inventory
from ..lockfile import LOCK_NAME
from . import actions, completion, hover, navigation, watch
from .diagnostics import to_lsp
from .index import Index
from .positions import UTF16, LineIndex
from .session import Session, key_of, normalise_newlines, path_of, stdlib_dir
from .view import View

DEFAULT_DEBOUNCE = 0.15  # seconds between the last keystroke and the analysis


class SetlistServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("setlist", __version__,
                         text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental)
        self.sessions: dict[Path, Session] = {}     # folder (or lone file) -> session
        self.debounce = DEFAULT_DEBOUNCE
        self.inventory_path: Path | None = None
        self._inventory: tuple[float, dict[str, set[str]]] | None = None
        self._pending: dict[Path, asyncio.Task] = {}
        self._last_edit: dict[Path, float] = {}  # monotonic time of each root's last edit
        self._indexes: dict[Path, Index] = {}
        self._initialized = False
        self._watching = False                   # watchers registered with the client
        self._watch_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()   # background requests to the client

    # configuration ---------------------------------------------------------------------
    def configure(self, params: lsp.InitializeParams) -> None:
        folders = [f.uri for f in params.workspace_folders or ()]
        if not folders and params.root_uri:
            folders = [params.root_uri]
        for uri in folders:
            path = _path(uri)
            if path is not None:
                self.sessions[path] = Session(root=path)
        options = params.initialization_options or {}
        if not isinstance(options, dict):
            options = {}
        self.apply_options(options)

    def apply_options(self, options: dict[str, Any]) -> None:
        debounce = options.get("debounceMs")
        if isinstance(debounce, (int, float)) and debounce >= 0:
            self.debounce = debounce / 1000
        inventory = options.get("inventory")
        if isinstance(inventory, str) and inventory:
            path = Path(os.path.expanduser(inventory))
            if not path.is_absolute() and self.sessions:
                path = sorted(self.sessions)[0] / path
            if path.absolute() != self.inventory_path:
                self.inventory_path = path.absolute()
                self._inventory = None
                if self._initialized:  # watch the new file instead of the old one
                    self.background(self.watch_files())

    def open_text(self, uri: str) -> str | None:
        """The editor's text of a document it has open, else None."""
        document = self.workspace.text_documents.get(unquote(uri))  # as pygls keys them
        return document.source if document is not None else None

    def supports_markdown(self, feature: str) -> bool:
        """Whether the client renders Markdown in completion documentation or hovers."""
        caps = self.client_capabilities.text_document
        if feature == "completion":
            item = caps.completion.completion_item if caps and caps.completion else None
            formats = item.documentation_format if item else None
        else:
            formats = caps.hover.content_format if caps and caps.hover else None
        return bool(formats) and lsp.MarkupKind.Markdown in formats

    @property
    def encoding(self) -> str:
        raw = self.workspace.position_encoding or UTF16
        return str(getattr(raw, "value", raw))

    def labels(self) -> dict[str, set[str]]:
        """Cluster label keys and values of the configured inventory (read again when the
        file changes)."""
        if self.inventory_path is None:
            return {}
        try:
            mtime = self.inventory_path.stat().st_mtime
        except OSError:
            return {}
        if self._inventory is None or self._inventory[0] != mtime:
            labels: dict[str, set[str]] = {}
            try:
                for cluster in read_inventory(self.inventory_path).clusters:
                    for key, value in cluster.labels.items():
                        if key != SECRET_TYPE_LABEL:
                            labels.setdefault(key, set()).add(value)
            except InventoryError as exc:
                self.log(f"inventory: {exc}")
            self._inventory = (mtime, labels)
        return self._inventory[1]

    # sessions --------------------------------------------------------------------------
    def locate(self, uri: str) -> tuple[Session, str] | None:
        """The session a document belongs to and its key there."""
        path = _path(uri)
        if path is None:
            return None
        key = key_of(path)
        if _below(path, stdlib_dir()):
            for session in self.sessions.values():
                project = session.last_project() if session.buffers else None
                if project is not None and key in project.files:
                    return session, key
        owners = [root for root, s in self.sessions.items() if s.owns(path)]
        if owners:
            root = max(owners, key=lambda p: len(p.parts))
            return self.sessions[root], key
        session = self.sessions.setdefault(path, Session(root=path, lone=True))
        return session, key

    def index(self, session: Session, project) -> Index:
        cached = self._indexes.get(session.root)
        if cached is not None and cached.project is project:
            return cached
        index = self._indexes[session.root] = Index(project)
        return index

    def view(self, uri: str, fresh: bool = True) -> View | None:
        found = self.locate(uri)
        if found is None:
            return None
        session, key = found
        project = session.project() if fresh else session.last_project()
        if project is None or key not in project.files:
            return None
        return View(session=session, project=project, index=self.index(session, project),
                    key=key, encoding=self.encoding, inventory=self.labels())

    # documents and diagnostics -----------------------------------------------------------
    def document_changed(self, uri: str) -> None:
        found = self.locate(uri)
        if found is None:
            return
        session, key = found
        document = self.workspace.get_text_document(uri)
        session.set_buffer(key, document.source)
        self.schedule(session)

    def schedule(self, session: Session) -> None:
        """Analyse ``session`` after an edit: at once when it follows a quiet spell (no
        edit for the debounce time, nothing waiting), so that an isolated change is
        answered without delay; otherwise once the edits pause for the debounce time, so
        that a burst of keystrokes is analysed once, with its last text."""
        now = time.monotonic()
        last = self._last_edit.get(session.root)
        self._last_edit[session.root] = now
        pending = self._pending.pop(session.root, None)
        if pending is not None:
            pending.cancel()
        quiet = pending is None and (last is None or now - last >= self.debounce)
        self._pending[session.root] = asyncio.get_running_loop().create_task(
            self._analyse_later(session, 0.0 if quiet else self.debounce))

    async def _analyse_later(self, session: Session, delay: float) -> None:
        await asyncio.sleep(delay)
        self._pending.pop(session.root, None)
        try:
            self.publish(session)
        except Exception:  # never let one bad analysis stop the server
            self.log("analysis failed:\n" + traceback.format_exc())

    def publish(self, session: Session) -> None:
        project = session.project()
        if project is None:
            return
        by_file: dict[str, list[Diagnostic]] = {}
        for diag in project.diagnostics:
            by_file.setdefault(diag.span.file, []).append(diag)
        view = View(session=session, project=project, index=self.index(session, project),
                    key="", encoding=self.encoding)
        keys = set(by_file) | session.published | set(session.buffers)
        for key in sorted(keys):
            if session.is_std(key):
                continue
            lines = view.lines(key)
            items = [to_lsp(d, lines, lambda k: (view.uri(k), view.lines(k)))
                     for d in by_file.get(key, ())]
            self.text_document_publish_diagnostics(
                lsp.PublishDiagnosticsParams(uri=view.uri(key), diagnostics=items))
        session.published = {k for k in by_file if not session.is_std(k)}

    # files changed outside the editor ---------------------------------------------------
    async def client_ready(self) -> None:
        """The client takes requests from the server from now on: ask it to watch files."""
        self._initialized = True
        await self.watch_files()

    async def watch_files(self) -> None:
        """Ask the client to report changes of spec files, locks and the inventory; again,
        with the new inventory, after the setting changed. Only a client that supports
        dynamic registration is asked; the others send what they send."""
        dynamic, relative = watch.can_register(self.client_capabilities)
        if not dynamic:
            return
        async with self._watch_lock:
            if self._watching:
                self._watching = False
                try:
                    await self.client_unregister_capability_async(watch.unregistration())
                except Exception as exc:  # registering again replaces the watchers anyway
                    self.log(f"the client kept the old file watchers: {exc!r}")
            try:
                await self.client_register_capability_async(
                    watch.registration(self.inventory_path, relative))
                self._watching = True
            except Exception as exc:  # refused: edits, saves and closes still count
                self.log(f"files changed outside the editor will not be seen: {exc!r}")

    def background(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def files_changed(self, changes: Sequence[lsp.FileEvent]) -> None:
        """Files created, changed or deleted on disk: analyse again every session they
        concern (open buffers keep their text), after forgetting what was read of them."""
        touched: dict[Path, Session] = {}
        for change in changes:
            path = _path(change.uri)
            if path is None:
                continue
            if path == self.inventory_path:
                self._inventory = None  # read again at the next completion or hover
                continue
            if path.name == LOCK_NAME:
                hover.forget_lock(os.path.abspath(path.parent))
            for root, session in self.sessions.items():
                if watch.concerns(session, path):
                    touched[root] = session
        for root in sorted(touched):
            touched[root].touch()
            self.schedule(touched[root])

    # workspace folders -------------------------------------------------------------------
    def folders_changed(self, added: Iterable[Path], removed: Iterable[Path]) -> None:
        """Folders come and go: open documents move to the session that owns them now, and
        diagnostics of files no session answers for any more are cleared."""
        added = sorted(added)
        for path in added:
            self.sessions.setdefault(path, Session(root=path))
        for path in sorted(removed):
            if path not in added:
                self.drop_session(path)
        for path in added:  # a lone file of the new folder is part of it now
            for root, session in list(self.sessions.items()):
                if session.lone and path in root.parents:
                    self.drop_session(root)

    def drop_session(self, root: Path) -> None:
        session = self.sessions.pop(root, None)
        if session is None:
            return
        pending = self._pending.pop(root, None)
        if pending is not None:
            pending.cancel()
        self._indexes.pop(root, None)
        self._last_edit.pop(root, None)
        heirs: dict[Path, Session] = {}
        kept: set[str] = set()  # open documents another folder answers for now
        for key, text in sorted(session.buffers.items()):
            found = self.locate(from_fs_path(str(path_of(key, session))) or "")
            if found is None:
                continue
            heir, heir_key = found
            heir.set_buffer(heir_key, text)
            heirs[heir.root] = heir
            if not heir.lone:
                kept.add(key)
        for other in self.sessions.values():
            if other.published & session.published:  # publish their view of those again
                heirs[other.root] = other
        still = {k for other in self.sessions.values() for k in other.published}
        for key in sorted(session.published - kept - still):
            self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
                uri=from_fs_path(str(path_of(key, session))) or "", diagnostics=[]))
        for heir_root in sorted(heirs):
            self.schedule(heirs[heir_root])

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Errors outside a request (a notification handler, a message that does not
        parse) go to the log, not into a pop-up with the exception's text."""
        self.log(f"internal error ({getattr(source, '__name__', source)}): {error!r}")

    def log(self, message: str) -> None:
        print(f"setlist lsp: {message}", file=sys.stderr, flush=True)
        try:
            self.window_log_message(lsp.LogMessageParams(type=lsp.MessageType.Error,
                                                         message=message))
        except Exception:  # the connection may be gone
            pass


def _path(uri: str) -> Path | None:
    fs = to_fs_path(uri)
    return Path(fs).absolute() if fs else None


def _below(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder)
    except (ValueError, OSError):
        return False
    return True


server = SetlistServer()


def guarded(fn: Callable) -> Callable:
    """Protocol errors go to the client as errors; anything else is logged, answered
    with nothing, and the server carries on."""
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def run_async(*args: Any) -> Any:
            try:
                return await fn(*args)
            except (JsonRpcException, asyncio.CancelledError):
                raise
            except Exception:
                server.log(f"{fn.__name__} failed:\n{traceback.format_exc()}")
                return None
        return run_async

    @functools.wraps(fn)
    def run(*args: Any) -> Any:
        try:
            return fn(*args)
        except JsonRpcException:
            raise
        except Exception:
            server.log(f"{fn.__name__} failed:\n{traceback.format_exc()}")
            return None
    return run


def feature(method: str, options: Any = None) -> Callable:
    def register(fn: Callable) -> Callable:
        wrapped = guarded(fn)
        if options is None:
            server.feature(method)(wrapped)
        else:
            server.feature(method, options)(wrapped)
        return wrapped
    return register


# ---------------------------------------------------------------- lifecycle and sync

@feature(lsp.INITIALIZE)
def initialize(ls: SetlistServer, params: lsp.InitializeParams) -> None:
    ls.configure(params)


@feature(lsp.INITIALIZED)
async def initialized(ls: SetlistServer, params: lsp.InitializedParams) -> None:
    await ls.client_ready()


@feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)
def did_change_configuration(ls: SetlistServer,
                             params: lsp.DidChangeConfigurationParams) -> None:
    settings = params.settings
    if isinstance(settings, dict):
        ls.apply_options(settings.get("setlist", settings))


@feature(lsp.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
async def did_change_workspace_folders(ls: SetlistServer,
                                       params: lsp.DidChangeWorkspaceFoldersParams) -> None:
    added = [p for f in params.event.added if (p := _path(f.uri)) is not None]
    removed = [p for f in params.event.removed if (p := _path(f.uri)) is not None]
    ls.folders_changed(added, removed)


@feature(lsp.TEXT_DOCUMENT_DID_OPEN)
async def did_open(ls: SetlistServer, params: lsp.DidOpenTextDocumentParams) -> None:
    ls.document_changed(params.text_document.uri)


@feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
async def did_change(ls: SetlistServer, params: lsp.DidChangeTextDocumentParams) -> None:
    ls.document_changed(params.text_document.uri)


@feature(lsp.TEXT_DOCUMENT_DID_SAVE)
async def did_save(ls: SetlistServer, params: lsp.DidSaveTextDocumentParams) -> None:
    found = ls.locate(params.text_document.uri)
    if found is not None:
        found[0].touch()
        ls.schedule(found[0])


@feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
async def did_close(ls: SetlistServer, params: lsp.DidCloseTextDocumentParams) -> None:
    found = ls.locate(params.text_document.uri)
    if found is not None:
        session, key = found
        session.drop_buffer(key)  # the file on disk counts again
        ls.schedule(session)


@feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)
async def did_change_watched_files(ls: SetlistServer,
                                   params: lsp.DidChangeWatchedFilesParams) -> None:
    ls.files_changed(params.changes)


# ---------------------------------------------------------------- features

@feature(lsp.TEXT_DOCUMENT_HOVER)
def on_hover(ls: SetlistServer, params: lsp.HoverParams) -> lsp.Hover | None:
    view = ls.view(params.text_document.uri)
    if view is None:
        return None
    occ = view.index.file(view.key).at(view.offset(params.position))
    if occ is None:
        return None
    return hover.hover(view, occ, markdown=ls.supports_markdown("hover"))


@feature(lsp.TEXT_DOCUMENT_COMPLETION,
         lsp.CompletionOptions(trigger_characters=[".", '"', " ", "[", "/"]))
def on_completion(ls: SetlistServer, params: lsp.CompletionParams) -> lsp.CompletionList:
    uri = params.text_document.uri
    found = ls.locate(uri)
    if found is None:
        return lsp.CompletionList(is_incomplete=False, items=[])
    session, key = found
    text = normalise_newlines(ls.workspace.get_text_document(uri).source)
    offset = LineIndex(text, ls.encoding).offset(params.position)
    project = session.last_project()
    index = ls.index(session, project) if project is not None else None
    items = completion.complete(text, offset, key, index, ls.labels(), ls.encoding,
                                markdown=ls.supports_markdown("completion"))
    return lsp.CompletionList(is_incomplete=False, items=items)


@feature(lsp.TEXT_DOCUMENT_DEFINITION)
def on_definition(ls: SetlistServer, params: lsp.DefinitionParams) -> list[lsp.Location]:
    view = ls.view(params.text_document.uri)
    if view is None:
        return []
    occ = view.index.file(view.key).at(view.offset(params.position))
    return navigation.definition(view, occ) if occ is not None else []


@feature(lsp.TEXT_DOCUMENT_REFERENCES)
def on_references(ls: SetlistServer, params: lsp.ReferenceParams) -> list[lsp.Location]:
    view = ls.view(params.text_document.uri)
    if view is None:
        return []
    occ = view.index.file(view.key).at(view.offset(params.position))
    if occ is None:
        return []
    return navigation.references(view, occ, params.context.include_declaration)


@feature(lsp.TEXT_DOCUMENT_PREPARE_RENAME)
def on_prepare_rename(ls: SetlistServer, params: lsp.PrepareRenameParams):
    view = ls.view(params.text_document.uri)
    if view is None:
        return None
    occ = view.index.file(view.key).at(view.offset(params.position))
    return navigation.prepare_rename(view, occ)


@feature(lsp.TEXT_DOCUMENT_RENAME, lsp.RenameOptions(prepare_provider=True))
def on_rename(ls: SetlistServer, params: lsp.RenameParams) -> lsp.WorkspaceEdit | None:
    view = ls.view(params.text_document.uri)
    if view is None:
        return None
    occ = view.index.file(view.key).at(view.offset(params.position))
    return navigation.rename(view, occ, params.new_name, ls.open_text)


@feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def on_document_symbol(ls: SetlistServer,
                       params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
    view = ls.view(params.text_document.uri)
    return navigation.document_symbols(view) if view is not None else []


@feature(lsp.WORKSPACE_SYMBOL)
def on_workspace_symbol(ls: SetlistServer,
                        params: lsp.WorkspaceSymbolParams) -> list[lsp.WorkspaceSymbol]:
    views = []
    for session in list(ls.sessions.values()):
        project = session.project()
        if project is not None and project.files:
            views.append(View(session=session, project=project,
                              index=ls.index(session, project), key="",
                              encoding=ls.encoding))
    return navigation.workspace_symbols(views, params.query)


@feature(lsp.TEXT_DOCUMENT_FORMATTING)
def on_formatting(ls: SetlistServer,
                  params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit] | None:
    uri = params.text_document.uri
    text = ls.workspace.get_text_document(uri).source
    found = ls.locate(uri)
    name = found[1] if found is not None else uri
    try:
        formatted = format_source(text, name)
    except FormatError as exc:
        ls.log(f"not formatted, the file does not parse: {exc}")
        return None
    if formatted == text:
        return []
    lines = LineIndex(text, ls.encoding)
    return [lsp.TextEdit(range=lines.range(0, len(text)), new_text=formatted)]


@feature(lsp.TEXT_DOCUMENT_CODE_ACTION,
         lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix]))
def on_code_action(ls: SetlistServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
    view = ls.view(params.text_document.uri)
    if view is None:
        return []
    return actions.code_actions(view, params.text_document.uri,
                                list(params.context.diagnostics))


class _ExpectedRefusals(logging.Filter):
    """A refused request (an invalid new name, say) is an answer, not a server fault:
    keep pygls from logging it with a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, JsonRpcException)


def serve() -> None:
    """Speak LSP on stdin/stdout until the client says exit."""
    logging.getLogger("pygls.protocol.json_rpc").addFilter(_ExpectedRefusals())
    server.start_io()


__all__ = ["SetlistServer", "serve", "server"]
