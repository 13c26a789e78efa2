"""bench/resolve.py runs end to end in its quick mode (20 repositories × 20 tags on the real
registry) and prints its figures. Speed is not judged here: only that every figure line is
there and that setlist and the oras-py baseline chose the same versions."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import ROOT, unavailable

SCRIPT = ROOT / "bench" / "resolve.py"

FIGURES = [
    r"^estate: 20 repositories × 20 tags .* manifests pushed in [\d.]+ s \(setup\)$",
    r"^baseline, oras-py one at a time +median +[\d.]+ s .*; \d+ requests$",
    r"^setlist resolve, cold \(process\) +median +[\d.]+ s ",
    r"^speed-up \(baseline / setlist\): [\d.]+× \(target ≥ 5×: (PASS|FAIL)\)$",
    r"^choices: setlist and the baseline agree on every image \(20\)$",
    r"^ +cold resolve +\d+ requests: tag list GET 20, manifest GET by tag \d+, ",
    r"^ +second resolve +\d+ requests: tag list GET 20, ",
    r"^second resolve downloaded again: \d+ manifest bodies \(\d+ distinct\) and \d+ blobs "
    r".*\(target 0: (PASS|FAIL)\)$",
]


def test_quick_run_prints_every_figure():
    import registry_util

    if not registry_util.available():
        unavailable(f"{registry_util.BINARY} is not installed "
                    "(scripts/install-services.sh installs it)")
    try:
        import oras.provider  # noqa: F401
    except ImportError:
        unavailable("oras-py is not installed (pip install -e '.[bench]')")
    result = subprocess.run([sys.executable, str(SCRIPT), "--quick"], cwd=ROOT,
                            capture_output=True, text=True, encoding="utf-8", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    for pattern in FIGURES:
        assert re.search(pattern, result.stdout, re.MULTILINE), \
            f"no line matching {pattern!r} in:\n{result.stdout}"
