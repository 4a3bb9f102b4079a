"""The station's equipment as the board shows it: each writer with its state (idle, writing job
X, fault) and the medium in it, each printer queue with its CUPS state, and the data folder's
free disk.

Asking a drive what is in it takes a moment and must not disturb a burn: a writer a job is
writing is not asked (the job's progress report says it is busy), and the answers of the others
are kept for QUERY_SECONDS, so a board refreshing every second does not keep the drives busy.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from burner.config import Config
from burner.progress import read_progress

QUERY_SECONDS = 15.0
LPSTAT_TIMEOUT = 5.0
_cache: dict[tuple[str, ...], tuple[float, object]] = {}
_cache_lock = threading.Lock()

# Words in a CUPS queue's state or alerts that mean a person must add paper or labels.
_OUT_OF_PAPER = re.compile(r"media-empty|media-needed|out of paper|paper out|no paper",
                           re.IGNORECASE)


@dataclass(frozen=True)
class WriterView:
    name: str
    media: str            # what it writes: cd, dvd, usb, iso
    state: str            # idle, writing, fault, busy, no medium
    medium: str           # blank, appendable, closed, written, none, stick ('' unknown)
    words: str            # "DVD+R, blank"; "writing job J-12"; the fault in words
    job_id: str = ""      # the job it is writing


@dataclass(frozen=True)
class PrinterView:
    item: str             # what it prints: cover, label, insert
    queue: str
    state: str            # idle, printing, stopped, out of paper, unreachable, folder
    words: str

    @property
    def ok(self) -> bool:
        return self.state in ("idle", "printing", "folder")


@dataclass(frozen=True)
class Equipment:
    writers: list[WriterView]
    printers: list[PrinterView]
    disk_free: int
    disk_total: int

    def as_dict(self) -> dict:
        return {"writers": [asdict(w) for w in self.writers],
                "printers": [{**asdict(p), "ok": p.ok} for p in self.printers],
                "disk": {"free": self.disk_free, "total": self.disk_total}}


def _cached(key: tuple[str, ...], make):  # noqa: ANN001, ANN202 - any value
    now = time.monotonic()
    with _cache_lock:
        found = _cache.get(key)
        if found is not None and now - found[0] < QUERY_SECONDS:
            return found[1]
    value = make()
    with _cache_lock:
        _cache[key] = (now, value)
    return value


def writing_now(config: Config, job_ids: list[str]) -> dict[str, str]:
    """writer name -> the job whose write stage is using it now (from the progress reports)."""
    out = {}
    for job_id in job_ids:
        report = read_progress(config.work_dir / job_id)
        # Until its read-back is over too: a drive being read must not be asked either.
        if report is not None and report.stage == "write" and report.writer:
            out[report.writer] = job_id
    return out


def writers(config: Config, writing: dict[str, str]) -> list[WriterView]:
    """Each configured writer (drives, sticks; not the image folder)."""
    from burner.media.writer import BUSY, FAULT, NO_MEDIUM, READY
    from burner.media.writers import writer_of

    out = []
    for drive in config.drives:
        job_id = writing.get(drive.name)
        if job_id and not drive.robot:
            out.append(WriterView(drive.name, drive.media, "writing", "in use",
                                  f"writing job {job_id}", job_id))
            continue
        status = _cached(("writer", drive.name, drive.device),
                         lambda d=drive: writer_of(config, d).status())
        if job_id:     # a robot: its status file is read (never its drives), faults shown
            waits = "" if status.state in (READY, BUSY) else f" - robot: {status.words}"
            out.append(WriterView(drive.name, drive.media, "writing", "in use",
                                  f"writing job {job_id}{waits}", job_id))
            continue
        state = {READY: "idle", NO_MEDIUM: "no medium", FAULT: "fault"}.get(status.state,
                                                                           status.state)
        out.append(WriterView(drive.name, drive.media, state, status.medium, status.words))
    return out


def parse_lpstat(queue: str, text: str, returncode: int) -> tuple[str, str]:
    """(state, words) of one queue from `lpstat -l -p QUEUE`."""
    said = " ".join(text.split())
    if returncode != 0 or f"printer {queue} " not in said:
        return "unreachable", said or "the print server gave no answer"
    if _OUT_OF_PAPER.search(said):
        return "out of paper", f"{queue} is out of paper or labels: {said}"
    if " disabled" in said:
        return "stopped", said
    if " now printing" in said:
        return "printing", said
    return "idle", said


def _queue_state(queue: str, server: str | None) -> tuple[str, str]:
    lpstat = shutil.which("lpstat")
    if lpstat is None:
        return "unreachable", "lpstat is missing: apt-get install cups-client"
    try:
        proc = subprocess.run([lpstat, *(["-h", server] if server else []), "-l", "-p", queue],
                              capture_output=True, text=True, errors="replace",
                              timeout=LPSTAT_TIMEOUT, stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        return "unreachable", f"the print server did not answer within {LPSTAT_TIMEOUT:.0f} s"
    return parse_lpstat(queue, proc.stdout + proc.stderr, proc.returncode)


def printers(config: Config) -> list[PrinterView]:
    """Each configured printer queue with its state; the print folder when not printing
    through CUPS."""
    how = config.printing.get("mode", "folder").strip().lower()
    if how == "folder":
        folder = config.data_dir / config.printing.get("folder", "prints")
        return [PrinterView("all", str(folder), "folder", f"printouts are saved in {folder}")]
    if how != "cups":
        return []
    server = config.printing.get("server") or None
    out = []
    for item in ("cover", "label", "insert"):
        queue = config.printing.get(f"{item}_queue")
        if not queue:
            continue
        state, words = _cached(("printer", queue, server or ""),
                               lambda q=queue: _queue_state(q, server))
        out.append(PrinterView(item, queue, state, words))
    return out


def equipment(config: Config, active_jobs: list[str]) -> Equipment:
    """Writers, printers and free disk of this station; `active_jobs` are the jobs in active/
    (whose progress says which writer they are using)."""
    probe = config.data_dir if config.data_dir.exists() else Path(config.data_dir.anchor)
    usage = shutil.disk_usage(probe)
    return Equipment(writers(config, writing_now(config, active_jobs)), printers(config),
                     usage.free, usage.total)
