"""How a memory's text is shortened where an answer shows only part of it."""

from __future__ import annotations

from memory.item_types import shortened


def test_a_long_text_is_cut_between_words_and_says_so():
    text = "Authorization servers publish their metadata at a well-known address " * 4
    cut = shortened(text, 100)
    assert len(cut) <= 100 and cut.endswith("…")
    assert text.startswith(cut[:-1]) and text[len(cut) - 1] == " "  # the next character was a space: no word broken
    assert shortened("short enough", 100) == "short enough"


def test_a_text_without_spaces_near_the_limit_is_cut_at_the_limit():
    cut = shortened("x" * 500, 100)
    assert cut == "x" * 99 + "…"
