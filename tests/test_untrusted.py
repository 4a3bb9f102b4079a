"""Untrusted text in reasons: a file name cannot forge lines of reason.txt (issue 8, "reason
texts escape control characters")."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import StationDir

from burner import synth
from burner.config import load_config
from burner.context import JobContext
from burner.errors import DeviceError, JobHeld, JobRejected
from burner.pipeline import settle_failure
from burner.spool import Spool
from burner.state import StateDB
from burner.untrusted import lines, one_line

FORGED = "a\nJob X was approved.dcm"
STRANGER = synth.Patient(id="XQ998877", name="QUIMBY^XAVERIUS", birth_date="19440102", sex="M")


@pytest.mark.parametrize(("raw", "shown"), [
    ("IM0001.dcm", "IM0001.dcm"),
    ("Müller CT/Serie 2.dcm", "Müller CT/Serie 2.dcm"),
    (FORGED, "a\\nJob X was approved.dcm"),
    ("a\r\nb", "a\\r\\nb"),
    ("bell\x07tab\tdel\x7f", "bell\\x07tab\\tdel\\x7f"),
    ("nel\x85ls\u2028ps\u2029", "nel\\x85ls\\u2028ps\\u2029"),
    ("esc\x1b[31mred", "esc\\x1b[31mred"),
    ("evil\u202egpj.exe", "evil\\u202egpj.exe"),
    ("tag\U000e0001", "tag\\U000e0001"),
])
def test_one_line_escapes_every_control_character(raw: str, shown: str) -> None:
    assert one_line(raw) == shown
    assert len(one_line(raw).splitlines()) == 1


def test_lines_keeps_burners_own_lines_only() -> None:
    assert lines("one\ntwo\rthree\x0bfour") == "one\ntwo\\rthree\\x0bfour"
    assert lines(JobRejected("a: x\nb: y")).splitlines() == ["a: x", "b: y"]


def _context(tmp_path: Path, job_id: str) -> JobContext:
    tmp_path.mkdir(parents=True, exist_ok=True)
    cfg = tmp_path / "burner.toml"
    cfg.write_text(f"[station]\ndata_dir = {json.dumps(str(tmp_path / 'data'))}\n"
                   "[job]\nmax_attempts = 1\n")
    config = load_config(cfg)
    spool = Spool(config.spool_dir)
    spool.ensure()
    (spool.path("active", job_id) / "dicom").mkdir(parents=True)
    db = StateDB(Path(":memory:"))
    db.add_job(job_id, "test")
    return JobContext.for_spool(config, spool, db, job_id)


def test_a_held_reason_has_one_line_per_offending_file(tmp_path: Path) -> None:
    ctx = _context(tmp_path, "H1")
    held = JobHeld("Some files are not of the approved patient.",
                   [f"dicom/{FORGED}: a different patient ID", "dicom/b.dcm\x1b[2J: damaged"])
    assert settle_failure(ctx, "identity", held) == "held"
    reason = (ctx.spool.path("held", "H1") / "reason.txt").read_text()
    assert reason.splitlines() == [
        "Job H1 is on hold and was NOT written to any disc.",
        "",
        "Some files are not of the approved patient.",
        "  - dicom/a\\nJob X was approved.dcm: a different patient ID",
        "  - dicom/b.dcm\\x1b[2J: damaged",
        "",
        "When it is sorted out, run: burner retry H1",
    ]


def test_a_job_folder_name_and_exception_text_are_escaped(tmp_path: Path) -> None:
    job_id = "R1\nJob R1 was approved"
    ctx = _context(tmp_path, job_id)
    settle_failure(ctx, "validate", JobRejected("job.json: unknown key"))
    reason = (ctx.spool.path("rejected", job_id) / "reason.txt").read_text()
    assert reason.splitlines() == [
        "Job R1\\nJob R1 was approved was not processed: job.json: unknown key"]

    for exc in (OSError(5, "I/O error", f"/spool/{FORGED}"), DeviceError(f"drive {FORGED}")):
        ctx = _context(tmp_path / type(exc).__name__, "D1")
        settle_failure(ctx, "stage", exc)
        reason = (ctx.spool.path("held", "D1") / "reason.txt").read_text()
        assert "a\\nJob X was approved.dcm" in reason
        assert not any(line.startswith("Job X") for line in reason.splitlines())
        assert len(reason.splitlines()) == 5, reason


@pytest.mark.slow
def test_station_reason_names_a_file_with_a_line_break_on_one_line(
        station: StationDir) -> None:
    """The same foreign file, once with an ordinary name and once named "a<newline>Job X was
    approved.dcm": both reason.txt have the same number of lines; the odd name shows escaped."""
    for job_id, name in (("N1", "IM00003.dcm"), ("N2", FORGED)):
        job_dir = station.add_job(job_id)
        target = job_dir / "dicom" / "SE001" / "IM00003.dcm"
        tmp = target.with_name("rewritten.tmp")
        synth.rewrite_patient(target, STRANGER, tmp)
        os.replace(tmp, target.with_name(name))
        if name != target.name:
            target.unlink()
    proc = station.cli("run", "--once")
    assert proc.returncode == 0, proc.stderr
    assert station.where("N1") == ["held"] and station.where("N2") == ["held"]
    plain = (station.folder("held") / "N1" / "reason.txt").read_text()
    forged = (station.folder("held") / "N2" / "reason.txt").read_text()
    assert "dicom/SE001/IM00003.dcm" in plain
    assert "dicom/SE001/a\\nJob X was approved.dcm" in forged
    assert len(forged.splitlines()) == len(plain.splitlines())
    assert not any(line.startswith("Job X") for line in forged.splitlines())
    status = json.loads(station.cli("status", "--json").stdout)
    reasons = {j["job_id"]: j["reason"] for j in status["jobs"]}
    assert "\nJob X" not in reasons["N2"]
