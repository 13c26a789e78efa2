"""Cold start-up figures: each run is a new process, as in CI or a pre-commit hook.

    python bench/check_speed.py [--runs N] [--baseline DIR]

Prints the median (and min/max) wall time of `setlist check examples/quickstart` and of
`setlist --help`. Targets: check ≤ 0.3 s, --help ≤ 0.15 s median on a 2-core machine.

"Cold" is a new interpreter each run, with what an installed package has on disk: the
modules' bytecode and the parser tables in the cache folder (each written by the untimed
first run, also when PYTHONDONTWRITEBYTECODE is set, which would otherwise make every run
compile the changed modules again). Every run parses and checks the project.

``--baseline DIR`` also times another copy of the package (DIR holds a ``setlist`` folder,
put first on ``PYTHONPATH``), alternating with this one run by run, and prints the ratio:
on a shared machine only runs made side by side compare.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CASES = {
    "setlist check examples/quickstart": [sys.executable, "-m", "setlist", "check",
                                          "examples/quickstart"],
    "setlist --help": [sys.executable, "-m", "setlist", "--help"],
}
TARGETS = {"setlist check examples/quickstart": 0.3, "setlist --help": 0.15}


def _env(baseline: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if baseline is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (baseline, env.get("PYTHONPATH"))))
    return env


def measure(cmd: list[str], runs: int, envs: list[dict[str, str]]) -> list[list[float]]:
    """Wall times of ``cmd`` per environment, the environments alternating run by run."""
    for env in envs:  # bytecode, parser tables and the OS file cache
        subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, check=True)
    times: list[list[float]] = [[] for _ in envs]
    for _ in range(runs):
        for env, got in zip(envs, times, strict=True):
            start = time.perf_counter()
            subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, check=True)
            got.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--baseline", metavar="DIR",
                        help="a folder holding another copy of the `setlist` package")
    args = parser.parse_args()
    envs = [_env(None)] + ([_env(args.baseline)] if args.baseline else [])
    failed = False
    load = os.getloadavg()[0]
    for name, cmd in CASES.items():
        times, *baseline = measure(cmd, args.runs, envs)
        median = statistics.median(times)
        target = TARGETS[name]
        verdict = "ok" if median <= target else "OVER TARGET"
        failed |= median > target
        print(f"{name:38s} median {median:.3f} s  min {min(times):.3f}  max {max(times):.3f}"
              f"  ({args.runs} runs; target {target} s: {verdict})")
        if baseline:
            base = statistics.median(baseline[0])
            print(f"{'  baseline ' + args.baseline:38s} median {base:.3f} s  "
                  f"min {min(baseline[0]):.3f}  max {max(baseline[0]):.3f}  "
                  f"(this / baseline: {median / base:.2f})")
    print(f"load average (1 min): {load:.2f} before, {os.getloadavg()[0]:.2f} after")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
