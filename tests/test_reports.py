"""Reports on the medium: REPORTS/*.PDF for people, Encapsulated PDF in DICOM/ for a PACS.

A job with a PDF report and a plain-text report is built for CD and DVD; the files on the
medium are checked byte for byte, with `pdftotext`, and with dicom3tools (`dciodvfy`,
`dcentvfy`). Reports that cannot go on a disc are held or refused in plain words.
"""

from __future__ import annotations

import io
import json
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import pycdlib
import pydicom
import pytest
from conftest import (
    error_lines,
    make_job_folder,
    new_station,
    output_of,
    quiet_read,
    require_tool,
    run_tool,
    study_patient,
)
from pydicom.dataset import Dataset
from pydicom.fileset import FileSet
from pydicom.uid import EncapsulatedPDFStorage

from burner import synth
from burner.build import BuildOutcome, build_job
from burner.config import load_config
from burner.content.reports import encapsulate, report_pdf, text_to_pdf
from burner.errors import JobRejected
from burner.manifest import ReportRef, validate_manifest
from burner.media.checksums import LIST_NAME, parse_list
from burner.media.medium import check_medium
from burner.printout.fit import wrap_spaced as wrap
from burner.record import JobRecord, Staged

TEXT_REPORT = ("CT CHEST\r\n\r\nFindings: no focal lesion. Reviewed with Dr. Müller.\r\n"
               "Impression:\tnormal study; Ærø Straße café.\r\n")
PDF_WORDS = "Synthetic PDF report for the station tests"


def make_pdf(text: str) -> bytes:
    """A small one-page PDF made with reportlab."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, pagesize=A4)
    pdf.drawString(72, 770, text)
    pdf.showPage()
    pdf.save()
    return buf.getvalue()


def add_reports(job_dir: Path, reports: dict[str, bytes], entries: list[dict],
                **changes: object) -> dict:
    """Write `reports` ({path in job: bytes}) and list `entries` under "reports" in job.json."""
    manifest = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
    for rel, data in reports.items():
        (job_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (job_dir / rel).write_bytes(data)
    manifest["reports"] = entries
    manifest.update(changes)
    (job_dir / "job.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def study_uid_of(manifest: dict) -> str:
    return manifest["studies"][0]["study_instance_uid"]


def report_job(job_dir: Path, media: str = "auto") -> tuple[dict, bytes]:
    """A small CT job with a PDF report (named study) and a text report (study implied)."""
    manifest = make_job_folder(job_dir, slices=3)
    pdf = make_pdf(PDF_WORDS)
    manifest = add_reports(
        job_dir,
        {"reports/ct-chest.pdf": pdf, "reports/addendum.txt": TEXT_REPORT.encode("utf-8")},
        [{"path": "reports/ct-chest.pdf", "study_instance_uid": study_uid_of(manifest)},
         {"path": "reports/addendum.txt"}],
        media={"type": media, "copies": 1})
    return manifest, pdf


def build(base: Path, job_dir: Path) -> BuildOutcome:
    config_file = base / "burner.toml"
    config_file.write_text(f'[station]\ndata_dir = "{base / "data"}"\n', encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_job(load_config(config_file), job_dir, base / "out")


@dataclass
class Built:
    manifest: dict
    pdf: bytes
    outcome: BuildOutcome
    tree: Path
    image: Path
    staged: Staged

    def encapsulated(self) -> list[tuple[Path, Dataset]]:
        """The Encapsulated PDF files under DICOM/, in File ID order."""
        found = []
        for path in sorted(p for p in (self.tree / "DICOM").rglob("*") if p.is_file()):
            ds = quiet_read(path)
            if ds.SOPClassUID == EncapsulatedPDFStorage:
                found.append((path, ds))
        return found


@pytest.fixture(scope="module", params=["cd", "dvd"])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Built:
    base = tmp_path_factory.mktemp(f"reports-{request.param}")
    job_dir = base / "R-REPORTS"
    manifest, pdf = report_job(job_dir, request.param)
    outcome = build(base, job_dir)
    assert outcome.exit_code == 0, outcome.summary()
    assert outcome.problems == [], outcome.summary()
    (volume,) = outcome.volumes
    assert volume["media"] == request.param
    staged = JobRecord(base / "out" / ".work").staged
    return Built(manifest, pdf, outcome, Path(volume["tree"]), Path(volume["image"]), staged)


def pdf_text(path: Path) -> str:
    proc = run_tool([require_tool("pdftotext"), "-enc", "UTF-8", str(path), "-"])
    assert proc.returncode == 0, output_of(proc)
    return proc.stdout


# --- what is on the medium -------------------------------------------------------------------


def test_reports_folder_holds_the_pdfs(built: Built) -> None:
    """REPORT1.PDF is the input PDF rewritten (never copied) with its text and pages;
    REPORT2.PDF is the text report typeset."""
    folder = built.tree / "REPORTS"
    assert sorted(p.name for p in folder.iterdir()) == ["REPORT1.PDF", "REPORT2.PDF"]
    assert (folder / "REPORT1.PDF").read_bytes() != built.pdf
    assert PDF_WORDS in pdf_text(folder / "REPORT1.PDF")
    info = run_tool([require_tool("pdfinfo"), str(folder / "REPORT1.PDF")])
    assert re.search(r"(?m)^Pages:\s+1$", info.stdout), output_of(info)
    typeset = folder / "REPORT2.PDF"
    assert typeset.read_bytes().startswith(b"%PDF-")
    text = pdf_text(typeset)
    for words in ("Radiology report", "Reviewed with Dr. Müller.", "Ærø Straße café",
                  "Page 1 of 1"):
        assert words in text, text


def test_reports_are_in_the_checksum_list(built: Built) -> None:
    listed = parse_list((built.tree / LIST_NAME).read_text(encoding="ascii"))
    assert {"REPORTS/REPORT1.PDF", "REPORTS/REPORT2.PDF"} <= set(listed)
    report = check_medium(built.image)
    assert report.ok, report.as_dict()


def test_stage_result_lists_reports_per_volume(built: Built) -> None:
    """The stage's result names each volume's REPORTS/ files for the pages and printouts."""
    (volume,) = built.staged.volumes
    uid = study_uid_of(built.manifest)
    assert [(name, study) for name, _, study in volume.reports] == [
        ("REPORT1.PDF", uid), ("REPORT2.PDF", uid)]
    assert all(title.startswith("Radiology report") for _, title, _ in volume.reports)
    (disc,) = built.staged.summary.volumes
    assert [r.href for r in disc.reports] == ["REPORTS/REPORT1.PDF", "REPORTS/REPORT2.PDF"]


def test_encapsulated_instances_hold_the_pdfs(built: Built) -> None:
    """Two Encapsulated PDF instances, of the job's patient and study, each holding a PDF."""
    found = built.encapsulated()
    assert len(found) == 2
    image = quiet_read(next((built.tree / "DICOM").rglob("IM000001")), stop_before_pixels=True)
    for (path, ds), name in zip(found, ("REPORT1.PDF", "REPORT2.PDF"), strict=True):
        document = bytes(ds.EncapsulatedDocument)
        length = int(ds.EncapsulatedDocumentLength)
        assert len(document) - length in (0, 1), path
        assert document[:length] == (built.tree / "REPORTS" / name).read_bytes()
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        assert ds.MIMETypeOfEncapsulatedDocument == "application/pdf"
        assert ds.Modality == "DOC" and ds.BurnedInAnnotation == "YES"
        assert ds.ConceptNameCodeSequence[0].CodeValue == "18748-4"
        for keyword in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex",
                        "StudyInstanceUID", "StudyDate", "StudyTime", "StudyID",
                        "AccessionNumber", "ReferringPhysicianName", "StudyDescription"):
            assert ds.get(keyword) == image.get(keyword), keyword
        assert ds.SeriesInstanceUID != image.SeriesInstanceUID
    assert found[0][1].SeriesInstanceUID == found[1][1].SeriesInstanceUID
    assert [int(ds.InstanceNumber) for _, ds in found] == [1, 2]


def test_dicomdir_has_encap_doc_records_under_the_study(built: Built) -> None:
    fileset = FileSet(quiet_read(built.tree / "DICOMDIR"))
    docs = [inst for inst in fileset if inst.SOPClassUID == EncapsulatedPDFStorage]
    assert len(docs) == 2
    for inst in docs:
        node = inst.node
        assert node.record_type == "ENCAP DOC"
        assert node._record.MIMETypeOfEncapsulatedDocument == "application/pdf"
        study = node.parent.parent
        assert study.record_type == "STUDY"
        assert study._record.StudyInstanceUID == study_uid_of(built.manifest)


def test_dciodvfy_on_reports_and_dicomdir(built: Built) -> None:
    tool = require_tool("dciodvfy")
    for path, _ in built.encapsulated():
        proc = run_tool([tool, str(path)])
        assert error_lines(output_of(proc)) == [], output_of(proc)
    proc = run_tool([tool, "DICOMDIR"], cwd=built.tree)
    assert error_lines(output_of(proc)) == [], output_of(proc)


def test_dcentvfy_over_all_files(built: Built) -> None:
    """Patient and study read the same in the images and the reports."""
    files = [str(p) for p in sorted((built.tree / "DICOM").rglob("*")) if p.is_file()]
    proc = run_tool([require_tool("dcentvfy"), *files])
    assert error_lines(output_of(proc)) == [], output_of(proc)


# --- reports that cannot go on a disc --------------------------------------------------------


def test_report_for_an_exam_not_in_the_job_holds_it(tmp_path: Path) -> None:
    job_dir = tmp_path / "R-ELSEWHERE"
    make_job_folder(job_dir)
    manifest = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
    del manifest["studies"]
    (job_dir / "job.json").write_text(json.dumps(manifest), encoding="utf-8")
    add_reports(job_dir, {"reports/other.pdf": make_pdf("other exam")},
                [{"path": "reports/other.pdf", "study_instance_uid": "1.2.3.999"}])
    outcome = build(tmp_path, job_dir)
    assert outcome.held and outcome.exit_code == 3, outcome.summary()
    assert "reports/other.pdf is for an exam that is not in this release" in outcome.problems[0]
    assert not outcome.volumes


def test_word_document_report_is_refused(tmp_path: Path) -> None:
    job_dir = tmp_path / "R-DOCX"
    make_job_folder(job_dir)
    add_reports(job_dir, {"reports/letter.docx": b"PK\x03\x04 not really a document"},
                [{"path": "reports/letter.docx"}])
    outcome = build(tmp_path, job_dir)
    assert outcome.rejected and outcome.exit_code == 2, outcome.summary()
    (problem,) = outcome.problems
    assert problem.startswith("reports/letter.docx: only PDF reports or plain-text (.txt)")
    assert "Traceback" not in problem and "\n" not in problem


def test_report_without_study_in_a_job_of_two_exams_is_refused(tmp_path: Path) -> None:
    job_dir = tmp_path / "R-TWO"
    manifest = make_job_folder(job_dir)
    synth.make_ct_study(job_dir / "dicom" / "second", study_patient(), slices=2, rows=64,
                        cols=64, accession="TESTACC2")
    del manifest["studies"]
    (job_dir / "job.json").write_text(json.dumps(manifest), encoding="utf-8")
    add_reports(job_dir, {"reports/r.pdf": make_pdf("which exam?")}, [{"path": "reports/r.pdf"}])
    outcome = build(tmp_path, job_dir)
    assert outcome.rejected, outcome.summary()
    assert "reports/r.pdf: this release holds 2 exams" in outcome.problems[0]
    assert '"study_instance_uid"' in outcome.problems[0]


@pytest.mark.parametrize(("name", "data", "words"), [
    ("fake.pdf", b"<html>not a pdf</html>", "is named .pdf but is not a PDF file"),
    ("cut.pdf", make_pdf("x")[:200], "is incomplete"),
    ("empty.txt", b" \r\n", "is empty"),
    ("binary.txt", b"\x00\x01\x02", "is not plain text"),
])
def test_unusable_report_files_are_named(tmp_path: Path, name: str, data: bytes,
                                         words: str) -> None:
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / name).write_bytes(data)
    with pytest.raises(JobRejected) as caught:
        report_pdf(tmp_path, ReportRef(f"reports/{name}"))
    assert str(caught.value).startswith(f"reports/{name}: ")
    assert words in str(caught.value)


def test_latin1_text_report_and_long_text_are_typeset(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_bytes("Befund: Müller\n".encode("cp1252") + b"word " * 2000)
    pdf = report_pdf(tmp_path, ReportRef("old.txt"))
    (tmp_path / "old.pdf").write_bytes(pdf)
    text = pdf_text(tmp_path / "old.pdf")
    assert "Befund: Müller" in text and "Page 1 of " in text and "Page 2 of " in text
    assert text_to_pdf("a").startswith(b"%PDF-")


def test_wrap_keeps_indents_and_cuts_long_words() -> None:
    def measure(text: str) -> float:
        return float(len(text))

    assert wrap("  - one two three", 10, measure) == ["  - one", "two three"]
    assert wrap("x" * 25, 10, measure) == ["x" * 10, "x" * 10, "x" * 5]
    assert wrap("   ", 10, measure) == [""]


# --- through the station -------------------------------------------------------------------


@pytest.mark.slow
def test_station_burns_reports_and_verify_passes(tmp_path: Path) -> None:
    station = new_station(tmp_path / "station")
    staging = station.folder("incoming") / "RPT1"
    _, pdf = report_job(staging)
    target = station.folder("approved") / "RPT1"
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(staging, target)
    proc = station.cli("run", "--once")
    assert proc.returncode == 0, proc.stderr
    assert station.where("RPT1") == ["done"]
    result = json.loads((station.folder("done") / "RPT1" / "result.json").read_text())
    medium = Path(result["copies"][0]["medium"])
    listing = run_tool([require_tool("isoinfo"), "-f", "-i", str(medium)])
    names = set(listing.stdout.split())
    assert {"/REPORTS/REPORT1.PDF;1", "/REPORTS/REPORT2.PDF;1"} <= names, listing.stdout
    iso = pycdlib.PyCdlib()
    iso.open(str(medium))
    try:
        burned = io.BytesIO()
        iso.get_file_from_iso_fp(burned, iso_path="/REPORTS/REPORT1.PDF;1")
    finally:
        iso.close()
    assert burned.getvalue().startswith(b"%PDF-") and burned.getvalue() != pdf   # rewritten
    (tmp_path / "burned.pdf").write_bytes(burned.getvalue())
    assert PDF_WORDS in pdf_text(tmp_path / "burned.pdf")
    check = station.cli("verify", str(medium))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "OK: every file matches" in check.stdout
    report = check_medium(medium)
    assert report.ok, report.as_dict()


# --- character sets ---------------------------------------------------------------------------


def test_accented_patient_reads_the_same_in_images_and_reports(tmp_path: Path) -> None:
    """Images in ISO_IR 100 with an accented name and description: the report uses the same
    character set, and every object carries the approved name as the release writes it, so
    dcentvfy finds the same bytes in every file."""
    patient = synth.Patient(id="U1", name="MÜLLER^JÖRG", birth_date="19700101", sex="M")
    job_dir = tmp_path / "R-UMLAUT"
    for path in synth.make_ct_study(job_dir / "dicom", patient, slices=2, rows=64, cols=64):
        ds = quiet_read(path)
        ds.StudyDescription = "SCHÄDEL NATIV"
        ds.save_as(path)
    manifest = {"version": 1, "media": {"type": "dvd"},
                "patient": {"id": "U1", "name": "Müller^Jörg", "birth_date": "1970-01-01"},
                "approval": {"by": "tester", "at": "2026-01-05T09:30:00Z"}}
    (job_dir / "job.json").write_text(json.dumps(manifest), encoding="utf-8")
    add_reports(job_dir, {"r.txt": "Schädel: o.B.".encode()}, [{"path": "r.txt"}])
    outcome = build(tmp_path, job_dir)
    assert outcome.exit_code == 0, outcome.summary()
    tree = Path(outcome.volumes[0]["tree"])
    files = [p for p in sorted((tree / "DICOM").rglob("*")) if p.is_file()]
    (report,) = [p for p in files if quiet_read(p).SOPClassUID == EncapsulatedPDFStorage]
    ds = quiet_read(report)
    assert ds.SpecificCharacterSet == "ISO_IR 100"
    assert ds.PatientName == "Müller^Jörg" and ds.DocumentTitle.endswith("SCHÄDEL NATIV")
    assert {str(quiet_read(p).PatientName) for p in files} == {"Müller^Jörg"}
    proc = run_tool([require_tool("dcentvfy"), *map(str, files)])
    assert error_lines(output_of(proc)) == [], output_of(proc)
    proc = run_tool([require_tool("dciodvfy"), str(report)])
    assert error_lines(output_of(proc)) == [], output_of(proc)


def test_names_beyond_latin1_are_written_in_utf8(tmp_path: Path) -> None:
    manifest = validate_manifest(
        {"version": 1, "patient": {"id": "P1", "name": "Wójcik^Łucja", "birth_date":
                                   "1980-02-03", "sex": "F", "issuer": "GENHOSP"},
         "approval": {"by": "tester", "at": "2026-01-05T09:30:00Z"}}, "J1")
    study = {"StudyInstanceUID": "1.2.3.4", "StudyDate": "20260101", "StudyTime": "101500",
             "SpecificCharacterSet": "ISO_IR 100"}
    out = encapsulate(make_pdf("x"), manifest, study, tmp_path / "r.dcm", title="Raport",
                      instance_number=1)
    ds = quiet_read(out)
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert ds.PatientName == "Wójcik^Łucja" and ds.IssuerOfPatientID == "GENHOSP"
    assert ds.PatientBirthDate == "19800203" and ds.StudyInstanceUID == "1.2.3.4"
    assert ds.SeriesNumber == 999 and ds.SeriesDescription == "REPORT"
    proc = run_tool([require_tool("dciodvfy"), str(out)])
    assert error_lines(output_of(proc)) == [], output_of(proc)


def test_the_viewer_links_the_reports(built: Built) -> None:
    text = (built.tree / "VIEWER" / "DATA" / "INDEX.JS").read_text(encoding="ascii")
    index = json.loads(text[len("BURNER.index("):-3])
    hrefs = [r["href"] for r in index["reports"]]
    assert hrefs == ["../REPORTS/REPORT1.PDF", "../REPORTS/REPORT2.PDF"]
    assert all((built.tree / "VIEWER" / h).resolve().is_file() for h in hrefs)
