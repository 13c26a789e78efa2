"""Tag patterns as Argo CD Image Updater evaluates them: allow-tags regexes (Go's RE2,
searched anywhere in the tag) and ignore-tags globs (Go's filepath.Match).

Python's ``re`` and ``fnmatch`` differ from both in ways that change which tags match, so
RE2 patterns are translated into equivalent Python patterns and globs get a matcher of
their own. Used by tag selection (``setlist.strategies``) and by the checker, so that both
read a pattern the same way.
"""

from __future__ import annotations

import functools
import re
import warnings
from typing import Any


class TagPatternError(ValueError):
    """An allow-tags regex that cannot be evaluated here: either not valid RE2 (Image Updater
    would then match no tag at all) or valid RE2 using a feature Python's ``re`` lacks."""


# ================================================================ regular expressions
#
# The allow-tags regex is RE2 (Go's regexp). For valid RE2 input, the constructs whose
# meaning differs in Python's re, or which Python rejects, are translated:
#
#   $            end of text (Python's '$' also matches before a final newline) -> \Z,
#                unless (?m) is in effect
#   \z           end of text -> \Z
#   \Q...\E      literal text -> escaped text
#   (?<name>     named group (Go >= 1.22) -> (?P<name>
#   (?i) etc.    flags in mid-pattern apply to the rest of the enclosing group in Go (across
#                '|'); Python only allows global flags at the start -> scoped (?i:...) groups
#   \x{10FFFF}   braced hex -> \U0010ffff
#   \141, \0     Go octal escapes (Python would read \1.. as backreferences) -> \u escapes
#   \s, \S       Go's \s is [\t\n\f\r ] (no \v) -> explicit class
#   [[:alpha:]]  ASCII POSIX classes inside brackets -> explicit ranges
#   x{,3}        not a repetition in Go, literal text -> \{,3}
#
# Patterns are compiled with re.ASCII, so \d, \w, \b match ASCII only, as in Go. Not
# supported (TagPatternError): Unicode classes \pL, \p{Greek}, negated POSIX classes
# [[:^alpha:]], \C, and the ungreedy flag U. Case folding under (?i) is ASCII-only here and
# Unicode in Go; image tags are ASCII, so this never changes a result.

_NAMED_GROUP = re.compile(r"\(\?P?<([A-Za-z0-9_]+)>")
_FLAG_GROUP = re.compile(r"\(\?([A-Za-z]*)(-[A-Za-z]*)?([:)])")
_REPETITION = re.compile(r"\{[0-9]+(?:,[0-9]*)?\}")
_POSIX_CLASS = re.compile(r"\[:(\^?)([a-z]*):\]")
_POSIX = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": r"\x00-\x7f",
    "blank": r"\t ",
    "cntrl": r"\x00-\x1f\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": r"!-/:-@\[-`{-~",
    "space": r"\t\n\v\f\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_GO_SPACE = r"\t\n\f\r\x20"
_OCTAL = "01234567"
_HEX = "0123456789abcdefABCDEF"


def _invalid(pattern: str, what: str) -> TagPatternError:
    return TagPatternError(f"'{pattern}' is not a valid RE2 regular expression: {what}")


def _unsupported(pattern: str, what: str) -> TagPatternError:
    return TagPatternError(f"'{pattern}' uses {what}, which Setlist cannot evaluate")


def _escape(pattern: str, i: int, in_class: bool) -> tuple[str, int]:
    """Translate the escape starting at ``pattern[i] == '\\'``; return (text, next index)."""
    n = len(pattern)
    if i + 1 >= n:
        raise _invalid(pattern, "it ends with a lone '\\'")
    c = pattern[i + 1]
    if c == "Q" and not in_class:
        end = pattern.find("\\E", i + 2)
        literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
        return re.escape(literal), n if end < 0 else end + 2
    if c == "z" and not in_class:
        return r"\Z", i + 2
    if c in _OCTAL:
        j = i + 2
        if c != "0" and (j >= n or pattern[j] not in _OCTAL):
            raise _invalid(pattern, f"backreferences such as '\\{c}' are not supported")
        while j < n and j < i + 4 and pattern[j] in _OCTAL:
            j += 1
        return f"\\u{int(pattern[i + 1 : j], 8):04x}", j
    if c == "x":
        if pattern.startswith("{", i + 2):
            end = pattern.find("}", i + 3)
            digits = pattern[i + 3 : end] if end > 0 else ""
            if not digits or any(d not in _HEX for d in digits) or int(digits, 16) > 0x10FFFF:
                raise _invalid(pattern, "a '\\x{...}' escape needs a hex code point")
            return f"\\U{int(digits, 16):08x}", end + 1
        hexdigits = pattern[i + 2 : i + 4]
        if len(hexdigits) != 2 or any(d not in _HEX for d in hexdigits):
            raise _invalid(pattern, "'\\x' needs two hex digits")
        return pattern[i : i + 4], i + 4
    if c in "pP":
        raise _unsupported(pattern, f"the Unicode class escape '\\{c}'")
    if c == "C":
        raise _unsupported(pattern, "'\\C' (any byte)")
    if c == "s":
        return (_GO_SPACE if in_class else f"[{_GO_SPACE}]"), i + 2
    if c == "S" and not in_class:
        return f"[^{_GO_SPACE}]", i + 2
    return pattern[i : i + 2], i + 2


def _char_class(pattern: str, i: int) -> tuple[str, int]:
    """Translate the bracket expression starting at ``pattern[i] == '['``."""
    n = len(pattern)
    out = ["["]
    j = i + 1
    if j < n and pattern[j] == "^":
        out.append("^")
        j += 1
    first = True  # a ']' right after '[' or '[^' is a literal, in Go and Python alike
    while True:
        if j >= n:
            raise _invalid(pattern, "a '[' is never closed")
        c = pattern[j]
        if c == "]" and not first:
            out.append("]")
            return "".join(out), j + 1
        first = False
        if c == "[" and (m := _POSIX_CLASS.match(pattern, j)):
            if m[2] not in _POSIX:
                raise _invalid(pattern, f"'[:{m[2]}:]' is not a character class")
            if m[1]:
                raise _unsupported(pattern, f"the negated class '[:^{m[2]}:]' inside brackets")
            out.append(_POSIX[m[2]])
            j = m.end()
        elif c == "\\":
            text, j = _escape(pattern, j, in_class=True)
            out.append(text)
        else:
            # Escape what Python might one day read as set operations; harmless today.
            out.append("\\" + c if c in "[]&~|" else c)
            j += 1


def translate_regex(pattern: str) -> str:
    """Rewrite an RE2 pattern into a Python ``re`` pattern with the same matches (compile it
    with ``re.ASCII``). Raises :class:`TagPatternError` for what cannot be translated."""
    out: list[str] = []
    # Per open group: the scoped-flag wrappers opened inside it by mid-pattern "(?flags)",
    # which must be closed before '|' and ')' (and reopened after '|').
    wrappers: list[list[str]] = [[]]
    saved_multiline: list[bool] = []
    multiline = False
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            text, i = _escape(pattern, i, in_class=False)
            out.append(text)
            continue
        if c == "[":
            text, i = _char_class(pattern, i)
            out.append(text)
            continue
        if c == "(":
            if not pattern.startswith("(?", i):
                out.append("(")
                wrappers.append([])
                saved_multiline.append(multiline)
                i += 1
                continue
            if m := _NAMED_GROUP.match(pattern, i):
                out.append(f"(?P<{m[1]}>")
                wrappers.append([])
                saved_multiline.append(multiline)
                i = m.end()
                continue
            m = _FLAG_GROUP.match(pattern, i)
            if m is None:
                raise _invalid(pattern, f"'{pattern[i:i + 3]}' is not a group RE2 knows")
            on, off = m[1], (m[2] or "")[1:]
            if set(on + off) - set("imsU") or (m[2] is not None and not off):
                raise _invalid(pattern, f"bad flags in '{m.group()}'")
            if "U" in on + off:
                raise _unsupported(pattern, "the ungreedy flag 'U'")
            flags = on + (f"-{off}" if off else "")
            if m[3] == ")":
                if not flags:
                    raise _invalid(pattern, "'(?)' has no flags")
                out.append(f"(?{flags}:")
                wrappers[-1].append(flags)
            else:
                out.append(f"(?{flags}:")
                wrappers.append([])
                saved_multiline.append(multiline)
            multiline = ("m" in on) or (multiline and "m" not in off)
            i = m.end()
            continue
        if c == ")":
            if len(wrappers) == 1:
                raise _invalid(pattern, "a ')' has no matching '('")
            out.append(")" * len(wrappers.pop()) + ")")
            multiline = saved_multiline.pop()
        elif c == "|":
            open_flags = wrappers[-1]
            out.append(")" * len(open_flags) + "|" + "".join(f"(?{f}:" for f in open_flags))
        elif c == "$":
            out.append("$" if multiline else r"\Z")
        elif c == "{":
            if m := _REPETITION.match(pattern, i):
                out.append(m.group())
                i = m.end()
                continue
            out.append(r"\{")
        else:
            out.append(c)
        i += 1
    if len(wrappers) > 1:
        raise _invalid(pattern, "a '(' is never closed")
    out.append(")" * len(wrappers[0]))
    return "".join(out)


@functools.lru_cache(maxsize=256)
def compile_allow(pattern: str) -> re.Pattern[str]:
    translated = translate_regex(pattern)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return re.compile(translated, re.ASCII)
    except re.error as err:
        raise _invalid(pattern, err.msg) from None


def regex_search(pattern: str, tag: str) -> bool:
    """Go's ``regexp.MatchString``: does the RE2 ``pattern`` match anywhere in ``tag``?"""
    return compile_allow(pattern).search(tag) is not None


# ================================================================ globs (filepath.Match)
#
# Go's filepath.Match, not fnmatch: '*' and '?' never match '/', '[...]' negates with '^'
# only ('[!a]' is the class of '!' and 'a'), '\' escapes the next character (also inside
# classes), '{' and '}' are plain characters. A malformed pattern ('[' never closed, '[]',
# a '-' at the start or end of a range, a trailing '\') never matches. Go matches each
# star-separated chunk at its leftmost position without revisiting earlier chunks; that is
# reproduced, although it only differs from full backtracking for names containing '/',
# which image tags never do.

_Item = tuple[Any, ...]  # ("lit", ch) | ("any",) | ("class", negated, ((lo, hi), ...))


def _parse_class(pattern: str, i: int) -> tuple[_Item, int] | None:
    """Parse '[...]' at ``pattern[i]``; None if malformed (Go's ErrBadPattern)."""
    n = len(pattern)
    j = i + 1
    negated = j < n and pattern[j] == "^"
    j += negated
    ranges: list[tuple[str, str]] = []

    def endpoint(k: int) -> tuple[str, int] | None:
        if k >= n or pattern[k] in "-]":
            return None
        if pattern[k] == "\\":
            k += 1
            if k >= n:
                return None
        return pattern[k], k + 1

    while True:
        if j < n and pattern[j] == "]" and ranges:
            return ("class", negated, tuple(ranges)), j + 1
        lo = endpoint(j)
        if lo is None:
            return None
        low, j = lo
        high = low
        if j < n and pattern[j] == "-":
            hi = endpoint(j + 1)
            if hi is None:
                return None
            high, j = hi
        if j >= n:
            return None  # the class is never closed
        ranges.append((low, high))


@functools.lru_cache(maxsize=256)
def _parse_glob(pattern: str) -> tuple[tuple[bool, tuple[_Item, ...]], ...] | None:
    """Split into (preceded by '*', items) chunks; None for a malformed pattern."""
    chunks: list[tuple[bool, tuple[_Item, ...]]] = []
    star, items = False, []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if items:
                chunks.append((star, tuple(items)))
                items = []
            star = True
            while i < n and pattern[i] == "*":
                i += 1
            continue
        if c == "?":
            items.append(("any",))
            i += 1
        elif c == "[":
            parsed = _parse_class(pattern, i)
            if parsed is None:
                return None
            item, i = parsed
            items.append(item)
        elif c == "\\":
            if i + 1 >= n:
                return None
            items.append(("lit", pattern[i + 1]))
            i += 2
        else:
            items.append(("lit", c))
            i += 1
    if items or star or not chunks:
        chunks.append((star, tuple(items)))
    return tuple(chunks)


def _match_items(items: tuple[_Item, ...], name: str, at: int) -> int | None:
    """Match the fixed-length ``items`` at ``name[at:]``; the end index, or None."""
    if at + len(items) > len(name):
        return None
    for offset, item in enumerate(items):
        ch = name[at + offset]
        kind = item[0]
        if kind == "lit":
            if ch != item[1]:
                return None
        elif kind == "any":
            if ch == "/":
                return None
        else:
            inside = any(lo <= ch <= hi for lo, hi in item[2])
            if inside == item[1]:
                return None
    return at + len(items)


def glob_match(pattern: str, name: str) -> bool:
    """Go's ``filepath.Match(pattern, name)`` as Image Updater uses it: True only for a
    well-formed pattern that matches the whole name."""
    chunks = _parse_glob(pattern)
    if chunks is None:
        return False
    pos = 0
    for index, (star, items) in enumerate(chunks):
        last = index == len(chunks) - 1
        if star and not items:  # a trailing '*' takes the rest unless it holds a '/'
            return "/" not in name[pos:]
        end = _match_items(items, name, pos)
        if end is not None and (end == len(name) or not last):
            pos = end
            continue
        if not star:
            return False
        # Skip 1, 2, ... characters (never a '/') and retry the chunk.
        found = None
        skip = pos
        while skip < len(name) and name[skip] != "/":
            end = _match_items(items, name, skip + 1)
            if end is not None and not (last and end != len(name)):
                found = end
                break
            skip += 1
        if found is None:
            return False
        pos = found
    return pos == len(name)
