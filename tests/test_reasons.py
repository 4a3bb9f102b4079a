"""Reason codes beside the words (issue 10): each refusal, hold and wait carries an
errors.Reason, stored in the jobs table (reason_code) and in history, written beside reason.txt
and shown by `burner status --json`; a bug in burner (InternalError or any exception that is
not a BurnerError) holds the job at once with INTERNAL, its trace in the log."""

from __future__ import annotations

import datetime
import json
import logging
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from burner import pipeline
from burner.config import load_config
from burner.context import JobContext
from burner.errors import DeviceError, InternalError, JobHeld, NoSuchJob, Reason
from burner.manifest import Manifest, StudyRef
from burner.operations import overview
from burner.patient import Approved, Found
from burner.pipeline import run_job, settle_failure
from burner.readiness import readiness
from burner.spool import REASON_CODE, Spool, reason_code
from burner.stages import identity, validate
from burner.stages import stage as stage_stage
from burner.state import JobState, StateDB
from burner.station import Station


def _context(tmp_path: Path, job_id: str = "J1", max_attempts: int = 3) -> JobContext:
    tmp_path.mkdir(parents=True, exist_ok=True)
    cfg = tmp_path / "burner.toml"
    cfg.write_text(f"[station]\nid = \"st1\"\ndata_dir = {json.dumps(str(tmp_path / 'data'))}\n"
                   f"[job]\nmax_attempts = {max_attempts}\nretry_delay_seconds = 0\n"
                   "[spool]\nquiet_seconds = 0\nincomplete_seconds = 0\n")
    config = load_config(cfg)
    spool = Spool(config.spool_dir)
    spool.ensure()
    (spool.path("active", job_id) / "dicom").mkdir(parents=True)
    db = StateDB(config.db_path)
    db.add_job(job_id, "st1")
    return JobContext.for_spool(config, spool, db, job_id)


def _row(ctx: JobContext):
    return ctx.db.get(ctx.job_id)


# --- a bug holds the job at once ----------------------------------------------------------------


def test_a_stage_raising_an_unexpected_exception_holds_the_job_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    ctx = _context(tmp_path)

    def broken(_ctx: JobContext) -> None:
        raise ValueError("list index out of range")

    monkeypatch.setattr(validate, "run", broken)
    with caplog.at_level(logging.ERROR, logger="burner"):
        assert run_job(ctx) == JobState.HELD
    row = _row(ctx)
    assert (row.state, row.reason_code, row.attempts) == ("held", "INTERNAL", 1), \
        "held at once: no second attempt at a bug"
    assert row.reason.startswith("burner hit an unexpected problem while doing 'validate' "
                                 "(ValueError: list index out of range)")
    assert "a technician should look at the log" in row.reason
    held = ctx.spool.path("held", "J1")
    reason = (held / "reason.txt").read_text()
    assert reason.splitlines()[0] == "Job J1 stopped at 'validate' and was put on hold."
    assert "burner hit an unexpected problem while doing 'validate'" in reason
    assert reason.rstrip().endswith("When it is fixed, run: burner retry J1")
    assert "Traceback" not in reason and "broken" not in reason
    assert reason_code(held) == "INTERNAL"
    (record,) = [r for r in caplog.records if r.exc_info]
    assert "unexpected failure in validate" in record.getMessage()
    assert record.exc_info[0] is ValueError, "the trace goes to the log"
    events = [(h["event"], h["code"]) for h in ctx.db.history("J1")]
    assert ("held", "INTERNAL") in events


def test_an_internal_error_holds_at_once_and_a_device_error_is_retried(tmp_path: Path) -> None:
    ctx = _context(tmp_path / "a", "I1")
    assert settle_failure(ctx, "master", InternalError("staged name 'x' is not 8.3")) == "held"
    row = _row(ctx)
    assert (row.state, row.reason_code, row.attempts) == ("held", "INTERNAL", 1)
    assert "(InternalError: staged name 'x' is not 8.3)" in row.reason

    ctx = _context(tmp_path / "b", "D1")
    for attempt in (1, 2):
        assert settle_failure(ctx, "write", DeviceError("drive0 failed")) == "waiting"
        row = _row(ctx)
        assert (row.reason_code, row.attempts, row.reason) == ("DRIVE_FAULT", attempt,
                                                                "drive0 failed")
    assert settle_failure(ctx, "write", DeviceError("drive0 failed")) == "held"
    assert (_row(ctx).reason_code, _row(ctx).attempts) == ("DRIVE_FAULT", 3)
    reason = (ctx.spool.path("held", "D1") / "reason.txt").read_text()
    assert "stopped after 3 attempts at 'write'" in reason


def test_held_and_rejected_jobs_carry_their_code(tmp_path: Path) -> None:
    ctx = _context(tmp_path / "h", "H1")
    settle_failure(ctx, "identity", JobHeld("another patient", ["a.dcm"],
                                            code=Reason.WRONG_PATIENT))
    assert _row(ctx).reason_code == "WRONG_PATIENT"
    assert (ctx.spool.path("held", "H1") / REASON_CODE).read_text() == "WRONG_PATIENT\n"
    info = overview.status(ctx.config).as_dict()
    (job,) = info["jobs"]
    assert (job["job_id"], job["state"], job["reason_code"]) == ("H1", "held", "WRONG_PATIENT")
    assert overview.job(ctx.config, "H1").as_dict() == job
    with pytest.raises(NoSuchJob):
        overview.job(ctx.config, "H2")

    ctx = _context(tmp_path / "r", "R1")
    ctx.db.request_cancel("R1")
    assert run_job(ctx) == JobState.REJECTED
    assert _row(ctx).reason_code == "CANCELLED"
    assert reason_code(ctx.spool.path("rejected", "R1")) == "CANCELLED"


# --- the database keeps the code; an old database gets the column -----------------------------


def test_an_old_database_gets_the_code_columns(tmp_path: Path) -> None:
    path = tmp_path / "burner.sqlite"
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE jobs (job_id TEXT PRIMARY KEY, state TEXT NOT NULL,
            stage TEXT NOT NULL DEFAULT '', stages_done TEXT NOT NULL DEFAULT '[]',
            attempts INTEGER NOT NULL DEFAULT 0, not_before REAL NOT NULL DEFAULT 0,
            reason TEXT NOT NULL DEFAULT '', cancel_requested INTEGER NOT NULL DEFAULT 0,
            media TEXT NOT NULL DEFAULT '', station TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL, updated REAL NOT NULL);
        CREATE TABLE history (id INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL,
            at REAL NOT NULL, stage TEXT NOT NULL, event TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '');
        CREATE TABLE station_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO station_info VALUES ('generation', 'old-generation');
        INSERT INTO jobs (job_id, state, reason, created, updated)
            VALUES ('OLD1', 'held', 'a drive fault', 1, 1);
        INSERT INTO history (job_id, at, stage, event) VALUES ('OLD1', 1, 'write', 'started');
    """)
    con.close()
    with StateDB(path) as db:
        assert db.generation == "old-generation", "the same database, not a new one"
        old = db.get("OLD1")
        assert (old.state, old.reason, old.reason_code) == ("held", "a drive fault", "")
        db.set_state("OLD1", JobState.HELD, "still held", code=Reason.DRIVE_FAULT)
        assert db.get("OLD1").reason_code == "DRIVE_FAULT"
        assert [h["code"] for h in db.history("OLD1")] == ["", "DRIVE_FAULT"]
    with StateDB(path) as db:       # opened again: nothing to add, nothing lost
        assert db.get("OLD1").reason_code == "DRIVE_FAULT"


def test_retry_and_resume_clear_the_code(tmp_path: Path) -> None:
    with StateDB(tmp_path / "db.sqlite") as db:
        for job_id in ("Q1", "Q2"):
            db.add_job(job_id, "st1")
            db.set_state(job_id, JobState.HELD, "drive fault", code=Reason.DRIVE_FAULT)
        db.requeue("Q1")
        db.resume("Q2")
        assert [(db.get(j).state, db.get(j).reason_code) for j in ("Q1", "Q2")] == \
            [("queued", ""), ("active", "")]


# --- raise sites with a code more precise than their class's -----------------------------------


APPROVED = Approved(name="DOE^JANE", patient_id="MRN1", birth_date="19700101")


def _identity_ctx(found: list[Found], damaged: list[tuple[str, str]]) -> SimpleNamespace:
    manifest = Manifest(job_id="J1", patient_id="MRN1", patient_name="DOE^JANE",
                        patient_birth_date=datetime.date(1970, 1, 1), approval_by="x",
                        approval_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
                        studies=[StudyRef("1.2.3", None)])
    instances = [SimpleNamespace(found=f, rel=f"dicom/{n}.dcm") for n, f in enumerate(found)]
    gathered = SimpleNamespace(approved=APPROVED, damaged=damaged, instances=instances)
    return SimpleNamespace(record=SimpleNamespace(manifest=manifest, gathered=gathered),
                           checkpoint=lambda where: None)


def test_identity_says_wrong_patient_or_damaged_object() -> None:
    good = Found(patient_id="MRN1", name="DOE^JANE", birth_date="19700101", study_uid="1.2.3")
    other = Found(patient_id="XQ9", name="ROE^JOHN", birth_date="19440102", study_uid="1.2.3")
    for found, damaged, code in (([good, other], [], Reason.WRONG_PATIENT),
                                 ([good], [("dicom/x.dcm", "cut off")], Reason.DAMAGED_OBJECT),
                                 ([other], [("dicom/x.dcm", "cut off")], Reason.WRONG_PATIENT)):
        with pytest.raises(JobHeld) as held:
            identity.run(_identity_ctx(found, damaged))
        assert held.value.code == code
    identity.run(_identity_ctx([good], []))          # the approved patient passes


def test_inputs_changed_after_the_check_say_changed_input(tmp_path: Path) -> None:
    source = tmp_path / "IM1.dcm"
    source.write_bytes(b"x")
    inst = SimpleNamespace(source=source, fingerprint=(1, 2, 3), rel="dicom/IM1.dcm")
    with pytest.raises(JobHeld) as held:
        stage_stage._unchanged_inputs(SimpleNamespace(instances=[inst]))
    assert held.value.code == Reason.CHANGED_INPUT


def test_incomplete_and_duplicate_folders_are_refused_with_their_code(tmp_path: Path) -> None:
    ctx = _context(tmp_path, "X0")
    spool = ctx.spool
    short = spool.path("approved", "INC1")
    short.mkdir()
    (short / "job.json").write_text(json.dumps({"expect": {"files": 5, "bytes": 100}}))
    ready = readiness(short, quiet_seconds=1, incomplete_seconds=10, now=time.time() + 60)
    assert (ready.verdict, ready.code) == ("reject", Reason.INCOMPLETE)

    (spool.path("done", "DUP1")).mkdir()
    (spool.path("approved", "DUP1")).mkdir()
    (spool.path("approved", "DUP1") / "job.json").write_text("{}")
    time.sleep(0.01)     # [spool] incomplete_seconds = 0: any quiet at all is too long
    station = Station(ctx.config)
    station.claim_all()
    codes = {p.name.split("-")[0]: reason_code(p) for p in spool.listing("rejected")}
    assert codes == {"INC1": "INCOMPLETE", "DUP1": "DUPLICATE_ID"}
    station.db.close()


def test_the_pipeline_module_names_the_unexpected_words() -> None:
    words = pipeline.unexpected_words("gather", KeyError("x\ny"))
    assert words.startswith("burner hit an unexpected problem while doing 'gather' "
                            "(KeyError: 'x\\ny')") and "\n" not in words
