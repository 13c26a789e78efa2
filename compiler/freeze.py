"""Freeze windows: is a moment inside one, and when does it end?

A freeze is an Argo CD sync-window schedule: a five-field cron (robfig/cron's standard
parser, which the checker validates) read in the window's time zone, and a duration. Argo
CD counts a window as active when the last start before now plus the duration lies after
now; so does :func:`frozen_until`. Starts are found by walking back minute by minute in
UTC and reading each minute as wall-clock time in the zone, so daylight-saving changes are
right by construction: a wall-clock minute that does not exist (spring forward) never
starts a window, one that happens twice (fall back) starts it at its first instant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from .values_time import _CRON_DESCRIPTORS, _MONTHS, _WEEKDAYS

__all__ = ["Cron", "frozen_until"]

_DESCRIBED = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
              "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
              "@hourly": "0 * * * *"}
_BOUNDS = ((0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (0, 6, _WEEKDAYS))


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool        # day-of-month was '*' or '?'
    any_weekday: bool    # day-of-week was '*' or '?'

    @classmethod
    def parse(cls, text: str) -> Cron:
        """A schedule the checker accepted (ValueError otherwise)."""
        text = text.strip()
        if text.startswith("@"):
            if text not in _CRON_DESCRIPTORS:
                raise ValueError(f"unknown cron descriptor {text}")
            text = _DESCRIBED[text]
        fields = text.split()
        if len(fields) != 5:
            raise ValueError(f"cron schedule '{text}' needs 5 fields")
        sets = [_field(f, *bounds) for f, bounds in zip(fields, _BOUNDS, strict=True)]
        return cls(*sets, any_day=fields[2] in ("*", "?"),
                   any_weekday=fields[4] in ("*", "?"))

    def matches(self, moment: datetime) -> bool:
        """Does this wall-clock minute start the schedule? Day of month and day of week
        are both required when either is '*', else either one is enough (robfig/cron)."""
        if moment.minute not in self.minutes or moment.hour not in self.hours or \
                moment.month not in self.months:
            return False
        day = moment.day in self.days
        weekday = (moment.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return day and weekday
        return day or weekday


def _field(text: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        rng, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if rng in ("*", "?"):
            start, end = low, high
        else:
            bounds = [int(b) if b.isdigit() else names[b.lower()] for b in rng.split("-", 1)]
            start = bounds[0]
            end = bounds[1] if len(bounds) == 2 else (high if step_text else bounds[0])
        values.update(range(start, end + 1, step))
    return frozenset(values)


def window_end(cron: str, duration_seconds: int, timezone: str, now: datetime
               ) -> datetime | None:
    """When the window that contains ``now`` ends (UTC), or None when ``now`` is outside."""
    schedule = Cron.parse(cron)
    zone = ZoneInfo(timezone)
    now = now.astimezone(UTC).replace(second=0, microsecond=0)
    minute = timedelta(minutes=1)
    moment = now
    earliest = now - timedelta(seconds=duration_seconds)
    # Walk back to the earliest start that still covers now; the latest start wins.
    while moment > earliest:
        local = moment.astimezone(zone)
        key = (local.year, local.month, local.day, local.hour, local.minute)
        if schedule.matches(local):
            # For a repeated wall-clock minute (fall back), the first instant starts it:
            # keep walking back to see whether the same wall-clock minute came earlier.
            earlier = (moment - timedelta(hours=1)).astimezone(zone)
            if (earlier.year, earlier.month, earlier.day, earlier.hour,
                    earlier.minute) == key:
                moment -= timedelta(hours=1)
            end = moment + timedelta(seconds=duration_seconds)
            return end if end > now else None
        moment -= minute
    return None


def frozen_until(freezes: Iterable, now: datetime) -> datetime | None:
    """The latest end among the freeze windows (``setlist.spec.Freeze``) that contain
    ``now``; None when none does."""
    ends = [end for f in freezes
            if (end := window_end(f.cron, f.duration_seconds, f.timezone, now)) is not None]
    return max(ends, default=None)
