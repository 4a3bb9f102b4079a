"""The hand-over (issue 12, DESIGN.md section 9): who handed which discs or sticks of a finished
job to whom, when, that a photo ID was checked (a pick-up) or the tracking number (a mail-out),
and the receiver's signature if they gave one. Kept in the station database beside the jobs
and the requests; a request is handed over when every job of it is.

Patient and receiver data live here and on the receipt only: never in a log, a URL or the
action log.
"""

from __future__ import annotations

import binascii
import datetime
import json
import sqlite3
import struct
import time
import zlib
from dataclasses import dataclass

from burner.config import Config
from burner.desk.register import OPEN_STATES, Register, RequestRefused, RequestState
from burner.desk.settings import desk_settings
from burner.errors import NoSuchJob
from burner.tables import StationTables

RECEIVERS = ("patient", "representative")
MAX_SIGNATURE = 200 * 1024          # bytes of PNG
MAX_SIGNATURE_SIDE = 2000           # pixels (at most 16 MB when drawn)
DATA_URL = "data:image/png;base64,"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_NAME = 200
MAX_TRACKING = 100

_SCHEMA = """
CREATE TABLE IF NOT EXISTS handovers (
    job_id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL DEFAULT '',
    at REAL NOT NULL,
    by TEXT NOT NULL,
    receiver_kind TEXT NOT NULL,
    receiver_name TEXT NOT NULL DEFAULT '',
    relationship TEXT NOT NULL DEFAULT '',
    photo_id_checked INTEGER NOT NULL,
    mailed INTEGER NOT NULL DEFAULT 0,
    tracking TEXT NOT NULL DEFAULT '',
    signature BLOB,
    items TEXT NOT NULL
);
"""


class HandoverRefused(RequestRefused):
    """A hand-over that cannot be recorded; the words say what to do."""


@dataclass(frozen=True)
class Item:
    """One disc or stick handed over: volume `volume` of `volumes`, copy `copy`."""

    volume: int
    volumes: int
    copy: int
    medium: str              # "dvd", "usb", ...

    @property
    def words(self) -> str:
        """ "disc 1 of 2, copy 1", "USB stick 1 of 1, copy 2"."""
        from burner.media.kinds import KINDS

        word = KINDS[self.medium].volume_word if self.medium in KINDS else "disc"
        return f"{word} {self.volume} of {self.volumes}, copy {self.copy}"


@dataclass(frozen=True)
class Handover:
    job_id: str
    request_id: str
    at: float
    by: str
    receiver_kind: str       # RECEIVERS
    receiver_name: str
    relationship: str
    photo_id_checked: bool
    mailed: bool
    tracking: str
    signature: bytes | None
    items: tuple[Item, ...]

    @property
    def receiver_words(self) -> str:
        """ "the patient", "Sam Doe (representative, daughter)"."""
        if self.receiver_kind == "patient":
            return f"the patient{f' ({self.receiver_name})' if self.receiver_name else ''}"
        what = ", ".join(w for w in ("representative", self.relationship) if w)
        return f"{self.receiver_name} ({what})"


def _from_row(row: sqlite3.Row) -> Handover:
    return Handover(row["job_id"], row["request_id"], row["at"], row["by"],
                    row["receiver_kind"], row["receiver_name"], row["relationship"],
                    bool(row["photo_id_checked"]), bool(row["mailed"]), row["tracking"],
                    row["signature"], tuple(Item(**i) for i in json.loads(row["items"])))


class Handovers(StationTables):
    """The hand-overs in the station database at `path`."""

    SCHEMA = _SCHEMA

    def get(self, job_id: str) -> Handover | None:
        row = self._conn.execute("SELECT * FROM handovers WHERE job_id=?",
                                 (job_id,)).fetchone()
        return _from_row(row) if row else None

    def add(self, h: Handover) -> bool:
        """Record `h`; False when the job was handed over already (by anyone, even now)."""
        try:
            self._conn.execute(
                "INSERT INTO handovers (job_id, request_id, at, by, receiver_kind, "
                "receiver_name, relationship, photo_id_checked, mailed, tracking, signature, "
                "items) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (h.job_id, h.request_id, h.at, h.by, h.receiver_kind, h.receiver_name,
                 h.relationship, int(h.photo_id_checked), int(h.mailed), h.tracking,
                 h.signature, json.dumps([i.__dict__ for i in h.items])))
        except sqlite3.IntegrityError:
            return False
        return True

    def handed(self, job_ids: tuple[str, ...] | list[str]) -> set[str]:
        """Which of `job_ids` were handed over."""
        return {r["job_id"] for r in self._conn.execute(
            f"SELECT job_id FROM handovers WHERE job_id IN ({','.join('?' * len(job_ids))})",
            tuple(job_ids))} if job_ids else set()


# --- the signature -----------------------------------------------------------------------


def parse_signature(data_url: str) -> bytes | None:
    """The PNG of a signature drawn on the page, from its data URL; None for none drawn.

    Strict: exactly `data:image/png;base64,`, then canonical base64 with nothing after it,
    at most MAX_SIGNATURE bytes, a whole PNG (signature, IHDR first, every chunk's length
    and CRC right, IEND last and nothing after it) of at most MAX_SIGNATURE_SIDE pixels a
    side. Anything else is HandoverRefused."""
    text = data_url.strip()
    if not text:
        return None
    refused = HandoverRefused("The signature could not be read; clear it, sign again, and "
                              "record the hand-over again.")
    if not text.startswith(DATA_URL) or len(text) > len(DATA_URL) + 4 * MAX_SIGNATURE // 3 + 4:
        raise refused
    try:
        png = binascii.a2b_base64(text[len(DATA_URL):].encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise refused from None
    if len(png) > MAX_SIGNATURE or not _whole_png(png):
        raise refused
    return png


def _whole_png(data: bytes) -> bool:
    if not data.startswith(PNG_MAGIC):
        return False
    at, first = len(PNG_MAGIC), True
    while at + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        end = at + 12 + length
        if end > len(data):
            return False
        body = data[at + 4:at + 8 + length]
        if struct.unpack(">I", data[end - 4:end])[0] != zlib.crc32(body):
            return False
        if first:
            if kind != b"IHDR" or length != 13:
                return False
            width, height = struct.unpack(">II", data[at + 8:at + 16])
            if not (0 < width <= MAX_SIGNATURE_SIDE and 0 < height <= MAX_SIGNATURE_SIDE):
                return False
            first = False
        if kind == b"IEND":
            return end == len(data)
        at = end
    return False


# --- recording ---------------------------------------------------------------------------


def items_of(config: Config, job_id: str) -> tuple[Item, ...]:
    """Every disc or stick of the job's set: all volumes and copies the station made."""
    from burner.operations.details import details

    detail = details(config, job_id)
    volumes = max([v.index for v in detail.volumes] + [c.volume for c in detail.copies],
                  default=0)
    media = detail.media or ""
    return tuple(Item(c.volume, volumes, c.copy, media) for c in detail.copies)


def job_state(config: Config, job_id: str) -> str:
    """Where the job is ("done", "active", ...); NoSuchJob when it is not known."""
    from burner.operations.overview import job

    return job(config, job_id).folder


def _clean(text: str, most: int) -> str:
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())[:most]


def handover(config: Config, job_id: str, *, by: str, receiver_kind: str,
             receiver_name: str = "", relationship: str = "", photo_id_checked: bool = False,
             mailed: bool = False, tracking: str = "", signature: bytes | None = None,
             now: float | None = None) -> Handover:
    """Record that `by` handed (or mailed) every disc and stick of the finished job `job_id`.

    Refused (HandoverRefused, nothing recorded): a job that is not finished, one handed over
    already, a pick-up without the photo ID checked, a representative without a name, a
    mail-out without a tracking number. The job's request is handed over when all its jobs
    are."""
    try:
        where = job_state(config, job_id)
    except NoSuchJob:
        raise HandoverRefused(f"There is no job {job_id} at this station. Check the number "
                              "on the cover sheet.") from None
    with Handovers(config.db_path) as store:
        earlier = store.get(job_id)
        if earlier is not None:
            raise HandoverRefused(already_words(earlier))
        if where != "done":
            raise HandoverRefused(f"Job {job_id} is not finished (it is {where}), so there is "
                                  "nothing to hand over yet. Look at the board.")
        name = _clean(receiver_name, MAX_NAME)
        relation = _clean(relationship, MAX_NAME)
        number = _clean(tracking, MAX_TRACKING)
        if receiver_kind not in RECEIVERS:
            raise HandoverRefused("Choose who receives it: the patient or a representative.")
        if receiver_kind == "representative" and not name:
            raise HandoverRefused("Write the representative's name: who receives the disc "
                                  "for the patient.")
        if mailed and not number:
            raise HandoverRefused("Write the tracking number of the mail-out: it is the only "
                                  "proof of where the disc went.")
        if not mailed and not photo_id_checked:
            raise HandoverRefused("Check a photo ID of the person who takes the disc, then "
                                  "tick \"Photo ID checked\".")
        items = items_of(config, job_id)
        if not items:
            raise HandoverRefused(f"The station has no record of a disc or stick of job "
                                  f"{job_id}. Ask a technician.")
        with Register(config.db_path) as register:
            request_id = register.request_of(job_id) or ""
            record = Handover(job_id, request_id, time.time() if now is None else now, by,
                              receiver_kind, name, relation, bool(photo_id_checked), mailed,
                              number if mailed else "", signature, items)
            if not store.add(record):
                raise HandoverRefused(already_words(store.get(job_id) or record))
            if request_id:
                _request_done(register, store, request_id, job_id, record)
    return record


def _request_done(register: Register, store: Handovers, request_id: str, job_id: str,
                  record: Handover) -> None:
    how = "mailed" if record.mailed else f"handed to the {record.receiver_kind}"
    register.event(request_id, record.by, "job handed over", f"job {job_id} {how}")
    jobs = register.jobs_of(request_id)
    if set(jobs) <= store.handed(jobs) and register.get(request_id).state in OPEN_STATES:
        register.set_state(request_id, RequestState.HANDED_OVER, record.by,
                           f"every job handed over (the last: {job_id})")


def already_words(h: Handover) -> str:
    when = datetime.datetime.fromtimestamp(h.at).strftime("%Y-%m-%d %H:%M")
    what = "mailed" if h.mailed else "handed over"
    return f"Job {h.job_id} was {what} already, on {when} by {h.by}."


def get(config: Config, job_id: str) -> Handover | None:
    with Handovers(config.db_path) as store:
        return store.get(job_id)


def patient_of(config: Config, job_id: str) -> str:
    """The patient's name (DICOM PN) of a job: its request's, else its manifest's in done/;
    '' when neither is there any more."""
    from burner.errors import BurnerError
    from burner.manifest import load_manifest

    with Register(config.db_path) as register:
        request_id = register.request_of(job_id)
        if request_id:
            return register.get(request_id).patient.name
    try:
        return load_manifest(config.spool_dir / "done" / job_id).patient_name
    except BurnerError:
        return ""


# --- the flag ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Waiting:
    """A finished job of a request that nobody has collected (or mailed) yet."""

    job_id: str
    request_id: str
    done_on: datetime.date
    days: int


def not_handed_over(config: Config, today: datetime.date,
                    days: int | None = None) -> list[Waiting]:
    """Finished jobs of requests not handed over `days` (default `[desk] handover_flag_days`)
    or more days after they were finished (the station's local calendar days), oldest first."""
    limit = desk_settings(config).handover_flag_days if days is None else days
    with Handovers(config.db_path) as store, Register(config.db_path) as register:
        try:
            rows = store._conn.execute(
                "SELECT rj.job_id AS job_id, rj.request_id AS request_id, "
                "max(h.at) AS done_at FROM request_jobs rj "
                "JOIN jobs j ON j.job_id = rj.job_id AND j.state = 'done' "
                "JOIN history h ON h.job_id = rj.job_id AND h.stage = '' AND h.event = 'done' "
                "LEFT JOIN handovers ho ON ho.job_id = rj.job_id "
                "WHERE ho.job_id IS NULL GROUP BY rj.job_id").fetchall()
        except sqlite3.OperationalError:       # the station has not run here: no jobs table
            return []
        cancelled = {r.id for r in register.all((RequestState.CANCELLED,))}
    out = []
    for row in rows:
        if row["request_id"] in cancelled:
            continue
        done_on = datetime.date.fromtimestamp(row["done_at"])
        waited = (today - done_on).days
        if waited >= limit:
            out.append(Waiting(row["job_id"], row["request_id"], done_on, waited))
    return sorted(out, key=lambda w: (w.done_on, w.job_id))
