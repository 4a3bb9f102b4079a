"""How far a running job is inside its stage: files read of N, files staged of N, MB mastered,
MB burned of M, copies checked of N. The stage reports; the board reads and estimates the time
left.

A report is one small JSON file in the job's work folder, replaced whole (never half-written)
at most every REPORT_SECONDS, so a stage reading thousands of files does not spend its time
reporting. It is not kept durably: after a crash the stage starts again and says so anew. The
file is read as untrusted (bounded, strict); a report that cannot be read is no report.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from burner.untrusted import read_small

PROGRESS = "progress.json"
REPORT_SECONDS = 0.5
_MAX_BYTES = 4096


@dataclass(frozen=True)
class Progress:
    """One stage's step and how far it is."""

    stage: str
    step: str            # what is counted: "files read", "MB burned", ...
    done: float
    total: float
    started: float       # when the step began (time.time())
    at: float            # when this was reported
    writer: str = ""     # the writer a write step uses

    def left_seconds(self, now: float | None = None) -> float | None:
        """An estimate of the time the step still needs, from its pace so far; None until
        there is a pace to go by."""
        elapsed = self.at - self.started
        if self.done <= 0 or self.total <= 0 or elapsed < 1.0:
            return None
        left = elapsed * (self.total - self.done) / self.done
        if now is not None:                      # time passed since the report
            left -= max(0.0, now - self.at)
        return max(0.0, left)

    def words(self) -> str:
        """ "files read 120 of 400" """
        return f"{self.step} {_number(self.done)} of {_number(self.total)}"

    def as_dict(self, now: float | None = None) -> dict:
        out = asdict(self)
        left = self.left_seconds(now)
        out["left_seconds"] = None if left is None else round(left)
        out["words"] = self.words()
        return out


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


class Reporter:
    """Reports one stage's progress into `work`/progress.json; safe to call from threads."""

    def __init__(self, work: Path, stage: str):
        self.path = work / PROGRESS
        self.stage = stage
        self._lock = threading.Lock()
        self._step = ""
        self._total = 0.0
        self._done = 0.0
        self._started = 0.0
        self._writer = ""
        self._last = 0.0

    def begin(self, step: str, total: float, writer: str = "") -> None:
        """A new step of `total` units, nothing done yet."""
        with self._lock:
            self._step, self._total, self._done = step, float(total), 0.0
            self._started, self._writer = time.time(), writer
            self._write(force=True)

    def set(self, done: float, total: float | None = None) -> None:
        """`done` units so far (and a corrected total)."""
        with self._lock:
            self._done = float(done)
            if total is not None:
                self._total = float(total)
            self._write(force=self._done >= self._total)

    def add(self, units: float = 1.0) -> None:
        """`units` more done."""
        with self._lock:
            self._done += units
            self._write(force=self._done >= self._total)

    def flush(self) -> None:
        """Write the report now, however recent the last one is."""
        with self._lock:
            self._write(force=True)

    def _write(self, force: bool) -> None:
        now = time.time()
        if not self._step or (not force and now - self._last < REPORT_SECONDS):
            return
        self._last = now
        report = Progress(self.stage, self._step, round(self._done, 1), round(self._total, 1),
                          self._started, now, self._writer)
        tmp = self.path.with_name(f".{PROGRESS}.{os.getpid()}.{threading.get_ident()}")
        try:
            tmp.write_text(json.dumps(asdict(report)), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            # Progress is a courtesy to the board: a full disk must not fail the stage.
            tmp.unlink(missing_ok=True)


def read_progress(work: Path) -> Progress | None:
    """The last report in the work folder `work`, or None (none, unreadable or malformed)."""
    data = read_small(work / PROGRESS, _MAX_BYTES + 1).encode("utf-8")
    if not data or len(data) > _MAX_BYTES:
        return None
    try:
        raw = json.loads(data)
    except ValueError:
        return None
    if not isinstance(raw, dict) or set(raw) != {f for f in Progress.__dataclass_fields__}:
        return None
    texts = ("stage", "step", "writer")
    numbers = ("done", "total", "started", "at")
    if not all(isinstance(raw[k], str) and len(raw[k]) <= 64 for k in texts):
        return None
    if not all(isinstance(raw[k], int | float) and not isinstance(raw[k], bool)
               and math.isfinite(raw[k]) and raw[k] >= 0 for k in numbers):
        return None
    return Progress(**raw)
