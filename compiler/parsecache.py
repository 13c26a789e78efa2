"""A parse cache: the syntax tree of each spec file, kept on disk between runs.

``setlist compile`` of a large project spends most of its time parsing files that did not
change since the last compile. This cache keeps, for each file (by setlist's own code,
``cache.fingerprint``, and the file's absolute and display paths), one entry under
``$XDG_CACHE_HOME/setlist/parse/``: a hash of the text it was made from and the file's
syntax tree cut into pieces (``parse.pieces``: a declaration with its doc comment), each
with its text, in a compact form (nested tuples and lists of plain values, written with
``marshal``). Rebuilding the tree from it takes a fraction of parsing it again.

When the text changed, only the pieces whose text is new are parsed; the others are
rebuilt and moved to where they now sit (their spans shifted by the lines and characters
inserted or removed above them). When any new piece has a diagnostic, the whole file is
parsed as ``parse_source`` parses it, so diagnostics are always those of a whole parse.
Only files that parse without a diagnostic are stored; anything the cache cannot read
gives a normal parse. The folder is safe to delete at any time, and it is kept small:
when it holds more than :data:`MAX_ENTRIES` files, the older half goes.

The stored form: a node is a tuple ``(class index, field values...)`` in field order; a
span is a tuple ``(0, line, column, end_line, end_column, start, end)`` (its file is the
module's); a field holding a tuple of values is a list. Any other value is stored as is.
An entry is ``(FORMAT, text hash, [(piece text, line, offset, decls, comments)...])``,
the line and character offset being where the piece's stored spans assume it starts.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import marshal
import os
from collections.abc import Callable
from typing import Any

from . import model as m
from .diagnostics import Diagnostic, Span
from .parse import pieces

FORMAT = 2
SMALL = 4000  # characters: a smaller file is one piece (parsing it whole is as fast)
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
        key = hashlib.sha256(f"{FORMAT}\0{code}\0{os.path.abspath(file)}\0{file}".encode(
            "utf-8", "surrogatepass")).hexdigest()
        path = os.path.join(folder, key[:40] + ".bin")
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
        stored = _recall(path)
        if stored is not None and stored[0] == digest:
            module = _rebuild(stored[1], file)
            if module is not None:
                return module, []
        module, diags, kept = _parse_pieces(parse, text, file,
                                            stored[1] if stored is not None else [])
        if not diags:
            _remember(folder, path, (FORMAT, digest, kept))
        return module, diags

    return parse_cached


_Stored = list  # of [piece text, line, offset, decls, comments] as stored


def _recall(path: str) -> tuple[bytes, _Stored] | None:
    try:
        with open(path, "rb") as handle:
            version, digest, stored = marshal.loads(handle.read())
    except Exception:  # noqa: BLE001 - an unreadable or foreign entry is a cache miss
        return None
    if version != FORMAT or type(digest) is not bytes or type(stored) is not list:
        return None
    return digest, stored


def _rebuild(stored: _Stored, file: str) -> m.Module | None:
    """The module the pieces make, each moved to where it sits (pieces follow each other);
    None when an entry does not read as one."""
    decls: list = []
    comments: list = []
    line = offset = 0
    try:
        for text, base_line, base_offset, piece_decls, piece_comments in stored:
            builders, dec = _decoder()
            builders[0] = _span_factory(file, line - base_line, offset - base_offset)
            decls.extend(dec(piece_decls))
            comments.extend(dec(piece_comments))
            line += text.count("\n")
            offset += len(text)
        module = m.Module(file=file, decls=tuple(decls), comments=tuple(comments))
    except Exception:  # noqa: BLE001 - a foreign entry is a cache miss
        return None
    return module if all(type(d).__module__ == m.__name__ for d in module.decls) else None


def _parse_pieces(parse: Parse, text: str, file: str, stored: _Stored,
                  ) -> tuple[m.Module, list[Diagnostic], _Stored]:
    """Parse ``text``, reusing the ``stored`` pieces whose text it still holds; also the
    pieces to store for it (meaningless when there are diagnostics)."""
    known = {piece[0]: piece for piece in stored if type(piece) is list and len(piece) == 5
             and type(piece[0]) is str}
    cuts = pieces(text) if len(text) >= SMALL else [0]
    if not known or len(cuts) == 1:
        return _parse_whole(parse, text, file, cuts)
    kept: _Stored = []
    for start, end in zip(cuts, cuts[1:] + [len(text)], strict=True):
        chunk = text[start:end]
        piece = known.get(chunk)
        if piece is None:
            module, diags = parse(chunk, file)
            if diags:
                return _parse_whole(parse, text, file, cuts)
            try:
                piece = [chunk, 0, 0, _encode(module.decls, file),
                         _encode(module.comments, file)]
            except ValueError:
                return _parse_whole(parse, text, file, cuts)
        kept.append(piece)
    module = _rebuild(kept, file)
    if module is None:
        return _parse_whole(parse, text, file, cuts)
    return module, [], kept


def _parse_whole(parse: Parse, text: str, file: str, cuts: list[int],
                 ) -> tuple[m.Module, list[Diagnostic], _Stored]:
    """Parse ``text`` whole, and cut its tree at ``cuts`` for storing: each declaration
    and comment goes with the piece it starts in, and when one reaches past its piece's
    end (a keyword at the start of a line inside a bracket), the file is one piece."""
    module, diags = parse(text, file)
    if diags:
        return module, diags, []
    ends = cuts[1:] + [len(text)]
    parts: list[tuple[list, list]] = [([], []) for _ in cuts]
    for field, items in ((0, module.decls), (1, module.comments)):
        for item in items:
            n = bisect.bisect_right(cuts, item.span.start) - 1
            if item.span.end > ends[n]:
                parts, cuts, ends = [(list(module.decls), list(module.comments))], [0], \
                    [len(text)]
                break
            parts[n][field].append(item)
        else:
            continue
        break
    kept: _Stored = []
    line = 0
    try:
        for start, end, (decls, comments) in zip(cuts, ends, parts, strict=True):
            chunk = text[start:end]
            kept.append([chunk, line, start, _encode(decls, file), _encode(comments, file)])
            line += chunk.count("\n")
    except ValueError:
        return module, [], []  # nothing storable: an empty entry parses again next time
    return module, [], kept


def _remember(folder: str, path: str, entry: tuple) -> None:
    from .files import replace_file, trim_folder

    if not entry[2]:
        return
    try:
        data = marshal.dumps(entry, 4)
        os.makedirs(folder, exist_ok=True)
        replace_file(path, data)
        trim_folder(folder, "", ".bin", MAX_ENTRIES)
    except (OSError, ValueError):  # a cache that cannot be written is simply not used
        pass


# ---------------------------------------------------------------- the stored form


def encode(module: m.Module) -> Any:
    """``module`` as nested tuples and lists of plain values (see the module's doc)."""
    return (FORMAT, _encoder(module.file)(module))


def _encode(values: tuple | list, file: str) -> list:
    """Nodes (of ``file``) as a list of their stored forms."""
    enc = _encoder(file)
    return [enc(v) for v in values]


def _encoder(file: str) -> Callable[[Any], Any]:
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

    return enc


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


def _span_factory(file: str, lines: int = 0, chars: int = 0) -> Callable[[tuple], Span]:
    """Builds a span of ``file`` from its stored tuple, moved down ``lines`` lines and
    ``chars`` characters (pieces start at a line's beginning, so columns stay)."""
    base = _FACTORIES.get(file)
    if base is None:
        if len(_FACTORIES) > 64:
            _FACTORIES.clear()
        base = _FACTORIES[file] = _direct_factory(file)
    if not lines and not chars:
        return base

    def moved(value: tuple) -> Span:
        _, line, column, end_line, end_column, start, end = value
        return base((0, line + lines, column, end_line + lines, end_column, start + chars,
                     end + chars))

    return moved


_FACTORIES: dict[str, Callable[[tuple], Span]] = {}


def _direct_factory(file: str) -> Callable[[tuple], Span]:
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
