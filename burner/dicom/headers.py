"""Read a DICOM file's header only, keeping just what later stages need.

Whole pixel data is never read here (`stop_before_pixels`, large values deferred), and what is
kept per instance is a small dict, so memory does not grow with image size.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.valuerep import IS, DSfloat, PersonName

from burner.dicom.records import MEDIA_STORAGE_DIRECTORY, record_type, wanted_keywords

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
PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)


@dataclass
class Instance:
    """One DICOM object found in a job, as far as the pipeline needs to know it."""

    path: Path
    rel: str
    sop_class: str
    sop_instance: str
    transfer_syntax: str
    size: int
    part10: bool            # has preamble, "DICM" and a usable file meta group
    has_pixels: bool
    record: str             # leaf record type in the DICOMDIR
    values: dict = field(default_factory=dict)

    def get(self, keyword: str, default: object = "") -> object:
        return self.values.get(keyword, default)

    @property
    def study_uid(self) -> str:
        return str(self.values.get("StudyInstanceUID", ""))

    @property
    def series_uid(self) -> str:
        return str(self.values.get("SeriesInstanceUID", ""))


class NotUsable(Exception):
    """A file that cannot go on the disc; the message says why in plain words."""


def _read(path: Path) -> tuple[Dataset, bool]:
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, defer_size=4096)
        return ds, True
    except InvalidDicomError:
        pass
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, defer_size=4096, force=True)
    except Exception as exc:  # noqa: BLE001 - any parse failure means "not DICOM"
        raise NotUsable("not a DICOM file") from exc
    if "SOPInstanceUID" not in ds or "SOPClassUID" not in ds:
        raise NotUsable("not a DICOM file")
    return ds, False


def body_is_implicit(ds: Dataset) -> bool:
    """True when pydicom had to read the body as implicit VR (its elements came without a VR).

    Some writers put an implicit VR body behind an explicit transfer syntax; such a file is
    not what its file meta says and must be rewritten, never copied.
    """
    # pydicom decides once, at the first element, how the whole body is encoded.
    first = next(iter(ds.elements()), None)
    return first is not None and getattr(first, "VR", "") is None


def _has_pixels(ds: Dataset) -> bool:
    # stop_before_pixels leaves pixel data out; Rows and Columns tell that an image follows.
    return "Rows" in ds and "Columns" in ds


def read_instance(path: Path, rel: str) -> Instance:
    """Read `path`'s header; raise NotUsable with a plain reason when it cannot go on a disc."""
    try:
        ds, part10 = _read(path)
    except NotUsable:
        raise
    except Exception as exc:  # noqa: BLE001
        raise NotUsable(f"the file is damaged and cannot be read ({exc.__class__.__name__})") \
            from exc
    meta = getattr(ds, "file_meta", None)
    implicit_body = body_is_implicit(ds)
    try:
        sop_class = str(ds.get("SOPClassUID", "")
                        or (meta or {}).get("MediaStorageSOPClassUID", ""))
        sop_instance = str(ds.get("SOPInstanceUID", ""))
        syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    except Exception as exc:  # noqa: BLE001
        raise NotUsable("the file's identifying header is damaged") from exc
    if not syntax:
        syntax = str(ds.original_encoding_uid()) if hasattr(ds, "original_encoding_uid") else ""
        part10 = False
    if sop_class == MEDIA_STORAGE_DIRECTORY:
        raise NotUsable("this is a disc directory (DICOMDIR) from another disc; burner writes "
                        "its own")
    if not sop_class or not sop_instance:
        raise NotUsable("the file has no SOP Class or SOP Instance UID, so no viewer can "
                        "identify it")
    has_pixels = _has_pixels(ds)
    rtype = record_type(sop_class, has_pixels)
    if rtype is None and pydicom.uid.UID(sop_class).name.endswith("Image Storage"):
        raise NotUsable("this image has no picture in it (no pixel data)")
    if rtype is None:
        raise NotUsable(f"this kind of DICOM object ({sop_class}) has no place in a disc "
                        "directory")
    if part10 and meta is not None and str(meta.get("MediaStorageSOPInstanceUID", "")) \
            != sop_instance:
        part10 = False  # the file meta disagrees with the dataset: rewrite it when staging
    if implicit_body and syntax != pydicom.uid.ImplicitVRLittleEndian:
        part10 = False  # the body is not encoded as the transfer syntax says: rewrite it
    values: dict = {}
    try:
        for tag in _WANTED_TAGS.intersection(ds.keys()):
            values[_WANTED[tag]] = _value(ds, tag)
    except Exception as exc:  # noqa: BLE001
        raise NotUsable(f"the file's header is damaged ({exc.__class__.__name__})") from exc
    return Instance(
        path=path,
        rel=rel,
        sop_class=sop_class,
        sop_instance=sop_instance,
        transfer_syntax=syntax,
        size=os.path.getsize(path),
        part10=part10,
        has_pixels=has_pixels,
        record=rtype,
        values=values,
    )
