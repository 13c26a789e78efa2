"""Static types of policy expressions: unknown fields, wrong types and unknown names are
reported before anything runs, with the same codes and hints as the rest of the language.

Types are small strings: ``string``, ``int``, ``bool``, ``duration``, ``date``, ``regex``,
``none``, ``map``, ``any``, ``list[T]`` and the object kinds of ``world.FIELDS``.
"""

from __future__ import annotations

from .. import model as m
from .. import values_time as vt
from ..check.context import Context, did_you_mean
from ..check.evaluate import Evaluator
from .world import COLLECTIONS, DECLARED_KINDS, FIELDS

SCALARS = ("string", "int", "bool", "duration", "date", "regex", "map", "any")
TYPE_NAMES = (*SCALARS, *FIELDS)

# name -> (parameter types, result type); "any" accepts everything.
FUNCTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "len": (("any",), "int"),
    "all": (("list[bool]",), "bool"),
    "any": (("list[bool]",), "bool"),
    "lower": (("string",), "string"),
    "upper": (("string",), "string"),
    "startswith": (("string", "string"), "bool"),
    "endswith": (("string", "string"), "bool"),
    "contains": (("string", "string"), "bool"),
    "age": (("date",), "duration"),
    "now": ((), "date"),
}

ORDERED = ("int", "duration", "date", "string")
SETTINGS = {"severity": "string", "description": "string"}
SEVERITIES = ("error", "warning")


def words(t: str) -> str:
    if t.startswith("list["):
        return f"a list of {t[5:-1]}"
    if t in FIELDS:
        return f"{'an' if t[0] in 'aeiou' else 'a'} {t}"
    return {"string": "a string", "int": "a number", "bool": "a condition (true or false)",
            "duration": "a duration", "date": "a date", "regex": "a regular expression",
            "none": "none", "map": "a map", "any": "a value"}.get(t, t)


def compatible(have: str, want: str) -> bool:
    if "any" in (have, want) or have == "none" or have == want:
        return True
    if have.startswith("list[") and want.startswith("list["):
        return compatible(have[5:-1], want[5:-1])
    return False


class Typer:
    """Reports type problems of policy bodies and ``use`` arguments into the check context."""

    def __init__(self, ctx: Context, ev: Evaluator) -> None:
        self.ctx = ctx
        self.ev = ev
        self.errors = 0
        self._const_types: dict[tuple[str, str], str] = {}

    def error(self, span, code: str, message: str, *hints: str) -> str:  # noqa: ANN001
        self.errors += 1
        self.ctx.error(span, code, message, *hints)
        return "any"

    # declarations --------------------------------------------------------------------
    def param_types(self, decl: m.Policy, file: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for p in decl.params:
            declared = p.type
            if declared is not None and not self._valid_type(declared):
                self.error(p.span, "SL302", f"unknown type '{declared}'",
                           did_you_mean(declared.split("[")[0], TYPE_NAMES) or
                           "types: " + ", ".join(TYPE_NAMES) + ", list[T]")
                declared = "any"
            default = self.type_of(p.default, file, {}) if p.default is not None else None
            if declared and default and not compatible(default, declared):
                self.error(p.default.span, "SL302",
                           f"the default of '{p.name}' is {words(default)}, not "
                           f"{words(declared)}", f"give a default of type {declared}")
            out[p.name] = declared or default or "any"
        return out

    def _valid_type(self, text: str) -> bool:
        if text.startswith("list[") and text.endswith("]"):
            return self._valid_type(text[5:-1])
        return text in TYPE_NAMES

    def check_policy(self, decl: m.Policy, file: str) -> bool:
        """Type-check one policy; True when it has no problems (it may then run)."""
        before = self.errors
        scope = self.param_types(decl, file)
        seen: set[str] = set()
        self._stmts(decl.body, file, scope, seen, top=True)
        return self.errors == before

    def _stmts(self, body, file: str, scope: dict[str, str], seen: set[str],  # noqa: ANN001
               top: bool = False) -> None:
        for stmt in body:
            if isinstance(stmt, m.PolicyField):
                fld = stmt.field
                if not top or fld.name not in SETTINGS:
                    self.error(fld.name_span, "SL300",
                               f"'{fld.name}' is not a policy setting" if top else
                               "settings belong at the top of the policy body",
                               did_you_mean(fld.name, SETTINGS) or
                               "policy settings: severity, description")
                    continue
                if fld.name in seen:
                    self.error(fld.name_span, "SL303", f"'{fld.name}' is set twice",
                               "keep one of them")
                seen.add(fld.name)
                got = self.type_of(fld.value, file, scope)
                if not compatible(got, "string"):
                    self.error(fld.value.span, "SL302",
                               f"'{fld.name}' must be a string, found {words(got)}",
                               'e.g. severity = "warning"')
                elif fld.name == "severity" and isinstance(fld.value, m.Str) and \
                        fld.value.is_plain and fld.value.text not in SEVERITIES:
                    self.error(fld.value.span, "SL302",
                               f"severity must be \"error\" or \"warning\", not "
                               f"\"{fld.value.text}\"", did_you_mean(fld.value.text, SEVERITIES)
                               or 'write severity = "warning" or leave it out for errors')
            elif isinstance(stmt, m.ForStmt):
                inner = dict(scope)
                inner[stmt.var] = self._element(stmt.iterable, file, scope)
                if stmt.where is not None:
                    self.want(stmt.where, file, inner, "bool")
                self._stmts(stmt.body, file, inner, seen)
            else:
                self.want(stmt.condition, file, scope, "bool")
                self.want(stmt.message, file, scope, "string")

    def want(self, expr: m.Expr, file: str, scope: dict[str, str], wanted: str) -> None:
        got = self.type_of(expr, file, scope)
        if not compatible(got, wanted):
            hint = "compare it, e.g. x == \"value\", or test it with exists" \
                if wanted == "bool" else ""
            self.error(expr.span, "SL302", f"expected {words(wanted)}, found {words(got)}",
                       hint)

    def _element(self, expr: m.Expr, file: str, scope: dict[str, str]) -> str:
        got = self.type_of(expr, file, scope)
        if got.startswith("list["):
            return got[5:-1]
        if got != "any":
            self.error(expr.span, "SL302", f"'for' needs a list, found {words(got)}",
                       "loop over deployments, apps, environments, images, registries, "
                       "promotions or a list")
        return "any"

    # expressions ---------------------------------------------------------------------
    def type_of(self, e: m.Expr, file: str, scope: dict[str, str]) -> str:  # noqa: C901
        if m.is_reported(e):
            return "any"
        if isinstance(e, m.Name):
            return self._name(e, file, scope)
        if isinstance(e, m.Attr):
            return self._attr(e, file, scope)
        if isinstance(e, m.Index):
            base = self.type_of(e.value, file, scope)
            index = self.type_of(e.index, file, scope)
            if base.startswith("list["):
                if not compatible(index, "int"):
                    self.error(e.index.span, "SL302", "a list index must be a number",
                               "lists are indexed from 0: xs[0]")
                return base[5:-1]
            if base == "map":
                if not compatible(index, "string"):
                    self.error(e.index.span, "SL302", "a map key must be a string",
                               'e.g. a.labels["team"]')
                return "string"
            if base != "any":
                return self.error(e.span, "SL302", f"{words(base)} cannot be indexed",
                                  "only lists and maps can be indexed")
            return "any"
        if isinstance(e, m.Call):
            return self._call(e, file, scope)
        if isinstance(e, m.Str):
            for part in e.parts:
                if not isinstance(part, str):
                    self.type_of(part, file, scope)
            return "string"
        if isinstance(e, m.Int):
            return "int"
        if isinstance(e, m.Bool):
            return "bool"
        if isinstance(e, m.NoneLit):
            return "none"
        if isinstance(e, m.Duration):
            if problem := vt.check_duration(e.text):
                return self.error(e.span, "SL403", problem.message, problem.hint or "")
            return "duration"
        if isinstance(e, m.Date):
            self.ev.check_date(e)
            return "date"
        if isinstance(e, m.Regex):
            return "regex"
        if isinstance(e, m.ListExpr):
            items = [self.type_of(i, file, scope) for i in e.items]
            kinds = {t for t in items if t not in ("none", "any")}
            return f"list[{kinds.pop()}]" if len(kinds) == 1 else "list[any]"
        if isinstance(e, m.Comprehension):
            inner = dict(scope)
            inner[e.var] = self._element(e.iterable, file, scope)
            if e.where is not None:
                self.want(e.where, file, inner, "bool")
            return f"list[{self.type_of(e.item, file, inner)}]"
        if isinstance(e, m.MapExpr):
            for entry in e.entries:
                self.type_of(entry.value, file, scope)
            return "map"
        if isinstance(e, m.Not):
            self.want(e.operand, file, scope, "bool")
            return "bool"
        if isinstance(e, m.Exists):
            self.type_of(e.operand, file, scope)
            return "bool"
        if isinstance(e, m.Binary):
            return self._binary(e, file, scope)
        return self.error(e.span, "SL307", f"{e.kind} is not allowed in a policy",
                          "see docs/policies.md for the expressions policies take")

    def _name(self, e: m.Name, file: str, scope: dict[str, str]) -> str:
        if e.name in scope:
            return scope[e.name]
        if e.name in COLLECTIONS:
            return f"list[{COLLECTIONS[e.name]}]"
        for kind in DECLARED_KINDS:
            if self.ctx.lookup(file, e.name, kind) is not None:
                return kind
        if self.ctx.lookup(file, e.name, "const") is not None:
            return self._const(e, file)
        known = set(scope) | set(COLLECTIONS) | {
            n for k in ("environment", "app", "image", "registry", "const")
            for n in self.ctx.scope_of(file).names[k]}
        return self.error(e.span, "SL200", f"unknown name '{e.name}'",
                          did_you_mean(e.name, known) or
                          "names here: loop variables, parameters, deployments, apps, "
                          "environments, images, registries, promotions, declared names and "
                          "constants")

    def _const(self, e: m.Expr, file: str) -> str:
        target, tfile = self.ev.deref(e, file)
        if m.is_reported(target):
            return "any"
        key = (tfile, str(target.span))
        if key not in self._const_types:
            self._const_types[key] = "any"  # a cycle was reported by the checker
            self._const_types[key] = self.type_of(target, tfile, {})
        return self._const_types[key]

    def _attr(self, e: m.Attr, file: str, scope: dict[str, str]) -> str:
        if isinstance(e.value, m.Name) and e.value.name not in scope and \
                e.value.name in self.ctx.file(file).imports:
            return self._const(e, file)
        base = self.type_of(e.value, file, scope)
        if base in FIELDS:
            fields = FIELDS[base]
            if e.attr in fields:
                return fields[e.attr]
            return self.error(e.attr_span, "SL300", f"{words(base)} has no field '{e.attr}'",
                              did_you_mean(e.attr, fields) or
                              f"fields of {base}: " + ", ".join(sorted(fields)))
        if base == "any":
            return "any"
        hint = 'read a label with labels["key"]' if base == "map" else ""
        return self.error(e.attr_span, "SL302", f"{words(base)} has no fields", hint)

    def _call(self, e: m.Call, file: str, scope: dict[str, str]) -> str:
        if not isinstance(e.func, m.Name) or e.func.name not in FUNCTIONS:
            name = e.func.name if isinstance(e.func, m.Name) else "this"
            return self.error(e.func.span, "SL304", f"unknown function '{name}' in a policy",
                              did_you_mean(name, FUNCTIONS) or
                              "functions: " + ", ".join(sorted(FUNCTIONS)))
        params, result = FUNCTIONS[e.func.name]
        if e.kwargs or len(e.args) != len(params):
            return self.error(e.span, "SL304",
                              f"{e.func.name}() takes {len(params)} argument"
                              f"{'s' if len(params) != 1 else ''}",
                              f"e.g. {e.func.name}({', '.join(params)})")
        for arg, want in zip(e.args, params, strict=True):
            got = self.type_of(arg, file, scope)
            if e.func.name == "len" and not (got.startswith("list[") or
                                             got in ("string", "map", "any")):
                self.error(arg.span, "SL302", f"len() needs a list, string or map, found "
                                              f"{words(got)}", "e.g. len(a.images)")
            elif not compatible(got, want):
                self.error(arg.span, "SL302", f"{e.func.name}() needs {words(want)}, found "
                                              f"{words(got)}",
                           f"e.g. {e.func.name}({', '.join(params)})")
        return result

    def _binary(self, e: m.Binary, file: str, scope: dict[str, str]) -> str:
        if e.op in ("and", "or"):
            self.want(e.left, file, scope, "bool")
            self.want(e.right, file, scope, "bool")
            return "bool"
        if e.op == "/":
            return self.error(e.op_span, "SL307", "'/' joins registry paths; it has no "
                                                  "meaning in a policy",
                              "compare i.reference or i.host instead")
        left = self.type_of(e.left, file, scope)
        right = self.type_of(e.right, file, scope)
        if e.op in ("<", "<=", ">", ">="):
            for side, t in ((e.left, left), (e.right, right)):
                if t not in (*ORDERED, "any", "none"):
                    self.error(side.span, "SL302", f"'{e.op}' compares numbers, durations, "
                                                   f"dates or strings, not {words(t)}",
                               "compare a field of it, e.g. p.soak >= 24h")
            if left in ORDERED and right in ORDERED and left != right:
                self.error(e.op_span, "SL302",
                           f"cannot compare {words(left)} with {words(right)}",
                           f"write {words(left)} on both sides, e.g. 24h rather than \"24h\"")
        elif e.op in ("in", "not in"):
            if right.startswith("list["):
                if not compatible(left, right[5:-1]) and not compatible(right[5:-1], left):
                    self.error(e.left.span, "SL302", f"{words(left)} is never in "
                                                     f"{words(right)}",
                               "compare values of the same kind, e.g. d.env in [prod] or "
                               "d.env.name in [\"prod\"]")
            elif right in ("string", "map"):
                if not compatible(left, "string"):
                    self.error(e.left.span, "SL302", f"expected a string, found {words(left)}",
                               'e.g. "team" in a.labels')
            elif right != "any":
                self.error(e.right.span, "SL302", f"'{e.op}' needs a list, string or map on "
                                                  f"the right, found {words(right)}",
                           "e.g. d.env in [staging, prod]")
        elif e.op in ("=~", "!~"):
            if not compatible(left, "string"):
                self.error(e.left.span, "SL302", f"'{e.op}' matches strings, not "
                                                 f"{words(left)}", "e.g. i.name =~ /^team-/")
            if right not in ("regex", "string", "any"):
                self.error(e.right.span, "SL302", f"'{e.op}' needs a regular expression, found "
                                                  f"{words(right)}", "e.g. i.name =~ /^team-/")
        elif left in FIELDS and right in ("string",) or right in FIELDS and left == "string":
            self.error(e.op_span, "SL302", f"{words(left)} is never equal to {words(right)}",
                       "compare names: x.name == \"prod\", or compare with the declaration: "
                       "x == prod")
        return "bool"
