"""Shared bookkeeping of synthetic files: patient, study, series base, codes, Part 10 writing."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

MANUFACTURER = "burner synthetic"
INSTITUTION = "Synthetic General Hospital"
INSTITUTION_ADDRESS = "1 Example Street, Nowhere"
REFERRING = "SYNTHETIC^REFERRER"
RADIOLOGIST = "SYNTHETIC^RADIOLOGIST"
OPERATOR = "SYNTHETIC^TECHNOLOGIST"
SOFTWARE = "burner-synth 1"


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


@dataclass(frozen=True)
class _SeriesKind:
    """A series a maker writes: SOP class, modality, number, description, minutes into the study."""

    sop_class: str
    modality: str
    number: int
    description: str
    minutes: int


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




def _base(
    patient: Patient, study: _Study, kind: _SeriesKind, *, series_uid: str | None = None
) -> Dataset:
    """Patient, study, series, equipment and SOP common attributes of the first instance.

    Without `series_uid` the instance starts a new series.
    """
    series_uid = series_uid or generate_uid()
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.InstanceCreationDate, ds.InstanceCreationTime = _later(study, kind.minutes + 1)
    ds.SOPClassUID = kind.sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyDate = study.date
    ds.StudyTime = study.time
    ds.AccessionNumber = study.accession
    ds.Modality = kind.modality
    ds.Manufacturer = MANUFACTURER
    ds.InstitutionName = INSTITUTION
    ds.InstitutionAddress = INSTITUTION_ADDRESS
    ds.ReferringPhysicianName = REFERRING
    ds.StationName = "SYNTH01"
    ds.StudyDescription = study.description
    ds.SeriesDescription = kind.description
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
    ds.SeriesNumber = kind.number
    ds.InstanceNumber = 1
    ds.SeriesDate, ds.SeriesTime = _later(study, kind.minutes)
    return ds


def _mono12(ds: Dataset, rows: int, cols: int) -> None:
    """Image Pixel attributes of unsigned 12-bit MONOCHROME2 pixels in 16-bit words."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0


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
