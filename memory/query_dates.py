"""The period a query names, read from its words: "on 7 July, 2023",
"July 7th 2023", "2023-07-07", "in May 2023", "during 2022", "yesterday",
"on Monday", "last week". Pure: text in, a period out; search favours what
happened in it (hybrid_search).

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
# Written-out days, then months, then years: the first kind that matches is read.
_DAYS = (
    re.compile(rf"\b{_DAY}(?: of)? {_MONTH},? {_YEAR}\b", re.IGNORECASE),
    re.compile(rf"\b{_MONTH} {_DAY},? {_YEAR}\b", re.IGNORECASE),
    re.compile(r"\b(?P<year>(?:19|20)\d\d)-(?P<month>[01]\d)-(?P<day>[0-3]\d)\b"),
)
_MONTH_OF_YEAR = re.compile(rf"\b{_MONTH},? {_YEAR}\b", re.IGNORECASE)
_YEAR_ALONE = re.compile(rf"\b(?P<word>in|during|of|since|throughout) {_YEAR}\b", re.IGNORECASE)
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
    """The period ``query`` names, or None (also for an impossible date like 31 February)."""
    for pattern in _DAYS:
        found = pattern.search(query)
        if found:
            day = _day(found["year"], found["month"], found["day"])
            return Period(day, day) if day else None
    found = _MONTH_OF_YEAR.search(query)
    if found:
        first = date(int(found["year"]), _month_number(found["month"]), 1)
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        return Period(first, following - timedelta(days=1))
    today = today or datetime.now(UTC).date()
    found = _YEAR_ALONE.search(query)
    if found:
        year = int(found["year"])
        # "since 2020": from its start to today.
        until = max(today, date(year, 12, 31)) if found["word"].lower() == "since" else date(year, 12, 31)
        return Period(date(year, 1, 1), until)
    found = _WEEKDAY.search(query)
    if found:
        day = today - timedelta(days=(today.weekday() - WEEKDAYS.index(found["weekday"].lower())) % 7)
        return Period(day, day)
    for pattern, back, covered in _RELATIVE:
        if pattern.search(query):
            first = today - timedelta(days=back)
            return Period(first, first + timedelta(days=covered - 1))
    return None


def _day(year: str, month: str, day: str) -> date | None:
    try:
        return date(int(year), _month_number(month), int(day))
    except ValueError:
        return None


def _month_number(month: str) -> int:
    return int(month) if month.isdigit() else MONTHS.index(month.lower()) + 1
