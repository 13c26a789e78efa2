"""Check stage: an ordered list of passes over the loaded project.

Each pass reads the syntax model (and the spec built so far) and appends diagnostics; all
passes always run, so one run reports every problem it can find.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..spec import Spec
from .build import build_spec
from .context import Context, build_scopes
from .evaluate import Evaluator
from .names import (
    check_kubernetes_names,
    check_output_names,
    check_policy_refs,
    check_unused_imports,
)
from .promotion import check_promotions
from .updates import check_in_cluster_updates

if TYPE_CHECKING:  # the session imports the checker; types only
    from ..project import Project


def check(project: Project) -> Spec:
    ctx = Context(project=project)
    build_scopes(ctx)
    ev = Evaluator(ctx)
    ev.check_constants()
    parts = build_spec(ctx, ev)
    promotions = check_promotions(ctx, ev, parts)
    spec = Spec(gitops=parts["gitops"], registries=tuple(parts["registries"]),
                images=tuple(parts["images"]), environments=tuple(parts["environments"]),
                apps=tuple(parts["apps"]), promotions=tuple(promotions))
    check_kubernetes_names(ctx, spec)
    check_output_names(ctx, spec)
    check_in_cluster_updates(ctx, spec)
    check_policy_refs(ctx, ev)
    from ..policy import check_policies

    project.policies = check_policies(
        ctx, ev, spec, evaluate=not any(d.code.startswith("SL1") for d in project.diagnostics))
    ev.check_unused_constants()
    check_unused_imports(ctx)
    project.diagnostics.extend(ctx.diags)
    project.spec = spec
    return spec
