"""Progress of `setlist resolve` on stderr: a bar on a terminal, one line per image otherwise.

On a terminal the bar is redrawn in place (``\\r``) and erased when the last image is done,
so that the command's own output on stdout stays clean. Anywhere else (CI logs, pipes) each
image gets one line as it finishes, in the order they finish, with the time it took since
resolution started.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 24


class ResolveProgress:
    """A :data:`setlist.resolve.Progress` callback writing to ``stream``."""

    def __init__(self, stream: TextIO, *, tty: bool | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self._clock = clock
        self._start = clock()
        self._drawn = 0  # width of the bar line on screen

    def __call__(self, image: str, outcome: object, done: int, total: int) -> None:
        from .resolve import Failure

        failed = isinstance(outcome, Failure)
        if self.tty:
            filled = BAR_WIDTH * done // total if total else BAR_WIDTH
            line = (f"resolving [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
                    f"{done}/{total} images")
            if failed:
                self._erase()
                self.stream.write(f"failed: {outcome}\n")
            self.stream.write("\r" + line.ljust(self._drawn))
            self._drawn = len(line)
            if done == total:
                self._erase()
            self.stream.flush()
            return
        elapsed = self._clock() - self._start
        width = len(str(total))
        if failed:
            what = f"failed: {getattr(outcome, 'reason', outcome)}"
        else:
            what = f"{getattr(outcome, 'tag', '')}"
        self.stream.write(f"[{done:>{width}}/{total}] {image}: {what} ({elapsed:.1f} s)\n")
        self.stream.flush()

    def _erase(self) -> None:
        if self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self._drawn = 0
