"""Limits for YAML that someone else wrote: overlays, inventories, lockfiles, imports.

YAML's anchors let a few hundred bytes stand for billions of nodes ("billion laughs"): the
loader itself shares one object per anchor, but any code that walks the result (comparing,
converting, validating) expands it. Deep nesting overflows the loader's recursion. So every
such file is read with a byte cap, loaded with a recursion guard, and its documents are
measured once — each distinct node counted as often as it is referenced, without expanding
anything — before any other code sees them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

__all__ = ["MAX_DEPTH", "MAX_NODES", "YAMLLimitError", "check_documents", "load_all",
           "load_one", "read_capped"]

#: Nodes a file's documents may hold once aliases are expanded.
MAX_NODES = 2_000_000
#: Nesting of mappings and sequences (Kubernetes objects stay well below 30).
MAX_DEPTH = 200


class YAMLLimitError(ValueError):
    """The file exceeds a limit; the message says which (without the file's name)."""


def read_capped(path: str | os.PathLike[str], limit: int) -> bytes:
    """At most ``limit`` bytes of ``path``; a larger file is a YAMLLimitError, found
    without reading more than one byte past the limit. OSError as from ``open``."""
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise YAMLLimitError(too_large(limit))
    return data


def too_large(limit: int) -> str:
    size = f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit} bytes"
    return f"is larger than {size}, more than setlist reads"


def load_all(yaml: Any, text: str) -> list[Any]:
    """``yaml.load_all(text)`` as a list, checked by :func:`check_documents`. The
    loader's own errors pass through; nesting too deep for it is a YAMLLimitError."""
    try:
        documents = list(yaml.load_all(text))
    except RecursionError:
        raise YAMLLimitError(f"nests mappings or sequences more than {MAX_DEPTH} levels "
                             "deep") from None
    check_documents(documents)
    return documents


def load_one(yaml: Any, text: str) -> Any:
    """``yaml.load(text)`` (one document), guarded like :func:`load_all`."""
    try:
        document = yaml.load(text)
    except RecursionError:
        raise YAMLLimitError(f"nests mappings or sequences more than {MAX_DEPTH} levels "
                             "deep") from None
    check_documents([document])
    return document


def check_documents(documents: Iterable[Any]) -> None:
    """Refuse documents that expand to more than MAX_NODES nodes, nest deeper than
    MAX_DEPTH or refer to themselves. Linear in the distinct nodes: each container's
    expanded size is computed once and reused wherever an alias repeats it."""
    sizes: dict[int, int] = {}
    total = 0
    for document in documents:
        total += _expanded(document, sizes)
        if total > MAX_NODES:
            raise YAMLLimitError(f"expands to more than {MAX_NODES:,} nodes (through "
                                 "anchors and aliases, a \"billion laughs\")")


# Sequences used as mapping keys load as tuples; sets as sets.
_CONTAINERS = (dict, list, tuple, set, frozenset)


def _children(node: Any) -> Iterable[Any]:
    if isinstance(node, dict):
        return [*node.keys(), *node.values()]
    return node


def _expanded(root: Any, sizes: dict[int, int]) -> int:
    """Nodes below ``root`` with every alias expanded, iteratively (no recursion)."""
    if not isinstance(root, _CONTAINERS):
        return 1
    open_ids: set[int] = set()
    # (container, its children, started?) — a post-order walk.
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            open_ids.discard(key)
            size = 1
            for child in _children(node):
                size += sizes[id(child)] if isinstance(child, _CONTAINERS) else 1
                if size > MAX_NODES:
                    raise YAMLLimitError(f"expands to more than {MAX_NODES:,} nodes "
                                         "(through anchors and aliases, a \"billion "
                                         "laughs\")")
            sizes[key] = size
            continue
        if key in sizes:
            continue
        if key in open_ids:
            raise YAMLLimitError("contains itself (a recursive alias)")
        if len(open_ids) >= MAX_DEPTH:
            raise YAMLLimitError(f"nests mappings or sequences more than {MAX_DEPTH} "
                                 "levels deep")
        open_ids.add(key)
        stack.append((node, True))
        for child in _children(node):
            if isinstance(child, _CONTAINERS):
                if id(child) in open_ids:
                    raise YAMLLimitError("contains itself (a recursive alias)")
                if id(child) not in sizes:
                    stack.append((child, False))
    return sizes[id(root)]
