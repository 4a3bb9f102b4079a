"""The small files stations read from each other (issue 9) are untrusted: a lock file's holder,
a heartbeat, a job folder's owner mark and job.json's `expect` may be garbage, huge or lying;
each is read bounded and a bad one is treated as "unknown", never as a crash."""

from __future__ import annotations

import json
import time
from pathlib import Path

from conftest import make_job_folder

from burner import heartbeat
from burner.errors import BurnerError
from burner.locks import StationLock
from burner.readiness import expected, readiness
from burner.spool import OWNER, Spool


def test_a_garbage_lock_file_still_refuses_with_plain_words(tmp_path: Path) -> None:
    first = StationLock(tmp_path, "one").acquire()
    try:
        (tmp_path / "burner.lock").write_bytes(b"\xff\x00{not json" * 10_000)
        try:
            StationLock(tmp_path, "two").acquire()
        except BurnerError as exc:
            assert "a process that did not say who it is" in str(exc)
        else:
            raise AssertionError("a second lock on one data folder was granted")
    finally:
        first.release()


def test_heartbeats_that_lie_or_are_garbage_count_as_never_seen(tmp_path: Path) -> None:
    folder = tmp_path / heartbeat.FOLDER
    folder.mkdir()
    heartbeat.beat(tmp_path, "real")
    assert heartbeat.silence(tmp_path, "real") < 5
    (folder / "other.json").write_text(json.dumps({"station": "real", "at": time.time()}))
    (folder / "huge.json").write_bytes(b'{"station": "huge", "at": 1' + b"0" * 100_000 + b"}")
    (folder / "text.json").write_text('{"station": "text", "at": "yesterday"}')
    for name in ("other", "huge", "text", "absent"):
        assert heartbeat.silence(tmp_path, name) is None, name
    assert heartbeat._path(tmp_path, "../../etc/x").parent == folder, "no path out of it"


def test_owner_marks_are_bounded_and_only_two_lines_count(tmp_path: Path) -> None:
    job = tmp_path / "active" / "J1"
    job.mkdir(parents=True)
    spool = Spool(tmp_path)
    (job / OWNER).write_bytes(b"station-a\ngen1\n" + b"x" * 1_000_000)
    assert spool.owner(job) == "station-a" and spool.owner_generation(job) == "gen1"
    (job / OWNER).write_bytes(b"\n")
    assert spool.owner(job) is None and spool.owner_generation(job) is None


def test_a_bad_expect_is_not_readinesss_to_judge(tmp_path: Path) -> None:
    job = tmp_path / "J"
    manifest = make_job_folder(job, slices=1)
    later = time.time() + 30
    for bad in (True, -1, "3", None, [1]):
        manifest["expect"] = {"files": bad, "bytes": 1}
        (job / "job.json").write_text(json.dumps(manifest))
        assert expected(job) is None
        assert readiness(job, 1.0, now=later).verdict == "claim"   # validate refuses it
    (job / "job.json").write_text("[" * 100_000)
    assert expected(job) is None and readiness(job, 1.0, now=later).verdict == "claim"
    (job / "job.json").write_bytes(b'{"expect": {"files": 1, "bytes": 1}, "pad": "'
                                   + b"x" * (2 << 20) + b'"}')
    assert expected(job) is None, "only the first MB of job.json is read for counts"
