"""USB sticks: find them in sysfs, refuse anything that is not a free removable USB disk, write a
FAT32 image (see fat.py) to the stick, read it back, and power the stick off to be pulled.

A "stick" may also be a regular file, a stand-in for tests and demos: its current size is the
stick's size, and the same write, read-back and verify code runs on it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path

from burner.errors import DeviceError, MediaMismatch
from burner.locks import device_lock
from burner.media.checksums import sha256_file
from burner.media.fat import build_fat32_image
from burner.media.writers import Writer

__all__ = [
    "BlockDevice", "NoStick", "NotRemovable", "NotUsb", "StickMounted", "StickReadOnly",
    "StickRemoved", "StickTooSmall", "SystemDisk", "UsbError", "UsbWriter",
    "build_fat32_image", "check_stick", "list_block_devices", "mounted_devices", "pick_stick",
    "root_disk",
]

log = logging.getLogger("burner.usb")

SYSFS = Path("/sys")
DEV = Path("/dev")
MOUNTS = Path("/proc/self/mounts")
BLOCK = 4 * 1024 * 1024
_SKIP = ("loop", "ram", "zram", "dm-", "sr", "md", "fd")
_ENOMEDIUM = getattr(errno, "ENOMEDIUM", 123)
_REMOVED = {errno.ENOENT, errno.ENODEV, errno.ENXIO, errno.EIO, _ENOMEDIUM}
_READ_ONLY = {errno.EROFS, errno.EACCES, errno.EPERM}
_FULL = {errno.ENOSPC, errno.EFBIG}


class UsbError(DeviceError):
    """A USB stick cannot be used or failed; the message says what to do."""


class NotRemovable(UsbError):
    """A fixed disk."""


class NotUsb(UsbError):
    """A removable disk that is not on the USB bus (e.g. an SD slot or a hot-swap bay)."""


class SystemDisk(UsbError):
    """The disk the station's own system runs from."""


class StickMounted(UsbError):
    """Something else has the stick open or mounted."""


class StickReadOnly(UsbError):
    """Write-protected."""


class StickTooSmall(UsbError):
    """Smaller than the job."""


class NoStick(UsbError):
    """Nothing suitable is plugged in."""


class StickRemoved(UsbError):
    """The stick went away while it was written or read back."""


REMOVED_TEXT = ("The USB stick was removed while it was being written. Put it back (or a new "
                "one) — the job will retry.")


@dataclass(frozen=True)
class BlockDevice:
    """A whole disk as sysfs describes it."""

    name: str
    path: Path
    size_bytes: int
    removable: bool
    usb: bool
    read_only: bool
    vendor: str = ""
    model: str = ""
    partitions: tuple[str, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        """How a person recognises it: "SanDisk Cruzer (/dev/sdb, 8.0 GB)"."""
        what = " ".join(p for p in (self.vendor, self.model) if p) or "disk"
        size = (f"{self.size_bytes / 1e9:.1f} GB" if self.size_bytes >= 1e9
                else f"{self.size_bytes // 1_000_000} MB")
        return f"{what} ({self.path}, {size})"


# --- sysfs and mounts -----------------------------------------------------------------------

def _read(path: Path, default: str = "") -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return default


def _partitions(block: Path, name: str) -> tuple[str, ...]:
    """sdb -> (sdb1, sdb2); nvme0n1 -> (nvme0n1p1, ...)."""
    pattern = re.compile(rf"^{re.escape(name)}p?\d+$")
    try:
        return tuple(sorted(p.name for p in block.iterdir() if pattern.match(p.name)))
    except OSError:
        return ()


def _on_usb(block: Path) -> bool:
    """True when the device sits on a USB bus ("/usb2/" in its resolved sysfs path)."""
    for link in (block / "device", block):
        try:
            if "/usb" in str(link.resolve()):
                return True
        except OSError:
            continue
    return False


def read_device(name: str, sysfs: Path = SYSFS, dev: Path = DEV) -> BlockDevice:
    """The facts sysfs holds about disk `name`."""
    block = sysfs / "block" / name
    sectors = _read(block / "size", "0")
    return BlockDevice(
        name=name,
        path=dev / name,
        size_bytes=int(sectors) * 512 if sectors.isdigit() else 0,
        removable=_read(block / "removable") == "1",
        usb=_on_usb(block),
        read_only=_read(block / "ro") == "1",
        vendor=_read(block / "device" / "vendor"),
        model=_read(block / "device" / "model"),
        partitions=_partitions(block, name),
    )


def list_block_devices(sysfs: Path = SYSFS, dev: Path = DEV) -> list[BlockDevice]:
    """Every whole disk (no loop, RAM, device-mapper, optical or RAID devices), by name."""
    try:
        names = sorted(p.name for p in (sysfs / "block").iterdir())
    except OSError:
        return []
    return [read_device(n, sysfs, dev) for n in names if not n.startswith(_SKIP)]


def _dev_name(source: str) -> str:
    """Kernel name of a /dev path; links (/dev/mapper/x, /dev/disk/by-id/...) are followed."""
    return Path(os.path.realpath(source) if os.path.islink(source) else source).name


def _unescape(text: str) -> str:
    """/proc/mounts writes space, tab, newline and backslash as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), text)


def _mounts(mounts: Path) -> list[tuple[str, str]]:
    """(source, mount point) of every line of a mounts file, in order; [] if unreadable."""
    try:
        lines = mounts.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    return [(_unescape(p[0]), _unescape(p[1])) for p in (ln.split() for ln in lines)
            if len(p) >= 2]


def mounted_devices(mounts: Path = MOUNTS) -> dict[str, str]:
    """{device name: mount point} for every mounted /dev node ("/dev/sdb1" -> "sdb1")."""
    return {_dev_name(source): point for source, point in _mounts(mounts)
            if source.startswith("/dev/")}


def _root_source(mounts: Path) -> str | None:
    """The device mounted on "/" (the last such line wins, as it hides the ones before)."""
    return next((source for source, point in reversed(_mounts(mounts)) if point == "/"), None)


def _disks_of(name: str, sysfs: Path, depth: int = 0) -> set[str]:
    """The whole disks under block device `name`: itself, a partition's parent, or what a
    device-mapper/RAID device is built from (its slaves)."""
    node = sysfs / "class" / "block" / name
    if depth > 8:
        return set()
    if not node.exists():
        return _disk_by_name(name, sysfs)
    slaves = node / "slaves"
    if slaves.is_dir() and any(slaves.iterdir()):
        found: set[str] = set()
        for slave in slaves.iterdir():
            found |= _disks_of(slave.name, sysfs, depth + 1)
        return found
    if (node / "partition").exists():
        parent = node.resolve().parent.name
        return {parent} if (sysfs / "block" / parent).exists() else set()
    return {name}


def _disk_by_name(name: str, sysfs: Path) -> set[str]:
    """Without /sys/class/block: `name` is a disk, or a partition named after one."""
    try:
        disks = [p.name for p in (sysfs / "block").iterdir()]
    except OSError:
        return set()
    if name in disks:
        return {name}
    return {d for d in disks if re.fullmatch(rf"{re.escape(d)}p?\d+", name)}


def _root_by_number(sysfs: Path) -> str | None:
    """The block device of "/" by its device number (/dev/root, overlays of a real disk)."""
    try:
        st = os.stat("/")
    except OSError:
        return None
    link = sysfs / "dev" / "block" / f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
    return link.resolve().name if link.exists() else None


def root_disks(mounts: Path = MOUNTS, sysfs: Path = SYSFS) -> set[str]:
    """Every whole disk the system ("/") runs from; empty when it cannot be told."""
    source = _root_source(mounts)
    names = []
    if source and source.startswith("/dev/"):
        names.append(_dev_name(source))
    by_number = _root_by_number(sysfs)
    if by_number:
        names.append(by_number)
    for name in names:
        disks = _disks_of(name, sysfs)
        if disks:
            return disks
    return set()


def root_disk(mounts: Path = MOUNTS, sysfs: Path = SYSFS) -> str | None:
    """The disk holding "/" ("sda" for /dev/sda2), or None when it cannot be told."""
    disks = sorted(root_disks(mounts, sysfs))
    return disks[0] if disks else None


def _holders(device: BlockDevice, sysfs: Path) -> set[str]:
    """Devices built on the disk or its partitions (an encrypted volume, LVM), by name."""
    block = sysfs / "block" / device.name
    found: set[str] = set()
    for node in (block, *(block / p for p in device.partitions)):
        try:
            found |= {h.name for h in (node / "holders").iterdir()}
        except OSError:
            continue
    return found


# --- refusals -------------------------------------------------------------------------------

def _mb(nbytes: int, up: bool) -> int:
    return -(-nbytes // 1_000_000) if up else nbytes // 1_000_000


def too_small(what: str, need: int, have: int) -> StickTooSmall:
    return StickTooSmall(
        f"The USB stick {what} is too small for this job: it needs {_mb(need, True)} MB but "
        f"the stick holds only {_mb(have, False)} MB. Use a larger stick; the job will "
        "retry.")


def check_stick(device: BlockDevice, need_bytes: int, *, mounts: Path = MOUNTS,
                sysfs: Path = SYSFS, our_mounts: AbstractSet[str] = frozenset(),
                ) -> None:
    """Raise the refusal a person can act on unless `device` is a free USB stick with room."""
    what = device.describe()
    if device.name in root_disks(mounts, sysfs):
        raise SystemDisk(f"{what} holds this station's own system; burner never writes to it. "
                         "Plug in a USB stick for the patient instead.")
    if not device.removable:
        raise NotRemovable(f"{what} is a fixed disk, not a USB stick; burner never writes to "
                           "it. Plug in a USB stick for the patient instead.")
    if not device.usb:
        raise NotUsb(f"{what} is a removable disk that is not on USB (for example a memory "
                     "card slot); burner only writes USB sticks. Plug in a USB stick instead.")
    mounted = mounted_devices(mounts)
    busy = {device.name, *device.partitions, *_holders(device, sysfs)}
    elsewhere = sorted(mounted[n] for n in busy if n in mounted and mounted[n] not in our_mounts)
    if elsewhere:
        raise StickMounted(f"The USB stick {what} is open on this computer (at "
                           f"{', '.join(elsewhere)}), so burner will not overwrite it. "
                           "Unmount/eject it in the computer first, then retry the job.")
    if device.read_only:
        raise StickReadOnly(f"The USB stick {what} is write-protected. Slide its "
                            "write-protect switch off (or use another stick); the job will "
                            "retry.")
    if device.size_bytes < need_bytes:
        raise too_small(what, need_bytes, device.size_bytes)


def _candidates(devices: list[BlockDevice]) -> list[BlockDevice]:
    """Removable USB disks with a medium in them (an empty card reader reports size 0)."""
    return [d for d in devices if d.removable and d.usb and d.size_bytes > 0]


def pick_stick(need_bytes: int, *, sysfs: Path = SYSFS, dev: Path = DEV,
               mounts: Path = MOUNTS) -> BlockDevice:
    """The smallest plugged-in USB stick that passes check_stick; else the reason there is
    none (a single refused stick gives its own refusal)."""
    good, refused = [], []
    for device in _candidates(list_block_devices(sysfs, dev)):
        try:
            check_stick(device, need_bytes, mounts=mounts, sysfs=sysfs)
        except UsbError as exc:
            refused.append(exc)
            continue
        good.append(device)
    if good:
        return min(good, key=lambda d: (d.size_bytes, d.name))
    if len(refused) == 1:
        raise refused[0]
    if refused:
        raise NoStick("None of the plugged-in USB sticks can be used: "
                      + " ".join(str(e) for e in refused))
    raise NoStick("No USB stick is plugged in. Plug in an empty USB stick of at least "
                  f"{_mb(need_bytes, True)} MB; the job will retry.")


# --- writing --------------------------------------------------------------------------------

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


def _copy(image: Path, fd: int, size: int) -> None:
    """Write the first `size` bytes of `image` to `fd` from its start, 4 MiB at a time."""
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


@dataclass(frozen=True)
class _Target:
    """Where one copy goes: a checked stick, or a stand-in file."""

    path: Path
    size_bytes: int
    device: BlockDevice | None


class UsbWriter(Writer):
    """Writes a FAT32 volume image to a USB stick: "auto" (the one plugged-in stick), a device
    ("/dev/sdb", "/dev/disk/by-id/usb-..."), or a regular file standing in for a stick."""

    def __init__(self, name: str, device: str, tray: Path | None = None, *,
                 sysfs: Path = SYSFS, dev: Path = DEV, mounts: Path = MOUNTS):
        self.name = name
        self.device = device
        self.tray = tray
        self.sysfs, self.dev, self.mounts = sysfs, dev, mounts
        self.warnings: list[str] = []

    def _target(self, size: int) -> _Target:
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

    def _write(self, image: Path, size: int, target: _Target) -> None:
        flags = os.O_WRONLY | os.O_CLOEXEC
        if target.device is not None:
            flags |= os.O_EXCL          # a block device: refuse one the kernel has in use
        try:
            fd = os.open(target.path, flags)
            try:
                if target.device is not None and not stat.S_ISBLK(os.fstat(fd).st_mode):
                    raise NoStick(f"{target.path} is not a disk; check the station "
                                  "configuration.")
                _copy(image, fd, size)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise _os_error(exc, str(target.path), size, target.size_bytes) from exc

    def _read_back(self, size: int, sha256: str, target: _Target) -> None:
        try:
            got, done = sha256_file(target.path, size,
                                    uncached=target.device is not None)
        except OSError as exc:
            raise _os_error(exc, str(target.path), size, target.size_bytes) from exc
        if done < size:
            raise StickRemoved(f"{REMOVED_TEXT} (only {done} of {size} bytes could be read "
                               f"back from {target.path})")
        if got != sha256:
            raise MediaMismatch(
                f"The USB stick {target.path} does not read back the same as what was written "
                "(a faulty stick). Set it aside and put in another one; the job will retry.")

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

    def write_copy(self, image: Path, size: int, sha256: str, label: str,
                   after_burn: Callable[[], None] | None = None) -> str:
        target = self._target(size)
        # The write stage locks a configured device; the stick "auto" found is locked here,
        # from the write to the read-back, so two stations never take the same stick.
        held = device_lock(str(target.path), self.name, "") if self.device == "auto" else \
            contextlib.nullcontext()
        with held:
            self._write(Path(image), size, target)
            if after_burn:
                after_burn()
            self._read_back(size, sha256, target)
        if target.device is not None:
            self._power_off(target.device)
        return str(target.path)
