"""The register of patients' requests for copies of their imaging (DESIGN.md section 9, issue
12): a request is the legal unit, with its received date, due date, fee and history; it becomes
one job (or several) when images are attached and approved, and ends when every disc is handed
over or mailed.

Kept in the station database beside the jobs. Patient data lives here (it must: the desk works
from it) but never goes to a log, a URL or the action log: those name the request id only.
Dates are `datetime.date`; nothing here asks the clock itself: callers pass `today` (the web
app from its Clock, tests a fixed date).
"""

from __future__ import annotations

import datetime
import json
import sqlite3
import time
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum

from burner.errors import BurnerError, Reason
from burner.tables import StationTables

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    received TEXT NOT NULL,
    due TEXT NOT NULL,
    data TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS request_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    at REAL NOT NULL,
    user TEXT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS request_jobs (
    request_id TEXT NOT NULL,
    job_id TEXT NOT NULL PRIMARY KEY
);
"""


class RequestState(StrEnum):
    OPEN = "open"                  # registered; no images approved yet
    AWAITING_SECOND = "awaiting second approval"   # four eyes: one person approved
    IN_PROGRESS = "in progress"    # its job(s) are being made
    READY = "ready"                # every job done: waiting for hand-over or mailing
    HANDED_OVER = "handed over"    # every disc handed over or mailed
    CANCELLED = "cancelled"        # withdrawn by the requester or the office


OPEN_STATES = (RequestState.OPEN, RequestState.AWAITING_SECOND, RequestState.IN_PROGRESS,
               RequestState.READY)

REQUESTERS = ("patient", "representative", "third party")
FORMATS = ("cd", "dvd", "usb", "electronic", "send")          # what is asked for
DELIVERIES = ("pickup", "mail", "portal")


class RequestRefused(BurnerError):
    """A request, or a change to one, that cannot be accepted: the words say what to fix."""

    exit_code = 2
    code = Reason.BAD_REQUEST


class NoSuchRequest(BurnerError):
    exit_code = 2
    code = Reason.BAD_REQUEST


@dataclass(frozen=True)
class Patient:
    name: str                 # DICOM PN, e.g. DOE^JANE
    id: str
    issuer: str
    birth_date: datetime.date


@dataclass(frozen=True)
class Requester:
    kind: str                 # REQUESTERS
    name: str = ""            # a representative's or third party's name
    relationship: str = ""    # a representative's relationship to the patient


@dataclass(frozen=True)
class Scope:
    """What is asked for: listed exams, or all imaging between two dates."""

    exams: tuple[str, ...] = ()               # accession numbers or descriptions
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None


@dataclass(frozen=True)
class Fee:
    amount: str               # decimal text, e.g. "6.50"
    currency: str
    basis: str                # flat, per medium, actual cost
    items: tuple[tuple[str, str], ...] = ()   # (what, amount) for actual cost


@dataclass(frozen=True)
class Extension:
    reason: str
    new_due: datetime.date
    at: float
    by: str
    original_due: datetime.date | None = None   # the due date before the extension
    given: datetime.date | None = None          # the day it was given (the desk's clock)


@dataclass(frozen=True)
class Request:
    id: str
    patient: Patient
    requester: Requester
    scope: Scope
    format: str               # FORMATS
    delivery: str             # DELIVERIES
    received: datetime.date
    due: datetime.date        # received + the site's days, or the extension's date
    fee: Fee
    state: RequestState = RequestState.OPEN
    extension: Extension | None = None
    note: str = ""
    created_by: str = ""
    jobs: tuple[str, ...] = field(default=())     # filled from request_jobs when read

    def days_left(self, today: datetime.date) -> int:
        """Calendar days until the due date (negative: overdue)."""
        return (self.due - today).days

    def overdue(self, today: datetime.date) -> bool:
        return self.state in OPEN_STATES and today > self.due


def _to_json(request: Request) -> str:
    def plain(value: object) -> object:
        if isinstance(value, datetime.date):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    data = asdict(request)
    data.pop("jobs")
    return json.dumps(plain(data), sort_keys=True)


def _date(text: str | None) -> datetime.date | None:
    return datetime.date.fromisoformat(text) if text else None


def _from_row(row: sqlite3.Row, jobs: tuple[str, ...]) -> Request:
    d = json.loads(row["data"])
    p, r, s, f, x = d["patient"], d["requester"], d["scope"], d["fee"], d.get("extension")
    return Request(
        id=row["id"],
        patient=Patient(p["name"], p["id"], p["issuer"], datetime.date.fromisoformat(
            p["birth_date"])),
        requester=Requester(r["kind"], r["name"], r["relationship"]),
        scope=Scope(tuple(s["exams"]), _date(s["date_from"]), _date(s["date_to"])),
        format=d["format"], delivery=d["delivery"],
        received=datetime.date.fromisoformat(row["received"]),
        due=datetime.date.fromisoformat(row["due"]),
        fee=Fee(f["amount"], f["currency"], f["basis"], tuple(tuple(i) for i in f["items"])),
        state=RequestState(row["state"]),
        extension=Extension(x["reason"], datetime.date.fromisoformat(x["new_due"]), x["at"],
                            x["by"], _date(x.get("original_due")),
                            _date(x.get("given"))) if x else None,
        note=d.get("note", ""), created_by=d.get("created_by", ""), jobs=jobs)


class Register(StationTables):
    """The requests in the station database at `path`."""

    SCHEMA = _SCHEMA

    def new_id(self, today: datetime.date) -> str:
        """The next request id of the year: RQ-2026-0001."""
        prefix = f"RQ-{today.year}-"
        row = self._conn.execute("SELECT id FROM requests WHERE id LIKE ? ORDER BY id DESC "
                                 "LIMIT 1", (prefix + "%",)).fetchone()
        number = int(row["id"][len(prefix):]) + 1 if row else 1
        return f"{prefix}{number:04d}"

    def add(self, request: Request, user: str) -> Request:
        """Register `request` (its id from new_id)."""
        now = time.time()
        self._conn.execute(
            "INSERT INTO requests (id, state, received, due, data, created, updated) "
            "VALUES (?,?,?,?,?,?,?)",
            (request.id, request.state, request.received.isoformat(), request.due.isoformat(),
             _to_json(request), now, now))
        self.event(request.id, user, "registered")
        return self.get(request.id)

    def save(self, request: Request, user: str, event: str, detail: str = "") -> Request:
        """Store a changed request and say what changed in its history."""
        self._conn.execute("UPDATE requests SET state=?, due=?, data=?, updated=? WHERE id=?",
                           (request.state, request.due.isoformat(), _to_json(request),
                            time.time(), request.id))
        self.event(request.id, user, event, detail)
        return self.get(request.id)

    def set_state(self, request_id: str, state: RequestState, user: str,
                  detail: str = "") -> Request:
        return self.save(replace(self.get(request_id), state=state), user, str(state), detail)

    def mark_ready(self) -> list[str]:
        """Requests in progress whose jobs are all done become READY; the event is dated when
        the last of their jobs finished. Done whenever requests are read, so the register
        follows the station without the station knowing of requests."""
        marked = []
        for request_id, at in self.jobs_finished().items():
            changed = self._conn.execute(
                "UPDATE requests SET state=?, updated=? WHERE id=? AND state=?",
                (RequestState.READY, time.time(), request_id, RequestState.IN_PROGRESS))
            if changed.rowcount:
                self.event(request_id, "station", str(RequestState.READY),
                           "its copies are made: " + ", ".join(self.jobs_of(request_id)), at=at)
                marked.append(request_id)
        return marked

    def get(self, request_id: str) -> Request:
        self.mark_ready()
        row = self._conn.execute("SELECT * FROM requests WHERE id=?", (request_id,)).fetchone()
        if row is None:
            raise NoSuchRequest(f"there is no request {request_id}")
        return _from_row(row, self.jobs_of(request_id))

    def all(self, states: tuple[str, ...] | None = None) -> list[Request]:
        self.mark_ready()
        rows = self._conn.execute("SELECT * FROM requests ORDER BY due, id").fetchall()
        return [_from_row(r, self.jobs_of(r["id"])) for r in rows
                if states is None or r["state"] in states]

    def link_job(self, request_id: str, job_id: str, user: str) -> None:
        """The job `job_id` was made for the request."""
        self._conn.execute("INSERT INTO request_jobs (request_id, job_id) VALUES (?,?)",
                           (request_id, job_id))
        self.event(request_id, user, "job", job_id)

    def jobs_of(self, request_id: str) -> tuple[str, ...]:
        return tuple(r["job_id"] for r in self._conn.execute(
            "SELECT job_id FROM request_jobs WHERE request_id=? ORDER BY rowid", (request_id,)))

    def request_of(self, job_id: str) -> str | None:
        row = self._conn.execute("SELECT request_id FROM request_jobs WHERE job_id=?",
                                 (job_id,)).fetchone()
        return row["request_id"] if row else None

    def event(self, request_id: str, user: str, event: str, detail: str = "",
              at: float | None = None) -> None:
        """Add to the request's history (`at`: now unless given, e.g. an import's times)."""
        self._conn.execute("INSERT INTO request_events (request_id, at, user, event, detail) "
                           "VALUES (?,?,?,?,?)",
                           (request_id, time.time() if at is None else at, user, event,
                            detail[:1000]))

    def history(self, request_id: str) -> list[sqlite3.Row]:
        return list(self._conn.execute(
            "SELECT * FROM request_events WHERE request_id=? ORDER BY id", (request_id,)))

    def first_times(self, events: tuple[str, ...]) -> dict[str, dict[str, float]]:
        """For every request: when each of `events` (e.g. "ready", "handed over") first
        happened to it, {request id: {event: time}} (the office's records)."""
        marks = ",".join("?" * len(events))
        out: dict[str, dict[str, float]] = {}
        for row in self._conn.execute(
                f"SELECT request_id, event, min(at) AS at FROM request_events "
                f"WHERE event IN ({marks}) GROUP BY request_id, event", events):
            out.setdefault(row["request_id"], {})[row["event"]] = row["at"]
        return out

    def copies_made(self) -> dict[str, int]:
        """For every request: how many copies (discs, sticks, sent sets) its jobs made, from
        the station's `copies` table (none yet when the station has not run here)."""
        try:
            rows = self._conn.execute(
                "SELECT rj.request_id AS request_id, count(*) AS n FROM request_jobs rj "
                "JOIN copies c ON c.job_id = rj.job_id GROUP BY rj.request_id").fetchall()
        except sqlite3.OperationalError:        # no copies table: nothing was made here yet
            return {}
        return {r["request_id"]: r["n"] for r in rows}

    def jobs_finished(self) -> dict[str, float]:
        """The requests whose jobs (one at least) are all done in the station's `jobs` table,
        with when the last of them finished: their copies are ready even before anyone marks
        the request ready."""
        try:
            rows = self._conn.execute(
                "SELECT rj.request_id AS request_id, count(*) AS n, "
                "sum(j.state = 'done') AS done, max(j.updated) AS at FROM request_jobs rj "
                "LEFT JOIN jobs j ON j.job_id = rj.job_id GROUP BY rj.request_id").fetchall()
        except sqlite3.OperationalError:        # no jobs table: nothing was made here yet
            return {}
        return {r["request_id"]: r["at"] for r in rows if r["n"] and r["done"] == r["n"]}
