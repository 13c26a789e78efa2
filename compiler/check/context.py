"""What every check pass shares: the scopes, name lookup and the diagnostics list."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import model as m
from ..diagnostics import Diagnostic, Related, Span, error, warning
from ..packaged import std_folder

if TYPE_CHECKING:  # the session imports the checker; types only
    from ..project import Project, SourceFile

# Declaration kinds with a namespace each. Promotions are keyed by the image they promote.
KINDS = ("registry", "image", "environment", "app", "const", "policy", "promotion")
KIND_WORDS = {"registry": "a registry", "image": "an image", "environment": "an environment",
              "app": "an app", "const": "a constant", "policy": "a policy",
              "promotion": "a promotion", "module": "a module"}


def decl_kind(decl: m.AnyDecl) -> str | None:
    if isinstance(decl, m.Block):
        return None if decl.block == "gitops" else decl.block
    if isinstance(decl, m.Const):
        return "const"
    if isinstance(decl, m.Policy):
        return "policy"
    if isinstance(decl, m.Promotion):
        return "promotion"
    return None


@dataclass(frozen=True)
class Entry:
    decl: m.AnyDecl
    file: str  # key of the file that declares it


@dataclass
class Scope:
    """Declarations visible unqualified: all root files together, or one module."""

    names: dict[str, dict[str, Entry]] = field(default_factory=lambda: {k: {} for k in KINDS})


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    import difflib  # for misspelt names only: a clean check does not need it

    match = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return match[0] if match else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    best = suggest(name, candidates)
    return f"did you mean '{best}'?" if best else ""


@dataclass
class Context:
    project: Project
    diags: list[Diagnostic] = field(default_factory=list)
    root: Scope = field(default_factory=Scope)
    modules: dict[str, Scope] = field(default_factory=dict)
    used_imports: set[tuple[str, str]] = field(default_factory=set)

    def scope_of(self, file: str) -> Scope:
        return self.root if self.project.files[file].is_root else self.modules[file]

    def file(self, key: str) -> SourceFile:
        return self.project.files[key]

    # diagnostics --------------------------------------------------------------------
    def error(self, span: Span, code: str, message: str, *hints: str,
              related: tuple[Related, ...] = ()) -> None:
        self.diags.append(error(span, code, message, *hints, related=related))

    def warning(self, span: Span, code: str, message: str, *hints: str,
                related: tuple[Related, ...] = ()) -> None:
        self.diags.append(warning(span, code, message, *hints, related=related))

    # lookup -------------------------------------------------------------------------
    def lookup(self, file: str, name: str, kind: str) -> Entry | None:
        return self.scope_of(file).names[kind].get(name)

    def lookup_any(self, file: str, name: str) -> list[tuple[str, Entry]]:
        scope = self.scope_of(file)
        return [(k, scope.names[k][name]) for k in KINDS if name in scope.names[k]]

    def module_of(self, file: str, alias: str) -> str | None:
        target = self.file(file).imports.get(alias)
        if target is not None:
            self.used_imports.add((file, alias))
        return target if target in self.modules or target in self.project.files else None

    def resolve_ref(self, file: str, expr: m.Expr, kind: str,
                    report: bool = True) -> tuple[Entry | None, bool]:
        """Resolve a name (or ``module.name``) to a declaration of ``kind``.

        Returns (entry, handled): handled is False when the expression is not a reference at
        all (the caller then reports a type error), True when it was one (found or reported).
        """
        if isinstance(expr, m.Name):
            entry = self.lookup(file, expr.name, kind)
            if entry is not None:
                return entry, True
            if report:
                self._unknown(file, expr.name, expr.span, kind)
            return None, True
        if isinstance(expr, m.Attr) and isinstance(expr.value, m.Name):
            alias = expr.value.name
            if alias in self.file(file).imports:
                target = self.module_of(file, alias)
                if target is None:
                    return None, True
                entry = self.modules[target].names[kind].get(expr.attr) \
                    if target in self.modules else None
                if entry is None and report:
                    others = self.modules.get(target, Scope()).names[kind]
                    self.error(expr.attr_span, "SL203",
                               f"module '{alias}' has no {kind} '{expr.attr}'",
                               did_you_mean(expr.attr, others))
                return entry, True
            if report:
                self.unknown_module(file, expr.value)
            return None, True
        return None, False

    def unknown_module(self, file: str, alias_expr: m.Name) -> None:
        """Report ``alias.x`` where this file imports nothing as ``alias``."""
        alias = alias_expr.name
        known = sorted(self.file(file).imports)
        if hint := did_you_mean(alias, known):
            pass
        elif alias == "std":
            hint = 'import a module first, e.g. import "std/sync"'
        elif os.path.isfile(os.path.join(std_folder(), alias + ".setlist")):
            hint = f'import it first: import "std/{alias}"'
        else:
            hint = f'import it first: import "./{alias}.setlist" as {alias}'
        self.error(alias_expr.span, "SL200", f"unknown module '{alias}'", hint)

    def _broken_declaration(self, name: str, kind: str) -> bool:
        """Whether a file with syntax errors declares ``kind name`` in a declaration that did
        not parse: the syntax error is then the one to fix, not the unknown name."""
        broken = {d.span.file for d in self.project.diagnostics if d.code.startswith("SL1")}
        if not broken:
            return False
        pattern = re.compile(rf"(?m)^[ \t]*({kind})[ \t]+{re.escape(name)}(?![\w-])")
        for key in broken:
            source = self.project.files.get(key)
            if source is None:
                continue
            # Text inside a declaration that did parse (`waive p for image x`, a line of a
            # string) is not a broken declaration, wherever its line breaks fall.
            parsed = [(d.span.start, d.span.end) for d in source.module.decls]
            for mt in pattern.finditer(source.text):
                if not any(start <= mt.start(1) < end for start, end in parsed):
                    return True
        return False

    def _unknown(self, file: str, name: str, span: Span, kind: str) -> None:
        elsewhere = [(k, e) for k, e in self.lookup_any(file, name)
                     if not (k == "promotion" and kind == "image")]
        if elsewhere:
            other_kind, entry = elsewhere[0]
            declared = self.scope_of(file).names[kind]
            self.error(span, "SL202",
                       f"'{name}' is {KIND_WORDS[other_kind]}, but {KIND_WORDS[kind]} is "
                       "expected here",
                       did_you_mean(name, declared) or
                       (f"declared {kind} names: " + ", ".join(sorted(declared)[:6])
                        if declared else f"declare {KIND_WORDS[kind]} first"),
                       related=(Related(span=entry.decl.name_span or entry.decl.span,
                                        message=f"'{name}' is declared here"),))
            return
        if self._broken_declaration(name, kind):
            return
        candidates = self.scope_of(file).names[kind]
        hint = did_you_mean(name, candidates)
        if not hint and not candidates:
            hint = f"no {KIND_WORDS[kind][KIND_WORDS[kind].index(' ') + 1:]} is declared " \
                   f"yet; declare one with '{kind} {name} {{ ... }}'" if kind != "const" else \
                   f"no constant is declared yet; declare one with 'const {name} = ...'"
        elif not hint:
            plural = {"registry": "registries", "const": "constants"}.get(kind, kind + "s")
            hint = f"declared {plural}: " + ", ".join(sorted(candidates)[:8]) + \
                (", ..." if len(candidates) > 8 else "")
        related = ()
        best = suggest(name, candidates)
        if best:
            decl = candidates[best].decl
            related = (Related(span=decl.name_span or decl.span,
                               message=f"'{best}' is declared here"),)
        noun = "constant" if kind == "const" else kind
        self.error(span, "SL200", f"unknown {noun} '{name}'", hint, related=related)


def build_scopes(ctx: Context) -> None:
    """Fill the root scope and one scope per module; report duplicate declarations."""
    for key in sorted(ctx.project.files):
        source = ctx.project.files[key]
        scope = ctx.root if source.is_root else ctx.modules.setdefault(key, Scope())
        for decl in source.module.decls:
            kind = decl_kind(decl)
            if kind is None:
                continue
            table = scope.names[kind]
            if decl.name in table:
                first = table[decl.name].decl
                ctx.error(decl.name_span or decl.span, "SL201",
                          f"{kind} '{decl.name}' is declared twice",
                          "an image has one promotion; merge the rules into the first one"
                          if kind == "promotion" else "rename one of them or remove the second",
                          related=(Related(span=first.name_span or first.span,
                                           message="first declared here"),))
                continue
            table[decl.name] = Entry(decl=decl, file=key)
