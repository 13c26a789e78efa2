"""Setlist source text for the imported spec: literals, selectors and blocks.

Text is assembled field by field and then laid out by ``setlist.fmt.format_source``, so the
result has the canonical layout whatever is written here.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field

from .model import Conjunction, Selector, Sync, Test

_NAME = re.compile(r"[A-Za-z_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?")
# Words that the grammar reads as operators or literals where an expression is expected.
_RESERVED = {"and", "or", "not", "in", "exists", "true", "false", "none", "as", "for",
             "where", "after", "tz", "all", "rest"}
WIDTH = 100


def string(text: str) -> str:
    """A Setlist string literal."""
    out = text.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
    out = out.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    return f'"{out}"'


def regex(pattern: str) -> str:
    """A Setlist regular expression literal: `/` written `\\/`, other escapes as they are."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(pattern[i:i + 2])
            i += 2
            continue
        out.append("\\/" if ch == "/" else ch)
        i += 1
    return "/" + "".join(out) + "/"


def strings(items: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(string(i) for i in items) + "]"


def name_ok(name: str) -> bool:
    return bool(_NAME.fullmatch(name))


def map_literal(items: dict[str, str]) -> str:
    parts = [f"{k if name_ok(k) and k not in _RESERVED else string(k)}: {string(v)}"
             for k, v in sorted(items.items())]
    return "{ " + ", ".join(parts) + " }"


def duration(seconds: int) -> str:
    if seconds == 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)


def _label(key: str) -> str:
    return f"cluster.{key}" if name_ok(key) and key not in _RESERVED else \
        f"cluster[{string(key)}]"


def test(t: Test) -> str:
    key, op, values = t
    if op == "==":
        return f"{_label(key)} == {string(values[0])}"
    if op in ("in", "not in"):
        return f"{_label(key)} {op} {strings(values)}"
    return f"{'not ' if op == 'not exists' else ''}exists {_label(key)}"


def conjunction(c: Conjunction) -> str:
    return " and ".join(test(t) for t in c) if c else "all"


def selector(sel: Selector) -> str:
    if len(sel) == 1:
        return conjunction(sel[0])
    if any(not c for c in sel):
        return "all"
    return " or ".join(f"({conjunction(c)})" if len(c) > 1 else conjunction(c) for c in sel)


def sync(policy: Sync) -> str | None:
    args = []
    if policy.automated:
        args += [f"prune: {str(policy.prune).lower()}",
                 f"self_heal: {str(policy.self_heal).lower()}"]
        if policy.allow_empty:
            args.append("allow_empty: true")
    if policy.options:
        args.append(f"options: {strings(policy.options)}")
    if policy.retry is not None:
        r = policy.retry
        args.append(f"retry: retry(limit: {r.limit}, backoff: {duration(r.backoff)}, "
                    f"factor: {r.factor}, max_backoff: {duration(r.max_backoff)})")
    if not policy.automated and not args:
        return None
    return f"{'automated' if policy.automated else 'manual'}({', '.join(args)})"


def comment_lines(text: str, width: int = WIDTH) -> list[str]:
    """``text`` as `//` comment lines within ``width`` columns (continuations indented)."""
    wrapped = textwrap.wrap(text, width=width - 3, subsequent_indent="  ",
                            break_long_words=False, break_on_hyphens=False)
    return [f"// {line}" for line in wrapped] or ["//"]


@dataclass
class Block:
    """One declaration: ``kind name { fields }`` with an optional doc comment."""

    kind: str
    name: str = ""
    fields: list[tuple[str, str]] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)   # freeze statements
    doc: list[str] = field(default_factory=list)

    def text(self) -> str:
        head = f"{self.kind} {self.name}".strip()
        lines = [f"// {d}" for d in self.doc]
        lines.append(head + " {")
        lines += [f"  {k} = {v}" for k, v in self.fields]
        lines += [f"  {x}" for x in self.extra]
        lines.append("}")
        return "\n".join(lines)
