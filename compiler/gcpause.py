"""Pausing the cyclic garbage collector around the stages that build large structures.

A module of its own at the bottom of the package so that any stage can use it without
importing the session (``setlist.project``).
"""

from __future__ import annotations

import gc
from contextlib import contextmanager

# Every this many paused stages a process runs, a full collection follows: a one-shot
# command runs fewer and never pays for it, while a long-lived process (the language
# server loads on every edit) frees the cycles its stages left behind (see below).
FULL_COLLECTION_EVERY = 8
_exits = 0


@contextmanager
def gc_paused():
    """Pause the cyclic garbage collector for a stage that builds a large, long-lived and
    acyclic structure (syntax trees, the spec, output documents): the collector would
    otherwise walk the growing heap again and again and find nothing to free (a third of
    a 20,000-document compile). Cycles made meanwhile are collected after it resumes.

    On resuming, what the stage built is moved to the oldest generation in one step
    (freeze and unfreeze, when nothing else is frozen): a plain resume would traverse all
    of it at the next young collection, only to find it alive. Objects moved that way are
    not counted towards the oldest generation's own threshold, so garbage cycles among
    them would stay for good; every ``FULL_COLLECTION_EVERY`` stages a full collection
    frees them."""
    global _exits
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()
            _exits += 1
            if _exits % FULL_COLLECTION_EVERY == 0:
                gc.collect()
