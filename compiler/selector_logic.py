"""Logic over typed cluster selectors, shared by the checker and the compile stage.

Label tests follow Kubernetes label-selector semantics: ``==``/``in`` (In) need the label,
``!=``/``not in`` (NotIn) also match clusters without it, ``exists``/``not exists`` test
presence. Negating a test is exact under these rules (In ↔ NotIn, Exists ↔ DoesNotExist),
which is what makes the disjoint forms below correct.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product

from . import spec as s

NEGATE = {"==": "!=", "!=": "==", "in": "not in", "not in": "in", "exists": "not exists",
          "not exists": "exists"}
MAX_DNF_TERMS = 256


def dnf(selector: s.Selector) -> list[list[s.LabelTest]] | None:
    """Disjunctive normal form: a list of conjunctions. None when it would be too large."""
    if isinstance(selector, s.SelAll):
        return [[]]
    if isinstance(selector, s.LabelTest):
        return [[selector]]
    parts = [dnf(t) for t in selector.terms]
    if any(p is None for p in parts):
        return None
    if isinstance(selector, s.SelOr):
        out = [c for p in parts for c in p]
        return out if len(out) <= MAX_DNF_TERMS else None
    size = 1
    for p in parts:
        size *= len(p)
        if size > MAX_DNF_TERMS:
            return None
    return [[t for conj in combo for t in conj] for combo in product(*parts)]


@dataclass
class KeyTests:
    """What one conjunction says about one label key."""

    allowed: set[str] | None = None   # == / in: the value must be one of these
    excluded: set[str] = field(default_factory=set)  # != / not in
    present: bool = False              # exists (also implied by == / in)
    absent: bool = False               # not exists


def by_key(tests: list[s.LabelTest]) -> dict[str, KeyTests]:
    out: dict[str, KeyTests] = {}
    for t in tests:
        k = out.setdefault(t.key, KeyTests())
        if t.op in ("==", "in"):
            k.allowed = set(t.values) if k.allowed is None else k.allowed & set(t.values)
            k.present = True
        elif t.op in ("!=", "not in"):
            k.excluded.update(t.values)
        elif t.op == "exists":
            k.present = True
        else:
            k.absent = True
    return out


def conjunction_satisfiable(tests: list[s.LabelTest]) -> bool:
    for k in by_key(tests).values():
        if k.present and k.absent:
            return False
        if k.allowed is not None and not k.allowed - k.excluded:
            return False
    return True


def satisfiable(selector: s.Selector) -> bool:
    terms = dnf(selector)
    if terms is None:
        return True  # too large to decide cheaply; do not warn
    return any(conjunction_satisfiable(c) for c in terms)


def negate(test: s.LabelTest) -> s.LabelTest:
    return test.model_copy(update={"op": NEGATE[test.op]})


def complement(conj: list[s.LabelTest]) -> list[list[s.LabelTest]]:
    """Disjoint conjunctions whose union is the complement of ``conj``:
    not(t1 and t2 and t3) = not t1, or t1 and not t2, or t1 and t2 and not t3."""
    return [conj[:i] + [negate(t)] for i, t in enumerate(conj)]


def intersect(a: list[list[s.LabelTest]], b: list[list[s.LabelTest]],
              limit: int = MAX_DNF_TERMS) -> list[list[s.LabelTest]] | None:
    """Pairwise conjunctions of two disjoint forms, dropping the impossible ones."""
    out = []
    for x, y in product(a, b):
        conj = x + y
        if conjunction_satisfiable(conj):
            out.append(conj)
            if len(out) > limit:
                return None
    return out


def disjoint_dnf(terms: list[list[s.LabelTest]],
                 limit: int = MAX_DNF_TERMS) -> list[list[s.LabelTest]] | None:
    """Rewrite a DNF so that no two conjunctions can select the same cluster:
    T1, T2 and not T1, T3 and not T1 and not T2, ... None when it grows past ``limit``."""
    out: list[list[s.LabelTest]] = []
    seen: list[list[s.LabelTest]] = []
    for term in terms:
        if not conjunction_satisfiable(term):
            continue
        pieces: list[list[s.LabelTest]] | None = [list(term)]
        for earlier in seen:
            pieces = intersect(pieces, complement(earlier), limit)
            if pieces is None:
                return None
        out.extend(pieces)
        if len(out) > limit:
            return None
        seen.append(list(term))
    return out


def remainder(steps: list[list[s.LabelTest]],
              limit: int = MAX_DNF_TERMS) -> list[list[s.LabelTest]] | None:
    """Disjoint conjunctions covering everything no step selects (a rollout's `rest`)."""
    pieces: list[list[s.LabelTest]] | None = [[]]
    for step in steps:
        pieces = intersect(pieces, complement(step), limit)
        if pieces is None:
            return None
    return pieces
