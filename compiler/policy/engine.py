"""Which policies apply, running them over the model, and waivers.

A policy declared in the project's own files applies by itself unless a ``use`` names it
(then each ``use`` is one application, with its arguments); a policy from an imported module
(the standard library, a shared file) applies only where a ``use`` names it. Each rule is
three-valued: met, broken, or undecided when it depends on a fact nobody knows yet (no lock
entry, signatures not asked) — `check` then stays quiet and `resolve`, `apply` and
`promote` decide with fresh facts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .. import model as m
from ..check.context import Context, did_you_mean
from ..check.evaluate import Evaluator
from ..diagnostics import Diagnostic, Related, Severity, Span, error, warning
from ..spec import Spec
from .types import SEVERITIES, Typer, compatible, words
from .world import (
    COLLECTIONS,
    DECLARED_KINDS,
    UNKNOWN,
    Duration,
    Facts,
    Obj,
    World,
    deploy_entry_span,
    parse_time,
)

WAIVABLE = ("app", "environment", "image", "registry")
# Which scope names a violation of a compound object: a deployment by its app, a promotion
# by its image, a freeze window by its environment.
SUBJECT_ORDER = ("app", "image", "environment", "registry")
WAIVER_DAYS = 30


@dataclass
class Instance:
    """One application of a policy: a local policy on its own, or one ``use`` line."""

    decl: m.Policy
    file: str
    label: str
    use: m.Use | None = None
    use_file: str | None = None
    args: dict[str, tuple[m.Expr, str]] = field(default_factory=dict)
    severity: tuple[m.Expr, str] | None = None


@dataclass
class Waiver:
    decl: m.Waive
    file: str
    label: str
    policy: m.Policy | None
    scope: tuple[str, str] | None
    until: datetime | None
    used: bool = False
    maybe: bool = False


@dataclass
class Violation:
    instance: Instance
    stmt: m.Require
    message: str
    subjects: tuple[object, ...]
    severity: Severity

    @property
    def objects(self) -> list[Obj]:
        return [s for s in self.subjects if isinstance(s, Obj)]

    @property
    def scope(self) -> frozenset[tuple[str, str]]:
        out: frozenset[tuple[str, str]] = frozenset()
        for o in self.objects:
            out |= o.scope
        return out

    @property
    def subject(self) -> str | None:
        """What a waiver would name: ``app shop`` (the first object a waiver can scope)."""
        return next((f"{o.kind} {o.name}" for o in self.objects if o.kind in WAIVABLE), None) \
            or next((f"{k} {n}" for kind in SUBJECT_ORDER for k, n in sorted(self.scope)
                     if k == kind), None)


class Failure(Exception):
    """A policy cannot be evaluated (a bad regular expression in an argument, say)."""

    def __init__(self, span: Span, message: str) -> None:
        super().__init__(message)
        self.span = span
        self.message = message


def _target(expr: m.Expr) -> m.Expr:
    return expr.func if isinstance(expr, m.Call) else expr


def _label(expr: m.Expr) -> str:
    expr = _target(expr)
    if isinstance(expr, m.Attr) and isinstance(expr.value, m.Name):
        return f"{expr.value.name}.{expr.attr}"
    return expr.name if isinstance(expr, m.Name) else "?"


class PolicySet:
    """Built by the checker: the policies that apply (type-checked) and the waivers. Kept on
    the project so that resolve, apply and promote can evaluate again with fresh facts."""

    def __init__(self, ctx: Context, ev: Evaluator) -> None:
        self.ctx = ctx
        self.ev = ev
        self.typer = Typer(ctx, ev)
        self.instances: list[Instance] = []
        self.waivers: list[Waiver] = []
        self.runnable: dict[int, bool] = {}
        self._build()

    # building ------------------------------------------------------------------------
    def _build(self) -> None:
        files = self.ctx.project.files
        used: set[int] = set()
        for key in sorted(files):
            for decl in files[key].module.decls:
                if isinstance(decl, m.Policy):
                    self.runnable[id(decl)] = self.typer.check_policy(decl, key)
        for key in sorted(files):
            for decl in files[key].module.decls:
                if isinstance(decl, m.Use):
                    entry, _ = self.ctx.resolve_ref(key, _target(decl.target), "policy",
                                                    report=False)
                    if entry is None:
                        continue  # reported by check_policy_refs
                    used.add(id(entry.decl))
                    inst = self._bind(decl, key, entry.decl, entry.file)
                    if inst is not None:
                        self.instances.append(inst)
                elif isinstance(decl, m.Waive):
                    self._waiver(decl, key)
        for key in sorted(files):
            if not files[key].is_root:
                continue
            for decl in files[key].module.decls:
                if not isinstance(decl, m.Policy) or id(decl) in used:
                    continue
                missing = [p.name for p in decl.params if p.default is None]
                if missing:
                    self.ctx.warning(decl.name_span or decl.span, "SL805",
                                     f"policy '{decl.name}' never applies: it needs "
                                     f"{', '.join(missing)}",
                                     f"turn it on with arguments: use {decl.name}("
                                     + ", ".join(f"{n}: ..." for n in missing) + ")")
                    continue
                self.instances.append(Instance(
                    decl=decl, file=key, label=decl.name,
                    args={p.name: (p.default, key) for p in decl.params if p.default}))

    def _bind(self, use: m.Use, file: str, decl: m.Policy, decl_file: str) -> Instance | None:
        inst = Instance(decl=decl, file=decl_file, label=_label(use.target), use=use,
                        use_file=file)
        call = use.target if isinstance(use.target, m.Call) else None
        params = {p.name: p for p in decl.params}
        types = self.typer.param_types(decl, decl_file) if call else {}
        ok = True
        if call is not None:
            if len(call.args) > len(decl.params):
                self.ctx.error(call.args[len(decl.params)].span, "SL304",
                               f"policy '{decl.name}' takes {len(decl.params)} argument"
                               f"{'s' if len(decl.params) != 1 else ''}",
                               "parameters: " + (", ".join(params) or "none"))
                ok = False
            for p, arg in zip(decl.params, call.args, strict=False):
                inst.args[p.name] = (arg, file)
            for kw in call.kwargs:
                if kw.name == "severity" and "severity" not in params:
                    inst.severity = (kw.value, file)
                    self._want(kw.value, file, "string")
                    continue
                if kw.name not in params:
                    self.ctx.error(kw.name_span, "SL304",
                                   f"policy '{decl.name}' has no parameter '{kw.name}'",
                                   did_you_mean(kw.name, [*params, "severity"]) or
                                   "parameters: " + (", ".join(params) or "none"))
                    ok = False
                    continue
                if kw.name in inst.args:
                    self.ctx.error(kw.name_span, "SL304", f"'{kw.name}' is given twice",
                                   "give each argument once")
                    ok = False
                inst.args[kw.name] = (kw.value, file)
            for name, (arg, afile) in inst.args.items():
                if name in types and not self._want(arg, afile, types[name]):
                    ok = False
        missing = [p.name for p in decl.params if p.name not in inst.args and p.default is None]
        if missing:
            self.ctx.error(use.target.span, "SL304",
                           f"policy '{decl.name}' needs {', '.join(missing)}",
                           f"e.g. use {inst.label}("
                           + ", ".join(f"{n}: ..." for n in missing) + ")")
            ok = False
        for p in decl.params:
            if p.name not in inst.args and p.default is not None:
                inst.args[p.name] = (p.default, decl_file)
        return inst if ok else None

    def _want(self, expr: m.Expr, file: str, wanted: str) -> bool:
        before = self.typer.errors
        got = self.typer.type_of(expr, file, {})
        if self.typer.errors == before and not compatible(got, wanted):
            self.ctx.error(expr.span, "SL302", f"expected {words(wanted)}, found {words(got)}",
                           f"the parameter is declared as {wanted}")
            return False
        return self.typer.errors == before

    def _waiver(self, decl: m.Waive, file: str) -> None:
        entry, _ = self.ctx.resolve_ref(file, decl.target, "policy", report=False)
        scope = (decl.scope_kind, decl.scope_name) \
            if decl.scope_kind in WAIVABLE and decl.scope_name else None
        self.waivers.append(Waiver(decl=decl, file=file, label=_label(decl.target),
                                   policy=entry.decl if entry else None, scope=scope,
                                   until=parse_time(decl.until.text)))

    # evaluation ----------------------------------------------------------------------
    def evaluate(self, spec: Spec, facts: Facts, *, waivers: bool = True,
                 found: list[Violation] | None = None) -> list[Diagnostic]:
        """Every violation (and waiver problem) of the policies that apply; the violations
        no waiver covers are also appended to ``found`` when given."""
        if not self.instances and not self.waivers:
            return []  # nothing to evaluate: a large estate without policies pays nothing
        world = World(spec, facts, self._anchor, self._deploy_anchor)
        diags: list[Diagnostic] = []
        violations: list[Violation] = []
        undecided: list[tuple[Instance, frozenset[tuple[str, str]]]] = []
        for inst in self.instances:
            if not self.runnable.get(id(inst.decl), False):
                continue
            run = _Run(self, world, inst)
            try:
                run.start()
            except Failure as exc:
                diags.append(error(exc.span, "SL804", f"policy {inst.label} could not be "
                                                      f"evaluated: {exc.message}",
                                   "the policy is skipped until this is fixed",
                                   *self._turned_on(inst)))
                continue
            violations.extend(run.violations)
            undecided.extend((inst, s) for s in run.undecided)
        for w in self.waivers:
            w.used = w.maybe = False
        for v in violations:
            waived = False
            for w in self._active(facts.now):
                if w.policy is v.instance.decl and (w.scope is None or w.scope in v.scope):
                    w.used = waived = True
            if not waived:
                diags.append(self._diagnostic(v, facts.now))
                if found is not None:
                    found.append(v)
        for inst, scope in undecided:
            for w in self.waivers:
                if w.policy is inst.decl and (w.scope is None or w.scope in scope):
                    w.maybe = True
        if waivers:
            diags.extend(self._waiver_problems(facts.now))
        return diags

    def _turned_on(self, inst: Instance) -> tuple[str, ...]:
        return (f"turned on at {inst.use.span}",) if inst.use else ()

    def _active(self, now: datetime) -> list[Waiver]:
        return [w for w in self.waivers if w.policy is not None and not _expired(w, now)]

    def _waiver_problems(self, now: datetime) -> list[Diagnostic]:
        out = []
        applied = {id(i.decl) for i in self.instances}
        for w in self.waivers:
            if w.policy is None or w.until is None:
                continue
            what = w.label + (f" for {w.scope[0]} {w.scope[1]}" if w.scope else "")
            if _expired(w, now):
                out.append(error(w.decl.until.span, "SL801",
                                 f"the waiver of {what} expired on {w.decl.until.text}",
                                 "fix what it waived and remove the waiver, or give it a "
                                 "later date and say why in 'because'",
                                 related=(Related(span=w.decl.reason.span,
                                                  message="the reason it was given"),)))
            elif not w.used and not w.maybe:
                hint = "remove it" if id(w.policy) in applied else \
                    f"policy {w.label} is not turned on; add 'use {w.label}' or remove it"
                out.append(warning(w.decl.span, "SL802", f"the waiver of {what} matches no "
                                                         "violation", hint))
        return out

    def _diagnostic(self, v: Violation, now: datetime) -> Diagnostic:
        inst = v.instance
        anchor = next((o.anchor for o in v.objects if o.anchor is not None), None) or \
            (inst.use.target.span if inst.use else inst.decl.name_span or inst.decl.span)
        hints = []
        description = _setting(inst.decl, "description")
        if description:
            hints.append(description)
        scoped = v.subject
        until = (now + timedelta(days=WAIVER_DAYS)).date().isoformat()
        scope = f" for {scoped}" if scoped else ""
        hints.append(f"to accept it for now: waive {inst.label}{scope} until {until} "
                     'because "..."')
        related = [Related(span=v.stmt.span, message=f"{v.stmt.stmt}d by policy {inst.label}"
                           if v.stmt.stmt == "require" else f"denied by policy {inst.label}")]
        if inst.use is not None:
            related.append(Related(span=inst.use.span, message="the policy is turned on here"))
        diag = Diagnostic(span=anchor, severity=v.severity, code="SL800",
                          message=f"{v.message} (policy {inst.label})", hints=tuple(hints),
                          related=tuple(related), policy=inst.label,
                          policy_help=description or inst.decl.doc)
        return diag

    # name anchors --------------------------------------------------------------------
    def _anchor(self, kind: str, name: str) -> Span | None:
        entry = self.ctx.root.names[kind].get(name)
        return (entry.decl.name_span or entry.decl.span) if entry else None

    def _deploy_anchor(self, app: str, env: str) -> Span | None:
        entry = self.ctx.root.names["app"].get(app)
        return deploy_entry_span(entry.decl, env) if entry and \
            isinstance(entry.decl, m.Block) else None


def _expired(w: Waiver, now: datetime) -> bool:
    if w.until is None:
        return False
    if len(w.decl.until.text) == 10:  # a date: the waiver holds through that whole day (UTC)
        return now.astimezone(UTC).date() > w.until.date()
    return now > w.until


def _setting(decl: m.Policy, name: str) -> str | None:
    for stmt in decl.body:
        if isinstance(stmt, m.PolicyField) and stmt.field.name == name and \
                isinstance(stmt.field.value, m.Str) and stmt.field.value.is_plain:
            return stmt.field.value.text
    return None


# ---------------------------------------------------------------- running one instance


def _truth(value: object, span: Span) -> object:
    if value is UNKNOWN or isinstance(value, bool):
        return value
    if value is None:
        return False
    raise Failure(span, f"expected true or false, found {_show(value)}")


def _show(value: object) -> str:
    if value is None:
        return "none"
    if value is UNKNOWN:
        return "unknown"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Obj):
        return value.name
    if isinstance(value, datetime):
        return value.date().isoformat() if (value.hour, value.minute, value.second) == \
            (0, 0, 0) else value.isoformat().replace("+00:00", "Z")
    if isinstance(value, tuple | list):
        return ", ".join(_show(v) for v in value)
    if isinstance(value, re.Pattern):
        return f"/{value.pattern}/"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_show(v)}" for k, v in sorted(value.items()))
    return str(value)


class _Run:
    def __init__(self, ps: PolicySet, world: World, inst: Instance) -> None:
        self.ps = ps
        self.world = world
        self.inst = inst
        self.violations: list[Violation] = []
        self.undecided: list[frozenset[tuple[str, str]]] = []
        self.severity = Severity.ERROR
        self._const_depth = 0

    def start(self) -> None:
        scope = {name: self.eval(expr, file, {}) for name, (expr, file) in
                 sorted(self.inst.args.items())}
        severity = None
        if self.inst.severity is not None:
            expr, file = self.inst.severity
            severity = (self.eval(expr, file, {}), expr.span)
        else:
            for stmt in self.inst.decl.body:
                if isinstance(stmt, m.PolicyField) and stmt.field.name == "severity":
                    severity = (self.eval(stmt.field.value, self.inst.file, scope),
                                stmt.field.value.span)
        if severity is not None:
            if severity[0] not in SEVERITIES:
                raise Failure(severity[1], f"severity must be \"error\" or \"warning\", not "
                                           f"{_show(severity[0])!r}")
            self.severity = Severity(severity[0])
        self.stmts(self.inst.decl.body, scope, ())

    def stmts(self, body, scope: dict, subjects: tuple) -> None:  # noqa: ANN001
        file = self.inst.file
        for stmt in body:
            if isinstance(stmt, m.PolicyField):
                continue
            if isinstance(stmt, m.ForStmt):
                items = self.eval(stmt.iterable, file, scope)
                if items is UNKNOWN:
                    self._undecided(subjects)
                    continue
                for item in self._iterable(items, stmt.iterable.span):
                    inner = {**scope, stmt.var: item}
                    here = (*subjects, item)
                    if stmt.where is not None:
                        keep = _truth(self.eval(stmt.where, file, inner), stmt.where.span)
                        if keep is UNKNOWN:
                            self._undecided(here)
                            continue
                        if not keep:
                            continue
                    self.stmts(stmt.body, inner, here)
                continue
            held = _truth(self.eval(stmt.condition, file, scope), stmt.condition.span)
            if held is UNKNOWN:
                self._undecided(subjects)
                continue
            if held == (stmt.stmt == "deny"):
                message = _show(self.eval(stmt.message, file, scope))
                self.violations.append(Violation(self.inst, stmt, message, subjects,
                                                 self.severity))

    def _undecided(self, subjects: tuple) -> None:
        scope: frozenset[tuple[str, str]] = frozenset()
        for s in subjects:
            if isinstance(s, Obj):
                scope |= s.scope
        self.undecided.append(scope)

    @staticmethod
    def _iterable(items: object, span: Span) -> tuple:
        if items is None:
            return ()
        if isinstance(items, tuple | list):
            return tuple(items)
        if isinstance(items, dict):
            return tuple(sorted(items))
        raise Failure(span, f"expected a list, found {_show(items)}")

    # expressions ---------------------------------------------------------------------
    def eval(self, e: m.Expr, file: str, scope: dict) -> object:  # noqa: C901
        if isinstance(e, m.Name):
            return self._name(e, file, scope)
        if isinstance(e, m.Attr):
            if isinstance(e.value, m.Name) and e.value.name not in scope and \
                    e.value.name in self.ps.ctx.file(file).imports:
                return self._const(e, file)
            base = self.eval(e.value, file, scope)
            if base is UNKNOWN or base is None:
                return base
            if isinstance(base, Obj):
                return base.get(e.attr)
            raise Failure(e.attr_span, f"{_show(base)} has no field '{e.attr}'")
        if isinstance(e, m.Index):
            base = self.eval(e.value, file, scope)
            index = self.eval(e.index, file, scope)
            if UNKNOWN in (base, index) or base is None:
                return UNKNOWN if UNKNOWN in (base, index) else None
            if isinstance(base, dict):
                return base.get(index)
            if isinstance(base, tuple) and isinstance(index, int):
                return base[index] if -len(base) <= index < len(base) else None
            raise Failure(e.span, f"cannot index {_show(base)} with {_show(index)}")
        if isinstance(e, m.Call):
            return self._call(e, file, scope)
        if isinstance(e, m.Str):
            return "".join(p if isinstance(p, str) else _show(self.eval(p, file, scope))
                           for p in e.parts)
        if isinstance(e, m.Int | m.Bool):
            return e.value
        if isinstance(e, m.NoneLit):
            return None
        if isinstance(e, m.Duration):
            from .. import values_time as vt
            return Duration(vt.parse_duration(e.text) or 0)
        if isinstance(e, m.Date):
            return parse_time(e.text)
        if isinstance(e, m.Regex):
            return self._regex(e.pattern, e.span)
        if isinstance(e, m.ListExpr):
            return tuple(self.eval(i, file, scope) for i in e.items)
        if isinstance(e, m.Comprehension):
            return self._comprehension(e, file, scope)
        if isinstance(e, m.MapExpr):
            return {en.key: self.eval(en.value, file, scope) for en in e.entries}
        if isinstance(e, m.Not):
            value = _truth(self.eval(e.operand, file, scope), e.operand.span)
            return UNKNOWN if value is UNKNOWN else not value
        if isinstance(e, m.Exists):
            value = self.eval(e.operand, file, scope)
            return UNKNOWN if value is UNKNOWN else value is not None
        if isinstance(e, m.Binary):
            return self._binary(e, file, scope)
        raise Failure(e.span, f"{e.kind} cannot be evaluated in a policy")

    def _name(self, e: m.Name, file: str, scope: dict) -> object:
        if e.name in scope:
            return scope[e.name]
        if e.name in COLLECTIONS:
            return self.world.collection(e.name)
        ctx = self.ps.ctx
        for kind in DECLARED_KINDS:
            if ctx.lookup(file, e.name, kind) is not None:
                return self.world.declared(kind, e.name)
        if ctx.lookup(file, e.name, "const") is not None:
            return self._const(e, file)
        raise Failure(e.span, f"unknown name '{e.name}'")

    def _const(self, e: m.Expr, file: str) -> object:
        target, tfile = self.ps.ev.deref(e, file)
        if m.is_reported(target) or self._const_depth > 50:
            raise Failure(e.span, "the constant cannot be evaluated")
        self._const_depth += 1
        try:
            return self.eval(target, tfile, {})
        finally:
            self._const_depth -= 1

    def _regex(self, pattern: str, span: Span) -> re.Pattern:
        try:
            return re.compile(pattern)
        except re.error as exc:
            raise Failure(span, f"/{pattern}/ is not a valid regular expression ({exc})") \
                from None

    def _comprehension(self, e: m.Comprehension, file: str, scope: dict) -> object:
        items = self.eval(e.iterable, file, scope)
        if items is UNKNOWN:
            return UNKNOWN
        out = []
        for item in self._iterable(items, e.iterable.span):
            inner = {**scope, e.var: item}
            if e.where is not None:
                keep = _truth(self.eval(e.where, file, inner), e.where.span)
                if keep is UNKNOWN:
                    return UNKNOWN
                if not keep:
                    continue
            out.append(self.eval(e.item, file, inner))
        return tuple(out)

    def _call(self, e: m.Call, file: str, scope: dict) -> object:
        name = e.func.name if isinstance(e.func, m.Name) else ""
        args = [self.eval(a, file, scope) for a in e.args]
        if name == "now":
            return self.world.facts.now
        value = args[0]
        if name in ("all", "any"):
            if value is UNKNOWN:
                return UNKNOWN
            truths = [_truth(v, e.args[0].span) for v in self._iterable(value, e.span)]
            decided = (False if name == "all" else True)
            if decided in truths:
                return decided
            return UNKNOWN if UNKNOWN in truths else not decided
        if UNKNOWN in args:
            return UNKNOWN
        if name == "len":
            return 0 if value is None else len(value)  # type: ignore[arg-type]
        if value is None:
            return None
        if name == "lower":
            return str(value).lower()
        if name == "upper":
            return str(value).upper()
        if name in ("startswith", "endswith", "contains"):
            if args[1] is None:
                return False
            op = {"startswith": str.startswith, "endswith": str.endswith,
                  "contains": str.__contains__}[name]
            return op(str(value), str(args[1]))
        if name == "age":
            if not isinstance(value, datetime):
                raise Failure(e.args[0].span, f"age() needs a date, found {_show(value)}")
            return Duration(int((self.world.facts.now - value).total_seconds()))
        raise Failure(e.span, f"unknown function '{name}'")

    def _binary(self, e: m.Binary, file: str, scope: dict) -> object:
        if e.op in ("and", "or"):
            left = _truth(self.eval(e.left, file, scope), e.left.span)
            if left is (e.op == "or"):
                return left
            right = _truth(self.eval(e.right, file, scope), e.right.span)
            if right is (e.op == "or"):
                return right
            return UNKNOWN if UNKNOWN in (left, right) else e.op == "and"
        left = self.eval(e.left, file, scope)
        right = self.eval(e.right, file, scope)
        if left is UNKNOWN or right is UNKNOWN:
            return UNKNOWN
        if e.op in ("==", "!="):
            return (left == right) == (e.op == "==")
        if e.op in ("<", "<=", ">", ">="):
            if left is None or right is None:
                return False
            try:
                return {"<": left < right, "<=": left <= right, ">": left > right,
                        ">=": left >= right}[e.op]  # type: ignore[operator]
            except TypeError:
                raise Failure(e.op_span, f"cannot compare {_show(left)} with "
                                         f"{_show(right)}") from None
        if e.op in ("in", "not in"):
            if right is None:
                found = False
            elif isinstance(right, str):
                found = left is not None and str(left) in right
            elif isinstance(right, tuple | list | dict):
                if UNKNOWN in right:
                    return UNKNOWN
                found = left in right
            else:
                raise Failure(e.right.span, f"'{e.op}' needs a list, found {_show(right)}")
            return found == (e.op == "in")
        if e.op in ("=~", "!~"):
            if left is None:
                return e.op == "!~"
            pattern = right if isinstance(right, re.Pattern) else \
                self._regex(str(right), e.right.span)
            return (pattern.search(str(left)) is not None) == (e.op == "=~")
        raise Failure(e.op_span, f"'{e.op}' cannot be evaluated in a policy")
