"""Stations sharing a spool say they are alive: each writes `<spool>/.stations/<id>.json`
(station id, PID, host time) while it runs, so `burner status` can show who works on each job
in active/ and flag the jobs of a station that has gone silent (`burner adopt` takes them
over)."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

from burner.spool import write_atomic

FOLDER = ".stations"
_BYTES = 4096


def _path(spool_root: Path, station: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in station)[:100]
    return spool_root / FOLDER / f"{safe or 'station'}.json"


def beat(spool_root: Path, station: str) -> None:
    folder = spool_root / FOLDER
    folder.mkdir(exist_ok=True)
    write_atomic(_path(spool_root, station),
                 json.dumps({"station": station, "pid": os.getpid(),
                             "at": time.time()}).encode("utf-8"))


def last_seen(spool_root: Path, station: str) -> float | None:
    """When `station` last said it was alive (its own clock), or None if it never did."""
    try:
        with open(_path(spool_root, station), "rb") as fp:
            data = json.loads(fp.read(_BYTES))
        return float(data["at"]) if data.get("station") == station else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def silence(spool_root: Path, station: str, now: float | None = None) -> float | None:
    """Seconds since `station`'s last heartbeat (None: it never wrote one)."""
    seen = last_seen(spool_root, station)
    return None if seen is None else max(0.0, (time.time() if now is None else now) - seen)


class Beater:
    """A thread that beats every `interval` seconds while the station runs, whatever its
    lanes are doing (a burn may take many minutes)."""

    def __init__(self, spool_root: Path, station: str, interval: float):
        self.spool_root, self.station, self.interval = spool_root, station, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                beat(self.spool_root, self.station)
            except OSError as exc:       # a full or unmounted spool: said, never fatal
                logging.getLogger("burner.station").warning("heartbeat not written: %s", exc)
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def __enter__(self) -> Beater:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
