"""Validators for time values: durations, dates, cron schedules and time zones.

Same contract as ``setlist.values``: pure functions returning ``None`` or a ``ValueProblem``.
Freeze windows and soak times are read by Argo CD (sync windows) and by promotion gates long
after the check, so their syntax is held to what those consumers accept.
"""

from __future__ import annotations

import calendar
import re
from functools import cache

from .values import _P, ValueProblem, _digits, _guess_hint

# --- time ----------------------------------------------------------------------------------

_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_UNIT_NAMES = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_DURATION_TOKEN = re.compile(r"([0-9]*)([A-Za-z]*)")


def _duration(text: str) -> int | ValueProblem:
    """One parser for both entry points, so the value and the diagnostics never disagree."""
    where = f"The duration '{text}'"
    if not text:
        return _P("A duration must not be empty.", "Write e.g. '90s', '1h30m' or '7d'.")
    total, pos, last_rank = 0, 0, -1
    while pos < len(text):
        m = _DURATION_TOKEN.match(text, pos)
        assert m is not None  # both groups may be empty, so this always matches
        number, unit = m.groups()
        unit_at = pos + len(number)
        if not number and not unit:
            return _P(f"{where} contains '{text[pos]}', which is not a digit or a unit.",
                      "Durations look like '90s', '1h30m' or '2w'.", pos)
        if not number:
            return _P(f"{where} has '{unit}' without a number before it.", None, pos)
        if not unit and unit_at < len(text):
            return _P(f"{where} contains '{text[unit_at]}' where a unit must be.",
                      "Use s, m, h, d or w.", unit_at)
        if not unit:
            hint = "Every number needs a unit: s, m, h, d or w."
            if pos == 0:
                hint = f"Add a unit, e.g. '{text}s' for seconds or '{text}m' for minutes."
            return _P(f"{where} ends with '{number}' without a unit.", hint, unit_at)
        if unit not in _UNIT_SECONDS:
            hint = "Use s, m, h, d or w."
            if unit.lower() in _UNIT_SECONDS:
                hint = f"Units are lowercase: '{unit.lower()}'."
            elif unit == "ms":
                hint = "Durations here have one-second resolution; use s, m, h, d or w."
            return _P(f"{where} has an unknown unit '{unit}'.", hint, unit_at)
        rank = list(_UNIT_SECONDS).index(unit)
        if rank == last_rank:
            return _P(f"{where} gives {_UNIT_NAMES[unit]} twice.",
                      "Combine them into one number.", unit_at)
        if rank < last_rank:
            return _P(f"{where} lists {_UNIT_NAMES[unit]} after a smaller unit.",
                      "Write units from largest to smallest, e.g. '1h30m'.", unit_at)
        last_rank = rank
        total += int(number) * _UNIT_SECONDS[unit]
        pos = m.end()
    return total


def parse_duration(text: str) -> int | None:
    """Seconds, or None; separate from ``check_duration`` so callers can compare values."""
    result = _duration(text)
    return result if isinstance(result, int) else None


def check_duration(text: str) -> ValueProblem | None:
    result = _duration(text)
    return result if isinstance(result, ValueProblem) else None


_DATE_SHAPE = "Dates look like '2027-03-01' or '2027-03-01T09:30Z'."
_TIME_RE = re.compile(r"T(\d\d):(\d\d)(?::(\d\d))?(Z|[+-](\d\d):(\d\d))", re.ASCII)
_TIME_LIMITS = ((1, 23, "hour"), (2, 59, "minute"), (3, 59, "second"), (5, 23, "zone hour"),
                (6, 59, "zone minute"))


def check_date(text: str) -> ValueProblem | None:
    """Dates gate freezes and rollouts; an impossible date would silently never match."""
    for i, want in enumerate("NNNN-NN-NN"):
        got = text[i : i + 1]
        if not got or (want == "N") != _digits(got) or (want == "-") != (got == "-"):
            expected = "a digit" if want == "N" else "'-'"
            return _P(f"'{text}' is not a date: expected {expected} at position {i + 1}, found "
                      f"{repr(got) if got else 'the end'}.", _DATE_SHAPE, i)
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    if not 1 <= month <= 12:
        return _P(f"'{text}' is not a date: there is no month {month}.", _DATE_SHAPE, 5)
    days = calendar.monthrange(year or 2000, month)[1]
    if not 1 <= day <= days:
        name = calendar.month_name[month]
        return _P(f"'{text}' is not a real date: {name} {year} has {days} days.",
                  f"the last day of {name} {year} is {text[:8]}{days:02d}", 8)
    if len(text) == 10:
        return None
    if text[10] != "T":
        return _P(f"'{text}' has '{text[10]}' after the date; a time must start with 'T'.",
                  _DATE_SHAPE, 10)
    m = _TIME_RE.fullmatch(text, 10)
    if m is None:
        if re.fullmatch(r"T\d\d:\d\d(:\d\d)?", text[10:], re.ASCII):
            return _P(f"The time in '{text}' has no time zone.",
                      "Append 'Z' for UTC or an offset such as '+02:00'.", len(text))
        return _P(f"The time in '{text}' is malformed; expected THH:MM[:SS] and a zone.",
                  _DATE_SHAPE, 10)
    for group, limit, what in _TIME_LIMITS:
        if m.group(group) is not None and int(m.group(group)) > limit:
            return _P(f"The time in '{text}' has {what} {m.group(group)}, which is out of range "
                      f"0-{limit}.", f"write the {what} as two digits from 00 to {limit}",
                      m.start(group))
    return None


_CRON_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight",
                     "@hourly")
_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
_WEEKDAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
# What each field takes, with an example schedule, for hints on values out of range.
_CRON_FIELD_HINTS = {
    "minute": "minutes run from 0 to 59, e.g. '30 9 * * *' for 09:30",
    "hour": "hours run from 0 to 23 (midnight is 0), e.g. '0 22 * * *' for 22:00",
    "day-of-month": "days of the month run from 1 to 31, e.g. '0 0 1 * *' for the 1st",
    "month": "months run from 1 to 12 or JAN to DEC, e.g. '0 0 1 12 *' for 1 December",
    "day-of-week": "days of the week run from 0 (Sunday) to 6 (Saturday) or SUN to SAT, "
                   "e.g. '0 9 * * 1-5' for weekdays",
}
# (name, low, high, names, example name) in robfig/cron's standard field order.
_CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int], str], ...] = (
    ("minute", 0, 59, {}, ""),
    ("hour", 0, 23, {}, ""),
    ("day-of-month", 1, 31, {}, ""),
    ("month", 1, 12, _MONTHS, "JAN"),
    ("day-of-week", 0, 6, _WEEKDAYS, "MON"),
)


def check_cron(text: str) -> ValueProblem | None:
    """Argo CD parses sync-window schedules with robfig/cron's standard five-field parser; a
    schedule it rejects disables the window, which usually means deploys stop."""
    stripped = text.strip()
    if stripped.startswith("@"):
        if stripped in _CRON_DESCRIPTORS:
            return None
        known = "Known: " + ", ".join(_CRON_DESCRIPTORS)
        return _P(f"'{stripped}' is not a known cron descriptor.",
                  _guess_hint(stripped, _CRON_DESCRIPTORS, known), text.index("@"))
    fields = [(m.group(), m.start()) for m in re.finditer(r"\S+", text)]
    if len(fields) != 5:
        hint = "Fields are: minute hour day-of-month month day-of-week, e.g. '0 22 * * 1-5'."
        if len(fields) == 6:
            hint = "Sync-window schedules have no seconds field; drop the first field. " + hint
        return _P(f"The cron schedule '{text}' has {len(fields)} fields; it needs 5.", hint)
    for (field, start), spec in zip(fields, _CRON_FIELDS, strict=True):
        if problem := _cron_field(field, start, spec):
            return problem
    return None


def _cron_field(field: str, pos: int, spec: tuple[str, int, int, dict[str, int], str]
                ) -> ValueProblem | None:
    """Mirrors robfig's getRange: items are '*', 'N' or 'N-M', each with an optional '/step'
    ('N/step' runs to the field maximum). '?' is robfig's alias for '*' in the day fields."""
    name, low, high, names, example = spec
    for item in field.split(","):
        rng, slash, step = item.partition("/")
        if not item:
            return _P(f"The cron {name} field '{field}' has an empty list item.",
                      "remove the extra ',': list items look like '1,15' or '1-5,10'", pos)
        if slash and (not _digits(step) or int(step) == 0):
            return _P(f"The cron {name} field has step '{step}'; a step must be a positive "
                      "number.", "write e.g. '*/15' for every 15th value", pos + len(rng) + 1)
        if rng == "*" or (rng == "?" and name.startswith("day")):
            pos += len(item) + 1
            continue
        values, at = [], pos
        for bound in rng.split("-", 1):
            value = int(bound) if _digits(bound) else names.get(bound.lower())
            if value is None:
                allowed = f"{low}-{high}" + (f" or a name such as {example}" if names else "")
                return _P(f"The cron {name} field has '{bound}', which is not a valid value "
                          f"({allowed}).", _CRON_FIELD_HINTS[name], at)
            if not low <= value <= high:
                hint = _CRON_FIELD_HINTS[name]
                if name == "day-of-week" and value == 7:
                    hint = "7 is not accepted: Sunday is 0; " + hint
                return _P(f"The cron {name} {bound} is out of range {low}-{high}.", hint, at)
            values.append(value)
            at += len(bound) + 1
        if len(values) == 2 and values[0] > values[1]:
            return _P(f"The cron {name} range '{rng}' starts after it ends.",
                      "Ranges cannot wrap around; split it in two with a comma.", pos)
        pos += len(item) + 1
    return None


@cache
def _timezones() -> frozenset[str]:
    import zoneinfo

    return frozenset(zoneinfo.available_timezones())


@cache
def _listed_timezones() -> frozenset[str]:
    """The zones the tzdata package lists in one file: the first part of what
    ``available_timezones()`` returns, which then walks the system's zone folders and opens
    every file in them (20 ms); a name found here needs no walk."""
    from importlib import resources

    try:
        with resources.files("tzdata").joinpath("zones").open("r") as f:
            zones = frozenset(line.strip() for line in f)
    except (ImportError, FileNotFoundError):
        return frozenset()
    return zones - {"", "posixrules"}  # available_timezones() leaves posixrules out


# Common abbreviations that are not zone names, with the regions people usually mean.
# Near-miss spelling suggestions would pick a different zone ('CEST' -> 'EST'), so these
# get a region instead; some abbreviations name more than one zone.
_ABBREVIATIONS = {
    "CET": "'Europe/Berlin' or 'Europe/Paris'", "CEST": "'Europe/Berlin' or 'Europe/Paris'",
    "PST": "'America/Los_Angeles'", "PDT": "'America/Los_Angeles'",
    "EST": "'America/New_York'", "EDT": "'America/New_York'",
    "CST": "'America/Chicago' (or 'Asia/Shanghai' for China)", "CDT": "'America/Chicago'",
    "MST": "'America/Denver' (or 'America/Phoenix', which has no daylight saving)",
    "MDT": "'America/Denver'", "AKST": "'America/Anchorage'", "AKDT": "'America/Anchorage'",
    "IST": "'Asia/Kolkata' (or 'Europe/Dublin' or 'Asia/Jerusalem')", "JST": "'Asia/Tokyo'",
    "KST": "'Asia/Seoul'", "BST": "'Europe/London'", "WEST": "'Europe/Lisbon'",
    "EEST": "'Europe/Helsinki' or 'Europe/Athens'", "AEST": "'Australia/Sydney'",
    "AEDT": "'Australia/Sydney'", "NZST": "'Pacific/Auckland'", "NZDT": "'Pacific/Auckland'",
}


def check_timezone(text: str) -> ValueProblem | None:
    """Argo CD loads sync-window zones with Go's time.LoadLocation, which wants IANA names."""
    if text in _listed_timezones() or text in _timezones():
        return None
    if text.isalpha() and text.isascii() and text.isupper():
        region = _ABBREVIATIONS.get(text)
        hint = (f"use the region name {region}; Argo CD accepts IANA names only" if region
                else "use a region name such as 'Europe/Berlin'; abbreviations do not follow "
                "daylight saving")
        return _P(f"'{text}' is not a known IANA time zone.", hint)
    return _P(f"'{text}' is not a known IANA time zone.",
              _guess_hint(text, _timezones(), "Use an IANA name such as 'Europe/Berlin'."))
