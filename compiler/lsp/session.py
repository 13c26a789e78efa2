"""One workspace's analysis: which files belong together, their buffers, the last Project.

A session runs the same pipeline as ``setlist check FOLDER``: ``setlist.project.load`` over
the workspace folder, with the editor's unsaved buffers as overrides. It keeps the last
Project and loads again only when a buffer or a file changed, so that hover and completion
answer from memory. Parses are cached per file and text: after an edit only the edited file
is parsed again, and in it only the declarations whose text changed (``parsing.py``); the
checker, which needs every file, runs over the whole project.

Files are named by the project's display paths (relative to the server's working folder when
below it, else absolute; ``std/NAME.setlist`` for the standard library). The working folder
never changes while the server runs, so ``os.path.abspath(key)`` turns a key back into the
file it names.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from .. import model as m
from ..diagnostics import Diagnostic
from ..packaged import std_folder
from ..project import STD_PREFIX, LoadError, Project, discover, display_path, load
from .parsing import SessionParser


@cache
def stdlib_dir() -> Path:
    """The folder of the installed standard library modules (real files on disk)."""
    return Path(std_folder()).resolve()


def normalise_newlines(text: str) -> str:
    """Buffers are read as ``setlist check`` reads files: CRLF and CR are newlines."""
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


class ParseCache:
    """``parse_source`` remembered per file for its last text (modules are immutable);
    a changed file is parsed declaration by declaration, reusing unchanged ones."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[str, tuple[m.Module, list[Diagnostic]]]] = {}
        self._parse = SessionParser()
        self.hits = 0
        self.misses = 0

    def __call__(self, text: str, key: str) -> tuple[m.Module, list[Diagnostic]]:
        known = self._last.get(key)
        if known is not None and known[0] == text:
            self.hits += 1
            return known[1]
        self.misses += 1
        result = self._parse(text, key)
        self._last[key] = (text, result)
        return result


@dataclass
class Session:
    """The files of one workspace folder (or one lone file) and their last analysis."""

    root: Path                        # absolute: a folder, or a file outside every folder
    lone: bool = False                # root is a file outside every workspace folder
    buffers: dict[str, str] = field(default_factory=dict)   # key -> text of open documents
    parse_cache: ParseCache = field(default_factory=ParseCache)
    generation: int = 0               # bumped by every change
    _project: Project | None = None
    _loaded: int = -1                 # generation of _project
    _disk_keys: frozenset[str] | None = None   # the folder's own files, found lazily
    published: set[str] = field(default_factory=set)  # keys with diagnostics on the client
    load_error: str | None = None
    loads: int = 0

    # membership ----------------------------------------------------------------------
    def owns(self, path: Path) -> bool:
        if self.root.is_dir():
            return path == self.root or self.root in path.parents
        return path == self.root

    # changes ------------------------------------------------------------------------
    def set_buffer(self, key: str, text: str) -> None:
        self.buffers[key] = normalise_newlines(text)
        self.generation += 1

    def drop_buffer(self, key: str) -> None:
        self.buffers.pop(key, None)
        self.generation += 1

    def touch(self) -> None:
        """A file changed on disk (saved, created, deleted): load again next time."""
        self.generation += 1

    @property
    def stale(self) -> bool:
        return self._loaded != self.generation

    # analysis -----------------------------------------------------------------------
    def project(self) -> Project | None:
        """The current Project, loaded again only when something changed."""
        if self._project is not None and not self.stale:
            return self._project
        generation = self.generation
        try:
            project = load([self.root], overrides=self._overrides(), parse=self.parse_cache)
            self._disk_keys = None
            self.load_error = None
        except LoadError as exc:
            # The folder or file went away: keep what the buffers say, report on stderr.
            self.load_error = str(exc)
            print(f"setlist lsp: {exc}", file=sys.stderr)
            try:
                project = load([], overrides=self._overrides(), parse=self.parse_cache)
            except LoadError:
                return self._project
        self.loads += 1
        self._project = project
        self._loaded = generation
        return project

    def last_loaded(self) -> Project | None:
        """The last Project, or None before the first analysis (never loads)."""
        return self._project

    def last_project(self) -> Project | None:
        """The last Project without loading again (completion may use a stale one)."""
        return self._project if self._project is not None else self.project()

    def _overrides(self) -> dict[str, str]:
        return {k: t for k, t in self.buffers.items() if not self.is_std(k)}

    # names --------------------------------------------------------------------------
    def is_std(self, key: str) -> bool:
        """Whether ``key`` names a standard library module (not a file of the project's
        own folder that happens to be called std/...)."""
        if not key.startswith(STD_PREFIX):
            return False
        if self._disk_keys is None:
            try:
                self._disk_keys = frozenset(display_path(p) for p in discover([self.root]))
            except LoadError:
                self._disk_keys = frozenset()
        return key not in self._disk_keys


def key_of(path: Path) -> str:
    """The display path the project uses for a file."""
    try:
        inside = path.resolve().relative_to(stdlib_dir())
    except ValueError:
        return display_path(path)
    return STD_PREFIX + inside.as_posix()


def path_of(key: str, session: Session | None = None) -> Path:
    """The file a display path names: a standard library key names the installed module."""
    std = session.is_std(key) if session is not None else key.startswith(STD_PREFIX)
    if std:
        return stdlib_dir() / key[len(STD_PREFIX):]
    return Path(os.path.abspath(key))
