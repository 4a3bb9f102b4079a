"""`burner recover --accept-lost-state`: rebuild the station's record of the jobs it was
working on after its database was lost, emptied or replaced (Station.lost_jobs).

What can be known again is taken from the job folders, the work tree and media/: a stage of
the prepare lane counts as done when master's saved images are there (stages run in order and
each saves its result last), and a
disc file in media/<job>/ counts as a copy only when it reads back as exactly the volume's
image. Every other file found there is moved to media/<job>/unconfirmed/: never counted, never
burned over. Copies handed out on real discs before the loss cannot be confirmed; the job's
history says so.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from burner.config import Config
from burner.media import checksums
from burner.media.kinds import KINDS
from burner.pipeline import STAGES
from burner.record import Image, JobRecord, StaleRecord
from burner.spool import Spool, write_owner
from burner.state import StateDB

# A copy a writer left in media/<job>/: disc<volume>-copy<n> with the suffix of an image.
_SUFFIXES = "|".join(sorted({re.escape(k.suffix) for k in KINDS.values()}))
_COPY_NAME = re.compile(rf"disc(\d+)-copy(\d+)({_SUFFIXES})")


@dataclass
class Rebuilt:
    job_id: str
    stages: list[str] = field(default_factory=list)
    copies: list[tuple[int, int]] = field(default_factory=list)
    unconfirmed: list[str] = field(default_factory=list)


def _saved(config: Config, job_id: str, name: str) -> object | None:
    """A result of the job record (`images`, `plan`) from the station's own work tree, if it
    is there, whole and of this version."""
    try:
        return getattr(JobRecord(config.work_dir / job_id), name)
    except StaleRecord:
        return None


def _images(config: Config, job_id: str) -> dict[int, Image] | None:
    saved = _saved(config, job_id, "images")
    return {image.index: image for image in saved} if saved is not None else None


def rebuild_job(config: Config, spool: Spool, db: StateDB, job_id: str) -> Rebuilt:
    out = Rebuilt(job_id)
    db.add_job(job_id, config.station_id)
    # Stages run in order and master saves its images last: with them, every stage of the
    # prepare lane was done; without them nothing later can be trusted, so it starts over.
    images = _images(config, job_id)
    media = _saved(config, job_id, "plan")
    if images is not None and media is not None:
        out.stages = [m.NAME for m in STAGES if m.LANE == "prepare"]
        db.set_media(job_id, media.media)      # which writer's lane takes the job
    else:
        images = None
    db.mark_stages_done(job_id, out.stages, f"rebuilt after a lost database: {out.stages}")
    tray = config.media_dir / job_id
    drive = next((d.name for d in config.drives), "recovered")
    for path in sorted(tray.iterdir()) if tray.is_dir() else []:
        if not path.is_file():
            continue
        found = _COPY_NAME.fullmatch(path.name)
        image = images.get(int(found.group(1))) if found and images else None
        if image is not None and path.stat().st_size >= image.bytes and \
                checksums.sha256_file(path, image.bytes, uncached=True)[0] == image.sha256:
            copy = (image.index, int(found.group(2)))
            db.record_copy(job_id, copy[0], copy[1], drive, str(path), image.sha256)
            out.copies.append(copy)
            continue
        aside = tray / "unconfirmed"
        aside.mkdir(exist_ok=True)
        os.replace(path, aside / path.name)
        out.unconfirmed.append(path.name)
    db.note(job_id, "recover", "rebuilt",
            f"stages {out.stages or 'none'}; copies kept {out.copies or 'none'}; unconfirmed "
            f"files {out.unconfirmed or 'none'}; discs handed out before the loss cannot be "
            "confirmed")
    write_owner(spool.path("active", job_id), config.station_id, db.generation)
    return out
