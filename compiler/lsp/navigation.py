"""Definition, references, rename and symbols: all read from the occurrence index."""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcInvalidParams, JsonRpcInvalidRequest
from pygls.uris import from_fs_path

from .. import lockfile
from .. import model as m
from .. import values as v
from ..check.context import Entry
from ..diagnostics import Span
from ..yamlguard import YAMLLimitError, read_capped
from . import lockedits
from .index import Occurrence
from .positions import LineIndex
from .view import View

NAME = re.compile(r"[A-Za-z_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?")
# Words an expression gives meaning to: a declaration called so could not be referred to.
RESERVED = frozenset({"true", "false", "none", "and", "or", "not", "in", "exists", "as",
                      "cluster"})
SYMBOL_KINDS = {"registry": lsp.SymbolKind.Package, "image": lsp.SymbolKind.Class,
                "environment": lsp.SymbolKind.Namespace, "app": lsp.SymbolKind.Module,
                "gitops": lsp.SymbolKind.Package, "const": lsp.SymbolKind.Constant,
                "policy": lsp.SymbolKind.Function, "promotion": lsp.SymbolKind.Event,
                "import": lsp.SymbolKind.File, "use": lsp.SymbolKind.Event,
                "waive": lsp.SymbolKind.Event}


def definition(view: View, occ: Occurrence) -> list[lsp.Location]:
    if occ.target is not None:
        decl = occ.target.decl
        span = decl.name_span or decl.span
        return [lsp.Location(uri=view.uri(occ.target.file),
                             range=view.lines(occ.target.file).span_range(span))]
    if occ.role in ("module", "import") and occ.module and occ.module in view.project.files:
        start = lsp.Position(line=0, character=0)
        return [lsp.Location(uri=view.uri(occ.module), range=lsp.Range(start=start, end=start))]
    return []


def references(view: View, occ: Occurrence, include_declaration: bool) -> list[lsp.Location]:
    if occ.target is None:
        return []
    out = []
    for ref in view.index.references(occ.target):
        if ref.role == "decl" and not include_declaration:
            continue
        out.append(view.location(ref.span))
    return out


def prepare_rename(view: View, occ: Occurrence | None) -> lsp.PrepareRenamePlaceholder:
    target = _renameable(view, occ)
    assert occ is not None
    return lsp.PrepareRenamePlaceholder(range=view.lines().span_range(occ.span),
                                        placeholder=target.decl.name)


def rename(view: View, occ: Occurrence | None, new_name: str,
           open_text: Callable[[str], str | None] = lambda uri: None) -> lsp.WorkspaceEdit:
    """Every occurrence of the declaration, and for an image or an environment the keys
    of ``setlist.lock`` that name it (``open_text`` gives an open document's text by URI:
    the lock is edited as the editor has it)."""
    target = _renameable(view, occ)
    kind = _kind(target)
    problem = name_problem(new_name, kind)
    if problem:
        raise JsonRpcInvalidParams(f"cannot rename to '{new_name}': {problem}")
    table = view.index.names(target.file, kind)
    if new_name != target.decl.name and new_name in table:
        other = table[new_name]
        raise JsonRpcInvalidParams(
            f"cannot rename to '{new_name}': {kind} '{new_name}' is already declared in "
            f"{other.file}:{(other.decl.name_span or other.decl.span).line}")
    changes: dict[str, list[lsp.TextEdit]] = {}
    seen: set[tuple[str, int]] = set()
    for ref in view.index.references(target):
        if (ref.span.file, ref.span.start) in seen:
            continue
        seen.add((ref.span.file, ref.span.start))
        loc = view.location(ref.span)
        changes.setdefault(loc.uri, []).append(lsp.TextEdit(range=loc.range, new_text=new_name))
    for edits in changes.values():
        edits.sort(key=lambda e: (e.range.start.line, e.range.start.character))
    if lockedits.renames_lock(kind):
        changes.update(lock_edits(view, kind, target.decl.name, new_name, open_text))
    return lsp.WorkspaceEdit(changes=changes)


def lock_edits(view: View, kind: str, old: str, new: str,
               open_text: Callable[[str], str | None]) -> dict[str, list[lsp.TextEdit]]:
    """The edits of the project's ``setlist.lock`` that keep its versions under the new
    name; none without a lock or without versions under the old name. A lock that cannot
    be read is left alone (compile reports it); one that cannot follow refuses the rename."""
    path = lockfile.lock_path(os.path.abspath(view.project.base))
    uri = from_fs_path(str(path)) or ""
    text = open_text(uri)
    if text is None:
        try:
            text = read_capped(path, lockfile.MAX_LOCK_BYTES).decode("utf-8")
        except (OSError, UnicodeDecodeError, YAMLLimitError):
            return {}
    try:
        replacements = lockedits.rename(text, kind, old, new)
    except lockfile.LockError:
        return {}
    except lockedits.LockRenameError as exc:
        raise JsonRpcInvalidParams(f"cannot rename to '{new}': {exc}") from None
    if not replacements:
        return {}
    lines = LineIndex(text, view.encoding)
    return {uri: [lsp.TextEdit(range=lines.range(r.start, r.end), new_text=r.text)
                  for r in sorted(replacements, key=lambda r: r.start)]}


def name_problem(name: str, kind: str) -> str | None:
    """Why ``name`` cannot name a declaration of ``kind``, or None."""
    if not NAME.fullmatch(name):
        return "a name starts with a letter or '_' and continues with letters, digits, " \
               "'_' and '-' (not ending with '-')"
    if name in RESERVED:
        return f"'{name}' is a word of the language"
    if kind in ("app", "environment") and (problem := v.check_dns1123_label(name)):
        return f"{kind} names become Kubernetes names: {problem.message}"
    return None


def _kind(entry: Entry) -> str:
    decl = entry.decl
    return decl.block if isinstance(decl, m.Block) else decl.decl


def _renameable(view: View, occ: Occurrence | None) -> Entry:
    if occ is None or occ.target is None or occ.role not in ("decl", "ref"):
        what = {"builtin": "a built-in", "field": "a field name", "label": "a cluster label",
                "module": "an import alias", "import": "an import path"}
        raise JsonRpcInvalidRequest(
            f"cannot rename {what.get(occ.role, 'this') if occ else 'this'}: "
            "only names of declarations can be renamed")
    if view.session.is_std(occ.target.file):
        raise JsonRpcInvalidRequest(f"cannot rename '{occ.target.decl.name}': it is declared "
                                    "in the standard library")
    return occ.target


# ---------------------------------------------------------------- symbols

def document_symbols(view: View) -> list[lsp.DocumentSymbol]:
    source = view.project.files.get(view.key)
    if source is None:
        return []
    lines = view.lines()
    out = []
    for decl in source.module.decls:
        kind = decl.block if isinstance(decl, m.Block) else decl.decl
        name = symbol_name(view, decl)
        selection = decl.name_span or (decl.path.span if isinstance(decl, m.Import)
                                       else decl.span)
        children = []
        if isinstance(decl, m.Block):
            for fld in decl.fields:
                children.append(lsp.DocumentSymbol(
                    name=fld.name, kind=lsp.SymbolKind.Field, range=lines.span_range(fld.span),
                    selection_range=lines.span_range(fld.name_span)))
        out.append(lsp.DocumentSymbol(
            name=name, kind=SYMBOL_KINDS.get(kind, lsp.SymbolKind.Object), detail=kind,
            range=lines.span_range(decl.span), selection_range=lines.span_range(selection),
            children=children or None))
    return out


def symbol_name(view: View, decl: m.AnyDecl) -> str:
    if isinstance(decl, m.Import):
        return f'import "{decl.path.text}"'
    if isinstance(decl, (m.Use, m.Waive)):
        return f"{decl.decl} {_text(view, decl.target.span)}"
    return decl.name or decl.decl


def _text(view: View, span: Span) -> str:
    source = view.project.files.get(span.file)
    return source.text[span.start:span.end] if source is not None else ""


def workspace_symbols(views: list[View], query: str) -> list[lsp.WorkspaceSymbol]:
    """Declarations of every workspace whose name contains the query's letters in order."""
    out = []
    seen: set[tuple[str, int]] = set()
    for view in views:
        for entry in view.index.declarations():
            if view.session.is_std(entry.file) or not _matches(query, entry.decl.name):
                continue
            span = entry.decl.name_span or entry.decl.span
            if (view.uri(entry.file), span.start) in seen:
                continue
            seen.add((view.uri(entry.file), span.start))
            kind = _kind(entry)
            out.append(lsp.WorkspaceSymbol(
                name=entry.decl.name, kind=SYMBOL_KINDS.get(kind, lsp.SymbolKind.Object),
                location=lsp.Location(uri=view.uri(entry.file),
                                      range=view.lines(entry.file).span_range(span)),
                container_name=kind))
    return sorted(out, key=lambda s: (s.name, s.location.uri))


def _matches(query: str, name: str) -> bool:
    it = iter(name.lower())
    return all(ch in it for ch in query.lower())
