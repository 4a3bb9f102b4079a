"""The pipeline: one stage table, one way to run a stage, one place that turns outcomes into
spool moves (DESIGN.md section 1).

Every stage is a module with NAME, LANE and run(ctx). A stage writes only into its own work
folder (ctx.out()), which is emptied before the stage starts, so a stage that a crash
interrupted is redone from scratch; a finished stage is recorded in the database and skipped.
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from burner.config import Config
from burner.diskspace import DiskFull, check_room, free_bytes, full_words, is_disk_full, need_for
from burner.errors import (
    DeviceBusy,
    DeviceError,
    JobCancelled,
    JobFolderGone,
    JobHeld,
    JobRejected,
)
from burner.spool import Spool, write_atomic
from burner.stages import (
    done,
    gather,
    identity,
    master,
    plan,
    printout,
    stage,
    validate,
    verify,
    write,
)
from burner.state import JobState, StateDB
from burner.untrusted import lines, one_line

log = logging.getLogger("burner.pipeline")

# The order of the pipeline. "prepare" stages run while the drive burns another job.
STAGES: list[ModuleType] = [validate, gather, identity, plan, stage, master, write, verify,
                            printout, done]


@dataclass
class JobContext:
    """What a stage may use: the job's folder, its work folder and the station's services."""

    config: Config
    spool: Spool
    db: StateDB
    job_id: str
    job_dir: Path
    work: Path
    stage_name: str = ""
    writer: str | None = None    # the writer (drive name) of the lane running the job
    writes: bool = True          # False for `burner build`: images only, nothing is written

    @classmethod
    def for_spool(cls, config: Config, spool: Spool, db: StateDB, job_id: str) -> JobContext:
        """A job claimed into the spool's active/ folder."""
        return cls(config, spool, db, job_id, spool.path("active", job_id),
                   config.work_dir / job_id)

    def out(self, stage_name: str | None = None) -> Path:
        """The work folder of a stage (this one by default)."""
        return self.work / (stage_name or self.stage_name)

    def save(self, value: Any) -> None:
        """Keep this stage's result durably for the stages after it."""
        write_atomic(self.out() / "result.pkl", pickle.dumps(value, protocol=5))

    def load(self, stage_name: str) -> Any:
        with open(self.out(stage_name) / "result.pkl", "rb") as fp:
            return pickle.load(fp)

    def check_cancel(self) -> None:
        row = self.db.get(self.job_id)
        if row is not None and row.cancel_requested:
            raise JobCancelled("the job was cancelled by an operator")

    def require_job_folder(self) -> None:
        """JobFolderGone when the job's folder is no longer where the job runs from: no stage
        may go on (or make the folder again) for a job someone took out of the spool."""
        if not self.job_dir.is_dir():
            raise JobFolderGone(folder_gone_words(self.job_dir.parent.name, self.job_id))
        owner = self.spool.owner(self.job_dir) if self.writes else None
        if owner not in (None, self.config.station_id):
            # Another station took the job over (burner adopt) while this one was silent.
            raise JobFolderGone(taken_over_words(owner))

    def checkpoint(self, where: str) -> None:
        """Test hook: pause inside a stage so a test can kill the station there."""
        wanted = os.environ.get("BURNER_PAUSE_AT")
        if wanted and wanted == where:
            marker = self.config.data_dir / f"paused-{where}"
            marker.write_text(self.job_id)
            time.sleep(float(os.environ.get("BURNER_PAUSE_SECONDS", "60")))


def folder_gone_words(where: str, job_id: str) -> str:
    return (f"The job folder was taken out of {where}/ while the job was running, so burner "
            "stopped it there; nothing more was written or printed. Put the folder back in "
            f"{where}/ and run: burner retry {one_line(job_id)}")


def taken_over_words(owner: str) -> str:
    return (f"Station {one_line(owner)} took this job over (burner adopt), so this station "
            "stopped working on it; nothing more was written or printed here. Discs this "
            "station made for it are listed in its history.")


def lane_of(stage_name: str) -> str:
    return next(s.LANE for s in STAGES if stage_name == s.NAME)


def next_stage(stages_done: tuple[str, ...]) -> ModuleType | None:
    return next((s for s in STAGES if s.NAME not in stages_done), None)


def run_stage(ctx: JobContext, module: ModuleType) -> None:
    """Run one stage from scratch and record it as finished."""
    ctx.stage_name = module.NAME
    ctx.check_cancel()
    out = ctx.out()
    if out.exists() and not getattr(module, "RESUMABLE", False):
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    ctx.require_job_folder()
    if getattr(module, "NEEDS_ROOM", False):
        # Wait for room before writing, rather than fill the disk half-way.
        check_room(ctx.work, need_for(ctx.load("plan").estimated_bytes))
    ctx.db.stage_started(ctx.job_id, module.NAME)
    log.info("job %s: %s", ctx.job_id, module.NAME)
    module.run(ctx)
    if not getattr(module, "MOVES_JOB", False):
        ctx.require_job_folder()      # a stage whose folder left meanwhile is not done
    ctx.db.stage_done(ctx.job_id, module.NAME)


def run_job(ctx: JobContext, lane: str | None = None) -> str:
    """Run the job's remaining stages (of `lane` only, if given); returns its state after."""
    while True:
        row = ctx.db.get(ctx.job_id)
        if row is None or row.state not in (JobState.ACTIVE, JobState.WAITING):
            return row.state if row else "missing"
        module = next_stage(row.stages_done)
        if module is None:
            return row.state
        if lane is not None and lane != module.LANE:
            return row.state
        try:
            run_stage(ctx, module)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a recorded outcome
            try:
                return settle_failure(ctx, module.NAME, exc)
            except Exception:  # noqa: BLE001 - e.g. the folder was moved away meanwhile
                log.exception("job %s: could not record the failure of %s", ctx.job_id,
                              module.NAME)
                ctx.db.set_state(ctx.job_id, JobState.HELD,
                                 "the job folder could not be moved out of active/; a "
                                 "technician should look at the spool and the log")
                return JobState.HELD


def settle_failure(ctx: JobContext, stage_name: str, exc: BaseException) -> str:
    """Turn a stage's exception into a spool move and a recorded state, with the reason.

    The reason is written for people: the message's own lines are kept, and whatever came
    from outside (the folder name, file names in the details, an unexpected exception's text)
    has its control characters escaped, so it cannot add lines of its own (untrusted.py)."""
    job_id = ctx.job_id
    shown_id = one_line(job_id)
    if isinstance(exc, JobRejected):
        message = lines(exc)
        reason = f"Job {shown_id} was not processed: {message}"
        ctx.spool.move(job_id, "active", "rejected", reason)
        ctx.db.set_state(job_id, JobState.REJECTED, message)
        log.warning("job %s rejected at %s (reason in reason.txt)", shown_id, stage_name)
        return JobState.REJECTED
    if isinstance(exc, JobFolderGone):      # no folder to move or to write reason.txt into
        message = lines(exc)
        ctx.db.set_state(job_id, JobState.HELD, message)
        log.warning("job %s held at %s: its folder left the spool", shown_id, stage_name)
        return JobState.HELD
    if isinstance(exc, JobHeld):
        message = lines(exc)
        text = [f"Job {shown_id} is on hold and was NOT written to any disc.", "", message]
        text += [f"  - {one_line(d)}" for d in exc.details]
        text += ["", "When it is sorted out, run: burner retry " + shown_id]
        ctx.spool.move(job_id, "active", "held", "\n".join(text))
        ctx.db.set_state(job_id, JobState.HELD, message)
        log.warning("job %s held at %s (reason in reason.txt)", shown_id, stage_name)
        return JobState.HELD
    if is_disk_full(exc):
        # Free what the stage wrote before anything else, so that recording this can work.
        shutil.rmtree(ctx.out(stage_name), ignore_errors=True)
        exc = DiskFull(full_words(ctx.work, None, free_bytes(ctx.work)))
    if isinstance(exc, DeviceBusy):     # not a failure: the drive is busy, the disk full
        ctx.db.set_state(job_id, JobState.WAITING, one_line(exc),
                         not_before=time.time() + max(ctx.config.retry_delay_seconds,
                                                      exc.wait_seconds))
        log.info("job %s: %s", shown_id, one_line(exc))
        return JobState.WAITING
    row = ctx.db.get(job_id)
    attempts = (row.attempts if row else 0) + 1
    if isinstance(exc, DeviceError):
        text = one_line(exc)     # one sentence, which may quote a device's own words
    else:
        log.exception("job %s: unexpected failure in %s", shown_id, stage_name, exc_info=exc)
        text = (f"burner hit an unexpected problem while doing '{stage_name}' "
                f"({exc.__class__.__name__}: {one_line(exc)}). A technician should look at "
                "the log.")
    if attempts < ctx.config.max_attempts:
        delay = ctx.config.retry_delay_seconds * attempts
        ctx.db.set_state(job_id, JobState.WAITING, text, not_before=time.time() + delay,
                         attempts_delta=1)
        log.warning("job %s: %s failed (attempt %d), retrying: %s", shown_id, stage_name,
                    attempts, one_line(exc))
        return JobState.WAITING
    reason = (f"Job {shown_id} stopped after {attempts} attempts at '{stage_name}' and was put "
              f"on hold.\n\n{text}\n\nWhen it is fixed, run: burner retry {shown_id}")
    ctx.spool.move(job_id, "active", "held", reason)
    ctx.db.set_state(job_id, JobState.HELD, text, attempts_delta=1)
    return JobState.HELD
