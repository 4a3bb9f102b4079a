"""A SIMULATOR of Primera's PTBurn, for tests only: never shipped, never run at a station.

It stands in for PTBurn and its disc publisher on the robot's PC, written from the same
published protocol as burner/media/ptburn.py (Primera "PTBurn 3 SDK"; section numbers as
there), and from nothing of burner's: a thread watches the Job Request Folder and

- takes each new `<job>.JRQ`, checks it as PTBurn would (SDK 2.1: known values, Copies from 1
  to 10,000, ImageType MODE_1_2048, an image it can reach) and renames it .QRJ (queued),
  .INP (in process), then .DON or .ERR (SDK 3), job error 8 for a request it cannot read;
- "burns" a disc by copying the image the JRQ names (the robot's path, `C:\\PTBurnJobs\\...`,
  mapped back into the folder) to a file of its own in `out/`, one file per disc, and reads it
  back against the image's SHA-256; a disc that fails, or one it is told to reject, goes to
  `rejects/` and the next blank is taken (BadDiscs);
- rewrites Status/SystemStatus.txt ([RobotList], [System], [<robot>]) and Status/<robot>.txt
  ([System], [JobList], [CompletedJobs] and one section per job) as SDK 3.1 and 3.2 describe;
- honours `<job>.PTM` with Message=ABORT and the job's ClientID (SDK 4.1): the job ends .ERR
  with job error 16;
- with DeleteFiles=YES deletes the first subfolder of the job folder holding the image, as
  SDK 2.1.7 says PTBurn does.

It can be told to run out of blank discs (until `refill`), out of ink (until `replace_ink`),
to reject discs, to fail a job, to stop mid-job (`halt`, until `resume`) and to go slow
(`burn_seconds`). What the published pages leave open it chooses plainly and says so: the
[RobotList] keys are Robot0, Robot1...; ink low is system error 5 (SDK 4.5 names 5, 6 and 7).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

YES_NO = ("YES", "NO")
IMAGE_TYPES = ("MODE_1_2048", "MODE_2_2336", "MODE_2_2352")     # SDK 2.1.8
ERRORS = {                                                       # SDK Appendix C, job errors
    3: "Internal robotics error.",
    4: "The file/s you are trying to burn are invalid.",
    8: "The job request file is invalid.",
    16: "The job was aborted.",
    19: "Error verifying the disc, see the log file for further information.",
    20: "The number of allowable rejects was exceeded.",
}
STATES = {"recording": 0, "verifying": 2, "printing": 3, "loading": 4, "waiting": 7,
          "complete": 10, "aborted": 13, "initializing": 14, "failed": 15}   # SDK 3.2.4.20
REJECTS_IN_A_ROW = 3


@dataclass
class SimJob:
    """One job as the simulated PTBurn holds it."""

    name: str                                   # the JRQ file name without its extension
    request: list[tuple[str, str]]              # its Key=Value lines, in order
    copies: int = 1
    image: Path | None = None
    state: int = 0                              # JobState: 0 waiting, 1 running, 2 done, 3 failed
    good: int = 0
    bad: int = 0
    in_a_row: int = 0
    error: int = 0
    words: str = "Job Initializing"
    code: int = STATES["initializing"]
    abort: bool = False

    def value(self, key: str) -> str | None:
        found = [v for k, v in self.request if k.casefold() == key.casefold()]
        return found[-1] if found else None

    def values(self, key: str) -> list[str]:
        return [v for k, v in self.request if k.casefold() == key.casefold()]


@dataclass
class Burn:
    """One disc through the simulated recorder."""

    job: str
    disc: Path            # out/ for a good disc, rejects/ for a rejected one
    good: bool


@dataclass
class Message:
    """A .PTM the simulator read."""

    name: str
    lines: list[tuple[str, str]]


class PtBurnSimulator:
    """PTBurn and one disc publisher in a thread (a simulator; see the module's words)."""

    def __init__(self, folder: Path, *, robot_root: str = "C:\\PTBurnJobs",
                 robot: str = "Disc Publisher SIM", poll: float = 0.05, blanks: int = 100,
                 burn_seconds: float = 0.0):
        self.folder = Path(folder)
        self.status_dir = self.folder / "Status"
        self.out = self.folder.parent / f"{self.folder.name}-discs"
        self.rejects = self.folder.parent / f"{self.folder.name}-rejects"
        self.robot_root = PureWindowsPath(robot_root)
        self.robot = robot
        self.poll = poll
        self.burn_seconds = burn_seconds
        self.blanks = blanks
        self.ink = 90
        self._reject = 0
        self._fail: int | None = None
        self._halted = False
        self.submitted: list[str] = []          # every JRQ taken, in order
        self.requests: dict[str, SimJob] = {}   # by name
        self.burns: list[Burn] = []
        self.messages: list[Message] = []
        self.completed: list[str] = []
        self._queue: list[SimJob] = []
        self._current: SimJob | None = None
        self._phase = "load"
        self._ready_at = 0.0
        self._serial = 0
        self._pending_disc: Path | None = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[BaseException] = []   # what broke the simulator itself

    # --- life --------------------------------------------------------------------------------

    def start(self) -> PtBurnSimulator:
        for path in (self.folder, self.status_dir, self.out, self.rejects):
            path.mkdir(parents=True, exist_ok=True)
        self._write_status()
        self._thread = threading.Thread(target=self._run, name="ptburn-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            assert not self._thread.is_alive(), "the PTBurn simulator did not stop"
            self._thread = None

    def __enter__(self) -> PtBurnSimulator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- what a test tells it ------------------------------------------------------------------

    def run_out_after(self, discs: int) -> None:
        """Only `discs` more blank discs in the bin."""
        with self._lock:
            self.blanks = discs

    def refill(self, discs: int = 100) -> None:
        with self._lock:
            self.blanks += discs

    def run_out_of_ink(self) -> None:
        with self._lock:
            self.ink = 0

    def replace_ink(self) -> None:
        with self._lock:
            self.ink = 100

    def reject_next(self, discs: int = 1) -> None:
        """The next `discs` burns fail their verify (job/disc error 19) and are rejected."""
        with self._lock:
            self._reject += discs

    def fail_next(self, error: int = 3) -> None:
        """The next job being burned ends .ERR with job error `error`."""
        with self._lock:
            self._fail = error

    def halt(self) -> None:
        """Stop mid-job: PTBurn stops working (and writing status) until `resume`."""
        with self._lock:
            self._halted = True

    def resume(self) -> None:
        with self._lock:
            self._halted = False

    # --- what a test reads ------------------------------------------------------------------------

    def good_burns(self) -> list[Burn]:
        with self._lock:
            return [b for b in self.burns if b.good]

    def extension(self, name: str) -> str | None:
        for ext in ("JRQ", "QRJ", "INP", "DON", "ERR"):
            if (self.folder / f"{name}.{ext}").exists():
                return ext
        return None

    def working(self) -> list[str]:
        """Jobs in process (.INP) now."""
        return sorted(p.stem for p in self.folder.glob("*.INP"))

    def out_of_discs(self) -> bool:
        with self._lock:
            return self._current is not None and self.blanks == 0 and self._phase == "load"

    def wait_for(self, what: Callable[[], object], timeout: float = 60.0,
                 why: str = "the simulator") -> object:
        """`what()` once it is true; AssertionError after `timeout` seconds."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.errors:
                raise AssertionError(f"the PTBurn simulator broke: {self.errors[0]!r}")
            value = what()
            if value:
                return value
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {why}")

    # --- the loop -----------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self._lock:
                    if not self._halted:
                        self._discover()
                        self._read_messages()
                        self._work()
                        self._write_status()
            except Exception as exc:  # noqa: BLE001 - a test sees it through wait_for
                self.errors.append(exc)
                return
            self._stop.wait(self.poll)

    def _rename(self, job: SimJob, old: str, new: str) -> None:
        os.replace(self.folder / f"{job.name}.{old}", self.folder / f"{job.name}.{new}")

    def _discover(self) -> None:
        """Each new .JRQ: read, checked, renamed .QRJ and queued (or .ERR at once)."""
        for path in sorted(self.folder.iterdir()):
            if not (path.is_file() and path.suffix == ".JRQ"):
                continue
            name = path.stem
            job = SimJob(name, [])
            self.submitted.append(name)
            self.requests[name] = job
            self._rename(job, "JRQ", "QRJ")
            problem = self._check(job, (self.folder / f"{name}.QRJ").read_bytes())
            if problem:
                self._finish(job, "QRJ", error=problem)
            else:
                self._queue.append(job)

    def _check(self, job: SimJob, data: bytes) -> int:
        """0 when the request is one PTBurn can do, else its job error number."""
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            return 8
        for line in text.split("\n"):
            line = line.removesuffix("\r")
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep or not re.fullmatch(r"[A-Za-z]+", key.strip()):
                return 8
            if any(not c.isprintable() for c in value):
                return 8
            job.request.append((key.strip(), value.strip()))
        for key in ("JobID", "ClientID"):
            value = job.value(key) or ""
            if len(value) > 32 or not value.isascii():
                return 8
        for key in ("VerifyDisc", "RejectIfNotBlank", "CloseDisc", "DeleteFiles"):
            if job.value(key) is not None and job.value(key) not in YES_NO:
                return 8
        copies = job.value("Copies") or "1"
        if not copies.isdigit() or not 1 <= int(copies) <= 10_000:
            return 8
        job.copies = int(copies)
        if job.value("ImageType") not in (None, *IMAGE_TYPES):
            return 8
        robot = job.value("RobotName")
        if robot is not None and robot != self.robot:
            return 8
        image = job.value("ImageFile")
        if not image:
            return 6
        job.image = self._local(image)
        return 0 if job.image is not None and job.image.is_file() else 4

    def _local(self, robot_path: str) -> Path | None:
        """The robot's path to a file, as a path in the simulated folder (None: outside it)."""
        path = PureWindowsPath(robot_path.split(",")[0].strip())
        root = self.robot_root.parts
        if [p.casefold() for p in path.parts[:len(root)]] != [p.casefold() for p in root]:
            return None
        rest = path.parts[len(root):]
        if not rest or any(p in ("..", ".") for p in rest):
            return None
        return self.folder.joinpath(*rest)

    def _read_messages(self) -> None:
        for path in sorted(self.folder.iterdir()):
            if not (path.is_file() and path.suffix == ".PTM"):
                continue
            lines = []
            for line in path.read_bytes().decode("cp1252", "replace").splitlines():
                key, _sep, value = line.partition("=")
                lines.append((key.strip(), value.strip()))
            self.messages.append(Message(path.stem, lines))
            path.unlink()
            said = {k.casefold(): v for k, v in lines}
            job = self.requests.get(path.stem)
            if said.get("message") != "ABORT" or job is None or job.state >= 2:
                continue
            if said.get("clientid") not in (job.value("ClientID"), "Administrator"):
                continue
            if job in self._queue:
                self._queue.remove(job)
                self._finish(job, "QRJ", error=16)
            else:
                job.abort = True

    def _work(self) -> None:
        """One step of the job in the recorder."""
        if self._current is None:
            if not self._queue:
                return
            self._current = job = self._queue.pop(0)
            job.state, job.words, job.code = 1, "Job Started", STATES["initializing"]
            self._rename(job, "QRJ", "INP")
            self._phase = "load"
        job = self._current
        if job.abort:
            self._current = None
            self._finish(job, "INP", error=16)
            return
        if self._phase == "load":
            if self.blanks <= 0:
                job.words, job.code = "Out of Discs", STATES["waiting"]
                return
            self.blanks -= 1
            self._phase, self._ready_at = "burn", time.monotonic() + self.burn_seconds
            job.words, job.code = "Recording Disc", STATES["recording"]
            return
        if self._phase == "burn":
            if time.monotonic() < self._ready_at:
                return
            if self._fail is not None:
                error, self._fail = self._fail, None
                self._current = None
                self._finish(job, "INP", error=error)
                return
            self._burn(job)
            return
        if self._phase == "print":
            if self.ink <= 0:
                job.words, job.code = "Ink Low", STATES["waiting"]
                return
            self._phase = "done"
            self._disc_done(job)

    def _burn(self, job: SimJob) -> None:
        assert job.image is not None
        self._serial += 1
        disc = self.out / f".{job.name}-{self._serial}.part"
        shutil.copyfile(job.image, disc)
        read_back = hashlib.sha256(disc.read_bytes()).hexdigest()
        good = read_back == hashlib.sha256(job.image.read_bytes()).hexdigest()
        if self._reject > 0:
            self._reject -= 1
            good = False
        if not good:
            rejected = self.rejects / f"{job.name}-{self._serial}.iso"
            os.replace(disc, rejected)
            self.burns.append(Burn(job.name, rejected, False))
            job.bad += 1
            job.in_a_row += 1
            job.words, job.code = "Rejecting Disc", 9
            if job.in_a_row >= REJECTS_IN_A_ROW:
                self._current = None
                self._finish(job, "INP", error=20)
            else:
                self._phase = "load"
            return
        job.in_a_row = 0
        self._pending_disc = disc
        self._phase = "print" if job.value("PrintLabel") else "done"
        job.words, job.code = "Printing Disc", STATES["printing"]
        if self._phase == "done":
            self._disc_done(job)

    def _disc_done(self, job: SimJob) -> None:
        disc = self.out / f"{job.name}-{self._serial}.iso"
        assert self._pending_disc is not None
        os.replace(self._pending_disc, disc)
        self._pending_disc = None
        self.burns.append(Burn(job.name, disc, True))
        job.good += 1
        if job.good >= job.copies:
            self._current = None
            self._finish(job, "INP")
        else:
            self._phase = "load"

    def _finish(self, job: SimJob, now: str, error: int = 0) -> None:
        job.error = error
        job.state = 3 if error else 2
        if error == 16:
            job.words, job.code = "Job Aborted", STATES["aborted"]
        elif error:
            job.words, job.code = "Job Failed", STATES["failed"]
        else:
            job.words, job.code = "The job is complete...", STATES["complete"]
        self._rename(job, now, "ERR" if error else "DON")
        self.completed.append(job.name)
        if job.value("DeleteFiles") == "YES" and job.image is not None:
            rel = job.image.relative_to(self.folder).parts
            if len(rel) > 1:                     # SDK 2.1.7: the whole first subfolder
                shutil.rmtree(self.folder / rel[0], ignore_errors=True)

    # --- status files (SDK 3.1, 3.2) ----------------------------------------------------------

    def _system_words(self) -> tuple[str, int, str]:
        if self._current is not None and self.blanks <= 0 and self._phase == "load":
            return "Out of Discs", 0, "No Errors"
        if self.ink <= 0:
            return "Ink Low", 5, "Ink Low"
        return "System OK", 0, "No Errors"

    def _write_status(self) -> None:
        status, error, error_words = self._system_words()
        bins = (self.blanks, -1)
        inks = (self.ink, self.ink)
        running = [j for j in ([self._current] if self._current else []) + self._queue]
        system = [
            "[RobotList]", f"Robot0={self.robot}",
            "[System]", f"SysErrorNumber={error}", f"SysErrorString={error_words}",
            f"ServerTickCount={int(time.monotonic())}", "DriveSpace=12000",
            f"[{self.robot}]", "SystemDrives=1", "RobotType=6", f"NumJobs={len(running)}",
            f"Status={status}", f"StatusFile={self.robot}.txt",
            f"DiscsInLeftBin={bins[0]}", f"DiscsInRightBin={bins[1]}",
            "CartridgeType0=2", f"CartridgeFill0={inks[0]}",
            "CartridgeType1=1", f"CartridgeFill1={inks[1]}",
        ]
        robot = [
            "[System]", f"SystemStatus={status}", f"SystemDesc={self.robot}",
            "SystemDrives=1", f"SysErrorNumber={error}", f"SysErrorString={error_words}",
            f"DiscsInLeftBin={bins[0]}", f"DiscsInRightBin={bins[1]}",
            "CartridgeType0=2", f"CartridgeFill0={inks[0]}",
            "CartridgeType1=1", f"CartridgeFill1={inks[1]}",
            "[JobList]", *(f"Job{i}={j.name}" for i, j in enumerate(running)),
            "[CompletedJobs]",
            *(f"Job{i}={name}" for i, name in enumerate(reversed(self.completed))),
        ]
        for job in self.requests.values():
            robot += [f"[{job.name}]", f"JobID={job.value('JobID') or job.name}",
                      f"ClientID={job.value('ClientID') or 'Unknown'}",
                      f"CurrentStatus={job.words}", f"CurrentStatusState={job.code}",
                      f"GoodDiscs={job.good}", f"BadDiscs={job.bad}",
                      f"DiscsRemaining={max(job.copies - job.good, 0)}",
                      f"JobState={job.state}", f"JobErrorNumber={job.error}",
                      f"JobErrorString={ERRORS.get(job.error, 'No Errors')}"]
        self._put(self.status_dir / "SystemStatus.txt", system)
        self._put(self.status_dir / f"{self.robot}.txt", robot)

    @staticmethod
    def _put(path: Path, lines: list[str]) -> None:
        part = path.with_name(f".{path.name}.part")
        part.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
        os.replace(part, path)


def disc_digests(sim: PtBurnSimulator) -> dict[str, str]:
    """Each good disc's robot job -> SHA-256 of its bytes."""
    out = {}
    for burn in sim.good_burns():
        out[burn.job] = hashlib.sha256(burn.disc.read_bytes()).hexdigest()
    return out


@contextlib.contextmanager
def running(folder: Path, **kwargs: object):  # noqa: ANN201 - a context manager
    """A started simulator, stopped at the end whatever happens."""
    sim = PtBurnSimulator(folder, **kwargs)  # type: ignore[arg-type]
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()
