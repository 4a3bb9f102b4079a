"""gather: read every input's DICOM header (never pixel data) and sort out what cannot go on
a disc, saying why for each file."""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from burner.content.reports import MadeReport, make_reports, max_report_bytes
from burner.dicom.headers import Instance, NotUsable, read_instance
from burner.errors import JobHeld
from burner.manifest import Manifest, iter_job_files, resolve_inside

if TYPE_CHECKING:
    from burner.pipeline import JobContext

NAME = "gather"
LANE = "prepare"
_PARALLEL_FROM = 64   # below this many files a process pool costs more than it saves


@dataclass
class Gathered:
    """The job's DICOM objects in input order, and the files left out with the reason.

    The reports of job.json come last among the instances, as Encapsulated PDF objects;
    `reports` says which report file each of them was made from.
    """

    instances: list[Instance] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    reports: list[MadeReport] = field(default_factory=list)


def _read_one(args: tuple[Path, str]) -> Instance | tuple[str, str]:
    path, rel = args
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return read_instance(path, rel)
        except NotUsable as exc:
            return (rel, str(exc))


def read_all(files: list[tuple[Path, str]], workers: int | None = None) -> Gathered:
    """Read headers of `files` ((path, name shown to people)), on every core for many files."""
    workers = workers or os.cpu_count() or 1
    if len(files) >= _PARALLEL_FROM and workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_read_one, files, chunksize=32))
    else:
        results = [_read_one(f) for f in files]
    out = Gathered()
    # Copies of one object (same SOP Instance UID) all stay: staging puts the first copy that
    # can be written on the disc and leaves the others off, naming the copy that is there.
    for item in results:
        if isinstance(item, tuple):
            out.refused.append(item)
        else:
            out.instances.append(item)
    return out


def add_reports(ctx: JobContext, manifest: Manifest, gathered: Gathered) -> None:
    """Make the job's reports into Encapsulated PDF instances in this stage's folder and add
    them to `gathered` like any input, so they are checked, planned and staged the same way."""
    gathered.reports = make_reports(ctx.job_dir, manifest, gathered.instances,
                                    ctx.out() / "reports",
                                    max_bytes=max_report_bytes(ctx.config))
    for made in gathered.reports:
        gathered.instances.append(read_instance(made.dicom, made.rel))


def run(ctx: JobContext) -> None:
    manifest = ctx.load("validate")
    reports = {os.path.realpath(resolve_inside(ctx.job_dir, r.path)) for r in manifest.reports}
    files: list[tuple[Path, str]] = []
    for rel in manifest.inputs:
        for path in iter_job_files(ctx.job_dir, rel):
            if os.path.realpath(path) not in reports:     # a report is no DICOM input
                files.append((path, path.relative_to(ctx.job_dir).as_posix()))
    gathered = read_all(files)
    if not gathered.instances:
        raise JobHeld("No DICOM images were found in this job, so there is nothing to put on a "
                      "disc.", [f"{rel}: {why}" for rel, why in gathered.refused])
    add_reports(ctx, manifest, gathered)
    ctx.save(gathered)
    ctx.checkpoint("gather")
