"""Other names for what a query names: a concept's name and its aliases
are one thing, so a query saying "Bob" also finds memories that say
"Robert Chen" (and the other way round) by their words. Search runs its
keyword side once more for each variant (hybrid_search); meaning needs no
help where a model knows the names, and cannot know a private nickname.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

# Names of up to this many words are looked up, and at most this many
# variants searched (each is one more keyword pass).
MAX_NAME_WORDS = 4
MAX_VARIANTS = 3
MAX_QUERY_WORDS = 64  # of a long query, names are looked for among the first this many words
_WORD = re.compile(r"[^\W_]+(?:['’.-][^\W_]+)*")
_POSSESSIVE = re.compile(r"['’]s$", re.IGNORECASE)

# The concepts a query names (by name or alias, through the owners' unique
# lower-case indexes), and every other form of each.
_OTHER_FORMS = text(
    "WITH named AS ("
    "SELECT id AS concept_id, lower(name) AS said FROM concepts "
    "WHERE owner_id = ANY(:owners) AND lower(name) = ANY(:phrases) "
    "UNION SELECT concept_id, lower(alias) FROM concept_aliases "
    "WHERE owner_id = ANY(:owners) AND lower(alias) = ANY(:phrases)) "
    "SELECT named.said, c.name, lower(c.type) = 'person' FROM named JOIN concepts c ON c.id = named.concept_id "
    "UNION SELECT named.said, a.alias, false FROM named JOIN concept_aliases a ON a.concept_id = named.concept_id "
    "ORDER BY 1, 2"
)


def variants(db: Session, *, owners: Sequence[uuid.UUID], query: str) -> list[str]:
    """``query`` with a named concept's name or alias replaced by each of its
    other forms (at most MAX_VARIANTS, longest names first); none when it
    names no concept of ``owners``."""
    phrases = _phrases(query)
    if not phrases:
        return []
    rows = db.execute(_OTHER_FORMS, {"owners": list(owners), "phrases": sorted(phrases)}).all()
    found: list[str] = []
    for said, form in _forms(rows):
        variant = _put(form, instead_of=said, into=query)
        if variant != query and variant not in found:
            found.append(variant)
        if len(found) == MAX_VARIANTS:
            break
    return found


def _put(form: str, *, instead_of: str, into: str) -> str:
    """``into`` with its first ``instead_of`` (as whole words, any case) made ``form``, taken as written."""
    found = re.search(rf"(?<!\w){re.escape(instead_of)}(?!\w)", into, flags=re.IGNORECASE)
    return into if found is None else into[: found.start()] + form + into[found.end() :]


def _forms(rows: Sequence[tuple[str, str, bool]]) -> list[tuple[str, str]]:
    """(what the query said, another form of it), the longest names said
    first, each concept's full forms before a person's first name (people
    are mostly written of by it: "Dmitri" for the person named "Dmitri
    Volkov"). ``rows``: (said, form, whether the form is a person's name)."""
    full = [(said, form) for said, form, _ in rows if form.lower() != said]
    first_names = []
    for said, form, persons_name in rows:
        words = form.split()
        if persons_name and len(words) > 1 and words[0].lower() != said:
            first_names.append((said, words[0]))
    return sorted(full, key=lambda pair: -len(pair[0])) + sorted(first_names, key=lambda pair: -len(pair[0]))


def _phrases(query: str) -> set[str]:
    """Every run of one to MAX_NAME_WORDS words, lower case, a possessive's 's dropped from its last word."""
    words = _WORD.findall(query.lower())[:MAX_QUERY_WORDS]
    phrases = set()
    for start in range(len(words)):
        for end in range(start + 1, min(start + MAX_NAME_WORDS, len(words)) + 1):
            phrase = " ".join(words[start:end])
            phrases.add(phrase)
            phrases.add(_POSSESSIVE.sub("", phrase))
    return phrases
