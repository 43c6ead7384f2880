"""The period a query names, read from its words: "on 7 July, 2023",
"July 7th 2023", "2023-07-07", "in May 2023", "during 2022", "between
August 11 and August 15 2023", "since March", "yesterday", "on Monday",
"last week". Pure: text in, a period out; search favours what happened in
it (hybrid_search).

A question about a time usually names the day or month something happened
or was said; memories carry that moment (occurred_at, else when they were
recorded). One period counts: a day written out before a month, a month
before a year, any of them before a relative phrase ("last weekend before
10 April, 2023" is read as that day, which with search's slack of a few
days is near enough).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_MONTH = r"(?P<month>" + "|".join(MONTHS) + r")"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
# A day written out, its year optional ("7 July", "July 7th, 2023", "2023-07-07").
_DAYS = (
    re.compile(rf"\b{_DAY}(?: of)? {_MONTH}\b(?:,? {_YEAR}\b)?", re.IGNORECASE),
    re.compile(rf"\b{_MONTH} {_DAY}\b(?:,? {_YEAR}\b)?", re.IGNORECASE),
    re.compile(r"\b(?P<year>(?:19|20)\d\d)-(?P<month>[01]\d)-(?P<day>[0-3]\d)\b"),
)
# "between 11 and 15 August", "from July 1 to July 9, 2023": what joins two days into a range.
_RANGE_START = re.compile(r"\b(?:between|from)\s+$", re.IGNORECASE)
_RANGE_JOIN = re.compile(r"^\s*(?:and|to|until|till|through|-|–)\s*$", re.IGNORECASE)
_SINCE = re.compile(r"\bsince\s+(?:the\s+)?$", re.IGNORECASE)
_MONTH_OF_YEAR = re.compile(rf"\b{_MONTH},? {_YEAR}\b", re.IGNORECASE)
_YEAR_ALONE = re.compile(rf"\b(?:in|during|of|since|throughout) {_YEAR}\b", re.IGNORECASE)
# A month without its year needs a word before it ("in May", not "may").
_MONTH_ALONE = re.compile(rf"\b(?:in|during|of|since|last|this past) {_MONTH}\b", re.IGNORECASE)
# Relative phrases, counted back from today (UTC): (phrase, days back to the start, days covered).
_RELATIVE = (
    (re.compile(r"\btoday\b", re.IGNORECASE), 0, 1),
    (re.compile(r"\byesterday\b", re.IGNORECASE), 1, 1),
    (re.compile(r"\b(?:this|past) week\b", re.IGNORECASE), 6, 7),
    (re.compile(r"\blast week(?:end)?\b", re.IGNORECASE), 13, 8),
    (re.compile(r"\b(?:this|past) month\b", re.IGNORECASE), 29, 30),
    (re.compile(r"\blast month\b", re.IGNORECASE), 59, 31),
)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# "on Monday", "last Friday": the latest such day up to today.
_WEEKDAY = re.compile(r"\b(?:on|last|this past) (?P<weekday>" + "|".join(WEEKDAYS) + r")\b", re.IGNORECASE)


@dataclass(frozen=True)
class Period:
    """Days ``first`` to ``last``, both included."""

    first: date
    last: date

    def holds(self, moment: datetime, *, slack_days: int) -> bool:
        """Whether ``moment`` (its UTC day) falls in the period widened by ``slack_days`` each side."""
        day = moment.astimezone(UTC).date() if moment.tzinfo else moment.date()
        return self.first - timedelta(days=slack_days) <= day <= self.last + timedelta(days=slack_days)

    def describe(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


def named_period(query: str, *, today: date | None = None) -> Period | None:
    """The period ``query`` names, or None. A day or month without its year
    is the latest one up to ``today`` (UTC today by default); "since" a
    time runs to today; an impossible day (31 February 2023) is read as
    its month."""
    today = today or datetime.now(UTC).date()
    period = _days_named(query, today) or _months_named(query, today)
    if period is not None:
        return period
    found = _WEEKDAY.search(query)
    if found:
        day = today - timedelta(days=(today.weekday() - WEEKDAYS.index(found["weekday"].lower())) % 7)
        return Period(day, day)
    for pattern, back, covered in _RELATIVE:
        if pattern.search(query):
            first = today - timedelta(days=back)
            return Period(first, first + timedelta(days=covered - 1))
    return None


def _days_named(query: str, today: date) -> Period | None:
    """A day written out, or a range of two ("between 11 August and 15 August 2023")."""
    mentions = sorted((found for pattern in _DAYS for found in pattern.finditer(query)), key=lambda f: f.start())
    if not mentions:
        return None
    first = mentions[0]
    year = _YEAR_ALONE.search(query)
    latest = min(today, date(int(year["year"]), 12, 31)) if year else today  # "on 7 July in 2023"
    if len(mentions) > 1 and _RANGE_START.search(query[: first.start()]):
        second = mentions[1]
        if _RANGE_JOIN.match(query[first.end() : second.start()]):
            last = _day(second, latest)
            start = _day(first, last) if last else None  # without its year, the latest such day up to the last
            if start and last and start <= last:
                return Period(start, last)
    day = _day(first, latest)
    if day is None:
        return None
    return Period(day, max(day, today)) if _SINCE.search(query[: first.start()]) else Period(day, day)


def _months_named(query: str, today: date) -> Period | None:
    """A month of a year, a year, or a month without its year."""
    found = _MONTH_OF_YEAR.search(query)
    if found:
        first = date(int(found["year"]), _month_number(found["month"]), 1)
        return _since_or(query, found, first, _month_end(first), today)
    found = _YEAR_ALONE.search(query)
    if found:
        year = int(found["year"])
        return _since_or(query, found, date(year, 1, 1), date(year, 12, 31), today)
    found = _MONTH_ALONE.search(query)
    if found:
        month = _month_number(found["month"])
        first = date(today.year if month <= today.month else today.year - 1, month, 1)
        return _since_or(query, found, first, _month_end(first), today)
    return None


def _since_or(query: str, found: re.Match[str], first: date, last: date, today: date) -> Period:
    """From ``first`` to today after "since", else ``first`` to ``last``."""
    since = found.group(0).lower().startswith("since") or _SINCE.search(query[: found.start()])
    return Period(first, max(last, today) if since else last)


def _day(found: re.Match[str], latest: date) -> date | None:
    """The day ``found`` writes out; without its year, the latest such day up to ``latest``."""
    try:
        if found["year"]:
            return date(int(found["year"]), _month_number(found["month"]), int(found["day"]))
        day = date(latest.year, _month_number(found["month"]), int(found["day"]))
        return day if day <= latest else day.replace(year=latest.year - 1)
    except ValueError:
        return None


def _month_end(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1) - timedelta(days=1)


def _month_number(month: str) -> int:
    return int(month) if month.isdigit() else MONTHS.index(month.lower()) + 1
