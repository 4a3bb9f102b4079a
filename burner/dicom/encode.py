"""A small Explicit VR Little Endian encoder for DICOMDIR records.

pydicom's Dataset/write_dataset validates and wraps every value, which made the DICOMDIR of a
600-slice CT take ~0.3 s; records only hold short strings, numbers and the odd sequence, so
those are encoded here directly and anything unusual falls back to pydicom.
"""

from __future__ import annotations

import struct
from functools import cache

from pydicom.charset import convert_encodings, encode_string
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.valuerep import PersonName

_LONG = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT"}
_TEXT = {"SH", "LO", "ST", "LT", "UC", "UT", "PN"}
_STRINGS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI", "UR"} | _TEXT
_NUMBERS = {"US": "H", "UL": "I", "SS": "h", "SL": "i", "FL": "f", "FD": "d"}


@cache
def tag_and_vr(keyword: str) -> tuple[int, str]:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    return tag, dictionary_VR(tag)


@cache
def _encodings(charset: str) -> tuple[str, ...]:
    return tuple(convert_encodings(charset.split("\\") if charset else None))


def _header(tag: int, vr: str, length: int) -> bytes:
    if vr in _LONG:
        return struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, vr.encode(), 0, length)
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), length)


def _text(value: object, vr: str, encodings: tuple[str, ...]) -> bytes:
    items = value if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue" \
        else [value]
    if vr == "PN":
        parts = [v.encode(list(encodings)) if isinstance(v, PersonName)
                 else encode_string(str(v), list(encodings)) for v in items]
        return b"\\".join(parts)
    text = "\\".join("" if v is None else str(v) for v in items)
    if vr in _TEXT:
        return encode_string(text, list(encodings))
    return text.encode("ascii", errors="replace")


def _fallback(keyword: str, value: object, charset: str) -> bytes:
    ds = Dataset()
    if charset:
        ds.SpecificCharacterSet = charset
    setattr(ds, keyword, value)
    if charset:
        del ds.SpecificCharacterSet
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    write_dataset(fp, ds)
    return fp.getvalue()


def element(keyword: str, value: object, charset: str = "") -> bytes:
    """One element, encoded; `None` gives an empty (type 2) element."""
    tag, vr = tag_and_vr(keyword)
    if value is None or value == "":
        return _header(tag, vr if vr in _STRINGS or vr in _NUMBERS else "UN", 0) \
            if vr in _STRINGS or vr in _NUMBERS else _fallback(keyword, value, charset)
    if vr in _STRINGS:
        data = _text(value, vr, _encodings(charset))
        if len(data) % 2:
            data += b"\0" if vr == "UI" else b" "
        if vr not in _LONG and len(data) > 0xFFFF:
            return _fallback(keyword, value, charset)
        return _header(tag, vr, len(data)) + data
    if vr in _NUMBERS:
        items = value if isinstance(value, list | tuple) or \
            type(value).__name__ == "MultiValue" else [value]
        data = struct.pack("<" + _NUMBERS[vr] * len(items), *items)
        return _header(tag, vr, len(data)) + data
    return _fallback(keyword, value, charset)


def record(items: list[tuple[str, object]], charset: str = "") -> bytearray:
    """Encode (keyword, value) pairs as one dataset, in ascending tag order."""
    ordered = sorted(items, key=lambda kv: tag_and_vr(kv[0])[0])
    return bytearray(b"".join(element(k, v, charset) for k, v in ordered))
