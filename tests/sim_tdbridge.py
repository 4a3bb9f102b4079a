"""A SIMULATOR of EPSON TD Bridge and the Discproducer behind it, for tests only (never
shipped, never imported by burner). Written from the TD Bridge Technical Reference Guide, as
burner/media/tdbridge.py is, so the two meet only in the hot folder:

* it takes each <name>.JDF put into the hot folder (counting every one it takes), renames it
  RJD while it reads it, then INP (waiting, then publishing), STP while paused, and DON when
  done or cancelled, or ERR when it refused the job;
* it rewrites TDBStatus.txt on every round: [ACTIVE_JOB], [COMPLETE_JOB], one [<job id>]
  section per job and [PUBLISHER1] with its stackers and inks, CRLF, ANSI;
* it "burns" a disc by copying the image the JDF names (a path as the robot's PC sees it,
  mapped back into the hot folder) to out/<job>-<n>.iso and reading it back (SHA-256);
* it honours <name>.JCF cancel files (renamed CDN, or CER for a job it cannot cancel).

A test can make it run out of blank discs (until refill()), run out of ink, reject the next
disc (one ERRORDISC, then a new blank), pause (STP) and resume, and go slow.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ANSI = "cp1252"
EOL = "\r\n"
DISC_TYPES = ("CD", "DVD", "DVD-DL", "BD", "BD-DL")
INKS = ("INK_C", "INK_M", "INK_Y", "INK_LC", "INK_LM", "INK_B")
JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
KNOWN_KEYS = {"JOB_ID", "PUBLISHER", "COPIES", "OUT_STACKER", "IN_STACKER", "DISC_TYPE",
              "FORMAT", "IMAGE", "DATA", "VOLUME_LABEL", "LABEL", "REPLACE_FIELD", "PRIORITY"}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fp:
        for block in iter(lambda: fp.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class SimJob:
    job: str                      # JOB_ID
    stem: str                     # the job file's name without its extension
    ext: str = "RJD"
    copies: int = 1
    image: Path | None = None
    status: int = 1               # STATUS: 1 waiting, 2 publishing, 3 paused, 4 done, 5, 6
    detail: int = 1               # DETAIL_STATUS
    completion: int = 0
    error_discs: int = 0
    error: str = ""
    disc: int = 0                 # discs taken from the input stacker for this job
    burning: float | None = None  # seconds spent on the disc in the drive; None: no disc
    settings: dict[str, list[str]] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.ext in ("DON", "ERR")


@dataclass(frozen=True)
class Burn:
    job: str
    disc: int
    path: Path
    sha256: str
    image_sha256: str


class TdBridgeSimulator:
    """TD Bridge and one publisher, as a thread watching `folder` (the monitoring folder)."""

    def __init__(self, folder: Path, out: Path, robot_root: str = "\\\\ROBOTPC\\burner", *,
                 publisher: str = "PP-100", blanks: int = 100, seconds_per_disc: float = 0.1,
                 tick: float = 0.05):
        self.folder = Path(folder)
        self.out = Path(out)
        self.robot_root = robot_root.rstrip("\\")
        self.publisher = publisher
        self.blanks = blanks
        self.seconds_per_disc = seconds_per_disc
        self.tick = tick
        self.inks = dict.fromkeys(INKS, 80)
        self.paused = False
        self.reject = 0
        self.jobs: dict[str, SimJob] = {}
        self.order: list[str] = []            # active jobs, in publishing order
        self.completed: list[str] = []        # most recent first
        self.submissions: Counter[str] = Counter()   # JDF files taken, per JOB_ID
        self.burns: list[Burn] = []
        self.rejected: list[Path] = []
        self.merges: dict[str, dict[str, str]] = {}  # label merge fields per job
        self.cancels: dict[str, str] = {}     # JCF job id -> CDN or CER
        self.problems: list[str] = []         # protocol errors it saw (a test wants none)
        self.failures: list[BaseException] = []
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last = time.monotonic()
        self.rounds = 0                       # rounds done (each rewrites TDBStatus.txt)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.out.mkdir(parents=True, exist_ok=True)

    # --- controls ---------------------------------------------------------------------------

    def start(self) -> TdBridgeSimulator:
        with self._lock:
            self._write_status()
        self._thread = threading.Thread(target=self._run, name="tdbridge-simulator",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            assert not self._thread.is_alive(), "the TD Bridge simulator did not stop"
            self._thread = None
        if self.failures:
            raise AssertionError(f"the TD Bridge simulator failed: {self.failures[0]!r}") \
                from self.failures[0]

    def __enter__(self) -> TdBridgeSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def refill(self, blanks: int = 100) -> None:
        with self._lock:
            self.blanks = blanks

    def run_out_after(self, discs: int) -> None:
        """Only `discs` more blanks are in the input stacker."""
        with self._lock:
            self.blanks = discs

    def set_ink(self, key: str, level: int) -> None:
        with self._lock:
            self.inks[key] = level

    def reject_next(self, discs: int = 1) -> None:
        """The next `discs` discs fail (ERRORDISC), each replaced by a new blank."""
        with self._lock:
            self.reject += discs

    def pause(self) -> None:
        """Pause as Total Disc Monitor (or an open cover) does: INP becomes STP."""
        with self._lock:
            self.paused = True

    def resume(self) -> None:
        with self._lock:
            self.paused = False

    def slow(self, seconds_per_disc: float) -> None:
        with self._lock:
            self.seconds_per_disc = seconds_per_disc

    def wait_until(self, test: Callable[[], object], timeout: float = 60,
                   what: str = "the condition") -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if test():
                    return
            if self.failures:
                raise AssertionError(f"the TD Bridge simulator failed: {self.failures[0]!r}")
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}")

    def settle(self, rounds: int = 2) -> None:
        """Until `rounds` more rounds have gone by (what a test changed is in the files)."""
        with self._lock:
            target = self.rounds + rounds
        self.wait_until(lambda: self.rounds >= target, 10, "the simulator's rounds")

    def station_path(self, robot: str) -> Path:
        """A path as the robot's PC sees it, mapped back into the hot folder."""
        if not robot.lower().startswith(self.robot_root.lower() + "\\"):
            raise ValueError(f"{robot!r} is not under {self.robot_root!r}")
        parts = [p for p in robot[len(self.robot_root) + 1:].split("\\") if p]
        if any(p in (".", "..") for p in parts):
            raise ValueError(f"{robot!r} leaves the share")
        return self.folder.joinpath(*parts)

    # --- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self._lock:
                    now = time.monotonic()
                    elapsed, self._last = now - self._last, now
                    self._take_jobs()
                    self._take_cancels()
                    self._work(elapsed)
                    self._write_status()
                    self.rounds += 1
            except Exception as exc:  # noqa: BLE001 - reported by stop()
                self.failures.append(exc)
            self._stop.wait(self.tick)

    def _rename(self, job: SimJob, ext: str) -> None:
        os.replace(self.folder / f"{job.stem}.{job.ext}", self.folder / f"{job.stem}.{ext}")
        job.ext = ext

    def _take_jobs(self) -> None:
        for path in sorted(self.folder.iterdir()):
            if path.suffix != ".JDF" or path.name.startswith(".") or not path.is_file():
                continue
            stem = path.stem
            os.replace(path, path.with_suffix(".RJD"))                 # preprocessing
            settings = self._read_jdf(path.with_suffix(".RJD"))
            job_id = (settings.get("JOB_ID") or [stem])[0]
            self.submissions[job_id] += 1
            job = SimJob(job_id, stem, settings=settings)
            if job_id in self.jobs:
                self.problems.append(f"job id {job_id} was used before")
                job_id = f"{job_id}-again{self.submissions[job_id]}"
                job.job = job_id
            self.jobs[job_id] = job
            why = self._check(job)
            if why:
                self.problems.append(f"{job_id}: {why}")
                job.status, job.detail, job.error = 6, 14, "E0001"
                self._rename(job, "ERR")
                self.completed.insert(0, job_id)
                continue
            self._rename(job, "INP")
            self.order.append(job_id)

    def _read_jdf(self, path: Path) -> dict[str, list[str]]:
        """Key -> values, as TD Bridge reads a JDF: case-sensitive keys, the value from just
        after "=" to the line feed; other lines are invalid commands (noted)."""
        settings: dict[str, list[str]] = {}
        text = path.read_bytes().decode(ANSI, errors="replace")
        if "\r\n" not in text and text.strip():
            self.problems.append(f"{path.name}: lines do not end in CRLF")
        for line in text.split("\n"):
            line = line.removesuffix("\r")
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition("=")
            if not sep or not re.fullmatch(r"[A-Z_]+", key):
                self.problems.append(f"{path.name}: invalid command {line[:60]!r}")
                continue
            if key not in KNOWN_KEYS:
                self.problems.append(f"{path.name}: unknown key {key}")
            settings.setdefault(key, []).append(value)
        return settings

    def _check(self, job: SimJob) -> str:
        """Why TD Bridge refuses the job; '' when it takes it."""
        s = job.settings
        for key, values in s.items():
            if len(values) > 1 and key not in ("DATA",):
                return f"{key} given {len(values)} times"
        if not JOB_ID.fullmatch(job.job):
            return f"bad JOB_ID {job.job!r}"
        if s.get("PUBLISHER", [self.publisher])[0] != self.publisher:
            return f"no publisher {s['PUBLISHER'][0]!r}"
        copies = s.get("COPIES", ["1"])[0]
        if not copies.isdigit() or not 1 <= int(copies) <= 1000:
            return f"bad COPIES {copies!r}"
        job.copies = int(copies)
        if s.get("DISC_TYPE", [""])[0] not in DISC_TYPES:
            return f"bad DISC_TYPE {s.get('DISC_TYPE')}"
        if "IMAGE" not in s:
            return "no IMAGE"
        try:
            job.image = self.station_path(s["IMAGE"][0])
        except ValueError as exc:
            return str(exc)
        if not job.image.is_file():
            return f"the image {s['IMAGE'][0]} is not there"
        if "REPLACE_FIELD" in s:
            if "LABEL" not in s:
                return "REPLACE_FIELD without LABEL"
            try:
                merge = self.station_path(s["REPLACE_FIELD"][0])
                self.merges[job.job] = self._read_merge(merge)
            except (ValueError, OSError) as exc:
                return f"the replace-field file: {exc}"
        return ""

    def _read_merge(self, path: Path) -> dict[str, str]:
        fields = {}
        for line in path.read_bytes().decode(ANSI).split("\r\n"):
            if not line:
                continue
            key, sep, value = line.partition("=")
            if not sep or not re.fullmatch(r"[A-Z0-9_]+", key) or "=" in value \
                    or not value.isprintable() or key in fields:
                raise ValueError(f"bad line {line!r}")
            fields[key] = value
        return fields

    def _take_cancels(self) -> None:
        for path in sorted(self.folder.iterdir()):
            if path.suffix != ".JCF" or path.name.startswith(".") or not path.is_file():
                continue
            lines = [x for x in path.read_bytes().decode(ANSI).split("\r\n") if x]
            job_id = lines[1].partition("=")[2] if len(lines) == 2 and \
                lines[0] == "[CANCEL]" and lines[1].startswith("JOB_ID=") else ""
            job = self.jobs.get(job_id)
            if job is None or job.finished:
                self.problems.append(f"{path.name}: cannot cancel {job_id!r}")
                os.replace(path, path.with_suffix(".CER"))
                self.cancels[job_id] = "CER"
                continue
            job.burning = None                   # a disc in the drive is not finished
            job.status, job.detail = 4, 12       # completed (*3), "user cancel done"
            self._finish(job, "DON")
            os.replace(path, path.with_suffix(".CDN"))
            self.cancels[job_id] = "CDN"

    def _finish(self, job: SimJob, ext: str) -> None:
        self._rename(job, ext)
        if job.job in self.order:
            self.order.remove(job.job)
        self.completed.insert(0, job.job)

    def _hold(self, job: SimJob) -> bool:
        """Whether the publisher cannot go on with `job` now."""
        if self.paused or any(level == 0 for level in self.inks.values()):
            return True
        return job.burning is None and self.blanks <= 0

    def _work(self, elapsed: float) -> None:
        for job_id in self.order[1:]:
            self.jobs[job_id].status, self.jobs[job_id].detail = 1, 2   # waiting
        if not self.order:
            return
        job = self.jobs[self.order[0]]
        if self._hold(job):
            if job.ext == "INP":
                self._rename(job, "STP")
            job.status, job.detail = 3, 7                               # paused
            return
        if job.ext == "STP":
            self._rename(job, "INP")
        job.status, job.detail = 2, 3                                   # publishing
        if job.burning is None:
            self.blanks -= 1
            job.disc += 1
            job.burning = 0.0
            return
        job.burning += elapsed
        if job.burning < self.seconds_per_disc:
            return
        job.burning = None
        disc = self.out / f"{job.job}-{job.disc}.iso"
        assert job.image is not None
        if self.reject > 0:
            self.reject -= 1
            job.error_discs += 1
            bad = disc.with_suffix(".rejected")
            bad.write_bytes(b"a disc that failed")
            self.rejected.append(bad)
            return
        image_sha = sha256(job.image)
        shutil.copyfile(job.image, disc)
        burned = sha256(disc)
        if burned != image_sha:
            job.error_discs += 1
            self.rejected.append(disc)
            return
        self.burns.append(Burn(job.job, job.disc, disc, burned, image_sha))
        job.completion += 1
        if job.completion >= job.copies:
            job.status, job.detail = 4, (11 if job.error_discs else 9)
            self._finish(job, "DON")

    def _write_status(self) -> None:
        lines = ["[ACTIVE_JOB]", *(f"JOB{n}={j}" for n, j in enumerate(self.order, 1)),
                 "[COMPLETE_JOB]",
                 *(f"JOB{n}={j}" for n, j in enumerate(self.completed, 1))]
        for job_id in [*self.order, *self.completed]:
            job = self.jobs[job_id]
            lines.append(f"[{job_id}]")
            if job.ext == "RJD" or job.status == 6:
                lines += [f"STATUS={job.status}", f"ERROR={job.error}",
                          f"DETAIL_STATUS={job.detail}"]
                continue
            lines += [f"PUBLISHER={self.publisher}", f"STATUS={job.status}",
                      f"PUBLICATION_NUMBER={job.copies}",
                      f"COMPLETION_NUMBER={job.completion}",
                      f"ERRORDISC_NUMBER={job.error_discs}", "TYPE=3", "IN_STACKER=1",
                      "OUT_STACKER=4", "ESTIMATION_TIME=60", f"ERROR={job.error}",
                      f"DETAIL_STATUS={job.detail}"]
        made = len(self.burns) + len(self.rejected)
        lines += ["[PUBLISHER1]", f"NAME={self.publisher}",
                  f"STACKER1={max(0, min(100, self.blanks))}", "STACKER2=0", "STACKER3=-1",
                  f"STACKER4={min(100, made)}",
                  *(f"{key}={level}" for key, level in self.inks.items()),
                  "[TDB_INFO]", "TDB_ID=SIMULATOR", "VERSION=0"]
        part = self.folder / ".TDBStatus.txt.sim"
        part.write_bytes((EOL.join(lines) + EOL).encode(ANSI, errors="replace"))
        os.replace(part, self.folder / "TDBStatus.txt")
