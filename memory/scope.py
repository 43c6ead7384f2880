"""What a search or recall covers: current or all versions, the archive, a period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.errors import InvalidInput
from memory import item_types
from memory import validation as check

ARCHIVED_CHOICES = ("exclude", "include", "only")


@dataclass(frozen=True)
class Scope:
    """What a search or recall covers."""

    include_history: bool = False  # superseded versions too
    since: datetime | None = None
    until: datetime | None = None
    by: str = "recorded"  # or "occurred" (only observations and turns say when something happened)
    archived: str = "exclude"  # or "include", or "only" (the archive on its own)

    @classmethod
    def parse(
        cls,
        include_history: bool = False,
        since: str | None = None,
        until: str | None = None,
        time_field: str = "recorded",
        archived: str = "exclude",
    ) -> Scope:
        if time_field not in ("recorded", "occurred"):
            raise InvalidInput("time_field", "must be 'recorded' or 'occurred'")
        if archived not in ARCHIVED_CHOICES:
            raise InvalidInput("archived", "must be 'exclude', 'include' or 'only'")
        scope = cls(include_history, check.moment("since", since), check.moment("until", until), time_field, archived)
        if scope.since and scope.until and scope.since > scope.until:
            raise InvalidInput("until", "must not be before since")
        return scope

    @property
    def bounded(self) -> bool:
        return self.since is not None or self.until is not None

    def sql(self, kind: str) -> list[str]:
        """WHERE conditions for ``kind``'s table (binds :since and :until)."""
        conditions = []
        if self.archived != "include":
            conditions.append("archived_at IS NULL" if self.archived == "exclude" else "archived_at IS NOT NULL")
        if kind in item_types.VERSIONED and not self.include_history:
            conditions.append("superseded_by_id IS NULL")
        if self.bounded:
            said_when = "occurred_at" if kind in ("observation", "turn") else "NULL"
            column = "created_at" if self.by == "recorded" else said_when
            if self.since:
                conditions.append(f"{column} >= :since")
            if self.until:
                conditions.append(f"{column} <= :until")
        return conditions

    def admits(self, item: item_types.MemoryItem) -> bool:
        if self.archived != "include" and (item.archived_at is None) != (self.archived == "exclude"):
            return False
        if not self.include_history and item_types.superseded_by(item) is not None:
            return False
        if not self.bounded:
            return True
        when = item.created_at if self.by == "recorded" else getattr(item, "occurred_at", None)
        return when is not None and (not self.since or when >= self.since) and (not self.until or when <= self.until)
