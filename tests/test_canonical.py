"""The strict parse and the canonical copy (burner.dicom.parse, burner.dicom.canonical).

Inputs are built byte by byte from synthetic objects; what comes out is read back with pydicom
and DCMTK, never with the code under test.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from conftest import dcmtk_errors, output_of, quiet_read, require_tool, run_tool
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from burner import synth
from burner.dicom.headers import read_instance
from burner.dicom.parse import Damaged, Limits, parse_file
from burner.patient import Approved

PATIENT = synth.Patient(id="CAN001", name="CANON^ICAL", birth_date="19800202", sex="F")
APPROVED = Approved(name="CANON^ICAL", patient_id="CAN001", birth_date="19800202", sex="F")


def _ct(tmp_path: Path, syntax: str = ExplicitVRLittleEndian) -> Path:
    return synth.make_ct_study(tmp_path / "in", PATIENT, slices=1, rows=16, cols=16,
                               transfer_syntax=syntax)[0]


def _elem(tag: int, vr: str, value: bytes) -> bytes:
    """One Explicit VR Little Endian element."""
    if vr in ("OB", "OW", "SQ", "UN", "UT"):
        return struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, vr.encode(), 0, len(value)) + value
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), len(value)) + value


def _insert_before(data: bytes, tag: int, extra: bytes) -> bytes:
    """`extra` inserted where the element `tag` begins (searched as Explicit VR LE bytes)."""
    at = data.index(struct.pack("<HH", tag >> 16, tag & 0xFFFF), 132)
    return data[:at] + extra + data[at:]


def _write(path: Path, ds: pydicom.Dataset, syntax: str) -> Path:
    ds.file_meta.TransferSyntaxUID = syntax
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pydicom.dcmwrite(path, ds, implicit_vr=syntax == ImplicitVRLittleEndian,
                         little_endian=syntax != ExplicitVRBigEndian, force_encoding=True)
    return path


def _canonical(src: Path, tmp_path: Path, approved: Approved | None = APPROVED) -> Path:
    dest = tmp_path / "out.dcm"
    read_instance(src, src.name, dest, approved)
    return dest


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize("make,words", [
    (lambda d: _insert_before(d, 0x00100020, _elem(0x00100020, "LO", b"OTHER999")),
     "appears twice"),
    (lambda d: d + _elem(0x00100020, "LO", b"OTHER999"), "out of order"),
    (lambda d: d + b"PK\x03\x04\x14\x00\x00\x00 setup.exe", "after the end of the DICOM data"),
    (lambda d: d[:-100], "longer than the file"),
    (lambda d: _insert_before(d, 0x00200010, struct.pack("<HH2sHI", 0x0019, 0x1001, b"OB", 0,
                                                         0xFFFFFFF0)), "longer than the file"),
])
def test_tampered_files_are_refused(tmp_path: Path, make, words: str) -> None:
    src = _ct(tmp_path)
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(make(src.read_bytes()))
    with pytest.raises(Damaged, match=words):
        read_instance(bad, "bad.dcm", tmp_path / "out.dcm", APPROVED)


def test_invalid_uids_are_refused(tmp_path: Path) -> None:
    for uid in ("../../x", "/etc/passwd", "1.2." + "3" * 200, "1.02.3"):
        ds = quiet_read(_ct(tmp_path))
        ds.SeriesInstanceUID = uid
        path = _write(tmp_path / "uid.dcm", ds, ExplicitVRLittleEndian)
        with pytest.raises(Damaged, match="not a valid UID"):
            read_instance(path, "uid.dcm")


@pytest.mark.parametrize("change", [
    {"Rows": 65535}, {"Columns": 65535}, {"NumberOfFrames": 2**31 - 1},
    {"PixelData": b"\0" * 100},
])
def test_pixel_data_must_fit_its_size(tmp_path: Path, change: dict) -> None:
    ds = quiet_read(_ct(tmp_path))
    for keyword, value in change.items():
        setattr(ds, keyword, value)
    path = _write(tmp_path / "px.dcm", ds, ExplicitVRLittleEndian)
    with pytest.raises(Damaged, match="pixel data does not match"):
        read_instance(path, "px.dcm")


def test_nesting_is_bounded(tmp_path: Path) -> None:
    item = b""
    for _ in range(40):
        seq = _elem(0x00081140, "SQ", struct.pack("<HHI", 0xFFFE, 0xE000, len(item)) + item)
        item = seq
    data = _insert_before(_ct(tmp_path).read_bytes(), 0x00100010, item)
    path = tmp_path / "deep.dcm"
    path.write_bytes(data)
    with pytest.raises(Damaged, match="nested"):
        read_instance(path, "deep.dcm")


@pytest.mark.slow     # a bomb: bounded memory on a large input
def test_deflate_bomb_is_refused_without_inflating_it(tmp_path: Path) -> None:
    """1 GiB of zeros deflates to about 1 MB; the cap stops inflating long before."""
    file_meta = quiet_read(_ct(tmp_path)).file_meta
    file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    fp = DicomBytesIO()
    fp.write(bytes(128) + b"DICM")
    write_file_meta_info(fp, file_meta)
    meta = fp.getvalue()
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = comp.compress(struct.pack("<HH2sHI", 0x0009, 0x1001, b"OB", 0, 1 << 30))
    zeros = bytes(1 << 20)
    body += b"".join(comp.compress(zeros) for _ in range(1024)) + comp.flush()
    bomb = tmp_path / "bomb.dcm"
    bomb.write_bytes(meta + body)
    assert bomb.stat().st_size < 2 << 20
    with pytest.raises(Damaged, match="too large when unpacked"):
        parse_file(bomb, Limits(max_inflated_bytes=64 << 20))


# --- what is written -------------------------------------------------------------------------


@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, ExplicitVRBigEndian,
                                    DeflatedExplicitVRLittleEndian])
def test_native_syntaxes_become_explicit_little_endian(tmp_path: Path, syntax: str) -> None:
    src = _write(tmp_path / "in.dcm", quiet_read(_ct(tmp_path)), syntax)
    out = _canonical(src, tmp_path, None)
    before, after = quiet_read(src), quiet_read(out)
    assert after.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert np.array_equal(before.pixel_array, after.pixel_array)
    for elem in before:
        if elem.tag != 0x7FE00010:
            assert after[elem.tag].value == elem.value, elem.keyword
    assert out.read_bytes()[:128] == bytes(128)
    dump = run_tool([require_tool("dcmdump"), str(out)])
    assert dump.returncode == 0 and dcmtk_errors(output_of(dump)) == [], output_of(dump)


def test_preamble_padding_and_group_lengths_are_not_copied(tmp_path: Path) -> None:
    src = _ct(tmp_path).read_bytes()
    data = b"MZ" + src[2:128] + src[128:]
    data = _insert_before(data, 0x00100010, _elem(0x00100000, "UL", struct.pack("<I", 99)))
    data += _elem(0xFFFCFFFC, "OB", b"\0" * 64)
    path = tmp_path / "odd.dcm"
    path.write_bytes(data)
    out = _canonical(path, tmp_path).read_bytes()
    assert out[:128] == bytes(128)
    ds = quiet_read(tmp_path / "out.dcm")
    assert 0x00100000 not in ds and 0xFFFCFFFC not in ds


def test_patient_module_written_with_originals_kept(tmp_path: Path) -> None:
    ds = quiet_read(_ct(tmp_path))
    ds.PatientName = "canon^ical"
    ds.PatientSex = "O"
    src = _write(tmp_path / "in.dcm", ds, ExplicitVRLittleEndian)
    out = quiet_read(_canonical(src, tmp_path))
    assert (out.PatientName, out.PatientID, out.PatientSex) == ("CANON^ICAL", "CAN001", "F")
    item = out.OriginalAttributesSequence[-1]
    assert item.ReasonForTheAttributeModification == "COERCE"
    assert item.ModifyingSystem.startswith("burner")
    assert item.AttributeModificationDateTime
    old = item.ModifiedAttributesSequence[0]
    assert (old.PatientName, old.PatientSex) == ("canon^ical", "O")
    assert "PatientID" not in old                  # unchanged values are not listed


def test_unchanged_identity_adds_nothing(tmp_path: Path) -> None:
    out = quiet_read(_canonical(_ct(tmp_path), tmp_path))
    assert "OriginalAttributesSequence" not in out


def test_a_name_the_character_set_cannot_hold_makes_the_object_utf8(tmp_path: Path) -> None:
    ds = quiet_read(_ct(tmp_path))
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.StudyDescription = "Thorax für Ärzte"
    ds.PatientName = "YAMADA^TARO"
    src = _write(tmp_path / "in.dcm", ds, ExplicitVRLittleEndian)
    approved = Approved(name="YAMADA^TARO=山田^太郎", patient_id="CAN001",
                        birth_date="19800202")
    out = quiet_read(_canonical(src, tmp_path, approved))
    assert out.SpecificCharacterSet == "ISO_IR 192"
    assert str(out.PatientName) == "YAMADA^TARO=山田^太郎"
    assert out.StudyDescription == "Thorax für Ärzte"     # re-encoded, not garbled
    old = out.OriginalAttributesSequence[-1].ModifiedAttributesSequence[0]
    assert old.SpecificCharacterSet == "ISO_IR 100"
