"""Plain words instead of tracebacks (issue 9): a spool folder that is a file, a spool under
a file, a damaged database, a spool path that is not there (an unmounted share); `burner init`;
`burner doctor` on a fresh default station and on a broken spool."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import BURNER, StationDir, new_station


def _one_plain_line(proc: subprocess.CompletedProcess[str], words: str) -> None:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("burner: "), proc.stderr
    assert words in lines[0], lines[0]


@pytest.mark.slow
def test_a_spool_folder_that_is_a_file(station: StationDir) -> None:
    station.spool.mkdir(parents=True, exist_ok=True)
    (station.spool / "approved").write_text("not a folder")
    for args in (("run", "--once"), ("status",)):
        _one_plain_line(station.cli(*args), f"{station.spool / 'approved'} is a file, but "
                                            "the spool needs a folder there")
    doctor = station.cli("doctor")
    assert doctor.returncode == 1 and "is a file, not a folder" in doctor.stdout


@pytest.mark.slow
def test_a_spool_under_a_file(tmp_path: Path) -> None:
    station = new_station(tmp_path / "station")
    blocker = tmp_path / "share"
    blocker.write_text("a file where a folder should be")
    station.config.write_text(station.config.read_text().replace(
        "[spool]", f"[spool]\npath = {json.dumps(str(blocker / 'spool'))}"))
    _one_plain_line(station.cli("run", "--once"), f"{blocker} is a file")


@pytest.mark.slow
def test_a_damaged_database_is_refused_and_left_as_it_was(station: StationDir) -> None:
    station.data_dir.mkdir(parents=True, exist_ok=True)
    junk = b"this is not SQLite " * 200
    station.db_path.write_bytes(junk)
    _one_plain_line(station.cli("run", "--once"), "is damaged or is not a burner database")
    _one_plain_line(station.cli("status"), "is damaged or is not a burner database")
    assert station.db_path.read_bytes() == junk


@pytest.mark.slow
def test_a_spool_elsewhere_that_is_not_there_needs_burner_init(tmp_path: Path) -> None:
    station = new_station(tmp_path / "station")
    share = tmp_path / "mnt" / "share"
    share.mkdir(parents=True)                    # the mount point of a share not mounted
    station.config.write_text(station.config.read_text().replace(
        "[spool]", f"[spool]\npath = {json.dumps(str(share))}"))
    _one_plain_line(station.cli("run", "--once"), "check that the share is mounted")
    assert list(share.iterdir()) == [], "no local spool was made in the mount point"
    doctor = station.cli("doctor")
    assert doctor.returncode == 1 and "is the share mounted?" in doctor.stdout
    init = station.cli("init")
    assert init.returncode == 0, init.stderr
    assert {p.name for p in share.iterdir()} >= {"approved", "active", "done", "held"}
    assert station.cli("run", "--once").returncode == 0


def test_doctor_passes_on_a_fresh_default_station(tmp_path: Path) -> None:
    home = tmp_path / "home"
    config = tmp_path / "empty.toml"
    config.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BURNER_")}
    env.update(BURNER_HOME=str(home), BURNER_CONFIG=str(config))
    proc = subprocess.run([BURNER, "doctor"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "FAIL" not in proc.stdout
    assert "made at the first" in proc.stdout
