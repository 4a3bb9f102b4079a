"""Exclusive ownership by flock: one `burner run` per data folder, one writer per drive.

A lock is held by an open file description; the kernel drops it when the process dies
(kill -9 included), so a crash never leaves a stale lock behind. The lock file says who holds
it (PID, station, since when) so that a refusal can name the holder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from burner.errors import BurnerError, DeviceBusy

STATION_LOCK = "burner.lock"
_HOLDER_BYTES = 4096


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(path: Path) -> str:
    """Who holds the lock at `path`, as its holder wrote it (bounded, never trusted further)."""
    try:
        with open(path, "rb") as fp:
            info = json.loads(fp.read(_HOLDER_BYTES).decode("utf-8", "replace") or "{}")
        return f"PID {int(info['pid'])}, station {str(info['station'])[:64]!r}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that did not say who it is"


def _say_who(fd: int, station: str) -> None:
    text = json.dumps({"pid": os.getpid(), "station": station, "since": time.time()})
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode("utf-8"), 0)


_HELD: set[int] = set()     # lock files this process holds open (see release_inherited)


def release_inherited() -> None:
    """In a forked worker (workers.py): close the lock files inherited from the station, so
    that only the station holds its locks, and they go when it does."""
    for fd in list(_HELD):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


def _open_lock(path: Path, flags: int) -> int:
    fd = os.open(path, flags, 0o644)   # the umask decides
    _HELD.add(fd)
    return fd


def _close_lock(fd: int) -> None:
    _HELD.discard(fd)
    os.close(fd)


class StationLock:
    """`burner run`'s claim on its data folder; released when the process ends."""

    def __init__(self, data_dir: Path, station: str):
        self.path = data_dir / STATION_LOCK
        self.station = station
        self.fd: int | None = None

    def acquire(self) -> StationLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = _open_lock(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC)
        if not _try_lock(fd):
            _close_lock(fd)
            raise BurnerError(
                f"Another burner station is already running on the data folder "
                f"{self.path.parent} ({_holder(self.path)}). Only one may run at a time: stop "
                "that one first (systemctl stop burner), or give this one its own data_dir.")
        try:
            _say_who(fd, self.station)
        except OSError as exc:      # e.g. a full disk: say which file could not be written
            _close_lock(fd)
            raise OSError(exc.errno, exc.strerror, str(self.path)) from exc
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            _close_lock(self.fd)
            self.fd = None


def device_lock_path(device: str) -> tuple[Path, bool] | None:
    """What to lock for a writer's device: (path, is the device node itself). A `stdio:` file
    or a stand-in file gets a hidden lock file beside it (the file itself is replaced by every
    burn); a device node is locked itself. None when there is nothing to lock (USB "auto")."""
    name = device.removeprefix("stdio:")
    if name in ("", "auto"):
        return None
    path = Path(name)
    try:
        is_node = stat.S_ISBLK(path.stat().st_mode) or stat.S_ISCHR(path.stat().st_mode)
    except OSError:
        is_node = False
    if is_node:
        return path, True
    return path.with_name(f".{path.name}.lock"), False


@contextlib.contextmanager
def device_lock(device: str, writer: str, station: str) -> Iterator[None]:
    """Hold `device` for one copy; DeviceBusy when another process is writing it."""
    where = device_lock_path(device)
    if where is None:
        yield
        return
    path, is_node = where
    if is_node:
        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
    try:
        fd = _open_lock(path, flags)
    except OSError:
        yield           # a device we cannot open: the writer itself will say what is wrong
        return
    try:
        if not _try_lock(fd):
            who = "" if is_node else f" ({_holder(path)})"
            raise DeviceBusy(f"The drive {writer} is being written by another burner "
                             f"process{who}; this job waits for it and goes on by itself.")
        if not is_node:
            _say_who(fd, station)
        yield
    finally:
        _close_lock(fd)
