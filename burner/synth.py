"""Synthetic DICOM studies for the demo, the tests and the benchmark.

Everything here is made up: phantom pixels, invented names and generated UIDs, never a real
patient. Every file is a DICOM Part 10 file that dicom3tools' `dciodvfy` accepts without errors,
and the files of one patient, study and series agree on their entity-level attributes (checked by
`dcentvfy`).

Study-level attributes (date, time, Study ID, accession, description) are fixed by the first maker
that uses a Study Instance UID in this process, or taken from the referenced files, or derived from
the UID itself, so that separate calls for one study stay consistent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import math
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import get_encoder
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    UID,
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    EncapsulatedPDFStorage,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    MRImageStorage,
    RLELossless,
    generate_uid,
)

__all__ = [
    "Patient",
    "make_basic_sr",
    "make_ct_study",
    "make_encapsulated_pdf",
    "make_key_object",
    "make_mixed_study",
    "make_mr_study",
    "make_multiframe",
    "make_presentation_state",
    "make_rgb_secondary_capture",
    "make_rt_structure_set",
    "make_waveform",
    "rewrite_patient",
]

MANUFACTURER = "burner synthetic"
INSTITUTION = "Synthetic General Hospital"
INSTITUTION_ADDRESS = "1 Example Street, Nowhere"
REFERRING = "SYNTHETIC^REFERRER"
RADIOLOGIST = "SYNTHETIC^RADIOLOGIST"
OPERATOR = "SYNTHETIC^TECHNOLOGIST"
SOFTWARE = "burner-synth 1"

SC_IMAGE = UID("1.2.840.10008.5.1.4.1.1.7")
MF_WORD_SC_IMAGE = UID("1.2.840.10008.5.1.4.1.1.7.3")
BASIC_TEXT_SR = UID("1.2.840.10008.5.1.4.1.1.88.11")
KEY_OBJECT_SELECTION = UID("1.2.840.10008.5.1.4.1.1.88.59")
GRAYSCALE_PR = UID("1.2.840.10008.5.1.4.1.1.11.1")
TWELVE_LEAD_ECG = UID("1.2.840.10008.5.1.4.1.1.9.1.1")
RT_STRUCTURE_SET = UID("1.2.840.10008.5.1.4.1.1.481.3")

# Transfer syntaxes written without an encoder plugin.
_NATIVE_SYNTAXES = {ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian}
# Lossless compressed transfer syntaxes, written when pydicom has a working encoder for them.
_LOSSLESS_SYNTAXES = {
    RLELossless,
    JPEG2000Lossless,
    JPEGLSLossless,
    JPEGLosslessSV1,
    JPEGLossless,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
}


@dataclass(frozen=True)
class Patient:
    """The one (synthetic) patient a study belongs to."""

    id: str = "SYN0001"
    name: str = "SYNTHETIC^PATIENT"
    birth_date: str = "19700101"
    sex: str = "O"
    issuer: str = ""


@dataclass(frozen=True)
class _Study:
    """Study-level attributes shared by every file of one study."""

    uid: str
    date: str
    time: str
    study_id: str
    accession: str
    description: str


_STUDIES: dict[str, _Study] = {}


def _study(
    uid: str | None,
    *,
    accession: str = "",
    description: str = "SYNTHETIC STUDY",
    referenced: Sequence[Path] | None = None,
) -> _Study:
    """The study for `uid`: the one already used, else one read from `referenced`, else new."""
    uid = uid or generate_uid()
    if uid in _STUDIES:
        return _STUDIES[uid]
    study: _Study | None = None
    for path in referenced or ():
        ref = dcmread(path, stop_before_pixels=True)
        if ref.get("StudyInstanceUID") == uid:
            study = _Study(
                uid,
                str(ref.get("StudyDate", "")),
                str(ref.get("StudyTime", "")),
                str(ref.get("StudyID", "")),
                str(ref.get("AccessionNumber", "")),
                str(ref.get("StudyDescription", "")),
            )
            break
    if study is None:
        digest = int.from_bytes(hashlib.sha256(uid.encode()).digest()[:8], "big")
        day = dt.date(2024, 1, 1) + dt.timedelta(days=digest % 700)
        minutes = 7 * 60 + (digest >> 12) % (10 * 60)
        study = _Study(
            uid,
            day.strftime("%Y%m%d"),
            f"{minutes // 60:02d}{minutes % 60:02d}00",
            str(10000 + (digest >> 24) % 90000),
            accession,
            description,
        )
    _STUDIES[uid] = study
    return study


def _later(study: _Study, minutes: int) -> tuple[str, str]:
    """(date, time) `minutes` after the study started (a study without a date: 2024-01-01)."""
    try:
        start = dt.datetime.strptime(study.date + study.time[:6].ljust(6, "0"), "%Y%m%d%H%M%S")
    except ValueError:
        start = dt.datetime(2024, 1, 1, 8)
    when = start + dt.timedelta(minutes=minutes)
    return when.strftime("%Y%m%d"), when.strftime("%H%M%S")


def _age(birth_date: str, on: str) -> str:
    """Patient's Age (AS) on the day `on`, or "" when the birth date is unusable."""
    try:
        born = dt.datetime.strptime(birth_date, "%Y%m%d").date()
        day = dt.datetime.strptime(on, "%Y%m%d").date()
    except ValueError:
        return ""
    years = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
    return f"{years:03d}Y" if 0 <= years < 1000 else ""


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    """A code sequence item."""
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _base(
    patient: Patient,
    study: _Study,
    *,
    sop_class: str,
    modality: str,
    series_uid: str,
    series_number: int,
    series_description: str,
    instance_number: int = 1,
    series_minutes: int = 0,
) -> Dataset:
    """Patient, study, series, equipment and SOP common attributes of one instance."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.InstanceCreationDate, ds.InstanceCreationTime = _later(study, series_minutes + 1)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyDate = study.date
    ds.StudyTime = study.time
    ds.AccessionNumber = study.accession
    ds.Modality = modality
    ds.Manufacturer = MANUFACTURER
    ds.InstitutionName = INSTITUTION
    ds.InstitutionAddress = INSTITUTION_ADDRESS
    ds.ReferringPhysicianName = REFERRING
    ds.StationName = "SYNTH01"
    ds.StudyDescription = study.description
    ds.SeriesDescription = series_description
    ds.ManufacturerModelName = "Phantom"
    ds.PatientName = patient.name
    ds.PatientID = patient.id
    if patient.issuer:
        ds.IssuerOfPatientID = patient.issuer
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex
    age = _age(patient.birth_date, study.date)
    if age:
        ds.PatientAge = age
    ds.DeviceSerialNumber = "0001"
    ds.SoftwareVersions = SOFTWARE
    ds.StudyInstanceUID = study.uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = study.study_id
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.SeriesDate, ds.SeriesTime = _later(study, series_minutes)
    return ds


def _file_meta(ds: Dataset, transfer_syntax: str = ExplicitVRLittleEndian) -> None:
    """Attach Part 10 file meta information matching `ds`."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = transfer_syntax
    ds.file_meta = meta


def _write(ds: Dataset, path: Path) -> Path:
    """Write `ds` as a Part 10 file (file meta refreshed from the dataset)."""
    if not hasattr(ds, "file_meta") or "TransferSyntaxUID" not in ds.file_meta:
        _file_meta(ds)
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    path.parent.mkdir(parents=True, exist_ok=True)
    dcmwrite(path, ds, enforce_file_format=True)
    return path


def _single_path(out_dir: Path, kind: str, ds: Dataset) -> Path:
    """A file name for a one-instance series that will not collide with another."""
    tail = hashlib.sha1(ds.SOPInstanceUID.encode()).hexdigest()[:10].upper()
    return Path(out_dir) / f"{kind}_{tail}.dcm"


def _check_transfer_syntax(transfer_syntax: str) -> UID:
    """The transfer syntax as a UID, if this module can write it; NotImplementedError if not."""
    uid = UID(transfer_syntax)
    if uid in _NATIVE_SYNTAXES:
        return uid
    if uid not in _LOSSLESS_SYNTAXES:
        raise NotImplementedError(
            f"Synthetic studies are not written in {uid.name} ({uid}): only uncompressed "
            "little endian or a lossless compressed transfer syntax"
        )
    try:
        encoder = get_encoder(uid)
    except NotImplementedError:
        raise NotImplementedError(
            f"pydicom has no encoder for {uid.name} ({uid}); pick Explicit VR Little Endian, "
            "Implicit VR Little Endian, RLE Lossless or JPEG 2000 Lossless"
        ) from None
    if not encoder.is_available:
        raise NotImplementedError(
            f"The encoder for {uid.name} is missing its plugins: "
            + "; ".join(encoder.missing_dependencies)
        )
    return uid


# --------------------------------------------------------------------------------------------
# Phantoms


def _grid(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised pixel-centre coordinates u (columns, -1..1) and v (rows, -1..1)."""
    u = ((np.arange(cols, dtype=np.float32) + 0.5) / cols * 2 - 1)[None, :]
    v = ((np.arange(rows, dtype=np.float32) + 0.5) / rows * 2 - 1)[:, None]
    return u, v


def _ellipse(
    u: np.ndarray, v: np.ndarray, cx: float, cy: float, ax: float, ay: float
) -> np.ndarray:
    """Normalised radius squared of an ellipse: <= 1 inside."""
    return ((u - cx) / ax) ** 2 + ((v - cy) / ay) ** 2


def _bump(t: float, lo: float, hi: float) -> float:
    """Scale of an organ that exists between fractions lo and hi of the scan, largest midway."""
    if not lo < t < hi:
        return 0.0
    x = (2 * t - lo - hi) / (hi - lo)
    return math.sqrt(1 - x * x)


# Body geometry in normalised image coordinates (u to the patient's left, v posterior).
BODY = (0.0, 0.05, 0.86, 0.62)
MUSCLE = (0.0, 0.05, 0.80, 0.56)
VERTEBRA = (0.0, 0.36, 0.10, 0.10)
LUNG_R = (-0.36, -0.02, 0.26, 0.38)
LUNG_L = (0.36, -0.02, 0.24, 0.38)
CT_AIR_POINT = (-0.9, -0.9)
CT_SOFT_TISSUE_POINT = (0.2, 0.5)
CT_BONE_POINT = (0.0, 0.36)
CT_LUNG_POINT = (-0.36, -0.02)


class _CTPhantom:
    """A chest-abdomen-pelvis phantom in stored values (HU + 1024), built slice by slice.

    Masks are precomputed once; each slice only thresholds them with a z-dependent scale.
    """

    def __init__(self, rows: int, cols: int, noise: float, seed: int = 1) -> None:
        u, v = _grid(rows, cols)
        self.rows = rows
        hu = np.full((rows, cols), -1000, dtype=np.int16)
        hu[_ellipse(u, v, *BODY) <= 1] = -100
        hu[_ellipse(u, v, *MUSCLE) <= 1] = 40
        self.base = hu
        self.lungs = np.minimum(_ellipse(u, v, *LUNG_R), _ellipse(u, v, *LUNG_L))
        self.heart = _ellipse(u, v, 0.1, -0.1, 0.2, 0.17)
        self.liver = _ellipse(u, v, -0.32, 0.0, 0.36, 0.32)
        self.kidneys = np.minimum(
            _ellipse(u, v, -0.28, 0.28, 0.09, 0.12), _ellipse(u, v, 0.28, 0.28, 0.09, 0.12)
        )
        self.bowel = np.minimum(
            _ellipse(u, v, 0.25, -0.15, 0.07, 0.05), _ellipse(u, v, -0.1, -0.3, 0.06, 0.04)
        )
        ribs = np.zeros((rows, cols), dtype=bool)
        for degrees in (-150, -120, -90, -60, -30, 0, 30, 60, 120, 150, 180):
            a = math.radians(degrees)
            ax, ay = (0.06, 0.03) if degrees == -90 else (0.035, 0.035)
            cx, cy = 0.71 * math.cos(a), 0.05 + 0.49 * math.sin(a)
            ribs |= _ellipse(u, v, cx, cy, ax, ay) <= 1
        self.ribs = ribs
        self.pelvis = (
            np.minimum(_ellipse(u, v, -0.5, 0.25, 0.2, 0.09), _ellipse(u, v, 0.5, 0.25, 0.2, 0.09))
            <= 1
        )
        # Structures present on every slice: vertebra, spinal canal, laminae, aorta.
        overlay = np.zeros((rows, cols), dtype=np.int16)
        vertebra = _ellipse(u, v, *VERTEBRA)
        laminae = _ellipse(u, v, 0.0, 0.52, 0.13, 0.04) <= 1
        canal = _ellipse(u, v, 0.0, 0.5, 0.045, 0.045) <= 1
        aorta = _ellipse(u, v, 0.1, 0.2, 0.05, 0.05) <= 1
        overlay[vertebra <= 1] = 1200
        overlay[vertebra <= 0.7] = 700
        overlay[laminae] = 900
        overlay[canal] = 10
        overlay[aorta] = 45
        self.overlay = overlay
        self.overlay_mask = (vertebra <= 1) | laminae | canal | aorta
        rng = np.random.default_rng(seed)
        self.noise = rng.normal(1024.0, noise, size=(2 * rows, cols)).astype(np.int16)

    def stored(self, t: float, index: int) -> np.ndarray:
        """Stored values (uint16, 0..4095) of the slice at fraction `t` (0 = head end)."""
        hu = self.base.copy()
        for q, lo, hi, value in (
            (self.liver, 0.45, 0.85, 60),
            (self.kidneys, 0.55, 0.85, 30),
            (self.lungs, -0.2, 0.62, -850),
            (self.heart, 0.15, 0.55, 45),
            (self.bowel, 0.65, 0.95, -900),
        ):
            s = _bump(t, lo, hi)
            if s > 0:
                hu[q <= s * s] = value
        if t < 0.6:
            hu[self.ribs] = 1000
        if t > 0.82:
            hu[self.pelvis] = 800
        np.copyto(hu, self.overlay, where=self.overlay_mask)
        k = (index * 37) % self.rows
        hu += self.noise[k : k + self.rows]
        np.clip(hu, 0, 4095, out=hu)
        return hu.astype(np.uint16)


def _mr_slice(rows: int, cols: int, t: float, rng: np.random.Generator) -> np.ndarray:
    """A T1-weighted looking axial head slice at fraction `t` (0 = vertex)."""
    u, v = _grid(rows, cols)
    s = 0.55 + 0.45 * _bump(t, -0.3, 1.1)
    img = np.zeros((rows, cols), dtype=np.float32)
    img[_ellipse(u, v, 0, 0, 0.78 * s, 0.9 * s) <= 1] = 900  # scalp fat
    img[_ellipse(u, v, 0, 0, 0.72 * s, 0.84 * s) <= 1] = 60  # skull
    img[_ellipse(u, v, 0, 0, 0.66 * s, 0.78 * s) <= 1] = 250  # CSF
    img[_ellipse(u, v, 0, 0, 0.63 * s, 0.75 * s) <= 1] = 600  # grey matter
    img[_ellipse(u, v, 0, 0, 0.5 * s, 0.62 * s) <= 1] = 820  # white matter
    vent = _bump(t, 0.3, 0.75)
    if vent > 0:
        q = np.minimum(
            _ellipse(u, v, -0.1, -0.05, 0.07, 0.3), _ellipse(u, v, 0.1, -0.05, 0.07, 0.3)
        )
        img[q <= vent * vent] = 250
    img += np.abs(rng.normal(0, 25, size=img.shape)).astype(np.float32)
    return np.clip(img, 0, 4095).astype(np.uint16)


# --------------------------------------------------------------------------------------------
# CT


@dataclass(frozen=True)
class _CTSeries:
    """Everything a worker needs to write some slices of one CT series."""

    out_dir: str
    patient: Patient
    study: _Study
    series_uid: str
    frame_uid: str
    number: int
    description: str
    thickness: float
    kernel: str
    window: tuple[int, int]
    noise: float
    slices: int
    rows: int
    cols: int
    transfer_syntax: str


_CT_KINDS = (
    # description, slice thickness (mm), kernel, (window centre, width), noise (HU)
    ("CHEST 1mm", 1.0, "STANDARD", (40, 400), 10.0),
    ("CHEST 1mm LUNG", 1.0, "LUNG", (-600, 1500), 18.0),
    ("CHEST 2mm BONE", 2.0, "BONE", (400, 1800), 14.0),
    ("CHEST 5mm", 5.0, "STANDARD", (40, 400), 6.0),
)

_FOV_MM = 360.0


def _ct_template(spec: _CTSeries) -> Dataset:
    """The attributes shared by all slices of one CT series."""
    ds = _base(
        spec.patient,
        spec.study,
        sop_class=CTImageStorage,
        modality="CT",
        series_uid=spec.series_uid,
        series_number=spec.number,
        series_description=spec.description,
        series_minutes=2 + spec.number,
    )
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.OperatorsName = OPERATOR
    ds.ProtocolName = "CHEST ABDOMEN PELVIS"
    ds.BodyPartExamined = "CHEST"
    ds.PatientPosition = "HFS"
    ds.FrameOfReferenceUID = spec.frame_uid
    ds.PositionReferenceIndicator = ""
    ds.AcquisitionNumber = 1
    ds.AcquisitionDate = ds.ContentDate = ds.SeriesDate
    ds.AcquisitionTime = ds.ContentTime = ds.SeriesTime
    ds.BurnedInAnnotation = "NO"
    ds.ScanOptions = "HELICAL MODE"
    ds.SliceThickness = spec.thickness
    ds.SpacingBetweenSlices = spec.thickness
    ds.KVP = 120
    ds.DataCollectionDiameter = 500
    ds.ReconstructionDiameter = _FOV_MM
    ds.DistanceSourceToDetector = 1040
    ds.DistanceSourceToPatient = 570
    ds.GantryDetectorTilt = 0
    ds.TableHeight = 160
    ds.RotationDirection = "CW"
    ds.ExposureTime = 500
    ds.XRayTubeCurrent = 200
    ds.Exposure = 100
    ds.FilterType = "BODY FILTER"
    ds.GeneratorPower = 24
    ds.FocalSpots = 0.7
    ds.ConvolutionKernel = spec.kernel
    ds.RevolutionTime = 0.5
    ds.SingleCollimationWidth = 0.625
    ds.TotalCollimationWidth = 40
    ds.SpiralPitchFactor = 0.984
    ds.CTDIvol = 8.5
    ds.CTDIPhantomTypeCodeSequence = [_code("113691", "DCM", "IEC Body Dosimetry Phantom")]
    spacing = round(_FOV_MM / max(spec.rows, spec.cols), 6)
    ds.PixelSpacing = [spacing, spacing]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = spec.rows
    ds.Columns = spec.cols
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.WindowCenter = spec.window[0]
    ds.WindowWidth = spec.window[1]
    ds.WindowCenterWidthExplanation = spec.kernel
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.RescaleType = "HU"
    ds.LossyImageCompression = "00"
    _file_meta(ds, spec.transfer_syntax)
    return ds


def _write_ct_slices(spec: _CTSeries, start: int, stop: int) -> list[Path]:
    """Write slices [start, stop) of one series; returns their paths."""
    ds = _ct_template(spec)
    phantom = _CTPhantom(spec.rows, spec.cols, spec.noise, seed=spec.number)
    spacing = float(ds.PixelSpacing[0])
    x0 = -spacing * (spec.cols - 1) / 2
    y0 = -spacing * (spec.rows - 1) / 2
    compressed = UID(spec.transfer_syntax) not in _NATIVE_SYNTAXES
    series_dir = Path(spec.out_dir) / f"SE{spec.number:03d}"
    series_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, stop):
        t = i / max(spec.slices - 1, 1)
        z = round(-i * spec.thickness, 3)
        uid = generate_uid()
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = [round(x0, 4), round(y0, 4), z]
        ds.SliceLocation = z
        pixels = phantom.stored(t, i)
        if compressed:
            ds.compress(spec.transfer_syntax, pixels, generate_instance_uid=False)
        else:
            ds.PixelData = pixels.tobytes()
        path = series_dir / f"IM{i + 1:05d}.dcm"
        dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths


def _run_chunks(specs: list[_CTSeries], workers: int) -> list[Path]:
    """Write all slices of `specs`, in-process or over a pool of `workers` processes."""
    if workers <= 1:
        return [p for spec in specs for p in _write_ct_slices(spec, 0, spec.slices)]
    jobs = []
    for spec in specs:
        step = max(1, math.ceil(spec.slices / (workers * 2)))
        jobs += [(spec, a, min(a + step, spec.slices)) for a in range(0, spec.slices, step)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = pool.map(_write_ct_slices, *zip(*jobs, strict=True))
        return [p for chunk in results for p in chunk]


def make_ct_study(
    out_dir: Path,
    patient: Patient,
    *,
    slices: int = 300,
    rows: int = 512,
    cols: int = 512,
    series: int = 1,
    study_uid: str | None = None,
    accession: str = "ACC0001",
    transfer_syntax: str = ExplicitVRLittleEndian,
    workers: int = 1,
) -> list[Path]:
    """A CT study of `series` axial series of `slices` slices each, written under `out_dir`.

    Pixels are unsigned 12-bit stored values with Rescale Intercept -1024 (HU = value - 1024).
    Files go to `out_dir/SE<nnn>/IM<nnnnn>.dcm`; the paths are returned series by series in
    slice order. `transfer_syntax`: Explicit or Implicit VR Little Endian, Deflated (valid, but
    `dciodvfy` cannot read it), or a lossless compressed syntax pydicom can encode (RLE Lossless,
    JPEG 2000 Lossless); others raise NotImplementedError before anything is written.
    """
    ts = _check_transfer_syntax(transfer_syntax)
    study = _study(study_uid, accession=accession, description="CT CHEST ABDOMEN PELVIS")
    frame_uid = generate_uid()
    specs = []
    for n in range(1, series + 1):
        description, thickness, kernel, window, noise = _CT_KINDS[(n - 1) % len(_CT_KINDS)]
        if n > len(_CT_KINDS):
            description = f"{description} ({n})"
        specs.append(
            _CTSeries(
                out_dir=str(out_dir),
                patient=patient,
                study=study,
                series_uid=generate_uid(),
                frame_uid=frame_uid,
                number=n,
                description=description,
                thickness=thickness,
                kernel=kernel,
                window=window,
                noise=noise,
                slices=slices,
                rows=rows,
                cols=cols,
                transfer_syntax=str(ts),
            )
        )
    return _run_chunks(specs, workers)


# --------------------------------------------------------------------------------------------
# MR


def make_mr_study(
    out_dir: Path,
    patient: Patient,
    *,
    slices: int = 24,
    rows: int = 256,
    cols: int = 256,
    study_uid: str | None = None,
    accession: str = "ACC0002",
) -> list[Path]:
    """An axial T1 spin-echo head series (MR Image Storage) under `out_dir/MR051/`."""
    study = _study(study_uid, accession=accession, description="MR BRAIN WO CONTRAST")
    ds = _base(
        patient,
        study,
        sop_class=MRImageStorage,
        modality="MR",
        series_uid=generate_uid(),
        series_number=51,
        series_description="AX T1 SE",
        series_minutes=5,
    )
    ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
    ds.OperatorsName = OPERATOR
    ds.ProtocolName = "BRAIN ROUTINE"
    ds.BodyPartExamined = "HEAD"
    ds.PatientPosition = "HFS"
    ds.FrameOfReferenceUID = generate_uid()
    ds.PositionReferenceIndicator = ""
    ds.AcquisitionNumber = 1
    ds.AcquisitionDate = ds.ContentDate = ds.SeriesDate
    ds.AcquisitionTime = ds.ContentTime = ds.SeriesTime
    ds.BurnedInAnnotation = "NO"
    ds.ScanningSequence = "SE"
    ds.SequenceVariant = ["SK", "SP"]
    ds.ScanOptions = ""
    ds.MRAcquisitionType = "2D"
    ds.SequenceName = "se2d1"
    ds.AngioFlag = "N"
    ds.SliceThickness = 5.0
    ds.SpacingBetweenSlices = 6.0
    ds.RepetitionTime = 500.0
    ds.EchoTime = 15.0
    ds.EchoTrainLength = 1
    ds.NumberOfAverages = 2
    ds.ImagingFrequency = 63.87
    ds.ImagedNucleus = "1H"
    ds.EchoNumbers = 1
    ds.MagneticFieldStrength = 1.5
    ds.NumberOfPhaseEncodingSteps = rows
    ds.PercentSampling = 100
    ds.PercentPhaseFieldOfView = 100
    ds.PixelBandwidth = 130
    ds.ReceiveCoilName = "HEAD"
    ds.TransmitCoilName = "BODY"
    ds.AcquisitionMatrix = [0, cols, rows, 0]
    ds.InPlanePhaseEncodingDirection = "ROW"
    ds.FlipAngle = 90
    ds.SAR = 0.8
    spacing = round(240.0 / max(rows, cols), 6)
    ds.PixelSpacing = [spacing, spacing]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.WindowCenter = 500
    ds.WindowWidth = 1000
    ds.LossyImageCompression = "00"
    _file_meta(ds)
    rng = np.random.default_rng(2)
    x0, y0 = -spacing * (cols - 1) / 2, -spacing * (rows - 1) / 2
    paths = []
    for i in range(slices):
        z = round(60.0 - i * 6.0, 3)
        ds.SOPInstanceUID = generate_uid()
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = [round(x0, 4), round(y0, 4), z]
        ds.SliceLocation = z
        ds.PixelData = _mr_slice(rows, cols, i / max(slices - 1, 1), rng).tobytes()
        paths.append(_write(ds, Path(out_dir) / "MR051" / f"IM{i + 1:05d}.dcm"))
    return paths


# --------------------------------------------------------------------------------------------
# Secondary capture


def _sc_common(ds: Dataset) -> None:
    """SC Equipment and General Image attributes of a secondary capture."""
    ds.ConversionType = "WSD"
    ds.BodyPartExamined = "CHEST"
    ds.OperatorsName = OPERATOR
    ds.PatientOrientation = ""
    ds.ContentDate, ds.ContentTime = ds.SeriesDate, ds.SeriesTime
    ds.BurnedInAnnotation = "NO"
    ds.DateOfSecondaryCapture, ds.TimeOfSecondaryCapture = ds.SeriesDate, ds.SeriesTime
    ds.SecondaryCaptureDeviceManufacturer = MANUFACTURER
    ds.SecondaryCaptureDeviceManufacturerModelName = "Phantom"
    ds.SecondaryCaptureDeviceSoftwareVersions = SOFTWARE


def make_rgb_secondary_capture(
    out_dir: Path, patient: Patient, *, study_uid: str | None = None
) -> Path:
    """A 256x256 RGB secondary capture (colour "rendering" of the CT phantom)."""
    study = _study(study_uid)
    ds = _base(
        patient,
        study,
        sop_class=SC_IMAGE,
        modality="OT",
        series_uid=generate_uid(),
        series_number=800,
        series_description="3D RENDERING",
        series_minutes=20,
    )
    _sc_common(ds)
    ds.ImageType = ["DERIVED", "SECONDARY"]
    size = 256
    hu = _CTPhantom(size, size, noise=0.0).stored(0.3, 0).astype(np.int32) - 1024
    rgb = np.zeros((size, size, 3), dtype=np.uint8)
    rgb[..., 0] = np.clip((hu + 200) / 6, 0, 255).astype(np.uint8)
    rgb[..., 1] = np.clip((hu + 1000) / 10, 0, 255).astype(np.uint8)
    rgb[..., 2] = np.where(hu > 300, 255, np.clip(hu + 1000, 0, 120)).astype(np.uint8)
    rgb[:12, :, :] = (0, 90, 160)  # a coloured title bar
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.Rows = ds.Columns = size
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.LossyImageCompression = "00"
    ds.PixelData = rgb.tobytes()
    return _write(ds, _single_path(out_dir, "SC", ds))


def make_multiframe(
    out_dir: Path, patient: Patient, *, frames: int = 10, study_uid: str | None = None
) -> Path:
    """A Multi-frame Grayscale Word SC image: a cine of `frames` phantom slices."""
    study = _study(study_uid)
    ds = _base(
        patient,
        study,
        sop_class=MF_WORD_SC_IMAGE,
        modality="OT",
        series_uid=generate_uid(),
        series_number=801,
        series_description="CINE CAPTURE",
        series_minutes=21,
    )
    _sc_common(ds)
    ds.ImageType = ["DERIVED", "SECONDARY"]
    size = 128
    phantom = _CTPhantom(size, size, noise=8.0)
    cube = np.stack([phantom.stored(i / max(frames - 1, 1), i) for i in range(frames)])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = size
    ds.NumberOfFrames = frames
    ds.FrameIncrementPointer = (0x0018, 0x1063)  # Frame Time
    ds.FrameTime = 100.0
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.RescaleType = "US"
    ds.PresentationLUTShape = "IDENTITY"
    ds.WindowCenter = 40
    ds.WindowWidth = 400
    ds.LossyImageCompression = "00"
    ds.PixelData = cube.tobytes()
    return _write(ds, _single_path(out_dir, "MF", ds))


# --------------------------------------------------------------------------------------------
# Documents that reference images


@dataclass(frozen=True)
class _Ref:
    """The identifying attributes of one referenced instance."""

    sop_class: str
    sop_instance: str
    series_uid: str
    study_uid: str
    frame_uid: str
    position: tuple[float, ...]
    spacing: tuple[float, ...]
    rows: int
    cols: int
    window: tuple[float, float]
    rescale: tuple[float, float, str]


def _refs(paths: Iterable[Path]) -> list[_Ref]:
    """Header facts of the referenced files (pixel data is not read)."""
    out = []
    for path in paths:
        ds = dcmread(path, stop_before_pixels=True)

        def first(name: str, default: float, d: Dataset = ds) -> float:
            value = d.get(name, default)
            return float(value[0] if isinstance(value, Sequence | list) else value)

        out.append(
            _Ref(
                str(ds.SOPClassUID),
                str(ds.SOPInstanceUID),
                str(ds.SeriesInstanceUID),
                str(ds.StudyInstanceUID),
                str(ds.get("FrameOfReferenceUID", "")),
                tuple(float(x) for x in ds.get("ImagePositionPatient", [0, 0, 0])),
                tuple(float(x) for x in ds.get("PixelSpacing", [1, 1])),
                int(ds.get("Rows", 0)),
                int(ds.get("Columns", 0)),
                (first("WindowCenter", 40), first("WindowWidth", 400)),
                (
                    float(ds.get("RescaleIntercept", 0)),
                    float(ds.get("RescaleSlope", 1)),
                    str(ds.get("RescaleType", "US")),
                ),
            )
        )
    return out


def _sop_item(ref: _Ref) -> Dataset:
    """A Referenced SOP Sequence item."""
    item = Dataset()
    item.ReferencedSOPClassUID = ref.sop_class
    item.ReferencedSOPInstanceUID = ref.sop_instance
    return item


def _by_series(refs: Sequence[_Ref]) -> dict[str, list[_Ref]]:
    """References grouped by series, in first-seen order."""
    groups: dict[str, list[_Ref]] = {}
    for ref in refs:
        groups.setdefault(ref.series_uid, []).append(ref)
    return groups


def _evidence(refs: Sequence[_Ref]) -> DicomSequence:
    """A Hierarchical SOP Instance Reference sequence (study / series / instance)."""
    studies: dict[str, list[_Ref]] = {}
    for ref in refs:
        studies.setdefault(ref.study_uid, []).append(ref)
    items = []
    for study_uid, members in studies.items():
        study_item = Dataset()
        series_items = []
        for series_uid, group in _by_series(members).items():
            series_item = Dataset()
            series_item.ReferencedSOPSequence = [_sop_item(r) for r in group]
            series_item.SeriesInstanceUID = series_uid
            series_items.append(series_item)
        study_item.ReferencedSeriesSequence = series_items
        study_item.StudyInstanceUID = study_uid
        items.append(study_item)
    return DicomSequence(items)


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


def _sr_root(ds: Dataset, concept: Dataset, template: str) -> None:
    """Root CONTAINER attributes of an SR document."""
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [concept]
    ds.ContinuityOfContent = "SEPARATE"
    tid = Dataset()
    tid.MappingResource = "DCMR"
    tid.TemplateIdentifier = template
    ds.ContentTemplateSequence = [tid]


def make_basic_sr(
    out_dir: Path, patient: Patient, *, study_uid: str, referenced: list[Path] | None = None
) -> Path:
    """A verified, complete Basic Text SR report (TID 2000 shape) citing `referenced` images."""
    refs = _refs(referenced or [])
    study = _study(study_uid, referenced=referenced)
    ds = _base(
        patient,
        study,
        sop_class=BASIC_TEXT_SR,
        modality="SR",
        series_uid=generate_uid(),
        series_number=900,
        series_description="RADIOLOGY REPORT",
        series_minutes=60,
    )
    ds.ReferencedPerformedProcedureStepSequence = []
    ds.ContentDate, ds.ContentTime = ds.SeriesDate, ds.SeriesTime
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
    _sr_root(ds, _code("18748-4", "LN", "Diagnostic Imaging Report"), "2000")
    language = _content_item(
        "HAS CONCEPT MOD",
        "CODE",
        _code("121049", "DCM", "Language of Content Item and Descendants"),
        ConceptCodeSequence=[_code("en", "RFC5646", "English")],
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
        section = _content_item("CONTAINS", "CONTAINER", _code(heading, "DCM", heading_text))
        section.ContinuityOfContent = "SEPARATE"
        concept_code = _code(concept[0], "DCM", concept[1])
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
    refs = _refs(referenced)
    if not refs:
        raise ValueError("a key object selection needs at least one referenced image")
    study = _study(study_uid, referenced=referenced)
    ds = _base(
        patient,
        study,
        sop_class=KEY_OBJECT_SELECTION,
        modality="KO",
        series_uid=generate_uid(),
        series_number=901,
        series_description="KEY IMAGES",
        series_minutes=61,
    )
    ds.ReferencedPerformedProcedureStepSequence = []
    ds.ContentDate, ds.ContentTime = ds.SeriesDate, ds.SeriesTime
    ds.CurrentRequestedProcedureEvidenceSequence = _evidence(refs)
    _sr_root(ds, _code("113000", "DCM", "Of Interest"), "2010")
    description = _content_item(
        "CONTAINS",
        "TEXT",
        _code("113012", "DCM", "Key Object Description"),
        TextValue="Key images of the synthetic study.",
    )
    ds.ContentSequence = [description, *[_image_item(r) for r in refs]]
    return _write(ds, _single_path(out_dir, "KO", ds))


def _pixel(ref: _Ref, u: float, v: float) -> tuple[float, float]:
    """Sub-pixel (column, row) image coordinates of normalised point (u, v)."""
    return (u + 1) / 2 * ref.cols, (v + 1) / 2 * ref.rows


def make_presentation_state(
    out_dir: Path, patient: Patient, *, study_uid: str, referenced: list[Path]
) -> Path:
    """A Grayscale Softcopy Presentation State: window, a circle and a text on `referenced`."""
    refs = _refs(referenced)
    if not refs:
        raise ValueError("a presentation state needs at least one referenced image")
    first = refs[0]
    study = _study(study_uid, referenced=referenced)
    ds = _base(
        patient,
        study,
        sop_class=GRAYSCALE_PR,
        modality="PR",
        series_uid=generate_uid(),
        series_number=902,
        series_description="PRESENTATION STATE",
        series_minutes=62,
    )
    ds.BodyPartExamined = "CHEST"
    ds.OperatorsName = OPERATOR
    ds.ContentLabel = "SYNTHETIC"
    ds.ContentDescription = "Soft tissue window with spine marked"
    ds.PresentationCreationDate, ds.PresentationCreationTime = ds.SeriesDate, ds.SeriesTime
    ds.ContentCreatorName = RADIOLOGIST
    series_items = []
    for series_uid, group in _by_series(refs).items():
        item = Dataset()
        item.ReferencedImageSequence = [_sop_item(r) for r in group]
        item.SeriesInstanceUID = series_uid
        series_items.append(item)
    ds.ReferencedSeriesSequence = series_items
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
    ds = _base(
        patient,
        study,
        sop_class=EncapsulatedPDFStorage,
        modality="DOC",
        series_uid=generate_uid(),
        series_number=903,
        series_description="REPORT PDF",
        series_minutes=63,
    )
    ds.ConversionType = "WSD"
    ds.ContentDate, ds.ContentTime = ds.SeriesDate, ds.SeriesTime
    ds.AcquisitionDateTime = ds.ContentDate + ds.ContentTime
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = title
    ds.ConceptNameCodeSequence = [_code("18748-4", "LN", "Diagnostic Imaging Report")]
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocumentLength = len(pdf_bytes)
    ds.EncapsulatedDocument = pdf_bytes + (b"\0" if len(pdf_bytes) % 2 else b"")
    return _write(ds, _single_path(out_dir, "DOC", ds))


# Lead, MDC code, and the lead's share of the two "heart vectors" (frontal, precordial).
_ECG_LEADS = (
    ("I", "2:1", (0.6, 0.0)),
    ("II", "2:2", (1.0, 0.0)),
    ("III", "2:61", (0.4, 0.0)),
    ("aVR", "2:62", (-0.8, 0.0)),
    ("aVL", "2:63", (0.1, 0.0)),
    ("aVF", "2:64", (0.7, 0.0)),
    ("V1", "2:3", (0.0, -0.6)),
    ("V2", "2:4", (0.0, 0.3)),
    ("V3", "2:5", (0.0, 0.7)),
    ("V4", "2:6", (0.0, 1.2)),
    ("V5", "2:7", (0.0, 1.1)),
    ("V6", "2:8", (0.0, 0.8)),
)


def _ecg_samples(rate: int, seconds: int) -> np.ndarray:
    """(samples, 12) int16 ECG in units of 2.5 uV: Gaussian P-QRS-T beats at 72 bpm."""
    t = np.arange(rate * seconds, dtype=np.float64) / rate
    phase = t % (60 / 72)

    def wave(centre: float, width: float, mv: float) -> np.ndarray:
        return mv * np.exp(-(((phase - centre) / width) ** 2))

    beat = (
        wave(0.16, 0.025, 0.15)
        + wave(0.30, 0.008, -0.1)
        + wave(0.32, 0.010, 1.0)
        + wave(0.34, 0.008, -0.25)
        + wave(0.55, 0.050, 0.3)
    )
    wander = 0.05 * np.sin(2 * np.pi * 0.3 * t)
    rng = np.random.default_rng(3)
    leads = [(a + b) * beat + wander + rng.normal(0, 0.01, t.size) for _, _, (a, b) in _ECG_LEADS]
    return np.round(np.stack(leads, axis=1) * 1000 / 2.5).astype(np.int16)


def make_waveform(out_dir: Path, patient: Patient, *, study_uid: str) -> Path:
    """A 12-lead ECG (10 s at 500 Hz) of a synthetic sinus rhythm."""
    study = _study(study_uid)
    ds = _base(
        patient,
        study,
        sop_class=TWELVE_LEAD_ECG,
        modality="ECG",
        series_uid=generate_uid(),
        series_number=904,
        series_description="RESTING ECG",
        series_minutes=-10,
    )
    ds.ContentDate, ds.ContentTime = ds.SeriesDate, ds.SeriesTime
    ds.AcquisitionDateTime = ds.ContentDate + ds.ContentTime
    ds.OperatorsName = OPERATOR
    ds.AcquisitionContextSequence = []
    rate, seconds = 500, 10
    samples = _ecg_samples(rate, seconds)
    channels = []
    for number, (label, code, _) in enumerate(_ECG_LEADS, start=1):
        channel = Dataset()
        channel.WaveformChannelNumber = number
        channel.ChannelLabel = label
        channel.ChannelSourceSequence = [_code(code, "MDC", f"Lead {label}")]
        channel.ChannelSensitivity = 2.5
        channel.ChannelSensitivityUnitsSequence = [_code("uV", "UCUM", "microvolt")]
        channel.ChannelSensitivityCorrectionFactor = 1
        channel.ChannelBaseline = 0
        channel.ChannelSampleSkew = 0
        channel.WaveformBitsStored = 16
        channel.FilterLowFrequency = 0.05
        channel.FilterHighFrequency = 150
        channel.NotchFilterFrequency = 60
        channels.append(channel)
    group = Dataset()
    group.WaveformOriginality = "ORIGINAL"
    group.NumberOfWaveformChannels = len(channels)
    group.NumberOfWaveformSamples = samples.shape[0]
    group.SamplingFrequency = rate
    group.MultiplexGroupLabel = "RHYTHM"
    group.ChannelDefinitionSequence = channels
    group.WaveformBitsAllocated = 16
    group.WaveformSampleInterpretation = "SS"
    group.WaveformData = samples.tobytes()
    ds.WaveformSequence = [group]
    return _write(ds, _single_path(out_dir, "ECG", ds))


def _ellipse_contour(
    ref: _Ref, shape: tuple[float, float, float, float], points: int = 32
) -> list[float]:
    """A closed planar contour (x, y, z in mm) of a phantom ellipse on slice `ref`."""
    cx, cy, ax, ay = shape
    row_mm, col_mm = ref.spacing[0], ref.spacing[1]
    data: list[float] = []
    for k in range(points):
        a = 2 * math.pi * k / points
        col, row = _pixel(ref, cx + ax * math.cos(a), cy + ay * math.sin(a))
        x = ref.position[0] + (col - 0.5) * col_mm
        y = ref.position[1] + (row - 0.5) * row_mm
        data += [round(x, 2), round(y, 2), round(ref.position[2], 2)]
    return data


def make_rt_structure_set(
    out_dir: Path, patient: Patient, *, study_uid: str, referenced: list[Path]
) -> Path:
    """An RT Structure Set with BODY and VERTEBRA contours on each referenced CT slice."""
    refs = _refs(referenced)
    if not refs:
        raise ValueError("a structure set needs referenced CT slices")
    frame_uid = refs[0].frame_uid
    study = _study(study_uid, referenced=referenced)
    ds = _base(
        patient,
        study,
        sop_class=RT_STRUCTURE_SET,
        modality="RTSTRUCT",
        series_uid=generate_uid(),
        series_number=905,
        series_description="SYNTHETIC CONTOURS",
        series_minutes=64,
    )
    ds.OperatorsName = OPERATOR
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    ds.StructureSetLabel = "SYNTH"
    ds.StructureSetName = "Synthetic contours"
    ds.StructureSetDate, ds.StructureSetTime = ds.SeriesDate, ds.SeriesTime
    series_items = []
    for series_uid, group in _by_series(refs).items():
        item = Dataset()
        item.SeriesInstanceUID = series_uid
        item.ContourImageSequence = [_sop_item(r) for r in group]
        series_items.append(item)
    study_item = Dataset()
    study_item.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    study_item.ReferencedSOPInstanceUID = refs[0].study_uid
    study_item.RTReferencedSeriesSequence = series_items
    frame_item = Dataset()
    frame_item.FrameOfReferenceUID = frame_uid
    frame_item.RTReferencedStudySequence = [study_item]
    ds.ReferencedFrameOfReferenceSequence = [frame_item]
    rois, contours, observations = [], [], []
    for number, (name, shape, kind, colour) in enumerate(
        (("BODY", BODY, "EXTERNAL", [0, 255, 0]), ("VERTEBRA", VERTEBRA, "ORGAN", [255, 255, 0])),
        start=1,
    ):
        roi = Dataset()
        roi.ROINumber = number
        roi.ReferencedFrameOfReferenceUID = frame_uid
        roi.ROIName = name
        roi.ROIGenerationAlgorithm = "AUTOMATIC"
        rois.append(roi)
        items = []
        for ref in refs:
            contour = Dataset()
            contour.ContourImageSequence = [_sop_item(ref)]
            contour.ContourGeometricType = "CLOSED_PLANAR"
            data = _ellipse_contour(ref, shape)
            contour.NumberOfContourPoints = len(data) // 3
            contour.ContourData = data
            items.append(contour)
        roi_contour = Dataset()
        roi_contour.ROIDisplayColor = colour
        roi_contour.ContourSequence = items
        roi_contour.ReferencedROINumber = number
        contours.append(roi_contour)
        observation = Dataset()
        observation.ObservationNumber = number
        observation.ReferencedROINumber = number
        observation.RTROIInterpretedType = kind
        observation.ROIInterpreter = ""
        observations.append(observation)
    ds.StructureSetROISequence = rois
    ds.ROIContourSequence = contours
    ds.RTROIObservationsSequence = observations
    return _write(ds, _single_path(out_dir, "RTSS", ds))


# --------------------------------------------------------------------------------------------
# Whole studies and rewritten test files


def make_mixed_study(
    out_dir: Path, patient: Patient, *, ct_slices: int = 20, rows: int = 128, cols: int = 128
) -> list[Path]:
    """One study holding a CT series, an SR, a KO, a PR, a PDF, an ECG and an RT structure set."""
    out_dir = Path(out_dir)
    study_uid = generate_uid()
    ct = make_ct_study(
        out_dir, patient, slices=ct_slices, rows=rows, cols=cols, study_uid=study_uid
    )
    picks = sorted({ct[len(ct) // 4], ct[len(ct) // 2], ct[(3 * len(ct)) // 4]})
    return [
        *ct,
        make_basic_sr(out_dir, patient, study_uid=study_uid, referenced=picks),
        make_key_object(out_dir, patient, study_uid=study_uid, referenced=picks),
        make_presentation_state(out_dir, patient, study_uid=study_uid, referenced=picks),
        make_encapsulated_pdf(out_dir, patient, study_uid=study_uid),
        make_waveform(out_dir, patient, study_uid=study_uid),
        make_rt_structure_set(out_dir, patient, study_uid=study_uid, referenced=ct),
    ]


def rewrite_patient(path: Path, patient: Patient, out: Path) -> None:
    """Copy `path` to `out` with the patient-level attributes of `patient`, nothing else changed.

    The file keeps its transfer syntax, and a file without file meta stays without it.
    """
    ds = dcmread(path, force=True)
    ds.PatientName = patient.name
    ds.PatientID = patient.id
    if patient.issuer:
        ds.IssuerOfPatientID = patient.issuer
    elif "IssuerOfPatientID" in ds:
        del ds.IssuerOfPatientID
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # A body pydicom had to read as implicit VR despite an explicit transfer syntax (raw
    # elements without a VR) is written back as implicit VR, as odd as it came.
    if any(getattr(elem, "VR", "") is None for elem in ds.elements()):
        little = ds.original_encoding[1] is not False
        dcmwrite(out, ds, implicit_vr=True, little_endian=little, force_encoding=True)
    else:
        dcmwrite(out, ds, enforce_file_format=False)
