"""Tables of the station database kept by other parts than the job pipeline (users, requests,
hand-overs, approvals): one connection each, the tables made once per database file and
process, closed as a context manager."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import ClassVar, Self

_READY: set[tuple[str, int, str]] = set()      # (database, inode, class) whose tables exist


class StationTables:
    """A connection to the station database at `path` with this class's SCHEMA in place."""

    SCHEMA: ClassVar[str] = ""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, timeout=30, isolation_level=None,
                                     check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        # Once per database file and process, not on every web request (a database that
        # was replaced is a new file and gets its tables again).
        key = (str(path), path.stat().st_ino, type(self).__qualname__)
        if key not in _READY:
            self._conn.executescript(self.SCHEMA)
            _READY.add(key)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
