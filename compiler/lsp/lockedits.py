"""What renaming an image or an environment changes in ``setlist.lock``.

The lock keys its versions by image and environment name (``images.<image>.<env>``), and a
version promoted from another environment records it (``source: promotion:<env>``). A rename
that left the lock alone would leave the versions under the old name, where nothing reads
them: the next compile would find no version and the next resolve would pick one afresh.

The rename therefore edits the lock's text in place, replacing only the names, so that the
user's review shows exactly the renamed keys. Positions come from the YAML parser's events
(any layout ``setlist resolve`` or a person wrote), and the edited text is parsed again: it
must hold the same entries under the new name, else the rename is refused rather than
leaving a lock that says something else.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceStartEvent,
)

from .. import lockfile
from ..emit import scalar

KINDS = ("image", "environment")
PROMOTED = "promotion:"


class LockRenameError(Exception):
    """The lock cannot follow the rename (the message says why, for the user)."""


@dataclass(frozen=True)
class Replacement:
    start: int       # character offsets in the lock's text
    end: int
    text: str


def renames_lock(kind: str) -> bool:
    return kind in KINDS


def rename(text: str, kind: str, old: str, new: str,
           name: str = lockfile.LOCK_NAME) -> list[Replacement]:
    """Replacements that move the lock's versions of ``kind`` ``old`` to ``new``; none when
    the lock has no versions under ``old``. Raises ``lockfile.LockError`` for a lock that
    cannot be read and ``LockRenameError`` when the lock cannot follow."""
    if kind not in KINDS or old == new:
        return []
    lock = lockfile.parse(text, name)
    position = 0 if kind == "image" else 1
    present = {key[position] for key in lock.entries}
    if old not in present:
        return []
    if new in present:
        raise LockRenameError(
            f"{name} already holds versions for {kind} '{new}': remove them from {name} "
            "first, or choose another name")
    out = [Replacement(start, end, scalar(new if is_key else PROMOTED + new))
           for start, end, is_key in _occurrences(text, kind, old)]
    edited = apply(text, out)
    try:
        after = lockfile.parse(edited, name).entries
    except lockfile.LockError:
        after = None
    if after != _renamed(lock, kind, old, new):
        raise LockRenameError(f"{name} is written in a form the rename cannot edit; "
                              "rename, then run `setlist resolve`")
    return out


def apply(text: str, replacements: list[Replacement]) -> str:
    for rep in sorted(replacements, key=lambda r: r.start, reverse=True):
        text = text[:rep.start] + rep.text + text[rep.end:]
    return text


def _renamed(lock: lockfile.Lock, kind: str, old: str, new: str) -> dict:
    """The entries the lock must hold after the rename."""
    out = {}
    for (image, env), entry in lock.entries.items():
        if kind == "image":
            image = new if image == old else image
        else:
            env = new if env == old else env
            if entry.source == PROMOTED + old:
                entry = entry.model_copy(update={"source": PROMOTED + new})
        out[(image, env)] = entry
    return out


def _occurrences(text: str, kind: str, old: str) -> Iterator[tuple[int, int, bool]]:
    """Spans of the old name: image keys (``images.<old>``), environment keys
    (``images.*.<old>``) and promotion sources (``images.*.*.source: promotion:<old>``);
    whether each is a key."""
    for start, end, value, path, is_key in _scalars(text):
        if not path or path[0] != "images":
            continue
        if kind == "image":
            if is_key and len(path) == 1 and value == old:
                yield start, end, True
        elif is_key and len(path) == 2 and value == old:
            yield start, end, True
        elif not is_key and len(path) == 4 and path[3] == "source" \
                and value == PROMOTED + old:
            yield start, end, False


@dataclass
class _Frame:
    mapping: bool
    key: str | None = None
    want_key: bool = True


def _scalars(text: str) -> Iterator[tuple[int, int, str, tuple[str, ...], bool]]:
    """Every scalar of the first document: its span, its text, the keys of the mappings
    around it (for a value, its own key last) and whether it is a key."""
    frames: list[_Frame] = []
    try:
        for event in YAML(typ="safe", pure=True).parse(text):
            if isinstance(event, CollectionEndEvent):
                frames.pop()
                _took_value(frames)
                if not frames:
                    return
                continue
            if not isinstance(event, (ScalarEvent, MappingStartEvent, SequenceStartEvent,
                                      AliasEvent)):
                continue
            parent = frames[-1] if frames else None
            is_key = parent is not None and parent.mapping and parent.want_key
            if isinstance(event, ScalarEvent):
                if is_key:
                    assert parent is not None
                    path = tuple(f.key or "" for f in frames[:-1])
                    parent.key, parent.want_key = event.value, False
                else:
                    path = tuple(f.key or "" for f in frames)
                    _took_value(frames)
                yield event.start_mark.index, event.end_mark.index, event.value, path, is_key
            elif isinstance(event, AliasEvent):
                if is_key:
                    assert parent is not None
                    parent.key, parent.want_key = None, False
                else:
                    _took_value(frames)
            else:
                if is_key:
                    return  # a mapping or sequence as a key: not a lock setlist wrote
                frames.append(_Frame(mapping=isinstance(event, MappingStartEvent)))
    except YAMLError:
        return


def _took_value(frames: list[_Frame]) -> None:
    if frames and frames[-1].mapping:
        frames[-1].want_key = True
