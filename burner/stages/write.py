"""write: N verified copies of every volume. Each copy is burned, read back and compared with
the image before it counts; copies already recorded are never burned again.

A job queued again after its disc images were lost is prepared anew; its new images differ
from the old ones byte for byte (the time of the rewrite is recorded in each object), so a copy
made before counts only if its volume holds the same objects as the rebuilt one
(`contents_of`); otherwise the job is held rather than left with discs of two kinds."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from burner.errors import JobHeld
from burner.locks import device_lock
from burner.media.robot import HotFolderRobot
from burner.media.writers import writer_for

if TYPE_CHECKING:
    from burner.context import JobContext

NAME = "write"
LANE = "device"
RESUMABLE = True   # progress is per copy, in the database: a restart burns only what is missing


def contents_of(ctx: JobContext) -> dict[int, str]:
    """Per volume, a digest of what it holds: the medium, the volume count and its objects
    (by SOP Instance UID; a report by the file it was made from, as its UID is new each time)."""
    plan = ctx.record.plan
    gathered = ctx.record.gathered
    made = {r.sop_instance: f"report:{r.rel}" for r in gathered.reports}
    out = {}
    for index, members in enumerate(plan.volumes, 1):
        names = sorted(made.get(gathered.instances[i].sop_instance,
                                gathered.instances[i].sop_instance) for i in members)
        text = "\n".join([plan.media, str(len(plan.volumes)), *names])
        out[index] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return out


def check_earlier_copies(ctx: JobContext, images: list, contents: dict[int, str]) -> None:
    """JobHeld when copies recorded from an earlier build of the job hold other objects than
    the discs this build would make."""
    digests = {image.index: image.sha256 for image in images}
    known = ctx.db.volume_contents(ctx.job_id)
    stale = sorted({(r["volume"], r["copy"]) for r in ctx.db.copies(ctx.job_id)
                    if r["sha256"] != digests.get(r["volume"])
                    and (r["volume"] not in contents
                         or known.get(r["volume"]) != contents[r["volume"]])})
    if stale:
        raise JobHeld(
            "Discs were made for this job before, from an earlier build that cannot be shown "
            "to hold the same images as the discs it would make now, so no more were made. "
            "To make every copy anew: burner retry " + ctx.job_id + " --start-over",
            [f"disc {v} copy {c}" for v, c in stale])


def run(ctx: JobContext) -> None:
    manifest = ctx.record.manifest
    plan = ctx.record.plan
    images = ctx.record.images
    writer = writer_for(ctx.config, plan.media, ctx.job_id, ctx.writer,
                        manifest.media_destination,
                        {v.index: v.tree for v in ctx.record.staged.volumes})
    if isinstance(writer, HotFolderRobot):
        writer.merge_for = lambda index: label_fields(ctx, index)
        writer.should_stop = lambda: bool((row := ctx.db.get(ctx.job_id))
                                          and row.cancel_requested)
    contents = contents_of(ctx)
    check_earlier_copies(ctx, images, contents)
    ctx.db.record_volumes(ctx.job_id, contents)
    have = {(r["volume"], r["copy"]) for r in ctx.db.copies(ctx.job_id)}
    todo = [(image, copy) for image in images for copy in range(1, manifest.media_copies + 1)
            if (image.index, copy) not in have]
    megabyte = 1_000_000
    ctx.progress.begin("MB written", round(sum(i.bytes for i, _ in todo) / megabyte, 1),
                       writer=writer.name)
    before = 0         # bytes of the copies already written in this run
    for image, copy in todo:
        ctx.check_cancel()
        label = f"disc{image.index}-copy{copy}"

        def written(done: int, base: int = before) -> None:
            ctx.progress.set((base + done) / megabyte)

        # Two stations configured with one drive never write it at once.
        with device_lock(writer.device, writer.name, ctx.config.station_id):
            medium = writer.write_copy(image.path, image.bytes, image.sha256, label,
                                       after_burn=lambda: ctx.checkpoint("write"),
                                       progress=written)
        ctx.db.record_copy(ctx.job_id, image.index, copy, writer.name, medium, image.sha256)
        before += image.bytes


def label_fields(ctx: JobContext, index: int) -> dict[str, str]:
    """What burner's own disc label shows for volume `index`, as a robot's label merge fields
    (in the label's order, top to bottom)."""
    from burner.printout.label import exam_dates
    from burner.printout.sheet import sheet_for

    sheet = sheet_for(ctx)
    return {"INSTITUTION": sheet.institution, "PATIENT": sheet.patient_name,
            "BORN": sheet.birth_date, "CONTENT": sheet.content_kind,
            "DISC": sheet.volume_word(index), "NOTE": sheet.label_text,
            "EXAMS": "; ".join(exam_dates(sheet.exams_on(index))),
            "MADE": sheet.created, "JOB": sheet.job_id}
