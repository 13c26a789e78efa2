"""Policy as code: ``policy`` rules over the checked model and resolved facts.

The checker type-checks policies and evaluates them with what is known (the spec and the
project's lock); ``resolve``, ``apply`` and ``promote`` evaluate them again with fresh facts
and refuse to write a change that breaks an error-level policy.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..diagnostics import Diagnostic, Severity
from ..lockfile import Lock, LockError, read
from .engine import PolicySet
from .world import Facts

if TYPE_CHECKING:
    from ..check.context import Context
    from ..check.evaluate import Evaluator
    from ..project import Project
    from ..spec import Spec


def check_policies(ctx: Context, ev: Evaluator, spec: Spec, *, evaluate: bool) -> PolicySet:
    """Type-check every policy, bind ``use`` arguments and waivers; when ``evaluate`` (the
    rest of the spec is free of errors), report what the spec and its lock already break."""
    policies = PolicySet(ctx, ev)
    if evaluate and not any(d.severity is Severity.ERROR for d in ctx.diags):
        try:
            lock = read(ctx.project.base)
        except LockError:
            lock = None  # reported by the commands that read it
        ctx.diags.extend(policies.evaluate(spec, Facts(lock=lock, now=datetime.now(UTC))))
    return policies


def violations(project: Project, lock: Lock | None, *,
               signed: Callable[[str, str], bool] | None = None,
               now: datetime | None = None) -> list[Diagnostic]:
    """Error-level policy violations of ``project`` with ``lock`` as the facts: what a
    command about to write ``lock`` (or output built from it) must refuse."""
    policies = project.policies
    if policies is None or project.spec is None:
        return []
    facts = Facts(lock=lock, now=now or datetime.now(UTC), signed=signed)
    return [d for d in policies.evaluate(project.spec, facts, waivers=False)
            if d.severity is Severity.ERROR]


__all__ = ["Facts", "PolicySet", "check_policies", "violations"]
