"""Typed selectors in Argo CD's terms: cluster generator selectors and RollingSync steps.

An ``or`` becomes several cluster generators. Argo CD refuses an ApplicationSet whose
generators produce two Applications of the same name, so the generators are made disjoint:
the second covers what it selects minus what the first does, and so on.
"""

from __future__ import annotations

from typing import Any

from .. import spec as s
from ..selector_logic import by_key, disjoint_dnf, dnf, remainder

MAX_GENERATORS = 16


def label_selector(conj: list[s.LabelTest]) -> dict[str, Any]:
    """One conjunction as a Kubernetes label selector, simplified and in a stable order."""
    match_labels: dict[str, str] = {}
    expressions: list[dict[str, Any]] = []
    for key, k in sorted(by_key(conj).items()):
        if k.allowed is not None:
            values = sorted(k.allowed - k.excluded)
            if len(values) == 1:
                match_labels[key] = values[0]
            else:
                expressions.append({"key": key, "operator": "In", "values": values})
            continue
        if k.absent:
            expressions.append({"key": key, "operator": "DoesNotExist"})
            continue
        if k.present:
            expressions.append({"key": key, "operator": "Exists"})
        if k.excluded:
            expressions.append({"key": key, "operator": "NotIn", "values": sorted(k.excluded)})
    out: dict[str, Any] = {}
    if match_labels:
        out["matchLabels"] = match_labels
    if expressions:
        out["matchExpressions"] = expressions
    return out


def cluster_generators(selector: s.Selector) -> list[dict[str, Any]] | None:
    """Cluster generators for a selector; None when it would take more than MAX_GENERATORS."""
    if isinstance(selector, s.SelAll):
        return [{"clusters": {}}]
    terms = dnf(selector)
    disjoint = disjoint_dnf(terms, MAX_GENERATORS) if terms is not None else None
    if disjoint is None or len(disjoint) > MAX_GENERATORS:
        return None
    return [{"clusters": {"selector": label_selector(conj)}} for conj in disjoint]


def _step_expressions(conj: list[s.LabelTest]) -> list[dict[str, Any]]:
    """A conjunction of In/NotIn tests per key, simplified: an In list minus the NotIn
    values when both test one key, else the NotIn values merged."""
    out = []
    for key, k in sorted(by_key(conj).items()):
        if k.allowed is not None:
            out.append({"key": key, "operator": "In", "values": sorted(k.allowed - k.excluded)})
        else:
            out.append({"key": key, "operator": "NotIn", "values": sorted(k.excluded)})
    return out


def rollout_steps(rollout: tuple) -> tuple[list[dict[str, Any]], set[str]] | None:
    """RollingSync steps and the cluster label keys they test (to copy onto Applications).

    `rest` becomes the steps that select every Application no earlier step selected:
    RollingSync leaves unselected Applications out of the rollout altogether.
    """
    steps: list[dict[str, Any]] = []
    seen: list[list[s.LabelTest]] = []
    keys: set[str] = set()
    for step in rollout:
        if isinstance(step, s.RestStep):
            rest = remainder(seen, MAX_GENERATORS)
            if rest is None:
                return None
            steps.extend({"matchExpressions": _step_expressions(c)} for c in rest)
            continue
        conj = list(step.terms) if isinstance(step, s.SelAnd) else [step]
        keys.update(t.key for t in conj)
        seen.append(conj)
        steps.append({"matchExpressions": _step_expressions(conj)})
    return steps, keys
