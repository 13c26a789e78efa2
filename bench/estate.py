"""Compile figures for a large estate: N apps × M environments, each run a new process.

    python bench/estate.py [--apps 1000] [--envs 10] [--runs 5] [--dir DIR] [--stages] [--profile N]

Generates (deterministically, into a temporary folder) the Setlist project a platform team
would keep for the estate: a gitops block, three registries, M environments that each list
three clusters by name (static clusters, so every app × environment becomes a file of
Applications rather than an ApplicationSet), and one image with a pinned tag plus one app
deployed to every environment per service, split over apps-NN.setlist files of 100 apps.

Then it runs `setlist compile PROJECT -o OUT` as a new process:

- cold: into a fresh, empty output folder with empty compile and parse caches, --runs
  times;
- no-op: again into the last output folder with nothing changed, --runs times;
- one pin: after changing one app's pinned tag, --runs times (the tag alternates).

No-op and one pin are each measured twice per round, alternating: "full" with the compile
and parse caches emptied first (every stage runs, as before the caches existed) and
"incremental" with the caches the previous run left. The processes use a cache folder of
their own below the temporary folder (XDG_CACHE_HOME), warmed with the grammar tables
(and setlist's bytecode, PYTHONDONTWRITEBYTECODE being unset) before timing.

and prints the median/min/max wall time, the peak RSS of the process (`/usr/bin/time -f %M`
when present, else getrusage(RUSAGE_CHILDREN)), the files/documents/bytes written and the
targets. Documents are counted as the compile issue counts them: one Application file and
one Kustomize overlay per app × environment (1000 × 10 → 20,000); with three static clusters
each Application file holds three Application objects, shown separately.

--stages also runs one cold compile in this process and prints where the time goes (parse,
check, plan, compile, render/emit, write-planning, write); --profile N prints the N costliest
functions of that run by cumulative time (cProfile).
Targets (1000 × 10): cold compile ≤ 3.0 s median, peak RSS ≤ 500 MB; incremental no-op and
one-pin recompiles ≤ 25 % of the cold compile.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV_NAMES = ["dev", "test", "qa", "staging", "preprod", "prod-eu", "prod-us", "prod-ap",
             "canary", "perf"]
REGISTRIES = [("ghcr", "ghcr.io", "docker_config"),
              ("internal", "registry.example.com:5000", 'env("INTERNAL_REGISTRY_TOKEN")'),
              ("ecr", "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "docker_config")]
SYNCS = ["sync.auto", "sync.auto_retry", "sync.auto_no_prune", "sync.manual_only"]
APPS_PER_FILE = 100
TEAMS = 37
TARGET_SECONDS = 3.0
TARGET_RSS_MB = 500
TARGET_INCREMENTAL = 0.25
TIME = "/usr/bin/time"


def env_names(envs: int) -> list[str]:
    return [ENV_NAMES[e] if e < len(ENV_NAMES) else f"env-{e}" for e in range(envs)]


def app_name(a: int) -> str:
    return f"svc-{a:04d}"


def tag_of(a: int, bump: int = 0) -> str:
    return f"1.{a % 30}.{a % 7 + bump}"


def generate(root: Path, apps: int, envs: int) -> Path:
    """Write the estate's spec below ``root``; returns the project folder."""
    project = root / "estate"
    project.mkdir(parents=True)
    names = env_names(envs)
    (project / "gitops.setlist").write_text(
        "// Where the generated Argo CD and Kustomize files are committed.\n"
        "gitops {\n"
        '  repo   = "https://github.com/example-org/platform-gitops.git"\n'
        '  branch = "main"\n'
        "}\n")
    regs = []
    for name, host, creds in REGISTRIES:
        regs.append(f"registry {name} {{\n  host        = \"{host}\"\n"
                    f"  credentials = {creds}\n}}\n")
    (project / "registries.setlist").write_text("\n".join(regs))
    env_text = []
    for env in names:
        clusters = ", ".join(f'"{env}-{c}"' for c in ("a", "b", "c"))
        prod = env.startswith("prod")
        env_text.append(
            f"environment {env} {{\n"
            f"  clusters  = [{clusters}]\n"
            f"  writeback = {'pull_request' if prod else 'direct'}\n"
            f"  labels    = {{ stage: \"{env}\", tier: \"{'production' if prod else 'pre'}\" }}\n"
            + ('  freeze "0 16 * * 5" for 64h tz "Europe/Berlin"\n' if prod else "")
            + "}\n")
    env_text.append(f"const everywhere = [{', '.join(names)}]\n")
    (project / "envs.setlist").write_text("\n".join(env_text))
    for start in range(0, apps, APPS_PER_FILE):
        out = ['import "std/sync"', ""]
        for a in range(start, min(start + APPS_PER_FILE, apps)):
            name = app_name(a)
            team = f"team-{a % TEAMS:02d}"
            reg = REGISTRIES[a % len(REGISTRIES)][0]
            out.append(
                f"/// Service {a} of {team}.\n"
                f"image {name} {{\n"
                f'  repository = {reg} / "{team}/{name}"\n'
                f'  strategy   = semver("^1.{a % 30}")\n'
                f'  tag        = "{tag_of(a)}"\n'
                "}\n\n"
                f"app {name} {{\n"
                f'  base      = "apps/{name}/base"\n'
                f'  namespace = "{name}"\n'
                f'  project   = "{team}"\n'
                f"  images    = [{name}]\n"
                "  deploy    = everywhere\n"
                f"  sync      = {SYNCS[a % len(SYNCS)]}\n"
                f'  labels    = {{ team: "{team}" }}\n'
                "}\n")
        (project / f"apps-{start // APPS_PER_FILE:02d}.setlist").write_text("\n".join(out))
    return project


def change_pin(project: Path, a: int, bump: int) -> None:
    """Set app ``a``'s pinned tag to ``tag_of(a, bump)``."""
    path = project / f"apps-{a // APPS_PER_FILE:02d}.setlist"
    text = path.read_text()
    pattern = re.compile(rf'(image {app_name(a)} \{{[^}}]*?tag\s*=\s*)"[^"]*"')
    new, count = pattern.subn(rf'\g<1>"{tag_of(a, bump)}"', text)
    assert count == 1, "the generated spec has no pinned tag to change"
    path.write_text(new)


# ---------------------------------------------------------------- one compile process


def compile_once(cwd: Path, project: str, out: str) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB and stdout of one `setlist compile` process."""
    cmd = [sys.executable, "-m", "setlist", "compile", project, "-o", out, "--color", "never"]
    rss_file = None
    if os.access(TIME, os.X_OK):
        fd, rss_file = tempfile.mkstemp(prefix="rss-", dir=cwd)
        os.close(fd)
        cmd = [TIME, "-f", "%M", "-o", rss_file] + cmd
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"setlist compile failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    if rss_file is not None:
        rss_kb = int(Path(rss_file).read_text().split()[-1])
        os.unlink(rss_file)
    else:
        # ru_maxrss of the children is a maximum over all of them so far: only a growth is
        # attributable to this run, so the figure is "at most" for later runs.
        rss_kb = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before)
    return wall, rss_kb / 1024, proc.stdout.strip()


def tree_figures(out: Path) -> dict[str, int]:
    figures = {"files": 0, "applications": 0, "app_files": 0, "overlays": 0, "bytes": 0,
               "yaml_docs": 0}
    for dirpath, _, filenames in os.walk(out):
        for name in filenames:
            path = Path(dirpath, name)
            data = path.read_bytes()
            figures["files"] += 1
            figures["bytes"] += len(data)
            if not name.endswith(".yaml"):
                continue
            docs = data.count(b"\n---\n") + 1
            figures["yaml_docs"] += docs
            rel = path.relative_to(out).as_posix()
            if "/applications/" in rel:
                figures["app_files"] += 1
                figures["applications"] += docs
            elif name == "kustomization.yaml":
                figures["overlays"] += 1
    return figures


def fs_floor(src: Path, dst: Path) -> float:
    """Seconds to write the tree ``src`` again to ``dst`` with plain os calls (makedirs,
    open, write, close; no staging, no sync): what the disk alone costs for the output."""
    files = []
    for dirpath, _, filenames in os.walk(src):
        for name in filenames:
            path = Path(dirpath, name)
            files.append((os.path.join(dst, path.relative_to(src)), path.read_bytes()))
    os.sync()
    start = time.perf_counter()
    made = set()
    for path, data in files:
        folder = os.path.dirname(path)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        with open(path, "wb") as f:
            f.write(data)
    return time.perf_counter() - start


def row(name: str, times: list[float], rss: list[float], target: str = "") -> str:
    return (f"{name:<22} median {statistics.median(times):6.3f} s  min {min(times):6.3f}  "
            f"max {max(times):6.3f}   peak RSS {max(rss):6.1f} MB  {target}")


def _sync() -> None:
    if hasattr(os, "sync"):
        os.sync()


def filesystem(path: Path) -> str:
    """The type of the filesystem holding ``path`` (from /proc/mounts), or "?"."""
    try:
        mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return "?"
    real = str(path.resolve())
    best = max((m for m in mounts if real == m[1] or real.startswith(m[1].rstrip("/") + "/")),
               key=lambda m: len(m[1]), default=None)
    return f"{best[2]} ({best[1]})" if best else "?"


# ---------------------------------------------------------------- in-process breakdown


def stages(project: Path, out: Path, profile: int) -> None:
    """One cold compile in this process, timed per stage (and profiled with --profile)."""
    import cProfile
    import pstats

    import setlist.compile as compile_mod
    from setlist import parse as parse_mod
    from setlist import write as write_mod
    from setlist.project import load
    from setlist.write import MANIFEST, apply, plan_writes

    spent = {"parse": 0.0, "render": 0.0, "compile": 0.0}

    def timed(key, fn):
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[key] += time.perf_counter() - t
        return wrapper

    # Timed wrappers; everything else runs as `setlist compile` runs it (Project.compile
    # makes the plan, then calls compile_plan).
    orig_parse, orig_render = parse_mod.parse_source, write_mod.render
    orig_compile = compile_mod.compile_plan
    parse_mod.parse_source = timed("parse", orig_parse)  # project.load imports it per call
    write_mod.render = timed("render", orig_render)
    compile_mod.compile_plan = timed("compile", orig_compile)
    prof = cProfile.Profile() if profile else None
    try:
        if prof:
            prof.enable()
        t0 = time.perf_counter()
        parse_mod.parser()  # grammar tables (from the disk cache)
        t1 = time.perf_counter()
        proj = load([str(project)])
        t2 = time.perf_counter()
        result = proj.compile()
        t4 = time.perf_counter()
        wplan = plan_writes(result.documents, out, manifest_rel=MANIFEST)
        t5 = time.perf_counter()
        apply(wplan, out)
        t6 = time.perf_counter()
        if prof:
            prof.disable()
    finally:
        parse_mod.parse_source, write_mod.render = orig_parse, orig_render
        compile_mod.compile_plan = orig_compile
    assert proj.ok and result.ok
    rows = [("grammar tables", t1 - t0), ("parse", spent["parse"]),
            ("check", t2 - t1 - spent["parse"]), ("plan", t4 - t2 - spent["compile"]),
            ("compile", spent["compile"]),
            ("render (emit)", spent["render"]),
            ("plan_writes other", t5 - t4 - spent["render"]), ("write (apply)", t6 - t5)]
    total = t6 - t0
    print(f"\nin-process stages, one cold compile{' (under cProfile)' if prof else ''}:")
    for name, sec in rows:
        print(f"  {name:<20} {sec:7.3f} s  {100 * sec / total:5.1f} %")
    print(f"  {'total':<20} {total:7.3f} s")
    if prof:
        print()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(profile)


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--envs", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stages", action="store_true",
                        help="also time one in-process compile stage by stage")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="with --stages: print the N costliest functions (cProfile)")
    parser.add_argument("--dir", default=None,
                        help="make the temporary folder (spec and outputs) in DIR, e.g. "
                             "/dev/shm to leave the disk out (default: the system's)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="setlist-estate-", dir=args.dir))
    try:
        start = time.perf_counter()
        project = generate(tmp, args.apps, args.envs)
        spec_bytes = sum(p.stat().st_size for p in project.iterdir())
        spec_files = len(list(project.iterdir()))
        print(f"estate: {args.apps} apps × {args.envs} environments × 3 static clusters; "
              f"{spec_files} spec files, {spec_bytes:,} bytes, generated in "
              f"{time.perf_counter() - start:.2f} s into {tmp}")
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, output on "
              f"{filesystem(tmp)}; peak RSS via "
              f"{'/usr/bin/time' if os.access(TIME, os.X_OK) else 'getrusage'}")

        os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")
        # The warm-up writes setlist's bytecode, as any installed setlist has it; with
        # PYTHONDONTWRITEBYTECODE every run would compile changed modules again.
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        # What `compile` keeps between runs: its records and the parse cache (the grammar
        # tables stay, as on any machine that ran setlist before).
        caches = [tmp / "cache" / "setlist" / "compile", tmp / "cache" / "setlist" / "parse"]

        def empty_caches() -> None:
            for folder in caches:
                shutil.rmtree(folder, ignore_errors=True)

        compile_once(tmp, "estate", "warm-up")  # OS file cache, grammar-table cache
        shutil.rmtree(tmp / "warm-up")
        cold, cold_rss = [], []
        summary = ""
        for i in range(args.runs):
            # Each run starts with nothing left to flush from the one before; the outputs
            # are removed only at the end (a removal's discards slow the disk for a while).
            empty_caches()
            _sync()
            wall, rss, summary = compile_once(tmp, "estate", f"out-{i}")
            cold.append(wall)
            cold_rss.append(rss)
        last = f"out-{args.runs - 1}"
        fig = tree_figures(tmp / last)
        noop, noop_rss, noop_full = [], [], []
        noop_summary = ""
        for _ in range(args.runs):
            empty_caches()
            _sync()
            noop_full.append(compile_once(tmp, "estate", last)[0])
            _sync()
            wall, rss, noop_summary = compile_once(tmp, "estate", last)
            noop.append(wall)
            noop_rss.append(rss)
        pin, pin_rss, pin_full = [], [], []
        pin_summary = ""
        for i in range(args.runs):
            change_pin(project, args.apps // 2, 2 * i + 1)
            empty_caches()
            _sync()
            pin_full.append(compile_once(tmp, "estate", last)[0])
            change_pin(project, args.apps // 2, 2 * i + 2)
            _sync()
            wall, rss, pin_summary = compile_once(tmp, "estate", last)
            pin.append(wall)
            pin_rss.append(rss)

        counted = fig["app_files"] + fig["overlays"]
        print(f"\noutput: {fig['files']:,} files, {fig['bytes']:,} bytes "
              f"({fig['yaml_docs']:,} YAML documents)")
        print(f"documents as the compile issue counts them: {counted:,} = {fig['app_files']:,} "
              f"Application files (holding {fig['applications']:,} Applications, one per "
              f"static cluster) + {fig['overlays']:,} overlays; plus AppProjects, the root "
              "app and the manifest")
        print()
        verdict = "ok" if statistics.median(cold) <= TARGET_SECONDS else "OVER TARGET"
        rss_verdict = "ok" if max(cold_rss) <= TARGET_RSS_MB else "OVER TARGET"
        print(row("cold compile", cold, cold_rss,
                  f"(target ≤ {TARGET_SECONDS} s: {verdict}; ≤ {TARGET_RSS_MB} MB: "
                  f"{rss_verdict})"))
        cold_median = statistics.median(cold)
        for name, full, inc, inc_rss in (("no-op", noop_full, noop, noop_rss),
                                         ("one pin", pin_full, pin, pin_rss)):
            share = statistics.median(inc) / cold_median
            print(f"{name + ', full':<22} median {statistics.median(full):6.3f} s  min "
                  f"{min(full):6.3f}  max {max(full):6.3f}   (caches emptied first)")
            print(row(f"{name}, incremental", inc, inc_rss,
                      f"{100 * share:.0f} % of cold (target ≤ {100 * TARGET_INCREMENTAL:.0f} %: "
                      f"{'ok' if share <= TARGET_INCREMENTAL else 'OVER TARGET'})"))
        print(f"per document ({counted:,}): cold {1e6 * cold_median / counted:.1f} µs, "
              f"peak RSS {1024 * max(cold_rss) / counted:.1f} kB")
        print(f"\n({args.runs} runs each)  cold: {summary.split(': ', 1)[-1]}")
        print(f"  no-op: {noop_summary.split(': ', 1)[-1]}")
        print(f"  one pin: {pin_summary.split(': ', 1)[-1]}")
        floor = fs_floor(tmp / last, tmp / "floor")
        print(f"\nfilesystem floor: writing the same {fig['files']:,} files with plain os calls "
              f"takes {floor:.3f} s on this folder's filesystem")
        if args.stages:
            stages(project, tmp / "in-process", args.profile)
        failed = statistics.median(cold) > TARGET_SECONDS or max(cold_rss) > TARGET_RSS_MB
        return 1 if failed and args.apps == 1000 and args.envs == 10 else 0
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
