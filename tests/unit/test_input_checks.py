"""The argument checks every tool and import shares: times PostgreSQL stores
and Python reads back, and text PostgreSQL can store."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from memory import validation


@pytest.mark.parametrize(
    "value", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "9999-12-31", "0001-01-01"]
)
def test_a_time_past_either_end_of_what_reads_back_is_refused_naming_the_range(value):
    with pytest.raises(InvalidInput) as refused:
        validation.moment("occurred_at", value)
    assert refused.value.field == "occurred_at" and "between 0001-01-02 and 9999-12-30" in refused.value.problem


@pytest.mark.parametrize("value", ["2024-05-01T10:00:00+02:00", "9999-12-29", "0001-01-03T00:00:00Z"])
def test_ordinary_times_keep_their_zone(value):
    moment = validation.moment("occurred_at", value)
    assert moment is not None and moment.tzinfo is not None


def test_a_lone_surrogate_is_refused_in_text_and_in_json_but_real_emoji_pass():
    with pytest.raises(InvalidInput, match="lone surrogate"):
        validation.text("observation", "half \ud800 a pair", max_chars=100)
    with pytest.raises(InvalidInput, match="lone surrogate"):
        validation.json_object("metadata", {"note": "\udfff"})
    assert validation.text("observation", "tea \U0001f375", max_chars=100) == "tea \U0001f375"
    assert validation.json_object("metadata", {"mood": "\U0001f600"}) == {"mood": "\U0001f600"}
