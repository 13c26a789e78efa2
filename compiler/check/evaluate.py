"""Typed evaluation of field values: an expression plus the type a place expects → a value.

Each ``want_*`` function takes the expression and the file it sits in (names resolve in that
file's scope), reports what is wrong at the right span and returns the value or ``None``.
Constants are followed to their definitions, in their own file, with cycle detection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import model as m
from .. import values_time as vt
from ..diagnostics import Related, Span
from .context import Context, did_you_mean

is_reported = m.is_reported

TYPE_WORDS = {"name": "a name", "attr": "a reference", "index": "an index expression",
              "call": "a call", "str": "a string", "int": "a number", "bool": "a boolean",
              "none": "none", "duration": "a duration", "date": "a date",
              "regex": "a regular expression", "list": "a list", "map": "a map",
              "comprehension": "a list comprehension",
              "binary": "an expression", "not": "a condition", "exists": "a condition",
              "as": "an 'as' alias"}


def describe(expr: m.Expr) -> str:
    if isinstance(expr, m.Binary):
        if expr.op in ("and", "or", "==", "!=", "in", "not in", "=~", "!~", "<", "<=", ">",
                       ">="):
            return "a condition"
        if expr.op == "/":
            return "a repository path"
    return TYPE_WORDS.get(expr.kind, "a value")


def _is_cluster_label(expr: m.Expr) -> bool:
    return isinstance(expr, (m.Attr, m.Index)) and isinstance(expr.value, m.Name) \
        and expr.value.name == "cluster"


def is_selector_like(expr: m.Expr) -> bool:
    """A cluster selector (``cluster.env == "x"``, ``exists cluster.y``, and/or/not of them)."""
    if isinstance(expr, m.Exists):
        return _is_cluster_label(expr.operand)
    if isinstance(expr, m.Not):
        return is_selector_like(expr.operand)
    if isinstance(expr, m.Binary):
        if expr.op in ("and", "or"):
            return is_selector_like(expr.left) or is_selector_like(expr.right)
        return _is_cluster_label(expr.left) or _is_cluster_label(expr.right)
    return False


def misplaced_expression(expr: m.Expr) -> tuple[str, str] | None:
    """(message, hint) for an expression that is valid elsewhere (SL307), or None."""
    if isinstance(expr, m.As):
        return ("'as' can only rename an image in an app's images list",
                'remove the alias; e.g. images = [api as "shop-api"] renames an image')
    if isinstance(expr, m.Name) and expr.name == "rest":
        return ("'rest' can only be the last step of an environment's rollout",
                "e.g. rollout = [cluster.canary == \"true\", rest]")
    if is_selector_like(expr):
        return ("a cluster selector can only be used in clusters = or rollout =",
                "select clusters in an environment and list the environment in deploy")
    return None


# Names and functions the language gives meaning to where a field expects them.
BUILTIN_FUNCTIONS = frozenset({
    "semver", "newest_build", "alphabetical", "digest", "env", "in_cluster", "automated",
    "manual", "retry", "git", "approval", "signed"})
BUILTIN_NAMES = frozenset({
    "docker_config", "anonymous", "all", "rest", "argocd", "git", "direct", "pull_request",
    "setlist", "in_cluster", "newest_build", "alphabetical", "approval", "registry",
    "automated", "manual", "signed"})


@dataclass
class Arg:
    want: Callable[[Evaluator, m.Expr, str], Any]
    required: bool = False


class Evaluator:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # Constants whose string value is being interpolated, outermost first.
        self._const_stack: list[tuple[str, str]] = []
        self._reported_cycles: set[frozenset[tuple[str, str]]] = set()
        # Constants some field, argument or other constant read; the rest are checked alone.
        self.used_constants: set[tuple[str, str]] = set()

    # constants ----------------------------------------------------------------------
    def deref(self, expr: m.Expr, file: str) -> tuple[m.Expr, str]:
        """Follow names of constants to their values (possibly in another module)."""
        expr, file, _ = self._deref_chain(expr, file)
        return expr, file

    def _deref_chain(self, expr: m.Expr, file: str
                     ) -> tuple[m.Expr, str, list[tuple[str, str]]]:
        """``deref`` that also returns the constants it went through, in order."""
        chain: list[tuple[str, str]] = []
        while True:
            entry = None
            if isinstance(expr, m.Name):
                entry = self.ctx.lookup(file, expr.name, "const")
            elif isinstance(expr, m.Attr) and isinstance(expr.value, m.Name) \
                    and expr.value.name in self.ctx.file(file).imports:
                target = self.ctx.module_of(file, expr.value.name)
                if target is None:  # the import itself failed and was reported (SL204)
                    return m.reported(expr.span), file, chain
                scope = self.ctx.modules.get(target)
                entry = scope.names["const"].get(expr.attr) if scope else None
                if entry is None and scope is not None and \
                        not any(expr.attr in scope.names[k] for k in scope.names):
                    self.ctx.error(expr.attr_span, "SL203",
                                   f"module '{expr.value.name}' has no '{expr.attr}'",
                                   did_you_mean(expr.attr, [n for k in scope.names
                                                            for n in scope.names[k]]))
                    return m.reported(expr.span), file, chain
            elif isinstance(expr, m.Attr) and isinstance(expr.value, m.Name) \
                    and expr.value.name != "cluster" \
                    and not self.ctx.lookup_any(file, expr.value.name):
                # `sync.auto` without `import "std/sync"`: say so, not "wrong type".
                self.ctx.unknown_module(file, expr.value)
                return m.reported(expr.span), file, chain
            if entry is None:
                return expr, file, chain
            key = (entry.file, entry.decl.name)
            if key in chain:
                self.const_cycle(chain[chain.index(key):])
                return m.reported(expr.span), file, chain
            chain.append(key)
            self.used_constants.add(key)
            assert isinstance(entry.decl, m.Const)
            expr, file = entry.decl.value, entry.file

    def const_cycle(self, members: list[tuple[str, str]]) -> None:
        """Report a cycle of constants once, at its first-declared member."""
        if not members or frozenset(members) in self._reported_cycles:
            return
        self._reported_cycles.add(frozenset(members))
        decls = {}
        for key in members:
            for scope in [self.ctx.root, *self.ctx.modules.values()]:
                entry = scope.names["const"].get(key[1])
                if entry is not None and entry.file == key[0]:
                    decls[key] = entry.decl
        if not decls:
            return
        first = min(decls, key=lambda k: (k[0], decls[k].span.start))
        i = members.index(first)
        names = [n for _, n in members[i:] + members[:i]]
        decl = decls[first]
        message = f"constant '{names[0]}' refers to itself"
        hint = "give it a literal value" if len(names) == 1 else \
            "the cycle is " + " → ".join(names + [names[0]]) + \
            "; give one of them a literal value"
        related = tuple(Related(span=d.name_span or d.span,
                                message=f"'{d.name}' is part of the cycle")
                        for k, d in decls.items() if k != first)
        self.ctx.error(decl.name_span or decl.span, "SL208", message, hint, related=related)

    def type_error(self, expr: m.Expr, wanted: str, hint: str = "") -> None:
        if is_reported(expr):
            return
        if misplaced := misplaced_expression(expr):
            message, default_hint = misplaced
            self.ctx.error(expr.span, "SL307", f"{message}; expected {wanted} here",
                           default_hint)
            return
        self.ctx.error(expr.span, "SL302", f"expected {wanted}, found {describe(expr)}", hint)

    # scalars ------------------------------------------------------------------------
    def want_string(self, expr: m.Expr, file: str) -> str | None:
        expr, file, chain = self._deref_chain(expr, file)
        if isinstance(expr, m.Str):
            return self._interpolate_const(expr, file, chain)
        self.type_error(expr, "a string",
                        'put the text in double quotes' if isinstance(expr, m.Name) else "")
        return None

    def _interpolate_const(self, expr: m.Str, file: str,
                           chain: list[tuple[str, str]]) -> str | None:
        """Interpolate the value of the constants in ``chain`` (cycles are reported)."""
        self._const_stack.extend(chain)
        try:
            return self.interpolate(expr, file)
        finally:
            del self._const_stack[len(self._const_stack) - len(chain):]

    def check_constants(self) -> None:
        """Evaluate every constant once, so cycles among unused ones are reported too."""
        for key in sorted(self.ctx.project.files):
            for decl in self.ctx.project.files[key].module.decls:
                if isinstance(decl, m.Const) and decl.name_span is not None:
                    target, tfile, chain = self._deref_chain(
                        m.Name(span=decl.name_span, name=decl.name), key)
                    if isinstance(target, m.Str):
                        self._interpolate_const(target, tfile, chain)
        self.used_constants.clear()  # only reads by fields and arguments count as uses

    def ref(self, expr: m.Expr, file: str, kind: str):
        """Resolve a reference to a declaration of ``kind``, also through constants
        (``const envs = [dev]`` … ``deploy = envs``, ``const e = dev`` … ``deploy = [e]``).
        Same result as ``Context.resolve_ref``: (entry, handled)."""
        entry, handled = self.ctx.resolve_ref(file, expr, kind, report=False)
        if entry is not None:
            return entry, True
        if not self._names_constant(expr, file):
            return self.ctx.resolve_ref(file, expr, kind)
        target, tfile = self.deref(expr, file)
        if is_reported(target):
            return None, True
        if target is not expr:
            return self.ref(target, tfile, kind)
        return self.ctx.resolve_ref(file, expr, kind)

    def _names_constant(self, expr: m.Expr, file: str) -> bool:
        if isinstance(expr, m.Name):
            return self.ctx.lookup(file, expr.name, "const") is not None
        if isinstance(expr, m.Attr) and isinstance(expr.value, m.Name):
            target = self.ctx.file(file).imports.get(expr.value.name)
            scope = self.ctx.modules.get(target) if target else None
            return scope is not None and expr.attr in scope.names["const"]
        return False

    def check_unused_constants(self) -> None:
        """Constants nothing reads have no expected type; still, their names must exist."""
        for key in sorted(self.ctx.project.files):
            for decl in self.ctx.project.files[key].module.decls:
                if isinstance(decl, m.Const) and (key, decl.name) not in self.used_constants:
                    self._check_names(decl.value, key)

    def _check_names(self, expr: m.Expr, file: str) -> None:
        stack: list[m.Node] = [expr]
        while stack:
            e = stack.pop()
            if isinstance(e, m.Call):
                stack.extend(e.args)
                stack.extend(k.value for k in e.kwargs)
                if not isinstance(e.func, m.Name):
                    stack.append(e.func)
                elif e.func.name not in BUILTIN_FUNCTIONS:
                    self.ctx.error(e.func.span, "SL304", f"unknown function '{e.func.name}'",
                                   did_you_mean(e.func.name, BUILTIN_FUNCTIONS) or
                                   "functions: " + ", ".join(sorted(BUILTIN_FUNCTIONS)))
            elif isinstance(e, m.Name):
                if is_reported(e) or e.name in BUILTIN_NAMES or \
                        self.ctx.lookup_any(file, e.name):
                    continue
                names = {n for k in self.ctx.scope_of(file).names.values() for n in k}
                self.ctx.error(e.span, "SL200", f"unknown name '{e.name}'",
                               did_you_mean(e.name, names | BUILTIN_NAMES) or
                               "declare it, or check the spelling")
            elif isinstance(e, m.Attr) and isinstance(e.value, m.Name):
                if e.value.name in self.ctx.file(file).imports:
                    self.deref(e, file)  # reports an unknown member
                elif e.value.name != "cluster" and not self.ctx.lookup_any(file, e.value.name):
                    self.ctx.unknown_module(file, e.value)
            elif not isinstance(e, m.Str):
                stack.extend(e.children())

    def interpolate(self, expr: m.Str, file: str) -> str | None:
        out = []
        ok = True
        for part in expr.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            target, tfile, chain = self._deref_chain(part, file)
            looping = [k for k in chain if k in self._const_stack]
            if is_reported(target):
                text = None
            elif looping and isinstance(target, m.Str):
                start = self._const_stack.index(looping[0])
                cycle = self._const_stack[start:]
                self.const_cycle(cycle + [k for k in chain if k not in cycle])
                text = None
            elif isinstance(target, m.Str):
                text = self._interpolate_const(target, tfile, chain)
            elif isinstance(target, m.Int):
                text = str(target.value)
            elif isinstance(target, m.Name):
                self.ctx._unknown(file, target.name, part.span, "const")
                text = None
            else:
                self.ctx.error(part.span, "SL302",
                               f"only strings and numbers can be interpolated, found "
                               f"{describe(target)}")
                text = None
            if text is None:
                ok = False
            else:
                out.append(text)
        return "".join(out) if ok else None

    def want_bool(self, expr: m.Expr, file: str) -> bool | None:
        expr, file = self.deref(expr, file)
        if isinstance(expr, m.Bool):
            return expr.value
        hint = "write true or false without quotes" if isinstance(expr, m.Str) and \
            expr.text in ("true", "false") else ""
        self.type_error(expr, "true or false", hint)
        return None

    def want_int(self, expr: m.Expr, file: str) -> int | None:
        expr, file = self.deref(expr, file)
        if isinstance(expr, m.Int):
            return expr.value
        self.type_error(expr, "a number")
        return None

    def want_duration(self, expr: m.Expr, file: str) -> int | None:
        expr, file = self.deref(expr, file)
        if isinstance(expr, m.Duration):
            seconds = vt.parse_duration(expr.text)
            if seconds is None:
                problem = vt.check_duration(expr.text)
                self.ctx.error(expr.span, "SL403",
                               problem.message if problem else f"invalid duration {expr.text}",
                               problem.hint if problem and problem.hint else "")
            return seconds
        hint = ""
        if isinstance(expr, m.Int):
            hint = f"add a unit, e.g. {expr.value}h or {expr.value}m"
        elif isinstance(expr, m.Str):
            hint = "write durations without quotes, e.g. 2h"
        self.type_error(expr, "a duration", hint)
        return None

    def want_date(self, expr: m.Expr, file: str) -> str | None:
        expr, file = self.deref(expr, file)
        if isinstance(expr, m.Date):
            return self.check_date(expr)
        self.type_error(expr, "a date (YYYY-MM-DD)")
        return None

    def check_date(self, expr: m.Date) -> str | None:
        problem = vt.check_date(expr.text)
        if problem:
            self.ctx.error(expr.span, "SL404", problem.message, problem.hint or "")
            return None
        return expr.text

    def checked_string(self, expr: m.Expr, file: str, check: Callable[[str], Any],
                       code: str) -> str | None:
        """A string that must also pass a value-syntax check (URL, host, cron, ...)."""
        text = self.want_string(expr, file)
        if text is None:
            return None
        problem = check(text)
        if problem:
            target, _ = self.deref(expr, file)
            span = target.span
            if problem.offset is not None and isinstance(target, m.Str) and target.is_plain \
                    and span.line == span.end_line and '\\' not in target.text:
                start = problem.offset + 1
                span = span.model_copy(update={"column": span.column + start,
                                               "start": span.start + start,
                                               "end_column": span.column + start + 1,
                                               "end": span.start + start + 1})
            self.ctx.error(span, code, problem.message, problem.hint or "")
            return None
        return text

    def want_enum(self, expr: m.Expr, file: str, options: tuple[str, ...],
                  what: str) -> str | None:
        expr, file = self.deref(expr, file)
        if is_reported(expr):
            return None
        if isinstance(expr, m.Call) and isinstance(expr.func, m.Name) and not expr.args \
                and not expr.kwargs:
            expr = expr.func
        if isinstance(expr, m.Name):
            if expr.name in options:
                return expr.name
            self.ctx.error(expr.span, "SL302", f"'{expr.name}' is not {what}",
                           did_you_mean(expr.name, options) or
                           "one of: " + ", ".join(options))
            return None
        hint = "one of: " + ", ".join(options)
        if isinstance(expr, m.Str) and expr.text in options:
            hint = f"write {expr.text} without quotes"
        self.type_error(expr, what, hint)
        return None

    # composites ---------------------------------------------------------------------
    def want_list(self, expr: m.Expr, file: str, item: Callable[[m.Expr, str], Any],
                  single: bool = True, unique_what: str | None = None) -> list | None:
        expr, file = self.deref(expr, file)
        if isinstance(expr, m.ListExpr):
            out = []
            seen: dict[Any, m.Expr] = {}
            for it in expr.items:
                value = item(it, file)
                if value is None:
                    continue
                key = value if isinstance(value, (str, int, tuple)) else None
                if unique_what and key is not None and key in seen:
                    self.ctx.error(it.span, "SL308", f"{unique_what} '{key}' is listed twice",
                                   "remove the second one",
                                   related=(Related(span=seen[key].span,
                                                    message="first listed here"),))
                    continue
                if key is not None:
                    seen[key] = it
                out.append(value)
            return out
        if single and not isinstance(expr, m.MapExpr):
            value = item(expr, file)
            return None if value is None else [value]
        self.type_error(expr, "a list", "write [a, b]")
        return None

    def want_string_map(self, expr: m.Expr, file: str,
                        key_check: Callable[[str], Any] | None = None,
                        value_check: Callable[[str], Any] | None = None,
                        code: str = "SL411") -> list[tuple[str, str]] | None:
        expr, file = self.deref(expr, file)
        if not isinstance(expr, m.MapExpr):
            self.type_error(expr, "a map", 'write { key: "value" }')
            return None
        out: dict[str, str] = {}
        keys: dict[str, m.Entry] = {}
        for entry in expr.entries:
            if entry.key in keys:
                self.ctx.error(entry.key_span, "SL303", f"key '{entry.key}' is set twice",
                               "remove one of them",
                               related=(Related(span=keys[entry.key].key_span,
                                                message="first set here"),))
                continue
            keys[entry.key] = entry
            if key_check and (problem := key_check(entry.key)):
                self.ctx.error(entry.key_span, code, problem.message, problem.hint or "")
                continue
            value = self.want_string(entry.value, file)
            if value is None:
                continue
            if value_check and (problem := value_check(value)):
                self.ctx.error(entry.value.span, code, problem.message, problem.hint or "")
                continue
            out[entry.key] = value
        return sorted(out.items())

    def want_call(self, expr: m.Expr, file: str, name: str, spec: dict[str, Arg],
                  positional: tuple[str, ...] = ()) -> dict[str, Any] | None:
        """Check a call's arguments against ``spec``; a bare name counts as a call with none."""
        expr, file = self.deref(expr, file)
        if isinstance(expr, m.Name) and expr.name == name:
            expr = m.Call(span=expr.span, func=expr)
        if not (isinstance(expr, m.Call) and isinstance(expr.func, m.Name)
                and expr.func.name == name):
            self.type_error(expr, f"{name}(...)")
            return None
        out: dict[str, Any] = {}
        given: dict[str, Span] = {}
        ok = True
        if len(expr.args) > len(positional):
            extra = expr.args[len(positional)]
            named = [k for k in spec if k not in positional]
            self.ctx.error(extra.span, "SL304",
                           f"{name}() takes {len(positional) or 'no'} positional "
                           f"argument{'s' if len(positional) != 1 else ''}",
                           f"name the argument, e.g. {name}({named[0]}: ...)" if named else
                           f"remove the extra argument; {name}() takes only "
                           + (" and ".join(f"the {p}" for p in positional) if positional
                              else "named arguments"))
            ok = False
        pairs = [(k, v, v.span) for k, v in zip(positional, expr.args, strict=False)] + \
            [(k.name, k.value, k.name_span) for k in expr.kwargs]
        for kw in expr.kwargs:
            if kw.name not in spec:
                self.ctx.error(kw.name_span, "SL304",
                               f"{name}() has no argument '{kw.name}'",
                               did_you_mean(kw.name, spec) or
                               ("arguments: " + ", ".join(spec) if spec else "it takes none"))
                ok = False
        for key, value_expr, where in pairs:
            if key not in spec:
                continue
            if key in given:
                self.ctx.error(where, "SL304", f"argument '{key}' of {name}() is given twice",
                               "remove one of them",
                               related=(Related(span=given[key], message="first given here"),))
                ok = False
                continue
            given[key] = where
            value = spec[key].want(self, value_expr, file)
            if value is None:
                ok = False
            else:
                out[key] = value
        for key, arg in spec.items():
            if arg.required and key not in given:
                self.ctx.error(expr.span, "SL304", f"{name}() needs the argument '{key}'",
                               f"e.g. {name}(<{key}>)" if positional[:1] == (key,) else
                               f"add {key}: <value> to the call")
                ok = False
        return out if ok else None

    def call_name(self, expr: m.Expr, file: str) -> str | None:
        """The function or bare name an expression calls, for picking among variants."""
        expr, file = self.deref(expr, file)
        if isinstance(expr, m.Call) and isinstance(expr.func, m.Name):
            return expr.func.name
        if isinstance(expr, m.Name) and not is_reported(expr):
            return expr.name
        return None
