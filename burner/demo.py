"""`burner demo`: a realistic synthetic release, run through the spool on this configuration
(`burner demo --web` goes on in demo_web.py)."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
from collections.abc import Callable
from pathlib import Path

import pydicom

from burner import synth
from burner.config import Config
from burner.errors import BurnerError
from burner.locks import StationLock
from burner.spool import Spool, write_atomic
from burner.station import Station

DEMO_PATIENT = synth.Patient(id="DEMO0001", name="SAMPLE^ALEX^J", birth_date="19610412",
                             sex="O", issuer="BURNERDEMO")


def make_demo_job(job_dir: Path, *, slices: int, patient: synth.Patient = DEMO_PATIENT,
                  copies: int = 1, media: str = "auto") -> dict:
    """A job folder with a two-series CT and a brain MR of one synthetic patient."""
    dicom = job_dir / "dicom"
    workers = max(1, min(2, os.cpu_count() or 1))
    ct = synth.make_ct_study(dicom / "ct", patient, slices=slices, series=2, workers=workers,
                             accession="DEMOCT01")
    mr = synth.make_mr_study(dicom / "mr", patient, accession="DEMOMR01")
    studies = []
    for paths, accession in ((ct, "DEMOCT01"), (mr, "DEMOMR01")):
        uid = str(pydicom.dcmread(paths[0], stop_before_pixels=True).StudyInstanceUID)
        studies.append({"study_instance_uid": uid, "accession_number": accession})
    report = job_dir / "reports" / "ct-report.txt"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(
        "CT CHEST ABDOMEN PELVIS - SYNTHETIC DEMONSTRATION DATA, NOT A REAL PATIENT\n\n"
        "FINDINGS: The lungs are clear. No pleural effusion. The liver, spleen and kidneys are "
        "unremarkable. No free fluid. The bones show no focal lesion.\n\n"
        "IMPRESSION: Normal synthetic phantom study.\n", encoding="utf-8")
    today = datetime.date.today()
    birth = patient.birth_date
    manifest = {
        "version": 1,
        "job_id": job_dir.name,
        "patient": {"id": patient.id, "issuer": patient.issuer, "name": patient.name,
                    "birth_date": f"{birth[:4]}-{birth[4:6]}-{birth[6:]}", "sex": patient.sex},
        "request": {"reference": "DEMO-REQUEST", "received": today.isoformat(),
                    "requester": "patient",
                    "fee": {"amount": "6.50", "currency": "USD", "basis": "flat"}},
        "studies": studies,
        "inputs": ["dicom/"],
        "reports": [{"path": "reports/ct-report.txt",
                     "study_instance_uid": studies[0]["study_instance_uid"]}],
        "media": {"type": media, "copies": copies},
        "approval": {"by": "demo", "at": datetime.datetime.now(datetime.UTC)
                     .isoformat(timespec="seconds"), "note": "synthetic demonstration data"},
    }
    write_atomic(job_dir / "job.json", json.dumps(manifest, indent=2).encode("utf-8"))
    return manifest


def run_demo(config: Config, *, slices: int, echo: Callable[[str], None]) -> str:
    """Make the sample job, queue it, process it, and say where everything is."""
    # The demo made its job whole before renaming it into approved/: no need to wait for quiet.
    config = dataclasses.replace(config, keep_work=True, quiet_seconds=0.0)
    # The demo is a station for one job: it refuses, before making anything, while a running
    # station owns the data folder.
    lock = StationLock(config.data_dir, config.station_id).acquire()
    try:
        return _demo(config, slices, echo)
    finally:
        lock.release()


def _demo(config: Config, slices: int, echo: Callable[[str], None]) -> str:
    spool = Spool(config.spool_dir)
    spool.ensure()
    job_id = datetime.datetime.now().strftime("DEMO-%Y%m%d-%H%M%S")
    echo(f"Making a synthetic CT (2 series x {slices} slices of 512x512) and MR study...")
    make_demo_job(spool.folder("incoming") / job_id, slices=slices)
    spool.move(job_id, "incoming", "approved")
    echo(f"Job {job_id} queued in {spool.folder('approved')}; processing...")
    station = Station(config)
    station.drain()
    found = spool.locate(job_id)
    where, path = found if found else ("missing", None)
    if where != "done":
        reason = (path / "reason.txt").read_text() if path and (path / "reason.txt").exists() \
            else "see burner status"
        raise BurnerError(f"The demo job ended in {where}/: {reason}")
    result = json.loads((path / "result.json").read_text())
    echo(f"Done. Job folder with result.json and audit.xml: {path}")
    for copy in result["copies"]:
        echo(f"Burned and verified disc (xorriso stdio: medium): {copy['medium']}")
    work = config.work_dir / job_id
    echo(f"Staged disc files (DICOMDIR, README.TXT, INDEX.HTM, DICOM/): {work / 'stage' / 'vol1'}")
    echo(f"ISO image: {work / 'master' / 'vol1.iso'}")
    echo(f"Start page of the disc: file://{work / 'stage' / 'vol1' / 'INDEX.HTM'}")
    prints = config.data_dir / config.printing.get("folder", "prints") / job_id
    if result.get("printing") == "printed" and prints.is_dir():
        echo(f"Cover sheet and labels (PDF): {prints}")
    else:
        echo(f"Printing: {result.get('printing')}")
    echo(f"Check the disc again with: burner verify {result['copies'][0]['medium']}")
    return job_id
