"""USB sticks: the device picker on fabricated sysfs trees, the FAT32 image checked with
dosfstools/mtools/sfdisk, and the writer on a stick stand-in (a sparse file)."""

from __future__ import annotations

import errno
import json
import re
import struct
import subprocess
import warnings
from pathlib import Path

import pytest
from conftest import make_job_folder, require_tool

from burner.build import build_job
from burner.config import load_config
from burner.errors import DeviceError
from burner.media import checksums, usb
from burner.media.blockdev import BlockDevice, list_block_devices, mounted_devices, root_disk
from burner.media.fat import PART_OFFSET, build_fat32_image, volume_label
from burner.media.medium import check_medium
from burner.media.stick_policy import (
    NoStick,
    NotRemovable,
    NotUsb,
    StickMounted,
    StickReadOnly,
    StickRemoved,
    StickTooSmall,
    SystemDisk,
    check_stick,
    pick_stick,
)
from burner.media.usb import UsbWriter

GB = 1_000_000_000
MB = 1_000_000
MIB = 1 << 20
USB_PATH = "pci0000:00/0000:00:14.0/usb2/2-{n}/2-{n}:1.0/host{n}/target{n}:0:0/{n}:0:0:0"
SATA_PATH = "pci0000:00/0000:00:17.0/ata{n}/host{n}/target{n}:0:0/{n}:0:0:0"
LABEL = "BRN0042 CT"
MTOOLS_ENV = {"MTOOLS_SKIP_CHECK": "1", "MTOOLS_LOWER_CASE": "0", "PATH": "/usr/bin:/bin"}


# --- fabricated sysfs -----------------------------------------------------------------------

class FakeSys:
    """A /sys tree and a mounts file under tmp_path, shaped as the kernel shapes them."""

    def __init__(self, root: Path):
        self.sysfs = root / "sys"
        self.dev = root / "dev"
        self.mounts = root / "mounts"
        (self.sysfs / "block").mkdir(parents=True)
        (self.sysfs / "class" / "block").mkdir(parents=True)
        self.dev.mkdir()
        self.mounts.write_text("proc /proc proc rw 0 0\n")
        self.count = 0

    def disk(self, name: str, *, size: int = 8 * GB, removable: bool = True, on_usb: bool = True,
             ro: bool = False, vendor: str = "SanDisk", model: str = "Cruzer Blade",
             partitions: int = 1) -> None:
        self.count += 1
        where = (USB_PATH if on_usb else SATA_PATH).format(n=self.count)
        device = self.sysfs / "devices" / where
        device.mkdir(parents=True)
        (device / "vendor").write_text(f"{vendor:<8}\n")
        (device / "model").write_text(f"{model:<16}\n")
        block = self.sysfs / "block" / name
        block.mkdir()
        (block / "device").symlink_to(Path("../../devices") / where)
        (block / "size").write_text(f"{size // 512}\n")
        (block / "removable").write_text("1\n" if removable else "0\n")
        (block / "ro").write_text("1\n" if ro else "0\n")
        (self.sysfs / "class" / "block" / name).symlink_to(Path("../../block") / name)
        for i in range(1, partitions + 1):
            part = block / f"{name}{i}"
            part.mkdir()
            (part / "partition").write_text(f"{i}\n")
            (self.sysfs / "class" / "block" / part.name).symlink_to(
                Path("../../block") / name / part.name)

    def mount(self, source: str, point: str, kind: str = "vfat") -> None:
        with self.mounts.open("a") as fp:
            fp.write(f"{source} {point} {kind} rw,relatime 0 0\n")

    def device(self, name: str) -> BlockDevice:
        return next(d for d in list_block_devices(self.sysfs, self.dev) if d.name == name)

    def check(self, name: str, need: int = 50 * MB, **kwargs) -> None:
        check_stick(self.device(name), need, mounts=self.mounts, sysfs=self.sysfs, **kwargs)

    def pick(self, need: int = 50 * MB) -> BlockDevice:
        return pick_stick(need, sysfs=self.sysfs, dev=self.dev, mounts=self.mounts)


@pytest.fixture
def fake(tmp_path: Path) -> FakeSys:
    """A station whose system disk is a fixed SATA disk (sda), mounted on "/"."""
    sys = FakeSys(tmp_path)
    sys.disk("sda", size=256 * GB, removable=False, on_usb=False, vendor="ATA",
             model="Samsung SSD 870", partitions=2)
    sys.mount("/dev/sda2", "/", "ext4")
    sys.mount("/dev/sda1", "/boot/efi", "vfat")
    for skipped in ("loop0", "ram0", "sr0", "dm-0"):
        (sys.sysfs / "block" / skipped).mkdir()
    return sys


def assert_plain(message: str) -> None:
    """Words for the front desk: no errno names, exception reprs or Python jargon."""
    assert not re.search(r"Errno|Traceback|Error\(|NoneType|\bOSError\b", message), message
    assert message[0].isupper() and message.rstrip().endswith((".", ")")), message


def test_sysfs_facts_of_a_stick(fake: FakeSys) -> None:
    fake.disk("sdb", partitions=1)
    names = [d.name for d in list_block_devices(fake.sysfs, fake.dev)]
    assert names == ["sda", "sdb"]
    stick = fake.device("sdb")
    assert stick == BlockDevice("sdb", fake.dev / "sdb", 8 * GB // 512 * 512, True, True, False,
                                "SanDisk", "Cruzer Blade", ("sdb1",))
    assert not fake.device("sda").usb and not fake.device("sda").removable
    assert fake.device("sda").partitions == ("sda1", "sda2")


def test_a_good_8gb_usb_stick_is_accepted_and_picked(fake: FakeSys) -> None:
    fake.disk("sdb")
    fake.check("sdb")
    assert fake.pick().name == "sdb"


def test_the_smallest_good_stick_is_picked(fake: FakeSys) -> None:
    fake.disk("sdb", size=32 * GB)
    fake.disk("sdc", size=4 * GB)
    fake.disk("sdd", size=16 * MB)
    assert fake.pick().name == "sdc"


@pytest.mark.parametrize("case", ["fixed", "system", "mounted", "read-only", "too small",
                                  "not usb"])
def test_check_stick_refuses(fake: FakeSys, case: str) -> None:
    expected = {"fixed": (NotRemovable, "is a fixed disk, not a USB stick; burner never "
                                        "writes to it"),
                "system": (SystemDisk, "holds this station's own system"),
                "mounted": (StickMounted, "Unmount/eject it in the computer first"),
                "read-only": (StickReadOnly, "write-protect switch"),
                "too small": (StickTooSmall, "it needs 100 MB but the stick holds only 16 MB"),
                "not usb": (NotUsb, "not on USB")}
    kind, words = expected[case]
    if case == "fixed":
        fake.disk("sdb", removable=False, on_usb=False, vendor="ATA", model="WDC WD10")
    elif case == "system":       # a system that boots from a removable USB disk
        fake.disk("sdb")
        fake.mount("/dev/sdb1", "/", "ext4")
    elif case == "mounted":
        fake.disk("sdb")
        fake.mount("/dev/sdb1", "/media/jsmith/MY\\040PHOTOS")
    elif case == "read-only":
        fake.disk("sdb", ro=True)
    elif case == "too small":
        fake.disk("sdb", size=16 * MB)
    else:
        fake.disk("sdb", on_usb=False)
    with pytest.raises(kind) as info:
        fake.check("sdb", need=100 * MB)
    assert isinstance(info.value, DeviceError)
    assert words in str(info.value)
    assert_plain(str(info.value))
    if case == "mounted":
        assert "/media/jsmith/MY PHOTOS" in str(info.value)


def test_the_system_disk_is_refused_even_as_a_sata_disk(fake: FakeSys) -> None:
    with pytest.raises(SystemDisk):
        fake.check("sda")


def test_a_partition_mounted_by_burner_itself_is_not_a_refusal(fake: FakeSys) -> None:
    fake.disk("sdb")
    fake.mount("/dev/sdb1", "/run/burner/usb0")
    fake.check("sdb", our_mounts={"/run/burner/usb0"})


@pytest.mark.parametrize("case", ["only fixed disks", "one read-only stick",
                                  "two bad sticks", "empty card reader"])
def test_pick_stick_with_only_bad_candidates(fake: FakeSys, case: str) -> None:
    if case == "only fixed disks":
        fake.disk("sdb", removable=False, on_usb=False, vendor="ATA", model="WDC WD10")
        kind = NoStick
        words = "No USB stick is plugged in. Plug in an empty USB stick of at least 50 MB"
    elif case == "one read-only stick":
        fake.disk("sdb", ro=True)
        kind, words = StickReadOnly, "write-protected"
    elif case == "two bad sticks":
        fake.disk("sdb", ro=True)
        fake.disk("sdc", size=8 * MB)
        kind, words = NoStick, "None of the plugged-in USB sticks can be used"
    else:
        fake.disk("sdb", size=0, vendor="Generic", model="SD Reader")
        kind, words = NoStick, "No USB stick is plugged in"
    with pytest.raises(kind) as info:
        fake.pick()
    assert words in str(info.value)
    assert_plain(str(info.value))
    if case == "two bad sticks":
        assert "write-protected" in str(info.value) and "too small" in str(info.value)


def test_root_disk_from_a_partition_a_whole_disk_and_by_name(fake: FakeSys, tmp_path: Path,
                                                             ) -> None:
    assert root_disk(fake.mounts, fake.sysfs) == "sda"
    whole = tmp_path / "whole"
    whole.write_text("/dev/sda / ext4 rw 0 0\n")
    assert root_disk(whole, fake.sysfs) == "sda"
    fake.disk("nvme0n1", removable=False, on_usb=False, partitions=0)
    (fake.sysfs / "block" / "nvme0n1" / "nvme0n1p2").mkdir()     # no /sys/class/block link
    nvme = tmp_path / "nvme"
    nvme.write_text("/dev/nvme0n1p2 / xfs rw 0 0\n")
    assert root_disk(nvme, fake.sysfs) == "nvme0n1"
    unknown = tmp_path / "unknown"
    unknown.write_text("overlay / overlay rw 0 0\n")
    assert root_disk(unknown, fake.sysfs) is None


def test_mounted_devices_reads_names_and_escaped_mount_points(fake: FakeSys) -> None:
    fake.mount("/dev/sdb1", "/media/a\\040b")
    assert mounted_devices(fake.mounts) == {"sda2": "/", "sda1": "/boot/efi",
                                            "sdb1": "/media/a b"}


def test_a_device_writer_checks_the_device_before_writing(fake: FakeSys) -> None:
    fake.disk("sdb", removable=False, on_usb=False, vendor="ATA", model="WDC WD10")
    writer = UsbWriter("usb0", "/dev/sdb", sysfs=fake.sysfs, dev=fake.dev, mounts=fake.mounts)
    with pytest.raises(NotRemovable):
        writer.write_copy(Path("/nonexistent.img"), 50 * MB, "0" * 64, "X")
    auto = UsbWriter("usb0", "auto", sysfs=fake.sysfs, dev=fake.dev, mounts=fake.mounts)
    with pytest.raises(NoStick):
        auto.write_copy(Path("/nonexistent.img"), 50 * MB, "0" * 64, "X")


def test_the_stick_auto_picks_is_locked_while_it_is_written(fake: FakeSys) -> None:
    """Two stations with "auto" and one stick: the second waits (DeviceBusy), it never
    writes the stick the first is writing."""
    from burner.errors import DeviceBusy
    from burner.locks import device_lock

    fake.disk("sdb")
    (fake.dev / "sdb").write_bytes(b"")
    auto = UsbWriter("usb0", "auto", sysfs=fake.sysfs, dev=fake.dev, mounts=fake.mounts)
    with device_lock(str(fake.dev / "sdb"), "usb0", "other-station"), \
            pytest.raises(DeviceBusy, match="being written by another burner process"):
        auto.write_copy(Path("/nonexistent.img"), 50 * MB, "0" * 64, "X")
    with pytest.raises(NoStick, match="is not a disk"):    # free again: it goes on
        auto.write_copy(Path("/nonexistent.img"), 50 * MB, "0" * 64, "X")


# --- the FAT32 image ------------------------------------------------------------------------

def tools() -> None:
    for name in ("mkfs.fat", "mcopy", "mdir", "minfo", "fsck.vfat", "sfdisk", "dd"):
        require_tool(name)


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A staged USB volume tree from burner's own pipeline (a small synthetic CT job)."""
    base = tmp_path_factory.mktemp("usbjob")
    job = base / "USBJOB1"
    manifest = make_job_folder(job, slices=3)
    manifest["media"]["type"] = "usb"
    (job / "job.json").write_text(json.dumps(manifest), encoding="utf-8")
    config = base / "burner.toml"
    config.write_text(f'[station]\ndata_dir = "{base / "data"}"\n', encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = build_job(load_config(config), job, base / "out")
    assert outcome.exit_code == 0, outcome.summary()
    assert outcome.volumes[0]["media"] == "usb"
    return Path(outcome.volumes[0]["tree"])


@pytest.fixture(scope="module")
def image(staged: Path) -> Path:
    tools()
    path = staged.parent / "vol1.usb.img"
    size = build_fat32_image(staged, path, label=LABEL)
    assert size == path.stat().st_size and size % MIB == 0
    return path


def mtools(*args: str) -> str:
    proc = subprocess.run(list(args), capture_output=True, text=True, env=MTOOLS_ENV,
                          check=True)
    return proc.stdout


def partition_of(image: Path, tmp_path: Path) -> Path:
    """The FAT partition alone, cut out with dd (fsck.fat has no offset option)."""
    part = tmp_path / "part.img"
    subprocess.run(["dd", f"if={image}", f"of={part}", "bs=1M", f"skip={PART_OFFSET // MIB}",
                    "status=none"], check=True)
    return part


def root_entries(image: Path) -> list[tuple[bytes, int, int]]:
    """(8.3 name, attribute, case byte) of each entry of the FAT32 root directory cluster."""
    with open(image, "rb") as fp:
        fp.seek(PART_OFFSET)
        boot = fp.read(512)
        per_sector, per_cluster, reserved, fats = struct.unpack_from("<HBHB", boot, 11)
        fat_sectors, root = struct.unpack_from("<I4xI", boot, 36)
        first = reserved + fats * fat_sectors + (root - 2) * per_cluster
        fp.seek(PART_OFFSET + first * per_sector)
        data = fp.read(per_cluster * per_sector)
    entries = [data[i:i + 32] for i in range(0, len(data), 32)]
    return [(e[:11], e[11], e[12]) for e in entries if e[0] not in (0x00, 0xE5)]


def test_volume_labels() -> None:
    assert volume_label(LABEL) == "BRN0042_CT"
    assert volume_label("r2026-000123") == "R2026000123"
    assert volume_label("Dr. Müller's patient") == "DRMLLERSPAT"
    assert volume_label("---") == "NO_NAME"


def test_the_image_has_one_fat32_partition_at_1_mib(image: Path) -> None:
    table = json.loads(subprocess.run([require_tool("sfdisk"), "--json", str(image)],
                                      capture_output=True, text=True, check=True).stdout)
    parts = table["partitiontable"]["partitions"]
    assert table["partitiontable"]["label"] == "dos"
    assert len(parts) == 1
    assert parts[0]["start"] == 2048 and parts[0]["type"] == "c"
    assert not parts[0].get("bootable")
    assert (parts[0]["start"] + parts[0]["size"]) * 512 == image.stat().st_size
    head = image.read_bytes()[:512]
    assert head[510:] == b"\x55\xaa" and head[446] == 0x00 and head[462:510] == bytes(48)


def test_fsck_finds_the_fat32_file_system_clean(image: Path, tmp_path: Path) -> None:
    proc = subprocess.run([require_tool("fsck.vfat"), "-n", "-v",
                           str(partition_of(image, tmp_path))],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    clusters = int(re.search(r"/(\d+) clusters", proc.stdout)[1])
    assert clusters >= 65525      # the FAT32 minimum
    info = mtools("minfo", "-i", f"{image}@@{PART_OFFSET}", "::")
    assert 'disk type="FAT32   "' in info
    assert f'disk label="{volume_label(LABEL):<11}"' in info


def test_every_file_reads_back_byte_identical_with_mtools(image: Path, staged: Path,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "back"
    out.mkdir()
    mtools("mcopy", "-s", "-n", "-i", f"{image}@@{PART_OFFSET}", "::/", str(out))
    want = {p.relative_to(staged).as_posix(): p for p in staged.rglob("*") if p.is_file()}
    got = {p.relative_to(out).as_posix(): p for p in out.rglob("*") if p.is_file()}
    assert sorted(got) == sorted(want)
    assert "DICOMDIR" in got and any(n.startswith("DICOM/") for n in got)
    for name, path in want.items():
        assert got[name].read_bytes() == path.read_bytes(), name
    listing = mtools("mdir", "-b", "-/", "-i", f"{image}@@{PART_OFFSET}", "::/")
    assert "::/DICOM/" in listing


def test_the_root_holds_short_upper_case_names_only_dicomdir_first(image: Path) -> None:
    entries = root_entries(image)
    assert all(attr != 0x0F for _n, attr, _c in entries), "no VFAT long-name entries"
    assert all(case == 0 for _n, _a, case in entries), "no lower-case flags"
    names = [n.decode("ascii") for n, attr, _c in entries if not attr & 0x08]
    assert names[:3] == ["DICOMDIR   ", "README  TXT", "INDEX   HTM"]
    label = [n for n, attr, _c in entries if attr & 0x08]
    assert label == [volume_label(LABEL).ljust(11).encode()]


def test_check_medium_reads_the_fat_image_and_an_unpartitioned_stick(image: Path,
                                                                      tmp_path: Path) -> None:
    report = check_medium(image)
    assert report.ok, report.as_dict()
    assert report.files_checked >= 6
    whole = check_medium(partition_of(image, tmp_path))
    assert whole.ok and whole.files_checked == report.files_checked


# --- the writer on a stick stand-in ---------------------------------------------------------

def stand_in(tmp_path: Path, size: int = 256 * MIB) -> Path:
    """A sparse file as big as a small stick."""
    path = tmp_path / "stick.img"
    with open(path, "wb") as fp:
        fp.truncate(size)
    return path


def image_facts(image: Path) -> tuple[int, str]:
    size = image.stat().st_size
    return size, checksums.sha256_file(image)[0]


def test_write_copy_to_a_stand_in_reads_back_the_same(image: Path, tmp_path: Path) -> None:
    stick = stand_in(tmp_path)
    size, digest = image_facts(image)
    writer = UsbWriter("usb0", str(stick))
    assert writer.write_copy(image, size, digest, "USBJOB1") == str(stick)
    assert stick.stat().st_size == 256 * MIB
    assert checksums.sha256_file(stick, size)[0] == digest
    assert check_medium(stick).ok
    assert writer.warnings == []


def test_a_stand_in_too_small_is_refused_before_writing(image: Path, tmp_path: Path) -> None:
    stick = stand_in(tmp_path, 8 * MIB)
    size, digest = image_facts(image)
    with pytest.raises(StickTooSmall) as info:
        UsbWriter("usb0", str(stick)).write_copy(image, size, digest, "USBJOB1")
    assert "Use a larger stick" in str(info.value)
    assert f"only {8 * MIB // MB} MB" in str(info.value)
    assert_plain(str(info.value))
    assert stick.read_bytes() == bytes(8 * MIB)


def test_a_stick_pulled_after_writing_fails_the_read_back(image: Path, tmp_path: Path) -> None:
    stick = stand_in(tmp_path)
    size, digest = image_facts(image)
    with pytest.raises(StickRemoved) as info:
        UsbWriter("usb0", str(stick)).write_copy(image, size, digest, "USBJOB1",
                                                 after_burn=stick.unlink)
    assert isinstance(info.value, DeviceError)
    assert str(info.value).startswith("The USB stick was removed while it was being written. "
                                      "Put it back (or a new one) — the job will retry.")
    assert_plain(str(info.value))


@pytest.mark.parametrize(("code", "kind"), [(errno.ENODEV, StickRemoved),
                                            (errno.EIO, StickRemoved),
                                            (errno.EROFS, StickReadOnly),
                                            (errno.ENOSPC, StickTooSmall)])
def test_a_failing_write_becomes_a_plain_refusal(image: Path, tmp_path: Path, monkeypatch,
                                                 code: int, kind: type) -> None:
    def fail(_image: Path, _fd: int, _size: int, _progress: object = None) -> None:
        raise OSError(code, "simulated")

    monkeypatch.setattr(usb, "_copy", fail)
    size, digest = image_facts(image)
    with pytest.raises(kind) as info:
        UsbWriter("usb0", str(stand_in(tmp_path))).write_copy(image, size, digest, "USBJOB1")
    assert_plain(str(info.value))


def test_a_flipped_byte_on_the_stick_names_the_file(image: Path, staged: Path,
                                                    tmp_path: Path) -> None:
    stick = stand_in(tmp_path)
    size, digest = image_facts(image)
    UsbWriter("usb0", str(stick)).write_copy(image, size, digest, "USBJOB1")
    victim = sorted((staged / "DICOM").rglob("IM*"))[-1]
    data = victim.read_bytes()
    with open(stick, "r+b") as fp:
        where = fp.read(size).find(data)
        assert where > 0
        spot = where + len(data) - 100          # inside the pixel data
        fp.seek(spot)
        byte = fp.read(1)[0]
        fp.seek(spot)
        fp.write(bytes([byte ^ 0xFF]))
    report = check_medium(stick)
    name = victim.relative_to(staged).as_posix()
    assert not report.ok
    assert report.mismatched == [name]
    assert checksums.sha256_file(stick, size)[0] != digest
