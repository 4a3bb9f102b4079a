"""The DICOM listener as peers see it: DCMTK's echoscu and storescu send to a running
`burner run`, and a pynetdicom Media Creation Management SCU (tests/mcm_scu.py) asks it for
discs, which are burned (xorriso, `stdio:` drive), verified, and checked by dciodvfy and
dcmmkdir."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import (
    StationDir,
    free_port,
    new_station,
    output_of,
    release,
    require_tool,
    run_tool,
    serve,
    stop,
    study_patient,
    wait_for_port,
)
from disc_checks import check_job_disc, job_result
from mcm_scu import McmScu, poll, refs_of

from burner import synth

pytestmark = pytest.mark.slow

STRANGER = synth.Patient(id="OTHER999", name="STRANGER^PAT", birth_date="19600101", sex="M")


def network_toml(port: int, arrival: float = 20) -> str:
    return "\n".join([
        "[dicom]", "enabled = true", 'ae_title = "BURNER"', f"port = {port}",
        f"arrival_seconds = {arrival}",
        "[dicom.peers.MODALITY]", 'may = ["echo", "store"]',
        "[dicom.peers.RIS]", 'may = ["echo", "store", "mcm"]', 'approve = "at-once"',
        "[dicom.peers.FRONTRIS]", 'may = ["mcm"]', 'approve = "desk"', ""])


class Running:
    def __init__(self, station: StationDir, port: int, proc: subprocess.Popen):
        self.station, self.port, self.proc = station, port, proc

    def storescu(self, files: list[Path], calling: str = "MODALITY") -> subprocess.CompletedProcess:
        return run_tool([require_tool("storescu"), "-aet", calling, "-aec", "BURNER",
                         "127.0.0.1", str(self.port), *map(str, files)])


def start(tmp_path: Path, arrival: float = 20, **env: str) -> Running:
    port = free_port()
    station = new_station(tmp_path / "station", extra_toml=network_toml(port, arrival))
    proc = serve(station, tmp_path / "run.log", **env)
    wait_for_port(port, proc)
    return Running(station, port, proc)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    net = start(tmp_path)
    yield net
    stop(net.proc)


def study(tmp_path: Path, slices: int = 4, patient: synth.Patient | None = None,
          name: str = "study") -> list[Path]:
    return synth.make_ct_study(tmp_path / name, patient or study_patient(), slices=slices,
                               rows=64, cols=64, accession="NETACC1")


def test_echo_from_a_known_ae_and_an_unknown_one_is_rejected(running: Running) -> None:
    tool = require_tool("echoscu")
    ok = run_tool([tool, "-aet", "MODALITY", "-aec", "BURNER", "127.0.0.1", str(running.port)])
    assert ok.returncode == 0, output_of(ok)
    refused = run_tool([tool, "-aet", "STRANGER", "-aec", "BURNER", "127.0.0.1",
                        str(running.port)])
    assert refused.returncode != 0
    assert "reject" in output_of(refused).lower(), output_of(refused)
    # nor may an unknown AE ask for a disc
    with McmScu(running.port, "STRANGER") as scu:
        assert scu.assoc.is_rejected


def test_a_pushed_study_lands_in_the_intake_folder(running: Running, tmp_path: Path) -> None:
    files = study(tmp_path)
    proc = running.storescu(files)
    assert proc.returncode == 0, output_of(proc)
    intake = running.station.data_dir / "intake"
    folders = [p for p in intake.iterdir() if p.name.startswith("net-MODALITY-")]
    assert len(folders) == 1
    assert len(list(folders[0].glob("*.dcm"))) == len(files)
    # an AE that may not store is refused
    proc = running.storescu(files[:1], calling="FRONTRIS")
    assert "0124" in output_of(proc) or proc.returncode != 0, output_of(proc)


def test_mcm_request_makes_a_verified_disc_of_exactly_the_referenced_instances(
        running: Running, tmp_path: Path) -> None:
    files = study(tmp_path, slices=5)
    assert running.storescu(files).returncode == 0
    wanted = refs_of(files[:4])          # one instance received but not asked for
    with McmScu(running.port) as scu:
        code, uid = scu.create(wanted, LabelText="FOR DR SMITH")
        assert code == 0
        assert scu.initiate(uid, copies=1) == 0
        assert scu.initiate(uid) == 0xA510          # initiated already
    answer = poll(running.port, uid, ("DONE", "FAILURE"))
    assert (answer.ExecutionStatus, answer.ExecutionStatusInfo) == ("DONE", "NORMAL")
    assert answer.TotalNumberOfPiecesOfMediaCreated == 1
    assert len(answer.ReferencedStorageMediaSequence) == 1
    job_id = running.station.query("SELECT job_id FROM media_requests WHERE uid=?", uid)[0][0]
    result = job_result(running.station.spool, job_id)
    assert result["profile"] == "STD-GEN-DVD-JPEG"
    manifest = (running.station.spool / "done" / job_id / "job.json").read_text()
    assert '"by": "AE RIS"' in manifest
    on_disc = check_job_disc(running.station.spool, job_id, tmp_path / "check")
    assert on_disc == {inst for _, inst in wanted}
    with McmScu(running.port) as scu:
        assert scu.cancel(uid) == 0xC201            # made already: nothing to cancel


def test_missing_instance_is_reported_in_failed_sop_sequence(tmp_path: Path) -> None:
    net = start(tmp_path, arrival=2)
    try:
        files = study(tmp_path, slices=3)
        assert net.storescu(files[:2]).returncode == 0
        refs = refs_of(files)            # the third never arrives
        with McmScu(net.port) as scu:
            code, uid = scu.create(refs)
            assert code == 0 and scu.initiate(uid) == 0
            _, early = scu.get(uid)
            assert (early.ExecutionStatus, early.ExecutionStatusInfo) == ("PENDING", "QUEUED")
        answer = poll(net.port, uid, ("DONE", "FAILURE"), timeout=30)
        assert (answer.ExecutionStatus, answer.ExecutionStatusInfo) == ("FAILURE", "NO_INSTANCE")
        failed = [(i.ReferencedSOPInstanceUID, i.FailureReason) for i in answer.FailedSOPSequence]
        assert failed == [(refs[2][1], 0x0112)]
        assert net.station.query("SELECT COUNT(*) FROM jobs")[0][0] == 0   # nothing made
    finally:
        stop(net.proc)


def test_foreign_patient_instance_holds_the_request(running: Running, tmp_path: Path) -> None:
    own = study(tmp_path, slices=2)
    stranger = study(tmp_path, slices=1, patient=STRANGER, name="stranger")
    assert running.storescu(own + stranger).returncode == 0
    with McmScu(running.port) as scu:
        code, uid = scu.create(refs_of(own + stranger))
        assert code == 0 and scu.initiate(uid) == 0
    answer = poll(running.port, uid, ("DONE", "FAILURE"))
    assert answer.ExecutionStatus == "FAILURE"
    failed = {i.ReferencedSOPInstanceUID for i in answer.FailedSOPSequence}
    assert failed == {refs_of(stranger)[0][1]}
    job_id = running.station.query("SELECT job_id FROM media_requests WHERE uid=?", uid)[0][0]
    assert running.station.where(job_id) == ["held"]
    assert not (running.station.media / job_id).exists() or \
        not any((running.station.media / job_id).iterdir())


def test_desk_ae_request_waits_for_the_front_desk(running: Running, tmp_path: Path) -> None:
    files = study(tmp_path, slices=2)
    assert running.storescu(files).returncode == 0
    with McmScu(running.port, "FRONTRIS") as scu:
        code, uid = scu.create(refs_of(files))
        assert code == 0 and scu.initiate(uid) == 0
    answer = poll(running.port, uid, ("PENDING",), calling="FRONTRIS")
    assert answer.ExecutionStatusInfo == "QUEUED"
    job_id = None
    for _ in range(100):
        rows = running.station.query("SELECT job_id FROM media_requests WHERE uid=?", uid)
        job_id = rows[0][0]
        if job_id:
            break
        import time
        time.sleep(0.1)
    assert running.station.where(job_id) == ["pending"]
    # another AE cannot see or cancel it
    with McmScu(running.port, "RIS") as scu:
        assert scu.get(uid)[0] == 0x0112
        assert scu.cancel(uid) == 0x0112


def test_cancel_during_writing_ends_cancelled_with_no_copy_counted(tmp_path: Path) -> None:
    net = start(tmp_path, BURNER_PAUSE_AT="write", BURNER_PAUSE_SECONDS="90")
    try:
        files = study(tmp_path, slices=2)
        assert net.storescu(files).returncode == 0
        with McmScu(net.port) as scu:
            code, uid = scu.create(refs_of(files))
            assert code == 0 and scu.initiate(uid, copies=2) == 0
        marker = net.station.data_dir / "paused-write"
        import time
        deadline = time.monotonic() + 90
        while not marker.exists():
            assert time.monotonic() < deadline, "the station never got to write"
            time.sleep(0.1)
        with McmScu(net.port) as scu:
            _, during = scu.get(uid)
            assert during.ExecutionStatus == "CREATING"
            assert scu.cancel(uid) == 0
        release(net.station, "write")
        answer = poll(net.port, uid, ("DONE", "FAILURE"))
        assert (answer.ExecutionStatus, answer.ExecutionStatusInfo) == ("FAILURE", "CANCELLED")
        assert answer.TotalNumberOfPiecesOfMediaCreated == 0
        job_id = net.station.query("SELECT job_id FROM media_requests WHERE uid=?", uid)[0][0]
        assert net.station.query("SELECT COUNT(*) FROM copies WHERE job_id=?", job_id)[0][0] == 0
    finally:
        stop(net.proc)
