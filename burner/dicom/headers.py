"""Read one input: its strict parse, its checks, the header values later stages need, and
(when asked) its canonical copy written with the approved identity.

Pixel data is never loaded (the parse maps the file and skips values by length), and what is
kept per instance is a small dict, so memory does not grow with image size.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.valuerep import IS, DSfloat, PersonName

from burner.dicom import canonical
from burner.dicom.parse import Damaged, Limits, NotDicom, parse_file
from burner.dicom.records import MEDIA_STORAGE_DIRECTORY, record_type, wanted_keywords
from burner.patient import Approved, Found

_WANTED = {tag_for_keyword(k): k for k in wanted_keywords()}
_WANTED_TAGS = frozenset(_WANTED)
_NUMBERS = {"US": "H", "UL": "I", "SS": "h", "SL": "i", "FL": "f", "FD": "d"}
_STRIP_BOTH = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM"}
_SINGLE = {"LT", "ST", "UT", "UR"}
_STRINGS = _STRIP_BOTH | _SINGLE | {"LO", "PN", "SH", "UC", "UI"}


def _plain(value: object) -> object:
    """pydicom's value types as plain str/int/float/list, which pickle small and fast."""
    if isinstance(value, PersonName):
        return str(value)
    if isinstance(value, MultiValue | list) and not isinstance(value, Sequence):
        return [_plain(v) for v in value]
    if isinstance(value, DSfloat | IS):
        return str(value)
    return value


def _value(ds: Dataset, tag: int) -> object:
    """The value of a header element; plain ASCII strings and numbers are decoded here
    straight from the raw bytes (much faster than pydicom's general conversion)."""
    raw = ds.get_item(tag)
    data = getattr(raw, "value", None)
    vr = getattr(raw, "VR", None) or dictionary_VR(tag)
    if isinstance(raw, RawDataElement) and isinstance(data, bytes):
        if vr in _STRINGS and data.isascii():
            text = data.decode("ascii")
            if vr in _SINGLE:
                return text.rstrip(" \0")
            parts = [p.strip(" \0") if vr in _STRIP_BOTH else p.rstrip(" \0")
                     for p in text.split("\\")]
            return parts[0] if len(parts) == 1 else parts
        if vr in _NUMBERS and len(data) % struct.calcsize(_NUMBERS[vr]) == 0:
            fmt = ("<" if raw.is_little_endian else ">") + _NUMBERS[vr]
            items = [v[0] for v in struct.iter_unpack(fmt, data)]
            return None if not items else items[0] if len(items) == 1 else items
    return _plain(ds[tag].value)


@dataclass
class Instance:
    """One DICOM object of a job, as far as the pipeline needs to know it; `path` is its
    canonical copy once gather has written one."""

    path: Path
    rel: str
    sop_class: str
    sop_instance: str
    transfer_syntax: str
    size: int
    has_pixels: bool
    record: str             # leaf record type in the DICOMDIR
    values: dict = field(default_factory=dict)   # as written (the approved identity)
    found: Found | None = None                   # the identity the input itself carried
    sha256: str = ""                             # of the canonical copy at `path`
    changed: tuple[int, ...] = ()                # tags kept in Original Attributes Sequence
    source: Path | None = None                   # the input the copy was made from
    fingerprint: tuple[int, ...] = ()            # of that input when it was read

    def get(self, keyword: str, default: object = "") -> object:
        return self.values.get(keyword, default)

    def integer(self, keyword: str, default: int) -> int:
        """An integer header value; `default` when it is missing, zero or not a number."""
        try:
            return int(str(self.get(keyword, default) or default).strip()) or default
        except ValueError:
            return default

    @property
    def study_uid(self) -> str:
        return str(self.values.get("StudyInstanceUID", ""))

    @property
    def series_uid(self) -> str:
        return str(self.values.get("SeriesInstanceUID", ""))


class NotUsable(Exception):
    """A file that cannot go on the disc; the message says why in plain words."""


def _has_pixels(ds: Dataset) -> bool:
    # stop_before_pixels leaves pixel data out; Rows and Columns tell that an image follows.
    return "Rows" in ds and "Columns" in ds



def _text(ds: Dataset, keyword: str) -> str:
    try:
        value = ds.get(keyword, "")
    except Exception as exc:  # noqa: BLE001 - a value pydicom cannot decode
        raise Damaged(f"its {keyword} cannot be read ({exc.__class__.__name__})") from None
    return "" if value is None else str(value).strip(" \0")


def found_identity(ds: Dataset) -> Found:
    """The patient identity `ds` carries (values as the object holds them)."""
    ids: list[str] = []
    for item in ds.get("IssuerOfPatientIDQualifiersSequence") or []:
        ids += [_text(item, k) for k in ("UniversalEntityID", "LocalNamespaceEntityID")]
    return Found(patient_id=_text(ds, "PatientID"), name=_text(ds, "PatientName"),
                 birth_date=_text(ds, "PatientBirthDate"), sex=_text(ds, "PatientSex"),
                 issuer=_text(ds, "IssuerOfPatientID"), issuer_ids=tuple(v for v in ids if v),
                 study_uid=_text(ds, "StudyInstanceUID"))


def read_instance(path: Path, rel: str, dest: Path | None = None,
                  approved: Approved | None = None, limits: Limits | None = None) -> Instance:
    """Parse and check `path`; with `dest`, write its canonical copy there (the Patient
    module written as `approved` says) and describe that copy.

    Raises NotUsable (left off the disc, with the reason) for what is not DICOM or has no place
    in a file-set, and Damaged (the job is held) for a damaged or tampered object.
    """
    try:
        parsed = parse_file(path, limits)
    except NotDicom:
        raise NotUsable("not a DICOM file") from None
    except (OSError, ValueError) as exc:
        raise NotUsable(f"the file cannot be read ({exc.__class__.__name__})") from None
    with parsed:
        ds = canonical.header(parsed)
        meta = {e.tag: parsed.value(e).decode("latin-1").strip(" \0") for e in parsed.meta
                if e.vr == "UI"}
        sop_class = _text(ds, "SOPClassUID") or meta.get(0x00020002, "")
        sop_instance = _text(ds, "SOPInstanceUID")
        if sop_class == MEDIA_STORAGE_DIRECTORY:
            raise NotUsable("this is a disc directory (DICOMDIR) from another disc; burner "
                            "writes its own")
        if not sop_class or not sop_instance:
            if not parsed.part10:
                raise NotUsable("not a DICOM file")
            raise NotUsable("the file has no SOP Class or SOP Instance UID, so no viewer can "
                            "identify it")
        canonical.check_uids(parsed)
        has_pixels = _has_pixels(ds)
        rtype = record_type(sop_class, has_pixels)
        if rtype is None and pydicom.uid.UID(sop_class).name.endswith("Image Storage"):
            raise NotUsable("this image has no picture in it (no pixel data)")
        if rtype is None:
            raise NotUsable(f"this kind of DICOM object ({sop_class}) has no place in a disc "
                            "directory")
        canonical.check_pixels(parsed, ds)
        found = found_identity(ds)
        values: dict = {}
        try:
            for tag in _WANTED_TAGS.intersection(ds.keys()):
                values[_WANTED[tag]] = _value(ds, tag)
        except Exception as exc:  # noqa: BLE001
            raise Damaged(f"its header cannot be read ({exc.__class__.__name__})") from None
        written = None
        if dest is not None:
            written = canonical.write(parsed, ds, dest, sop_class=sop_class,
                                      sop_instance=sop_instance, approved=approved)
        syntax = written.transfer_syntax if written else parsed.transfer_syntax
        fp = parsed.fingerprint
    if written is not None and approved is not None:
        values.update(_written_identity(values, approved, written))
    return Instance(
        path=dest if dest is not None else path,
        rel=rel,
        sop_class=sop_class,
        sop_instance=sop_instance,
        transfer_syntax=syntax,
        size=written.size if written else path.stat().st_size,
        has_pixels=has_pixels,
        record=rtype,
        values=values,
        found=found,
        sha256=written.sha256 if written else "",
        changed=written.changed if written else (),
        source=path,
        fingerprint=fp,
    )


def _written_identity(values: dict, approved: Approved, written: canonical.Written) -> dict:
    """The header values of the Patient module as the canonical copy now holds them."""
    out = {"PatientName": approved.name, "PatientID": approved.patient_id,
           "PatientBirthDate": approved.birth_date}
    if approved.issuer:
        out["IssuerOfPatientID"] = approved.issuer
    if approved.sex:
        out["PatientSex"] = approved.sex
    if canonical.CHARSET in written.changed:
        out["SpecificCharacterSet"] = "ISO_IR 192"
    return out
