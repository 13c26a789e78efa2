"""Where setlist's own files are on disk: the grammar and the standard library.

They are folders of the installed packages ``setlist.grammar`` and ``setlist.stdlib``,
real files (setlist is not run from a zip archive). Found through each package's
``__file__``: ``importlib.resources`` would do the same but costs about 10 ms at every
start (it imports tempfile, zipfile and more), a twentieth of a `setlist check`.
"""

from __future__ import annotations

import importlib
import os

__all__ = ["folder", "grammar_file", "std_folder"]


def folder(package: str) -> str:
    """The folder of an installed package of setlist's (``setlist``, ``setlist.grammar``,
    ``setlist.stdlib``)."""
    module = importlib.import_module(package)
    return os.path.dirname(os.path.abspath(module.__file__ or ""))


def grammar_file() -> str:
    return os.path.join(folder("setlist.grammar"), "setlist.lark")


def std_folder() -> str:
    """The folder of the standard library's modules (``std/*.setlist``)."""
    return os.path.join(folder("setlist.stdlib"), "std")
