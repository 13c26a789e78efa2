"""bench/estate_peers.py runs end to end at a tiny size: Setlist, KCL and Jsonnet produce the
same documents (compared structurally by the script) and every figure line is printed.
Speed is not judged here."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import ROOT, unavailable

SCRIPT = ROOT / "bench" / "estate_peers.py"

FIGURES = [
    r"^equivalence at 4 apps × 6 environments \(setlist, kcl, jsonnet\): same documents$",
    r"^estate: 5 apps × 3 environments × 3 static clusters = 30 documents;",
    r"^  setlist +median +[\d.]+ s .* peak RSS +[\d.]+ MB +[\d.]+ µs/document$",
    r"^  kcl +median +[\d.]+ s .* peak RSS +[\d.]+ MB +[\d.]+ µs/document$",
    r"^  jsonnet +median +[\d.]+ s .* peak RSS +[\d.]+ MB +[\d.]+ µs/document$",
    r"^  setlist / kcl: [\d.]+  \(target ≤ 1.0: (ok|FAIL)\)$",
    r"^  setlist / jsonnet: [\d.]+$",
    r"^  setlist peak RSS [\d.]+ MB \(target ≤ 500 MB: (ok|FAIL)\)$",
]


def test_peers_produce_the_same_documents_and_figures(tmp_path):
    try:
        import _jsonnet  # noqa: F401
        import kcl_lib.api  # noqa: F401
    except ImportError as exc:
        unavailable(f"a peer is not installed ({exc}); pip install -e '.[bench]'")
    result = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--dir", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, encoding="utf-8",
                            timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    for pattern in FIGURES:
        assert re.search(pattern, result.stdout, re.MULTILINE), \
            f"missing figure {pattern!r} in:\n{result.stdout}"


def test_peer_programs_match_setlist_at_a_small_size(tmp_path):
    """The comparison itself, in process: each peer's files equal Setlist's documents."""
    try:
        import _jsonnet  # noqa: F401
        import kcl_lib.api  # noqa: F401
    except ImportError as exc:
        unavailable(f"a peer is not installed ({exc}); pip install -e '.[bench]'")
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import estate_peers
    finally:
        sys.path.remove(str(ROOT / "bench"))
    assert estate_peers.compared(tmp_path, ["setlist", "kcl", "jsonnet"], apps=5, envs=7) == []
