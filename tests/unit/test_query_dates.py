"""Reading the period a query names: written-out days, months and years,
and the relative phrases people use."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from memory.query_dates import Period, named_period

TODAY = date(2026, 12, 8)


@pytest.mark.parametrize(
    "query",
    [
        "What did Maria plan on 7 July, 2023?",
        "what did maria plan on 7th july 2023",
        "What did Maria plan on July 7, 2023?",
        "What did Maria plan on July 7th 2023?",
        "what happened on the 7th of July 2023",
        "notes from 2023-07-07",
    ],
)
def test_a_day_written_any_common_way_is_that_day(query):
    assert named_period(query, today=TODAY) == Period(date(2023, 7, 7), date(2023, 7, 7))


def test_a_month_is_its_days_and_a_year_needs_a_word_before_it():
    assert named_period("What did John host in May 2023?", today=TODAY) == Period(date(2023, 5, 1), date(2023, 5, 31))
    assert named_period("bills of February, 2024", today=TODAY) == Period(date(2024, 2, 1), date(2024, 2, 29))
    assert named_period("trips during December 2022", today=TODAY) == Period(date(2022, 12, 1), date(2022, 12, 31))
    assert named_period("What did John achieve in 2023?", today=TODAY) == Period(date(2023, 1, 1), date(2023, 12, 31))
    assert named_period("what changed since 2024?", today=TODAY) == Period(date(2024, 1, 1), TODAY)
    # A number that only looks like a year is not a period.
    assert named_period("the 2023 budget spreadsheet", today=TODAY) is None
    assert named_period("room 2048 keycard", today=TODAY) is None


def test_relative_phrases_count_back_from_today():
    assert named_period("what did I decide today?", today=TODAY) == Period(TODAY, TODAY)
    yesterday = TODAY - timedelta(days=1)
    assert named_period("What did we agree yesterday", today=TODAY) == Period(yesterday, yesterday)
    assert named_period("errands this week", today=TODAY) == Period(TODAY - timedelta(days=6), TODAY)
    last_week = named_period("who did I meet last week?", today=TODAY)
    assert last_week is not None and last_week.first < TODAY - timedelta(days=6) <= last_week.last < TODAY
    # TODAY is a Tuesday: "on Monday" is yesterday, "last Friday" four days ago, "on Tuesday" today.
    assert named_period("what did we discuss on Monday?", today=TODAY) == Period(yesterday, yesterday)
    friday = TODAY - timedelta(days=4)
    assert named_period("the call last Friday", today=TODAY) == Period(friday, friday)
    assert named_period("plans made on tuesday", today=TODAY) == Period(TODAY, TODAY)
    assert named_period("Monday blues", today=TODAY) is None
    last_month = named_period("last month's invoices", today=TODAY)
    assert last_month is not None and (last_month.last - last_month.first).days == 30
    assert last_month.last < TODAY - timedelta(days=27)


def test_a_written_date_wins_over_a_relative_phrase_and_nonsense_is_no_period():
    assert named_period("What did Maria do last weekend before April 10, 2023?", today=TODAY) == Period(
        date(2023, 4, 10), date(2023, 4, 10)
    )
    assert named_period("what happened on 31 February 2023", today=TODAY) == Period(date(2023, 2, 1), date(2023, 2, 28))
    assert named_period("what pet does Ann have?", today=TODAY) is None
    assert named_period("the may pole", today=TODAY) is None


def test_a_day_or_month_without_its_year_is_the_latest_one_and_ranges_and_since_run_between():
    assert named_period("what did I do on 7 July?", today=TODAY) == Period(date(2026, 7, 7), date(2026, 7, 7))
    # 24 December has not come yet this year: last year's.
    assert named_period("gifts bought on December 24th", today=TODAY) == Period(date(2025, 12, 24), date(2025, 12, 24))
    assert named_period("what did I read in October", today=TODAY) == Period(date(2026, 10, 1), date(2026, 10, 31))
    assert named_period("bills paid in May", today=TODAY) == Period(date(2026, 5, 1), date(2026, 5, 31))
    assert named_period("what may I eat", today=TODAY) is None
    assert named_period("what did I do on 7 July in 2023?", today=TODAY) == Period(date(2023, 7, 7), date(2023, 7, 7))
    assert named_period("Where was John between August 11 and August 15 2023?", today=TODAY) == Period(
        date(2023, 8, 11), date(2023, 8, 15)
    )
    assert named_period("trips from 28 December to 3 January 2024", today=TODAY) == Period(
        date(2023, 12, 28), date(2024, 1, 3)
    )
    # A range written backwards is no range: its first day is read.
    assert named_period("from 9 July 2023 to 1 July 2023", today=TODAY) == Period(date(2023, 7, 9), date(2023, 7, 9))
    assert named_period("from 1 July, 2023 to 9 July, 2023", today=TODAY) == Period(date(2023, 7, 1), date(2023, 7, 9))
    assert named_period("what changed since 1 December", today=TODAY) == Period(date(2026, 12, 1), TODAY)
    assert named_period("everything since March 2025", today=TODAY) == Period(date(2025, 3, 1), TODAY)


def test_a_moment_is_held_by_its_utc_day_with_slack_either_side():
    day = Period(date(2023, 7, 7), date(2023, 7, 7))
    assert day.holds(datetime(2023, 7, 7, 23, 59, tzinfo=UTC), slack_days=0)
    # 01:00 on the 8th in UTC+2 is 23:00 on the 7th in UTC.
    assert day.holds(datetime(2023, 7, 8, 1, 0, tzinfo=timezone(timedelta(hours=2))), slack_days=0)
    assert not day.holds(datetime(2023, 7, 8, 0, 30, tzinfo=UTC), slack_days=0)
    assert day.holds(datetime(2023, 7, 10, 12, 0, tzinfo=UTC), slack_days=3)
    assert not day.holds(datetime(2023, 7, 11, 0, 0, tzinfo=UTC), slack_days=3)
    assert day.holds(datetime(2023, 7, 4, 0, 0, tzinfo=UTC), slack_days=3)
    assert day.describe() == {"from": "2023-07-07", "to": "2023-07-07"}
