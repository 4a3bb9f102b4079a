"""A corpus of hostile and damaged DICOM inputs (issue 8), generated, never checked in.

Every file starts as a synthetic object from `burner.synth` (invented patients only) and is then
changed the way an attacker or a careless exporter would: elements packed byte by byte with
`struct`, spliced into the encoded data set, or appended after it. Each generator writes into
`folder` (the job's `dicom/` folder) and returns a `Hostile`: the files it wrote and one line
saying what is wrong with them. `CASES` lists them by the letter used in issue 8's test plan.

Encodings, for reading the byte work below (PS3.5 section 7.1, little endian throughout):
- Part 10 file: 128-byte preamble, "DICM", the file meta group (0002,xxxx) in Explicit VR LE,
  then the data set in the transfer syntax the meta group names.
- Explicit VR: tag group, tag element (2+2 bytes), VR (2 ASCII bytes), then a 2-byte length, or for
  OB/OW/SQ/UN/UT/... 2 reserved zero bytes and a 4-byte length; then the value.
- Implicit VR: tag (4 bytes), 4-byte length, value; the VR comes from the dictionary.
- Deflated Explicit VR LE (1.2.840.10008.1.2.1.99): the data set after the meta group is a raw
  deflate stream (RFC 1951, no zlib header) of its Explicit VR LE encoding.
"""

from __future__ import annotations

import dataclasses
import io
import struct
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from burner import synth

# Another (invented) patient whose identity the hostile files try to smuggle onto the disc.
OTHER = synth.Patient(id="OTHER999", name="OTHERPERSON^ALEX", birth_date="19601231", sex="F")
# The patient of case m: a name with an ideographic group (PS3.5 6.2.1.2).
JAPANESE = synth.Patient(id="JPN0007", name="YAMADA^TARO=山田^太郎", birth_date="19800229",
                         sex="M")
JAPANESE_OTHER_NAME = "YAMADA^TARO=佐藤^太郎"    # same alphabetic group, another ideographic one
UTF8 = "ISO_IR 192"

PIXEL_DATA = 0x7FE00010
PATIENT_GROUP = 0x00100000
PATIENT_ID = 0x00100020
BOMB_ROWS, BOMB_COLUMNS = 16384, 32768       # x 16 bits = exactly 1 GiB of pixel data
BOMB_INFLATED = BOMB_ROWS * BOMB_COLUMNS * 2
HUGE_LENGTH = 0xFFFFFFF0                     # a 4 GB value length (0xFFFFFFFF means undefined)
LONG_UID = "1.2.826.0.1." + "1234567890" * 19  # 202 characters, each component a number
BAD_UIDS = {"SOPInstanceUID": "../../x", "StudyInstanceUID": "/etc/passwd",
            "SeriesInstanceUID": LONG_UID}
NAME_VARIANTS = ("tester^robin", "TESTER^ROBIN ", "Tester^Robin", "TESTER ^ ROBIN")
ZIP_MEMBERS = {
    "setup.exe": b"MZ" + bytes(58) + b"\x40\x00\x00\x00" + b"not a real program, test data",
    "autorun.inf": b"[autorun]\r\nopen=setup.exe\r\nicon=setup.exe,0\r\n",
}


@dataclass(frozen=True)
class Release:
    """The release a hostile file is slipped into: its approved patient and its study."""

    patient: synth.Patient
    study_uid: str


@dataclass(frozen=True)
class Hostile:
    """What a generator wrote: the files (in the job's dicom/ folder) and what is wrong."""

    paths: tuple[Path, ...]
    description: str


# --- synthetic starting points -----------------------------------------------------------


def good_study(folder: Path, patient: synth.Patient, *, slices: int = 3,
               study_uid: str | None = None,
               transfer_syntax: str = ExplicitVRLittleEndian) -> list[Path]:
    """A small CT series (64x64) of `patient`; names outside Latin-1 (case m) are written in
    UTF-8 (ISO_IR 192), which burner.synth's ISO_IR 100 files cannot hold."""
    latin1 = _encodable(patient.name, "latin-1")
    maker = patient if latin1 else dataclasses.replace(patient, name="PLACEHOLDER^NAME")
    paths = synth.make_ct_study(folder, maker, slices=slices, rows=64, cols=64,
                                study_uid=study_uid, accession="TESTACC1",
                                transfer_syntax=transfer_syntax)
    if not latin1:
        for path in paths:
            ds = dcmread(path)
            ds.SpecificCharacterSet = UTF8
            ds.PatientName = patient.name
            dcmwrite(path, ds, enforce_file_format=True)
    return paths


def _encodable(text: str, codec: str) -> bool:
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def _template(release: Release, transfer_syntax: str = ExplicitVRLittleEndian) -> Dataset:
    """One fresh, valid slice of the release's study (a new series), read fully into memory."""
    with tempfile.TemporaryDirectory() as tmp:
        (path,) = good_study(Path(tmp), release.patient, slices=1, study_uid=release.study_uid,
                             transfer_syntax=transfer_syntax)
        return dcmread(path)


@contextmanager
def _quiet() -> Iterator[None]:
    """pydicom warns about the invalid values these files hold on purpose."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# --- encoding by hand ----------------------------------------------------------------------

_LONG_LENGTH_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}


def element(tag: int, vr: str, value: bytes, *, implicit: bool = False,
            length: int | None = None) -> bytes:
    """One data element, little endian; `length` overrides the value length written."""
    if len(value) % 2:
        value += b"\0" if vr in ("UI", "OB", "UN") else b" "
    n = len(value) if length is None else length
    group, elem = tag >> 16, tag & 0xFFFF
    if implicit:
        return struct.pack("<HHI", group, elem, n) + value
    if vr in _LONG_LENGTH_VRS:
        return struct.pack("<HH2s2xI", group, elem, vr.encode(), n) + value
    return struct.pack("<HH2sH", group, elem, vr.encode(), n) + value


def encode(ds: Dataset, *, implicit: bool = False) -> bytes:
    """The data set `ds` encoded as a body (no preamble or meta), little endian."""
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = implicit
    with _quiet():
        write_dataset(fp, ds)
    return fp.getvalue()


def head(ds: Dataset, transfer_syntax: str | None = None) -> bytes:
    """Preamble (zeros), "DICM" and the file meta group for `ds`."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = transfer_syntax or ds.file_meta.TransferSyntaxUID
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    with _quiet():
        write_file_meta_info(fp, meta, enforce_standard=True)
    return bytes(128) + b"DICM" + fp.getvalue()


def is_implicit(ds: Dataset) -> bool:
    return ds.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian


def whole_file(ds: Dataset) -> bytes:
    """`ds` as a plain Part 10 file in its own transfer syntax."""
    return head(ds) + encode(ds, implicit=is_implicit(ds))


def _save(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


def _other_patient_elements(implicit: bool) -> bytes:
    """(0010,0010) and (0010,0020) of OTHER, in tag order."""
    return (element(0x00100010, "PN", OTHER.name.encode(), implicit=implicit)
            + element(PATIENT_ID, "LO", OTHER.id.encode(), implicit=implicit))


# --- the cases -------------------------------------------------------------------------------


def other_patient_after_pixels_implicit(folder: Path, release: Release) -> Hostile:
    """a."""
    ds = _template(release, ImplicitVRLittleEndian)
    data = whole_file(ds) + _other_patient_elements(implicit=True)
    return Hostile((_save(folder, "a_after_pixels_implicit.dcm", data),),
                   "another patient's name and ID appended after Pixel Data (Implicit VR LE)")


def other_patient_after_pixels_explicit(folder: Path, release: Release) -> Hostile:
    """b."""
    ds = _template(release)
    data = whole_file(ds) + _other_patient_elements(implicit=False)
    return Hostile((_save(folder, "b_after_pixels_explicit.dcm", data),),
                   "another patient's name and ID appended after Pixel Data (Explicit VR LE)")


def patient_id_twice(folder: Path, release: Release) -> Hostile:
    """c."""
    ds = _template(release)
    foreign = element(PATIENT_ID, "LO", OTHER.id.encode())
    data = head(ds) + encode(ds[:PATIENT_ID]) + foreign + encode(ds[PATIENT_ID:])
    return Hostile((_save(folder, "c_patient_id_twice.dcm", data),),
                   "two Patient ID elements before Pixel Data, another patient's first")


def truncated_pixels(folder: Path, release: Release) -> Hostile:
    """d."""
    ds = _template(release)
    data = whole_file(ds)            # Pixel Data is the last element: cut inside its value
    cut = len(data) - len(ds.PixelData) // 2
    return Hostile((_save(folder, "d_truncated.dcm", data[:cut]),),
                   "file cut in the middle of Pixel Data, its length field unchanged")


def four_gigabyte_element(folder: Path, release: Release) -> Hostile:
    """e."""
    ds = _template(release)
    private = (element(0x00090010, "LO", b"HOSTILE CORPUS")
               + element(0x00091001, "OB", b"\xab" * 64, length=HUGE_LENGTH))
    data = head(ds) + encode(ds[:PATIENT_GROUP]) + private + encode(ds[PATIENT_GROUP:])
    return Hostile((_save(folder, "e_four_gigabytes.dcm", data),),
                   "a private OB element declaring 0xFFFFFFF0 bytes in the middle of the header")


def short_pixels(folder: Path, release: Release) -> Hostile:
    """f."""
    ds = _template(release)          # 64 x 64 x 16 bits: 8,192 bytes expected
    ds.PixelData = bytes(range(100))
    return Hostile((_save(folder, "f_short_pixels.dcm", whole_file(ds)),),
                   "Pixel Data of 100 bytes where Rows x Columns x 16 bits needs 8,192")


def huge_rows_columns(folder: Path, release: Release) -> Hostile:
    """g."""
    ds = _template(release)
    ds.Rows = ds.Columns = 65535
    return Hostile((_save(folder, "g_rows_columns_65535.dcm", whole_file(ds)),),
                   "Rows and Columns 65535 with 8,192 bytes of Pixel Data")


def huge_frame_count(folder: Path, release: Release) -> Hostile:
    """h."""
    with tempfile.TemporaryDirectory() as tmp:
        path = synth.make_multiframe(Path(tmp), release.patient, frames=1,
                                     study_uid=release.study_uid)
        ds = dcmread(path)
    ds.NumberOfFrames = 2147483647
    return Hostile((_save(folder, "h_frames_2147483647.dcm", whole_file(ds)),),
                   "Number of Frames 2147483647 with one frame of Pixel Data")


def deflate_bomb(folder: Path, release: Release) -> Hostile:
    """i. Written as a stream: never more than a megabyte of it in memory."""
    ds = _template(release)
    del ds.PixelData
    ds.Rows, ds.Columns = BOMB_ROWS, BOMB_COLUMNS     # so the 1 GiB of pixels fits its header
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "i_deflate_bomb.dcm"
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(1 << 20)
    with open(path, "wb") as fp:
        fp.write(head(ds, DeflatedExplicitVRLittleEndian))
        fp.write(squeeze.compress(encode(ds) + element(PIXEL_DATA, "OW", b"",
                                                       length=BOMB_INFLATED)))
        for _ in range(BOMB_INFLATED // len(zeros)):
            fp.write(squeeze.compress(zeros))
        fp.write(squeeze.flush())
    return Hostile((path,), "Deflated Explicit VR LE file of about 1 MB whose data set "
                            "inflates to over 1 GiB")


def zip_after_data_set(folder: Path, release: Release) -> Hostile:
    """j."""
    ds = _template(release)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in ZIP_MEMBERS.items():
            z.writestr(name, content)
    data = whole_file(ds) + archive.getvalue()
    return Hostile((_save(folder, "j_zip_appended.dcm", data),),
                   "a valid file with a ZIP (setup.exe, autorun.inf) appended after the data set")


def other_issuer(folder: Path, release: Release) -> Hostile:
    """k."""
    ds = _template(release)
    ds.IssuerOfPatientID = "OTHERHOSP"
    return Hostile((_save(folder, "k_other_issuer.dcm", whole_file(ds)),),
                   "Issuer of Patient ID OTHERHOSP while the manifest names no issuer")


def other_issuer_qualifiers(folder: Path, release: Release) -> Hostile:
    """l."""
    ds = _template(release)
    item = Dataset()
    item.UniversalEntityID = "2.16.840.1.113883.19.999"
    item.UniversalEntityIDType = "ISO"
    ds.IssuerOfPatientIDQualifiersSequence = [item]
    return Hostile((_save(folder, "l_issuer_qualifiers.dcm", whole_file(ds)),),
                   "Issuer of Patient ID Qualifiers Sequence naming another assigning authority")


def other_ideographic_name(folder: Path, release: Release) -> Hostile:
    """m. The release must be JAPANESE's."""
    ds = _template(release)
    ds.SpecificCharacterSet = UTF8
    ds.PatientName = JAPANESE_OTHER_NAME
    return Hostile((_save(folder, "m_ideographic_name.dcm", whole_file(ds)),),
                   "same alphabetic name, a different ideographic name group (ISO_IR 192)")


def invalid_uids(folder: Path, release: Release) -> Hostile:
    """n. One file per UID attribute."""
    paths = []
    for keyword, uid in BAD_UIDS.items():
        ds = _template(release)
        with _quiet():
            setattr(ds, keyword, uid)
            paths.append(_save(folder, f"n_bad_{keyword}.dcm", whole_file(ds)))
    return Hostile(tuple(paths), "'../../x' as SOP Instance UID, '/etc/passwd' as Study "
                                 "Instance UID, a 202-character Series Instance UID")


def name_variants(folder: Path, release: Release) -> Hostile:
    """o. Not hostile: spellings of the approved name that the identity gate accepts."""
    with tempfile.TemporaryDirectory() as tmp:
        slices = good_study(Path(tmp), release.patient, slices=len(NAME_VARIANTS),
                            study_uid=release.study_uid)
        paths = []
        for n, (src, name) in enumerate(zip(slices, NAME_VARIANTS, strict=True), 1):
            ds = dcmread(src)
            ds.PatientName = name
            paths.append(_save(folder, f"o_name_variant_{n}.dcm", whole_file(ds)))
    return Hostile(tuple(paths), "one series whose files spell the approved name "
                                 + ", ".join(repr(v) for v in NAME_VARIANTS))


def dot_file(folder: Path, release: Release) -> Hostile:
    """p. A valid slice with a name starting with '.'."""
    ds = _template(release)
    return Hostile((_save(folder, ".p_hidden_slice.dcm", whole_file(ds)),),
                   "a valid slice whose file name starts with '.'")


CASES: dict[str, Callable[[Path, Release], Hostile]] = {
    "a": other_patient_after_pixels_implicit,
    "b": other_patient_after_pixels_explicit,
    "c": patient_id_twice,
    "d": truncated_pixels,
    "e": four_gigabyte_element,
    "f": short_pixels,
    "g": huge_rows_columns,
    "h": huge_frame_count,
    "i": deflate_bomb,
    "j": zip_after_data_set,
    "k": other_issuer,
    "l": other_issuer_qualifiers,
    "m": other_ideographic_name,
    "n": invalid_uids,
    "o": name_variants,
    "p": dot_file,
}
