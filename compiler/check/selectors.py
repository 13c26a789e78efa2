"""Cluster selectors: expressions over ``cluster.<label>`` turned into Argo CD label tests.

Negations are pushed down to the tests (``not cluster.env == "a"`` is ``NotIn``), so the
typed selector only holds what a cluster generator's matchLabels/matchExpressions can say,
joined by and/or. The compile stage turns or-selectors into disjoint generators.
"""

from __future__ import annotations

from .. import model as m
from .. import spec as s
from .. import values as v
from ..selector_logic import NEGATE, satisfiable
from .evaluate import Evaluator, is_reported

SELECTOR_HINT = 'compare a cluster label with a string, e.g. cluster.env == "prod"'


def want_selector(ev: Evaluator, expr: m.Expr, file: str) -> s.Selector | None:
    expr, file = ev.deref(expr, file)
    selector = _selector(ev, expr, file, negate=False)
    if selector is not None and not satisfiable(selector):
        ev.ctx.warning(expr.span, "SL600", "this cluster selector can never match any cluster",
                       "two tests on the same label contradict each other")
    return selector


def want_rollout_step(ev: Evaluator, expr: m.Expr, file: str):
    expr, file = ev.deref(expr, file)
    if isinstance(expr, m.Name) and expr.name == "rest":
        return s.RestStep(span=expr.span)
    selector = _selector(ev, expr, file, negate=False)
    if selector is None:
        return None
    tests = selector.terms if isinstance(selector, s.SelAnd) else (selector,)
    for t in tests:
        if not isinstance(t, s.LabelTest) or t.op in ("exists", "not exists"):
            ev.ctx.error(expr.span, "SL601",
                         "a rollout step can only test labels with ==, !=, in and not in "
                         "joined by 'and'",
                         "Argo CD RollingSync steps are matchExpressions with In/NotIn")
            return None
    return selector


def _label(ev: Evaluator, expr: m.Expr, file: str) -> str | None:
    """The label key of ``cluster.key`` or ``cluster["key"]``; None if not a label."""
    if isinstance(expr, m.Attr) and isinstance(expr.value, m.Name) \
            and expr.value.name == "cluster":
        key = expr.attr
    elif isinstance(expr, m.Index) and isinstance(expr.value, m.Name) \
            and expr.value.name == "cluster":
        key = ev.want_string(expr.index, file)
        if key is None:
            return None
    else:
        return None
    if problem := v.check_label_key(key):
        ev.ctx.error(expr.span, "SL411", problem.message, problem.hint or "")
        return None
    return key


def _label_value(ev: Evaluator, expr: m.Expr, file: str) -> str | None:
    text = ev.want_string(expr, file)
    if text is None:
        return None
    if problem := v.check_label_value(text):
        ev.ctx.error(expr.span, "SL411", problem.message, problem.hint or "")
        return None
    return text


def _selector(ev: Evaluator, expr: m.Expr, file: str, negate: bool) -> s.Selector | None:
    expr, file = ev.deref(expr, file)
    if isinstance(expr, m.Name) and expr.name == "all":
        if negate:
            ev.ctx.error(expr.span, "SL601", "'not all' selects no cluster",
                         "to select no cluster, leave the environment out of every deploy")
            return None
        return s.SelAll(span=expr.span)
    if isinstance(expr, m.Not):
        return _selector(ev, expr.operand, file, not negate)
    if isinstance(expr, m.Binary) and expr.op in ("and", "or"):
        op = expr.op if not negate else ("or" if expr.op == "and" else "and")
        left = _selector(ev, expr.left, file, negate)
        right = _selector(ev, expr.right, file, negate)
        if left is None or right is None:
            return None
        cls = s.SelAnd if op == "and" else s.SelOr
        terms = []
        for t in (left, right):
            terms.extend(t.terms if isinstance(t, cls) else (t,))
        return cls(terms=tuple(terms), span=expr.span)
    if isinstance(expr, m.Exists):
        key = _label(ev, expr.operand, file)
        if key is None:
            if not _is_cluster_ref(expr.operand):
                ev.ctx.error(expr.operand.span, "SL601", "'exists' needs a cluster label",
                             "e.g. exists cluster.canary")
            return None
        return s.LabelTest(key=key, op="not exists" if negate else "exists", span=expr.span)
    if isinstance(expr, m.Binary) and expr.op in ("==", "!=", "in", "not in"):
        left, right = expr.left, expr.right
        key = _label(ev, left, file)
        if key is None and expr.op in ("==", "!=") and _is_cluster_ref(right):
            left, right = right, left
            key = _label(ev, left, file)
        if key is None:
            if not _is_cluster_ref(left):
                ev.ctx.error(left.span, "SL601", "a selector test needs a cluster label here",
                             SELECTOR_HINT)
            return None
        op = expr.op
        if op in ("==", "!="):
            value = _label_value(ev, right, file)
            if value is None:
                return None
            values = (value,)
        else:
            items = ev.want_list(right, file, lambda x, ff: _label_value(ev, x, ff),
                                 single=False, unique_what="value")
            if items is None:
                return None
            if not items:
                ev.ctx.error(right.span, "SL601", f"'{op}' needs at least one value",
                             'e.g. cluster.region in ["eu-west-1", "eu-central-1"]')
                return None
            values = tuple(sorted(items))
        return s.LabelTest(key=key, op=NEGATE[op] if negate else op, values=values,
                           span=expr.span)
    if isinstance(expr, m.Binary) and expr.op in ("=~", "!~", "<", "<=", ">", ">="):
        ev.ctx.error(expr.op_span, "SL601",
                     f"'{expr.op}' cannot be used in a cluster selector",
                     "Argo CD selectors support ==, !=, in, not in and exists")
        return None
    if isinstance(expr, m.Name) and expr.name == "rest":
        ev.ctx.error(expr.span, "SL307",
                     "'rest' can only be the last step of an environment's rollout",
                     "select clusters with a label test, or all for every cluster")
        return None
    if not is_reported(expr):
        ev.ctx.error(expr.span, "SL601", "this is not a cluster selector", SELECTOR_HINT)
    return None


def _is_cluster_ref(expr: m.Expr) -> bool:
    return isinstance(expr, (m.Attr, m.Index)) and isinstance(expr.value, m.Name) \
        and expr.value.name == "cluster"
