"""Reading the rows a filter plan may match, page by page, without holding a statement open."""

from __future__ import annotations

import sqlite3
from array import array

from mindtrace.database.backends.local.sqlite_pushdown import FALSE, TRUE, FilterPlan
from mindtrace.database.core import typed_json

__all__ = ["RowScan"]


class RowScan:
    """Reads the rows a filter plan may match in rowid order, one page per call, holding no
    statement open between pages (so callers may write, or await, in between).

    Without a ``WHERE`` restriction it pages by rowid (``rowid > last``). With one it first lists
    the candidate rowids (SQLite is then free to use an index; paging by rowid would make it scan
    the table in rowid order) and reads pages of those, re-checking ``WHERE`` on rows that changed
    in between. Memory: 8 bytes per candidate.
    """

    def __init__(self, table: str, plan: FilterPlan) -> None:
        self._table = table
        self._plan = plan
        self._flagged = not plan.exact and plan.check is not FALSE
        self._columns = f"rowid, id, doc, ({plan.check.text})" if self._flagged else "rowid, id, doc"
        self._rowids: array[int] | None = None
        self._position = 0
        self._last = 0
        self.done = plan.where is FALSE

    def next_page(self, db: sqlite3.Connection, size: int) -> list[tuple[int, str, str, bool]]:
        """Up to ``size`` rows: (rowid, id, stored JSON, certainly matches). Sets ``done``."""
        plan, columns = self._plan, self._columns
        check_params = plan.check.params if self._flagged else ()
        if plan.where is TRUE:
            batch = db.execute(
                f"SELECT {columns} FROM {self._table} WHERE rowid > ? ORDER BY rowid LIMIT {int(size)}",
                (*check_params, self._last),
            ).fetchall()
            self.done = len(batch) < size
        else:
            if self._rowids is None:
                self._rowids = array(
                    "q",
                    sorted(
                        r[0]
                        for r in db.execute(
                            f"SELECT rowid FROM {self._table} WHERE {plan.where.text}", plan.where.params
                        )
                    ),
                )
            chunk = self._rowids[self._position : self._position + size]
            self._position += size
            self.done = self._position >= len(self._rowids)
            if not chunk:
                return []
            batch = db.execute(
                f"SELECT {columns} FROM {self._table} WHERE rowid IN (SELECT value FROM json_each(?)) "
                f"AND ({plan.where.text}) ORDER BY rowid",
                (*check_params, typed_json.dumps_text(chunk.tolist()), *plan.where.params),
            ).fetchall()
        if batch:
            self._last = batch[-1][0]
        exact, flagged = plan.exact, self._flagged
        return [(r[0], r[1], r[2], exact or (flagged and bool(r[3]))) for r in batch]
