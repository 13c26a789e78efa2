"""Reading stage of `setlist import`: YAML files into documents that remember where they are.

ruamel.yaml's round-trip loader keeps the line of every mapping, so each warning can name
``file:line`` of the document (or the field) it is about. Malformed YAML is an
``ImportReadError`` naming the file and line, never a traceback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

YAML_SUFFIXES = (".yaml", ".yml")
#: A larger file is refused unread (one Argo CD export of thousands of objects fits).
MAX_FILE_BYTES = 32 * 1024 * 1024
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__"}


@dataclass(frozen=True, order=True)
class Origin:
    """Where something was read: a file and a 1-based line (0 when unknown)."""

    file: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class Note:
    """Something the import could not express, or changed, and says so."""

    origin: Origin
    subject: str   # "Application shop-dev"
    message: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.subject}: {self.message}"


class ImportReadError(Exception):
    """A file that cannot be read as YAML; the message starts with ``file:line``."""


@dataclass
class Doc:
    """One YAML document (a mapping) of an input file, as plain Python data, with lines."""

    data: dict[str, Any]
    origin: Origin
    node: Any  # the ruamel node, for line numbers of nested keys

    @property
    def kind(self) -> str:
        return str(self.data.get("kind") or "")

    @property
    def name(self) -> str:
        meta = self.data.get("metadata") or {}
        return str(meta.get("name") or "") if isinstance(meta, dict) else ""

    def line_of(self, *path: str | int) -> Origin:
        """The origin of a nested key (``line_of("spec", "generators", 0)``), falling back to
        the closest enclosing node whose line is known."""
        node, line = self.node, self.origin.line
        for key in path:
            lc = getattr(node, "lc", None)
            try:
                if lc is not None:
                    if isinstance(key, int):
                        line = lc.item(key)[0] + 1
                    else:
                        line = lc.key(key)[0] + 1
                node = node[key]
            except (KeyError, IndexError, TypeError, AttributeError):
                break
        return Origin(self.origin.file, line)


@dataclass
class Inputs:
    """Every document read, and the Kustomizations by their folder (POSIX, relative to the
    folder given on the command line, or the file's own folder for files given)."""

    docs: list[Doc] = field(default_factory=list)
    kustomizations: dict[str, Doc] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


def plain(node: Any) -> Any:
    """ruamel's commented containers as plain dicts, lists and scalars (keys as strings)."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, bool) or node is None or isinstance(node, (int, float)):
        return node
    return str(node)


def discover(paths: tuple[str, ...]) -> list[tuple[Path, str, str]]:
    """(file, display name, folder key relative to its root) for every YAML file named or
    found below a folder named, sorted, each once."""
    out: dict[str, tuple[Path, str, str]] = {}
    for given in paths:
        root = Path(given)
        if root.is_dir():
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames
                                     if d not in SKIP_DIRS and not d.startswith("."))
                for name in sorted(filenames):
                    if name.endswith(YAML_SUFFIXES) or name == "Kustomization":
                        path = Path(dirpath) / name
                        rel = path.relative_to(root).parent.as_posix()
                        out.setdefault(path.as_posix(), (path, path.as_posix(),
                                                         "" if rel == "." else rel))
        else:
            out.setdefault(root.as_posix(), (root, root.as_posix(), ""))
    return [out[k] for k in sorted(out)]


def _yaml():
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def read_file(path: Path, display: str) -> list[Doc]:
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    from ..yamlguard import YAMLLimitError, load_all, read_capped

    try:
        text = read_capped(path, MAX_FILE_BYTES).decode("utf-8")
    except YAMLLimitError as exc:
        raise ImportReadError(f"{display}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ImportReadError(f"{display}: not UTF-8 text ({exc.reason} at byte "
                              f"{exc.start})") from None
    except OSError as exc:
        raise ImportReadError(f"{display}: {exc.strerror}") from None
    docs = []
    try:
        for node in load_all(_yaml(), text):
            if node is None:
                continue
            line = node.lc.line + 1 if hasattr(node, "lc") else 0
            if not isinstance(node, dict):
                docs.append(Doc({}, Origin(display, line), node))
                continue
            docs.append(Doc(plain(node), Origin(display, line), node))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{display}:{mark.line + 1}:{mark.column + 1}" if mark else display
        what = " ".join(p for p in (exc.context, exc.problem) if p) or "malformed YAML"
        raise ImportReadError(f"{where}: malformed YAML: {what}") from None
    except YAMLLimitError as exc:
        raise ImportReadError(f"{display}: {exc}") from None
    except YAMLError as exc:
        raise ImportReadError(f"{display}: malformed YAML: {exc}") from None
    return docs


def read_inputs(paths: tuple[str, ...]) -> tuple[Inputs, list[str]]:
    """Every document of every file; the errors of unreadable files (all of them)."""
    inputs = Inputs()
    errors = []
    for path, display, folder in discover(paths):
        try:
            docs = read_file(path, display)
        except ImportReadError as exc:
            errors.append(str(exc))
            continue
        inputs.files.append(display)
        if path.name in KUSTOMIZATION_NAMES:
            for doc in docs[:1]:
                inputs.kustomizations.setdefault(folder, doc)
            continue
        inputs.docs.extend(docs)
    return inputs, errors
