"""Cold start-up figures: each run is a new process, as in CI or a pre-commit hook.

    python bench/check_speed.py [--runs N]

Prints the median (and min/max) wall time of `setlist check examples/quickstart` and of
`setlist --help`. Targets: check ≤ 0.3 s, --help ≤ 0.15 s median on a 2-core machine.
"""

from __future__ import annotations

import argparse
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


def measure(cmd: list[str], runs: int) -> list[float]:
    subprocess.run(cmd, cwd=ROOT, capture_output=True, check=True)  # warm the OS file cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    failed = False
    for name, cmd in CASES.items():
        times = measure(cmd, args.runs)
        median = statistics.median(times)
        target = TARGETS[name]
        verdict = "ok" if median <= target else "OVER TARGET"
        failed |= median > target
        print(f"{name:38s} median {median:.3f} s  min {min(times):.3f}  max {max(times):.3f}"
              f"  ({args.runs} runs; target {target} s: {verdict})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
