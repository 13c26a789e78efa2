"""The lockfile, `setlist.lock`: which version each image runs in each environment.

Resolution writes it; compile reads it (through the plan) and never touches the network.
It is deterministic YAML with a format version, sorted by image and environment, and holds
no credentials: only what a registry says about public identity (repository, tag, digest,
platforms, created) plus where the version came from and since when it is there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from .spec import Record

LOCK_NAME = "setlist.lock"
LOCK_VERSION = 1
#: A larger lock is refused unread (a lock of 10,000 entries is about 3 MiB).
MAX_LOCK_BYTES = 32 * 1024 * 1024
HEADER = ("Written by setlist: the version each image runs in each environment.\n"
          "Commit it; do not edit it by hand.")


class LockError(Exception):
    """The lockfile cannot be read (reported as a clear error, never a traceback)."""


class LockEntry(Record):
    _extra = "forbid"

    repository: str
    tag: str | None = None
    digest: str | None = None
    platforms: tuple[str, ...] = ()
    created: str | None = None    # RFC 3339, from the image config, when it was fetched
    strategy: str = ""            # the strategy that chose it, as written in the spec
    since: str | None = None      # RFC 3339: when this version entered the environment
    source: str = "registry"      # "registry", "promotion:<env>" or "hotfix"


class Lock(Record):
    entries: Mapping[tuple[str, str], LockEntry] = {}

    def get(self, image: str, env: str) -> LockEntry | None:
        return self.entries.get((image, env))

    def with_entries(self, updates: Mapping[tuple[str, str], LockEntry]) -> Lock:
        """A new lock: these entries replaced or added, every other one kept (merging per
        image and environment, as a rerun or a concurrent writer needs)."""
        merged = dict(self.entries)
        merged.update(updates)
        return Lock(entries=merged)

    def without(self, keep: set[tuple[str, str]]) -> Lock:
        """Only the entries for (image, environment) pairs the spec still deploys."""
        return Lock(entries={k: v for k, v in self.entries.items() if k in keep})


def lock_path(project_dir: str | Path) -> Path:
    return Path(project_dir) / LOCK_NAME


def parse(text: str, name: str = LOCK_NAME) -> Lock:
    from .yamlguard import YAMLLimitError, check_documents, too_large

    if len(text) > MAX_LOCK_BYTES:
        raise LockError(f"{name}: {too_large(MAX_LOCK_BYTES)}")
    try:
        data = _as_written(text)
        if data is _UNUSUAL:
            data = _load_yaml(text, name)
        else:
            check_documents([data])
    except YAMLLimitError as exc:
        raise LockError(f"{name}: {exc}") from None
    if data is None:
        return Lock()
    if not isinstance(data, dict) or data.get("version") != LOCK_VERSION:
        found = data.get("version") if isinstance(data, dict) else None
        raise LockError(f"{name}: lock format version {found!r} is not {LOCK_VERSION}; "
                        "delete it to start over")
    entries: dict[tuple[str, str], LockEntry] = {}
    images = data.get("images") or {}
    if not isinstance(images, dict):
        raise LockError(f"{name}: 'images' must be a mapping of image → environment → entry")
    for image, envs in images.items():
        if not isinstance(envs, dict):
            raise LockError(f"{name}: image '{image}' must map environments to entries")
        for env, entry in envs.items():
            try:
                entries[(str(image), str(env))] = LockEntry.model_validate(
                    _strings(entry))
            except ValueError as exc:  # pydantic's ValidationError, for a bad entry
                first = _first_error(exc)
                where = ".".join(str(p) for p in first["loc"])
                raise LockError(f"{name}: images.{image}.{env}.{where}: {first['msg']}") \
                    from None
    return Lock(entries=entries)


def _load_yaml(text: str, name: str) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from .yamlguard import load_one

    try:
        return load_one(YAML(typ="safe", pure=True), text)
    except YAMLError as exc:
        raise LockError(f"{name}: not valid YAML ({str(exc).splitlines()[0]})") from None


# ---------------------------------------------------------------- the lock as written
# A lock as `dump` writes it is block YAML of a narrow form: plain keys, mappings indented by
# two spaces, sequences of scalars with the dash at their key's indentation, and scalars
# that are double-quoted ASCII without escapes, small decimal integers or plain words that
# every YAML reader takes as text. `_as_written` reads exactly that form (importing and
# running the YAML library took 20 ms, a tenth of a cold `setlist check`); for anything else,
# a hand-edited lock or a line it does not recognise, it returns _UNUSUAL and the YAML library
# reads the text. Where it answers, the answer is the YAML library's (tests compare the two).

_UNUSUAL: Any = object()
_NOT_PRINTABLE_ASCII = re.compile(r"[^\n -~]")
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.:/@+^~()\"=<>*-]*")
_QUOTED = re.compile(r'"[ !#-\[\]-~]*"')
_INT = re.compile(r"0|[1-9][0-9]{0,17}")
# Words YAML 1.1 or 1.2 reads as booleans or null, compared lower-cased.
_NOT_TEXT = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


def _as_written(text: str) -> Any:
    """The data of a lock in the form `dump` writes, or _UNUSUAL."""
    if not text.endswith("\n") or _NOT_PRINTABLE_ASCII.search(text):
        return _UNUSUAL  # YAML also breaks lines at \r (in a comment, say), NEL, LS, PS
    lines = [line for line in text.split("\n") if line and not line.startswith("#")]
    if not lines:
        return _UNUSUAL
    at = 0

    def mapping(indent: int) -> Any:
        nonlocal at
        out: dict[str, Any] = {}
        while at < len(lines):
            line = lines[at]
            depth = len(line) - len(line.lstrip(" "))
            if depth < indent:
                break
            key, colon, rest = line[depth:].partition(":")
            if depth > indent or not colon or not _KEY.fullmatch(key) or \
                    key.lower() in _NOT_TEXT or key in out:
                return _UNUSUAL
            at += 1
            following = lines[at] if at < len(lines) else ""
            if rest:
                value = _scalar(rest[1:]) if rest[0] == " " else _UNUSUAL
            elif following.startswith(" " * indent + "- "):
                value = sequence(indent)
            elif following.startswith(" " * (indent + 1)):
                value = mapping(indent + 2)
            else:
                value = None
            if value is _UNUSUAL:
                return _UNUSUAL
            out[key] = value
        return out

    def sequence(indent: int) -> Any:
        nonlocal at
        dash = " " * indent + "- "
        out = []
        while at < len(lines) and lines[at].startswith(dash):
            value = _scalar(lines[at][len(dash):])
            if value is _UNUSUAL:
                return _UNUSUAL
            out.append(value)
            at += 1
        return out

    data = mapping(0)
    return data if at == len(lines) else _UNUSUAL


def _scalar(text: str) -> Any:
    if _QUOTED.fullmatch(text):
        return text[1:-1]
    if _INT.fullmatch(text):
        return int(text)
    if text == "{}":
        return {}
    if text == "[]":
        return []
    if _WORD.fullmatch(text) and text[-1] != ":" and text.lower() not in _NOT_TEXT:
        return text
    return _UNUSUAL


def _first_error(exc: ValueError) -> dict[str, Any]:
    """The first problem pydantic found in an entry (pydantic is imported only when a
    record has something to convert or refuse, so only then is there one)."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        raise exc
    return exc.errors()[0]


def _strings(entry: Any) -> Any:
    """YAML may read dates and numbers into other types; the lock keeps text."""
    if not isinstance(entry, dict):
        return entry
    out = {}
    for key, value in entry.items():
        if isinstance(value, datetime):
            value = value.isoformat().replace("+00:00", "Z")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        out[key] = value
    return out


def read(project_dir: str | Path) -> Lock | None:
    """The project's lock, or None when there is none."""
    from .yamlguard import YAMLLimitError, read_capped

    path = lock_path(project_dir)
    try:
        text = read_capped(path, MAX_LOCK_BYTES).decode("utf-8")
    except FileNotFoundError:
        return None
    except YAMLLimitError as exc:
        raise LockError(f"{path}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LockError(f"{path}: cannot be read ({exc})") from None
    return parse(text, str(path))


def dump(lock: Lock) -> str:
    from .emit import dump as emit

    images: dict[str, dict[str, dict[str, Any]]] = {}
    for (image, env) in sorted(lock.entries):
        entry = lock.entries[(image, env)]
        body: dict[str, Any] = {"repository": entry.repository}
        for key in ("tag", "digest"):
            if getattr(entry, key) is not None:
                body[key] = getattr(entry, key)
        if entry.platforms:
            body["platforms"] = list(entry.platforms)
        for key in ("created", "strategy", "since", "source"):
            value = getattr(entry, key)
            if value:
                body[key] = value
        images.setdefault(image, {})[env] = body
    return emit([{"version": LOCK_VERSION, "images": images}], HEADER)
