"""Jobs coming in: make a job folder from files (submit), release a pending one (approve)."""

from __future__ import annotations

import datetime
import json
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from burner import permissions
from burner.config import Config
from burner.errors import BurnerError, JobRejected, NoSuchJob, Reason, os_error_words
from burner.operations.common import open_spool
from burner.spool import check_job_id, write_atomic
from burner.untrusted import one_line


@dataclass(frozen=True)
class Submitted:
    job_id: str
    folder: str          # "approved" (queued) or "pending" (waits for approval)

    @property
    def queued(self) -> bool:
        return self.folder == "approved"


@dataclass(frozen=True)
class Approved:
    job_id: str
    by: str


def new_job_id() -> str:
    return datetime.date.today().strftime("J%Y%m%d-") + uuid.uuid4().hex[:6].upper()


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def submit(config: Config, paths: Sequence[Path], *, patient_id: str, patient_name: str,
           birth_date: str, issuer: str | None = None, approved_by: str | None = None,
           job_id: str | None = None, media: str = "auto", copies: int = 1,
           request: dict | None = None, note: str | None = None,
           studies: Sequence[tuple[str, str]] = (), media_options: dict | None = None,
           extra: dict | None = None) -> Submitted:
    """Copy `paths` (files and folders) into a new job folder: queued in approved/ when
    `approved_by` says who approved the release, else waiting in pending/. `request` is the
    manifest's request block (the desk's request it was made for), `note` the approval's;
    `studies` (Study Instance UID, accession number) are the exams approved: the station
    then puts no other study on the disc. `media_options` are more keys of the manifest's
    media block (profile, label_text, split...), `extra` more top-level keys (fetch)."""
    from burner.manifest import validate_manifest

    spool = open_spool(config)
    job_id = check_job_id(job_id) if job_id is not None else new_job_id()
    if spool.locate(job_id):
        raise JobRejected(f"a job called {job_id} already exists", code=Reason.DUPLICATE_ID)
    manifest: dict = {"version": 1, "job_id": job_id,
                      "patient": {"id": patient_id, "name": patient_name,
                                  "birth_date": birth_date},
                      "media": {"type": media, "copies": copies, **(media_options or {})},
                      **(extra or {})}
    if issuer:
        manifest["patient"]["issuer"] = issuer
    if request:
        manifest["request"] = request
    if studies:
        manifest["studies"] = [{"study_instance_uid": uid, **({"accession_number": acc}
                                                              if acc else {})}
                               for uid, acc in studies]
    manifest["approval"] = {"by": approved_by or "PENDING", "at": _now()}
    if note and approved_by:
        manifest["approval"]["note"] = note
    validate_manifest(manifest, job_id)  # refuse bad options before copying anything
    if not approved_by:
        del manifest["approval"]
    staging = spool.folder("incoming") / job_id
    dicom = staging / "dicom"
    dicom.mkdir(parents=True)
    try:
        for n, src in enumerate(paths, 1):
            dest = dicom / f"{n:03d}_{src.name}"
            if src.is_dir():
                shutil.copytree(src, dest, symlinks=False)
            else:
                shutil.copy2(src, dest)
            permissions.restrict_tree(dest)   # copy2 keeps the source's (often world-) read bits
        write_atomic(staging / "job.json", json.dumps(manifest, indent=2).encode("utf-8"))
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)     # no half-made job left in incoming/
        raise BurnerError(f"the files could not be copied into the spool, so no job was made "
                          f"({_copy_failure(exc)})") from None
    where = "approved" if approved_by else "pending"
    spool.move(job_id, "incoming", where)
    return Submitted(job_id, where)


def approve(config: Config, job_id: str, by: str, note: str | None = None) -> Approved:
    """Move a pending job to the queue, recording who approved it (and their note)."""
    spool = open_spool(config)
    job_dir = spool.path("pending", job_id)
    if not job_dir.is_dir():
        raise NoSuchJob(f"there is no job {job_id} waiting in pending/")
    path = job_dir / "job.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise JobRejected(f"job {job_id} has no readable job.json ({one_line(exc)[:200]})") \
            from None
    if not isinstance(data, dict):
        raise JobRejected(f"job {job_id} has no readable job.json (it holds no JSON object)")
    data["approval"] = {"by": by, "at": _now()}
    if note:
        data["approval"]["note"] = note
    write_atomic(path, json.dumps(data, indent=2).encode("utf-8"))
    spool.move(job_id, "pending", "approved")
    return Approved(job_id, by)


def _copy_failure(exc: OSError) -> str:
    """shutil.copytree gathers its failures into one error; the first says enough."""
    if isinstance(exc, shutil.Error) and exc.args and isinstance(exc.args[0], list):
        first = exc.args[0][0] if exc.args[0] else ("", "", str(exc))
        return f"{len(exc.args[0])} file(s) failed, the first: {one_line(first[2])[:200]}"
    return os_error_words(exc)
