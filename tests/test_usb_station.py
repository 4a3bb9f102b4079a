"""Issue 3 acceptance for USB sticks, through the station: a job written to a stand-in for a
block device (a sparse file) is a clean MBR + FAT32 stick holding the staged tree byte for
byte with a conformant USB-profile DICOMDIR; a stick pulled mid-write leaves the job retrying."""

from __future__ import annotations

import filecmp
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import (
    BURNER,
    dcmtk_errors,
    error_lines,
    make_job_folder,
    output_of,
    require_tool,
    run_tool,
)

from burner.media import fat
from burner.media.medium import check_medium

STICK_BYTES = 256 * 1024 * 1024


class UsbStation:
    """A station whose only writer is a USB port with a file standing in for the stick."""

    def __init__(self, root: Path, max_attempts: int = 3, retry_delay: float = 0.1):
        self.root = root
        self.data = root / "data"
        self.stick = root / "stick.img"
        self.config = root / "burner.toml"
        q = json.dumps
        self.config.write_text("\n".join([
            "[station]", 'id = "usbstation"', f"data_dir = {q(str(self.data))}",
            "[spool]", "rescan_seconds = 0.5", "quiet_seconds = 0.2",
            "[job]", f"max_attempts = {max_attempts}", f"retry_delay_seconds = {retry_delay}",
            "keep_work = true",
            "[[drives]]", 'name = "usb0"', f"device = {q(str(self.stick))}", 'media = "usb"',
            ""]))
        self.insert_stick()

    def insert_stick(self) -> None:
        with open(self.stick, "wb") as fp:
            fp.truncate(STICK_BYTES)

    def burner(self, *args: str) -> list[str]:
        return [BURNER, "--config", str(self.config), *args]

    def add_job(self, job_id: str) -> Path:
        incoming = self.data / "spool" / "incoming" / job_id
        manifest = make_job_folder(incoming, slices=6)
        manifest["media"]["type"] = "usb"
        (incoming / "job.json").write_text(json.dumps(manifest))
        approved = self.data / "spool" / "approved"
        approved.mkdir(parents=True, exist_ok=True)
        incoming.rename(approved / job_id)
        return approved / job_id

    def where(self, job_id: str) -> list[str]:
        return sorted(p.parent.name for p in (self.data / "spool").glob(f"*/{job_id}"))


@pytest.mark.slow
def test_a_usb_job_makes_a_clean_fat32_stick(tmp_path: Path) -> None:
    for tool in ("mkfs.fat", "mcopy", "fsck.vfat", "dciodvfy", "dcmmkdir"):
        require_tool(tool)
    st = UsbStation(tmp_path)
    st.add_job("U1")
    proc = subprocess.run(st.burner("run", "--once"), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert st.where("U1") == ["done"]
    result = json.loads((st.data / "spool" / "done" / "U1" / "result.json").read_text())
    assert (result["media"], result["profile"]) == ("usb", "STD-GEN-USB-JPEG")
    assert [c["medium"] for c in result["copies"]] == [str(st.stick)]

    head = st.stick.read_bytes()[:512]
    assert head[510:] == b"\x55\xaa" and head[446 + 4] == 0x0C, "MBR with a FAT32 partition"
    offset = fat.fat_offset(st.stick)
    assert offset == 1024 * 1024
    partition = tmp_path / "partition.img"
    with open(st.stick, "rb") as src, open(partition, "wb") as out:
        src.seek(offset)
        out.write(src.read(result["volumes"][0]["bytes"] - offset))
    fsck = run_tool(["fsck.vfat", "-n", str(partition)])
    assert fsck.returncode == 0, output_of(fsck)

    read_back = tmp_path / "read-back"
    read_back.mkdir()
    fat.extract(st.stick, offset, read_back)
    staged = st.data / "work" / "U1" / "stage" / "vol1"
    compare = filecmp.dircmp(staged, read_back)
    assert not (compare.left_only or compare.right_only or compare.diff_files)
    for path in staged.rglob("*"):
        if path.is_file():
            assert filecmp.cmp(path, read_back / path.relative_to(staged), shallow=False)

    out = output_of(run_tool(["dciodvfy", str(read_back / "DICOMDIR")]))
    assert error_lines(out) == [], out
    files = sorted(str(p) for p in (read_back / "DICOM").rglob("*") if p.is_file())
    out = output_of(run_tool([require_tool("dcentvfy"), *files]))
    assert error_lines(out) == [], out
    check = tmp_path / "dcmtk"
    check.mkdir()
    (check / "DICOM").symlink_to(read_back / "DICOM")
    out = output_of(run_tool(["dcmmkdir", "-Pfl", "+r", "+D", "DICOMDIR.DCMTK", "DICOM"],
                             cwd=check))
    assert dcmtk_errors(out) == [], out
    assert check_medium(st.stick).ok


def _job_row(st: UsbStation, job_id: str) -> tuple[str, str] | None:
    import sqlite3

    con = sqlite3.connect(st.data / "burner.sqlite")
    try:
        return con.execute("SELECT state, reason FROM jobs WHERE job_id=?", (job_id,)).fetchone()
    finally:
        con.close()


def _wait(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.slow
def test_a_stick_pulled_mid_write_leaves_the_job_retrying(tmp_path: Path) -> None:
    st = UsbStation(tmp_path, max_attempts=50, retry_delay=0.5)
    job_dir = st.add_job("U2")
    before = sorted(p.relative_to(job_dir).as_posix() for p in job_dir.rglob("*"))
    env = dict(os.environ, BURNER_PAUSE_AT="write", BURNER_PAUSE_SECONDS="2")
    service = subprocess.Popen(st.burner("run"), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: (st.data / "paused-write").exists())
        st.stick.unlink()                      # pulled out while being written
        _wait(lambda: (_job_row(st, "U2") or ("", ""))[0] == "waiting")
        state, reason = _job_row(st, "U2")
        assert "removed" in reason.lower() or "no usb stick" in reason.lower(), reason
        assert st.where("U2") == ["active"], "retrying, not done, not held"
        now = sorted(p.relative_to(st.data / "spool" / "active" / "U2").as_posix()
                     for p in (st.data / "spool" / "active" / "U2").rglob("*"))
        assert set(before) <= set(now), "nothing of the job was lost"
        st.insert_stick()                       # the next stick
        _wait(lambda: st.where("U2") == ["done"], timeout=120)
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=30)
    assert check_medium(st.stick).ok


@pytest.mark.slow
def test_jobs_go_to_the_writer_that_takes_their_medium(tmp_path: Path) -> None:
    """One optical drive and one USB port configured: each job lands on its own writer."""
    st = UsbStation(tmp_path)
    with open(st.config, "a") as fp:
        fp.write('[[drives]]\nname = "dvd0"\ndevice = "stdio:drives/dvd0.img"\nmedia = "dvd"\n'
                 "auto_load_blank = true\n")
    st.add_job("ONUSB")
    dvd_job = st.add_job("ONDVD")
    manifest = json.loads((dvd_job / "job.json").read_text())
    manifest["media"]["type"] = "dvd"
    (dvd_job / "job.json").write_text(json.dumps(manifest))
    proc = subprocess.run(st.burner("run", "--once"), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    done = st.data / "spool" / "done"
    usb = json.loads((done / "ONUSB" / "result.json").read_text())
    dvd = json.loads((done / "ONDVD" / "result.json").read_text())
    assert [c["drive"] for c in usb["copies"]] == ["usb0"]
    assert [c["drive"] for c in dvd["copies"]] == ["dvd0"]
    assert Path(dvd["copies"][0]["medium"]).suffix == ".iso"
    assert check_medium(Path(dvd["copies"][0]["medium"])).ok


def test_drives_and_doctor_describe_the_usb_writer(tmp_path: Path) -> None:
    st = UsbStation(tmp_path)
    drives = subprocess.run(st.burner("drives"), capture_output=True, text=True, timeout=60)
    assert drives.returncode == 0, drives.stderr
    assert "usb0" in drives.stdout and "stand-in stick file of 268 MB" in drives.stdout
    doctor = subprocess.run(st.burner("doctor"), capture_output=True, text=True, timeout=60)
    assert doctor.returncode == 0, doctor.stdout
    assert "mkfs.fat (USB sticks)" in doctor.stdout


@pytest.mark.slow
def test_a_held_usb_job_retried_goes_on_at_write(tmp_path: Path) -> None:
    """No stick until the job is held at write; `retry` goes on where it stopped: the stick is
    written from the image made before, nothing is staged or mastered again."""
    st = UsbStation(tmp_path, max_attempts=2)
    st.stick.unlink()                             # no stick: each write attempt fails
    st.add_job("U3")
    proc = subprocess.run(st.burner("run", "--once"), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert st.where("U3") == ["held"]
    reason = (st.data / "spool" / "held" / "U3" / "reason.txt").read_text()
    assert "stopped after 2 attempts at 'write'" in reason and "USB stick" in reason
    status = json.loads(subprocess.run(st.burner("status", "--json"), capture_output=True,
                                       text=True, timeout=60).stdout)
    (job,) = [j for j in status["jobs"] if j["job_id"] == "U3"]
    assert (job["state"], job["reason_code"]) == ("held", "DRIVE_FAULT")

    retry = subprocess.run(st.burner("retry", "U3"), capture_output=True, text=True,
                           timeout=60)
    assert retry.returncode == 0, retry.stderr
    assert retry.stdout == "U3: will go on where it stopped (burner run picks it up)\n"
    assert st.where("U3") == ["active"]
    st.insert_stick()
    proc = subprocess.run(st.burner("run", "--once"), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert st.where("U3") == ["done"]
    import sqlite3

    con = sqlite3.connect(st.data / "burner.sqlite")
    try:
        started = [s for (s,) in con.execute(
            "SELECT stage FROM history WHERE job_id = 'U3' AND event = 'started' ORDER BY id")]
    finally:
        con.close()
    assert started.count("stage") == 1 and started.count("master") == 1, started
    assert started.count("write") == 3, "two failed attempts, then the one after retry"
    assert started[-4:] == ["write", "verify", "print", "done"]
    assert check_medium(st.stick).ok
