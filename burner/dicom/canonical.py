"""Check a parsed object and write it anew, as the one canonical copy that may go on a disc.

The writer emits every element from the parse (DESIGN.md section 4a): a zeroed preamble, a
file meta group of burner's own, the data set in Explicit VR Little Endian (or the object's
own compressed syntax), with no group lengths, no padding, no signatures and nothing after it.
The Patient module is written with the approved identity; every value that changes is kept in
Original Attributes Sequence (0400,0561), PS3.3 C.12.1.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import os
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from pydicom.charset import convert_encodings, decode_bytes
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.uid import UID, ExplicitVRLittleEndian
from pydicom.valuerep import PersonName

import burner
from burner.dicom.parse import (
    ITEM,
    MB,
    NATIVE,
    PIXEL_DATA,
    PIXEL_TAGS,
    SEQ_END,
    UNDEFINED,
    Damaged,
    Elem,
    Parsed,
    tag_text,
)
from burner.patient import Approved

IMPLEMENTATION_UID = "1.2.826.0.1.3680043.10.1468.1"  # burner's implementation class (example)
VERSION_NAME = f"BURNER_{burner.__version__}"[:16]
MODIFYING_SYSTEM = f"burner {burner.__version__}"
CHARSET = 0x00080005
ORIGINAL_ATTRIBUTES = 0x04000561
_SKIP = frozenset({0xFFFAFFFA, 0xFFFCFFFC})   # signatures (void once changed), padding
_TEXT = {"SH", "LO", "ST", "LT", "UC", "UT", "PN"}
_PAD_SPACE = _TEXT | {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UR"}
_SWAP = {"US": 2, "SS": 2, "OW": 2, "AT": 2, "UL": 4, "SL": 4, "FL": 4, "OF": 4, "OL": 4,
         "FD": 8, "OD": 8, "SV": 8, "UV": 8, "OV": 8}
_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*", re.ASCII)
_STREAM = 4 * MB          # values larger than this are streamed, never held in memory
_CHUNK = MB
# The Patient module attributes written with the approved identity: (tag, VR, field).
PATIENT_TAGS = ((0x00100010, "PN", "name"), (0x00100020, "LO", "patient_id"),
                (0x00100021, "LO", "issuer"), (0x00100030, "DA", "birth_date"),
                (0x00100040, "CS", "sex"))


# --- reading values --------------------------------------------------------------------------


def _raw(p: Parsed, e: Elem, implicit: bool) -> RawDataElement | DataElement:
    if e.items is not None:
        return DataElement(BaseTag(e.tag), "SQ",
                           Sequence([to_dataset(p, i, implicit) for i in e.items]))
    vr = None if " or " in e.vr else e.vr
    value = p.value(e) if e.fragments is None else None
    return RawDataElement(BaseTag(e.tag), vr, e.length, value, e.start, implicit,
                          p.little_endian, True, False)


def to_dataset(p: Parsed, elements: list[Elem], implicit: bool = False,
               skip_large: bool = True) -> Dataset:
    """A pydicom Dataset of `elements` whose values pydicom decodes lazily (large ones left
    out when `skip_large`): how values are read, never how objects are written."""
    ds = Dataset()
    for e in elements:
        if skip_large and (e.tag in PIXEL_TAGS or e.length > 64 * 1024) and e.items is None:
            continue
        ds[BaseTag(e.tag)] = _raw(p, e, implicit)  # type: ignore[assignment]
    ds.set_original_encoding(implicit, p.little_endian)
    return ds


def header(p: Parsed) -> Dataset:
    """The object's data set without its large values, for reading header values."""
    ds = to_dataset(p, p.elements, p.implicit)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = p.transfer_syntax
    return ds


# --- checks ----------------------------------------------------------------------------------


def _walk(elements: list[Elem]) -> Iterable[Elem]:
    for e in elements:
        yield e
        for item in e.items or ():
            yield from _walk(item)


def check_uids(p: Parsed) -> None:
    """Every UID value must be a valid UID (PS3.5 9.1): digits and dots, at most 64."""
    for e in _walk(p.elements):
        if e.vr != "UI":
            continue
        text = p.value(e).decode("latin-1").rstrip("\0 ")
        for uid in text.split("\\") if text else ():
            if len(uid) > 64 or not _UID.fullmatch(uid):
                shown = uid[:40].encode("unicode_escape").decode("ascii")
                raise Damaged(f"element {tag_text(e.tag)} holds '{shown}"
                              f"{'...' if len(uid) > 40 else ''}', which is not a valid UID")


def _int(ds: Dataset, keyword: str, default: int) -> int:
    try:
        value = ds.get(keyword, default)
        return default if value in (None, "") else int(value)
    except (TypeError, ValueError):
        raise Damaged(f"its {keyword} is not a number") from None


@dataclass(frozen=True)
class PixelShape:
    rows: int
    columns: int
    frames: int
    samples: int
    bits: int

    def bytes_needed(self, ybr422: bool = False) -> int:
        pixels = self.rows * self.columns * self.frames
        if self.bits == 1:
            return (pixels * self.samples + 7) // 8
        if ybr422:
            return pixels * 2 * self.bits // 8
        return pixels * self.samples * self.bits // 8

    def words(self) -> str:
        return (f"{self.rows} x {self.columns} x {self.frames} frame(s) x {self.samples} "
                f"sample(s) x {self.bits} bits")


def pixel_shape(ds: Dataset, tag: int) -> PixelShape:
    bits = {0x7FE00008: 32, 0x7FE00009: 64}.get(tag) or _int(ds, "BitsAllocated", 0)
    shape = PixelShape(_int(ds, "Rows", 0), _int(ds, "Columns", 0),
                       _int(ds, "NumberOfFrames", 1), _int(ds, "SamplesPerPixel", 1), bits)
    if min(shape.rows, shape.columns, shape.frames, shape.samples, shape.bits) <= 0:
        raise Damaged("its pixel data does not match its size: the image says it is "
                      f"{shape.words()}, which is not a picture")
    return shape


def check_pixels(p: Parsed, ds: Dataset, decode_frames: bool = True) -> None:
    """Native pixel data must be exactly Rows x Columns x frames x samples x bits; compressed
    frames must be as many as declared, and the first and last frame must decode."""
    elem = next((e for e in p.elements if e.tag in PIXEL_TAGS), None)
    if elem is None:
        return
    shape = pixel_shape(ds, elem.tag)
    if elem.fragments is None:
        ybr = str(ds.get("PhotometricInterpretation", "")).strip() == "YBR_FULL_422"
        need = shape.bytes_needed(ybr)
        if elem.length not in (need, need + 1):
            raise Damaged(f"its pixel data does not match its size: {shape.words()} needs "
                          f"{need:,} bytes, but there are {elem.length:,}")
        return
    fragments = len(elem.fragments) - 1        # the first item is the offset table
    if fragments < 1 or (fragments < shape.frames and shape.frames > 1
                         and elem.fragments[0][1] == 0):
        raise Damaged(f"its pixel data does not match its size: {shape.frames} frame(s) "
                      f"declared but {fragments} compressed fragment(s) present")
    if decode_frames:
        check_frames(p, ds, elem, shape)


def check_frames(p: Parsed, ds: Dataset, elem: Elem, shape: PixelShape) -> None:
    """Decode the first and the last frame (a bounded sample) and check their size."""
    from pydicom.pixels import get_decoder

    try:
        decoder = get_decoder(UID(p.transfer_syntax))
    except NotImplementedError:
        return       # no decoder for this syntax here: nothing to decode with
    if not decoder.is_available:
        return
    probe = Dataset()
    for keyword in ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit",
                    "PixelRepresentation", "SamplesPerPixel", "PhotometricInterpretation",
                    "PlanarConfiguration", "NumberOfFrames"):
        if keyword in ds:
            setattr(probe, keyword, ds[keyword].value)
    probe.file_meta = FileMetaDataset()
    probe.file_meta.TransferSyntaxUID = p.transfer_syntax
    probe.PixelData = bytes(p.buf[elem.start:elem.start + elem.length - 8])
    probe["PixelData"].VR = "OB"
    for index in sorted({0, shape.frames - 1}):
        try:
            arr, _ = decoder.as_array(probe, index=index)
        except Exception as exc:  # noqa: BLE001 - any decoder failure means a damaged frame
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()] or [""]
            gist = lines[1] if len(lines) > 1 and lines[0].endswith(":") else lines[0]
            gist = gist[:120]
            raise Damaged(f"its compressed picture (frame {index + 1} of {shape.frames}) "
                          f"could not be decoded ({gist})") from None
        if arr.shape[:2] != (shape.rows, shape.columns):
            raise Damaged(f"its pixel data does not match its size: frame {index + 1} "
                          f"decodes to {arr.shape[1]} x {arr.shape[0]} pixels, not "
                          f"{shape.columns} x {shape.rows}")


# --- the Patient module ----------------------------------------------------------------------


def _encodings(p: Parsed) -> list[str]:
    e = p.find(CHARSET)
    text = p.value(e).decode("latin-1").strip(" \0") if e else ""
    return convert_encodings([t.strip() for t in text.split("\\")] if text else None)


def _decode(raw: bytes, vr: str, encodings: list[str]) -> str:
    if vr == "PN":
        return str(PersonName(raw, encodings)).rstrip(" \0")
    if vr in _TEXT:
        delims = {0x5C} if vr in ("SH", "LO", "UC") else set()
        return decode_bytes(raw, encodings, delims).rstrip(" \0")
    return raw.decode("latin-1").strip(" \0")


def _encode_in(text: str, encodings: list[str]) -> bytes | None:
    """`text` in the object's own character set, or None when that set cannot hold it."""
    if text.isascii():
        return text.encode("ascii")
    if len(encodings) == 1:
        try:
            return text.encode(encodings[0])
        except (UnicodeEncodeError, LookupError):
            return None
    return None


@dataclass
class _Changes:
    """What writing the approved identity changes in one object."""

    values: dict[int, bytes]        # tag -> new value (Patient module, maybe the charset)
    vrs: dict[int, str]
    originals: list[tuple[int, str, bytes]]   # (tag, VR, old value) for Original Attributes
    utf8: bool = False              # every text value is re-encoded as UTF-8 (ISO_IR 192)


def _pad(value: bytes, vr: str) -> bytes:
    if len(value) % 2:
        value += b" " if vr in _PAD_SPACE else b"\0"
    return value


def patient_changes(p: Parsed, approved: Approved) -> _Changes:
    """The approved identity as element values; unchanged ones are left out."""
    encodings = _encodings(p)
    wanted = {tag: (vr, getattr(approved, name) or "") for tag, vr, name in PATIENT_TAGS}
    for tag, _vr, name in PATIENT_TAGS:
        if name in ("issuer", "sex") and not getattr(approved, name):
            del wanted[tag]              # not set by the release: the object's own stays
    utf8 = any(_encode_in(text, encodings) is None for _, text in wanted.values())
    out = _Changes({}, {}, [], utf8)
    for tag, (vr, text) in wanted.items():
        elem = p.find(tag)
        old = p.value(elem) if elem else b""
        if _decode(old, vr, encodings) == text and not utf8:
            continue
        new = text.encode("utf-8") if utf8 else _encode_in(text, encodings)
        out.values[tag] = _pad(new or b"", vr)
        out.vrs[tag] = vr
        if _decode(old, vr, encodings) != text:
            out.originals.append((tag, vr, old))
    if utf8:
        out.values[CHARSET], out.vrs[CHARSET] = b"ISO_IR 192", "CS"
        old_charset = p.find(CHARSET)
        out.originals.append((CHARSET, "CS", p.value(old_charset) if old_charset else b""))
    return out


# --- writing ---------------------------------------------------------------------------------


def _header(tag: int, vr: str, length: int) -> bytes:
    if vr in ("OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV"):
        return struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, vr.encode(), 0, length)
    if length > 0xFFFF:
        return struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, b"UN", 0, length)
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), length)


class _Out:
    """A destination file that hashes what is written."""

    def __init__(self, fp: BinaryIO):
        self.fp = fp
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> None:
        self.digest.update(data)
        self.fp.write(data)
        self.size += len(data)


class Writer:
    """Encodes a parsed object as Explicit VR Little Endian."""

    def __init__(self, p: Parsed, ds: Dataset, changes: _Changes | None):
        self.p = p
        self.swap = not p.little_endian
        self.signed = str(ds.get("PixelRepresentation", 0)).strip() == "1"
        self.bits = int(ds.get("BitsAllocated", 16) or 16)
        self.changes = changes
        self.encodings = _encodings(p) if changes and changes.utf8 else []

    def vr_of(self, e: Elem) -> str:
        vr = e.vr
        if " or " not in vr:
            return vr
        if vr == "US or SS":
            return "SS" if self.signed else "US"
        if e.tag == PIXEL_DATA:
            return "OB" if self.bits <= 8 else "OW"
        return "OW"

    def _width(self, tag: int, vr: str) -> int:
        """The unit a big endian value is swapped in (OW words hold the pixels' width)."""
        if tag == PIXEL_DATA and vr == "OW":
            return max(2, self.bits // 8)
        return _SWAP.get(vr, 1)

    def value(self, e: Elem, vr: str) -> bytes:
        data = self.p.value(e)
        if self.swap:
            width = self._width(e.tag, vr)
            if width > 1 and len(data) % width == 0:
                data = np.frombuffer(data, dtype=f">u{width}").astype(f"<u{width}").tobytes()
        if self.encodings and vr in _TEXT:
            data = _decode(data, vr, self.encodings).encode("utf-8")
        return _pad(data, vr)

    def element(self, e: Elem) -> bytes:
        if e.fragments is not None:       # e.g. a compressed icon inside a sequence
            out = _Out(io.BytesIO())
            self.stream(out, e, "OB")
            return out.fp.getvalue()  # type: ignore[attr-defined]
        if e.items is not None:
            body = b"".join(self.item(i) for i in e.items)
            return _header(e.tag, "SQ", len(body)) + body
        vr = self.vr_of(e)
        data = self.value(e, vr)
        return _header(e.tag, vr, len(data)) + data

    def item(self, elements: list[Elem]) -> bytes:
        body = b"".join(self.element(e) for e in elements
                        if e.tag & 0xFFFF or e.tag >> 16 == 2)  # no group lengths
        return struct.pack("<HHI", 0xFFFE, 0xE000, len(body)) + body

    def stream(self, out: _Out, e: Elem, vr: str) -> None:
        """A large value straight from the source file, in chunks."""
        if e.fragments is not None:
            out.write(struct.pack("<HH2sHI", e.tag >> 16, e.tag & 0xFFFF, b"OB", 0, UNDEFINED))
            for start, length in e.fragments:
                padded = length + (length & 1)
                out.write(struct.pack("<HHI", ITEM >> 16, ITEM & 0xFFFF, padded))
                self._copy(out, start, length, vr="OB")
                if length & 1:
                    out.write(b"\0")
            out.write(struct.pack("<HHI", SEQ_END >> 16, SEQ_END & 0xFFFF, 0))
            return
        padded = e.length + (e.length & 1)
        out.write(_header(e.tag, vr, padded))
        self._copy(out, e.start, e.length, vr)
        if e.length & 1:
            out.write(b"\0")

    def _copy(self, out: _Out, start: int, length: int, vr: str) -> None:
        width = self._width(PIXEL_DATA, vr) if self.swap else 1
        if self.p.fd < 0 or length <= _STREAM:
            data = self.p.buf[start:start + length]
            if width > 1:
                data = np.frombuffer(data, dtype=f">u{width}").astype(f"<u{width}").tobytes()
            out.write(data)
            return
        done = 0
        chunk = _CHUNK - _CHUNK % max(width, 1)
        while done < length:
            block = os.pread(self.p.fd, min(chunk, length - done), start + done)
            if not block:
                raise Damaged("the file changed while it was being read")
            if width > 1:
                block = np.frombuffer(block, dtype=f">u{width}").astype(f"<u{width}").tobytes()
            out.write(block)
            done += len(block)


def _oas_item(changes: _Changes, writer: Writer, when: datetime.datetime) -> bytes:
    """One Original Attributes Sequence item: the old values and who changed them, why."""
    old = b""
    for tag, vr, raw in sorted(changes.originals):
        if writer.encodings and vr in _TEXT:
            raw = _decode(raw, vr, writer.encodings).encode("utf-8")
        raw = _pad(raw, vr)
        old += _header(tag, vr, len(raw)) + raw
    modified = struct.pack("<HHI", 0xFFFE, 0xE000, len(old)) + old
    body = _header(0x04000550, "SQ", len(modified)) + modified
    for tag, vr, text in ((0x04000562, "DT", when.strftime("%Y%m%d%H%M%S")),
                          (0x04000563, "LO", MODIFYING_SYSTEM),
                          (0x04000564, "LO", ""),
                          (0x04000565, "CS", "COERCE")):
        value = _pad(text.encode("ascii"), vr)
        body += _header(tag, vr, len(value)) + value
    return struct.pack("<HHI", 0xFFFE, 0xE000, len(body)) + body


def file_meta(sop_class: str, sop_instance: str, syntax: str) -> bytes:
    """Preamble (zeroed), "DICM" and the File Meta Information of an object, as burner
    writes them."""
    elems = b""
    for tag, vr, value in ((0x00020001, "OB", b"\0\1"),
                           (0x00020002, "UI", sop_class.encode()),
                           (0x00020003, "UI", sop_instance.encode()),
                           (0x00020010, "UI", syntax.encode()),
                           (0x00020012, "UI", IMPLEMENTATION_UID.encode()),
                           (0x00020013, "SH", VERSION_NAME.encode())):
        value = _pad(value, vr)
        elems += _header(tag, vr, len(value)) + value
    group = _header(0x00020000, "UL", 4) + struct.pack("<I", len(elems))
    return b"\0" * 128 + b"DICM" + group + elems


@dataclass(frozen=True)
class Written:
    """What was written for an object."""

    transfer_syntax: str
    size: int
    sha256: str
    changed: tuple[int, ...]        # tags whose values were changed (Original Attributes)


def write(p: Parsed, ds: Dataset, dest: Path, *, sop_class: str, sop_instance: str,
          approved: Approved | None, replace: dict[int, tuple[str, bytes]] | None = None,
          syntax: str | None = None,
          when: datetime.datetime | None = None) -> Written:
    """Write `p` to `dest` as its canonical copy; `replace` swaps whole top-level values
    (tag -> (VR, value), e.g. decoded pixel data), `syntax` the transfer syntax written."""
    changes = patient_changes(p, approved) if approved else None
    writer = Writer(p, ds, changes)
    syntax = syntax or (p.transfer_syntax if p.transfer_syntax not in NATIVE
                        else ExplicitVRLittleEndian)
    when = when or datetime.datetime.now(datetime.UTC)
    new: dict[int, tuple[str, bytes]] = dict(replace or {})
    if changes:
        new.update({t: (changes.vrs[t], v) for t, v in changes.values.items()})
    existing = {e.tag for e in p.elements}
    inserts = sorted(t for t in new if t not in existing)
    if changes and changes.originals:
        inserts = sorted({*inserts, ORIGINAL_ATTRIBUTES} - existing)
    with open(dest, "wb") as fp:
        out = _Out(fp)
        out.write(file_meta(sop_class, sop_instance, syntax))

        def put_new(tag: int) -> None:
            if tag == ORIGINAL_ATTRIBUTES and tag not in new:
                item = _oas_item(changes, writer, when)  # type: ignore[arg-type]
                out.write(_header(tag, "SQ", len(item)) + item)
                return
            vr, value = new[tag]
            out.write(_header(tag, vr, len(_pad(value, vr))) + _pad(value, vr))

        pending = list(inserts)
        for e in p.elements:
            while pending and pending[0] < e.tag:
                put_new(pending.pop(0))
            if e.tag in _SKIP or (e.tag & 0xFFFF == 0):
                continue
            if e.tag in new:
                put_new(e.tag)
            elif e.tag == ORIGINAL_ATTRIBUTES and changes and changes.originals:
                items = b"".join(writer.item(i) for i in e.items or [])
                items += _oas_item(changes, writer, when)
                out.write(_header(e.tag, "SQ", len(items)) + items)
            elif e.fragments is not None or (e.items is None and e.length > _STREAM):
                writer.stream(out, e, writer.vr_of(e))
            else:
                out.write(writer.element(e))
        for tag in pending:
            put_new(tag)
    return Written(syntax, out.size, out.digest.hexdigest(),
                   tuple(t for t, _, _ in changes.originals) if changes else ())
