"""What a station keeps, and for how long: `[retention] days` after a job is done, rejected
or cancelled, its work tree, its disc images and its written-media files are deleted (`burner
cleanup`, and the service once an hour). Only jobs whose spool folder and database agree that
they ended are touched; held, waiting and active jobs keep everything a person may need. The
job's folder in the spool (its record: job.json, result.json or reason.txt, audit.xml, prints)
is the spool's and stays.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from burner.config import Config
from burner.spool import Spool
from burner.state import JobState, StateDB

DAY = 86400.0
INTAKE_DONE = "intake-done"  # the front desk's exported folders already made into jobs
INTERVAL_SECONDS = 3600.0    # how often `burner run` looks for expired jobs


@dataclass
class Expired:
    """One finished job whose products are old enough to delete."""

    job_id: str
    finished: float                      # epoch seconds
    paths: list[Path] = field(default_factory=list)
    bytes: int = 0
    error: str = ""                      # why deleting failed (the rest stays for next time)


def tree_bytes(path: Path) -> int:
    """Bytes in the files under `path` (hard links counted once), without following links."""
    seen: set[tuple[int, int]] = set()
    total = 0
    if path.is_file():
        return path.stat().st_size
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(folder, name))
            except FileNotFoundError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def products(config: Config, job_id: str) -> list[Path]:
    """The station's own files made for `job_id` that exist now."""
    places = (config.work_dir, config.images_dir, config.media_dir)
    return [p for p in (base / job_id for base in places) if p.exists() or p.is_symlink()]


def finished_at(spool: Spool, db: StateDB, job_id: str) -> float | None:
    """When `job_id` ended, if it has: done (in done/ with its result) or rejected or cancelled
    (in rejected/ with its reason), and the database agrees or does not know the job. The
    later of the two times, so neither clock makes a job look older. Held jobs never end here:
    they keep everything until a person releases or cancels them."""
    for where, mark, state in (("done", "result.json", JobState.DONE),
                               ("rejected", "reason.txt", JobState.REJECTED)):
        record = spool.path(where, job_id) / mark
        if not record.is_file():
            continue
        row = db.get(job_id)
        if row is not None and row.state != state:
            return None
        when = record.stat().st_mtime
        return max(when, row.updated) if row is not None else when
    return None


def expired(config: Config, db: StateDB, now: float | None = None) -> list[Expired]:
    """Ended jobs older than `[retention] days` that still have products; none when days is 0."""
    if config.retention_days <= 0:
        return []
    now = time.time() if now is None else now
    spool = Spool(config.spool_dir)
    names: set[str] = set()
    for base in (config.work_dir, config.images_dir, config.media_dir):
        if base.is_dir():
            names.update(p.name for p in base.iterdir() if not p.name.startswith("."))
    out = []
    for job_id in sorted(names):
        when = finished_at(spool, db, job_id)
        if when is None or now - when < config.retention_days * DAY:
            continue
        paths = products(config, job_id)
        if paths:
            out.append(Expired(job_id, when, paths, sum(tree_bytes(p) for p in paths)))
    return out + _expired_exports(config, now) + _expired_arrivals(config, now)


def _expired_exports(config: Config, now: float) -> list[Expired]:
    """Folders the front desk made into jobs (`<data>/intake-done/<request>-<time>`, kept as
    they were exported) once they are older than `[retention] days`: the job folder holds the
    copy that was approved, so these are only a second copy of patient data."""
    done = config.data_dir / INTAKE_DONE
    if not done.is_dir():
        return []
    out = []
    for path in sorted(done.iterdir()):
        try:
            when = path.lstat().st_mtime
        except OSError:
            continue
        if now - when >= config.retention_days * DAY:
            out.append(Expired(f"{INTAKE_DONE}/{path.name}", when, [path], tree_bytes(path)))
    return out


def _expired_arrivals(config: Config, now: float) -> list[Expired]:
    """Folders of images received over the network (`<intake>/net-<AE>-<study>`, see
    network/received.py) to which nothing arrived for `[retention] days`: a disc request
    made its job from them long ago, or nobody attached them; the PACS keeps the originals."""
    from burner.desk.settings import desk_settings

    intake = desk_settings(config).intake_dir
    try:
        folders = sorted(p for p in intake.iterdir() if p.name.startswith("net-"))
    except OSError:
        return []
    out = []
    for path in folders:
        try:
            when = path.lstat().st_mtime      # a file moved in changes it
        except OSError:
            continue
        if now - when >= config.retention_days * DAY and path.is_dir():
            out.append(Expired(f"intake/{path.name}", when, [path], tree_bytes(path)))
    return out


def clean(config: Config, db: StateDB, now: float | None = None, *,
          dry_run: bool = False) -> list[Expired]:
    """Delete what `expired` finds (unless `dry_run`), noting it in each job's history."""
    found = expired(config, db, now)
    if dry_run:
        return found
    for item in found:
        try:
            for path in item.paths:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
        except OSError as exc:
            item.error = f"{exc.strerror or exc} ({exc.filename})"
            continue
        if db.get(item.job_id) is not None:
            db.note(item.job_id, "retention", "deleted",
                    f"{len(item.paths)} folder(s), {item.bytes} bytes")
    return found


def disk_use(config: Config) -> dict:
    """Bytes used by each of the station's folders, and what the data folder's disk has free."""
    places = {"spool": config.spool_dir, "work": config.work_dir,
              "images": config.images_dir, "media": config.media_dir}
    used = {name: tree_bytes(path) if path.exists() else 0 for name, path in places.items()}
    db = config.db_path
    used["database"] = sum(p.stat().st_size for p in db.parent.glob(db.name + "*")
                           if p.is_file())
    probe = config.data_dir if config.data_dir.exists() else Path(config.data_dir.anchor)
    usage = shutil.disk_usage(probe)
    return {"used": used, "free": usage.free, "total": usage.total}
