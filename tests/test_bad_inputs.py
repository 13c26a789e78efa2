"""The bad-input corpus: one realistic mistake (or a few) per case, expectations in the case.

A case is ``tests/bad_inputs/<name>.setlist`` or a folder ``tests/bad_inputs/<name>/`` whose
``main.setlist`` holds the expectations (the folder is loaded as a whole). Directives are
comment lines at the very top of the file, before any other line:

    // expect: SL200 7:13 unknown environment 'stagin'
    // expect: SL205 other.setlist:1:8 import cycle
    // no-hint-ok
    // xfail: why the current output is wrong (the expect lines say what is right)

``expect`` gives the code, where the diagnostic's span starts (line:column, 1-based, counted
in the file as written, directives included; ``file:line:column`` for another file of a
folder case) and a substring of its message (compared case-insensitively). The set of
(code, file, line, column) reported must equal the expected set exactly. Every diagnostic
must have a hint unless the case says ``no-hint-ok``. ``xfail`` marks the case
``xfail(strict=True)``: it documents a bug outside the files the corpus may change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import setlist
from setlist.codes import CODES

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
DIRECTIVE = re.compile(r"^//\s*(expect|no-hint-ok|xfail)\b:?\s*(.*)$")
EXPECT = re.compile(r"^(SL\d{3})\s+(?:(\S+\.setlist):)?(\d+):(\d+)\s+(.+?)\s*$")


@dataclass
class Case:
    name: str
    root: Path          # the folder to chdir into
    target: str         # what to pass to setlist.load, relative to root
    main: str           # the file the expectations are written in, relative to root
    expects: list[tuple[str, str, int, int, str]] = field(default_factory=list)
    no_hint_ok: bool = False
    xfail: str | None = None


def _parse_case(name: str, root: Path, target: str, main: str) -> Case:
    case = Case(name=name, root=root, target=target, main=main)
    for line in (root / main).read_text("utf-8").splitlines():
        mt = DIRECTIVE.match(line)
        if not mt:
            break
        kind, rest = mt.groups()
        if kind == "no-hint-ok":
            case.no_hint_ok = True
        elif kind == "xfail":
            case.xfail = rest or "known bug"
        else:
            em = EXPECT.match(rest)
            assert em, f"{name}: bad expect line {line!r}"
            code, file, ln, col, text = em.groups()
            case.expects.append((code, file or main, int(ln), int(col), text))
    return case


def discover_cases() -> list[Case]:
    cases = []
    for path in sorted(CORPUS.iterdir()):
        if path.is_dir():
            assert (path / "main.setlist").is_file(), f"{path.name}/ needs a main.setlist"
            cases.append(_parse_case(path.name, path, ".", "main.setlist"))
        elif path.suffix == ".setlist":
            cases.append(_parse_case(path.stem, CORPUS, path.name, path.name))
    return cases


CASES = discover_cases()


def _params() -> list:
    return [pytest.param(case, id=case.name,
                         marks=[pytest.mark.xfail(strict=True, reason=case.xfail)]
                         if case.xfail else [])
            for case in CASES]


def _load(case: Case, monkeypatch):
    monkeypatch.chdir(case.root)
    try:
        return setlist.load(case.target)
    except Exception as exc:  # loading must never raise for bad input
        pytest.fail(f"setlist.load raised {type(exc).__name__}: {exc}")


@pytest.mark.parametrize("case", _params())
def test_bad_input(case: Case, monkeypatch):
    project = _load(case, monkeypatch)
    got = {(d.code, Path(d.span.file).as_posix(), d.span.line, d.span.column): d
           for d in project.diagnostics}
    want = {(c, f, ln, col): text for c, f, ln, col, text in case.expects}
    shown = "\n".join(f"  {d}  | hints: {list(d.hints)}" for d in project.diagnostics)
    assert set(got) == set(want), f"diagnostics differ from the expect lines; got:\n{shown}"
    for key, text in want.items():
        assert text.lower() in got[key].message.lower(), \
            f"{key}: {text!r} not in message {got[key].message!r}"
    if not case.no_hint_ok:
        bare = [str(d) for d in project.diagnostics if not d.hints]
        assert not bare, f"diagnostics without a hint (add '// no-hint-ok'?): {bare}"


def test_corpus_is_large_enough():
    assert len(CASES) >= 70


def test_every_code_is_exercised():
    """Every parse and check code has a case here; compile-stage codes (SL7xx) are reported
    by `setlist compile`, and tests/test_compile.py exercises them."""
    seen = {code for case in CASES if not case.xfail for code, *_ in case.expects}
    assert sorted(c for c in set(CODES) - seen if not c.startswith("SL7")) == []


def test_every_case_expects_something():
    assert [c.name for c in CASES if not c.expects] == []
