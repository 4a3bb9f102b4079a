"""Shared test helpers."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pydicom
import pytest
from pydicom.dataset import Dataset

from burner import synth


def on_ci() -> bool:
    """True when the suite runs under CI (env CI=true), where nothing may be skipped for a tool."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def unavailable(message: str) -> NoReturn:
    """What a test does without something it needs (a tool, a package, root): skip locally,
    fail under CI=true, where nothing may be skipped."""
    if on_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require_tool(name: str) -> str:
    """Path of the program `name`; skips the test locally without it, fails under CI=true."""
    path = shutil.which(name)
    if path:
        return path
    unavailable(f"{name} is not installed (see the install steps in README and .ci/run)")


# --- a station in a temporary folder, driven through the `burner` command line --------------
# Used by test_station.py and test_crash_resume.py. Every station lives under its test's
# tmp_path: its own data folder, spool, database and `stdio:` drive, never ~/.local/share.

BURNER = str(Path(sys.executable).with_name("burner"))
FAKE_XORRISO = Path(__file__).with_name("fake_xorriso.sh")
# Variables of the station's process that a test sets on purpose and must not inherit.
_STATION_VARS = ("BURNER_CONFIG", "BURNER_HOME", "BURNER_PAUSE_AT", "BURNER_PAUSE_SECONDS",
                 "FAKE_XORRISO_FAULT", "REAL_XORRISO")


# --- validators ------------------------------------------------------------------------------


def run_tool(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a validator; its stdout and stderr come back as text (never raises on exit code)."""
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, errors="replace",
                          timeout=300, check=False)


def output_of(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout + proc.stderr


def error_lines(output: str) -> list[str]:
    """dicom3tools' error lines."""
    return [line for line in output.splitlines() if line.startswith("Error")]


def dcmtk_errors(output: str) -> list[str]:
    """DCMTK's error and fatal lines ("E: ...", "F: ...")."""
    return [line for line in output.splitlines() if line.startswith(("E:", "F:"))]


def quiet_read(path: Path, **kwargs: object) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, **kwargs)


def study_patient() -> synth.Patient:
    """The synthetic patient of every station test job."""
    return synth.Patient(id="BRN0042", name="TESTER^ROBIN", birth_date="19750615", sex="O")


def sha256_prefix(path: Path, nbytes: int) -> str:
    """SHA-256 of the first `nbytes` of `path` (a medium is padded after the image)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fp:
        digest.update(fp.read(nbytes))
    return digest.hexdigest()


def make_job_folder(job_dir: Path, *, copies: int = 1, slices: int = 4,
                    approved_by: str | None = "tester") -> dict:
    """A small synthetic CT job (64x64 slices) with a valid job.json, as make_demo_job does."""
    patient = study_patient()
    paths = synth.make_ct_study(job_dir / "dicom", patient, slices=slices, rows=64, cols=64,
                                accession="TESTACC1")
    study_uid = str(pydicom.dcmread(paths[0], stop_before_pixels=True).StudyInstanceUID)
    birth = patient.birth_date
    manifest: dict = {
        "version": 1,
        "job_id": job_dir.name,
        "patient": {"id": patient.id, "name": patient.name,
                    "birth_date": f"{birth[:4]}-{birth[4:6]}-{birth[6:]}", "sex": patient.sex},
        "studies": [{"study_instance_uid": study_uid, "accession_number": "TESTACC1"}],
        "inputs": ["dicom/"],
        "media": {"type": "auto", "copies": copies},
    }
    if approved_by:
        manifest["approval"] = {"by": approved_by, "at": datetime.datetime.now(datetime.UTC)
                                .isoformat(timespec="seconds")}
    (job_dir / "job.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


@dataclass
class StationDir:
    """A station's configuration and folders under one temporary folder."""

    root: Path
    xorriso: str
    max_attempts: int = 3
    rescan_seconds: float = 1.0
    # Test jobs arrive by rename, complete; a short quiet time keeps `run --once` quick.
    quiet_seconds: float = 0.2
    drive_media: str = "dvd"
    extra_toml: str = ""        # more configuration, appended as it is
    drives_toml: str | None = None   # [[drives]] entries instead of the stdio: drive0

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def config(self) -> Path:
        return self.root / "burner.toml"

    @property
    def spool(self) -> Path:
        return self.data_dir / "spool"

    @property
    def media(self) -> Path:
        return self.data_dir / "media"

    @property
    def drive(self) -> Path:
        return self.data_dir / "drives" / "drive0.img"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "burner.sqlite"

    def write_config(self) -> None:
        q = json.dumps  # a JSON string is a valid TOML basic string
        self.config.write_text("\n".join([
            "[station]", 'id = "teststation"', f"data_dir = {q(str(self.data_dir))}",
            "[spool]", f"rescan_seconds = {self.rescan_seconds}",
            f"quiet_seconds = {self.quiet_seconds}",
            "[job]", f"max_attempts = {self.max_attempts}", "retry_delay_seconds = 0.1",
            *(["[[drives]]", 'name = "drive0"', 'device = "stdio:drives/drive0.img"',
               f"media = {q(self.drive_media)}", "auto_load_blank = true"]
              if self.drives_toml is None else [self.drives_toml]),
            "[tools]", f"xorriso = {q(self.xorriso)}", "", self.extra_toml]),
            encoding="utf-8")

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _STATION_VARS}
        env["BURNER_HOME"] = str(self.data_dir)
        env.update(extra)
        return env

    def command(self, *args: str) -> list[str]:
        return [BURNER, "--config", str(self.config), *args]

    def cli(self, *args: str, timeout: float = 120, input_text: str | None = None,
            **extra: str) -> subprocess.CompletedProcess[str]:
        """Run `burner --config ... ARGS` to the end; never raises on a non-zero exit."""
        stdin = {"input": input_text} if input_text is not None else {"stdin": subprocess.DEVNULL}
        return subprocess.run(self.command(*args), env=self.env(**extra), capture_output=True,
                              text=True, timeout=timeout, **stdin)

    def folder(self, name: str) -> Path:
        return self.spool / name

    def add_job(self, job_id: str, where: str = "approved", **kwargs) -> Path:
        """Make a job in incoming/, then rename it into `where` as a producer would."""
        staging = self.folder("incoming") / job_id
        make_job_folder(staging, **kwargs)
        target = self.folder(where) / job_id
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staging, target)
        return target

    def where(self, job_id: str) -> list[str]:
        """Every spool folder that holds `job_id` (a healthy spool: exactly one)."""
        return sorted(p.parent.name for p in self.spool.glob(f"*/{job_id}") if p.is_dir())

    def query(self, sql: str, *params: object) -> list[tuple]:
        con = sqlite3.connect(self.db_path)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()


def serve(station: StationDir, log: Path, **env: str) -> subprocess.Popen:
    """`burner run` (the service) in the background, its output in `log`; stop() it."""
    with open(log, "ab") as out:
        return subprocess.Popen(station.command("run"), env=station.env(**env), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def stop(*procs: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM each service by its PID, then SIGKILL whatever has not ended in time."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_paused(station: StationDir, where: str, seconds: float,
               **popen: object) -> subprocess.Popen:
    """`burner run --once` stopped inside `where` (JobContext.checkpoint) for `seconds`,
    returned once it got there."""
    popen.setdefault("stdout", subprocess.DEVNULL)
    popen.setdefault("stderr", subprocess.DEVNULL)
    proc = subprocess.Popen(station.command("run", "--once"),
                            env=station.env(BURNER_PAUSE_AT=where,
                                            BURNER_PAUSE_SECONDS=str(seconds)), **popen)
    deadline = time.monotonic() + 90
    while not (station.data_dir / f"paused-{where}").exists():
        assert proc.poll() is None, f"the station ended without pausing in {where}"
        assert time.monotonic() < deadline, f"the station did not pause in {where}"
        time.sleep(0.05)
    return proc


def release(station: StationDir, where: str) -> None:
    """End a run_paused pause now (the station goes on from its checkpoint)."""
    (station.data_dir / f"paused-{where}").unlink(missing_ok=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 free at the moment of asking."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 30) -> None:
    """Until something listens on 127.0.0.1:`port` (`proc` must not end meanwhile)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc is None or proc.poll() is None, "the process ended before listening"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


def new_station(root: Path, *, xorriso: str | None = None, **kwargs) -> StationDir:
    """A configured station under `root` (real xorriso unless told otherwise)."""
    root.mkdir(parents=True, exist_ok=True)
    station = StationDir(root, xorriso or require_tool("xorriso"), **kwargs)
    (station.spool / "incoming").mkdir(parents=True, exist_ok=True)
    station.write_config()
    return station


@pytest.fixture
def station(tmp_path: Path) -> StationDir:
    """A station with one `stdio:` drive that loads blanks itself, in tmp_path."""
    return new_station(tmp_path / "station")


# --- a private CUPS scheduler with a cups-pdf queue (tests/cups_server.py) ------------------


@pytest.fixture(scope="session")
def cups_server():
    """A running private cupsd with the cups-pdf queue "PDF"; stopped and removed at the end.
    Skipped locally without cupsd/cups-pdf/root, a failure under CI=true."""
    from cups_server import CupsServer, missing

    for tool in ("cupsd", "lpadmin", "lp", "lpstat", "cupsenable"):
        require_tool(tool)
    why = missing()   # cups-pdf, root
    if why:
        unavailable(why)
    server = CupsServer.create()
    try:
        server.start()
        yield server
    finally:
        server.close()
