"""The bundled examples check clean, through the CLI as a user runs it."""

from __future__ import annotations

import subprocess
import sys

import pytest

import setlist
from conftest import EXAMPLES, ROOT


@pytest.mark.parametrize("name", ["quickstart", "multi-cluster"])
def test_example_checks_clean(name):
    project = setlist.load(EXAMPLES / name)
    assert project.files, f"examples/{name} holds no *.setlist files"
    assert [str(d) for d in project.diagnostics] == []
    assert project.spec is not None and project.spec.apps


def test_cli_check_quickstart_exit_zero():
    result = subprocess.run([sys.executable, "-m", "setlist", "check", "examples/quickstart"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no problems found" in result.stdout
