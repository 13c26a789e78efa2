"""The YAML emitter for generated files: block style, fast, and safe under YAML 1.1 and 1.2.

Kubernetes tooling reads YAML with YAML 1.1 rules in places (sigs.k8s.io/yaml, PyYAML), other
readers with YAML 1.2 rules. A string is written plain only when every one of those readers
gives back the same string; anything else is written double-quoted, escaped the way JSON
escapes it (plus the few characters YAML needs escaped and JSON does not). See
bench/emitters.py for why this is hand-written: it is several times faster than libyaml
through PyYAML on our documents, whose strings repeat a lot (a cache makes the quoting
decision once per distinct string).

Layout: 2-space indentation, sequences written like PyYAML's default (the dash at the
parent key's indentation), ``---`` between documents, dict insertion order kept.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = ["dump", "scalar"]

# A YAML-1.1 implementation must follow the spec's wide regular expressions (its float
# accepts `1.2.3`, its int `_`-separated and sexagesimal forms); YAML 1.2 readers
# (ruamel.yaml) add `1e3` and `0o17`; go-yaml v2 (sigs.k8s.io/yaml) drops every `_` from a
# scalar that starts with a digit and tries Go's ParseInt(s, 0) and ParseFloat. These
# patterns are deliberately wider than the union of all: a string that merely looks like a
# number, date or time is quoted. They are tried with and without the `_`s.
_NUMBERISH = re.compile(
    r"""[-+]?(?:
          [0-9_]+                                   # decimal, 1.1 octal 017, 1_000
        | 0[xXoObB][0-9a-fA-F_]*                    # 0x1F, 0o17, 0b101
        | 0[xX][0-9a-fA-F_.]*[pP][-+]?[0-9_]*       # 0x1p-2: Go's ParseFloat (go-yaml v2)
        | [0-9][0-9_]*(?::[0-9_]*)+(?:\.[0-9_]*)?   # sexagesimal 12:30, 1:20.5
        | [0-9_]*\.[0-9._]*(?:[eE][-+]?[0-9_]*)?    # 1.5, .5, 1.10, 1.2.3, 1.5e+3
        | [0-9][0-9_]*[eE][-+]?[0-9_]*              # 1e3
        | \.(?:inf|nan)                             # .inf, -.Inf, .NaN
    )""",
    re.VERBOSE | re.IGNORECASE,
).fullmatch
# Dates and timestamps: anything that starts like `2001-12-14` (or `2001-1-2`).
_DATEISH = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?![0-9])").match
# Words a reader resolves to another type, compared lower-cased: YAML 1.1 booleans (as
# go-yaml v2 reads them: y/n too), null, and the `=` value and `<<` merge keys.
_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "=", "<<"})
# First characters that are YAML indicators (or would start a quoted/special scalar), and
# `+`: go-yaml v2 hands any plain `+...` to Go's ParseFloat, which reads `+inf`, `+NaN`.
_BAD_FIRST = frozenset("-+?:,[]{}#&*!|>'\"%@` ")
# Characters JSON leaves raw that YAML does not allow raw (not printable in YAML: DEL, C1
# controls, surrogates, U+FFFE/U+FFFF), or reads as line breaks (NEL, LS, PS), or the BOM.
_JSON_RAW_BUT_NOT_YAML = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
# The same, plus C0 controls other than tab: written as `\uXXXX` text in header comments.
_NOT_IN_COMMENT = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")

# Plain-scalar decisions for strings, keyed by the string: the text to write (plain or
# quoted). Keys render the same way as values but have their own cache, which never holds
# a key longer than _MAX_KEY.
_cache: dict[str, str] = {}
_key_cache: dict[str, str] = {}
_CACHE_LIMIT = 1 << 18
# YAML readers only look 1024 characters ahead for the `:` of an implicit key.
_MAX_KEY = 1000


def _escape_extra(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _quoted(s: str) -> str:
    text = json.dumps(s, ensure_ascii=False)
    if _JSON_RAW_BUT_NOT_YAML.search(text):
        text = _JSON_RAW_BUT_NOT_YAML.sub(_escape_extra, text)
    return text


def _plain_ok(s: str) -> bool:
    """Whether ``s`` reads back as the same string, written plain, under YAML 1.1 and 1.2."""
    if not s or s[0] in _BAD_FIRST or s[-1] == " " or s[-1] == ":":
        return False
    if not s.isascii():
        # Only visible characters: no NBSP or other spaces, no line or paragraph
        # separators, no format characters such as the BOM or zero-width joiners.
        for ch in s:
            if ch > "\x7e" and (not ch.isprintable() or ch.isspace()):
                return False
    if not s.isprintable():  # tabs, newlines, control characters
        return False
    if ": " in s or " #" in s or s.startswith("..."):
        return False
    if s.lower() in _WORDS:
        return False
    first = s[0]
    if first.isdigit() or first in "._":
        if _NUMBERISH(s) or _DATEISH(s) or ("_" in s and _NUMBERISH(s.replace("_", ""))):
            return False
    return True


def _render_str(s: str) -> str:
    text = s if _plain_ok(s) else _quoted(s)
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()
    _cache[s] = text
    return text


def scalar(value: Any) -> str:
    """The YAML text of one scalar (str, int, float, bool or None)."""
    t = type(value)
    if t is str:
        text = _cache.get(value)
        return text if text is not None else _render_str(value)
    if value is None:
        return "null"
    if t is bool:
        return "true" if value else "false"
    if t is int:
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return scalar(str.__str__(value))
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _float(value)
    raise TypeError(f"cannot write a {t.__name__} as YAML: {value!r}")


def _float(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    if "." not in text and "e" in text:  # 1e+20: YAML 1.1 floats need a dot
        text = text.replace("e", ".0e", 1)
    return text


def _key(k: Any) -> str | None:
    """A key's text (and caches it); None for a key too long for the implicit form."""
    if type(k) is not str:
        if isinstance(k, str):
            return _key(str.__str__(k))
        return scalar(k)
    text = k if _plain_ok(k) else _quoted(k)
    if len(text) > _MAX_KEY:
        return None
    if len(_key_cache) >= _CACHE_LIMIT:
        _key_cache.clear()
    _key_cache[k] = text
    return text


def _mapping(d: dict[Any, Any], first: str, ind: str, app: Any) -> None:
    """Write the entries of a non-empty mapping. ``first`` starts its first line (it holds
    a sequence dash when the mapping is a sequence item); ``ind`` starts the others."""
    cget = _cache.get
    kget = _key_cache.get
    p = first
    for k, v in d.items():
        kt = kget(k) if type(k) is str else None
        if kt is None:
            kt = _key(k)
            if kt is None:
                _explicit_entry(k, v, p, ind, app)
                p = ind
                continue
        t = type(v)
        if t is str:
            vt = cget(v)
            if vt is None:
                vt = _render_str(v)
            app(f"{p}{kt}: {vt}\n")
        elif t is dict:
            if v:
                app(f"{p}{kt}:\n")
                sub = ind + "  "
                _mapping(v, sub, sub, app)
            else:
                app(f"{p}{kt}: {{}}\n")
        elif t is list:
            if v:
                app(f"{p}{kt}:\n")
                _sequence(v, ind, ind, app)
            else:
                app(f"{p}{kt}: []\n")
        elif t is bool:
            app(f"{p}{kt}: true\n" if v else f"{p}{kt}: false\n")
        elif t is int:
            app(f"{p}{kt}: {v}\n")
        else:
            _other_value(v, f"{p}{kt}:", ind, ind, app)
        p = ind


def _sequence(items: list[Any], first: str, ind: str, app: Any) -> None:
    """Write the items of a non-empty sequence: the first dash after ``first``, the others
    after ``ind``."""
    cget = _cache.get
    p = first
    for v in items:
        t = type(v)
        if t is str:
            vt = cget(v)
            if vt is None:
                vt = _render_str(v)
            app(f"{p}- {vt}\n")
        elif t is dict:
            if v:
                _mapping(v, p + "- ", ind + "  ", app)
            else:
                app(f"{p}- {{}}\n")
        elif t is list:
            if v:
                _sequence(v, p + "- ", ind + "  ", app)
            else:
                app(f"{p}- []\n")
        elif t is bool:
            app(f"{p}- true\n" if v else f"{p}- false\n")
        elif t is int:
            app(f"{p}- {v}\n")
        else:
            _other_value(v, f"{p}-", ind + "  ", ind + "  ", app)
        p = ind


def _other_value(v: Any, lead: str, map_ind: str, seq_ind: str, app: Any) -> None:
    """A value of a less common type after ``lead`` (`key:` or `-`): None, floats,
    subclasses of str/int/dict/list, tuples. ``map_ind`` indents a mapping value's lines
    relative to ``lead``'s line; ``seq_ind`` holds a sequence value's dashes."""
    if isinstance(v, dict):
        v = dict(v)
        if not v:
            app(f"{lead} {{}}\n")
        elif lead.endswith("-"):
            _mapping(v, lead + " ", map_ind, app)
        else:
            app(f"{lead}\n")
            _mapping(v, map_ind + "  ", map_ind + "  ", app)
    elif isinstance(v, list | tuple):
        v = list(v)
        if not v:
            app(f"{lead} []\n")
        elif lead.endswith("-"):
            _sequence(v, lead + " ", seq_ind, app)
        else:
            app(f"{lead}\n")
            _sequence(v, seq_ind, seq_ind, app)
    else:
        app(f"{lead} {scalar(v)}\n")


def _explicit_entry(k: Any, v: Any, p: str, ind: str, app: Any) -> None:
    """An entry whose key is too long for `key: value`: `? key` then `: value`."""
    app(f"{p}? {scalar(k)}\n")
    sub = ind + "  "
    t = type(v)
    if t is dict or t is list or isinstance(v, dict | list | tuple):
        if not v:
            app(f"{ind}: {'{}' if isinstance(v, dict) else '[]'}\n")
        elif isinstance(v, dict):
            app(f"{ind}:\n")
            _mapping(dict(v), sub, sub, app)
        else:
            app(f"{ind}:\n")
            _sequence(list(v), sub, sub, app)
    else:
        app(f"{ind}: {scalar(v)}\n")


def dump(documents: list[dict[str, Any]], header: str = "") -> str:
    """The YAML text of ``documents`` (``---`` between them), after ``header`` as comments."""
    out: list[str] = []
    app = out.append
    if header:
        for line in header.splitlines():
            if not line.isprintable():
                line = _NOT_IN_COMMENT.sub(_escape_extra, line)
            app(f"# {line}\n" if line else "#\n")
    for i, doc in enumerate(documents):
        if i:
            app("---\n")
        if type(doc) is dict:
            if doc:
                _mapping(doc, "", "", app)
            else:
                app("{}\n")
        elif isinstance(doc, dict | list | tuple):
            if not doc:
                app("{}\n" if isinstance(doc, dict) else "[]\n")
            elif isinstance(doc, dict):
                _mapping(dict(doc), "", "", app)
            else:
                _sequence(list(doc), "", "", app)
        else:
            app(f"{scalar(doc)}\n")
    return "".join(out)
