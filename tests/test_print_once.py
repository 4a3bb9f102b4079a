"""Printing exactly once per item (issue 9): a crash between two printouts prints only the
missing ones on restart (a cover sheet carries patient data); reprint prints as many labels
and inserts as the station did; a cancel stops before the next printout, and a cancel that
comes too late says so."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import StationDir, release, run_paused
from test_crash_resume import kill_in

from burner.printout import deliver

pytestmark = pytest.mark.slow     # each test runs the station and prints


def _printed_events(station: StationDir, job_id: str) -> Counter:
    rows = station.query("SELECT event FROM history WHERE job_id = ? AND stage = 'print'",
                         job_id)
    return Counter(e.split()[0] for (e,) in rows if e.endswith(" printed"))


def test_a_crash_between_printouts_prints_only_what_is_missing(station: StationDir,
                                                               tmp_path: Path) -> None:
    station.add_job("P1", copies=2)
    kill_in(station, "print-item", tmp_path / "run1.log")   # the cover went to the printer
    assert _printed_events(station, "P1") == Counter({"cover": 1})
    assert station.cli("run", "--once").returncode == 0
    assert station.where("P1") == ["done"]
    assert _printed_events(station, "P1") == Counter({"cover": 1, "label1": 1, "insert1": 1})
    result = json.loads((station.folder("done") / "P1" / "result.json").read_text())
    assert result["printing"] == "printed"


def test_reprint_prints_as_many_labels_as_the_job_has_discs(station: StationDir,
                                                            monkeypatch) -> None:
    station.add_job("P2", copies=3)
    assert station.cli("run", "--once").returncode == 0
    sent: list[tuple[str, int]] = []

    def fake_deliver(config, job_id, printout, copies=1):
        sent.append((printout.item, copies))
        return deliver.PrintState.PRINTED, "test"

    monkeypatch.setattr(deliver, "deliver", fake_deliver)
    from burner.config import load_config
    from burner.state import StateDB

    config = load_config(station.config)
    with StateDB(config.db_path) as db:
        deliver.reprint(config, db, "P2", station.folder("done") / "P2")
        assert sorted(sent) == [("cover", 1), ("insert1", 3), ("label1", 3)]
        sent.clear()
        deliver.reprint(config, db, "P2", station.folder("done") / "P2", ("label",), copies=1)
        assert sent == [("label1", 1)]


def test_cancel_during_printing_stops_before_the_next_printout(station: StationDir,
                                                               tmp_path: Path) -> None:
    station.add_job("P3")
    proc = run_paused(station, "print-item", 60)
    cancel = station.cli("cancel", "P3", "--by", "clerk9")
    release(station, "print-item")
    assert cancel.returncode == 0 and "will stop before its next step" in cancel.stdout
    assert proc.wait(timeout=60) == 0
    assert station.where("P3") == ["rejected"]
    assert _printed_events(station, "P3") == Counter({"cover": 1}), "nothing after the cancel"


def test_cancel_when_only_done_is_left_says_it_is_too_late(station: StationDir) -> None:
    station.add_job("P4")
    proc = run_paused(station, "done", 60)
    cancel = station.cli("cancel", "P4", "--by", "clerk9")
    release(station, "done")
    assert cancel.returncode == 2
    assert "is finishing now" in cancel.stderr and "can no longer be cancelled" in cancel.stderr
    assert proc.wait(timeout=60) == 0
    assert station.where("P4") == ["done"]
