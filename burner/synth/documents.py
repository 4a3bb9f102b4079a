"""Synthetic documents: SR report, key object selection, presentation state, encapsulated PDF."""

from __future__ import annotations

import io
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import UID, EncapsulatedPDFStorage

from burner.dicom.codes import code_item
from burner.synth.common import (
    INSTITUTION,
    OPERATOR,
    RADIOLOGIST,
    Patient,
    _base,
    _SeriesKind,
    _single_path,
    _Study,
    _study,
    _write,
)
from burner.synth.phantom import VERTEBRA
from burner.synth.references import (
    _evidence,
    _pixel,
    _Ref,
    _referencing,
    _series_items,
    _sop_item,
)

BASIC_TEXT_SR = UID("1.2.840.10008.5.1.4.1.1.88.11")
KEY_OBJECT_SELECTION = UID("1.2.840.10008.5.1.4.1.1.88.59")
GRAYSCALE_PR = UID("1.2.840.10008.5.1.4.1.1.11.1")

_REPORT_SERIES = _SeriesKind(BASIC_TEXT_SR, "SR", 900, "RADIOLOGY REPORT", 60)
_KEY_SERIES = _SeriesKind(KEY_OBJECT_SELECTION, "KO", 901, "KEY IMAGES", 61)
_PR_SERIES = _SeriesKind(GRAYSCALE_PR, "PR", 902, "PRESENTATION STATE", 62)
_PDF_SERIES = _SeriesKind(EncapsulatedPDFStorage, "DOC", 903, "REPORT PDF", 63)
# The concept of both reports, the SR and the PDF.
_IMAGING_REPORT = ("18748-4", "LN", "Diagnostic Imaging Report")


def _content_item(
    relationship: str, value_type: str, concept: Dataset | None = None, **values: object
) -> Dataset:
    """One SR content item."""
    item = Dataset()
    item.RelationshipType = relationship
    item.ValueType = value_type
    if concept is not None:
        item.ConceptNameCodeSequence = [concept]
    for name, value in values.items():
        setattr(item, name, value)
    return item


def _image_item(ref: _Ref) -> Dataset:
    """An IMAGE content item referencing `ref`."""
    return _content_item("CONTAINS", "IMAGE", ReferencedSOPSequence=[_sop_item(ref)])


def _sr_document(
    patient: Patient, study: _Study, kind: _SeriesKind, concept: Dataset, template: str
) -> Dataset:
    """An SR document up to its content: SR Document General and root CONTAINER attributes."""
    ds = _base(patient, study, kind)
    ds.ReferencedPerformedProcedureStepSequence = []
    ds.ContentDate, ds.ContentTime = ds.SeriesDate, ds.SeriesTime
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [concept]
    ds.ContinuityOfContent = "SEPARATE"
    tid = Dataset()
    tid.MappingResource = "DCMR"
    tid.TemplateIdentifier = template
    ds.ContentTemplateSequence = [tid]
    return ds


def make_basic_sr(
    out_dir: Path, patient: Patient, *, study_uid: str, referenced: list[Path] | None = None
) -> Path:
    """A verified, complete Basic Text SR report (TID 2000 shape) citing `referenced` images."""
    refs, study = _referencing(study_uid, referenced)
    ds = _sr_document(patient, study, _REPORT_SERIES, code_item(*_IMAGING_REPORT), "2000")
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "VERIFIED"
    observer = Dataset()
    observer.VerifyingObserverName = RADIOLOGIST
    observer.VerifyingObserverIdentificationCodeSequence = []
    observer.VerifyingOrganization = INSTITUTION
    observer.VerificationDateTime = ds.ContentDate + ds.ContentTime
    ds.VerifyingObserverSequence = [observer]
    ds.PerformedProcedureCodeSequence = []
    if refs:
        ds.CurrentRequestedProcedureEvidenceSequence = _evidence(refs)
    language = _content_item(
        "HAS CONCEPT MOD",
        "CODE",
        code_item("121049", "DCM", "Language of Content Item and Descendants"),
        ConceptCodeSequence=[code_item("en", "RFC5646", "English")],
    )
    sections = []
    for heading, heading_text, concept, text in (
        ("121060", "History", ("121060", "History"), "Synthetic test data - not a real patient."),
        (
            "121070",
            "Findings",
            ("121071", "Finding"),
            "Lungs are clear. No focal lesion. Bones unremarkable.",
        ),
        ("121072", "Impressions", ("121073", "Impression"), "Normal synthetic phantom study."),
    ):
        section = _content_item("CONTAINS", "CONTAINER", code_item(heading, "DCM", heading_text))
        section.ContinuityOfContent = "SEPARATE"
        concept_code = code_item(concept[0], "DCM", concept[1])
        children = [_content_item("CONTAINS", "TEXT", concept_code, TextValue=text)]
        if heading == "121070":
            children += [_image_item(r) for r in refs[:3]]
        section.ContentSequence = children
        sections.append(section)
    ds.ContentSequence = [language, *sections]
    return _write(ds, _single_path(out_dir, "SR", ds))


def make_key_object(
    out_dir: Path, patient: Patient, *, study_uid: str, referenced: list[Path]
) -> Path:
    """A Key Object Selection document (TID 2010, "Of Interest") flagging `referenced` images."""
    refs, study = _referencing(
        study_uid, referenced, "a key object selection needs at least one referenced image"
    )
    of_interest = code_item("113000", "DCM", "Of Interest")
    ds = _sr_document(patient, study, _KEY_SERIES, of_interest, "2010")
    ds.CurrentRequestedProcedureEvidenceSequence = _evidence(refs)
    description = _content_item(
        "CONTAINS",
        "TEXT",
        code_item("113012", "DCM", "Key Object Description"),
        TextValue="Key images of the synthetic study.",
    )
    ds.ContentSequence = [description, *[_image_item(r) for r in refs]]
    return _write(ds, _single_path(out_dir, "KO", ds))


def make_presentation_state(
    out_dir: Path, patient: Patient, *, study_uid: str, referenced: list[Path]
) -> Path:
    """A Grayscale Softcopy Presentation State: window, a circle and a text on `referenced`."""
    refs, study = _referencing(
        study_uid, referenced, "a presentation state needs at least one referenced image"
    )
    first = refs[0]
    ds = _base(patient, study, _PR_SERIES)
    ds.BodyPartExamined = "CHEST"
    ds.OperatorsName = OPERATOR
    ds.ContentLabel = "SYNTHETIC"
    ds.ContentDescription = "Soft tissue window with spine marked"
    ds.PresentationCreationDate, ds.PresentationCreationTime = ds.SeriesDate, ds.SeriesTime
    ds.ContentCreatorName = RADIOLOGIST
    ds.ReferencedSeriesSequence = _series_items(refs, "ReferencedImageSequence")
    area = Dataset()
    area.DisplayedAreaTopLeftHandCorner = [1, 1]
    area.DisplayedAreaBottomRightHandCorner = [first.cols, first.rows]
    area.PresentationSizeMode = "SCALE TO FIT"
    area.PresentationPixelSpacing = list(first.spacing)
    ds.DisplayedAreaSelectionSequence = [area]
    layer = Dataset()
    layer.GraphicLayer = "ANNOTATION"
    layer.GraphicLayerOrder = 1
    layer.GraphicLayerDescription = "Synthetic annotation"
    ds.GraphicLayerSequence = [layer]
    cx, cy = _pixel(first, *VERTEBRA[:2])
    radius = VERTEBRA[2] * first.cols / 2 * 1.3
    circle = Dataset()
    circle.GraphicAnnotationUnits = "PIXEL"
    circle.GraphicDimensions = 2
    circle.NumberOfGraphicPoints = 2
    circle.GraphicData = [cx, cy, cx + radius, cy]
    circle.GraphicType = "CIRCLE"
    circle.GraphicFilled = "N"
    text = Dataset()
    text.BoundingBoxAnnotationUnits = "PIXEL"
    text.UnformattedTextValue = "Synthetic - not a real patient"
    text.BoundingBoxTopLeftHandCorner = [2.0, 2.0]
    text.BoundingBoxBottomRightHandCorner = [first.cols * 0.8, first.rows * 0.1]
    text.BoundingBoxTextHorizontalJustification = "LEFT"
    annotation = Dataset()
    annotation.GraphicLayer = "ANNOTATION"
    annotation.TextObjectSequence = [text]
    annotation.GraphicObjectSequence = [circle]
    ds.GraphicAnnotationSequence = [annotation]
    ds.ImageRotation = 0
    ds.ImageHorizontalFlip = "N"
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = first.rescale
    voi = Dataset()
    voi.WindowCenter, voi.WindowWidth = first.window
    ds.SoftcopyVOILUTSequence = [voi]
    ds.PresentationLUTShape = "IDENTITY"
    return _write(ds, _single_path(out_dir, "PR", ds))


def _report_pdf(patient: Patient, study: _Study, title: str) -> bytes:
    """A one-page PDF report that says plainly it is synthetic."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, pagesize=A4, invariant=True)
    pdf.setTitle(title)
    pdf.setFont("Helvetica-Bold", 18)
    pdf.drawString(72, 770, title)
    pdf.setFont("Helvetica", 12)
    lines = [
        "Synthetic report - not a real patient",
        "",
        f"Patient: {patient.name}   ID: {patient.id}   Born: {patient.birth_date}",
        f"Study date: {study.date}   Accession: {study.accession}",
        f"Study: {study.description}",
        "",
        "Findings: Lungs are clear. No focal lesion. Bones unremarkable.",
        "Impression: Normal synthetic phantom study.",
    ]
    for n, line in enumerate(lines):
        pdf.drawString(72, 740 - 18 * n, line)
    pdf.showPage()
    pdf.save()
    return buf.getvalue()


def make_encapsulated_pdf(
    out_dir: Path,
    patient: Patient,
    *,
    study_uid: str,
    pdf_bytes: bytes | None = None,
    title: str = "Radiology report",
) -> Path:
    """An Encapsulated PDF instance holding `pdf_bytes` (or a generated synthetic report)."""
    study = _study(study_uid)
    if pdf_bytes is None:
        pdf_bytes = _report_pdf(patient, study, title)
    ds = _base(patient, study, _PDF_SERIES)
    ds.ConversionType = "WSD"
    ds.ContentDate, ds.ContentTime = ds.SeriesDate, ds.SeriesTime
    ds.AcquisitionDateTime = ds.ContentDate + ds.ContentTime
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = title
    ds.ConceptNameCodeSequence = [code_item(*_IMAGING_REPORT)]
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocumentLength = len(pdf_bytes)
    ds.EncapsulatedDocument = pdf_bytes + (b"\0" if len(pdf_bytes) % 2 else b"")
    return _write(ds, _single_path(out_dir, "DOC", ds))
