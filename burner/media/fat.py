"""FAT32 media for USB sticks (PS3.12 Annex R): an image with an MBR partition table and one
FAT32 partition at 1 MiB, made with dosfstools (mkfs.fat) and filled with mtools; and the way
back, finding that partition in an image or on a device and copying its files out."""

from __future__ import annotations

import math
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

from burner.errors import DeviceError, InternalError

SECTOR = 512
MIB = 1 << 20
PART_START = MIB // SECTOR               # the partition starts at 1 MiB (sector 2048)
PART_OFFSET = PART_START * SECTOR
FAT32_LBA = 0x0C
FAT_TYPES = frozenset({0x06, 0x0B, 0x0C, 0x0E})  # FAT16, FAT32 CHS/LBA, FAT16 LBA
MIN_FS_BYTES = 40 * MIB                  # comfortably above FAT32's 65,525 clusters of 512 B
_SAFE_CLUSTERS = 67_500                  # 65,525 plus room for the FATs and reserved sectors
_ESTIMATE_CLUSTER = 4096
_SLACK = 4 * MIB
# Written first on the medium (and so found first by a reader), as on a disc.
FIRST = ("DICOMDIR", "README.TXT", "INDEX.HTM")
_NAME = re.compile(r"^[A-Z0-9_]{1,8}(\.[A-Z0-9_]{1,3})?$")
_LABEL_BAD = re.compile(r"[^A-Z0-9_]+")
_TIMEOUT = 3600.0


def volume_label(text: str) -> str:
    """A FAT volume label from any text: upper case, at most 11 of A-Z 0-9 _ ("NO_NAME" if
    nothing is left). Separators become "_"; a long text drops them before it is cut."""
    label = _LABEL_BAD.sub("_", text.upper()).strip("_")
    if len(label) > 11:
        label = label.replace("_", "")
    return label[:11] or "NO_NAME"


def _check_names(tree: Path) -> None:
    """Every staged name must already be an upper-case 8.3 name (File IDs, PS3.12 Annex R)."""
    for path in tree.rglob("*"):
        ok = _NAME.match(path.name) and (path.is_file() or "." not in path.name)
        if not ok:
            raise InternalError(f"staged name {path.relative_to(tree)} is not an 8.3 FAT name")


def default_size(tree: Path) -> int:
    """Image bytes for `tree`: its content in 4 KiB clusters + 10 % + a few MiB, whole MiB."""
    content = 0
    for path in tree.rglob("*"):
        size = path.stat().st_size if path.is_file() else 0
        content += max(1, math.ceil(size / _ESTIMATE_CLUSTER)) * _ESTIMATE_CLUSTER
    fs_bytes = max(MIN_FS_BYTES, int(content * 1.10) + _SLACK)
    return PART_OFFSET + math.ceil(fs_bytes / MIB) * MIB


def sectors_per_cluster(fs_bytes: int) -> int:
    """The largest cluster (at most 4 KiB) that still leaves FAT32 its minimum cluster count."""
    for spc in (8, 4, 2, 1):
        if fs_bytes // (SECTOR * spc) >= _SAFE_CLUSTERS:
            return spc
    raise InternalError(f"{fs_bytes} bytes are too few for a FAT32 file system")


def _chs(lba: int) -> bytes:
    """CHS address of `lba` in the usual 255-head, 63-sector geometry (capped as LBA disks do)."""
    cyl, rest = divmod(lba, 255 * 63)
    if cyl > 1023:
        return bytes((254, 0xFF, 0xFF))
    head, sec = divmod(rest, 63)
    return bytes((head, (sec + 1) | ((cyl >> 2) & 0xC0), cyl & 0xFF))


def mbr(start: int, sectors: int, *, signature: int | None = None) -> bytes:
    """A 512-byte MBR: no boot code, one primary FAT32 (LBA) partition, not bootable."""
    disk_id = signature if signature is not None else int.from_bytes(os.urandom(4)) or 1
    entry = struct.pack("<B3sB3sII", 0x00, _chs(start), FAT32_LBA,
                        _chs(start + sectors - 1), start, sectors)
    table = entry + bytes(16 * 3)
    return bytes(440) + struct.pack("<IH", disk_id, 0) + table + b"\x55\xaa"


def fat_offset(path: Path) -> int | None:
    """Byte offset of the FAT file system on an image or device: its first MBR partition, or
    0 for a stick formatted without a partition table; None when it holds no FAT."""
    try:
        with open(path, "rb") as fp:
            head = fp.read(SECTOR)
    except OSError:
        return None
    if len(head) < SECTOR or head[510:512] != b"\x55\xaa":
        return None
    boot, kind = head[446], head[450]
    start, count = struct.unpack_from("<II", head, 454)
    if boot in (0x00, 0x80) and kind in FAT_TYPES and start > 0 and count > 0:
        return start * SECTOR
    if head[0] in (0xEB, 0xE9) and (head[82:87] == b"FAT32" or head[54:59] == b"FAT16"):
        return 0
    return None


def mtools_env() -> dict[str, str]:
    """mtools settings: no geometry checks, short names only, names kept upper case."""
    env = dict(os.environ)
    env.update(MTOOLS_SKIP_CHECK="1", MTOOLS_NO_VFAT="1", MTOOLS_LOWER_CASE="0")
    return env


def _program(name: str) -> str:
    """`name` on PATH, else in /usr/sbin or /sbin (mkfs.fat lives there, off a user's PATH)."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin") or name


def run_tool(args: list[str], what: str) -> subprocess.CompletedProcess[str]:
    """Run a dosfstools/mtools program without a shell; failure says what did not work."""
    try:
        proc = subprocess.run([_program(args[0]), *args[1:]], capture_output=True, text=True,
                              errors="replace", stdin=subprocess.DEVNULL, env=mtools_env(),
                              timeout=_TIMEOUT)
    except OSError as exc:
        raise DeviceError(f"The program {args[0]} is not installed on this station, so USB "
                          "sticks cannot be made. Ask a technician to install the dosfstools, "
                          "mtools and fdisk packages, then retry the job.") from exc
    except subprocess.TimeoutExpired as exc:
        raise DeviceError(f"{what} did not finish within {_TIMEOUT:.0f} s. "
                          "Retry the job.") from exc
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise InternalError(f"{what} failed ({args[0]}: {detail or f'exit {proc.returncode}'})")
    return proc


def _format(image: Path, fs_bytes: int, label: str) -> None:
    """mkfs.fat a FAT32 file system into the partition of `image`."""
    spc = sectors_per_cluster(fs_bytes)
    args = ["mkfs.fat", "-F", "32", "--offset", str(PART_START), "-h", str(PART_START),
            "-s", str(spc), "--mbr=n", "-n", label, str(image), str(fs_bytes // 1024)]
    proc = run_tool(args, "Making the FAT32 file system")
    if "WARNING" in proc.stdout + proc.stderr:
        raise InternalError(f"mkfs.fat warned: {(proc.stdout + proc.stderr).strip()}")


def _root_entries(tree: Path) -> list[Path]:
    """The tree's top-level entries, DICOMDIR, README.TXT and INDEX.HTM first."""
    entries = sorted(tree.iterdir(), key=lambda p: (p.is_dir(), p.name))
    first = [tree / n for n in FIRST if (tree / n).is_file()]
    return first + [p for p in entries if p not in first]


def _fill(image: Path, tree: Path) -> None:
    """Copy the staged tree into the partition (mcopy streams; names stay 8.3 upper case)."""
    sources = [str(p) for p in _root_entries(tree)]
    if sources:
        run_tool(["mcopy", "-s", "-p", "-m", "-Q", "-i", f"{image}@@{PART_OFFSET}",
                  *sources, "::/"], "Copying the files into the USB image")


def build_fat32_image(tree: Path, image: Path, *, label: str,
                      size_bytes: int | None = None) -> int:
    """Write `tree` as an MBR + FAT32 image at `image`; returns the image size in bytes."""
    _check_names(tree)
    total = size_bytes if size_bytes is not None else default_size(tree)
    total -= total % 1024                # mkfs.fat counts the size in KiB
    fs_bytes = total - PART_OFFSET
    if fs_bytes < MIN_FS_BYTES:
        raise InternalError(f"a USB image of {total} bytes is below the FAT32 minimum")
    tmp = image.with_name(image.name + ".part")
    try:
        with open(tmp, "wb") as fp:
            fp.truncate(total)
        _format(tmp, fs_bytes, volume_label(label))
        _fill(tmp, tree)
        with open(tmp, "r+b") as fp:
            fp.write(mbr(PART_START, fs_bytes // SECTOR))
        os.replace(tmp, image)
    finally:
        tmp.unlink(missing_ok=True)
    return total


def extract(path: Path, offset: int, dest: Path) -> None:
    """Copy every file of the FAT file system at `offset` in `path` into the folder `dest`."""
    run_tool(["mcopy", "-s", "-n", "-m", "-i", f"{path}@@{offset}", "::/", str(dest)],
             "Reading the files of the USB medium")
