"""A person steering jobs: retry a held, rejected or waiting job, cancel one, or take over a job
whose station stopped (adopt)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from burner import heartbeat
from burner.config import Config
from burner.errors import JobRejected, NoSuchJob, Reason
from burner.operations.common import find_job, open_db, open_spool
from burner.spool import OWNER, REASON, REASON_CODE, write_atomic, write_owner
from burner.state import JobState, StateDB
from burner.untrusted import one_line

# How a retry goes on (Retried.how).
RESUMED = "resumed"    # from where it stopped: the disc images are made, copies made count
QUEUED = "queued"      # back in approved/: claimed again and prepared from the start
NOW = "now"            # a job waiting for its next attempt: that attempt is now


@dataclass(frozen=True)
class Retried:
    job_id: str
    how: str                 # RESUMED, QUEUED or NOW
    kept: int = 0            # QUEUED: verified copies made already that still count


@dataclass(frozen=True)
class Cancelled:
    job_id: str
    at_once: bool            # False: a running job stops before its next step


@dataclass(frozen=True)
class Adopted:
    job_id: str
    note: str                # what was taken over from whom, also kept in the job folder


def resumable(config: Config, db: StateDB, job_id: str) -> bool:
    """A held job whose disc images are made (and still there) resumes instead of restarting."""
    from burner.pipeline import STAGES
    from burner.record import JobRecord, StaleRecord

    row = db.get(job_id)
    prepared = [s.NAME for s in STAGES if s.LANE == "prepare"]
    if row is None or row.state != JobState.HELD or \
            not all(name in row.stages_done for name in prepared):
        return False
    try:     # the images master made (ISO or USB) are all still there
        images = JobRecord(config.work_dir / job_id).images
    except StaleRecord:
        return False
    return all(image.path.is_file() for image in images)


def _reason_aside(job_dir: Path) -> None:
    """Keep the last reason as reason-<time>.txt; its code goes with the state it described."""
    reason = job_dir / REASON
    if reason.exists():
        reason.rename(job_dir / f"reason-{int(datetime.datetime.now().timestamp())}.txt")
    (job_dir / REASON_CODE).unlink(missing_ok=True)


def retry(config: Config, job_id: str, start_over: bool = False) -> Retried:
    """Queue a held or rejected job again (a held one whose images are made goes on where it
    stopped, unless `start_over`), or retry a waiting one now."""
    spool = open_spool(config)
    found = spool.locate(job_id)
    if found is None:
        with open_db(config) as db:
            row = db.get(job_id)
        if row is not None and row.state == JobState.HELD:
            raise JobRejected(f"job {job_id} is held, but its folder is in no spool folder "
                              "(it was taken out while the job ran). Put the folder back in "
                              f"active/, then run burner retry {job_id} again",
                              code=Reason.FOLDER_GONE)
        raise NoSuchJob(f"there is no job called {job_id}")
    where, path = found
    if where in ("held", "rejected"):
        _reason_aside(path)
        with open_db(config) as db:
            if where == "held" and not start_over and resumable(config, db, job_id):
                # A drive fault after the disc image was made: go on from there, so copies
                # already burned and verified are not burned again.
                spool.move(job_id, "held", "active")
                write_owner(spool.path("active", job_id), config.station_id, db.generation)
                db.resume(job_id)
                return Retried(job_id, RESUMED)
            row = db.get(job_id)
            kept = len(db.copies(job_id)) if row is not None and not start_over else 0
            if row is not None:
                # Its next claim is this job again, not a duplicate.
                db.requeue(job_id, start_over)
            try:
                spool.move(job_id, where, "approved")
            except BaseException:
                if row is not None:
                    db.set_state(job_id, JobState(row.state), row.reason, code=row.reason_code)
                raise
        return Retried(job_id, QUEUED, kept)
    if where == "active":
        with open_db(config) as db:
            row = db.get(job_id)
            owner = spool.owner(path)
            if owner not in (None, config.station_id):
                raise JobRejected(f"job {job_id} is in active/ for station {owner}; it is "
                                  "that station's to run (burner adopt takes it over if that "
                                  "station has stopped)", code=Reason.BAD_REQUEST)
            if row is not None and row.state == JobState.HELD:
                # Held while its folder stayed in (or came back to) active/.
                if not start_over and resumable(config, db, job_id):
                    write_owner(path, config.station_id, db.generation)
                    db.resume(job_id)
                    return Retried(job_id, RESUMED)
                kept = 0 if start_over else len(db.copies(job_id))
                db.requeue(job_id, start_over)
                spool.move(job_id, "active", "approved")
                return Retried(job_id, QUEUED, kept)
            if row is None or row.state != JobState.WAITING:
                raise JobRejected(f"job {job_id} is being worked on now; there is nothing to "
                                  "retry", code=Reason.BAD_REQUEST)
            db.set_state(job_id, JobState.WAITING, row.reason, code=row.reason_code,
                         not_before=0)
        return Retried(job_id, NOW)
    raise JobRejected(f"job {job_id} is in {where}/ and cannot be retried",
                      code=Reason.BAD_REQUEST)


def cancel(config: Config, job_id: str, by: str = "operator") -> Cancelled:
    """Cancel a job that has not finished: one waiting in the spool goes to rejected/ at once,
    a running one stops before its next step (a disc being burned, a printout being printed
    is finished first)."""
    spool = open_spool(config)
    where, _ = find_job(spool, job_id)
    if where in ("incoming", "pending", "approved", "held"):
        words = f"Job {job_id} was cancelled by {one_line(by)}."
        spool.move(job_id, where, "rejected", words, Reason.CANCELLED)
        with open_db(config) as db:
            if db.get(job_id) is not None:     # the record ends where the folder did
                db.set_state(job_id, JobState.REJECTED, words, code=Reason.CANCELLED)
        return Cancelled(job_id, at_once=True)
    if where == "active":
        from burner.pipeline import next_stage

        with open_db(config) as db:
            row = db.get(job_id)
            following = next_stage(row.stages_done) if row is not None else None
            if following is not None and following.NAME == "done":
                raise JobRejected(f"job {job_id} is finishing now: its discs are made and "
                                  "verified and its printouts done, so it can no longer be "
                                  "cancelled", code=Reason.BAD_REQUEST)
            db.request_cancel(job_id)
        return Cancelled(job_id, at_once=False)
    raise JobRejected(f"job {job_id} is already {where}; nothing to cancel",
                      code=Reason.BAD_REQUEST)


def adopt(config: Config, job_id: str, force: bool = False) -> Adopted:
    """Take over a job in active/ whose station has stopped: it is queued again from the
    start. Refused while that station was heard from lately, unless `force`."""
    spool = open_spool(config)
    folder = spool.path("active", job_id)
    if not folder.is_dir():
        raise NoSuchJob(f"there is no job {job_id} in active/")
    owner = spool.owner(folder)
    if owner == config.station_id:
        raise JobRejected(f"job {job_id} is this station's own; use burner retry if it is held",
                          code=Reason.BAD_REQUEST)
    quiet = heartbeat.silence(spool.root, owner) if owner else None
    if owner is not None and quiet is None and not force:
        raise JobRejected(f"station {owner} working on {job_id} has never said it is alive "
                          "here, so whether it stopped cannot be told; if it surely has, use "
                          "--force", code=Reason.BAD_REQUEST)
    if quiet is not None and quiet <= config.silent_seconds and not force:
        raise JobRejected(f"station {owner} working on {job_id} was seen {int(quiet)} s ago; "
                          "stop it first (or use --force if it is surely gone)",
                          code=Reason.BAD_REQUEST)
    note = (f"Taken over from station {owner or 'unknown'} "
            f"({'never seen' if quiet is None else f'silent for {int(quiet)} s'}) by "
            f"{config.station_id}: it starts again from the beginning. Discs that station "
            "may have made for it cannot be confirmed here and are not counted.")
    with open_db(config) as db:
        db.note(job_id, "adopt", "adopted", note)
        if db.get(job_id) is not None:
            db.requeue(job_id)
    write_atomic(folder / f"adopted-{int(datetime.datetime.now().timestamp())}.txt",
                 (note + "\n").encode("utf-8"))
    (folder / OWNER).unlink(missing_ok=True)
    spool.move(job_id, "active", "approved")
    return Adopted(job_id, note)
