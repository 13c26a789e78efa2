"""Setlist: a policy-as-code compiler for multi-cluster Argo CD delivery.

``setlist.load(path)`` loads, parses and checks a project and returns it with its
diagnostics; the CLI and the language server are thin faces over it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["load", "__version__"]

if TYPE_CHECKING:
    from .project import Project


def load(*paths: Any, overrides: Any = None) -> Project:
    """Load and check the *.setlist files under ``paths`` (default: the current folder).

    Paths may be given as arguments (``load("a", "b")``) or as one list (``load(["a", "b"])``).
    """
    from .project import load as _load

    if len(paths) == 1 and isinstance(paths[0], (list, tuple)):
        paths = tuple(paths[0])
    return _load(paths or (".",), overrides=overrides)
