"""Layout documents for the formatter, and the renderer that fits them into ``WIDTH``
columns.

A layout document is a str, a list of documents, or one of the classes below: line breaks,
groups, indentation, text printed only when a group breaks, and comments that go to the end
of a line. A group goes on one line when it fits, otherwise its line breaks become new
lines.
"""

from __future__ import annotations

WIDTH = 100  # columns (characters) a line may take
INDENT = 2


class Line:
    """A line break (an empty line too, if blank) in a broken group; in a flat one a space,
    or nothing if soft."""

    __slots__ = ("soft", "blank")

    def __init__(self, soft: bool = False, blank: bool = False) -> None:
        self.soft, self.blank = soft, blank


class Group:
    """Printed flat when it fits on the line, else broken; ``force`` breaks it always (a
    comment inside needs a line end), and a forced group forces every group around it."""

    __slots__ = ("parts", "force")

    def __init__(self, parts: object, force: bool = False) -> None:
        self.parts = parts
        self.force = force or forces(parts)


class Nest:
    """Lines inside are indented one level deeper, or (align) to the column it starts at."""

    __slots__ = ("parts", "align")

    def __init__(self, parts: object, align: bool = False) -> None:
        self.parts, self.align = parts, align


class IfBreak:
    """Text printed only when the enclosing group is broken (a trailing comma)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class Suffix:
    """A comment that goes at the end of the current line, whatever follows on it."""

    __slots__ = ("text",)

    def __init__(self, comment: str) -> None:
        self.text = "  " + comment


def forces(doc: object) -> bool:
    if isinstance(doc, list):
        return any(forces(d) for d in doc)
    if isinstance(doc, Nest):
        return forces(doc.parts)
    return isinstance(doc, Group) and doc.force


def render(doc: object) -> str:
    out: list[str] = []
    col = 0
    suffixes: list[str] = []
    stack: list[tuple[int, bool, object]] = [(0, True, doc)]  # (indent, broken, document)
    while stack:
        indent, broken, d = stack.pop()
        if isinstance(d, str):
            out.append(d)
            col += len(d)
        elif isinstance(d, list):
            stack.extend((indent, broken, x) for x in reversed(d))
        elif isinstance(d, Group):
            flat = not d.force and (not broken or fits(d.parts, stack, WIDTH - col))
            stack.append((indent, not flat, d.parts))
        elif isinstance(d, Nest):
            stack.append((col if d.align else indent + INDENT, broken, d.parts))
        elif isinstance(d, Line):
            if broken:
                out.extend(suffixes)
                suffixes.clear()
                out.append("\n\n" if d.blank else "\n")
                out.append(" " * indent)
                col = indent
            elif not d.soft:
                out.append(" ")
                col += 1
        elif isinstance(d, IfBreak):
            if broken:
                out.append(d.text)
                col += len(d.text)
        elif isinstance(d, Suffix):
            suffixes.append(d.text)
    out.extend(suffixes)
    return "\n".join(line.rstrip() for line in "".join(out).split("\n"))


def fits(parts: object, rest: list[tuple[int, bool, object]], width: int) -> bool:
    """Whether ``parts`` printed flat, and what follows up to the next line break, take at
    most ``width`` columns. Comments at line ends do not count."""
    todo: list[tuple[bool, object]] = [(False, parts)]
    k = len(rest)
    while width >= 0:
        if not todo:
            if k == 0:
                return True
            k -= 1
            todo.append(rest[k][1:])
            continue
        broken, d = todo.pop()
        if isinstance(d, str):
            width -= len(d)
        elif isinstance(d, list):
            todo.extend((broken, x) for x in reversed(d))
        elif isinstance(d, Group):
            todo.append((broken or d.force, d.parts))
        elif isinstance(d, Nest):
            todo.append((broken, d.parts))
        elif isinstance(d, Line):
            if broken:
                return True
            width -= 0 if d.soft else 1
        elif isinstance(d, IfBreak) and broken:
            width -= len(d.text)
    return False
