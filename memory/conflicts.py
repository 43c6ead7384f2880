"""Possible conflicts: current observations a new one may replace.

"Ann moved to Lisbon" makes "Ann lives in Porto" stale, but only the agent
can know that for sure; storing lists the candidate (``possible_conflicts``)
so it can supersede it in one more call. Nothing is retired here, and no
language model is asked: a candidate is the current observation closest in
meaning to the new one, about the same subject, and either said in words of
change ("moved", "no longer", "switched to", "from … to") or close enough to
be the same claim restated otherwise. Measured on a labelled set of updates
and same-subject additions in bench/conflicts.py (docs/benchmarks.md).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from memory import knowledge, search_candidates
from memory.local_models import ConflictBar

# The nearest observations looked at; the candidate is the closest of them
# about the same subject.
NEAREST = 5

# Words people use when a fact replaces an earlier one. On their own, in
# the labelled set: 66 of its 89 updates say one, and 10 of its 85 additions
# (8 of them written to, about a subject with no such fact to replace).
CHANGE_WORDING = re.compile(
    r"\b(?:now|no longer|any ?more|no more|instead|moved|switched|replaced|left|quit|stopped|gave up|changed|"
    r"upgraded|downgraded|sold|dropped|took over|handed|retired|stepped down|cancell?ed|broke up|divorced|"
    r"raised|cut|lowered|relocated|rewritten|finished)\b|\bfrom \S+(?: \S+)? to\b",
    re.IGNORECASE,
)
# Capitalised words name someone or something ("Ann", "Acme's", "PostgreSQL"),
# but for these, which only start sentences.
CAPITALISED = re.compile(r"\b[A-Z][\w-]*")
SENTENCE_OPENERS = (
    "the a an he she they it his her their its i we our my this that these those now then after before since on in at "
    "from to"
)
NOT_NAMES = frozenset(SENTENCE_OPENERS.split())
# The person the memory belongs to, however an agent words them.
THE_USER = re.compile(r"\b(?:the user|user's|user|I|my|me|mine)\b", re.IGNORECASE)
USER_SUBJECT = "@user"


def possible_conflicts(
    db: Session,
    *,
    owner_id: uuid.UUID,
    text: str,
    vector: list[float],
    model: str,
    bar: ConflictBar,
    exclude: set[int],
) -> list[dict[str, str]]:
    """The owner's current observations ``text`` may replace (ref and text),
    at most one today; ``exclude`` are observation ids it is known not to
    conflict with (the one it supersedes)."""
    nearest = _nearest_current(db, owner_id=owner_id, vector=vector, model=model, exclude=exclude)
    nearest = [(item_id, said, similarity) for item_id, said, similarity in nearest if similarity >= bar.close]
    if not nearest:
        return []
    concepts = knowledge.concepts_named_in(db, owner_id=owner_id, texts=[text, *(said for _, said, _ in nearest)])
    subject = Subject.of(text, concepts)
    for item_id, said, similarity in nearest:  # closest first
        if not subject.same_as(Subject.of(said, concepts)):
            continue
        if CHANGE_WORDING.search(text) or similarity >= bar.restated:
            return [{"ref": f"observation:{item_id}", "text": said}]
        return []
    return []


@dataclass(frozen=True)
class Subject:
    """Who or what a text is about, as far as its words tell: the name it
    opens with (its grammatical subject, mostly) and every name in it. A name
    the owner has as a concept or alias stands for that concept, so "Bob" is
    Robert when Bob is Robert's alias; the user themself is a name too."""

    lead: str | None
    names: frozenset[str]

    @classmethod
    def of(cls, text: str, concepts: dict[str, int]) -> Subject:
        names = {_named(word, concepts) for word in CAPITALISED.findall(text)} - NOT_NAMES
        if THE_USER.search(text):
            names.add(USER_SUBJECT)
        if THE_USER.match(text):
            return cls(lead=USER_SUBJECT, names=frozenset(names))
        opening = CAPITALISED.match(text)
        lead = _named(opening.group(), concepts) if opening else None
        return cls(lead=None if lead in NOT_NAMES else lead, names=frozenset(names))

    def same_as(self, other: Subject) -> bool:
        """Unless one names the other's subject ("Paula Reyes left Acme" and
        "Acme's contact is Paula Reyes"), two texts opening with different
        names are about different subjects ("Paul moved to Porto" is not about
        "Ann lives in Porto"); a text opening with none ("Stand-up moved to
        10:00", "The wedding moved to Porto") may be about anyone's."""
        if self.lead is None or other.lead is None:
            return True
        return self.lead in other.names or other.lead in self.names


def _named(word: str, concepts: dict[str, int]) -> str:
    name = word.lower().removesuffix("'s").removesuffix("’s")
    return f"concept:{concepts[name]}" if name in concepts else name


def _nearest_current(
    db: Session, *, owner_id: uuid.UUID, vector: list[float], model: str, exclude: set[int]
) -> list[tuple[int, str, float]]:
    """The owner's current observations nearest ``vector``: (id, text, cosine similarity), closest first."""
    near = search_candidates.vector_candidates(
        db,
        owner_id=owner_id,
        model=model,
        vector=search_candidates.vector_literal(vector),
        kinds=("observation",),
        k=NEAREST + len(exclude),
    )
    distances = {item_id: distance for _, item_id, distance in near if item_id not in exclude}
    if not distances:
        return []
    rows = db.execute(
        sql_text(
            "SELECT id, observation FROM observations WHERE owner_id = :owner AND id = ANY(:ids) "
            "AND superseded_by_id IS NULL AND archived_at IS NULL"
        ),
        {"owner": owner_id, "ids": list(distances)},
    ).all()
    return sorted(((row.id, row.observation, 1.0 - distances[row.id]) for row in rows), key=lambda r: -r[2])
