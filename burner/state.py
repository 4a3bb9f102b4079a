"""The station's durable record of jobs, stages, attempts, copies and history (SQLite, WAL).

The spool folders say where a job is; this database says how far it got and why.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from burner.errors import BurnerError

RESERVE_BYTES = 8 * 1024 * 1024
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    stage TEXT NOT NULL DEFAULT '',
    stages_done TEXT NOT NULL DEFAULT '[]',
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0,
    reason TEXT NOT NULL DEFAULT '',
    reason_code TEXT NOT NULL DEFAULT '',
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    media TEXT NOT NULL DEFAULT '',
    station TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    at REAL NOT NULL,
    stage TEXT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    code TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS copies (
    job_id TEXT NOT NULL,
    volume INTEGER NOT NULL,
    copy INTEGER NOT NULL,
    drive TEXT NOT NULL,
    medium TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (job_id, volume, copy)
);
CREATE TABLE IF NOT EXISTS station_info (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS prints (
    job_id TEXT NOT NULL,
    item TEXT NOT NULL,
    path TEXT NOT NULL,
    state TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    at REAL NOT NULL,
    PRIMARY KEY (job_id, item)
);
CREATE TABLE IF NOT EXISTS volumes (
    job_id TEXT NOT NULL,
    volume INTEGER NOT NULL,
    content TEXT NOT NULL,
    PRIMARY KEY (job_id, volume)
);
"""
# Columns added after the first release: (table, column, definition). A database made by an
# earlier version gets them when it is opened (ALTER TABLE ... ADD COLUMN), its rows ''.
_ADDED_COLUMNS = (
    ("jobs", "reason_code", "TEXT NOT NULL DEFAULT ''"),
    ("history", "code", "TEXT NOT NULL DEFAULT ''"),
)


class PrintState(StrEnum):
    PRINTED = "printed"      # handed to the printer (a CUPS queue, or the prints folder)
    PENDING = "pending"      # the printer failed: waits for `burner reprint`
    FAILED = "failed"        # the PDF could not be made


class JobState(StrEnum):
    ACTIVE = "active"
    WAITING = "waiting"      # a device fault: retried after not_before
    DONE = "done"
    HELD = "held"
    REJECTED = "rejected"
    QUEUED = "queued"        # sent back to approved/ by `burner retry`: may be claimed again


@dataclass(frozen=True)
class JobRow:
    job_id: str
    state: str
    stage: str
    stages_done: tuple[str, ...]
    attempts: int
    not_before: float
    reason: str
    cancel_requested: bool
    media: str
    station: str
    created: float
    updated: float
    reason_code: str = ""        # errors.Reason of `reason` ('' while nothing is wrong)


class StateDB:
    """One connection per thread; every write is its own short transaction."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.reserve = path.with_name(path.name + ".reserve")
        self._conn = sqlite3.connect(path, timeout=30, isolation_level=None,
                                     check_same_thread=False)
        try:
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
            self._add_columns()
            # Which database this is: a job folder claimed under it carries the same mark, so
            # a database lost or replaced (restored, emptied) is noticed, never trusted.
            self._conn.execute("INSERT OR IGNORE INTO station_info VALUES ('generation', ?)",
                               (uuid.uuid4().hex,))
            self.generation = str(self._conn.execute(
                "SELECT value FROM station_info WHERE key = 'generation'").fetchone()[0])
            if str(path) != ":memory:":
                self._keep_reserve()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            if "locked" in str(exc) or "busy" in str(exc):
                raise
            if "full" in str(exc):
                raise BurnerError(f"The disk holding the station's database {path} is full. "
                                  "Free some space (burner cleanup deletes the work files of "
                                  "finished jobs), then start it again.") from None
            raise BurnerError(
                f"The station's database {path} is damaged or is not a burner database "
                f"({exc}). Nothing was changed. A technician should move it aside (keep it "
                "for a look) before the station runs again.") from None

    def _add_columns(self) -> None:
        """Bring a database of an earlier version up to this schema, in one transaction so
        that two processes opening it at once do not both add a column."""
        def missing(c: sqlite3.Connection) -> list[tuple[str, str, str]]:
            have = {(t, r[1]) for t in {t for t, _, _ in _ADDED_COLUMNS}
                    for r in c.execute(f"PRAGMA table_info({t})")}
            return [a for a in _ADDED_COLUMNS if (a[0], a[1]) not in have]

        if not missing(self._conn):
            return
        with self._tx() as c:
            for table, column, definition in missing(c):
                c.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")

    def _keep_reserve(self) -> None:
        """A few MB kept on the database's disk, given up the moment the disk is full, so
        that the failure can still be recorded (and the job wait, not loop)."""
        try:
            if not self.reserve.exists():
                with open(self.reserve, "wb") as fp:
                    os.posix_fallocate(fp.fileno(), 0, RESERVE_BYTES)
        except OSError:
            self.reserve.unlink(missing_ok=True)

    def _write(self, do: Callable[[sqlite3.Connection], None]) -> None:
        """Run `do` in one transaction; on a full disk, give up the reserve and try once more."""
        for last in (False, True):
            try:
                with self._tx() as c:
                    do(c)
                return
            except sqlite3.OperationalError as exc:
                if last or "full" not in str(exc) or not self.reserve.exists():
                    raise
                self.reserve.unlink(missing_ok=True)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> StateDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _log(self, conn: sqlite3.Connection, job_id: str, stage: str, event: str,
             detail: str = "", code: str = "") -> None:
        conn.execute("INSERT INTO history (job_id, at, stage, event, detail, code) "
                     "VALUES (?,?,?,?,?,?)", (job_id, time.time(), stage, event, detail, code))

    def add_job(self, job_id: str, station: str) -> None:
        """Start a fresh record for a claimed job: its stages run again from the start. The
        copies and printouts recorded for it stay (a job queued again by `retry` makes only
        what is missing); only `requeue(start_over=True)` lets go of them."""
        now = time.time()
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO jobs (job_id, state, station, created, updated) "
                "VALUES (?,?,?,?,?)", (job_id, JobState.ACTIVE, station, now, now))
            self._log(c, job_id, "claim", "claimed", station)

    def requeue(self, job_id: str, start_over: bool = False) -> None:
        """A held or rejected job sent back to approved/: its next claim is not a duplicate.
        With `start_over` every copy and printout is made anew: the records of those made
        before move into the job's history, where they stay."""
        with self._tx() as c:
            if start_over:
                for r in c.execute("SELECT * FROM copies WHERE job_id=?", (job_id,)).fetchall():
                    self._log(c, job_id, "write", "copy set aside (start over)",
                              f"volume {r['volume']} copy {r['copy']} on {r['drive']}: "
                              f"{r['medium']} sha256 {r['sha256']}")
                for r in c.execute("SELECT * FROM prints WHERE job_id=?", (job_id,)).fetchall():
                    self._log(c, job_id, "print", "printout set aside (start over)",
                              f"{r['item']} {r['state']}: {r['path']}")
                for table in ("copies", "prints", "volumes"):
                    c.execute(f"DELETE FROM {table} WHERE job_id=?", (job_id,))
            c.execute("UPDATE jobs SET state=?, reason=?, reason_code='', updated=? "
                      "WHERE job_id=?",
                      (JobState.QUEUED, "queued again by an operator", time.time(), job_id))
            self._log(c, job_id, "", "queued", "start over" if start_over else "")

    def set_aside_copies(self, job_id: str, why: str) -> list[str]:
        """Stop counting the job's copies (a cancelled job hands none out): their records move
        into the job's history. Returns where each copy was."""
        with self._tx() as c:
            rows = c.execute("SELECT * FROM copies WHERE job_id=? ORDER BY volume, copy",
                             (job_id,)).fetchall()
            for r in rows:
                self._log(c, job_id, "write", f"copy set aside ({why})",
                          f"volume {r['volume']} copy {r['copy']} on {r['drive']}: "
                          f"{r['medium']} sha256 {r['sha256']}")
            c.execute("DELETE FROM copies WHERE job_id=?", (job_id,))
        return [r["medium"] for r in rows]

    def get(self, job_id: str) -> JobRow | None:
        row = self._conn.execute("SELECT * FROM jobs WHERE job_id=?", (job_id,)).fetchone()
        return _row(row) if row else None

    def jobs(self, states: tuple[str, ...] | None = None) -> list[JobRow]:
        if states:
            marks = ",".join("?" * len(states))
            rows = self._conn.execute(
                f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY created", states)
        else:
            rows = self._conn.execute("SELECT * FROM jobs ORDER BY created")
        return [_row(r) for r in rows]

    def mark_stages_done(self, job_id: str, stages: list[str], detail: str) -> None:
        """Record stages as finished without running them (a rebuilt record)."""
        with self._tx() as c:
            c.execute("UPDATE jobs SET stages_done=?, updated=? WHERE job_id=?",
                      (json.dumps(stages), time.time(), job_id))
            self._log(c, job_id, "recover", "stages", detail)

    def stage_started(self, job_id: str, stage: str) -> None:
        with self._tx() as c:
            c.execute("UPDATE jobs SET stage=?, updated=? WHERE job_id=?",
                      (stage, time.time(), job_id))
            self._log(c, job_id, stage, "started")

    def stage_done(self, job_id: str, stage: str, detail: str = "") -> None:
        with self._tx() as c:
            done = json.loads(c.execute("SELECT stages_done FROM jobs WHERE job_id=?",
                                        (job_id,)).fetchone()[0])
            if stage not in done:
                done.append(stage)
            c.execute("UPDATE jobs SET stages_done=?, updated=? WHERE job_id=?",
                      (json.dumps(done), time.time(), job_id))
            self._log(c, job_id, stage, "finished", detail)

    def set_state(self, job_id: str, state: JobState, reason: str = "", *,
                  code: str = "", not_before: float = 0, attempts_delta: int = 0) -> None:
        """How the job stands, why (`reason` in words, `code` an errors.Reason); written
        even on a full disk (the reserve is given up)."""
        def do(c: sqlite3.Connection) -> None:
            c.execute("UPDATE jobs SET state=?, reason=?, reason_code=?, not_before=?, "
                      "attempts=attempts+?, updated=? WHERE job_id=?",
                      (state, reason, str(code), not_before, attempts_delta, time.time(),
                       job_id))
            self._log(c, job_id, "", state, reason, str(code))

        self._write(do)

    def resume(self, job_id: str) -> None:
        """Take a held job up again where it stopped: finished stages and copies stay."""
        with self._tx() as c:
            c.execute("UPDATE jobs SET state=?, attempts=0, not_before=0, reason='', "
                      "reason_code='', cancel_requested=0, updated=? WHERE job_id=?",
                      (JobState.ACTIVE, time.time(), job_id))
            self._log(c, job_id, "", "resumed")

    def set_media(self, job_id: str, media: str) -> None:
        """The medium the plan chose: which writers may take the job."""
        with self._tx() as c:
            c.execute("UPDATE jobs SET media=?, updated=? WHERE job_id=?",
                      (media, time.time(), job_id))

    def request_cancel(self, job_id: str) -> None:
        with self._tx() as c:
            c.execute("UPDATE jobs SET cancel_requested=1 WHERE job_id=?", (job_id,))
            self._log(c, job_id, "", "cancel requested")

    def record_copy(self, job_id: str, volume: int, copy: int, drive: str, medium: str,
                    sha256: str) -> None:
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO copies VALUES (?,?,?,?,?,?,?)",
                      (job_id, volume, copy, drive, medium, sha256, time.time()))
            self._log(c, job_id, "write", "copy verified", f"volume {volume} copy {copy}")

    def record_volumes(self, job_id: str, contents: dict[int, str]) -> None:
        """What each volume holds (write.contents_of), kept beside the copies made of it."""
        with self._tx() as c:
            c.executemany("INSERT OR REPLACE INTO volumes VALUES (?,?,?)",
                          [(job_id, v, content) for v, content in contents.items()])

    def volume_contents(self, job_id: str) -> dict[int, str]:
        return {r["volume"]: r["content"] for r in self._conn.execute(
            "SELECT volume, content FROM volumes WHERE job_id=?", (job_id,))}

    def copies(self, job_id: str) -> list[sqlite3.Row]:
        return list(self._conn.execute(
            "SELECT * FROM copies WHERE job_id=? ORDER BY volume, copy", (job_id,)))

    def record_print(self, job_id: str, item: str, path: str, state: PrintState,
                     detail: str = "") -> None:
        """The outcome of printing one item of a job (cover, label1, ...), replacing the last."""
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO prints VALUES (?,?,?,?,?,?)",
                      (job_id, item, path, state, detail, time.time()))
            self._log(c, job_id, "print", f"{item} {state}", detail)

    def clear_prints(self, job_id: str) -> None:
        with self._tx() as c:
            c.execute("DELETE FROM prints WHERE job_id=?", (job_id,))

    def prints(self, job_id: str) -> list[sqlite3.Row]:
        return list(self._conn.execute(
            "SELECT * FROM prints WHERE job_id=? ORDER BY item", (job_id,)))

    def history(self, job_id: str) -> list[sqlite3.Row]:
        return list(self._conn.execute(
            "SELECT * FROM history WHERE job_id=? ORDER BY id", (job_id,)))

    def note(self, job_id: str, stage: str, event: str, detail: str = "") -> None:
        with self._tx() as c:
            self._log(c, job_id, stage, event, detail)


def _row(row: sqlite3.Row) -> JobRow:
    return JobRow(
        job_id=row["job_id"], state=row["state"], stage=row["stage"],
        stages_done=tuple(json.loads(row["stages_done"])), attempts=row["attempts"],
        not_before=row["not_before"], reason=row["reason"],
        cancel_requested=bool(row["cancel_requested"]), media=row["media"],
        station=row["station"],
        created=row["created"], updated=row["updated"], reason_code=row["reason_code"])
