"""Which job folders arrived in approved/ by a rename from incoming/ (DESIGN.md section 2).

That is the documented way to hand in a job: the folder is complete before it appears in
approved/, so it may be claimed at once instead of after `[spool] quiet_seconds`. Only the
kernel can tell a rename from a copy, so this reads inotify directly (one instance watching
both folders, which is what pairs the two halves of a move by their cookie; watchdog keeps
its folders apart). Network shares deliver no such events: there the quiet time decides.
"""

from __future__ import annotations

import ctypes
import logging
import os
import select
import struct
import threading
import time
from pathlib import Path

log = logging.getLogger("burner.renames")

_IN_MOVED_FROM, _IN_MOVED_TO = 0x40, 0x80
_IN_Q_OVERFLOW, _IN_ISDIR = 0x4000, 0x40000000
_IN_NONBLOCK, _IN_CLOEXEC = 0o4000, 0o2000000
_EVENT = struct.Struct("iIII")          # wd, mask, cookie, len; then the name
_KEEP = 4096                            # arrivals remembered at most (oldest go first)


class RenameWatch:
    """Remembers, per folder name in approved/, when and as which inode it was renamed there
    from incoming/; `wake` is set on each such arrival."""

    def __init__(self, incoming: Path, approved: Path, wake: threading.Event | None = None):
        self.incoming, self.approved, self.wake = incoming, approved, wake
        self._arrived: dict[str, tuple[float, int]] = {}   # name: (when, inode)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fd = -1

    def start(self) -> bool:
        """False when inotify is not to be had (the quiet time alone decides then)."""
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
            if fd < 0:
                raise OSError(ctypes.get_errno(), "inotify_init1")
            self._fd = fd
            self._wd_from = libc.inotify_add_watch(fd, os.fsencode(self.incoming),
                                                   _IN_MOVED_FROM)
            self._wd_to = libc.inotify_add_watch(fd, os.fsencode(self.approved), _IN_MOVED_TO)
            if self._wd_from < 0 or self._wd_to < 0:
                raise OSError(ctypes.get_errno(), "inotify_add_watch")
        except (OSError, AttributeError) as exc:
            log.info("no rename events (%s): jobs wait for the quiet time", exc)
            self._close()
            return False
        self._thread = threading.Thread(target=self._run, name="renames", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._close()

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def arrived_at(self, job_dir: Path) -> float | None:
        """When `job_dir` was renamed into approved/ from incoming/; None if it was not (or
        the folder there now is another one)."""
        with self._lock:
            seen = self._arrived.get(job_dir.name)
        if seen is None:
            return None
        try:
            inode = os.lstat(job_dir).st_ino
        except OSError:
            return None
        return seen[0] if inode == seen[1] else None

    def _run(self) -> None:
        moving: dict[int, str] = {}      # cookie: name that left incoming/
        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd], [], [], 0.5)
            if not ready:
                continue
            try:
                data = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                continue
            for wd, mask, cookie, name in _events(data):
                if mask & _IN_Q_OVERFLOW:
                    moving.clear()          # pairs may be lost: those jobs wait quietly
                elif not mask & _IN_ISDIR:
                    continue
                elif wd == self._wd_from and mask & _IN_MOVED_FROM:
                    moving[cookie] = name
                    while len(moving) > _KEEP:
                        moving.pop(next(iter(moving)))
                elif wd == self._wd_to and mask & _IN_MOVED_TO and moving.pop(cookie, None):
                    self._note(name)

    def _note(self, name: str) -> None:
        try:
            inode = os.lstat(self.approved / name).st_ino
        except OSError:
            return
        with self._lock:
            self._arrived.pop(name, None)
            self._arrived[name] = (time.time(), inode)
            while len(self._arrived) > _KEEP:
                self._arrived.pop(next(iter(self._arrived)))
        if self.wake is not None:
            self.wake.set()


def _events(data: bytes) -> list[tuple[int, int, int, str]]:
    out, at = [], 0
    while at + _EVENT.size <= len(data):
        wd, mask, cookie, size = _EVENT.unpack_from(data, at)
        raw = data[at + _EVENT.size: at + _EVENT.size + size]
        out.append((wd, mask, cookie, os.fsdecode(raw.rstrip(b"\0"))))
        at += _EVENT.size + size
    return out
