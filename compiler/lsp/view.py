"""One request's view of the analysis: the session, its Project and Index, and how file
keys become URIs and line tables. Features take a View and never touch the server."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types as lsp
from pygls.uris import from_fs_path

from ..diagnostics import Span
from ..project import Project
from .index import Index
from .positions import UTF16, LineIndex
from .session import Session, path_of


@dataclass
class View:
    session: Session
    project: Project
    index: Index
    key: str                       # the file of the request
    encoding: str = UTF16
    inventory: dict[str, set[str]] = field(default_factory=dict)   # label -> values
    _lines: dict[str, LineIndex] = field(default_factory=dict)

    @property
    def text(self) -> str:
        source = self.project.files.get(self.key)
        return source.text if source is not None else ""

    def lines(self, key: str | None = None) -> LineIndex:
        key = key or self.key
        index = self._lines.get(key)
        if index is None:
            source = self.project.files.get(key)
            text = source.text if source is not None else _read(path_of(key, self.session))
            index = self._lines[key] = LineIndex(text, self.encoding)
        return index

    def uri(self, key: str) -> str:
        return from_fs_path(str(path_of(key, self.session))) or ""

    def location(self, span: Span) -> lsp.Location:
        return lsp.Location(uri=self.uri(span.file), range=self.lines(span.file).span_range(span))

    def offset(self, position: lsp.Position) -> int:
        return self.lines().offset(position)


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return ""
