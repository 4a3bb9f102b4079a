"""burner.media.optical against the real xorriso, on stdio: pseudo-drives (regular files).

Faults come from tests/fake_xorriso.sh, a wrapper that prints libburn's real failure
messages and exit codes and otherwise runs the real xorriso.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool

from burner.errors import DeviceError, MediaMismatch
from burner.media.optical import (
    DriveBusy,
    DriveInfo,
    DriveNotFound,
    MediaStatus,
    MediumNotBlank,
    NoMedium,
    OpticalDrive,
    OpticalError,
    WriteError,
    WrongMedium,
    classify,
    discover_drives,
    parse_devices,
)

FAKE = Path(__file__).with_name("fake_xorriso.sh")


@pytest.fixture(scope="module")
def xorriso() -> str:
    return require_tool("xorriso")


@pytest.fixture
def image(tmp_path: Path, xorriso: str) -> Path:
    """A small ISO 9660 image of generated, non-patient content."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "README.TXT").write_text("burner test disc: generated content only\n")
    (tree / "DATA.BIN").write_bytes(bytes(range(256)) * 800)
    out = tmp_path / "small.iso"
    subprocess.run([xorriso, "-as", "mkisofs", "-V", "BURNERTEST", "-o", str(out), str(tree)],
                   check=True, capture_output=True, timeout=120)
    return out


@pytest.fixture
def drive(tmp_path: Path, xorriso: str) -> OpticalDrive:
    return OpticalDrive(f"stdio:{tmp_path / 'drive0.img'}", xorriso=xorriso)


@pytest.fixture
def fake(tmp_path: Path, xorriso: str, monkeypatch: pytest.MonkeyPatch):
    """Return a function fault -> OpticalDrive whose xorriso is the failing wrapper."""
    wrapper = tmp_path / "xorriso-fake"
    shutil.copyfile(FAKE, wrapper)
    wrapper.chmod(0o755)
    monkeypatch.setenv("REAL_XORRISO", xorriso)

    def make(fault: str, timeout: float = 3600) -> OpticalDrive:
        monkeypatch.setenv("FAKE_XORRISO_FAULT", fault)
        return OpticalDrive(f"stdio:{tmp_path / 'faulty.img'}", str(wrapper), timeout)

    return make


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_plain(err: BaseException, *words: str) -> None:
    """The message is for a person: it says what to do, then xorriso's line for a technician."""
    text = str(err)
    assert "retry" in text.lower()
    for word in words:
        assert word.lower() in text.lower(), text


def test_nonexistent_stdio_file_is_a_blank_disc(drive: OpticalDrive):
    st = drive.status()
    assert isinstance(st, MediaStatus)
    assert (st.present, st.blank, st.appendable, st.closed) == (True, True, False, False)
    assert st.media_type == "stdio file, overwriteable"
    assert st.free_bytes > 0 and "Media status" in st.raw
    assert not drive.path.exists(), "a status query must not create the file"


def test_empty_stdio_file_is_a_blank_disc(drive: OpticalDrive):
    drive.path.touch()
    st = drive.check_writable(1024)
    assert st.blank and st.present


def test_burn_then_read_back_matches_image(drive: OpticalDrive, image: Path):
    drive.burn(image)
    size = image.stat().st_size
    assert drive.path.read_bytes()[:size] == image.read_bytes()
    assert drive.read_back_sha256(size) == sha256(image)
    st = drive.status()
    assert st.present and not st.blank


def test_written_disc_is_refused(drive: OpticalDrive, image: Path):
    drive.burn(image)
    before = sha256(drive.path)
    with pytest.raises(MediumNotBlank) as info:
        drive.check_writable(image.stat().st_size)
    assert_plain(info.value, "not blank", "blank disc", "Media status")
    with pytest.raises(MediumNotBlank):
        drive.burn(image)
    assert sha256(drive.path) == before, "a refused burn must not touch the disc"


def test_read_back_sees_a_flipped_byte(drive: OpticalDrive, image: Path):
    drive.burn(image)
    data = bytearray(drive.path.read_bytes())
    data[40000] ^= 0xFF
    drive.path.write_bytes(bytes(data))
    assert drive.read_back_sha256(image.stat().st_size) != sha256(image)


def test_short_read_back_is_a_mismatch(drive: OpticalDrive, image: Path):
    with pytest.raises(MediaMismatch):
        drive.read_back_sha256(2048)  # nothing written at all
    drive.burn(image)
    with pytest.raises(MediaMismatch, match="only"):
        drive.read_back_sha256(drive.path.stat().st_size + 2048)


def test_image_larger_than_free_space_is_wrong_medium(drive: OpticalDrive):
    free = drive.status().free_bytes
    with pytest.raises(WrongMedium) as info:
        drive.check_writable(free + 10**9)
    assert_plain(info.value, "too small", "MB", "bigger blank disc")


def test_missing_folder_is_drive_not_found(tmp_path: Path, xorriso: str, image: Path):
    drive = OpticalDrive(f"stdio:{tmp_path / 'no-such-dir' / 'd.img'}", xorriso=xorriso)
    with pytest.raises(DriveNotFound) as info:
        drive.status()
    assert_plain(info.value, "folder", "does not exist", "Neither stdio-path")
    with pytest.raises(DriveNotFound):
        drive.burn(image)


def test_missing_image_is_a_write_error(drive: OpticalDrive, tmp_path: Path):
    with pytest.raises(WriteError, match="missing"):
        drive.burn(tmp_path / "absent.iso")


def test_missing_xorriso_program(tmp_path: Path):
    drive = OpticalDrive("stdio:/tmp/x.img", xorriso=str(tmp_path / "no-xorriso"))
    with pytest.raises(OpticalError, match="not installed"):
        drive.status()
    with pytest.raises(DeviceError):
        discover_drives(str(tmp_path / "no-xorriso"))


def test_eject_is_harmless_for_stdio(drive: OpticalDrive, image: Path):
    drive.eject()
    assert not drive.path.exists()
    drive.burn(image)
    before = sha256(drive.path)
    drive.eject()
    assert sha256(drive.path) == before


def test_discover_drives_returns_a_list(xorriso: str):
    drives = discover_drives(xorriso)
    assert isinstance(drives, list)
    assert all(isinstance(d, DriveInfo) for d in drives)


def test_parse_devices_reads_xorriso_lines():
    text = ("Beginning to scan for devices ...\nFull drive scan done\n"
            "-----------------------------------------------------------------------------\n"
            "0  -dev '/dev/sr0' rwrw-- :  'HL-DT-ST' 'DVDRAM GH24NSD1' \n"
            "1  -dev '/dev/sr1' rwrw-- :  'ASUS    ' 'BW-16D1HT' \n")
    assert parse_devices(text) == [DriveInfo("/dev/sr0", "HL-DT-ST", "DVDRAM GH24NSD1"),
                                   DriveInfo("/dev/sr1", "ASUS", "BW-16D1HT")]


@pytest.mark.parametrize(("fault", "action", "error", "words"), [
    ("busy", "status", DriveBusy, ["busy", "Cannot open busy device"]),
    ("busy", "burn", DriveBusy, ["busy", "wait"]),
    ("busy", "eject", DriveBusy, ["busy"]),
    ("no_media", "check", NoMedium, ["no disc", "Put a blank disc"]),
    ("no_media", "burn", NoMedium, ["no disc"]),
    ("not_blank", "check", MediumNotBlank, ["not blank", "is written , is closed"]),
    ("not_blank", "burn", MediumNotBlank, ["not blank", "new blank disc"]),
    ("write_error", "burn", WriteError, ["failed", "new blank disc", "Input/output error"]),
    ("no_space", "burn", WrongMedium, ["too small", "5120 MB", "736 MB"]),
])
def test_faults_become_plain_errors(fake, image: Path, fault, action, error, words):
    drive = fake(fault)
    calls = {"status": drive.status, "eject": drive.eject, "burn": lambda: drive.burn(image),
             "check": lambda: drive.check_writable(image.stat().st_size)}
    with pytest.raises(error) as info:
        calls[action]()
    assert_plain(info.value, drive.address, *words)
    assert isinstance(info.value, DeviceError)


def test_fake_reports_empty_and_closed_drives(fake):
    empty = fake("no_media").status()
    assert (empty.present, empty.blank, empty.free_bytes) == (False, False, 0)
    closed = fake("not_blank").status()
    assert closed.present and closed.closed and not closed.blank
    assert closed.media_type == "DVD-R sequential recording"


def test_hanging_drive_times_out(fake, image: Path):
    drive = fake("hang", timeout=1)
    with pytest.raises(DriveBusy, match="no answer within 1 s"):
        drive.status()
    with pytest.raises((DriveBusy, WriteError)):
        drive.burn(image)


def test_wrapper_without_fault_is_real_xorriso(fake, image: Path):
    drive = fake("")
    drive.burn(image)
    assert drive.read_back_sha256(image.stat().st_size) == sha256(image)


def test_classify_prefers_busy_over_cannot_acquire():
    out = ("libburn : SORRY : Cannot open busy device '/dev/sr0' : Device or resource busy\n"
           "xorriso : FAILURE : Cannot acquire drive '/dev/sr0'\n"
           "xorriso : aborting : -abort_on 'FAILURE' encountered 'FAILURE'\n")
    err = classify("/dev/sr0", out)
    assert type(err) is DriveBusy and "Cannot open busy device" in str(err)
    lost = classify("/dev/sr5", "libburn : FAILURE : File object '/dev/sr5' not found\n"
                                "xorriso : FAILURE : Cannot acquire drive '/dev/sr5'\n")
    assert type(lost) is DriveNotFound and "connected" in str(lost)
