"""A parse cache: the syntax tree of a spec file by a hash of its text, kept on disk.

``setlist compile`` of a large project spends most of its time parsing files that did not
change since the last compile. This cache stores each file's :class:`~setlist.model.Module`
in a compact form (nested tuples and lists of plain values, written with ``marshal``) under
``$XDG_CACHE_HOME/setlist/parse/``, keyed by setlist's own code (``cache.fingerprint``), the
file's display path and its text. Rebuilding the tree from it takes a fraction of parsing
it again. Only files that parse without a diagnostic are stored; anything the cache cannot
read gives a normal parse. The folder is safe to delete at any time, and it is kept small:
when it holds more than :data:`MAX_ENTRIES` files, the older half goes.

The stored form: a node is a tuple ``(class index, field values...)`` in field order; a
span is a tuple ``(0, line, column, end_line, end_column, start, end)`` (its file is the
module's); a field holding a tuple of values is a list. Any other value is stored as is.
"""

from __future__ import annotations

import dataclasses
import hashlib
import marshal
import os
from collections.abc import Callable
from typing import Any

from . import model as m
from .diagnostics import Diagnostic, Span

FORMAT = 1
MAX_ENTRIES = 512
Parse = Callable[[str, str], "tuple[m.Module, list[Diagnostic]]"]

# Every dataclass of the syntax model, in a fixed order (index 0 is the span).
_CLASSES: list[type] = sorted(
    (c for c in vars(m).values()
     if isinstance(c, type) and dataclasses.is_dataclass(c) and c.__module__ == m.__name__),
    key=lambda c: c.__name__)
_INDEX = {c: i + 1 for i, c in enumerate(_CLASSES)}
_FIELDS = {c: tuple(f.name for f in dataclasses.fields(c)) for c in _CLASSES}
_SPAN_FIELDS = ("line", "column", "end_line", "end_column", "start", "end")


def cached(parse: Parse) -> Parse:
    """``parse`` (same contract as ``parse_source``) with the on-disk cache in front of it,
    or ``parse`` itself when caching is off (SETLIST_NO_CACHE) or impossible."""
    from .cache import base_folder, fingerprint

    base = base_folder()
    if base is None:
        return parse
    folder = os.path.join(base, "parse")
    code = fingerprint()

    def parse_cached(text: str, file: str) -> tuple[m.Module, list[Diagnostic]]:
        key = hashlib.sha256(f"{FORMAT}\0{code}\0{file}\0".encode()
                             + text.encode("utf-8", "surrogatepass")).hexdigest()
        path = os.path.join(folder, key[:40] + ".bin")
        module = _recall(path, file)
        if module is not None:
            return module, []
        module, diags = parse(text, file)
        if not diags:
            _remember(folder, path, module)
        return module, diags

    return parse_cached


def _recall(path: str, file: str) -> m.Module | None:
    try:
        with open(path, "rb") as handle:
            data = marshal.loads(handle.read())
        module = decode(data, file)
    except Exception:  # noqa: BLE001 - an unreadable or foreign entry is a cache miss
        return None
    return module if isinstance(module, m.Module) and module.file == file else None


def _remember(folder: str, path: str, module: m.Module) -> None:
    from .files import replace_file

    try:
        data = marshal.dumps(encode(module), 4)
        os.makedirs(folder, exist_ok=True)
        replace_file(path, data)
        _trim(folder)
    except (OSError, ValueError):  # a cache that cannot be written is simply not used
        pass


def _trim(folder: str) -> None:
    with os.scandir(folder) as entries:
        found = [(e.stat().st_mtime_ns, e.path) for e in entries if e.name.endswith(".bin")]
    if len(found) <= MAX_ENTRIES:
        return
    found.sort()
    for _mtime, old in found[:len(found) // 2]:
        try:
            os.unlink(old)
        except OSError:
            pass


# ---------------------------------------------------------------- the stored form


def encode(module: m.Module) -> Any:
    """``module`` as nested tuples and lists of plain values (see the module's doc)."""
    file = module.file

    def enc(value: Any) -> Any:
        cls = type(value)
        index = _INDEX.get(cls)
        if index is not None:
            return (index, *[enc(getattr(value, name)) for name in _FIELDS[cls]])
        if cls is Span:
            if value.file != file:
                raise ValueError("a span of another file")
            return (0, *[getattr(value, name) for name in _SPAN_FIELDS])
        if cls is tuple:
            return [enc(x) for x in value]
        if value is None or cls in (str, int, float, bool):
            return value
        raise ValueError(f"cannot store a {cls.__name__}")

    return (FORMAT, enc(module))


def decode(data: Any, file: str) -> m.Module:
    """The module ``encode`` stored, its spans in ``file``."""
    version, root = data
    if version != FORMAT:
        raise ValueError("another format")
    builders, dec = _decoder()
    builders[0] = _span_factory(file)
    return dec(root)


_DECODER: list[tuple[list[Callable[[tuple], Any]], Callable[[Any], Any]]] = []


def _decoder() -> tuple[list[Callable[[tuple], Any]], Callable[[Any], Any]]:
    """The builders (index 0, the span's, is set by each ``decode``) and the decoding
    function, made once per process."""
    if _DECODER:
        return _DECODER[0]
    builders: list[Callable[[tuple], Any]] = [lambda value: None]

    def dec(value: Any) -> Any:
        cls = type(value)
        if cls is tuple:
            return builders[value[0]](value)
        if cls is list:
            return tuple([dec(x) for x in value])
        return value

    def node_builder(cls: type) -> Callable[[tuple], Any]:
        # One function per class with its fields unrolled: decoding is a loop over tens of
        # thousands of nodes, and a generic loop over fields costs a third more.
        names = _FIELDS[cls]
        scope: dict[str, Any] = {"new": object.__new__, "cls": cls, "B": builders,
                                 "dec": dec, "tuple": tuple, "type": type, "list": list}
        lines = ["def build(v):", "    o = new(cls)"]
        for n, name in enumerate(names):
            scope[f"s{n}"] = getattr(cls, name).__set__
            lines += [f"    x = v[{n + 1}]",
                      "    t = type(x)",
                      f"    s{n}(o, B[x[0]](x) if t is tuple else "
                      "tuple([dec(y) for y in x]) if t is list else x)"]
        lines.append("    return o")
        exec("\n".join(lines), scope)  # noqa: S102 - code built above from field names
        return scope["build"]

    builders[1:] = [node_builder(cls) for cls in _CLASSES]
    _DECODER.append((builders, dec))
    return builders, dec


def _span_factory(file: str) -> Callable[[tuple], Span]:
    """Builds a span of ``file`` from its stored tuple without validating again the
    numbers a parse produced: the fields are set directly (through the slots of a slotted
    class, else its ``__dict__``), which is checked once against a span built by its
    constructor; any difference and the constructor is used."""
    def validated(value: tuple) -> Span:
        return Span(file=file, **dict(zip(_SPAN_FIELDS, value[1:], strict=True)))

    new, set_attribute = object.__new__, object.__setattr__
    if dataclasses.is_dataclass(Span) and hasattr(Span, "__slots__"):
        setters = [getattr(Span, name).__set__ for name in _SPAN_FIELDS]

        def direct(value: tuple) -> Span:
            span = new(Span)
            set_attribute(span, "file", file)
            for setter, item in zip(setters, value[1:], strict=True):
                setter(span, item)
            return span
    else:
        def direct(value: tuple) -> Span:
            _, line, column, end_line, end_column, start, end = value
            span = new(Span)
            set_attribute(span, "__dict__", {
                "file": file, "line": line, "column": column, "end_line": end_line,
                "end_column": end_column, "start": start, "end": end})
            return span
    sample = (0, 1, 2, 3, 4, 5, 6)
    try:
        same = direct(sample) == validated(sample) and str(direct(sample)) == f"{file}:1:2"
    except Exception:  # noqa: BLE001 - any surprise: use the validating constructor
        same = False
    return direct if same else validated
