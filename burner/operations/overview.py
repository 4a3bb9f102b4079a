"""How the station stands: the queue, every job with why it stopped, drives, printers and disk
(`burner status`, the web app's /api/status), the writers (`burner drives`), and a re-check of
one medium (`burner verify`)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from burner import heartbeat
from burner.config import Config
from burner.errors import JobRejected, NoSuchJob, Reason
from burner.operations.common import open_db, open_spool
from burner.progress import read_progress
from burner.retention import disk_use, tree_bytes
from burner.spool import REASON, Spool, reason_code
from burner.state import JobRow, JobState, StateDB
from burner.untrusted import read_small

if TYPE_CHECKING:
    from burner.media.medium import MediumReport

FOLDERS = ("pending", "approved", "active", "held", "rejected", "done")
# Where the board shows a job, in the board's order.
PHASES = ("held", "writing", "verifying", "printing", "waiting", "preparing", "queued",
          "rejected", "done")
_PREPARE = ("validate", "retrieve", "gather", "identity", "plan", "stage", "master")
_PROBLEM_LINE = "  - "


def phase_of(folder: str, row: JobRow | None) -> str:
    """The board's word for where a job is: queued, preparing, waiting (for a writer or the
    disk), writing, verifying, printing, held, rejected or done."""
    if folder in ("pending", "approved") and (row is None or row.state == JobState.QUEUED):
        return "queued"
    if folder in ("held", "rejected", "done"):
        return folder
    if row is None:
        return "queued" if folder != "missing" else "held"
    if row.state in (JobState.HELD, JobState.REJECTED, JobState.DONE):
        return str(row.state)
    if row.state == JobState.WAITING:
        return "waiting"
    if row.stage in row.stages_done and row.stage == "master":
        return "waiting"              # prepared; its writer is busy with another job
    if row.stage == "write":
        return "writing"
    if row.stage == "verify":
        return "verifying"
    if row.stage in ("print", "done"):
        return "printing"
    return "preparing"


def problem_lines(reason_text: str, limit: int = 500) -> list[str]:
    """The file list of a held job's reason.txt (its "  - name: why" lines)."""
    return [line[len(_PROBLEM_LINE):] for line in reason_text.splitlines()
            if line.startswith(_PROBLEM_LINE)][:limit]


def _copies_wanted(work: Path) -> int | None:
    from burner.record import JobRecord

    record = JobRecord(work)
    try:
        if record.has("plan") and record.has("validate"):
            return len(record.plan.volumes) * record.manifest.media_copies
    except Exception:  # noqa: BLE001 - a record of another version: the board shows no total
        return None
    return None


@dataclass(frozen=True)
class Owner:
    """Who works on a job in active/, and when that station was last heard from."""

    station: str                      # '' when no station said so
    silent_seconds: float | None      # None: never heard from
    silent: bool                      # silent longer than [spool] silent_seconds (or unknown)


@dataclass(frozen=True)
class JobInfo:
    """One job as `burner status` shows it: state and stage, and why it stopped if it did."""

    job_id: str
    folder: str               # the spool folder holding it, or "missing"
    state: str                # the database's state, else the folder's name
    stage: str
    attempts: int
    reason: str               # words for people
    reason_code: str          # errors.Reason of `reason` ('' when nothing is wrong)
    copies: int               # verified copies
    left_off: list[str] = field(default_factory=list)   # done: files not put on the disc
    printing: str = ""        # done: printed / pending / failed
    work_bytes: int | None = None     # held: bytes its work files take
    owner: Owner | None = None        # active: whose it is
    phase: str = ""                   # where the board shows it (PHASES)
    problems: list[str] = field(default_factory=list)   # held/rejected: the files and why
    progress: dict | None = None      # active: how far its stage is (progress.Progress)
    copies_wanted: int | None = None  # volumes x copies, once planned
    updated: float = 0.0              # when its state last changed (0: unknown)

    def as_dict(self) -> dict:
        out = {"job_id": self.job_id, "folder": self.folder, "left_off": self.left_off,
               "printing": self.printing, "state": self.state, "stage": self.stage,
               "attempts": self.attempts, "reason": self.reason,
               "reason_code": self.reason_code, "copies": self.copies,
               "phase": self.phase, "problems": self.problems, "progress": self.progress,
               "copies_wanted": self.copies_wanted, "updated": self.updated}
        if self.work_bytes is not None:
            out["work_bytes"] = self.work_bytes
        if self.owner is not None:
            out.update(owner=self.owner.station, owner_silent_seconds=self.owner.silent_seconds,
                       owner_silent=self.owner.silent)
        return out


@dataclass(frozen=True)
class DriveInfo:
    name: str
    device: str
    media: str


@dataclass(frozen=True)
class Status:
    """`burner status --json` is `as_dict()` of this."""

    station: str
    config: str
    spool: str
    queue: dict[str, int]
    jobs: list[JobInfo]
    drives: list[DriveInfo]
    printers: list[dict]
    disk: dict

    def as_dict(self) -> dict:
        return {"station": self.station, "config": self.config, "spool": self.spool,
                "queue": dict(self.queue), "jobs": [j.as_dict() for j in self.jobs],
                "drives": [{"name": d.name, "device": d.device, "media": d.media}
                           for d in self.drives],
                "printers": self.printers, "disk": self.disk}


def job_info(spool: Spool, db: StateDB, where: str, name: str, row: JobRow | None,
             silent_after: float = 120.0, work_dir: Path = Path("work")) -> JobInfo:
    folder = spool.path(where, name)
    reason = read_small(folder / REASON, 256 * 1024)
    result = folder / "result.json"
    outcome = json.loads(result.read_text()) if where == "done" and result.is_file() else {}
    from_row = row is not None and bool(row.reason)
    owner = None
    progress = wanted = None
    if where == "active" and row is not None and row.state == JobState.ACTIVE:
        report = read_progress(work_dir / name)
        if report is not None and report.stage == row.stage:
            progress = report.as_dict(time.time())
        wanted = _copies_wanted(work_dir / name)
    if where == "active":
        station = spool.owner(folder)
        quiet = heartbeat.silence(spool.root, station) if station else None
        owner = Owner(station or "", quiet,
                      station is None or quiet is None or quiet > silent_after)
    return JobInfo(
        job_id=name, folder=where,
        state=row.state if row else where,
        stage=row.stage if row else "",
        attempts=row.attempts if row else 0,
        reason=(row.reason if from_row else reason).strip(),
        reason_code=row.reason_code if from_row else reason_code(folder) if reason else "",
        # a job another station finished is not in this database: its result says
        copies=len(db.copies(name)) if row else len(outcome.get("copies", [])),
        left_off=outcome.get("problems", []),
        printing=outcome.get("printing", ""),
        work_bytes=(tree_bytes(work_dir / name) if (work_dir / name).exists() else 0)
        if where == "held" else None,
        owner=owner,
        phase=phase_of(where, row),
        problems=problem_lines(reason) if where in ("held", "rejected") else [],
        progress=progress, copies_wanted=wanted,
        updated=row.updated if row else _mtime(folder))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def status(config: Config) -> Status:
    """Queue, jobs, drives, printers and disk of this station."""
    spool = open_spool(config)
    queue = {name: [p.name for p in spool.listing(name)] for name in FOLDERS}
    with open_db(config) as db:
        rows = {r.job_id: r for r in db.jobs()}
        jobs = [job_info(spool, db, where, name, rows.get(name), config.silent_seconds,
                         config.work_dir)
                for where, names in queue.items() for name in names]
        # Jobs the station was working on whose folder is in no spool folder any more.
        listed = {name for names in queue.values() for name in names}
        jobs += [job_info(spool, db, "missing", row.job_id, row) for row in rows.values()
                 if row.job_id not in listed and row.state in
                 (JobState.ACTIVE, JobState.WAITING, JobState.HELD)]
    return Status(
        station=config.station_id, config=config.source, spool=str(config.spool_dir),
        queue={k: len(v) for k, v in queue.items()}, jobs=jobs,
        drives=[DriveInfo(d.name, d.device, d.media) for d in config.drives],
        printers=[{"mode": config.printing.get("mode", "folder")}],
        disk={**disk_use(config), "retention_days": config.retention_days})


def job(config: Config, job_id: str) -> JobInfo:
    """One job as `status` shows it (the web app's /api/jobs/{id}); NoSuchJob when neither the
    spool nor the database knows it."""
    spool = open_spool(config)
    found = spool.locate(job_id)
    with open_db(config) as db:
        row = db.get(job_id)
        if found is None and row is None:
            raise NoSuchJob(f"there is no job called {job_id}")
        where = found[0] if found is not None else "missing"
        return job_info(spool, db, where, job_id, row, config.silent_seconds, config.work_dir)


@dataclass(frozen=True)
class WriterInfo:
    """A configured writer and what is in it now."""

    name: str
    device: str
    media: str
    ready: bool
    words: str


@dataclass(frozen=True)
class SystemDrive:
    """An optical drive the system has (configured or not)."""

    address: str
    vendor: str
    model: str


@dataclass(frozen=True)
class Drives:
    writers: list[WriterInfo]
    found: list[SystemDrive]


def drives(config: Config) -> Drives:
    """The configured writers with what is in them, and the drives the system has."""
    from burner.media.optical import discover_drives
    from burner.media.writers import writer_status

    writers = [WriterInfo(d.name, d.device, d.media, *writer_status(config, d))
               for d in config.drives]
    found = [SystemDrive(i.address, i.vendor, i.model) for i in discover_drives(config.xorriso)]
    return Drives(writers, found)


def verify(medium: str) -> MediumReport:
    """Re-check a disc image or drive (`stdio:` prefix allowed): every file's checksum and
    the DICOMDIR. The report says whether it is good; a medium that is not there is refused."""
    from burner.media.medium import check_medium

    path = Path(medium.removeprefix("stdio:"))
    if not path.exists():
        raise JobRejected(f"{medium} does not exist", code=Reason.BAD_REQUEST)
    return check_medium(path)
