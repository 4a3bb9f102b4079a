"""The two lanes: which job each lane takes next."""

from __future__ import annotations

import json
from pathlib import Path

from burner.config import load_config
from burner.station import PREPARED_AHEAD, Station, lanes

PREPARED = ["validate", "retrieve", "gather", "identity", "plan", "stage", "master"]


def station(tmp_path: Path) -> Station:
    cfg = tmp_path / "burner.toml"
    cfg.write_text(f'[station]\nid = "t"\ndata_dir = {json.dumps(str(tmp_path))}\n')
    return Station(load_config(cfg))


def add(st: Station, job_id: str, done: list[str], media: str = "dvd") -> None:
    st.db.add_job(job_id, "t")
    for name in done:
        st.db.stage_done(job_id, name)
    st.db.set_media(job_id, media)


def lane(st: Station, name: str):
    return next(x for x in st.lanes if x.name == name)


def test_device_lane_takes_prepared_jobs_oldest_first(tmp_path: Path) -> None:
    st = station(tmp_path)
    add(st, "A", PREPARED)
    add(st, "B", PREPARED)
    add(st, "C", [])
    assert st._runnable(lane(st, "drive0"), 1e12, st.db) == ["A", "B"]


def test_prepare_lane_finishes_what_it_started_first(tmp_path: Path) -> None:
    st = station(tmp_path)
    add(st, "NEW", [])
    add(st, "HALF", ["validate", "retrieve", "gather"])
    assert st._runnable(lane(st, "prepare"), 1e12, st.db) == ["HALF", "NEW"]


def test_prepare_lane_does_not_run_far_ahead_of_the_drive(tmp_path: Path) -> None:
    st = station(tmp_path)
    for n in range(PREPARED_AHEAD):
        add(st, f"READY{n}", PREPARED)
    add(st, "HALF", ["validate"])
    add(st, "NEW", [])
    assert st._runnable(lane(st, "prepare"), 1e12, st.db) == ["HALF"]


def test_a_waiting_job_is_not_taken_before_its_time(tmp_path: Path) -> None:
    st = station(tmp_path)
    add(st, "A", PREPARED)
    st.db.set_state("A", "waiting", "drive busy", not_before=2000.0)
    assert st._runnable(lane(st, "drive0"), 1000.0, st.db) == []
    assert st._runnable(lane(st, "drive0"), 3000.0, st.db) == ["A"]


def test_each_writer_takes_only_jobs_for_its_medium(tmp_path: Path) -> None:
    cfg = tmp_path / "burner.toml"
    cfg.write_text(f'[station]\nid = "t"\ndata_dir = {json.dumps(str(tmp_path))}\n'
                   '[[drives]]\nname = "drive0"\ndevice = "stdio:dvd.img"\nmedia = "dvd"\n'
                   '[[drives]]\nname = "cdburner"\ndevice = "stdio:cd.img"\nmedia = "cd"\n')
    st = Station(load_config(cfg))
    assert [x.name for x in lanes(st.config)] == ["prepare", "drive0", "cdburner", "images",
                                                 "electronic"]
    add(st, "D", PREPARED, "dvd")
    add(st, "C", PREPARED, "cd")
    add(st, "I", PREPARED, "iso")
    add(st, "B", PREPARED, "bd")
    assert st._runnable(lane(st, "drive0"), 1e12, st.db) == ["D"]
    assert st._runnable(lane(st, "cdburner"), 1e12, st.db) == ["C"]
    assert st._runnable(lane(st, "images"), 1e12, st.db) == ["I"]
    assert not any("B" in st._runnable(x, 1e12, st.db) for x in st.lanes), \
        "no lane takes a medium no writer takes (plan holds such a job before staging)"


def test_a_prepared_job_no_writer_takes_is_held_by_the_prepare_lane(tmp_path: Path) -> None:
    """A job planned for a BD under another configuration of the writers waits for no lane:
    the prepare lane holds it with the words plan would have used."""
    st = station(tmp_path)
    add(st, "B", PREPARED, "bd")
    st.spool.folder("active").mkdir(parents=True, exist_ok=True)
    (st.spool.folder("active") / "B").mkdir()
    assert st.step(lane(st, "prepare"), st.db)
    assert st.db.get("B").state == "held"
    reason = (st.spool.folder("held") / "B" / "reason.txt").read_text()
    assert "No writer for a BD is set up at this station. Ask a technician to configure one, " \
           "or change media.type for this job and retry." in reason
    assert not st.step(lane(st, "prepare"), st.db)
