"""done: result.json and the audit record in the job folder, then the folder to done/."""

from __future__ import annotations

import datetime
import json
import shutil
from typing import TYPE_CHECKING

import burner
from burner import audit
from burner.printout.deliver import summary as printing
from burner.spool import write_atomic
from burner.state import JobState

if TYPE_CHECKING:
    from burner.context import JobContext

NAME = "done"
MOVES_JOB = True   # it moves the job folder from active/ to done/ itself
LANE = "device"


def result(ctx: JobContext) -> dict:
    """The job's outcome as recorded in done/<job>/result.json."""
    manifest = ctx.record.manifest
    plan = ctx.record.plan
    staged = ctx.record.staged
    gathered = ctx.record.gathered
    images = ctx.record.images
    refused = gathered.refused + staged.refused
    copies = [dict(r) for r in ctx.db.copies(ctx.job_id)]
    return {
        "job_id": ctx.job_id,
        "state": "done",
        "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "station": ctx.config.station_id,
        "software": f"burner {burner.__version__}",
        "approved_by": manifest.approval_by,
        "media": plan.media,
        "profile": plan.profile,
        "volumes": [{"index": i.index, "count": i.count, "bytes": i.bytes, "sha256": i.sha256,
                     "fileset_id": v.fileset_id, "files": v.files,
                     **_passphrase_check(ctx, plan.media, v.fileset_uid)}
                    for i, v in zip(images, staged.volumes, strict=True)],
        "copies": [{"volume": c["volume"], "copy": c["copy"], "drive": c["drive"],
                    "medium": c["medium"], "sha256": c["sha256"]} for c in copies],
        "instances": sum(len(v) for v in plan.volumes) - len(staged.refused),
        "problems": [f"{rel}: {why}" for rel, why in refused],
        **printing(ctx.db.prints(ctx.job_id)),
    }


def run(ctx: JobContext) -> None:
    manifest = ctx.record.manifest
    outcome = result(ctx)
    write_atomic(ctx.job_dir / "result.json",
                 json.dumps(outcome, indent=2).encode("utf-8"))
    studies = ctx.record.staged.summary.study_uids     # the exams on the media
    write_atomic(ctx.job_dir / "audit.xml", audit.export_event(
        job_id=ctx.job_id, station=ctx.config.station_id, user=manifest.approval_by,
        media=outcome["media"], media_ids=[c["medium"] for c in outcome["copies"]],
        patient_id=manifest.patient_id, patient_name=manifest.patient_name,
        study_uids=studies))
    ctx.checkpoint("done")
    ctx.spool.move(ctx.job_id, "active", "done")
    ctx.db.set_state(ctx.job_id, JobState.DONE)
    if not ctx.config.keep_work:
        shutil.rmtree(ctx.work, ignore_errors=True)


def _passphrase_check(ctx: JobContext, media: str, fileset_uid: str) -> dict:
    """An encrypted copy's passphrase as a slow hash only: staff confirm what a patient
    reads out (`burner.media.passphrase.confirms`), nobody can read it back."""
    if media != "zip":
        return {}
    from burner.media.passphrase import check_hash, passphrase

    return {"passphrase_check": check_hash(passphrase(ctx.config.data_dir, ctx.job_id,
                                                      fileset_uid))}
