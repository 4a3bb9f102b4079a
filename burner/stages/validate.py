"""validate: the manifest against its schema, and every path inside the job folder."""

from __future__ import annotations

from typing import TYPE_CHECKING

from burner.errors import JobRejected
from burner.manifest import load_manifest

if TYPE_CHECKING:
    from burner.context import JobContext

NAME = "validate"
LANE = "prepare"


def run(ctx: JobContext) -> None:
    manifest = load_manifest(ctx.job_dir)
    if manifest.job_id != ctx.job_id:
        raise JobRejected(f"job.json says job_id {manifest.job_id!r} but the folder is called "
                          f"{ctx.job_id!r}; make them the same")
    ctx.save(manifest)
    ctx.checkpoint("validate")
