"""The estate written three ways: Setlist, KCL and Jsonnet, each from source to files on disk.

    python bench/estate_peers.py [--apps 1000] [--envs 10] [--runs 3] [--dir DIR]
                                 [--peers kcl,jsonnet] [--quick] [--strict]

The same 1,000 apps × 10 environments (three static clusters each) as bench/estate.py:
one Application file (three Applications) and one Kustomize overlay per app × environment,
20,000 documents. Setlist compiles the spec bench/estate.py generates; the peers evaluate
bench/peers/estate.k (KCL, PyPI kcl-lib) and bench/peers/estate.jsonnet (Jsonnet, PyPI
jsonnet), whose parameters (app names, teams, registries, tags, sync policies, environment
names and clusters) are computed the way bench/estate.py computes them.

Each run is a new process, timed from start to exit, its peak RSS taken with
`/usr/bin/time -f %M`; the tools alternate within each round (Setlist, KCL, Jsonnet,
Setlist, ...). Each peer uses its fastest writer measured here: KCL renders YAML itself
(`yaml.encode`/`yaml.encode_all`, faster than returning the structures as JSON) and returns
one object mapping each path to its text, which the process writes with plain
`open`/`write` calls; Jsonnet returns path → documents and the process emits them with
PyYAML's C dumper (libyaml), because Jsonnet's own `std.manifestYamlStream` took minutes for
a few thousand documents. No staging, no manifest for the peers; Setlist does more per run
(a manifest, AppProjects, the root Application, headers, atomic writes).

Before timing, all three are run at 4 apps × 6 environments (every sync policy, pre and
production tiers) and their documents compared structurally (PyYAML safe_load_all, YAML
1.1); a difference exits 1. Prints medians, the ratios Setlist/KCL and Setlist/Jsonnet
(target Setlist/KCL ≤ 1.0) and peak RSS (target ≤ 500 MB), and time per document.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import estate  # noqa: E402

PEERS_DIR = Path(__file__).resolve().parent / "peers"
TIME = "/usr/bin/time"
TARGET_RATIO_KCL = 1.0
TARGET_RSS_MB = 500
TOOLS = ("setlist", "kcl", "jsonnet")


# ---------------------------------------------------------------- the peers, in a child process


def evaluate(tool: str, apps: int, envs: int) -> dict[str, str]:
    """Path → YAML text, as the peer program produces it."""
    if tool == "kcl":
        import kcl_lib.api as api

        args = api.ExecProgramArgs(
            k_filename_list=[str(PEERS_DIR / "estate.k")],
            args=[api.Argument(name="apps", value=str(apps)),
                  api.Argument(name="envs", value=str(envs))],
            disable_yaml_result=True, fast_eval=True)
        return json.loads(api.API().exec_program(args).json_result)["files"]
    if tool == "jsonnet":
        import _jsonnet
        import yaml

        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        docs = json.loads(_jsonnet.evaluate_file(
            str(PEERS_DIR / "estate.jsonnet"), tla_codes={"apps": str(apps), "envs": str(envs)}))
        return {path: yaml.dump_all(items, Dumper=dumper, sort_keys=False)
                for path, items in docs.items()}
    raise ValueError(tool)


def write_files(files: dict[str, str], out: Path) -> None:
    made: set[str] = set()
    for rel, text in files.items():
        path = os.path.join(out, rel)
        folder = os.path.dirname(path)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


def run_peer(tool: str, apps: int, envs: int, out: Path) -> None:
    write_files(evaluate(tool, apps, envs), out)


# ---------------------------------------------------------------- timing


def timed_process(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one process."""
    rss_file = None
    if os.access(TIME, os.X_OK):
        fd, rss_file = tempfile.mkstemp(prefix="rss-", dir=cwd)
        os.close(fd)
        cmd = [TIME, "-f", "%M", "-o", rss_file] + cmd
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    rss = float("nan")
    if rss_file is not None:
        rss = int(Path(rss_file).read_text().split()[-1]) / 1024
        os.unlink(rss_file)
    return wall, rss


def command(tool: str, apps: int, envs: int, out: str) -> list[str]:
    if tool == "setlist":
        # No compile cache: every run is the cold compile the peers are compared with.
        return [sys.executable, "-m", "setlist", "compile", "estate", "-o", out,
                "--color", "never"]
    return [sys.executable, str(Path(__file__).resolve()), "--run-peer", tool,
            "--apps", str(apps), "--envs", str(envs), "--out", out]


def documents(out: Path, rels: list[str]) -> dict[str, list]:
    import yaml

    return {rel: list(yaml.safe_load_all((out / rel).read_text("utf-8"))) for rel in rels}


def compared(root: Path, tools: list[str], apps: int = 4, envs: int = 6) -> list[str]:
    """Differences between the tools' documents at a small size (empty: equivalent)."""
    work = root / "equivalence"
    project = estate.generate(work, apps, envs)
    del project
    outs = {}
    for tool in tools:
        outs[tool] = work / f"out-{tool}"
        timed_process(command(tool, apps, envs, outs[tool].name), work)
    names = estate.env_names(envs)
    rels = sorted([f"argocd/applications/{estate.app_name(a)}-{e}.yaml"
                   for a in range(apps) for e in names] +
                  [f"apps/{estate.app_name(a)}/overlays/{e}/kustomization.yaml"
                   for a in range(apps) for e in names])
    expected = documents(outs["setlist"], rels)
    problems = []
    for tool in tools[1:]:
        produced = sorted(p.relative_to(outs[tool]).as_posix()
                          for p in outs[tool].rglob("*") if p.is_file())
        if produced != rels:
            problems.append(f"{tool}: writes {len(produced)} files, expected {len(rels)}")
            continue
        got = documents(outs[tool], rels)
        for rel in rels:
            if got[rel] != expected[rel]:
                problems.append(f"{tool}: {rel} differs from setlist's")
    shutil.rmtree(work, ignore_errors=True)
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--envs", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--peers", default="kcl,jsonnet",
                        help="comma-separated peers to run (kcl, jsonnet; empty: none)")
    parser.add_argument("--dir", default=None, help="make the temporary folder in DIR")
    parser.add_argument("--quick", action="store_true",
                        help="5 apps × 3 environments, one run (what the smoke test runs)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--run-peer", choices=["kcl", "jsonnet"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_peer:
        run_peer(args.run_peer, args.apps, args.envs, Path(args.out))
        return 0
    if args.quick:
        args.apps, args.envs, args.runs = 5, 3, 1
    peers = [p for p in args.peers.split(",") if p]
    unknown = set(peers) - set(TOOLS[1:])
    if unknown:
        parser.error(f"unknown peers: {', '.join(sorted(unknown))}")
    tools = ["setlist", *peers]

    tmp = Path(tempfile.mkdtemp(prefix="setlist-peers-", dir=args.dir))
    env_backup = os.environ.get("XDG_CACHE_HOME")
    try:
        # A cache folder of the run's own: warmed with the grammar tables by the
        # equivalence check, emptied of compile and parse results before each timed run.
        os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")
        # setlist's bytecode is written by the equivalence check, as any installed setlist
        # has it; with PYTHONDONTWRITEBYTECODE every run would compile changed modules.
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        problems = compared(tmp, tools)
        print(f"equivalence at 4 apps × 6 environments ({', '.join(tools)}): "
              + ("same documents" if not problems else "DIFFERENT"))
        for problem in problems:
            print(f"  {problem}")
        if problems:
            return 1
        estate.generate(tmp, args.apps, args.envs)
        docs = 2 * args.apps * args.envs
        print(f"estate: {args.apps} apps × {args.envs} environments × 3 static clusters = "
              f"{docs:,} documents; python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
              f"output on {estate.filesystem(tmp)}")
        times: dict[str, list[float]] = {t: [] for t in tools}
        rss: dict[str, list[float]] = {t: [] for t in tools}
        for run in range(args.runs):
            for tool in tools:
                out = tmp / f"out-{tool}-{run}"
                # Cold: the compile and parse caches are emptied (the grammar tables stay
                # cached, as on any machine that ran setlist before).
                for kept in ("compile", "parse"):
                    shutil.rmtree(tmp / "cache" / "setlist" / kept, ignore_errors=True)
                estate._sync()
                wall, peak = timed_process(command(tool, args.apps, args.envs, out.name), tmp)
                times[tool].append(wall)
                rss[tool].append(peak)
                shutil.rmtree(out, ignore_errors=True)
        print(f"\n{args.runs} alternating runs, each a new process (source → files on disk):")
        for tool in tools:
            med = statistics.median(times[tool])
            print(f"  {tool:<8} median {med:7.3f} s  min {min(times[tool]):7.3f}  "
                  f"max {max(times[tool]):7.3f}   peak RSS {max(rss[tool]):6.1f} MB   "
                  f"{1e6 * med / docs:7.1f} µs/document")
        med = {t: statistics.median(times[t]) for t in tools}
        failed = max(rss["setlist"]) > TARGET_RSS_MB
        for peer in peers:
            ratio = med["setlist"] / med[peer]
            verdict = ""
            if peer == "kcl":
                verdict = (f"  (target ≤ {TARGET_RATIO_KCL}: "
                           f"{'ok' if ratio <= TARGET_RATIO_KCL else 'FAIL'})")
                failed |= ratio > TARGET_RATIO_KCL
            print(f"  setlist / {peer}: {ratio:.2f}{verdict}")
        print(f"  setlist peak RSS {max(rss['setlist']):.1f} MB (target ≤ {TARGET_RSS_MB} MB: "
              f"{'ok' if max(rss['setlist']) <= TARGET_RSS_MB else 'FAIL'})")
        return 1 if failed and args.strict else 0
    finally:
        if env_backup is not None:
            os.environ["XDG_CACHE_HOME"] = env_backup
        else:
            os.environ.pop("XDG_CACHE_HOME", None)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
