"""gather: parse every input once, strictly, and write its canonical copy (the only form in
which it may reach a disc) into this stage's folder; say why for each file left out."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from burner.content.reports import make_reports, max_report_bytes
from burner.dicom.headers import Instance, NotUsable, read_instance
from burner.dicom.parse import Damaged, Limits
from burner.errors import JobHeld, Reason
from burner.manifest import Manifest, iter_job_files, resolve_inside, skipped_job_files
from burner.patient import Approved, approved_from
from burner.record import Gathered
from burner.workers import pool as workers_pool

if TYPE_CHECKING:
    from burner.context import JobContext

NAME = "gather"
LANE = "prepare"
_PARALLEL_FROM = 64   # below this many files a process pool costs more than it saves


class ReadJob(NamedTuple):
    """One input: its path, the name people know it by, where its canonical copy goes (none:
    only read it), the identity to write and the bounds of the parse."""

    path: Path
    rel: str
    dest: Path | None = None
    approved: Approved | None = None
    limits: Limits = Limits()


def _read_one(job: ReadJob) -> Instance | tuple[str, str, bool]:
    try:
        return read_instance(*job)
    except (NotUsable, Damaged) as exc:
        if job.dest is not None:
            job.dest.unlink(missing_ok=True)
        return (job.rel, str(exc), isinstance(exc, Damaged))


def read_all(jobs: list[ReadJob], workers: int | None = None,
             progress: Callable[[], None] | None = None) -> Gathered:
    """Read (and copy) `jobs`, on every core for many files; `progress` after each file."""
    workers = workers or os.cpu_count() or 1
    results = []
    if len(jobs) >= _PARALLEL_FROM and workers > 1:
        with workers_pool(workers) as pool:
            for item in pool.map(_read_one, jobs, chunksize=16):   # in order, as they come
                results.append(item)
                if progress:
                    progress()
    else:
        for job in jobs:
            results.append(_read_one(job))
            if progress:
                progress()
    out = Gathered()
    # Copies of one object (same SOP Instance UID) all stay: staging puts the first copy that
    # can be written on the disc and leaves the others off, naming the copy that is there.
    for item in results:
        if isinstance(item, Instance):
            out.instances.append(item)
        elif item[2]:
            out.damaged.append(item[:2])
        else:
            out.refused.append(item[:2])
    return out


def add_reports(ctx: JobContext, manifest: Manifest, gathered: Gathered,
                objects: Path) -> None:
    """Make the job's reports into Encapsulated PDF instances in this stage's folder and add
    them to `gathered` like any input, so they are checked, planned and staged the same way."""
    gathered.reports = make_reports(ctx.job_dir, manifest, gathered.instances,
                                    ctx.out() / "reports",
                                    max_bytes=max_report_bytes(ctx.config))
    for n, made in enumerate(gathered.reports, 1):
        gathered.instances.append(read_instance(made.dicom, made.rel, objects / f"R{n:06d}",
                                                gathered.approved, ctx.config.limits))


def run(ctx: JobContext) -> None:
    manifest = ctx.record.manifest
    approved = approved_from(manifest, ctx.config)
    reports = {os.path.realpath(resolve_inside(ctx.job_dir, r.path)) for r in manifest.reports}
    objects = ctx.out() / "objects"
    objects.mkdir()
    jobs: list[ReadJob] = []
    for rel in manifest.inputs:
        for path in iter_job_files(ctx.job_dir, rel):
            if os.path.realpath(path) not in reports:     # a report is no DICOM input
                jobs.append(ReadJob(path, path.relative_to(ctx.job_dir).as_posix(),
                                    objects / f"I{len(jobs):06d}", approved,
                                    ctx.config.limits))
    fetched = ctx.out("retrieve") / "objects"     # what the retrieve stage brought
    if manifest.fetch is not None and fetched.is_dir():
        for path in sorted(fetched.iterdir()):
            if path.suffix == ".dcm" and path.is_file():
                jobs.append(ReadJob(path, f"pacs/{path.name}", objects / f"I{len(jobs):06d}",
                                    approved, ctx.config.limits))
    ctx.progress.begin("files read", len(jobs))
    gathered = read_all(jobs, progress=ctx.progress.add)
    gathered.approved = approved
    for rel in manifest.inputs:
        gathered.refused += skipped_job_files(ctx.job_dir, rel)
    if not gathered.instances and not gathered.damaged:
        raise JobHeld("No DICOM images were found in this job, so there is nothing to put on a "
                      "disc.", [f"{rel}: {why}" for rel, why in gathered.refused],
                      code=Reason.NOTHING_TO_WRITE)
    add_reports(ctx, manifest, gathered, objects)
    ctx.save(gathered)
    ctx.checkpoint("gather")
