"""The radiologist's reports of a job (DESIGN.md sections 3 and 4).

Each `reports` entry of job.json becomes a PDF (a PDF rewritten without scripts, actions or
attachments by burner.content.pdfsafe, plain text typeset into one and rewritten the same way)
that goes twice on the medium: as a file under REPORTS/ for people, and as an Encapsulated PDF
instance under DICOM/ of the right patient and study for a receiving PACS.
"""

from __future__ import annotations

import datetime
import io
import logging
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import pydicom
from pydicom.charset import python_encoding
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import EncapsulatedPDFStorage, ExplicitVRLittleEndian, generate_uid

import burner
from burner.config import Config
from burner.content.pdfsafe import MAX_BYTES, NotSafe, make_safe
from burner.dicom.codes import code_item
from burner.dicom.dicomdir import IMPLEMENTATION_UID
from burner.dicom.headers import Instance
from burner.dicom.names import same_name
from burner.errors import ConfigError, JobHeld, JobRejected
from burner.manifest import Manifest, ReportRef, resolve_inside
from burner.printout import fonts
from burner.printout.fit import wrap_spaced

HEADER = "Radiology report"
SERIES_NUMBER = 999
SERIES_DESCRIPTION = "REPORT"
# LOINC "Diagnostic imaging report", the document's concept (PS3.16 CID 7020).
REPORT_CONCEPT = ("18748-4", "LN", "Diagnostic imaging report")

# Study-level attributes (General Study and Patient Study modules) an encapsulated report
# copies from an image of its study, so the study looks the same in every file of the disc.
STUDY_KEYWORDS = (
    "StudyInstanceUID", "StudyDate", "StudyTime", "StudyID", "AccessionNumber",
    "ReferringPhysicianName", "StudyDescription", "PhysiciansOfRecord",
    "NameOfPhysiciansReadingStudy", "AdmittingDiagnosesDescription", "PatientAge",
    "PatientSize", "PatientWeight",
)
# How that image writes the patient (kept when it is the manifest's patient, see _patient).
PATIENT_KEYWORDS = ("PatientName", "PatientSex", "IssuerOfPatientID")
_TYPE2 = ("StudyDate", "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName")

log = logging.getLogger(__name__)


class MadeReport(NamedTuple):
    """A report made for the disc: where it came from and the files made of it."""

    rel: str            # the report's path in the job folder (as job.json names it)
    sop_instance: str   # the Encapsulated PDF instance's SOP Instance UID
    pdf: Path           # the PDF for REPORTS/ (rewritten safe, or typeset from text)
    dicom: Path         # the Encapsulated PDF instance
    size: int           # bytes of the PDF
    title: str          # Document Title, also the link text for people
    study_uid: str


# --- the PDF -------------------------------------------------------------------------------


def max_report_bytes(config: Config) -> int:
    """The largest report file the station accepts: `[reports] max_mb` (default 100)."""
    value = config.raw.get("reports", {}).get("max_mb", MAX_BYTES / 2**20)
    try:
        limit = int(float(value) * 2**20)
    except (TypeError, ValueError):
        limit = 0
    if limit <= 0:
        raise ConfigError("configuration: [reports] max_mb must be a number of megabytes above 0")
    return limit


def _read(path: Path, rel: str, max_bytes: int) -> bytes:
    try:
        with open(path, "rb") as fp:
            data = fp.read(max_bytes + 1)
    except OSError as exc:
        raise JobRejected(f"{rel}: the report could not be read ({exc.strerror}); "
                          "copy it into the job folder again") from None
    if len(data) > max_bytes:
        limit = f"{max_bytes / 2**20:g}"
        raise JobHeld(f"{rel}: the report is larger than {limit} MB, the most a report may be "
                      "on a disc; export it again from the reporting system without embedded "
                      "images or attachments (or ask a technician to raise [reports] max_mb in "
                      "the station settings), then retry")
    return data


# Why a PDF could not be made safe (pdfsafe.NotSafe.code), in words for the front desk.
_NOT_SAFE = {
    "password": "the report PDF is protected with a password, so it cannot be checked and "
                "made safe for a disc; export it again from the reporting system without a "
                "password, then retry",
    "active": "the report PDF holds scripts, actions or attached files that could not be "
              "removed safely; export it again from the reporting system as a plain PDF, "
              "then retry",
    "complex": "the report PDF is too large or complex to be checked and made safe for a "
               "disc; export it again from the reporting system as a plain PDF without "
               "attachments, then retry",
}
_DAMAGED = ("the report PDF is damaged and cannot be made safe for a disc; export it again "
            "from the reporting system, then retry")


def safe_pdf(rel: str, data: bytes) -> bytes:
    """The PDF `data` rewritten for a disc (pdfsafe.make_safe); a PDF that cannot be made safe
    holds the job (JobHeld), one cut off refuses it (JobRejected), each naming `rel`."""
    try:
        return make_safe(data)
    except NotSafe as exc:
        log.info("a report PDF was not made safe: %s", exc.code)   # no file name: it may be PHI
        if exc.code == "incomplete":
            raise JobRejected(f"{rel}: the report PDF is incomplete (it looks cut off); copy "
                              "or export it again, then submit the job again") from None
        raise JobHeld(f"{rel}: {_NOT_SAFE.get(exc.code, _DAMAGED)}") from None


def report_pdf(job_dir: Path, ref: ReportRef, *, max_bytes: int = MAX_BYTES) -> bytes:
    """The report `ref` as a safe PDF for a disc: a PDF rewritten without scripts, actions or
    attachments, a plain-text report typeset. Judged by content, never by name: a PDF is a
    file that starts with "%PDF-" (at byte 0, nowhere else), whatever its name.

    A file over `max_bytes` or a PDF that cannot be made safe holds the job (JobHeld); one that
    is neither PDF nor text is refused (JobRejected); each with a sentence naming the file.
    """
    path = resolve_inside(job_dir, ref.path)
    data = _read(path, ref.path, max_bytes)
    suffix = path.suffix.lower()
    if data.startswith(b"%PDF-"):
        return safe_pdf(ref.path, data)
    if suffix == ".pdf":
        raise JobRejected(f"{ref.path}: the report is named .pdf but is not a PDF file; export "
                          "the report as PDF again, then submit the job again")
    if suffix == ".txt":
        return safe_pdf(ref.path, text_to_pdf(_decode_text(ref.path, data)))
    raise JobRejected(f"{ref.path}: only PDF reports or plain-text (.txt) reports can go on a "
                      "disc; save the report as PDF, then submit the job again")


def _decode_text(rel: str, data: bytes) -> str:
    if b"\0" in data:
        raise JobRejected(f"{rel}: the report is named .txt but is not plain text; save it as "
                          "PDF or plain text, then submit the job again")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")   # older Windows exports
    if not text.strip():
        raise JobRejected(f"{rel}: the report is empty; add the report text or leave the "
                          "report out of job.json, then submit the job again")
    return text


def text_to_pdf(text: str, *, title: str = HEADER) -> bytes:
    """A plain-text report typeset on A4: header, wrapped lines, "Page n of N"."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen import canvas

    regular, bold = fonts.fonts()
    size, leading, margin = 10.5, 14.0, 56.0
    page_w, page_h = A4
    top = page_h - margin - 30          # below the header
    per_page = int((top - margin - 20) // leading)
    pages: list[list[str]] = []
    for block in text.replace("\r\n", "\n").replace("\r", "\n").split("\f"):
        lines: list[str] = []
        for raw in block.expandtabs(4).split("\n"):
            clean = "".join(c for c in raw if c.isprintable())
            lines += wrap_spaced(clean, page_w - 2 * margin,
                                 lambda s: stringWidth(s, regular, size))
        while lines and not lines[-1]:
            lines.pop()
        pages += [lines[i:i + per_page] for i in range(0, max(len(lines), 1), per_page)]
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, pagesize=A4, invariant=True)
    pdf.setTitle(title)
    pdf.setCreator(f"burner {burner.__version__}")
    for number, lines in enumerate(pages, 1):
        pdf.setFont(bold, 14)
        pdf.drawString(margin, page_h - margin, title)
        pdf.setLineWidth(0.5)
        pdf.line(margin, page_h - margin - 8, page_w - margin, page_h - margin - 8)
        pdf.setFont(regular, size)
        for n, line in enumerate(lines):
            pdf.drawString(margin, top - n * leading, line)
        pdf.setFont(regular, 9)
        pdf.drawCentredString(page_w / 2, margin - 20, f"Page {number} of {len(pages)}")
        pdf.showPage()
    pdf.save()
    return buf.getvalue()


# --- the Encapsulated PDF instance ---------------------------------------------------------


def study_attributes(path: Path) -> dict:
    """Study-level attributes of the DICOM file `path`, how it writes the patient, and its
    Specific Character Set."""
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    out: dict = {}
    charset = ds.get("SpecificCharacterSet")
    if charset:
        out["SpecificCharacterSet"] = charset if isinstance(charset, str) \
            else [str(c) for c in charset]
    for keyword in STUDY_KEYWORDS + PATIENT_KEYWORDS:
        value = ds.get(keyword)
        if value is None:
            continue
        if isinstance(value, pydicom.multival.MultiValue):
            value = [str(v) for v in value]
        elif isinstance(value, pydicom.valuerep.PersonName | pydicom.valuerep.DSfloat
                        | pydicom.valuerep.IS):
            value = str(value)
        out[keyword] = value
    return out




def _patient(ds: Dataset, manifest: Manifest, study: dict) -> None:
    """Patient module from the manifest; where the study's image writes the same patient
    differently (case, accents, a sex the manifest leaves out), its spelling is kept so the
    disc describes the patient the same way in every file."""
    seen_name = str(study.get("PatientName") or "")
    ds.PatientName = seen_name if same_name(seen_name, manifest.patient_name) \
        else manifest.patient_name
    ds.PatientID = manifest.patient_id.strip()
    issuer = str(study.get("IssuerOfPatientID") or "").strip() or manifest.patient_issuer
    if issuer:
        ds.IssuerOfPatientID = issuer
    ds.PatientBirthDate = manifest.patient_birth_date.strftime("%Y%m%d")
    ds.PatientSex = str(study.get("PatientSex") or "").strip() or manifest.patient_sex


def _texts(ds: Dataset) -> list[str]:
    out = []
    for elem in ds.iterall():
        values = elem.value if isinstance(elem.value, list | tuple) else [elem.value]
        out += [str(v) for v in values if isinstance(v, str | pydicom.valuerep.PersonName)]
    return out


def character_set(ds: Dataset, seen: object) -> str | list[str] | None:
    """The Specific Character Set for `ds`: the one of the study's image (`seen`) when it
    holds every text, so names read byte for byte the same in every file; else UTF-8."""
    texts = _texts(ds)
    if all(t.isascii() for t in texts):
        return seen or None  # type: ignore[return-value]
    single = seen if isinstance(seen, str) else seen[0] if isinstance(seen, list) \
        and len(seen) == 1 else None
    codec = python_encoding.get(single) if single and "2022" not in single else None
    if codec:
        try:
            for text in texts:
                text.encode(codec)
            return single
        except UnicodeEncodeError:
            pass
    return "ISO_IR 192"


def encapsulate(pdf: bytes, manifest: Manifest, study: dict, out: Path, *, title: str,
                instance_number: int, series_uid: str | None = None,
                series_number: int = SERIES_NUMBER) -> Path:
    """Write `pdf` as an Encapsulated PDF Storage instance (Explicit VR LE, Part 10) at `out`.

    `study` holds the study-level attributes of an image of the report's study
    (study_attributes()); they are copied as they are. Without `series_uid` the instance starts
    a series of its own.
    """
    now = datetime.datetime.now()
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    ds = Dataset()
    ds.SOPClassUID = EncapsulatedPDFStorage
    ds.SOPInstanceUID = generate_uid()
    ds.InstanceCreationDate, ds.InstanceCreationTime = date, time
    _patient(ds, manifest, study)
    for keyword in STUDY_KEYWORDS:
        if keyword in study:
            setattr(ds, keyword, study[keyword])
    for keyword in _TYPE2:
        if keyword not in ds:
            setattr(ds, keyword, "")
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.SeriesNumber = series_number
    ds.SeriesDescription = SERIES_DESCRIPTION
    ds.Manufacturer = "burner"
    ds.SoftwareVersions = burner.__version__
    ds.ConversionType = "WSD"
    ds.InstanceNumber = instance_number
    ds.ContentDate, ds.ContentTime = date, time
    ds.AcquisitionDateTime = date + time
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = title
    ds.ConceptNameCodeSequence = [code_item(*REPORT_CONCEPT)]
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.EncapsulatedDocument = pdf + (b"\0" if len(pdf) % 2 else b"")
    charset = character_set(ds, study.get("SpecificCharacterSet"))
    if charset:
        ds.SpecificCharacterSet = charset
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"BURNER_{burner.__version__}"[:16]
    ds.file_meta = meta
    out.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(out, enforce_file_format=True)
    return out


# --- every report of a job -----------------------------------------------------------------


def _studies(instances: Iterable[Instance]) -> OrderedDict[str, Instance]:
    """Each study of the job, with one object to copy its attributes from (an image if any)."""
    found: OrderedDict[str, Instance] = OrderedDict()
    for inst in instances:
        if not inst.study_uid:
            continue
        if inst.study_uid not in found or (found[inst.study_uid].record != "IMAGE"
                                           and inst.record == "IMAGE"):
            found[inst.study_uid] = inst
    return found


def study_for(ref: ReportRef, studies: list[str]) -> str:
    """The Study Instance UID the report `ref` belongs to, among the job's `studies`."""
    if ref.study_instance_uid:
        if ref.study_instance_uid not in studies:
            raise JobHeld(f"The report {ref.path} is for an exam that is not in this release. "
                          "Add the exam's images to the job, or correct the report's "
                          "study_instance_uid in job.json, then retry.",
                          [f"{ref.path}: exam {ref.study_instance_uid}"])
        return ref.study_instance_uid
    if len(studies) == 1:
        return studies[0]
    raise JobRejected(f"{ref.path}: this release holds {len(studies)} exams, so job.json must "
                      "say which exam the report belongs to; add \"study_instance_uid\" to the "
                      "report's entry under \"reports\", then submit the job again")


def _title(study: dict) -> str:
    description = str(study.get("StudyDescription") or "").strip()
    return f"{HEADER}: {description}" if description else HEADER


def make_reports(job_dir: Path, manifest: Manifest, instances: list[Instance],
                 out: Path, *, max_bytes: int = MAX_BYTES) -> list[MadeReport]:
    """For every report of `manifest`: its safe PDF and its Encapsulated PDF instance, in `out`.

    Every report is checked before anything is written: a file that is not a PDF or text
    refuses the job (JobRejected); a report for an exam not in the job, over `max_bytes`, or
    a PDF that cannot be made safe holds it (JobHeld).
    """
    if not manifest.reports:
        return []
    studies = _studies(instances)
    rejected: list[str] = []
    held: list[JobHeld] = []
    prepared: list[tuple[ReportRef, bytes, str]] = []
    for ref in manifest.reports:
        try:
            pdf = report_pdf(job_dir, ref, max_bytes=max_bytes)
            prepared.append((ref, pdf, study_for(ref, list(studies))))
        except JobRejected as exc:
            rejected.append(str(exc))
        except JobHeld as exc:
            held.append(exc)
    if rejected:
        raise JobRejected("\n".join(rejected))
    if len(held) == 1:
        raise held[0]
    if held:
        raise JobHeld(f"{len(held)} reports cannot go on a disc as they are; each is listed "
                      "below with what to do, then retry.",
                      [line for h in held for line in (str(h), *h.details)])
    out.mkdir(parents=True, exist_ok=True)
    series: dict[str, tuple[str, int, list[int]]] = {}   # study -> (uid, number, [count])
    made: list[MadeReport] = []
    for n, (ref, pdf, study_uid) in enumerate(prepared, 1):
        attributes = study_attributes(studies[study_uid].path)
        if study_uid not in series:
            used = {str(i.get("SeriesNumber")) for i in instances if i.study_uid == study_uid}
            number = SERIES_NUMBER
            while str(number) in used:
                number += 1
            series[study_uid] = (generate_uid(), number, [0])
        uid, number, count = series[study_uid]
        count[0] += 1
        pdf_path = out / f"REPORT{n}.PDF"
        pdf_path.write_bytes(pdf)
        title = _title(attributes)
        dicom = encapsulate(pdf, manifest, attributes, out / f"REPORT{n}.dcm", title=title,
                            instance_number=count[0], series_uid=uid, series_number=number)
        sop_instance = str(pydicom.dcmread(dicom, stop_before_pixels=True,
                                           specific_tags=["SOPInstanceUID"]).SOPInstanceUID)
        made.append(MadeReport(ref.path, sop_instance, pdf_path, dicom, len(pdf), title,
                               study_uid))
    return made


def disc_name(number: int) -> str:
    """The ISO 9660 level-1 name of the `number`th report under REPORTS/ (REPORT1.PDF ...)."""
    return f"REPORT{number}.PDF" if number < 100 else f"R{number:07d}.PDF"
