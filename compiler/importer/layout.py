"""Which app and environment each unit is, told from its overlay path and its name.

Most config repositories keep one overlay per app and environment at a fixed place
(`apps/<app>/overlays/<env>`, `envs/<env>/<app>`, ...). The pattern that explains the most
source paths, preferring the one under which Application names read `<app>-<env>`, becomes
the gitops block's `overlays`; units it does not explain are named from their Application
name and keep their folder as the base of a new overlay.
"""

from __future__ import annotations

import itertools
import posixpath
import re
from collections import Counter

from .model import Unit

DEFAULT_LAYOUT = "apps/{app}/overlays/{env}"
_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")
_ENV_KEYS = ("env", "environment", "stage")


def dns_label(text: str) -> bool:
    return len(text) <= 63 and bool(_LABEL.fullmatch(text))


def sanitize(text: str, fallback: str = "x") -> str:
    out = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63].strip("-")
    return out or fallback


def match(pattern: str, path: str) -> tuple[str, str] | None:
    parts, segs = pattern.split("/"), path.split("/")
    if len(parts) != len(segs):
        return None
    app = env = ""
    for part, seg in zip(parts, segs, strict=True):
        if part == "{app}":
            app = seg
        elif part == "{env}":
            env = seg
        elif part != seg:
            return None
    return (app, env) if dns_label(app) and dns_label(env) else None


def _plausible(unit: Unit, app: str, env: str) -> bool:
    """The unit's name mentions the app or the environment (so the path is no accident)."""
    tokens = unit.name.split("-")
    return unit.name == app or unit.name.startswith(app + "-") or env in tokens or \
        app in tokens


def infer_layout(units: list[Unit]) -> str | None:
    candidates: set[str] = set()
    for unit in units:
        segs = unit.path.split("/")
        for i, j in itertools.permutations(range(len(segs)), 2):
            if dns_label(segs[i]) and dns_label(segs[j]):
                parts = list(segs)
                parts[i], parts[j] = "{app}", "{env}"
                candidates.add("/".join(parts))
    best, best_key = None, None
    for pattern in sorted(candidates):
        if pattern.split("/")[0] == "argocd":
            continue
        found = [(u, m) for u in units if (m := match(pattern, u.path)) and _plausible(u, *m)]
        if not found:
            continue
        exact = sum(u.name == f"{a}-{e}" for u, (a, e) in found)
        key = (len(found), exact, -len(pattern))
        if best_key is None or key > best_key:
            best, best_key = pattern, key
    return best


def split_name(unit: Unit) -> tuple[str, str]:
    """(app, env) from a unit that no layout explains."""
    tokens = unit.name.split("-")
    segs = set(unit.path.split("/"))
    for k in range(len(tokens) - 1, 0, -1):
        app, env = "-".join(tokens[:k]), "-".join(tokens[k:])
        if env in segs and dns_label(app) and dns_label(env):
            return app, env
    hints = []
    for conj in unit.selector or ():
        hints += [v[0] for k, op, v in conj if k in _ENV_KEYS and op == "=="]
    hints += [value for kind, value in unit.static if kind == "name"]
    for hint in hints:
        if unit.name.endswith("-" + hint) and dns_label(hint):
            return unit.name[:-len(hint) - 1], hint
    env = next((sanitize(h) for h in hints), "")
    if not env:
        last = unit.path.rsplit("/", 1)[-1]
        env = last if dns_label(last) and last != unit.name else "default"
    return sanitize(unit.name, "app"), env


def guess_base(pattern: str, app: str) -> str | None:
    """The base next to the overlays in a layout like `apps/{app}/overlays/{env}`."""
    parts = pattern.split("/")
    if "{env}" not in parts:
        return None
    i = parts.index("{env}")
    if i > 0 and parts[i - 1] == "overlays" and "{app}" not in parts[i:]:
        return "/".join(parts[:i - 1] + ["base"]).replace("{app}", app)
    return None


def base_from_resources(resources: list[str], folder: str) -> tuple[str | None, list[str]]:
    """The base a kustomization's resources name (relative to the repository root), and the
    other resources."""
    local = []
    for res in resources:
        if "://" in res or res.startswith("git@"):
            continue
        full = posixpath.normpath(posixpath.join(folder, res))
        if not full.startswith("..") and not res.endswith((".yaml", ".yml", ".json")):
            local.append((res, full))
    if not local:
        return None, list(resources)
    first = local[0]
    return first[1], [r for r in resources if r != first[0]]


def most_common(values: list[str], default: str) -> str:
    if not values:
        return default
    counts = Counter(values)
    return min(counts, key=lambda v: (-counts[v], v))
