"""What a search or recall covers: current or all versions, the archive, a
period, what was true at a moment (``as_of``), what changed since one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.errors import InvalidInput
from memory import item_types
from memory import validation as check

ARCHIVED_CHOICES = ("exclude", "include", "only")
TABLES = {
    "observation": "observations",
    "pattern": "patterns",
    "concept": "concepts",
    "document": "documents",
    "turn": "turns",
}


def valid_from(kind: str, table: str) -> str:
    """SQL: when a memory became true: when it happened, if it says, else when it was recorded."""
    return (
        f"coalesce({table}.occurred_at, {table}.created_at)"
        if kind in ("observation", "turn")
        else f"{table}.created_at"
    )


@dataclass(frozen=True)
class Scope:
    """What a search or recall covers."""

    include_history: bool = False  # superseded versions too
    since: datetime | None = None
    until: datetime | None = None
    by: str = "recorded"  # or "occurred" (only observations and turns say when something happened)
    archived: str = "exclude"  # or "include", or "only" (the archive on its own)
    # The versions that were true then: became true by then, and not yet
    # replaced by a version that had (replaced versions included).
    as_of: datetime | None = None
    # Only what changed since: added, replaced or archived then or later
    # (replaced and archived memories included: they are the change).
    changed_since: datetime | None = None

    @classmethod
    def parse(
        cls,
        include_history: bool = False,
        since: str | None = None,
        until: str | None = None,
        time_field: str = "recorded",
        archived: str = "exclude",
        as_of: str | None = None,
        changed_since: str | None = None,
    ) -> Scope:
        if time_field not in ("recorded", "occurred"):
            raise InvalidInput("time_field", "must be 'recorded' or 'occurred'")
        if archived not in ARCHIVED_CHOICES:
            raise InvalidInput("archived", "must be 'exclude', 'include' or 'only'")
        scope = cls(
            include_history,
            check.moment("since", since),
            check.moment("until", until),
            time_field,
            archived,
            check.moment("as_of", as_of),
            check.moment("changed_since", changed_since),
        )
        if scope.since and scope.until and scope.since > scope.until:
            raise InvalidInput("until", "must not be before since")
        if scope.as_of and scope.changed_since:
            raise InvalidInput("changed_since", "cannot be combined with as_of (one asks what was, one what changed)")
        return scope

    @property
    def bounded(self) -> bool:
        """Whether it leaves out memories a vector search knows nothing about (time)."""
        return any(moment is not None for moment in (self.since, self.until, self.as_of, self.changed_since))

    @property
    def params(self) -> dict[str, Any]:
        """The values ``sql``'s conditions bind."""
        return {"since": self.since, "until": self.until, "as_of": self.as_of, "changed_since": self.changed_since}

    def sql(self, kind: str) -> list[str]:
        """WHERE conditions for ``kind``'s table, its columns named with the
        table's name (binds ``params``)."""
        table = TABLES[kind]
        conditions = []
        if self.archived != "include" and self.changed_since is None:
            state = "IS NULL" if self.archived == "exclude" else "IS NOT NULL"
            conditions.append(f"{table}.archived_at {state}")
        versioned = kind in item_types.VERSIONED
        replaced_by = f"(SELECT {{column}} FROM {table} AS newer WHERE newer.id = {table}.superseded_by_id)"
        if self.as_of is not None:
            conditions.append(f"{valid_from(kind, table)} <= :as_of")
            if versioned:
                newer_from = replaced_by.format(column=valid_from(kind, "newer"))
                conditions.append(f"({table}.superseded_by_id IS NULL OR {newer_from} > :as_of)")
        elif self.changed_since is not None:
            changed = [f"{table}.created_at >= :changed_since", f"{table}.archived_at >= :changed_since"]
            if versioned:
                changed.append(f"{replaced_by.format(column='newer.created_at')} >= :changed_since")
            conditions.append(f"({' OR '.join(changed)})")
        elif versioned and not self.include_history:
            conditions.append(f"{table}.superseded_by_id IS NULL")
        if self.since or self.until:
            said_when = f"{table}.occurred_at" if kind in ("observation", "turn") else "NULL"
            column = f"{table}.created_at" if self.by == "recorded" else said_when
            if self.since:
                conditions.append(f"{column} >= :since")
            if self.until:
                conditions.append(f"{column} <= :until")
        return conditions
