"""verify: re-check every written copy as a medium: each file against SHA256.TXT and the
DICOMDIR against its files. The block-for-block comparison with the image's SHA-256 happens
for each copy in the write stage, while the disc is still in the drive."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from burner.errors import MediaMismatch
from burner.media.medium import check_medium

if TYPE_CHECKING:
    from burner.context import JobContext

NAME = "verify"
LANE = "device"


def run(ctx: JobContext) -> None:
    images = {i.index: i for i in ctx.record.images}
    reports = []
    copies = ctx.db.copies(ctx.job_id)
    ctx.progress.begin("copies checked", len(copies))
    for row in copies:
        image = images[row["volume"]]
        medium = Path(row["medium"])
        # A real drive's disc has left the tray; its blocks matched the image, so check that.
        target = medium if medium.is_file() else image.path
        # Its blocks were compared with the image's SHA-256 when written (write stage).
        report = check_electronic(ctx, target, row["volume"]) \
            if ctx.record.plan.media == "zip" else check_medium(target)
        ctx.checkpoint("verify")
        if not report.ok:
            bad = report.mismatched + report.missing + report.problems
            raise MediaMismatch(
                f"Copy {row['copy']} of disc {row['volume']} failed its check: "
                f"{'; '.join(bad[:5])}. Put in a new blank disc; the job will retry.", bad)
        reports.append(report.as_dict())
        ctx.progress.add()
    ctx.save(reports)


def check_electronic(ctx: JobContext, archive: Path, volume: int):  # noqa: ANN201
    """An encrypted ZIP opened with its passphrase, its tree checked like a medium's."""
    import tempfile

    from burner.media.electronic import extract_zip
    from burner.media.passphrase import passphrase

    vol = next(v for v in ctx.record.staged.volumes if v.index == volume)
    with tempfile.TemporaryDirectory(prefix="burner-zip-", dir=ctx.work) as tmp:
        extract_zip(archive, passphrase(ctx.config.data_dir, ctx.job_id, vol.fileset_uid),
                    Path(tmp))
        return check_medium(Path(tmp))
