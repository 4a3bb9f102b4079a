"""Disc publishers driven through their vendor software's hot folder (issue 14): the robot's
PC (Epson TD Bridge, Primera PTBurn) watches a shared folder; burner writes a job file there,
follows the job through the file-name changes and status files the vendor documents, and
counts a copy only when the robot says the disc was made. The vendor specifics are in
tdbridge.py and ptburn.py; this module is what they share.

One robot job makes one copy ("disc1-copy2"), so every copy is counted exactly and a disc the
robot rejected is burned again as its own job. Before a job file is written, its robot job id
is kept in the job's tray (`media/<job>/<label>.robotjob`): a station restarted while the robot
works finds the id there and follows the same job instead of submitting it again. A job that
ends in an error is forgotten there, so the next attempt submits a new one (id "-2", "-3"...).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

from burner.config import DriveConfig
from burner.errors import DeviceError, JobCancelled
from burner.media.kinds import KINDS, drive_capacity
from burner.media.writer import BUSY, FAULT, NO_MEDIUM, READY, Writer, WriterStatus

QUEUED, WORKING, DONE, ERROR, STOPPED, CANCELLED = (
    "queued", "working", "done", "error", "stopped", "cancelled")
IMAGES = "images"            # inside the hot folder: the ISO images the robot burns
_SAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class RobotJob:
    """How one robot job stands, as its files and the robot's status files say."""

    state: str                 # QUEUED, WORKING, DONE, ERROR, STOPPED or CANCELLED
    made: int = 0              # discs completed
    failed: int = 0            # discs the robot rejected
    words: str = ""            # what the robot says, for people


@dataclass(frozen=True)
class RobotState:
    """How the robot stands: ready, or why not (out of discs, ink, a cover open...)."""

    state: str                 # READY, BUSY, NO_MEDIUM or FAULT (writer.py)
    words: str


class RobotFault(DeviceError):
    """The robot reported an error for a job; the copy is tried again as a new job."""


class HotFolderRobot(Writer[str]):
    """The shared part of the robot writers; a vendor subclass fills in submit, poll, cancel
    and robot_state (and may read its own settings from `drive`)."""

    vendor = "robot"

    def __init__(self, drive: DriveConfig, tray: Path, job_id: str = "",
                 merge: dict[str, str] | None = None):
        self.drive = drive
        self.name = drive.name
        self.media = drive.media
        self.device = drive.device            # the hot folder as this station mounts it
        self.capacity = drive_capacity(drive) or KINDS[drive.media].capacity
        self.folder = Path(drive.device)
        self.tray = tray
        self.job_id = job_id
        self.merge = dict(merge or {})        # label merge fields, in the label's order
        # set by the write stage: the merge fields of volume N, and whether to stop
        self.merge_for: Callable[[int], dict[str, str]] = lambda _index: dict(self.merge)
        self.should_stop: Callable[[], bool] = lambda: False

    # --- what a vendor fills in ----------------------------------------------------------

    def submit(self, job: str, image: str, volume_label: str) -> None:
        """Write the job file for one copy of `image` (a path as the robot's PC sees it)."""
        raise NotImplementedError

    def poll(self, job: str) -> RobotJob | None:
        """How `job` stands; None when the robot has no trace of it."""
        raise NotImplementedError

    def cancel(self, job: str) -> None:
        """Ask the robot to stop `job` (its cancel file)."""
        raise NotImplementedError

    def robot_state(self) -> RobotState:
        """How the robot stands, from its status file."""
        raise NotImplementedError

    # --- shared ----------------------------------------------------------------------------

    def robot_path(self, path: Path) -> str:
        """`path` (inside the hot folder) as the robot's PC sees it: `robot_path` in place of
        the station's mount, Windows separators when that is a Windows path."""
        rel = path.relative_to(self.folder)
        base = self.drive.robot_path or str(self.folder)
        if "\\" in base or re.match(r"[A-Za-z]:", base):
            return str(PureWindowsPath(base, *rel.parts))
        return str(Path(base, rel))

    def _memo(self, label: str) -> Path:
        return self.tray / f"{label}.robotjob"

    def _current(self, label: str) -> str | None:
        try:
            return self._memo(label).read_text(encoding="ascii").strip() or None
        except (OSError, UnicodeDecodeError):
            return None

    def _new_job(self, label: str) -> str:
        """A robot job id not used before for this copy: <job>-<label>[-n], at most 40 of
        A-Z, a-z, 0-9, - and _ (TD Bridge's rule, the stricter)."""
        base = _SAFE.sub("_", f"{self.job_id}-{label}")[:34]
        n = 1
        while True:
            job = base if n == 1 else f"{base}-{n}"
            if self.poll(job) is None and not (self.folder / IMAGES / f"{job}.iso").exists():
                return job
            n += 1

    def _remember(self, label: str, job: str | None) -> None:
        memo = self._memo(label)
        if job is None:
            memo.unlink(missing_ok=True)
            return
        self.tray.mkdir(parents=True, exist_ok=True)
        part = memo.with_suffix(".part")
        part.write_text(job, encoding="ascii")
        os.replace(part, memo)

    def write_copy(self, image: Path, size: int, sha256: str, label: str,
                   after_burn: Callable[[], None] | None = None,
                   progress: Callable[[int], None] | None = None) -> str:
        """Submit (or adopt) the robot job of this copy and follow it to its end."""
        self.refuse_too_big(Path(image), size, label)
        if not self.folder.is_dir():
            raise RobotFault(f"The disc robot {self.name}'s folder {self.folder} is not there: "
                             "is the robot PC's share mounted? The copy will be tried again.")
        job = self._current(label)
        state = self.poll(job) if job else None
        if job is None or state is None or state.state in (ERROR, CANCELLED, STOPPED):
            job = self._new_job(label)
            self._remember(label, job)          # before the job file: a crash adopts it
            staged = self.folder / IMAGES / f"{job}.iso"
            staged.parent.mkdir(exist_ok=True)      # never a local stand-in for the share
            part = staged.with_name(f".{staged.name}.part")
            shutil.copyfile(image, part)
            os.replace(part, staged)
            volume = re.fullmatch(r"disc(\d+)-copy\d+", label)
            self.merge = self.merge_for(int(volume.group(1)) if volume else 1)
            self.submit(job, self.robot_path(staged), label)
        try:
            outcome = self._follow(job, size, progress)
        except JobCancelled:           # the staged image holds patient data: not left there
            (self.folder / IMAGES / f"{job}.iso").unlink(missing_ok=True)
            raise
        if after_burn:
            after_burn()
        (self.folder / IMAGES / f"{job}.iso").unlink(missing_ok=True)
        if outcome.state != DONE or outcome.made < 1:
            self._remember(label, None)
            raise RobotFault(f"The disc robot {self.name} could not make {label}: "
                             f"{outcome.words or outcome.state}. The copy will be tried again.")
        return f"{self.name}:{job}"

    def _follow(self, job: str, size: int, progress: Callable[[int], None] | None) -> RobotJob:
        """Poll until the job ends; a cancel of the burner job cancels the robot job."""
        deadline = time.monotonic() + self.drive.timeout_minutes * 60
        cancelled = False
        while True:
            state = self.poll(job)
            if state is None:
                state = RobotJob(ERROR, words="the robot lost the job")
            if state.state in (DONE, ERROR, STOPPED, CANCELLED):
                if cancelled:
                    raise JobCancelled("the job was cancelled by an operator; the robot was "
                                       f"told to stop ({state.state})")
                return state
            if not cancelled and self.should_stop():
                self.cancel(job)
                cancelled = True
                deadline = min(deadline, time.monotonic() + 300)
            if progress and state.state == WORKING:
                progress(size // 2)
            if time.monotonic() > deadline:
                raise RobotFault(f"The disc robot {self.name} did not finish {job} in "
                                 f"{self.drive.timeout_minutes:g} minutes "
                                 f"({state.words or state.state}).")
            time.sleep(self.drive.poll_seconds)

    def status(self) -> WriterStatus:
        try:
            robot = self.robot_state()
        except OSError as exc:
            return WriterStatus(self.name, self.device, self.media, FAULT,
                                f"the robot's folder cannot be read ({exc.strerror})")
        medium = {READY: "blank", NO_MEDIUM: "none"}.get(robot.state, "")
        return WriterStatus(self.name, self.device, self.media, robot.state, robot.words,
                            medium)


__all__ = ["BUSY", "CANCELLED", "DONE", "ERROR", "FAULT", "HotFolderRobot", "NO_MEDIUM",
           "QUEUED", "READY", "RobotFault", "RobotJob", "RobotState", "STOPPED", "WORKING"]
