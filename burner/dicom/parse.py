"""A strict, bounded parse of one DICOM file into its element tree (DESIGN.md section 4a).

Nothing of an input goes on a disc unless this parse accepted it: every element's tag must
follow the one before it (no duplicates, no reordering), every declared length must fit in the
file and under the configured cap, sequences and encapsulated pixel data must be well formed,
and nothing may follow the data set. Values are not copied: an element records where its value
lies in the (memory-mapped) source, so a 300 MB multi-frame costs no memory to parse.
A refusal is `Damaged`, whose message says what is wrong in plain words.
"""

from __future__ import annotations

import mmap
import os
import struct
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pydicom.datadict import dictionary_VR
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

PIXEL_DATA = 0x7FE00010
PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, PIXEL_DATA})
ITEM, ITEM_END, SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
UNDEFINED = 0xFFFFFFFF
LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV",
                      "UV"})
VRS = LONG_VRS | {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "PN",
                  "SH", "SL", "SS", "ST", "TM", "UI", "UL", "US"}
MAX_DEPTH = 32
MB = 1 << 20
NATIVE = {ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian,
           DeflatedExplicitVRLittleEndian}


class Damaged(Exception):
    """The file is not an intact DICOM object; the message says why in plain words."""


class NotDicom(Exception):
    """The file is not DICOM at all (a stray document, a thumbnail cache, ...)."""


@dataclass(frozen=True)
class Limits:
    """Bounds on what one input may claim (configurable, generous for real studies)."""

    max_element_bytes: int = 4096 * MB
    max_inflated_bytes: int = 512 * MB


@dataclass(slots=True)
class Elem:
    """One element: where its value lies in the source, or its items / fragments."""

    tag: int
    vr: str
    start: int                      # offset of the value in the source buffer
    length: int                     # bytes of the value (defined-length values)
    items: list[list[Elem]] | None = None          # SQ
    fragments: list[tuple[int, int]] | None = None  # encapsulated pixel data (offset, length)


@dataclass
class Parsed:
    """A parsed file: its file meta, data set and the buffer the offsets point into."""

    path: Path
    meta: list[Elem]
    elements: list[Elem]
    buf: mmap.mmap | bytes
    transfer_syntax: str
    little_endian: bool
    part10: bool
    implicit: bool                  # the data set is Implicit VR (whatever the syntax says)
    fingerprint: tuple[int, ...] = ()   # of the input as opened: device, inode, size, times
    fd: int = -1                    # for reading large values without touching the mapping
    _temp: object = field(default=None, repr=False)

    def value(self, elem: Elem) -> bytes:
        return bytes(self.buf[elem.start:elem.start + elem.length])

    def find(self, tag: int) -> Elem | None:
        for elem in self.elements:
            if elem.tag == tag:
                return elem
            if elem.tag > tag:
                return None
        return None

    def close(self) -> None:
        if isinstance(self.buf, mmap.mmap):
            self.buf.close()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self._temp is not None:
            self._temp.close()   # type: ignore[attr-defined]
            self._temp = None

    def __enter__(self) -> Parsed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def tag_text(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _known_vr(tag: int, length: int) -> str:
    """The dictionary VR of a public element written as UN (as some converters do); a UN
    sequence's content is Implicit VR Little Endian (PS3.5 6.2.2)."""
    if tag >> 16 & 1:
        return "UN"
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        return "UN"
    if vr != "SQ" and (length == UNDEFINED or (vr not in LONG_VRS and length > 0xFFFF)):
        return "UN"
    return vr


def implicit_vr(tag: int, length: int) -> str:
    """The VR of an implicit VR element: from the data dictionary; unknown ones are UN."""
    if tag & 0xFFFF == 0:
        return "UL"                                   # group length
    group = tag >> 16
    if group & 1 and 0x0010 <= tag & 0xFFFF <= 0x00FF:
        return "LO"                                   # private creator
    if length == UNDEFINED and group & 1:
        return "SQ"
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        return "SQ" if length == UNDEFINED else "UN"
    if length == UNDEFINED and tag != PIXEL_DATA:
        return "SQ"
    return vr               # "US or SS" and the like are resolved when writing


class _Reader:
    """Walks the element tree of a buffer, strictly."""

    def __init__(self, buf: mmap.mmap | bytes, little: bool, encapsulated: bool,
                 limits: Limits):
        self.buf = buf
        self.size = len(buf)
        self.end_char = "<" if little else ">"
        self.encapsulated = encapsulated
        self.limits = limits
        self.pixels_seen = False

    def _u16(self, pos: int) -> int:
        return struct.unpack_from(self.end_char + "H", self.buf, pos)[0]

    def _u32(self, pos: int) -> int:
        return struct.unpack_from(self.end_char + "I", self.buf, pos)[0]

    def header(self, pos: int, end: int, implicit: bool) -> tuple[int, str, int, int]:
        """(tag, vr, length, header size) of the element at `pos`; raises Damaged."""
        if end - pos < 8:
            raise Damaged(f"{end - pos} bytes at the end are not a DICOM element")
        tag = (self._u16(pos) << 16) | self._u16(pos + 2)
        if implicit or tag >> 16 == 0xFFFE:
            length = self._u32(pos + 4)
            return tag, "", length, 8
        vr = bytes(self.buf[pos + 4:pos + 6]).decode("latin-1")
        if vr not in VRS:
            raise Damaged(f"the bytes at {pos} are not a DICOM element (no valid value type)")
        if vr in LONG_VRS:
            if end - pos < 12:
                raise Damaged(f"{end - pos} bytes at the end are not a DICOM element")
            return tag, vr, self._u32(pos + 8), 12
        return tag, vr, self._u16(pos + 6), 8

    def dataset(self, pos: int, end: int, implicit: bool, depth: int,
                item_undefined: bool, top: bool) -> tuple[list[Elem], int]:
        """The elements from `pos` up to `end` (or an item delimiter); returns (elements, pos)."""
        if depth > MAX_DEPTH:
            raise Damaged(f"its sequences are nested more than {MAX_DEPTH} deep")
        out: list[Elem] = []
        previous = -1
        while pos < end:
            try:
                tag, vr, length, head = self.header(pos, end, implicit)
            except Damaged as exc:
                raise self._after(top, exc) from None
            if tag == ITEM_END and item_undefined:
                if length != 0:
                    raise Damaged(f"an item end marker at byte {pos} has a length")
                return out, pos + head
            if tag >> 16 == 0xFFFE:
                raise self._after(top, Damaged(f"a sequence marker {tag_text(tag)} stands "
                                               f"outside a sequence at byte {pos}"))
            start = pos + head
            if length != UNDEFINED and length > end - start:
                exc = Damaged(f"element {tag_text(tag)} says it is {length:,} bytes long, "
                              f"longer than the file ({end - start:,} bytes left): the file is "
                              "cut off or damaged")
                raise self._after(top, exc) if tag <= previous else exc
            if tag <= previous:
                if tag == previous:
                    raise Damaged(f"the same element {tag_text(tag)} appears twice, so "
                                  "different programs would read different values")
                raise self._after(top, Damaged(
                    f"its elements are out of order: {tag_text(tag)} comes after "
                    f"{tag_text(previous)}, a way to hide data from some programs"))
            previous = tag
            if implicit:
                vr = implicit_vr(tag, length)
            elem, pos = self.element(tag, vr, start, length, implicit, depth, end)
            if top and tag in PIXEL_TAGS:
                self.pixels_seen = True
            out.append(elem)
        if item_undefined:
            raise Damaged("a sequence item has no end marker: the file is cut off or damaged")
        return out, pos

    def _after(self, top: bool, exc: Damaged) -> Damaged:
        """At the top level behind the pixel data, a bad element is data after the data set."""
        if top and self.pixels_seen:
            return Damaged(f"there is data after the end of the DICOM data ({exc}); the file "
                           "may have been tampered with")
        return exc

    def element(self, tag: int, vr: str, start: int, length: int, implicit: bool,
                depth: int, end: int) -> tuple[Elem, int]:
        if length != UNDEFINED and length > self.limits.max_element_bytes:
            raise Damaged(f"element {tag_text(tag)} is {length / MB:,.0f} MB, more than the "
                          f"{self.limits.max_element_bytes / MB:,.0f} MB one element may hold")
        if tag == PIXEL_DATA and self.encapsulated and (depth == 0 or length == UNDEFINED):
            if length != UNDEFINED:
                raise Damaged("its compressed pixel data is not stored in fragments as the "
                              "transfer syntax requires")
            frags, pos = self.fragments(start, end)
            return Elem(tag, vr, start, pos - start, fragments=frags), pos
        from_un = vr == "UN"
        if from_un:
            vr = _known_vr(tag, length)
        if vr == "SQ" or (length == UNDEFINED and vr == "UN"):
            inner_implicit = implicit or from_un
            items, pos = self.sequence(start, length, end, inner_implicit, depth)
            return Elem(tag, "SQ", start, pos - start, items=items), pos
        if length == UNDEFINED:
            raise Damaged(f"element {tag_text(tag)} has an undefined length, which only "
                          "sequences may have")
        return Elem(tag, vr, start, length), start + length

    def sequence(self, pos: int, length: int, end: int, implicit: bool,
                 depth: int) -> tuple[list[list[Elem]], int]:
        limit = end if length == UNDEFINED else pos + length
        items: list[list[Elem]] = []
        while pos < limit:
            tag, _, item_len, head = self.header(pos, limit, True)
            if tag == SEQ_END and length == UNDEFINED:
                return items, pos + head
            if tag != ITEM:
                raise Damaged(f"a sequence holds {tag_text(tag)} where an item must be")
            pos += head
            if item_len == UNDEFINED:
                item, pos = self.dataset(pos, limit, implicit, depth + 1, True, False)
            else:
                if item_len > limit - pos:
                    raise Damaged(f"a sequence item says it is {item_len:,} bytes long, longer "
                                  "than the file: the file is cut off or damaged")
                item, after = self.dataset(pos, pos + item_len, implicit, depth + 1, False,
                                           False)
                pos = after
            items.append(item)
        if length == UNDEFINED:
            raise Damaged("a sequence has no end marker: the file is cut off or damaged")
        return items, pos

    def fragments(self, pos: int, end: int) -> tuple[list[tuple[int, int]], int]:
        frags: list[tuple[int, int]] = []
        while pos < end:
            if end - pos < 8:
                break
            tag = (self._u16(pos) << 16) | self._u16(pos + 2)
            length = self._u32(pos + 4)
            if tag == SEQ_END:
                if length != 0:
                    raise Damaged("the end marker of the compressed pixel data has a length")
                if not frags:
                    raise Damaged("the compressed pixel data has no offset table item")
                return frags, pos + 8
            if tag != ITEM:
                raise Damaged(f"the compressed pixel data holds {tag_text(tag)} where a "
                              "fragment must be")
            if length == UNDEFINED or length > end - pos - 8:
                raise Damaged(f"a compressed pixel data fragment says it is {length:,} bytes "
                              "long, longer than the file: the file is cut off or damaged")
            frags.append((pos + 8, length))
            pos += 8 + length
        raise Damaged("the compressed pixel data has no end marker: the file is cut off")


def _meta_group(buf: mmap.mmap | bytes, reader: _Reader) -> tuple[list[Elem], int]:
    """The file meta group after 'DICM': Explicit VR Little Endian, group 0002 only."""
    pos = 132
    elems: list[Elem] = []
    previous = -1
    while pos + 8 <= len(buf):
        group = struct.unpack_from("<H", buf, pos)[0]
        if group != 0x0002:
            break
        tag, vr, length, head = reader.header(pos, len(buf), False)
        if tag <= previous:
            word = "appears twice" if tag == previous else "is out of order"
            raise Damaged(f"the file meta element {tag_text(tag)} {word}")
        previous = tag
        if length == UNDEFINED or length > len(buf) - pos - head or length > 64 * 1024:
            raise Damaged(f"the file meta element {tag_text(tag)} has an impossible length")
        elems.append(Elem(tag, vr, pos + head, length))
        pos += head + length
    return elems, pos


def _text(buf: mmap.mmap | bytes, elem: Elem | None) -> str:
    if elem is None:
        return ""
    return bytes(buf[elem.start:elem.start + elem.length]).decode("latin-1").strip(" \0")


def _guess_raw(buf: mmap.mmap | bytes) -> tuple[bool, bool]:
    """(implicit, little endian) of a file without file meta, from its first element."""
    if len(buf) < 8:
        raise NotDicom("not a DICOM file")
    group_le = struct.unpack_from("<H", buf, 0)[0]
    group_be = struct.unpack_from(">H", buf, 0)[0]
    vr = bytes(buf[4:6])
    explicit = vr.isalpha() and vr.isupper() and vr.decode("latin-1") in VRS
    if 0x0002 <= group_le <= 0x0010:
        return not explicit, True
    if 0x0002 <= group_be <= 0x0010 and explicit:
        return False, False
    raise NotDicom("not a DICOM file")


def _implicit_body(buf: mmap.mmap | bytes, pos: int) -> bool:
    """True when the first element of an 'explicit' data set has no VR but reads as implicit
    (some exporters write that); decided once, at the first element, as DCMTK and pydicom do."""
    if len(buf) - pos < 8:
        return False
    vr = bytes(buf[pos + 4:pos + 6]).decode("latin-1")
    if vr in VRS:
        return False
    length = struct.unpack_from("<I", buf, pos + 4)[0]
    return length <= len(buf) - pos - 8


def _inflate(src: mmap.mmap | bytes, start: int, limits: Limits) -> BinaryIO:
    """Inflate a deflated data set into a private temporary file, never beyond the cap."""
    out = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller, closed by Parsed
    dec = zlib.decompressobj(-zlib.MAX_WBITS)
    total = crc = 0
    chunk = 1 << 20
    pos = start
    view = memoryview(src)
    try:
        while pos < len(src) or dec.unconsumed_tail:
            data = dec.unconsumed_tail or view[pos:pos + chunk]
            if not dec.unconsumed_tail:
                pos += len(data)
            try:
                block = dec.decompress(data, chunk)
            except zlib.error as exc:
                raise Damaged(f"its compressed (deflated) content is damaged ({exc})") from None
            total += len(block)
            if total > limits.max_inflated_bytes:
                raise Damaged(f"its compressed (deflated) content is too large when unpacked "
                              f"(over {limits.max_inflated_bytes / MB:,.0f} MB from "
                              f"{(len(src) - start) / MB:,.1f} MB), which is how "
                              "'decompression bombs' work")
            out.write(block)
            crc = zlib.crc32(block, crc)
            if dec.eof:
                break
        if not dec.eof:
            raise Damaged("its compressed (deflated) content is cut off")
        # Tolerated behind the stream: one padding byte, or a gzip-style CRC-32 and size
        # trailer that matches what was inflated (some writers add one).
        trailer = dec.unused_data
        benign = trailer in (b"", b"\0") or trailer == struct.pack("<II", crc,
                                                                   total & 0xFFFFFFFF)
        if not benign or pos < len(src):
            raise Damaged("there is data after the end of the DICOM data (behind the "
                          "compressed content); the file may have been tampered with")
    except BaseException:
        out.close()
        raise
    finally:
        view.release()
    out.flush()
    return out


def fingerprint(st: os.stat_result) -> tuple[int, ...]:
    """What changes whenever a file is written to or replaced (ctime cannot be set back)."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _map(fd: int) -> mmap.mmap | bytes:
    size = os.fstat(fd).st_size
    return mmap.mmap(fd, size, access=mmap.ACCESS_READ) if size else b""


def parse_file(path: Path, limits: Limits | None = None) -> Parsed:
    """Parse `path` strictly; raises NotDicom for a non-DICOM file, Damaged for a bad one."""
    limits = limits or Limits()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        stat = os.fstat(fd)
        buf = _map(fd)
        parsed = _parse(path, fd, buf, limits)
        parsed.fingerprint = fingerprint(stat)
        return parsed
    except BaseException:
        os.close(fd)
        raise


def _parse(path: Path, fd: int, buf: mmap.mmap | bytes, limits: Limits) -> Parsed:
    part10 = len(buf) >= 132 and bytes(buf[128:132]) == b"DICM"
    probe = _Reader(buf, True, False, limits)
    if part10:
        meta, pos = _meta_group(buf, probe)
        by_tag = {e.tag: e for e in meta}
        syntax = _text(buf, by_tag.get(0x00020010))
        if not syntax:
            raise Damaged("its file meta information names no transfer syntax")
        length = by_tag.get(0x00020000)
        if length is not None and length.length == 4:
            declared = struct.unpack_from("<I", buf, length.start)[0]
            if 132 + 12 + declared != pos:
                raise Damaged("its file meta information says it is "
                              f"{declared} bytes long but it is {pos - 144}")
        implicit = syntax == ImplicitVRLittleEndian
        little = syntax != ExplicitVRBigEndian
    else:
        meta, pos = [], 0
        implicit, little = _guess_raw(buf)
        syntax = (ImplicitVRLittleEndian if implicit else
                  ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
    encapsulated = syntax not in NATIVE
    temp = None
    if syntax == DeflatedExplicitVRLittleEndian:
        temp = _inflate(buf, pos, limits)
        if isinstance(buf, mmap.mmap):
            buf.close()
        os.close(fd)
        fd = os.dup(temp.fileno())
        buf, pos = _map(fd), 0
    if not implicit and little and _implicit_body(buf, pos):
        implicit = True      # an implicit VR body behind an explicit syntax: read it as it is
    reader = _Reader(buf, little, encapsulated, limits)
    elements, _ = reader.dataset(pos, len(buf), implicit, 0, False, True)
    if not elements:
        raise NotDicom("not a DICOM file")
    if syntax == DeflatedExplicitVRLittleEndian:
        syntax = ExplicitVRLittleEndian   # the inflated data set
    return Parsed(path, meta, elements, buf, syntax, little, part10, implicit, (), fd, temp)
