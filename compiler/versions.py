"""Semantic versions and version ranges with Masterminds semver v3 semantics.

Argo CD Image Updater picks image tags with github.com/Masterminds/semver/v3, so a
constraint written in Setlist must mean exactly what it will mean once the updater
evaluates it. This module re-implements that behaviour (as of Masterminds v3.4) in
pure Python so that the checker can reject a bad range at compile time and the
registry resolver can predict which tag the updater would choose.

Deliberate choices, where Masterminds is either lenient by accident or undocumented:

* Versions are parsed like ``NewVersion`` with coercion on: an optional lowercase
  ``v``, one to three numeric parts, leading zeros in numeric parts tolerated
  (``01.2`` is 1.2.0), numeric pre-release identifiers must not have leading zeros
  (``1.2.3-beta.01`` is rejected, as Masterminds does).
* Constraint parsing is a hand-written scanner rather than Masterminds' regular
  expressions, so that errors can point at the offending character. It accepts the
  same language, except that a version part mixing digits and wildcards (``1x``),
  which Masterminds' regex lets through and then fails on obscurely, is rejected here
  with a precise message, and a hyphen range must be written between plain versions.
* Pre-release opt-in is per AND group (Masterminds >= 3.4): a pre-release version is
  only considered when some comparator in the same ``||`` alternative carries a
  pre-release part, e.g. ``>=1.0.0-0 <2``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

__all__ = [
    "Comparator",
    "Constraint",
    "ConstraintError",
    "Version",
    "compare_versions",
    "newest",
    "parse_constraint",
    "parse_version",
]

_IDENT = r"[0-9A-Za-z-]+"
_VERSION_RE = re.compile(
    r"v?(?P<major>[0-9]+)(?:\.(?P<minor>[0-9]+))?(?:\.(?P<patch>[0-9]+))?"
    rf"(?:-(?P<pre>{_IDENT}(?:\.{_IDENT})*))?"
    rf"(?:\+(?P<build>{_IDENT}(?:\.{_IDENT})*))?"
)
_IDENT_RE = re.compile(_IDENT)
_HYPHEN_RE = re.compile(r"\s+-\s+")
_WILDCARDS = frozenset({"x", "X", "*"})


def _digits(text: str) -> bool:
    """ASCII only: str.isdigit() accepts '²', which Go's parsers (and int()) reject."""
    return text.isascii() and text.isdigit()


def _pre_key(identifier: str) -> tuple[int, int, str]:
    """Numeric identifiers sort numerically and before alphanumeric ones (semver 2.0 §11)."""
    if _digits(identifier):
        return (0, int(identifier), "")
    return (1, 0, identifier)


@dataclass(frozen=True, eq=False)
class Version:
    """A parsed version. Equality and ordering follow semver precedence, so build
    metadata and a ``v`` prefix are ignored when comparing but kept in ``original``
    because the registry resolver must hand back the tag exactly as it was written."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: tuple[str, ...] = ()
    original: str = field(default="")

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        # A release (no pre-release) outranks every pre-release of the same core.
        return (
            self.major,
            self.minor,
            self.patch,
            0 if self.prerelease else 1,
            tuple(_pre_key(p) for p in self.prerelease),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def __le__(self, other: Version) -> bool:
        return self._key() <= other._key()

    def __gt__(self, other: Version) -> bool:
        return self._key() > other._key()

    def __ge__(self, other: Version) -> bool:
        return self._key() >= other._key()

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text


def compare_versions(a: Version, b: Version) -> int:
    """Three-way comparison, for callers porting Go code that expects ``Compare``."""
    return (a > b) - (a < b)


def _prerelease_problem(identifiers: tuple[str, ...]) -> str | None:
    """Masterminds rejects numeric pre-release identifiers with leading zeros (semver §9)."""
    for ident in identifiers:
        if _digits(ident) and len(ident) > 1 and ident[0] == "0":
            return f"the pre-release identifier '{ident}' is numeric and must not start with 0"
    return None


def parse_version(text: str) -> Version | None:
    """Parse leniently, as Masterminds ``NewVersion`` does; None means "not a version".

    Returning None instead of raising lets callers filter registry tag lists, where most
    tags (``latest``, ``main-abc123``) are simply not versions.
    """
    match = _VERSION_RE.fullmatch(text)
    if match is None:
        return None
    pre = tuple(match["pre"].split(".")) if match["pre"] else ()
    if _prerelease_problem(pre) is not None:
        return None
    return Version(
        major=int(match["major"]),
        minor=int(match["minor"] or 0),
        patch=int(match["patch"] or 0),
        prerelease=pre,
        build=tuple(match["build"].split(".")) if match["build"] else (),
        original=text,
    )


class ConstraintError(ValueError):
    """Raised for an unparseable range; ``offset`` lets the checker underline the bad part."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


# Longest operators first so that ">=" is not read as ">" followed by "=".
_OPERATORS = ("!=", ">=", "=>", "<=", "=<", "~>", "=", ">", "<", "~", "^")
_CANONICAL_OP = {"=>": ">=", "=<": "<=", "~>": "~", "": "="}


@dataclass(frozen=True)
class Comparator:
    """One ``op version`` term. The dirty flags record which parts were wildcards or
    omitted, because Masterminds gives ``>1.2`` and ``>1.2.0`` different meanings."""

    op: str
    version: Version
    text: str
    dirty: bool = False
    minor_dirty: bool = False
    patch_dirty: bool = False

    def allows(self, v: Version, include_prerelease: bool) -> bool:
        if v.prerelease and not include_prerelease:
            return False
        return _CHECKS[self.op](self, v)


def _not_equal(c: Comparator, v: Version) -> bool:
    con = c.version
    if c.dirty:
        if con.major != v.major:
            return True
        if con.minor != v.minor and not c.minor_dirty:
            return True
        if c.minor_dirty:
            return False
        if con.patch != v.patch and not c.patch_dirty:
            return True
        if c.patch_dirty:
            # Masterminds compares only the pre-release parts here; "!=4.1-alpha" still
            # excludes 4.1.1-alpha because the patch is a wildcard.
            if v.prerelease or con.prerelease:
                return v.prerelease != con.prerelease
            return False
    return v != con


def _greater(c: Comparator, v: Version) -> bool:
    con = c.version
    if not c.dirty:
        return v > con
    if v.major != con.major:
        return v.major > con.major
    if c.minor_dirty:
        return False  # ">11" needs 12 or above, 11.1.0 is not greater than "11"
    if c.patch_dirty:
        return v.minor > con.minor
    return v > con


def _less_equal(c: Comparator, v: Version) -> bool:
    con = c.version
    if not c.dirty:
        return v <= con
    if v.major > con.major:
        return False
    return not (v.major == con.major and v.minor > con.minor and not c.minor_dirty)


def _tilde(c: Comparator, v: Version) -> bool:
    con = c.version
    if v < con:
        return False
    if (con.major, con.minor, con.patch) == (0, 0, 0) and not c.minor_dirty and not c.patch_dirty:
        return True  # "~0.0.0" and "~*" accept everything above
    if v.major != con.major:
        return False
    return v.minor == con.minor or c.minor_dirty


def _tilde_or_equal(c: Comparator, v: Version) -> bool:
    return _tilde(c, v) if c.dirty else v == c.version


def _caret(c: Comparator, v: Version) -> bool:
    con = c.version
    if v < con:
        return False
    if con.major > 0 or c.minor_dirty:
        return v.major == con.major
    if v.major > 0:
        return False
    if con.minor > 0 or c.patch_dirty:
        return v.minor == con.minor
    if v.minor > 0:
        return False
    return v.patch == con.patch


_CHECKS: dict[str, Callable[[Comparator, Version], bool]] = {
    "=": _tilde_or_equal,
    "!=": _not_equal,
    ">": _greater,
    "<": lambda c, v: v < c.version,
    ">=": lambda c, v: v >= c.version,
    "<=": _less_equal,
    "~": _tilde,
    "^": _caret,
}


@dataclass(frozen=True)
class Constraint:
    """A parsed range: OR of AND groups. Kept as data so diagnostics can print it."""

    text: str
    alternatives: tuple[tuple[Comparator, ...], ...]

    def allows(self, v: Version) -> bool:
        for group in self.alternatives:
            include_pre = any(c.version.prerelease for c in group)
            if all(c.allows(v, include_pre) for c in group):
                return True
        return False

    def __str__(self) -> str:
        return self.text


class _Scanner:
    """Reads one constraint string left to right, raising ConstraintError with offsets."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, detail: str, offset: int) -> ConstraintError:
        return ConstraintError(f"'{self.text}' is not a valid version range: {detail}", offset)

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def skip_ws(self) -> int:
        start = self.pos
        while not self.at_end() and self.text[self.pos].isspace():
            self.pos += 1
        return self.pos - start

    def word_at(self, pos: int) -> str:
        """The run of non-separator characters at ``pos``, for quoting in messages."""
        end = pos
        while end < len(self.text) and not self.text[end].isspace() and self.text[end] not in ",|":
            end += 1
        return self.text[pos:end] or self.text[pos : pos + 1]

    def operator(self) -> str:
        for op in _OPERATORS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return op
        return ""

    def part(self, name: str) -> str:
        start = self.pos
        if self.peek() in _WILDCARDS:
            self.pos += 1
        else:
            while _digits(self.peek()):
                self.pos += 1
        token = self.text[start : self.pos]
        if token and self._ends_part():
            return token
        if token and self.peek() in "<>=!~^":
            raise self.fail(
                f"'{self.peek()}' must be separated from the version before it "
                "by a space or a comma",
                self.pos,
            )
        if not token and self._ends_part():
            raise self.fail(f"the {name} version is missing", start)
        bad = re.split(r"[.+\-]", self.word_at(start))[0]
        raise self.fail(
            f"the {name} version '{bad}' is not a number or a wildcard (x, X, *)", start
        )

    def _ends_part(self) -> bool:
        return self.at_end() or self.peek() in ".-+,|" or self.peek().isspace()

    def identifiers(self, kind: str) -> tuple[str, ...]:
        idents: list[str] = []
        while True:
            start = self.pos
            match = _IDENT_RE.match(self.text, self.pos)
            if match is None:
                raise self.fail(f"the {kind} has an empty or invalid identifier", start)
            idents.append(match.group())
            self.pos = match.end()
            if self.peek() != ".":
                return tuple(idents)
            self.pos += 1

    def version(self, op: str) -> Comparator:
        start = self.pos
        if self.at_end():
            after = f" after '{op}'" if op else ""
            raise self.fail(f"a version is missing{after}", start)
        if self.peek() == "v":
            self.pos += 1
        first = self.peek()
        if not first or not (_digits(first) or first in _WILDCARDS):
            word = self.word_at(start)
            raise self.fail(f"expected a version such as 1.2.3 but found '{word}'", start)
        parts = [self.part("major")]
        for name in ("minor", "patch"):
            if self.peek() != ".":
                break
            self.pos += 1
            parts.append(self.part(name))
        if self.peek() == ".":
            raise self.fail(
                "a version has at most three parts (major.minor.patch), "
                f"'{self.word_at(start)}' has more",
                self.pos,
            )
        pre: tuple[str, ...] = ()
        build: tuple[str, ...] = ()
        if self.peek() == "-":
            self.pos += 1
            pre_start = self.pos
            pre = self.identifiers("pre-release")
            problem = _prerelease_problem(pre)
            if problem:
                raise self.fail(problem, pre_start)
        if self.peek() == "+":
            self.pos += 1
            build = self.identifiers("build metadata")
        return _comparator(op, parts, pre, build, self.text[start : self.pos])


def _comparator(
    op: str, parts: list[str], pre: tuple[str, ...], build: tuple[str, ...], text: str
) -> Comparator:
    """Fill omitted or wildcard parts with zeros and remember which ones they were,
    mirroring how Masterminds builds its constraint version (``1.x`` -> 1.0.0, dirty)."""
    padded = parts + [""] * (3 - len(parts))
    dirty = minor_dirty = patch_dirty = False
    nums = [0, 0, 0]
    if padded[0] in _WILDCARDS:
        dirty = True
    elif padded[1] in _WILDCARDS or padded[1] == "":
        dirty = minor_dirty = True
        nums[0] = int(padded[0])
    elif padded[2] in _WILDCARDS or padded[2] == "":
        dirty = patch_dirty = True
        nums[:2] = [int(padded[0]), int(padded[1])]
    else:
        nums = [int(p) for p in padded]
    version = Version(nums[0], nums[1], nums[2], pre, build, original=text)
    return Comparator(
        op=_CANONICAL_OP.get(op, op),
        version=version,
        text=text,
        dirty=dirty,
        minor_dirty=minor_dirty,
        patch_dirty=patch_dirty,
    )


def _parse_group(scanner: _Scanner, end: int) -> tuple[Comparator, ...]:
    """Parse comparators until ``end`` (the next ``||`` or the end of the text)."""
    comparators: list[Comparator] = []
    scanner.skip_ws()
    if scanner.pos >= end:
        raise scanner.fail("an alternative between '||' is empty", min(scanner.pos, end))
    while True:
        op_start = scanner.pos
        op = scanner.operator()
        scanner.skip_ws()
        if scanner.pos >= end:
            raise scanner.fail(f"a version is missing after '{op}'", scanner.pos)
        lower = scanner.version(op)
        if op and _hyphen_follows(scanner.text, scanner.pos, end):
            hyphen = scanner.text.index("-", scanner.pos)
            raise scanner.fail(
                f"a hyphen range cannot start with an operator ('{op}'); "
                "write it as '1.2 - 1.4.5'",
                hyphen,
            )
        if op == "" and _hyphen_follows(scanner.text, scanner.pos, end):
            scanner.skip_ws()
            scanner.pos += 1  # the "-"
            scanner.skip_ws()
            if scanner.pos >= end or scanner.text[scanner.pos] in "<>=!~^":
                raise scanner.fail(
                    "a hyphen range needs a plain version on both sides, e.g. '1.2 - 1.4.5'",
                    scanner.pos,
                )
            upper = scanner.version("")
            comparators.append(_with_op(lower, ">="))
            comparators.append(_with_op(upper, "<="))
        else:
            comparators.append(lower)
        if scanner.pos > end:
            raise scanner.fail("unexpected '|'", end)
        gap = scanner.skip_ws()
        if scanner.pos >= end:
            return tuple(comparators)
        if scanner.peek() == ",":
            scanner.pos += 1
            scanner.skip_ws()
            if scanner.pos >= end or scanner.peek() == ",":
                raise scanner.fail("a version is missing after ','", scanner.pos)
        elif gap == 0:
            word = scanner.word_at(scanner.pos)
            raise scanner.fail(
                f"unexpected '{word}' after '{scanner.text[op_start:scanner.pos]}'; separate "
                "comparisons with a space or a comma",
                scanner.pos,
            )


def _hyphen_follows(text: str, pos: int, end: int) -> bool:
    """Masterminds only treats " - " (with whitespace both sides) as a range, so that
    "1.1-3" stays a version with pre-release "3"."""
    return _HYPHEN_RE.match(text, pos, end) is not None


def _with_op(c: Comparator, op: str) -> Comparator:
    return Comparator(op, c.version, c.text, c.dirty, c.minor_dirty, c.patch_dirty)


def parse_constraint(text: str) -> Constraint:
    """Parse a Masterminds v3 range such as ``>=1.2 <2 || ^3.0.0-0``.

    Raises ConstraintError naming the bad part; the offset is 0-based into ``text``.
    Unlike Masterminds, an empty string is rejected: in a config file it is almost
    certainly an omission, and ``*`` says "anything" explicitly.
    """
    if not text.strip():
        raise ConstraintError(
            f"'{text}' is not a valid version range: it is empty; write '*' to allow any version",
            0,
        )
    scanner = _Scanner(text)
    alternatives: list[tuple[Comparator, ...]] = []
    while True:
        end = text.find("||", scanner.pos)
        if end < 0:
            end = len(text)
        bar = text.find("|", scanner.pos, end)
        if bar >= 0:
            raise scanner.fail("a single '|' is not an operator; use '||' for OR", bar)
        alternatives.append(_parse_group(scanner, end))
        if end >= len(text):
            break
        scanner.pos = end + 2
    return Constraint(text=text, alternatives=tuple(alternatives))


def newest(tags: Iterable[str], constraint: Constraint | None) -> str | None:
    """The tag the updater's semver strategy would pick.

    Tags that are not versions are skipped. With ``None`` every version qualifies,
    pre-releases included (Image Updater up to v1.2.x without a constraint; v1.3.0 and later
    use '*', which ``setlist.strategies.choose`` applies by default). Equal
    versions (``v1.2.3`` and ``1.2.3``, or differing build metadata) are broken by the
    lexically greatest tag so the result never depends on registry listing order.
    """
    best: tuple[Version, str] | None = None
    for tag in tags:
        version = parse_version(tag)
        if version is None:
            continue
        if constraint is not None and not constraint.allows(version):
            continue
        if best is None or version > best[0] or (version == best[0] and tag > best[1]):
            best = (version, tag)
    return best[1] if best else None
