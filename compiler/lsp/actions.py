"""Quick fixes, built from the ``data`` the server put on its own diagnostics.

- a did-you-mean hint (or a compiler ``Fix``) → replace the misspelt name;
- an unknown module alias → add the import that provides it (for the standard library,
  the std module that declares the member used);
- a policy violation → waive the policy for the declaration it is about, until a date 30
  days ahead, with a reason still to write.
"""

from __future__ import annotations

import datetime as dt
import re

from lsprotocol import types as lsp

from .. import model as m
from .completion import std_modules
from .index import SCOPE_KINDS
from .view import View

WAIVER_DAYS = 30
MEMBER_AFTER = re.compile(r"\.\s*([A-Za-z_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)")


def code_actions(view: View, uri: str, diagnostics: list[lsp.Diagnostic],
                 today: dt.date | None = None) -> list[lsp.CodeAction]:
    out: list[lsp.CodeAction] = []
    for diag in diagnostics:
        data = diag.data if isinstance(diag.data, dict) else {}
        for fix in data.get("replacements", ()):
            out.append(_action(fix["title"], diag, uri, [lsp.TextEdit(
                range=_range(fix["range"]), new_text=fix["newText"])], preferred=True))
        if "alias" in data:
            action = add_import(view, uri, diag, data)
            if action is not None:
                out.append(action)
        if "policy" in data:
            scope = tuple(data["scope"]) if data.get("scope") else None
            out.append(waive(view, uri, diag, data["policy"], today or dt.date.today(), scope))
    return out


def add_import(view: View, uri: str, diag: lsp.Diagnostic, data: dict) -> lsp.CodeAction | None:
    alias = data["alias"]
    line = import_line(view, diag, alias, data.get("import"))
    if line is None:
        return None
    at = lsp.Position(line=import_insert_line(view.text), character=0)
    return _action(f"Add {line}", diag, uri,
                   [lsp.TextEdit(range=lsp.Range(start=at, end=at), new_text=line + "\n")],
                   preferred=True)


def import_line(view: View, diag: lsp.Diagnostic, alias: str,
                hinted: dict | None) -> str | None:
    """The import that makes ``alias.member`` mean something."""
    modules = std_modules()
    member = _member_after(view, diag)
    declaring = [name for name, decls in sorted(modules.items())
                 if member and any(n == member for _, n, _ in decls)]
    if alias in modules and (not member or alias in declaring):
        return f'import "std/{alias}"'
    if declaring:
        module = declaring[0]
        return f'import "std/{module}"' + ("" if module == alias else f" as {alias}")
    if hinted and not hinted["path"].startswith("std/"):
        suffix = f" as {hinted['alias']}" if hinted.get("alias") else ""
        return f'import "{hinted["path"]}"{suffix}'
    return None


def _member_after(view: View, diag: lsp.Diagnostic) -> str | None:
    """The name after `alias.` at the diagnostic."""
    lines = view.lines()
    end = lines.offset(diag.range.end)
    found = MEMBER_AFTER.match(lines.text, end)
    return found.group(1) if found else None


def import_insert_line(text: str) -> int:
    """After the last import among the leading lines, else at the first line."""
    line = 0
    for number, row in enumerate(text.split("\n")):
        stripped = row.strip()
        if row.startswith("import "):
            line = number + 1
        elif stripped and not stripped.startswith("//"):
            break
    return line


def waive(view: View, uri: str, diag: lsp.Diagnostic, policy: str, today: dt.date,
          scope: tuple[str, str] | None = None) -> lsp.CodeAction:
    """Waive ``policy`` for what the violation is about (named by the policy stage, else
    the declaration around the diagnostic), at the end of the file."""
    until = (today + dt.timedelta(days=WAIVER_DAYS)).isoformat()
    scope = scope or enclosing_scope(view, view.lines().offset(diag.range.start))
    scope_text = f" for {scope[0]} {scope[1]}" if scope else ""
    text = view.lines().text
    line_count = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    prefix = "" if text.endswith("\n") or not text else "\n"
    at = lsp.Position(line=line_count, character=0) if not prefix else \
        view.lines().position(len(text))
    statement = f'{prefix}waive {policy}{scope_text} until {until} because "TODO: reason"\n'
    title = f"Waive {policy}" + (f" for {scope[0]} {scope[1]}" if scope else "") + \
        f" until {until}"
    return _action(title, diag, uri,
                   [lsp.TextEdit(range=lsp.Range(start=at, end=at), new_text=statement)])


def enclosing_scope(view: View, offset: int) -> tuple[str, str] | None:
    """The app, environment, image or registry whose declaration holds ``offset``."""
    source = view.project.files.get(view.key)
    if source is None:
        return None
    for decl in source.module.decls:
        if isinstance(decl, m.Block) and decl.block in SCOPE_KINDS and \
                decl.span.start <= offset <= decl.span.end:
            return decl.block, decl.name
    return None


def _action(title: str, diag: lsp.Diagnostic, uri: str, edits: list[lsp.TextEdit],
            preferred: bool = False) -> lsp.CodeAction:
    return lsp.CodeAction(title=title, kind=lsp.CodeActionKind.QuickFix, diagnostics=[diag],
                          edit=lsp.WorkspaceEdit(changes={uri: edits}),
                          is_preferred=preferred or None)


def _range(raw: dict) -> lsp.Range:
    return lsp.Range(start=lsp.Position(**raw["start"]), end=lsp.Position(**raw["end"]))
