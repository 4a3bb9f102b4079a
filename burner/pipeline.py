"""The pipeline: one stage table, one way to run a stage, one place that turns outcomes into
spool moves (DESIGN.md section 1).

Every stage is a module with NAME, LANE and run(ctx). A stage writes only into its own work
folder (ctx.out()), which is emptied before the stage starts, so a stage that a crash
interrupted is redone from scratch; a finished stage is recorded in the database and skipped.
"""

from __future__ import annotations

import logging
import shutil
import time
from types import ModuleType

from burner.context import JobContext
from burner.diskspace import DiskFull, check_room, free_bytes, full_words, is_disk_full, need_for
from burner.errors import (
    BurnerError,
    DeviceBusy,
    DeviceError,
    InternalError,
    JobCancelled,
    JobFolderGone,
    JobHeld,
    JobRejected,
    Reason,
)
from burner.stages import (
    done,
    gather,
    identity,
    master,
    plan,
    printout,
    retrieve,
    stage,
    validate,
    verify,
    write,
)
from burner.state import JobState
from burner.untrusted import lines, one_line

log = logging.getLogger("burner.pipeline")

# The order of the pipeline. "prepare" stages run while the drive burns another job.
STAGES: list[ModuleType] = [validate, retrieve, gather, identity, plan, stage, master, write,
                            verify, printout, done]


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
    ctx.record.forget(module.NAME)
    out.mkdir(parents=True, exist_ok=True)
    ctx.require_job_folder()
    if getattr(module, "NEEDS_ROOM", False):
        # Wait for room before writing, rather than fill the disk half-way.
        check_room(ctx.work, need_for(ctx.record.plan.estimated_bytes))
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
                                 "technician should look at the spool and the log",
                                 code=Reason.STATION)
                return JobState.HELD


def settle_failure(ctx: JobContext, stage_name: str, exc: BaseException) -> str:
    """Turn a stage's exception into a spool move and a recorded state, with the reason in
    words and its code (errors.Reason) beside them.

    The reason is written for people: the message's own lines are kept, and whatever came
    from outside (the folder name, file names in the details, an unexpected exception's text)
    has its control characters escaped, so it cannot add lines of its own (untrusted.py).

    A rejected job goes to rejected/, a held one to held/; a device fault is tried again up
    to `[job] max_attempts` times, then held; a busy drive or a full disk waits without using
    up an attempt. A bug in burner (InternalError, or any exception that is not a
    BurnerError) holds the job at once: trying again would fail the same way."""
    job_id = ctx.job_id
    shown_id = one_line(job_id)
    if isinstance(exc, JobCancelled):
        # Discs finished before the cancel was seen must not be handed out: they are not
        # counted, and the reason says where they are, so that they are destroyed.
        made = ctx.db.set_aside_copies(job_id, "the job was cancelled")
        if made:
            exc = JobCancelled(f"{lines(exc)}. {len(made)} disc(s) or stick(s) were written "
                               "before the cancel took effect; they are not counted and must "
                               f"not be handed out: destroy them ({', '.join(made)}).")
    if isinstance(exc, JobRejected):
        message = lines(exc)
        reason = f"Job {shown_id} was not processed: {message}"
        ctx.spool.move(job_id, "active", "rejected", reason, exc.code)
        ctx.db.set_state(job_id, JobState.REJECTED, message, code=exc.code)
        log.warning("job %s rejected at %s (reason in reason.txt)", shown_id, stage_name)
        return JobState.REJECTED
    if isinstance(exc, JobFolderGone):      # no folder to move or to write reason.txt into
        message = lines(exc)
        ctx.db.set_state(job_id, JobState.HELD, message, code=exc.code)
        log.warning("job %s held at %s: its folder left the spool", shown_id, stage_name)
        return JobState.HELD
    if isinstance(exc, JobHeld):
        message = lines(exc)
        text = [f"Job {shown_id} is on hold and was NOT written to any disc.", "", message]
        text += [f"  - {one_line(d)}" for d in exc.details]
        text += ["", "When it is sorted out, run: burner retry " + shown_id]
        ctx.spool.move(job_id, "active", "held", "\n".join(text), exc.code)
        ctx.db.set_state(job_id, JobState.HELD, message, code=exc.code)
        log.warning("job %s held at %s (reason in reason.txt)", shown_id, stage_name)
        return JobState.HELD
    if is_disk_full(exc):
        # Free what the stage wrote before anything else, so that recording this can work.
        shutil.rmtree(ctx.out(stage_name), ignore_errors=True)
        exc = DiskFull(full_words(ctx.work, None, free_bytes(ctx.work)))
    if isinstance(exc, DeviceBusy):     # not a failure: the drive is busy, the disk full
        ctx.db.set_state(job_id, JobState.WAITING, one_line(exc), code=exc.code,
                         not_before=time.time() + max(ctx.config.retry_delay_seconds,
                                                      exc.wait_seconds))
        log.info("job %s: %s", shown_id, one_line(exc))
        return JobState.WAITING
    row = ctx.db.get(job_id)
    attempts = (row.attempts if row else 0) + 1
    if isinstance(exc, BurnerError) and not isinstance(exc, InternalError):
        text = one_line(exc)     # one sentence, which may quote a device's own words
        code = exc.code
        if not isinstance(exc, DeviceError):
            log.warning("job %s: %s failed: %s", shown_id, stage_name, text, exc_info=exc)
    else:
        # A bug: the trace goes to the log, plain words to the person; no second attempt.
        log.exception("job %s: unexpected failure in %s", shown_id, stage_name, exc_info=exc)
        text = unexpected_words(stage_name, exc)
        code = Reason.INTERNAL
    if code != Reason.INTERNAL and attempts < ctx.config.max_attempts:
        delay = ctx.config.retry_delay_seconds * attempts
        ctx.db.set_state(job_id, JobState.WAITING, text, code=code,
                         not_before=time.time() + delay, attempts_delta=1)
        log.warning("job %s: %s failed (attempt %d), retrying: %s", shown_id, stage_name,
                    attempts, one_line(exc))
        return JobState.WAITING
    stopped = (f"stopped at '{stage_name}'" if code == Reason.INTERNAL else
               f"stopped after {attempts} attempts at '{stage_name}'")
    reason = (f"Job {shown_id} {stopped} and was put on hold.\n\n{text}\n\n"
              f"When it is fixed, run: burner retry {shown_id}")
    ctx.spool.move(job_id, "active", "held", reason, code)
    ctx.db.set_state(job_id, JobState.HELD, text, code=code, attempts_delta=1)
    return JobState.HELD


def unexpected_words(stage_name: str, exc: BaseException) -> str:
    """What a person is told of a bug in burner: what it was doing, and whom to ask."""
    return (f"burner hit an unexpected problem while doing '{stage_name}' "
            f"({exc.__class__.__name__}: {one_line(exc)}). This is not a fault of the job or "
            "the drive, so it was not tried again; a technician should look at the log.")
