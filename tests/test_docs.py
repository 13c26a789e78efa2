"""The documentation stays true to the code: generated pages are current, every example
checks clean, every diagnostic code is both catalogued and used, every field is described."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import setlist
from setlist import codes
from setlist.check.blocks import SCHEMAS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
COMPILER = ROOT / "compiler"
CODE_RE = re.compile(r"""["'](SL\d{3})["']""")
# A ```setlist block up to its closing fence; ```setlist-fragment blocks are not matched.
BLOCK_RE = re.compile(r"^```setlist[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def _doc_files() -> list[Path]:
    return sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]


def _setlist_blocks() -> list[tuple[str, int, str]]:
    blocks = []
    for path in _doc_files():
        text = path.read_text("utf-8")
        for match in BLOCK_RE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            blocks.append((path.relative_to(ROOT).as_posix(), line, match.group(1)))
    return blocks


# ---- (a) generated diagnostics page -----------------------------------------------------

def test_diagnostics_page_is_generated_from_the_catalogue():
    page = (DOCS / "diagnostics.md").read_text("utf-8")
    assert page == codes.markdown(), (
        "docs/diagnostics.md is out of date; regenerate it with "
        "`.venv/bin/python -m setlist.codes > docs/diagnostics.md` (or `make docs`)")


# ---- (b) codes used <-> codes catalogued ------------------------------------------------

def _source_files() -> list[Path]:
    return sorted(p for p in COMPILER.rglob("*.py") if p != COMPILER / "codes.py")


def _codes_in_sources() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in _source_files():
        for code in CODE_RE.findall(path.read_text("utf-8")):
            found.setdefault(code, []).append(path.relative_to(ROOT).as_posix())
    return found


def _reserved_codes() -> set[str]:
    """Codes that a comment in the compiler sources (codes.py included) marks as reserved,
    e.g. ``# SL999 is reserved for ...``."""
    reserved = set()
    for path in COMPILER.rglob("*.py"):
        for line in path.read_text("utf-8").splitlines():
            comment = line.partition("#")[2]
            if "reserved" in comment.lower():
                reserved.update(re.findall(r"SL\d{3}", comment))
    return reserved


def test_every_code_used_in_the_compiler_is_catalogued():
    unknown = {code: where for code, where in _codes_in_sources().items()
               if code not in codes.CODES}
    assert not unknown, f"codes used but missing from setlist.codes.CODES: {unknown}"


def test_every_catalogued_code_is_used_or_reserved():
    used = set(_codes_in_sources()) | _reserved_codes()
    unused = sorted(set(codes.CODES) - used)
    assert not unused, (
        f"codes in setlist.codes.CODES that no check reports: {unused}; report them from a "
        "check, remove them, or mark them with a comment saying they are reserved")


# ---- (c) examples in the docs check clean -----------------------------------------------

@pytest.mark.parametrize("where,line,source", _setlist_blocks(),
                         ids=[f"{w}:{n}" for w, n, _ in _setlist_blocks()])
def test_setlist_blocks_check_clean(where, line, source, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "example.setlist"
    spec.write_text(source, encoding="utf-8")
    project = setlist.load(str(spec))
    problems = "\n".join(str(d) for d in project.diagnostics)
    assert not project.diagnostics, (
        f"the ```setlist block at {where}:{line} does not check clean (mark partial examples "
        f"```setlist-fragment):\n{problems}")


def test_docs_have_setlist_examples():
    assert any(w == "docs/language.md" for w, _, _ in _setlist_blocks())


# ---- (d) `setlist explain` prints the catalogue ------------------------------------------

def _explain(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "setlist", "explain", *args],
                          capture_output=True, text=True, encoding="utf-8", cwd=ROOT)


def test_explain_prints_every_code():
    for code in codes.CODES:
        result = _explain(code)
        assert result.returncode == 0, (code, result.stderr)
        assert result.stdout == codes.explain(code), code


def test_explain_unknown_code_is_a_usage_error():
    result = _explain("SL999")
    assert result.returncode == 2
    assert "SL999" in result.stderr
    assert result.stdout == ""


# ---- (e) every field is documented --------------------------------------------------------

def test_language_reference_names_every_field():
    text = (DOCS / "language.md").read_text("utf-8")
    missing = [f"{block}.{name}" for block, fields in SCHEMAS.items() for name in fields
               if f"`{name}`" not in text]
    assert not missing, f"docs/language.md does not describe these fields: {missing}"


def test_language_reference_has_a_table_row_per_field():
    text = (DOCS / "language.md").read_text("utf-8")
    for block, fields in SCHEMAS.items():
        heading = f"### {block} fields"
        assert heading in text, heading
        section = text.split(heading, 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
        rows = re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE)
        assert rows == list(fields), (block, rows)
        for name, spec in fields.items():
            row = next(r for r in section.splitlines() if r.startswith(f"| `{name}` |"))
            required = re.split(r"(?<!\\)\|", row)[3].strip()
            assert required == ("yes" if spec.required else "no"), (block, name, required)
