"""What each name in the source refers to: the occurrences behind hover, definition,
references and rename.

Names resolve as the checker resolves them: the checker's own scopes (``build_scopes``) and
its rules (an expected kind where a field or a promotion rule says which kind it wants,
else a constant, else any declaration of that name; ``alias.name`` in the imported module's
scope). Nothing here reports problems; the checker already did.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from .. import model as m
from ..check.context import KINDS, Context, Entry, build_scopes
from ..check.evaluate import BUILTIN_FUNCTIONS, BUILTIN_NAMES
from ..diagnostics import Span
from ..project import Project

# Fields whose value names declarations of one kind (lists, or the left side of `/`).
FIELD_KINDS: dict[tuple[str, str], str] = {
    ("app", "images"): "image",
    ("app", "deploy"): "environment",
    ("image", "repository"): "registry",
}
SCOPE_KINDS = ("app", "environment", "image", "registry")

Role = Literal["decl", "ref", "module", "field", "builtin", "label", "import", "keyword"]


@dataclass(frozen=True)
class Occurrence:
    """A name in the source: a declaration's own name, or a use of one, or a word the
    language defines (a field, a built-in, a cluster label, an import alias)."""

    span: Span
    role: Role
    name: str
    kind: str = ""                  # declaration kind, block kind of a field, ...
    target: Entry | None = None     # the declaration it names (decl and ref)
    module: str | None = None       # key of the file an alias or import path names
    block: m.Block | None = None    # the block around a field name


@dataclass
class FileIndex:
    occurrences: list[Occurrence] = field(default_factory=list)

    def at(self, offset: int) -> Occurrence | None:
        """The innermost occurrence at a character offset (a cursor just after a name
        still counts)."""
        best: Occurrence | None = None
        for occ in self.occurrences:
            if occ.span.start <= offset <= occ.span.end:
                if best is None or occ.span.end - occ.span.start < best.span.end - \
                        best.span.start:
                    best = occ
        return best


def same(a: Entry | None, b: Entry | None) -> bool:
    return a is not None and b is not None and a.file == b.file and a.decl is b.decl


class Index:
    """Scopes of one Project plus a lazily built occurrence list per file."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.ctx = Context(project=project)
        build_scopes(self.ctx)  # duplicate declarations land in ctx.diags, unused here
        self._files: dict[str, FileIndex] = {}

    # scopes -------------------------------------------------------------------------
    def names(self, file: str, kind: str) -> dict[str, Entry]:
        if file not in self.project.files:
            return dict(self.ctx.root.names[kind])
        return self.ctx.scope_of(file).names[kind]

    def module_names(self, module_key: str, kind: str) -> dict[str, Entry]:
        scope = self.ctx.modules.get(module_key)
        return scope.names[kind] if scope is not None else {}

    def declarations(self) -> Iterator[Entry]:
        """Every named declaration of the project, in file and source order."""
        for key in sorted(self.project.files):
            for decl in self.project.files[key].module.decls:
                if decl.name_span is not None and not isinstance(decl, m.Import):
                    yield Entry(decl=decl, file=key)

    def resolve(self, file: str, name: str, expected: str | None,
                module: str | None = None) -> Entry | None:
        """The declaration ``name`` means in ``file`` (or in ``module``'s scope)."""
        if module is not None:
            scope = self.ctx.modules.get(module)
            if scope is None:
                return None
            table = scope.names
        elif file in self.project.files:
            table = self.ctx.scope_of(file).names
        else:
            return None
        if expected and name in table[expected]:
            return table[expected][name]
        if name in table["const"]:
            return table["const"][name]
        for kind in KINDS:
            if kind != "promotion" and name in table[kind]:
                return table[kind][name]
        return None

    # occurrences --------------------------------------------------------------------
    def file(self, key: str) -> FileIndex:
        index = self._files.get(key)
        if index is None:
            index = self._files[key] = FileIndex(list(_Walker(self, key).run()))
        return index

    def all_files(self) -> Iterator[tuple[str, FileIndex]]:
        for key in sorted(self.project.files):
            yield key, self.file(key)

    def references(self, target: Entry) -> list[Occurrence]:
        """Every occurrence naming ``target``, its declaration included."""
        out = []
        for _, index in self.all_files():
            out.extend(o for o in index.occurrences if same(o.target, target))
        return out


def _dotted_last(span: Span, dotted: str) -> tuple[str | None, Span]:
    """``alias.name`` written as one dotted token: the alias and the span of the name."""
    if "." not in dotted:
        return None, span
    alias, _, name = dotted.rpartition(".")
    skip = len(alias) + 1
    return alias, Span(file=span.file, line=span.end_line, column=span.end_column - len(name),
                       end_line=span.end_line, end_column=span.end_column,
                       start=span.start + skip, end=span.end)


class _Walker:
    """Walks one file's declarations, yielding occurrences in source order."""

    def __init__(self, index: Index, key: str) -> None:
        self.index = index
        self.key = key
        self.source = index.project.files[key]
        self.bound: list[set[str]] = []   # names bound by policy parameters and loops

    def run(self) -> Iterator[Occurrence]:
        for decl in self.source.module.decls:
            yield from self.decl(decl)

    # declarations -------------------------------------------------------------------
    def decl(self, decl: m.AnyDecl) -> Iterator[Occurrence]:
        if isinstance(decl, m.Import):
            yield from self.import_decl(decl)
            return
        if isinstance(decl, m.Promotion):
            yield from self.promotion(decl)
            return
        if decl.name_span is not None and not (isinstance(decl, m.Block)
                                               and decl.block == "gitops"):
            kind = decl.block if isinstance(decl, m.Block) else decl.decl
            yield Occurrence(span=decl.name_span, role="decl", name=decl.name, kind=kind,
                             target=Entry(decl=decl, file=self.key))
        if isinstance(decl, m.Const):
            yield from self.expr(decl.value, None)
        elif isinstance(decl, m.Block):
            yield from self.block(decl)
        elif isinstance(decl, m.Policy):
            yield from self.policy(decl)
        elif isinstance(decl, m.Use):
            yield from self.expr(_policy_ref(decl.target), "policy")
        elif isinstance(decl, m.Waive):
            yield from self.expr(_policy_ref(decl.target), "policy")
            if decl.scope_name and decl.scope_name_span and decl.scope_kind in SCOPE_KINDS:
                yield self.ref(decl.scope_name, decl.scope_name_span, decl.scope_kind)

    def import_decl(self, decl: m.Import) -> Iterator[Occurrence]:
        target = next((t for a, t in self.source.imports.items()
                       if self.source.import_decls.get(a) is decl), None)
        yield Occurrence(span=decl.path.span, role="import", name=decl.path.text,
                         module=target)
        if decl.name_span is not None:
            yield Occurrence(span=decl.name_span, role="module", name=decl.name, module=target)

    def block(self, decl: m.Block) -> Iterator[Occurrence]:
        for fld in decl.fields:
            yield Occurrence(span=fld.name_span, role="field", name=fld.name, kind=decl.block,
                             block=decl)
            expected = FIELD_KINDS.get((decl.block, fld.name))
            if decl.block == "image" and fld.name == "repository":
                yield from self.repository(fld.value)
            else:
                yield from self.expr(fld.value, expected)
        for fr in decl.freezes:
            for part in (fr.cron, fr.duration, fr.tz):
                if part is not None:
                    yield from self.expr(part, None)

    def repository(self, value: m.Expr) -> Iterator[Occurrence]:
        if isinstance(value, m.Binary) and value.op == "/":
            yield from self.expr(value.left, "registry")
            yield from self.expr(value.right, None)
        else:
            yield from self.expr(value, None)

    def promotion(self, decl: m.Promotion) -> Iterator[Occurrence]:
        if decl.name_span is not None:
            # A promotion is named by the image it promotes: its name is a use of the image.
            yield self.dotted(decl.name, decl.name_span, "image")
        for rule in decl.rules:
            yield self.dotted(rule.stage, rule.stage_span, "environment")
            if rule.source == "registry":
                yield Occurrence(span=rule.source_span, role="builtin", name="registry")
            else:
                yield self.dotted(rule.source, rule.source_span, "environment")
            for gate in (rule.after, *rule.gates):
                if gate is not None:
                    yield from self.expr(gate, None)

    def policy(self, decl: m.Policy) -> Iterator[Occurrence]:
        self.bound.append({p.name for p in decl.params})
        try:
            for param in decl.params:
                if param.default is not None:
                    yield from self.expr(param.default, None)
            yield from self.statements(decl.body)
        finally:
            self.bound.pop()

    def statements(self, body: tuple[m.PolicyStmt, ...]) -> Iterator[Occurrence]:
        for stmt in body:
            if isinstance(stmt, m.ForStmt):
                yield from self.expr(stmt.iterable, None)
                self.bound.append({stmt.var})
                try:
                    if stmt.where is not None:
                        yield from self.expr(stmt.where, None)
                    yield from self.statements(stmt.body)
                finally:
                    self.bound.pop()
            elif isinstance(stmt, m.Require):
                yield from self.expr(stmt.condition, None)
                yield from self.expr(stmt.message, None)
            elif isinstance(stmt, m.PolicyField):
                yield from self.expr(stmt.field.value, None)

    # references ---------------------------------------------------------------------
    def ref(self, name: str, span: Span, expected: str | None,
            module: str | None = None) -> Occurrence:
        target = self.index.resolve(self.key, name, expected, module)
        kind = target.decl.block if target is not None and isinstance(target.decl, m.Block) \
            else (target.decl.decl if target is not None else expected or "")
        return Occurrence(span=span, role="ref", name=name, kind=kind, target=target)

    def dotted(self, dotted: str, span: Span, expected: str) -> Occurrence:
        alias, name_span = _dotted_last(span, dotted)
        if alias is None:
            return self.ref(dotted, span, expected)
        module = self.source.imports.get(alias)
        return self.ref(dotted.rpartition(".")[2], name_span, expected, module)

    def is_bound(self, name: str) -> bool:
        return any(name in names for names in self.bound)

    def expr(self, expr: m.Expr, expected: str | None) -> Iterator[Occurrence]:
        stack: list[tuple[m.Node, str | None]] = [(expr, expected)]
        while stack:
            node, want = stack.pop()
            if isinstance(node, m.Name):
                occ = self.name(node, want)
                if occ is not None:
                    yield occ
            elif isinstance(node, m.Attr) and isinstance(node.value, m.Name):
                yield from self.attr(node, want)
            elif isinstance(node, m.Index) and isinstance(node.value, m.Name) \
                    and node.value.name == "cluster" and isinstance(node.index, m.Str):
                yield Occurrence(span=node.index.span, role="label", name=node.index.text)
            elif isinstance(node, m.Call):
                if isinstance(node.func, m.Name) and node.func.name in BUILTIN_FUNCTIONS \
                        and self.index.resolve(self.key, node.func.name, None) is None:
                    yield Occurrence(span=node.func.span, role="builtin", name=node.func.name)
                else:
                    stack.append((node.func, None))
                stack.extend((a, None) for a in reversed(node.args))
                stack.extend((k.value, None) for k in reversed(node.kwargs))
            elif isinstance(node, m.ListExpr):
                stack.extend((item, want) for item in reversed(node.items))
            elif isinstance(node, m.As):
                stack.append((node.value, want))
            elif isinstance(node, m.Str):
                stack.extend((p, None) for p in reversed(node.parts) if isinstance(p, m.Node))
            else:
                stack.extend((c, None) for c in reversed(node.children()))

    def name(self, node: m.Name, expected: str | None) -> Occurrence | None:
        if m.is_reported(node) or self.is_bound(node.name):
            return None
        target = self.index.resolve(self.key, node.name, expected)
        if target is None and (node.name in BUILTIN_NAMES or node.name in BUILTIN_FUNCTIONS):
            return Occurrence(span=node.span, role="builtin", name=node.name)
        return self.ref(node.name, node.span, expected)

    def attr(self, node: m.Attr, expected: str | None) -> Iterator[Occurrence]:
        alias = node.value.name
        if alias == "cluster":
            yield Occurrence(span=node.attr_span, role="label", name=node.attr)
            return
        if alias in self.source.imports:
            module = self.source.imports[alias]
            yield Occurrence(span=node.value.span, role="module", name=alias, module=module)
            yield self.ref(node.attr, node.attr_span, expected, module)
            return
        if not self.is_bound(alias):
            occ = self.name(node.value, None)
            if occ is not None:
                yield occ


def _policy_ref(expr: m.Expr) -> m.Expr:
    return expr.func if isinstance(expr, m.Call) else expr
