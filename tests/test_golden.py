"""Golden files: the full text and JSON output for whole projects, compared byte for byte.

Each folder ``tests/golden/<case>/`` holds the project's ``*.setlist`` files (loaded as ``.``
with the case folder as the current directory, so paths in the output are stable) and

- ``expected.txt``: ``render_text(project.diagnostics, project.sources, color=False)``
- ``expected.json``: ``render_json(project.diagnostics)``

To regenerate after an intended change, run

    SETLIST_UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q tests/test_golden.py

which rewrites the expected files instead of comparing; then read the diff (``git diff
tests/golden``) and keep it only if every change is right.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import setlist
from setlist.render import render_json, render_text

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("SETLIST_UPDATE_GOLDEN", "") == "1"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())


def _outputs(case: str, monkeypatch) -> dict[str, str]:
    monkeypatch.chdir(GOLDEN / case)
    project = setlist.load(".")
    return {
        "expected.txt": render_text(project.diagnostics, project.sources, color=False),
        "expected.json": render_json(project.diagnostics),
    }


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, monkeypatch):
    for name, actual in _outputs(case, monkeypatch).items():
        path = GOLDEN / case / name
        if UPDATE:
            path.write_text(actual, encoding="utf-8", newline="\n")
            continue
        assert path.is_file(), f"{path} is missing; run with SETLIST_UPDATE_GOLDEN=1"
        expected = path.read_text(encoding="utf-8")
        assert actual == expected, f"{case}/{name} differs (SETLIST_UPDATE_GOLDEN=1 rewrites)"


def test_enough_cases():
    assert len(CASES) >= 8


def test_output_does_not_depend_on_the_machine(monkeypatch):
    for case in CASES:
        for text in _outputs(case, monkeypatch).values():
            assert str(GOLDEN) not in text, case
