"""Where instances received over the network are kept: the front desk's intake folder, one
folder per sending AE and study ("net-RIS-3f9a0c2d1e4b"), so the desk can attach them to a
request like an exported folder. A file is named by a hash of its SOP Instance UID, so a Media
Creation Management request finds its instances by name, with no index to keep in step.

A file is written whole beside the intake (in `.receiving/`), then renamed into its folder. The
desk takes a folder by renaming it (desk.intake): a file renamed in before that goes with the
folder (the identity gate checks it like every other), one after it finds the folder gone and
makes a new one, so nothing lands in a folder already made into a job.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path

RECEIVING = ".receiving"
PREFIX = "net-"
_SAFE = re.compile(r"[^A-Za-z0-9]+")

# The DICOM listener of this process, if one runs (listener.start adds it): a C-MOVE's
# images come to it, so a fetch by C-MOVE needs to know.
LISTENING: list = []


def folder_name(calling_ae: str, study_uid: str) -> str:
    """The intake folder of one study from one AE: no patient data in the name."""
    ae = _SAFE.sub("_", calling_ae.strip()).strip("_") or "AE"
    return f"{PREFIX}{ae}-{hashlib.sha256(study_uid.encode()).hexdigest()[:12]}"


def file_name(sop_instance_uid: str) -> str:
    return hashlib.sha256(sop_instance_uid.encode()).hexdigest()[:20] + ".dcm"


def store(intake: Path, calling_ae: str, study_uid: str, sop_instance_uid: str,
          data: bytes) -> Path:
    """Write one received file (`data`: preamble, meta and data set) into its study's folder;
    returns its path. The file is whole before it has its name; the same object sent again
    replaces the earlier copy."""
    part_dir = intake / RECEIVING
    part_dir.mkdir(parents=True, exist_ok=True)
    part = part_dir / f"{uuid.uuid4().hex}.part"
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        folder = intake / folder_name(calling_ae, study_uid)
        dest = folder / file_name(sop_instance_uid)
        for _ in range(5):
            folder.mkdir(exist_ok=True)
            try:
                os.replace(part, dest)
                return dest
            except FileNotFoundError:
                continue        # the desk took the folder just now: make a new one
        raise OSError(f"the intake folder {folder.name} keeps disappearing")
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def where(intake: Path, sop_instance_uids: list[str]) -> dict[str, Path]:
    """Those of `sop_instance_uids` received and still in the intake folder, and where (the
    newest copy when several AEs sent one)."""
    try:
        folders = [Path(e.path) for e in os.scandir(intake)
                   if e.name.startswith(PREFIX) and e.is_dir(follow_symlinks=False)]
    except OSError:
        return {}
    out: dict[str, Path] = {}
    newest: dict[str, float] = {}
    for uid in sop_instance_uids:
        name = file_name(uid)
        for folder in folders:
            path = folder / name
            try:
                info = path.lstat()
            except OSError:
                continue
            if path.is_file() and not path.is_symlink() and info.st_mtime >= newest.get(uid, 0):
                out[uid], newest[uid] = path, info.st_mtime
    return out
