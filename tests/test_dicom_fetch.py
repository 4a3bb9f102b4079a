"""Fetching from a real PACS and sending to another hospital: Debian's Orthanc (with its
DICOMweb plugin), started by the tests on loopback ports with its own storage, holds generated
studies; jobs fetch by accession number with C-GET, C-MOVE and DICOMweb, are burned (xorriso,
`stdio:` drive) and the discs checked by dciodvfy and dcmmkdir; a job sends its objects to
Orthanc by C-STORE."""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from conftest import (
    StationDir,
    free_port,
    new_station,
    release,
    run_paused,
    stop,
    study_patient,
)
from disc_checks import check_job_disc, job_result
from orthanc_server import OrthancServer

from burner import synth

pytestmark = pytest.mark.slow

ACCESSION = "FETCH001"


class Pacs:
    def __init__(self, orthanc: OrthancServer, port: int, files: list[Path]):
        self.orthanc, self.port, self.files = orthanc, port, files
        self.sops = {str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID)
                     for f in files}


@pytest.fixture(scope="module")
def pacs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pacs]:
    root = tmp_path_factory.mktemp("orthanc")
    port = free_port()         # where this station's AE listens for C-MOVE
    orthanc = OrthancServer(root / "server", modalities={"BURNER": ("BURNER", "127.0.0.1",
                                                                    port)})
    orthanc.start()
    try:
        files = synth.make_ct_study(root / "study", study_patient(), slices=6, rows=64,
                                    cols=64, accession=ACCESSION)
        other = synth.make_ct_study(root / "other", study_patient(), slices=2, rows=64,
                                    cols=64, accession="OTHER001")
        orthanc.upload_all(files + other)
        yield Pacs(orthanc, port, files)
    finally:
        orthanc.stop()


def pacs_toml(pacs: Pacs, commitment: bool = False, stow: bool = False) -> str:
    o = pacs.orthanc
    return "\n".join([
        "[dicom]", 'ae_title = "BURNER"', f"port = {pacs.port}",
        *(line for method in ("c-get", "c-move", "dicomweb") for line in (
            f"[pacs.{method.replace('-', '')}]", f'ae_title = "{o.aet}"', 'host = "127.0.0.1"',
            f"port = {o.dicom_port}", f'retrieve = "{method}"', f'url = "{o.dicomweb_url}"',
            "timeout = 30")),
        # a STOW-RS destination is sent to over HTTP only: its DICOM port is a dead one here
        "[destinations.otherhosp]", f'ae_title = "{o.aet}"', 'host = "127.0.0.1"',
        f"port = {1 if stow else o.dicom_port}",
        f"commitment = {'true' if commitment else 'false'}",
        *(['send = "stow"', f'url = "{o.dicomweb_url}"'] if stow else []),
        "timeout = 30", ""])


def add_job(station: StationDir, job_id: str, **extra: object) -> None:
    patient = study_patient()
    b = patient.birth_date
    manifest = {"version": 1, "job_id": job_id,
                "patient": {"id": patient.id, "name": patient.name,
                            "birth_date": f"{b[:4]}-{b[4:6]}-{b[6:]}"},
                "approval": {"by": "tester", "at": datetime.datetime.now(datetime.UTC)
                             .isoformat(timespec="seconds")}, **extra}
    staging = station.folder("incoming") / job_id
    staging.mkdir(parents=True)
    (staging / "job.json").write_text(json.dumps(manifest))
    station.folder("approved").mkdir(exist_ok=True)
    os.rename(staging, station.folder("approved") / job_id)


@pytest.mark.parametrize("method", ["cget", "cmove", "dicomweb"])
def test_fetch_by_accession_makes_a_disc_that_passes_the_validators(
        pacs: Pacs, tmp_path: Path, method: str) -> None:
    station = new_station(tmp_path / "station", extra_toml=pacs_toml(pacs))
    add_job(station, "F1", fetch={"pacs": method, "accession_numbers": [ACCESSION]})
    proc = station.cli("run", "--once")
    assert station.where("F1") == ["done"], proc.stderr + \
        (station.folder("held") / "F1" / "reason.txt").read_text(errors="replace") \
        if (station.folder("held") / "F1").exists() else proc.stderr
    on_disc = check_job_disc(station.spool, "F1", tmp_path / "check")
    assert on_disc == pacs.sops          # the study asked for, whole; not the other one
    assert job_result(station.spool, "F1")["copies"]


def test_an_instance_deleted_between_find_and_move_holds_the_job_naming_it(
        pacs: Pacs, tmp_path: Path) -> None:
    station = new_station(tmp_path / "station", extra_toml=pacs_toml(pacs))
    add_job(station, "F2", fetch={"pacs": "cmove", "accession_numbers": [ACCESSION]})
    victim = sorted(pacs.sops)[0]
    gone = pacs.files[[str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID)
                       for f in pacs.files].index(victim)]
    proc = run_paused(station, "fetch", 60)
    try:
        pacs.orthanc.delete_instance(victim)
        release(station, "fetch")
        proc.wait(timeout=120)
    finally:
        stop(proc)
        pacs.orthanc.upload(gone)        # the next test finds the study whole again
    assert station.where("F2") == ["held"]
    reason = (station.folder("held") / "F2" / "reason.txt").read_text()
    assert victim in reason
    assert "listed 6 images" in reason and "sent only 5" in reason
    assert not any((station.media).glob("F2/*"))


def _pixel_hash(data: bytes) -> str:
    ds = pydicom.dcmread(io.BytesIO(data))
    return hashlib.sha256(ds.PixelData).hexdigest()


@pytest.mark.parametrize("how", ["c-store+find", "c-store+commitment", "stow+qido"])
def test_send_to_another_hospital_puts_identical_instances_there(
        pacs: Pacs, tmp_path: Path, how: str) -> None:
    # The release's own files, as a folder job; Orthanc stands in for the other hospital.
    station = new_station(tmp_path / "station",
                          extra_toml=pacs_toml(pacs, "commitment" in how, how.startswith("stow")))
    files = synth.make_ct_study(tmp_path / "send", study_patient(), slices=3, rows=64, cols=64,
                                accession="SEND001")
    sent = {str(pydicom.dcmread(f).SOPInstanceUID): _pixel_hash(f.read_bytes()) for f in files}
    job = station.folder("incoming") / "S1"
    (job / "dicom").mkdir(parents=True)
    for f in files:
        (job / "dicom" / f.name).write_bytes(f.read_bytes())
    patient = study_patient()
    b = patient.birth_date
    (job / "job.json").write_text(json.dumps({
        "version": 1, "job_id": "S1",
        "patient": {"id": patient.id, "name": patient.name,
                    "birth_date": f"{b[:4]}-{b[4:6]}-{b[6:]}"},
        "media": {"type": "dicom", "destination": "otherhosp"},
        "approval": {"by": "tester", "at": "2026-12-01T10:00:00Z"}}))
    station.folder("approved").mkdir(exist_ok=True)
    os.rename(job, station.folder("approved") / "S1")
    proc = station.cli("run", "--once")
    assert station.where("S1") == ["done"], proc.stderr
    for sop, pixels in sent.items():
        orthanc_id = pacs.orthanc.find_instance(sop)
        assert orthanc_id, f"{sop} is not at the destination"
        assert _pixel_hash(pacs.orthanc.instance_bytes(orthanc_id)) == pixels
    result = job_result(station.spool, "S1")
    assert result["copies"][0]["medium"].startswith(f"{pacs.orthanc.aet}@127.0.0.1:")
    audit = (station.folder("done") / "S1" / "audit.xml").read_text()
    assert "110152" in audit and "110154" not in audit
    for sop in sent:
        pacs.orthanc.delete_instance(sop)


def test_the_technicians_commands_echo_find_and_fetch(pacs: Pacs, tmp_path: Path) -> None:
    station = new_station(tmp_path / "station", extra_toml=pacs_toml(pacs) + "\n".join([
        "[pacs.gone]", 'ae_title = "NOBODY"', 'host = "127.0.0.1"', "port = 1", ""]))
    echo = station.cli("dicom", "echo", "cget")
    assert echo.returncode == 0 and "answered" in echo.stdout, echo.stderr
    dead = station.cli("dicom", "echo", "gone")
    assert dead.returncode == 1 and "could not be reached" in dead.stderr
    assert "Traceback" not in dead.stderr
    unknown = station.cli("dicom", "echo", "nowhere")
    assert unknown.returncode == 2 and "no PACS or destination called" in unknown.stderr
    found = station.cli("dicom", "find", "cget", "--accession", ACCESSION)
    assert found.returncode == 0 and f"{ACCESSION}\tCT\t6 images" in found.stdout, found.stderr
    assert "OTHER001" not in found.stdout
    for method in ("cget", "dicomweb"):
        out = tmp_path / f"fetched-{method}"
        fetched = station.cli("dicom", "fetch", method, "--accession", ACCESSION,
                              "--out", str(out))
        assert fetched.returncode == 0, fetched.stderr
        assert "6 of 6 listed images came" in fetched.stdout
        got = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID)
               for p in out.glob("*.dcm")}
        assert got == pacs.sops
