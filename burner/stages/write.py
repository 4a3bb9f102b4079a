"""write: N verified copies of every volume. Each copy is burned, read back and compared with
the image before it counts; copies already recorded are never burned again."""

from __future__ import annotations

from typing import TYPE_CHECKING

from burner.locks import device_lock
from burner.media.writers import writer_for

if TYPE_CHECKING:
    from burner.pipeline import JobContext

NAME = "write"
LANE = "device"
RESUMABLE = True   # progress is per copy, in the database: a restart burns only what is missing


def run(ctx: JobContext) -> None:
    manifest = ctx.load("validate")
    plan = ctx.load("plan")
    images = ctx.load("master")
    writer = writer_for(ctx.config, plan.media, ctx.job_id, ctx.writer)
    have = {(r["volume"], r["copy"]) for r in ctx.db.copies(ctx.job_id)}
    for image in images:
        for copy in range(1, manifest.media_copies + 1):
            if (image.index, copy) in have:
                continue
            ctx.check_cancel()
            label = f"disc{image.index}-copy{copy}"
            # Two stations configured with one drive never write it at once.
            with device_lock(writer.device, writer.name, ctx.config.station_id):
                medium = writer.write_copy(image.path, image.bytes, image.sha256, label,
                                           after_burn=lambda: ctx.checkpoint("write"))
            ctx.db.record_copy(ctx.job_id, image.index, copy, writer.name, medium, image.sha256)
