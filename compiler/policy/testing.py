"""`setlist test`: policy test cases, each a small spec that states the violations it expects.

A case is a file named ``*.test.setlist`` (``setlist check`` skips them). It is a spec of its
own: it imports the policies under test, turns them on with ``use`` and declares a few
apps, images and environments. Comment lines state what the case expects and the facts a
registry would give:

    // expect: p.prod_pinned for app shop
    // expect: p.no_latest for image api "follows the mutable tag"
    // expect: nothing
    // signed: api            images whose every digest is signed (others are unsigned)
    // now: 2027-03-01        the time the policies see (default: the real time)

A lock for the case, when it needs resolved facts, is ``NAME.lock`` beside it (the format of
setlist.lock). The case passes when the violations equal the expected ones: each expected
line matches at least one violation (same policy as written in ``use``; the scope, when
given, is what a waiver would name; the text, when given, is part of the message) and every
violation matches an expected line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..diagnostics import Diagnostic, Severity
from ..lockfile import LockError, parse
from .engine import Violation
from .world import Facts, parse_time

DIRECTIVE = re.compile(r"^\s*//\s*(expect|signed|now)\s*:\s*(.*?)\s*$")
EXPECT = re.compile(r'^(?P<policy>[A-Za-z_][\w.-]*)'
                    r'(?:\s+for\s+(?P<kind>app|environment|image|registry)\s+(?P<name>[\w-]+))?'
                    r'(?:\s+"(?P<text>[^"]*)")?$')


@dataclass
class Expected:
    policy: str
    subject: str | None
    text: str | None
    line: int

    def __str__(self) -> str:
        out = self.policy + (f" for {self.subject}" if self.subject else "")
        return out + (f' "{self.text}"' if self.text else "")

    def matches(self, v: Violation) -> bool:
        return v.instance.label == self.policy and \
            (self.subject is None or v.subject == self.subject) and \
            (self.text is None or self.text.lower() in v.message.lower())


@dataclass
class Case:
    path: Path
    expected: list[Expected] = field(default_factory=list)
    nothing: bool = False
    signed: set[str] = field(default_factory=set)
    now: datetime | None = None
    problems: list[str] = field(default_factory=list)   # bad directives


@dataclass
class Outcome:
    case: Case
    missing: list[Expected] = field(default_factory=list)
    unexpected: list[Violation] = field(default_factory=list)
    actual: list[Violation] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not (self.missing or self.unexpected or self.errors or self.case.problems)


def read_case(path: Path) -> Case:
    case = Case(path=path)
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        found = DIRECTIVE.match(line)
        if not found:
            continue
        kind, rest = found.groups()
        if kind == "expect":
            if rest == "nothing":
                case.nothing = True
                continue
            em = EXPECT.match(rest)
            if em is None:
                case.problems.append(f"line {number}: expected 'expect: POLICY [for KIND NAME] "
                                     f"[\"text\"]' or 'expect: nothing', found {rest!r}")
                continue
            subject = f"{em['kind']} {em['name']}" if em["kind"] else None
            case.expected.append(Expected(em["policy"], subject, em["text"], number))
        elif kind == "signed":
            case.signed |= {n.strip() for n in rest.split(",") if n.strip()}
        else:
            moment = parse_time(rest)
            if moment is None:
                case.problems.append(f"line {number}: 'now: {rest}' is not a date or an "
                                     "RFC 3339 time")
            case.now = moment
    if case.nothing and case.expected:
        case.problems.append("'expect: nothing' and other expect lines contradict each other")
    if not case.nothing and not case.expected and not case.problems:
        case.problems.append("no 'expect:' line: say which violations the case expects, or "
                             "'expect: nothing'")
    return case


def run_case(case: Case) -> Outcome:
    from ..project import display_path, load

    outcome = Outcome(case=case)
    if case.problems:
        return outcome
    project = load([case.path])
    outcome.sources = project.sources
    lock = None
    lock_file = case.path.with_name(case.path.name[:-len(".test.setlist")] + ".lock")
    if lock_file.is_file():
        try:
            lock = parse(lock_file.read_text("utf-8"), display_path(lock_file))
        except LockError as exc:
            case.problems.append(str(exc))
            return outcome
    policy_codes = {"SL800", "SL801", "SL802", "SL804"}
    outcome.errors = [d for d in project.diagnostics
                      if d.severity is Severity.ERROR and d.code not in policy_codes]
    if outcome.errors or project.spec is None or project.policies is None:
        return outcome
    facts = Facts(lock=lock, now=case.now or datetime.now(UTC),
                  signed=lambda image, digest: image in case.signed)
    found: list[Violation] = []
    diags = project.policies.evaluate(project.spec, facts, found=found)
    outcome.errors = [d for d in diags if d.code != "SL800" and d.severity is Severity.ERROR]
    outcome.actual = found
    outcome.missing = [e for e in case.expected if not any(e.matches(v) for v in found)]
    outcome.unexpected = [v for v in found if not any(e.matches(v) for e in case.expected)]
    return outcome


def describe(v: Violation) -> str:
    return v.instance.label + (f" for {v.subject}" if v.subject else "") + f': "{v.message}"'
