"""Block devices as the kernel shows them: whole disks in sysfs, what is mounted where, and which
disk the station's own system runs from. Facts only; what may be written is stick_policy.py's.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BlockDevice", "holders", "list_block_devices", "mounted_devices", "read_device",
           "root_disk", "root_disks"]

SYSFS = Path("/sys")
DEV = Path("/dev")
MOUNTS = Path("/proc/self/mounts")
_SKIP = ("loop", "ram", "zram", "dm-", "sr", "md", "fd")


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


def holders(device: BlockDevice, sysfs: Path) -> set[str]:
    """Devices built on the disk or its partitions (an encrypted volume, LVM), by name."""
    block = sysfs / "block" / device.name
    found: set[str] = set()
    for node in (block, *(block / p for p in device.partitions)):
        try:
            found |= {h.name for h in (node / "holders").iterdir()}
        except OSError:
            continue
    return found
