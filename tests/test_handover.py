"""From request to job, and the hand-over (issue 12), fast and in process: the preview and its
identity check, approval with and without four eyes, the hand-over's refusals, the signature
parser, the receipt, the not-collected flag, and the pages through Starlette's TestClient (CSRF,
roles, the action log). The browser run is tests/test_handover_browser.py."""

from __future__ import annotations

import base64
import contextlib
import datetime
import io
import json
import re
import subprocess
import zlib
from pathlib import Path

import pydicom
import pytest
from conftest import StationDir, require_tool, study_patient
from PIL import Image
from test_web_app import PASSWORD, _csrf, sign_in

from burner import synth
from burner.config import Config, load_config
from burner.desk import handover as desk
from burner.desk import intake
from burner.desk.receipt import receipt_pdf
from burner.desk.register import (
    Fee,
    Patient,
    Register,
    Requester,
    RequestRefused,
    RequestState,
    Scope,
)
from burner.desk.settings import desk_settings
from burner.users import Users
from burner.web.app import create_app

TODAY = datetime.date(2026, 3, 2)
OTHER = synth.Patient(id="OTHER77", name="OTHER^PERSON", birth_date="19500101", sex="F")


def desk_config(station: StationDir, **desk_table: object) -> Config:
    if desk_table:
        station.config.write_text(station.config.read_text() + "[desk]\n" + "".join(
            f"{k} = {json.dumps(v)}\n" for k, v in desk_table.items()))
    return load_config(station.config)


def new_request(config: Config, *, fmt: str = "dvd", delivery: str = "pickup",
                requester: Requester | None = None) -> str:
    p = study_patient()
    with Register(config.db_path) as register:
        from burner.desk.register import Request

        request = Request(register.new_id(TODAY), Patient(p.name, p.id, "",
                                                          datetime.date(1975, 6, 15)),
                          requester or Requester("patient"), Scope(), fmt, delivery, TODAY,
                          TODAY + datetime.timedelta(days=30), Fee("6.50", "USD", "flat"))
        return register.add(request, "desk1").id


def export(config: Config, name: str = "CT EXPORT", stray: bool = False) -> Path:
    """A folder exported from PACS, dropped into the intake folder."""
    folder = desk_settings(config).intake_dir / name
    synth.make_ct_study(folder, study_patient(), slices=3, rows=32, cols=32)
    if stray:
        synth.make_ct_study(folder / "stray", OTHER, slices=1, rows=32, cols=32)
    (folder / "export-log.txt").write_text("exported by PACS\n")
    return folder


def request_of(config: Config, request_id: str):  # noqa: ANN201
    with Register(config.db_path) as register:
        return register.get(request_id), [(r["event"], r["detail"])
                                          for r in register.history(request_id)]


# --- preview and approval ---------------------------------------------------------------


def test_the_preview_names_the_other_patients_file_and_approval_is_refused(
        station: StationDir) -> None:
    config = desk_config(station)
    request_id = new_request(config)
    folder = export(config, stray=True)
    request, _ = request_of(config, request_id)
    seen = intake.preview(config, folder, request)
    assert not seen.ok
    assert seen.strays == [("stray/SE001/IM00001.dcm", "a different patient ID, a different "
                            "or missing birth date, a different patient name")]
    assert "1 file(s) belong to someone else, not to Robin Tester" in seen.verdict
    assert seen.not_dicom == [("export-log.txt", "not a DICOM file")]
    assert {(p.id, p.files, p.matches) for p in seen.patients} == {("BRN0042", 3, True),
                                                                    ("OTHER77", 1, False)}
    assert sorted((s.instances, s.modalities, s.matches) for s in seen.studies) == [
        (1, "CT", False), (3, "CT", True)]
    with pytest.raises(RequestRefused, match="Nothing was approved: 1 file"):
        intake.approve(config, request_id, folder.name, "desk1", desk_settings(config))
    assert not list((station.spool / "approved").glob("*")), "nothing was submitted"
    assert intake.intake_folders(desk_settings(config)) == ["CT EXPORT"]
    assert request_of(config, request_id)[0].state == RequestState.OPEN


def test_four_eyes_needs_two_different_people(station: StationDir) -> None:
    config = desk_config(station, four_eyes=True)
    settings = desk_settings(config)
    request_id = new_request(config)
    export(config)
    first = intake.approve(config, request_id, "CT EXPORT", "desk1", settings)
    assert first.job_id is None and "A second person must approve" in first.words
    assert not (station.spool / "approved").exists() or not list(
        (station.spool / "approved").iterdir())
    assert request_of(config, request_id)[0].state == RequestState.AWAITING_SECOND
    with pytest.raises(RequestRefused, match=r"A second person must approve this release: "
                                             r"you \(desk1\) approved it already"):
        intake.approve(config, request_id, "CT EXPORT", "desk1", settings)
    done = intake.approve(config, request_id, "CT EXPORT", "desk2", settings)
    assert done.job_id and done.approvers == ("desk1", "desk2")
    manifest = json.loads((station.spool / "approved" / done.job_id / "job.json").read_text())
    assert manifest["approval"]["by"] == "desk2"
    assert manifest["approval"]["note"] == "four eyes: desk1 and desk2"
    assert manifest["request"]["reference"] == request_id
    assert manifest["media"]["type"] == "dvd"
    # The exams previewed are the ones approved: the station puts no other study on the disc.
    files = [p for p in (station.spool / "approved" / done.job_id / "dicom").rglob("*")
             if p.is_file()]
    exported = set()
    for path in files:
        with contextlib.suppress(pydicom.errors.InvalidDicomError):   # its non-DICOM files
            exported.add(str(pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID))
    assert files and {s["study_instance_uid"] for s in manifest["studies"]} == exported
    assert manifest["patient"] == {"id": "BRN0042", "name": "TESTER^ROBIN",
                                   "birth_date": "1975-06-15"}
    # The folder left the intake folder: it cannot be attached twice.
    assert intake.intake_folders(settings) == []
    moved = list((config.data_dir / intake.DONE_FOLDER).iterdir())
    assert [p.name.startswith(request_id + "-") for p in moved] == [True]
    assert len(list(moved[0].rglob("*.dcm"))) == 3
    request, history = request_of(config, request_id)
    assert request.state == RequestState.IN_PROGRESS and request.jobs == (done.job_id,)
    events = [e for e, _ in history]
    assert events[-3:] == ["job", "approved", "in progress"]
    assert "desk1 and desk2" in history[-2][1]
    with pytest.raises(RequestRefused, match="in progress already"):
        intake.approve(config, request_id, "CT EXPORT", "desk1", settings)


def test_four_eyes_starts_again_when_the_folder_changed(station: StationDir) -> None:
    config = desk_config(station, four_eyes=True)
    settings = desk_settings(config)
    request_id = new_request(config)
    folder = export(config)
    intake.approve(config, request_id, "CT EXPORT", "desk1", settings)
    synth.make_ct_study(folder / "more", study_patient(), slices=1, rows=32, cols=32)
    again = intake.approve(config, request_id, "CT EXPORT", "desk2", settings)
    assert again.job_id is None and "changed since desk1 approved" in again.words
    assert intake.first_approval(config, request_id).by == "desk2"
    made = intake.approve(config, request_id, "CT EXPORT", "desk1", settings)
    assert made.job_id and made.approvers == ("desk2", "desk1")


def test_one_approval_without_four_eyes_and_formats_not_made_here(station: StationDir) -> None:
    config = desk_config(station)
    settings = desk_settings(config)
    export(config)
    for fmt, words in (("send", "No hospital to send images to is set up at this station"),
                       ("cd", "No writer for a CD is set up at this station")):
        with pytest.raises(RequestRefused, match=words):
            intake.approve(config, new_request(config, fmt=fmt), "CT EXPORT", "desk1",
                           settings)
    request_id = new_request(config)
    with pytest.raises(RequestRefused, match="not in the intake folder"):
        intake.approve(config, request_id, "../CT EXPORT", "desk1", settings)
    electronic = intake.approve(config, new_request(config, fmt="electronic"), "CT EXPORT",
                                "desk1", settings)          # an encrypted ZIP
    manifest = json.loads((station.spool / "approved" / electronic.job_id / "job.json")
                          .read_text())
    assert manifest["media"]["type"] == "zip"
    export(config)
    made = intake.approve(config, request_id, "CT EXPORT", "desk1", settings)
    assert made.approvers == ("desk1",)
    manifest = json.loads((station.spool / "approved" / made.job_id / "job.json").read_text())
    assert manifest["approval"]["by"] == "desk1" and "note" not in manifest["approval"]


# --- the hand-over ----------------------------------------------------------------------


@pytest.fixture
def finished(station: StationDir):
    """Two finished jobs: H1 for a request collected at the desk, H2 for one mailed; Q1
    still queued."""
    config = desk_config(station)
    station.add_job("H1")
    station.add_job("H2")
    ran = station.cli("run", "--once")
    assert ran.returncode == 0, ran.stderr
    station.add_job("Q1")
    pickup = new_request(config)
    mailed = new_request(config, delivery="mail",
                         requester=Requester("representative", "Sam Tester", "daughter"))
    with Register(config.db_path) as register:
        register.link_job(pickup, "H1", "desk1")
        register.link_job(mailed, "H2", "desk1")
        register.link_job(mailed, "Q1", "desk1")
        for request_id in (pickup, mailed):
            register.set_state(request_id, RequestState.IN_PROGRESS, "desk1")
    return station, config, pickup, mailed


def test_hand_over_refusals_then_the_record_and_the_receipt(finished, tmp_path: Path) -> None:
    station, config, pickup, mailed = finished
    refusals = [
        ("Q1", {"receiver_kind": "patient", "photo_id_checked": True}, "is not finished"),
        ("NOPE", {"receiver_kind": "patient", "photo_id_checked": True}, "no job NOPE"),
        ("H1", {"receiver_kind": "patient"}, "Check a photo ID"),
        ("H1", {"receiver_kind": "representative", "photo_id_checked": True,
                "receiver_name": "  "}, "Write the representative's name"),
        ("H1", {"receiver_kind": "someone", "photo_id_checked": True}, "Choose who receives"),
        ("H2", {"receiver_kind": "representative", "receiver_name": "Sam Tester",
                "mailed": True}, "Write the tracking number"),
    ]
    for job_id, args, words in refusals:
        with pytest.raises(desk.HandoverRefused, match=words):
            desk.handover(config, job_id, by="desk1", **args)
    assert desk.get(config, "H1") is None
    done = desk.handover(config, "H1", by="desk1", receiver_kind="representative",
                         receiver_name="Sam Tester", relationship="daughter",
                         photo_id_checked=True)
    assert done.items == (desk.Item(1, 1, 1, "dvd"),) and done.request_id == pickup
    assert [i.words for i in done.items] == ["disc 1 of 1, copy 1"]
    with pytest.raises(desk.HandoverRefused, match="H1 was handed over already, on .* by "
                                                   "desk1"):
        desk.handover(config, "H1", by="desk2", receiver_kind="patient",
                      photo_id_checked=True)
    assert request_of(config, pickup)[0].state == RequestState.HANDED_OVER

    mail = desk.handover(config, "H2", by="desk2", receiver_kind="representative",
                         receiver_name="Sam Tester", mailed=True, tracking=" RR123456789US ")
    assert mail.tracking == "RR123456789US"
    # Q1 of the same request is not handed over yet: the request stays open.
    assert request_of(config, mailed)[0].state == RequestState.IN_PROGRESS
    history = request_of(config, mailed)[1]
    assert ("job handed over", "job H2 mailed") in history

    pdf = tmp_path / "receipt.pdf"
    pdf.write_bytes(receipt_pdf(config, done, desk.patient_of(config, "H1")))
    text = subprocess.run([require_tool("pdftotext"), "-layout", str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout
    for words in (pickup, "H1", "Robin Tester", "Sam Tester (representative, daughter)",
                  "disc 1 of 1, copy 1", "Photo ID checked", "desk1"):
        assert words in text, (words, text)
    pdf.write_bytes(receipt_pdf(config, mail, "TESTER^ROBIN"))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "RR123456789US" in text and "Mailed to" in text and mailed in text


def test_jobs_not_collected_are_flagged_after_the_days(finished) -> None:
    station, config, pickup, mailed = finished
    today = datetime.date.today()
    assert desk_settings(config).handover_flag_days == 14
    assert desk.not_handed_over(config, today + datetime.timedelta(days=13)) == []
    flagged = desk.not_handed_over(config, today + datetime.timedelta(days=14))
    assert [(w.job_id, w.request_id, w.days) for w in flagged] == [
        ("H1", pickup, 14), ("H2", mailed, 14)]
    assert [w.job_id for w in desk.not_handed_over(config, today, days=0)] == ["H1", "H2"]
    desk.handover(config, "H1", by="desk1", receiver_kind="patient", photo_id_checked=True)
    assert [w.job_id for w in desk.not_handed_over(
        config, today + datetime.timedelta(days=30))] == ["H2"]


# --- the signature ----------------------------------------------------------------------


def _png(size: tuple[int, int] = (200, 60)) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    image.putpixel((1, 1), (0, 0, 0, 255))
    image.save(out, "PNG")
    return out.getvalue()


def _url(data: bytes) -> str:
    return desk.DATA_URL + base64.b64encode(data).decode()


def _chunk(kind: bytes, body: bytes) -> bytes:
    import struct

    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_the_signature_parser_takes_a_whole_png_only() -> None:
    png = _png()
    assert desk.parse_signature(_url(png)) == png
    assert desk.parse_signature("") is None and desk.parse_signature("  ") is None
    big = desk.PNG_MAGIC + _chunk(b"IHDR", bytes(13)) + _chunk(b"tEXt", b"x" * 210_000) \
        + _chunk(b"IEND", b"")
    bad = [
        "data:image/jpeg;base64," + base64.b64encode(png).decode(),      # not PNG by its type
        _url(b"GIF89a" + png[6:]),                                        # not PNG inside
        "DATA:image/png;base64," + base64.b64encode(png).decode(),
        _url(png)[:-3] + "!!=",                                           # bad base64
        _url(png) + "QUJD",                                               # trailing base64
        _url(png) + "=",                                                  # junk after padding
        _url(png + b"junk"),                                              # junk after IEND
        _url(png[:-5]),                                                   # cut short
        _url(big),                                                        # over 200 KB
        _url(_png((5000, 2))),                                            # too wide
        _url(png[:20] + bytes([png[20] ^ 1]) + png[21:]),                 # a wrong CRC
        "data:image/png;base64," + "A" * 300_000,
    ]
    for n, text in enumerate(bad):
        with pytest.raises(desk.HandoverRefused, match="The signature could not be read"):
            desk.parse_signature(text)
            pytest.fail(f"case {n} was accepted")


# --- the pages --------------------------------------------------------------------------


def _app(config: Config):
    with Users(config.db_path) as users:
        for name, role in (("desk1", "front-desk"), ("desk2", "front-desk"),
                           ("tech", "technician")):
            users.add(name, role, PASSWORD)
    return create_app(config)


def _actions(config: Config) -> list[tuple]:
    with Users(config.db_path) as users:
        return [(r["user"], r["action"], r["job_id"], r["outcome"], r["detail"])
                for r in reversed(users.actions())]


def test_attach_preview_and_approve_through_the_pages(station: StationDir) -> None:
    config = desk_config(station, four_eyes=True)
    app = _app(config)
    request_id = new_request(config)
    folder = export(config, stray=True)
    one, two = sign_in(app, "desk1"), sign_in(app, "desk2")
    page = one.get(f"/requests/{request_id}/images")
    assert page.status_code == 200 and "CT EXPORT" in page.text
    assert "two people" in page.text
    csrf = _csrf(page.text)
    url = f"/requests/{request_id}/images"
    assert one.post(url + "/preview", data={"folder": "CT EXPORT"}).status_code == 403
    seen = one.post(url + "/preview", data={"csrf": csrf, "folder": "CT EXPORT"})
    assert seen.status_code == 200
    assert "stray/SE001/IM00001.dcm" in seen.text and "OTHER^PERSON" in seen.text
    assert "belong to someone else" in seen.text and ">Approve<" not in seen.text
    refused = one.post(url + "/approve", data={"csrf": csrf, "folder": "CT EXPORT"})
    assert refused.status_code == 409 and "Nothing was approved" in refused.text

    import shutil

    shutil.rmtree(folder / "stray")
    seen = one.post(url + "/preview", data={"csrf": csrf, "folder": "CT EXPORT"})
    assert "All 3 DICOM file(s) belong to Robin Tester" in seen.text and ">Approve<" in seen.text
    first = one.post(url + "/approve", data={"csrf": csrf, "folder": "CT EXPORT"})
    assert first.status_code == 200 and "A second person must approve" in first.text
    again = one.post(url + "/approve", data={"csrf": csrf, "folder": "CT EXPORT"})
    assert again.status_code == 409 and "A second person must approve this release" in again.text
    page = two.get(url)
    assert "desk1 approved the folder" in page.text
    made = two.post(url + "/approve", data={"csrf": _csrf(page.text), "folder": "CT EXPORT"})
    assert made.status_code == 200
    job_id = re.search(r"Job (J\d{8}-[0-9A-F]{6}) was made", made.text).group(1)
    assert (station.spool / "approved" / job_id / "job.json").is_file()

    log = _actions(config)
    assert ("desk2", "approve", job_id, "ok",
            f"request {request_id}: job made, approved by desk1 and desk2") in log
    assert [a[3] for a in log if a[1] == "approve"] == ["refused", "first approval", "refused",
                                                        "ok"]
    assert not any("TESTER" in str(a) or "Robin" in str(a) or "EXPORT" in str(a) for a in log)
    assert one.get("/requests/NO SUCH/images").status_code == 404
    assert one.get("/requests/RQ-2026-9999/images").status_code == 404


def test_the_hand_over_pages_scan_record_and_receipt(finished) -> None:
    station, config, pickup, mailed = finished
    app = _app(config)
    client = sign_in(app, "desk1")
    page = client.get("/handover")
    assert page.status_code == 200
    assert re.search(r'<label for="job_id">Scan the cover sheet or type the job number</label>',
                     page.text)
    assert re.search(r'<input id="job_id" name="job_id"[^>]* autofocus', page.text)
    csrf = _csrf(page.text)
    assert client.post("/handover/job", data={"job_id": "H1"}).status_code == 403
    wrong = client.post("/handover/job", data={"csrf": csrf, "job_id": "DOE^JANE 1970"})
    assert wrong.status_code == 400 and "DOE" not in wrong.text
    assert client.post("/handover/job", data={"csrf": csrf, "job_id": "Q1"}).status_code == 409
    form = client.post("/handover/job", data={"csrf": csrf, "job_id": "h1"})   # any capitals
    assert form.status_code == 200 and "Robin Tester" in form.text
    assert "disc 1 of 1, copy 1" in form.text and 'id="signature-pad"' in form.text
    assert 'name="tracking"' not in form.text
    no_id = client.post("/handover/record", data={"csrf": csrf, "job_id": "H1",
                                                   "receiver_kind": "patient"})
    assert no_id.status_code == 400 and "Check a photo ID" in no_id.text
    signature = _url(_png())
    done = client.post("/handover/record", data={
        "csrf": csrf, "job_id": "H1", "photo_id": "yes", "receiver_kind": "patient",
        "signature": signature})
    assert done.status_code == 200 and "The hand-over is recorded" in done.text
    assert desk.get(config, "H1").signature == _png()
    twice = client.post("/handover/record", data={
        "csrf": csrf, "job_id": "H1", "photo_id": "yes", "receiver_kind": "patient"})
    assert twice.status_code == 409 and "handed over already" in twice.text

    receipt = client.get("/handover/H1/receipt.pdf")
    assert receipt.status_code == 200 and receipt.headers["content-type"] == "application/pdf"
    assert receipt.content.startswith(b"%PDF") and "attachment" in \
        receipt.headers["content-disposition"]
    assert client.get("/handover/H2/receipt.pdf").status_code == 404
    printed = client.post("/handover/print", data={"csrf": csrf, "job_id": "H1"})
    assert printed.status_code == 200 and "Saved in the prints folder" in printed.text
    assert (config.data_dir / "prints" / "H1" / "receipt-H1.pdf").is_file()

    mail = client.post("/handover/job", data={"csrf": csrf, "job_id": "H2"})
    assert 'name="tracking"' in mail.text and 'name="photo_id"' not in mail.text
    assert 'value="Sam Tester"' in mail.text
    no_number = client.post("/handover/record", data={
        "csrf": csrf, "job_id": "H2", "receiver_kind": "representative",
        "receiver_name": "Sam Tester", "relationship": "daughter"})
    assert no_number.status_code == 400 and "tracking number" in no_number.text
    assert 'value="daughter"' in no_number.text, "what was typed is kept"

    log = _actions(config)
    assert ("desk1", "hand-over", "H1", "ok",
            f"to the patient; 1 disc(s)/stick(s); photo ID checked; signed; request {pickup}") \
        in log
    assert {a[1] for a in log} >= {"hand-over look-up", "hand-over", "print receipt"}
    assert not any("Tester" in str(a) or "TESTER" in str(a) for a in log)

    tech = sign_in(app, "tech")
    assert tech.get("/handover").status_code == 403
    assert tech.get("/handover/H1/receipt.pdf").status_code == 403
    assert tech.get(f"/requests/{pickup}/images").status_code == 403
    assert tech.post("/handover/record", data={"csrf": csrf, "job_id": "H2"}).status_code \
        == 403


def test_exams_other_than_those_asked_for_are_pointed_out() -> None:
    import datetime

    from burner.desk.intake import FoundStudy, scope_notes
    from burner.desk.register import Fee, Patient, Request, Requester, Scope

    def request(scope: Scope) -> Request:
        day = datetime.date(2026, 3, 1)
        return Request("RQ-2026-0001", Patient("A^B", "1", "X", day), Requester("patient"),
                       scope, "cd", "pickup", day, day, Fee("0", "USD", "flat"))

    found = [FoundStudy("1.2.1", "20260110", "CT CHEST", "ACC1", "CT", 1, 10, True),
             FoundStudy("1.2.2", "20250505", "MR KNEE", "ACC9", "MR", 1, 5, True)]
    notes = scope_notes(request(Scope(("acc1", "ACC2"))), found)
    assert notes == ["Asked for but not in this folder (by accession number): ACC2.",
                     "1 exam(s) in this folder were not asked for: 20250505 MR KNEE."]
    dated = scope_notes(request(Scope((), datetime.date(2026, 1, 1),
                                      datetime.date(2026, 2, 1))), found)
    assert dated == ["1 exam(s) in this folder are outside the dates asked for: 20250505."]
    assert scope_notes(request(Scope(("ACC1", "ACC9"))), found) == []


def test_exported_folders_made_into_jobs_go_after_the_retention_time(tmp_path: Path) -> None:
    import os

    from burner.config import load_config
    from burner.retention import clean
    from burner.state import StateDB

    path = tmp_path / "burner.toml"
    path.write_text(f'[station]\ndata_dir = "{tmp_path / "data"}"\n[retention]\ndays = 7\n')
    config = load_config(path)
    done = config.data_dir / "intake-done"
    old, new = done / "RQ-2026-0001-20260101-100000", done / "RQ-2026-0002-20260301-100000"
    for folder in (old, new):
        (folder / "dicom").mkdir(parents=True)
        (folder / "dicom" / "IM1").write_bytes(b"x" * 10)
    now = 1_800_000_000.0
    os.utime(old, (now - 8 * 86400, now - 8 * 86400))
    os.utime(new, (now - 6 * 86400, now - 6 * 86400))
    with StateDB(config.db_path) as db:
        gone = clean(config, db, now)
    assert [g.job_id for g in gone] == ["intake-done/RQ-2026-0001-20260101-100000"]
    assert not old.exists() and new.is_dir()
