"""bench/lsp.py runs end to end on a small spec and prints its figures. Speed is not judged
here: only that the real server answered every edit with the diagnostics it should (the
bench exits non-zero otherwise) and that every figure line is there."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import ROOT

SCRIPT = ROOT / "bench" / "lsp.py"

FIGURES = [
    r"^spec: \d+ lines in \d+ files \(100 apps per file\); edited file apps-00\.setlist: "
    r"\d+ lines$",
    r"^first analysis after didOpen: \d+ ms$",
    r"^diagnostics after an edit +median +[\d.]+ ms +min +[\d.]+ +max +[\d.]+ +\(4 runs; "
    r"target ≤ 300 ms: (PASS|FAIL)\)$",
    r"^hover +median +[\d.]+ ms .*\(5 runs; target ≤ 50 ms: (PASS|FAIL)\)$",
    r"^completion +median +[\d.]+ ms .*\(5 runs; target ≤ 50 ms: (PASS|FAIL)\)$",
]


def test_small_run_prints_every_figure():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--lines", "400", "--edits", "4", "--requests", "5",
         "--debounce-ms", "20"],
        cwd=ROOT, capture_output=True, text=True, encoding="utf-8", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    for pattern in FIGURES:
        assert re.search(pattern, result.stdout, re.MULTILINE), \
            f"no line matching {pattern!r} in:\n{result.stdout}"
