"""Emit-time figures for the generated-file YAML emitter, against the alternatives.

    python bench/emitters.py [--apps 1000 --envs 10 --runs 3]

Builds an Argo CD Application and a Kustomize overlay for each app × environment (20,000
documents by default), shaped like compiler/compile/argocd.py and kustomize.py build them,
then times emitting all of them, one call per generated file, with each emitter. Prints
the median seconds of the runs, the ratio to setlist.emit, and the bytes produced.
Target: setlist.emit at least 4× faster than PyYAML's CSafeDumper (libyaml).
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from setlist import emit
from setlist.compile.argocd import API_VERSION, sync_policy
from setlist.compile.documents import (
    FINALIZER,
    LABEL_APP,
    LABEL_CLUSTER,
    LABEL_ENV,
    MANAGED_BY,
    header,
)
from setlist.compile.kustomize import KUSTOMIZE_API
from setlist.emit import dump

ENV_NAMES = ["dev", "test", "qa", "staging", "preprod", "prod-eu", "prod-us", "prod-ap",
             "canary", "perf"]
TIERS = ["on", "off", "yes", "no", "1.10", "gold", "silver", "2027-03-01"]  # quoting traps too


class _Retry:
    limit = 5
    backoff_seconds = 5
    factor = 2
    max_seconds = 180


class _Policy:
    """Stands in for spec.SyncPolicy (what argocd.sync_policy reads)."""

    def __init__(self, i: int):
        self.automated = i % 4 != 0
        self.prune = i % 2 == 0
        self.self_heal = True
        self.allow_empty = i % 7 == 0
        self.options = ("CreateNamespace=true", "ServerSideApply=true") if i % 3 else ()
        self.retry = _Retry() if i % 5 == 0 else None


def build(apps: int, envs: int) -> list[tuple[list[dict[str, Any]], str]]:
    """(documents, header) per generated file: an Application and an overlay per app × env."""
    files = []
    repo = "https://github.com/example-org/platform-gitops.git"
    for a in range(apps):
        app = f"service-{a:04d}"
        team = f"team-{a % 37}"
        policy = _Policy(a)
        for e in range(envs):
            env = ENV_NAMES[e % len(ENV_NAMES)] + ("" if e < len(ENV_NAMES) else str(e))
            cluster = f"{env}-cluster-{a % 3}"
            overlay_dir = f"overlays/{app}/{env}"
            labels = {"app.kubernetes.io/managed-by": MANAGED_BY, LABEL_APP: app,
                      LABEL_ENV: env, "tier": TIERS[(a + e) % len(TIERS)], "team": team,
                      LABEL_CLUSTER: cluster}
            spec: dict[str, Any] = {
                "project": team,
                "source": {"repoURL": repo, "targetRevision": "main", "path": overlay_dir},
                "destination": {"name": cluster, "namespace": app},
            }
            sp = sync_policy(policy)  # type: ignore[arg-type]
            if sp:
                spec["syncPolicy"] = sp
            meta: dict[str, Any] = {"name": f"{app}-{env}", "namespace": "argocd",
                                    "labels": dict(sorted(labels.items()))}
            if a % 2:
                meta["annotations"] = {"notifications.argoproj.io/subscribe.on-sync-failed.slack":
                                       f"#{team}-alerts"}
            meta["finalizers"] = [FINALIZER]
            application = {"apiVersion": API_VERSION, "kind": "Application",
                           "metadata": meta, "spec": spec}
            files.append(([application], header((f"apps/{app}.setlist",), "setlist")))
            images: list[dict[str, Any]] = [
                {"name": f"registry.example.com/{team}/{app}",
                 "newTag": f"1.{a % 30}.{e}"},
            ]
            if a % 3 == 0:
                images.append({"name": "sidecar", "newName": "ghcr.io/example/envoy",
                               "digest": "sha256:" + f"{a * 7919 + e:064x}"})
            overlay = {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization",
                       "resources": [f"../../../bases/{app}"], "images": images}
            files.append(([overlay], header((f"apps/{app}.setlist",), "user")))
    return files


def _comment(h: str) -> str:
    return "".join(f"# {line}\n" if line else "#\n" for line in h.splitlines())


def emitters() -> dict[str, Callable[[list[dict[str, Any]], str], str] | None]:
    out: dict[str, Callable[[list[dict[str, Any]], str], str] | None] = {}
    out["setlist.emit.dump"] = dump
    out["json.dumps"] = lambda docs, h: _comment(h) + "\n---\n".join(
        json.dumps(d, ensure_ascii=False) for d in docs) + "\n"
    try:
        import yaml
    except ImportError:
        out["PyYAML CSafeDumper"] = out["PyYAML SafeDumper (pure)"] = None
    else:
        csafe = getattr(yaml, "CSafeDumper", None)
        if csafe is not None:
            out["PyYAML CSafeDumper"] = lambda docs, h: _comment(h) + yaml.dump_all(
                docs, Dumper=csafe, sort_keys=False, allow_unicode=True)
        else:
            out["PyYAML CSafeDumper"] = None
        out["PyYAML SafeDumper (pure)"] = lambda docs, h: _comment(h) + yaml.dump_all(
            docs, Dumper=yaml.SafeDumper, sort_keys=False, allow_unicode=True)
    try:
        import _ruamel_yaml  # noqa: F401  (the C extension: ruamel.yaml.clib)
        from ruamel.yaml import YAML
    except ImportError:
        out["ruamel.yaml safe (C)"] = None
    else:
        ry = YAML(typ="safe")
        ry.default_flow_style = False

        def ruamel_safe(docs: list[dict[str, Any]], h: str) -> str:
            buf = io.StringIO()
            buf.write(_comment(h))
            ry.dump_all(docs, buf)
            return buf.getvalue()

        out["ruamel.yaml safe (C)"] = ruamel_safe
    return out


def time_emitter(fn: Callable[[list[dict[str, Any]], str], str],
                 files: list[tuple[list[dict[str, Any]], str]], runs: int) -> tuple[float, int]:
    times = []
    size = 0
    for _ in range(runs):
        emit._cache.clear()  # every run starts cold, as one `setlist compile` does
        emit._key_cache.clear()
        gc.collect()
        start = time.perf_counter()
        texts = [fn(docs, h) for docs, h in files]
        times.append(time.perf_counter() - start)
        size = sum(len(t.encode("utf-8")) for t in texts)
    return statistics.median(times), size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--envs", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", action="append", default=[],
                        help="time only emitters whose name contains this (repeatable)")
    args = parser.parse_args()

    start = time.perf_counter()
    files = build(args.apps, args.envs)
    built = time.perf_counter() - start
    ndocs = sum(len(d) for d, _ in files)
    print(f"{ndocs} documents in {len(files)} files, built in {built:.2f} s; "
          f"median of {args.runs} runs, emit time only; python {sys.version.split()[0]}")
    print()
    rows = []
    base = None
    for name, fn in emitters().items():
        if args.only and not any(o in name for o in args.only) and name != "setlist.emit.dump":
            continue
        if fn is None:
            rows.append((name, None, None))
            continue
        seconds, size = time_emitter(fn, files, args.runs)
        if base is None:
            base = seconds
        rows.append((name, seconds, size))
    print(f"| {'emitter':<26} | {'median s':>9} | {'× setlist':>9} | {'bytes':>10} |")
    print(f"|{'-' * 28}|{'-' * 11}|{'-' * 11}|{'-' * 12}|")
    for name, seconds, size in rows:
        if seconds is None:
            print(f"| {name:<26} | {'n/a':>9} | {'':>9} | {'not installed':>10} |")
        else:
            print(f"| {name:<26} | {seconds:>9.3f} | {seconds / base:>9.2f} | {size:>10,} |")
    csafe = next((s for n, s, _ in rows if n == "PyYAML CSafeDumper"), None)
    if csafe is not None and base:
        verdict = "met" if csafe / base >= 4 else "NOT met"
        print(f"\nsetlist.emit vs CSafeDumper: {csafe / base:.1f}× faster "
              f"(target ≥ 4×: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
