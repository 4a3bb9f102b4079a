"""Where instances received over the network are kept: the front desk's intake folder, one
folder per sending AE and study ("net-RIS-3f9a0c2d1e4b"), so the desk can attach them to a
request like an exported folder, and an index by SOP Instance UID for Media Creation
Management requests.

A file is written whole beside the intake (in `.receiving/`), then renamed into its folder
under the intake lock. The desk takes a folder under the same lock (desk.intake), so an
instance arriving later goes into a new folder, never into one already made into a job.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from burner.tables import StationTables

RECEIVING = ".receiving"
LOCK = ".intake.lock"
_SAFE = re.compile(r"[^A-Za-z0-9]+")

# The DICOM listener of this process, if one runs (listener.start adds it): a C-MOVE's
# images come to it, so a fetch by C-MOVE needs to know.
LISTENING: list = []

_SCHEMA = """
CREATE TABLE IF NOT EXISTS network_received (
    sop_instance_uid TEXT PRIMARY KEY,
    sop_class_uid TEXT NOT NULL,
    study_uid TEXT NOT NULL,
    path TEXT NOT NULL,
    calling_ae TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    at REAL NOT NULL
);
"""


@contextlib.contextmanager
def intake_lock(intake: Path) -> Iterator[None]:
    """Held while a received file is put into its folder and while the desk takes a folder."""
    intake.mkdir(parents=True, exist_ok=True)
    fd = os.open(intake / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def folder_name(calling_ae: str, study_uid: str) -> str:
    """The intake folder of one study from one AE: no patient data in the name."""
    ae = _SAFE.sub("_", calling_ae.strip()).strip("_") or "AE"
    return f"net-{ae}-{hashlib.sha256(study_uid.encode()).hexdigest()[:12]}"


def file_name(sop_instance_uid: str) -> str:
    return hashlib.sha256(sop_instance_uid.encode()).hexdigest()[:20] + ".dcm"


@dataclass(frozen=True)
class Arrival:
    """One instance as received: its UIDs, who sent it and where it is."""

    sop_instance_uid: str
    sop_class_uid: str
    study_uid: str
    calling_ae: str
    path: Path
    bytes: int


class Received(StationTables):
    """The index of received instances by SOP Instance UID (the newest copy wins)."""

    SCHEMA = _SCHEMA

    def add(self, arrival: Arrival) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO network_received VALUES (?,?,?,?,?,?,?)",
            (arrival.sop_instance_uid, arrival.sop_class_uid, arrival.study_uid,
             str(arrival.path), arrival.calling_ae, arrival.bytes, time.time()))

    def where(self, sop_instance_uids: list[str]) -> dict[str, Path]:
        """Those of `sop_instance_uids` whose file is still there, and where."""
        out = {}
        for start in range(0, len(sop_instance_uids), 500):
            chunk = sop_instance_uids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._conn.execute(
                    "SELECT sop_instance_uid, path FROM network_received "
                    f"WHERE sop_instance_uid IN ({marks})", chunk):
                path = Path(row["path"])
                if path.is_file():
                    out[row["sop_instance_uid"]] = path
        return out


def store(intake: Path, calling_ae: str, study_uid: str, sop_instance_uid: str,
          data: bytes) -> Path:
    """Write one received file (`data`: preamble, meta and data set) into its study's folder;
    returns its path. The file is whole before it has its name."""
    part_dir = intake / RECEIVING
    part_dir.mkdir(parents=True, exist_ok=True)
    part = part_dir / f"{uuid.uuid4().hex}.part"
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        with intake_lock(intake):
            folder = intake / folder_name(calling_ae, study_uid)
            folder.mkdir(exist_ok=True)
            dest = folder / file_name(sop_instance_uid)
            os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return dest
