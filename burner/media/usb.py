"""USB sticks: write a FAT32 volume image (see fat.py) to the stick, read it back, and power the
stick off to be pulled. Which disk is a stick is blockdev.py's (sysfs) and stick_policy.py's
(what may be written) business; the protocol of a copy is the Writer base's.

A "stick" may also be a regular file, a stand-in for tests and demos: its current size is the
stick's size, and the same write, read-back and verify code runs on it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from burner.errors import DeviceError, MediaMismatch
from burner.locks import device_lock
from burner.media.blockdev import DEV, MOUNTS, SYSFS, BlockDevice, list_block_devices
from burner.media.checksums import sha256_file
from burner.media.stick_policy import (
    REMOVED_TEXT,
    NoStick,
    StickMounted,
    StickReadOnly,
    StickRemoved,
    UsbError,
    candidates,
    check_stick,
    pick_stick,
    too_small,
)
from burner.media.writer import FAULT, NO_MEDIUM, READY, Writer, WriterStatus

__all__ = ["UsbWriter"]

log = logging.getLogger("burner.usb")

BLOCK = 4 * 1024 * 1024
_ENOMEDIUM = getattr(errno, "ENOMEDIUM", 123)
_REMOVED = {errno.ENOENT, errno.ENODEV, errno.ENXIO, errno.EIO, _ENOMEDIUM}
_READ_ONLY = {errno.EROFS, errno.EACCES, errno.EPERM}
_FULL = {errno.ENOSPC, errno.EFBIG}


def _os_error(exc: OSError, what: str, need: int = 0, have: int = 0) -> UsbError:
    """What an OSError while writing or reading the stick means for the person at the station."""
    if exc.errno in _REMOVED:
        return StickRemoved(f"{REMOVED_TEXT} ({what}: {exc.strerror})")
    if exc.errno in _READ_ONLY:
        return StickReadOnly(f"The USB stick {what} cannot be written: it is write-protected "
                             "(or this station is not allowed to write to it). Slide its "
                             "write-protect switch off (or use another stick); the job will "
                             f"retry. ({exc.strerror})")
    if exc.errno in _FULL:
        return too_small(what, need, have)
    if exc.errno == errno.EBUSY:
        return StickMounted(f"The USB stick {what} is in use by another program on this "
                            "computer. Unmount/eject it in the computer first, then retry the "
                            "job.")
    return UsbError(f"Writing the USB stick {what} failed ({exc.strerror}). Take it out, put "
                    "it (or another stick) in again; the job will retry.")


def _copy(image: Path, fd: int, size: int,
          progress: Callable[[int], None] | None = None) -> None:
    """Write the first `size` bytes of `image` to `fd` from its start, 4 MiB at a time,
    telling `progress` the bytes written so far."""
    done = 0
    with open(image, "rb", buffering=0) as src:
        while done < size:
            block = src.read(min(BLOCK, size - done))
            if not block:
                raise MediaMismatch(f"The image {image} is shorter than expected; "
                                    "retry the job so it is made again.")
            view = memoryview(block)
            while view:
                wrote = os.write(fd, view)
                view = view[wrote:]
            done += len(block)
            if progress:
                progress(done)


@dataclass(frozen=True)
class _Target:
    """Where one copy goes: a checked stick, or a stand-in file."""

    path: Path
    size_bytes: int
    device: BlockDevice | None


@dataclass(frozen=True)
class _Target:
    """Where one copy goes: a checked stick, or a stand-in file."""

    path: Path
    size_bytes: int
    device: BlockDevice | None


class UsbWriter(Writer[_Target]):
    """Writes a FAT32 volume image to a USB stick: "auto" (the one plugged-in stick), a device
    ("/dev/sdb", "/dev/disk/by-id/usb-..."), or a regular file standing in for a stick. A stick
    is checked by its own size when it is written, not by a capacity of the medium."""

    media = "usb"

    def __init__(self, name: str, device: str, tray: Path | None = None, *,
                 sysfs: Path = SYSFS, dev: Path = DEV, mounts: Path = MOUNTS):
        self.name = name
        self.device = device
        self.tray = tray
        self.sysfs, self.dev, self.mounts = sysfs, dev, mounts
        self.warnings: list[str] = []

    def _target(self, label: str, size: int) -> _Target:
        """The medium for this copy, checked; the stand-in only for its size."""
        if self.device == "auto":
            stick = pick_stick(size, sysfs=self.sysfs, dev=self.dev, mounts=self.mounts)
            return _Target(stick.path, stick.size_bytes, stick)
        path = Path(self.device)
        if path.is_file():
            have = path.stat().st_size
            if have < size:
                raise too_small(str(path), size, have)
            return _Target(path, have, None)
        name = Path(os.path.realpath(path)).name
        found = [d for d in list_block_devices(self.sysfs, self.dev) if d.name == name]
        if not found or found[0].size_bytes == 0:
            raise NoStick(f"No USB stick is plugged in at {self.device}. Plug one in; the job "
                          "will retry.")
        check_stick(found[0], size, mounts=self.mounts, sysfs=self.sysfs)
        return _Target(found[0].path, found[0].size_bytes, found[0])

    def _lock(self, target: _Target) -> AbstractContextManager[object]:
        # The write stage locks a configured device; the stick "auto" found is locked here,
        # from the write to the read-back, so two stations never take the same stick.
        if self.device == "auto":
            return device_lock(str(target.path), self.name, "")
        return contextlib.nullcontext()

    def _write(self, target: _Target, image: Path, size: int) -> None:
        flags = os.O_WRONLY | os.O_CLOEXEC
        if target.device is not None:
            flags |= os.O_EXCL          # a block device: refuse one the kernel has in use
        try:
            fd = os.open(target.path, flags)
            try:
                if target.device is not None and not stat.S_ISBLK(os.fstat(fd).st_mode):
                    raise NoStick(f"{target.path} is not a disk; check the station "
                                  "configuration.")
                _copy(image, fd, size, self._progress)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise _os_error(exc, str(target.path), size, target.size_bytes) from exc

    def _read_back(self, target: _Target, size: int) -> str:
        try:
            got, done = sha256_file(target.path, size,
                                    uncached=target.device is not None)
        except OSError as exc:
            raise _os_error(exc, str(target.path), size, target.size_bytes) from exc
        if done < size:
            raise StickRemoved(f"{REMOVED_TEXT} (only {done} of {size} bytes could be read "
                               f"back from {target.path})")
        return got

    def _mismatch(self, target: _Target) -> MediaMismatch:
        return MediaMismatch(
            f"The USB stick {target.path} does not read back the same as what was written "
            "(a faulty stick). Set it aside and put in another one; the job will retry.")

    def _release(self, target: _Target, label: str) -> str:
        if target.device is not None:
            self._power_off(target.device)
        return str(target.path)

    def _power_off(self, device: BlockDevice) -> None:
        """Let the stick be pulled safely: udisks power-off, else the kernel's delete; a
        failure is a warning (the data is already flushed and verified)."""
        udisksctl = shutil.which("udisksctl")
        if udisksctl:
            try:
                proc = subprocess.run([udisksctl, "power-off", "-b", str(device.path)],
                                      capture_output=True, stdin=subprocess.DEVNULL,
                                      timeout=60, check=False)
                if proc.returncode == 0:
                    return
            except (OSError, subprocess.TimeoutExpired):
                pass                    # no udisks daemon: the kernel's delete below
        try:
            (self.sysfs / "block" / device.name / "device" / "delete").write_text("1")
        except OSError as exc:
            note = (f"The USB stick {device.describe()} is written and checked but could not "
                    f"be powered off ({exc.strerror}); eject it in the computer before "
                    "pulling it out.")
            self.warnings.append(note)
            log.warning(note)

    def status(self) -> WriterStatus:
        """The stick(s) in the port, a stand-in's size, or nothing plugged in."""
        def said(state: str, words: str) -> WriterStatus:
            medium = {READY: "stick", NO_MEDIUM: "none"}.get(state, "")
            return WriterStatus(self.name, self.device, self.media, state, words, medium)

        try:
            if self.device == "auto":
                sticks = candidates(list_block_devices(self.sysfs, self.dev))
                names = ", ".join(d.describe() for d in sticks)
                return said(READY if sticks else NO_MEDIUM,
                            f"USB port: {names or 'no stick plugged in'}")
            path = Path(self.device)
            if path.is_file():
                return said(READY, f"stand-in stick file of {path.stat().st_size // 1_000_000} "
                                   "MB")
            if path.exists():
                return said(READY, "USB device present")
            return said(FAULT, "nothing at " + self.device)
        except (OSError, DeviceError) as exc:
            return said(FAULT, str(exc))
