"""Quiet console (issue 8): a refused file gives burner's one-line reason, never a decoder's
traceback; third-party records reach the log file only at debug level."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pydicom.data
import pytest
from conftest import BURNER, make_job_folder

from burner import logs

# pydicom's own test files whose compressed pictures its decoders refuse with a traceback
UNDECODABLE = ("JPEG-lossy.dcm", "JPEG2000-embedded-sequence-delimiter.dcm")


@pytest.fixture
def root_logging():
    """Leave the test process's logging as it was."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for h in root.handlers[:]:
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)


def _records(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def test_console_shows_only_burner_and_file_demotes_others(tmp_path, root_logging, capsys):
    logs.setup_console(logging.WARNING)
    logs.setup_file(tmp_path / "info.log", logging.INFO)
    logging.getLogger("pydicom.pixels.decoders.base").error("decoder traceback here")
    logging.getLogger("burner.pipeline").warning("job J1: held")
    logging.getLogger("burner.pipeline").info("job J1: gather")
    err = capsys.readouterr().err
    assert "job J1: held" in err
    assert "decoder" not in err and "gather" not in err
    text = _records(tmp_path / "info.log")
    assert "job J1: held" in text and "job J1: gather" in text
    assert "decoder" not in text

    logs.setup_file(tmp_path / "debug.log", logging.DEBUG)
    logging.getLogger("pydicom").error("value 'SMITH^JOHN' invalid")
    text = _records(tmp_path / "debug.log")
    assert "DEBUG pydicom: value" in text and "ERROR pydicom" not in text
    assert "SMITH" not in capsys.readouterr().err


def test_warnings_from_libraries_are_records_not_stderr(tmp_path):
    # in a process of its own: pytest replaces the warnings machinery of its own process
    code = (
        "import logging, warnings, sys\n"
        "from pathlib import Path\n"
        "from burner import logs\n"
        "logs.setup_console(logging.WARNING)\n"
        "logs.setup_file(Path(sys.argv[1]), logging.DEBUG)\n"
        "warnings.warn(\"Invalid value for VR UI: '../../x'\", UserWarning, stacklevel=1)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "debug.log")],
                          capture_output=True, text=True, timeout=60, check=True)
    assert proc.stderr == ""
    assert "DEBUG py.warnings" in _records(tmp_path / "debug.log")


def _job_with_undecodable_files(job: Path) -> None:
    make_job_folder(job, slices=2)
    for name in UNDECODABLE:
        shutil.copy(pydicom.data.get_testdata_file(name), job / "dicom" / name)


def _build(tmp_path: Path, job: Path, config_text: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "burner.toml"
    config.write_text(f'[station]\ndata_dir = "{tmp_path / "data"}"\n' + config_text,
                      encoding="utf-8")
    return subprocess.run([BURNER, "--config", str(config), "build", str(job), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=300,
                          check=False)


def test_refused_file_gives_one_line_reason_and_no_traceback(tmp_path):
    job = tmp_path / "J1"
    _job_with_undecodable_files(job)
    proc = _build(tmp_path, job, "")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert proc.stderr == ""                       # nothing from pydicom's decoders
    for name in UNDECODABLE:
        line = next(x for x in proc.stdout.splitlines() if f"dicom/{name}:" in x)
        assert "could not be decoded" in line
    log = _records(tmp_path / "data" / "burner.log")
    assert "job J1: gather" in log
    assert "Traceback" not in log and "pydicom" not in log


def test_debug_level_keeps_library_messages_in_the_log_only(tmp_path):
    job = tmp_path / "J2"
    _job_with_undecodable_files(job)
    proc = _build(tmp_path, job, '[logging]\nfile = "logs/station.log"\nlevel = "debug"\n')
    assert proc.returncode == 3 and proc.stderr == ""
    log = _records(tmp_path / "data" / "logs" / "station.log")
    assert "DEBUG pydicom.pixels.decoders.base" in log
    assert "ERROR pydicom" not in log


def test_bad_logging_level_is_a_plain_configuration_error(tmp_path):
    job = tmp_path / "J3"
    make_job_folder(job, slices=1)
    proc = _build(tmp_path, job, '[logging]\nlevel = "loud"\n')
    assert proc.returncode == 2
    assert "[logging] level must be debug, info or warning" in proc.stderr


def test_a_log_file_on_a_full_disk_is_said_once_in_words(root_logging, capsys) -> None:
    """/dev/full answers every write with ENOSPC, as a full disk does."""
    logs.setup_file(Path("/dev/full"), logging.INFO)
    log = logging.getLogger("burner.test")
    for n in range(5):
        log.warning("record %d", n)
    err = capsys.readouterr().err
    assert err.count("cannot write the log file /dev/full (No space left on device)") == 1, err
    assert "Traceback" not in err and "Logging error" not in err
