"""The spool: job folders moving between incoming/, pending/, approved/, active/, done/,
held/ and rejected/ by atomic renames (DESIGN.md section 2)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from burner.errors import BurnerError, JobRejected
from burner.manifest import OWNER_FILE, job_id_problem

FOLDERS = ("incoming", "pending", "approved", "active", "done", "held", "rejected")
REASON = "reason.txt"
REASON_CODE = ".burner-reason-code"   # beside reason.txt: its errors.Reason, for programs
OWNER = OWNER_FILE          # written into a claimed job folder: which station works on it
ORPHAN_SECONDS = 60.0       # an active/ folder with no owner this long was left by a crash


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file so that it is either absent or complete, even after a crash."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fp:
        fp.write(data)
        fp.flush()
        os.fsync(fp.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class Spool:
    """The job folders of one spool directory."""

    def __init__(self, root: Path):
        self.root = root

    def ensure(self, create: bool = True) -> None:
        """Make the spool's folders that are missing. With `create` False the spool must
        already be one (a missing or empty folder may be a network share that is not
        mounted: making a local spool there would hide every job from the station)."""
        for path in (self.root, *(self.root / name for name in FOLDERS)):
            blocker = next((p for p in (path, *path.parents)
                            if p.exists() and not p.is_dir()), None)
            if blocker is not None:
                raise BurnerError(f"{blocker} is a file, but the spool needs a folder there "
                                  f"({path}). Move the file away, then try again.")
        if not create and not any((self.root / name).is_dir() for name in FOLDERS):
            raise BurnerError(
                f"The spool {self.root} is not there or holds no spool folders (approved/, "
                "active/, ...). If it is on a network share, check that the share is mounted; "
                "for a new station run: burner init")
        for name in FOLDERS:
            (self.root / name).mkdir(parents=True, exist_ok=True)

    def folder(self, name: str) -> Path:
        return self.root / name

    def path(self, where: str, job_id: str) -> Path:
        return self.root / where / job_id

    def locate(self, job_id: str) -> tuple[str, Path] | None:
        """Which spool folder holds `job_id`, if any."""
        for name in FOLDERS:
            p = self.root / name / job_id
            if p.is_dir():
                return name, p
        return None

    def places(self, job_id: str) -> list[str]:
        """Every spool folder holding a job folder called `job_id`."""
        return [name for name in FOLDERS if (self.root / name / job_id).is_dir()]

    def listing(self, where: str) -> list[Path]:
        """Job folders in `where`, oldest first; names starting with '.' are ignored."""
        base = self.root / where
        if not base.is_dir():
            return []
        found = [p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")]
        return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))

    def claim(self, job_dir: Path, station: str, generation: str = "") -> Path | None:
        """Take a job from approved/ by renaming it into active/; None if another took it.

        The rename alone decides; the owner file written next tells other stations sharing
        the spool (and this one after a restart) whose job it is.
        """
        target = self.root / "active" / job_dir.name
        if target.exists():
            return None
        try:
            os.rename(job_dir, target)
        except OSError:
            return None
        write_owner(target, station, generation)
        return target

    def elsewhere(self, job_id: str) -> list[str]:
        """The spool folders other than approved/ (and incoming/, a producer's) holding
        `job_id`: where a job of that name already is."""
        return [name for name in self.places(job_id) if name not in ("approved", "incoming")]

    def reject_unclaimed(self, job_dir: Path, reason: str, tag: str = "",
                         code: str = "") -> Path | None:
        """Move a job folder out of approved/ into rejected/ without claiming it; None when
        another station took it first. With a `tag` (a duplicate id) it is renamed
        `<id>-<tag>-<time>` so that nothing of an earlier job of that name is touched; without,
        it keeps its name unless rejected/ already has one."""
        stamp = time.strftime("%Y%m%dT%H%M%S")
        target = self.root / "rejected" / job_dir.name
        if tag or target.exists():
            target = target.with_name(f"{job_dir.name}-{tag or 'rejected'}-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = target.with_name(f"{job_dir.name}-{tag or 'rejected'}-{stamp}-{n}")
        try:
            os.rename(job_dir, target)
        except OSError:
            return None
        write_reason(target, reason, code)
        fsync_dir(target.parent)
        return target

    def _owner_lines(self, job_dir: Path) -> list[str]:
        try:
            with open(job_dir / OWNER, "rb") as fp:
                return fp.read(4096).decode("utf-8", "replace").splitlines()
        except OSError:
            return []

    def owner(self, job_dir: Path) -> str | None:
        """The station working on an active job, or None when no station has said so."""
        lines = self._owner_lines(job_dir)
        return (lines[0].strip() or None) if lines else None

    def owner_generation(self, job_dir: Path) -> str | None:
        """The mark of the database the job was claimed under (its second line), if any."""
        lines = self._owner_lines(job_dir)
        return lines[1].strip() or None if len(lines) > 1 else None

    def adoptable(self, job_dir: Path, station: str) -> bool:
        """May `station` take over this active job after a restart?"""
        owner = self.owner(job_dir)
        if owner is not None:
            return owner == station
        try:
            age = time.time() - job_dir.stat().st_mtime
        except FileNotFoundError:
            return False
        return age > ORPHAN_SECONDS

    def move(self, job_id: str, src: str, dest: str, reason: str | None = None,
             code: str = "") -> Path:
        """Move a job folder between spool folders; `reason` goes into reason.txt first (and
        `code`, its errors.Reason, beside it)."""
        source = self.root / src / job_id
        target = self.root / dest / job_id
        if reason is not None:
            write_reason(source, reason, code)
        if target.exists():
            raise JobRejected(f"a job called {job_id} is already in {dest}/; "
                              "rename one of them and try again")
        os.rename(source, target)
        fsync_dir(target.parent)
        return target


def write_reason(job_dir: Path, reason: str, code: str = "") -> None:
    """reason.txt for people, and the reason's code beside it for programs (none: removed, so
    that an old code never stands beside new words)."""
    if code:
        write_atomic(job_dir / REASON_CODE, f"{code}\n".encode())
    else:
        (job_dir / REASON_CODE).unlink(missing_ok=True)
    write_atomic(job_dir / REASON, (reason.rstrip() + "\n").encode("utf-8"))


def reason_code(job_dir: Path) -> str:
    """The code written beside a job folder's reason.txt ('' when none was)."""
    try:
        with open(job_dir / REASON_CODE, "rb") as fp:
            text = fp.read(64).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isidentifier() else ""


def write_owner(job_dir: Path, station: str, generation: str = "") -> None:
    """Say which station (and which of its databases) works on the job."""
    write_atomic(job_dir / OWNER, f"{station}\n{generation}\n".encode())


def check_job_id(job_id: str) -> str:
    """`job_id` if it is one (DESIGN.md section 3), else JobRejected saying what is wrong."""
    problem = job_id_problem(job_id)
    if problem:
        raise JobRejected(f"A job id {problem}; choose another one, for example "
                          "R2026-000123.")
    return job_id
