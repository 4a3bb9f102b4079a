"""Golden disc trees: build fixed synthetic jobs with `burner build` and record what is on them.

Run from the repository: `.venv/bin/python tests/golden/make_golden.py [CASE ...]`. Every case
is built twice in temporary folders; a fixture `tests/golden/<case>.json` is written only when
both builds normalise to the same content (else the differences are printed and nothing is
written). tests/test_golden.py imports this module to build a case again and compare.

The input is deterministic: the synthetic DICOM files get their UIDs from a counter (the
generator of burner.synth is replaced while the job is made), the report PDF is made with
reportlab's `invariant`, and job.json carries fixed approval/request dates. So only what burner
makes itself during a build may differ between two builds: dates, times, UIDs of new objects
(Encapsulated PDF instances, the DICOMDIR, the File-set) and what depends on them.

A fixture maps each path of the build's output folder (relative, `vol1/DICOM/...`, `vol1.iso`,
`cover.pdf`) to its normalised content: a list of text lines, or {"sha256": ...} for a binary
file that is byte for byte the same in every build; the key "<burner build --json>" holds the
command's JSON output (output folder as OUT, the image's SHA-256 and size masked). How each
kind of file is normalised:

- DICOM files (the DICOMDIR too): one line per element, the tag path down into sequences, the
  keyword, the VR and the value; file meta first, with a line saying whether the preamble is
  zero and whether the File Meta Information Group Length is right (it changes with the length
  of new UIDs, so it is checked, not shown). Bulk values (OB/OW/UN..., Pixel Data, the
  encapsulated PDF) are shown as their length and SHA-256; DICOMDIR record offsets, which move
  with UID lengths, are shown as the number of the record they point to. Masked: UIDs that are
  neither in the input, standard (1.2.840.10008.*) nor burner's Implementation Class UID (as
  <uid1>, <uid2>, ... numbered per file in order of appearance, so which values are equal
  stays visible); every TM; DA and DT values that are not input values; burner's version.
- Text (.TXT .HTM .HTML .JS .JSON .CSS .XML and the File-set Descriptor `README`): the
  encoding and line-end style, then the lines with the same masks: UID-shaped strings, ISO
  dates and date-times, YYYYMMDD dates, "3 December 2026"-style dates, HH:MM[:SS] times,
  burner's version. SHA256.TXT: the path column only, plus whether the listed digest is right.
  Viewer frames (VIEWER/DATA/**/F*.JS, one BURNER.chunk(...) call with base64 pixels): the
  call with the base64 replaced by its length and SHA-256 (no dates or UIDs inside; the frame
  index, VIEWER/DATA/INDEX.JS, is text and masked as text).
- PDFs (REPORTS/ and the prints cover/label/insert): the page count and sizes, the document
  information (PDF dates masked), the text from `pdftotext` (masked) and, for the prints, the
  barcodes and QR codes read back with `zbarimg`. REPORTS/ PDFs are byte-stable for a fixed
  input, so their SHA-256 is recorded too (the text report's PDF names burner's version as
  its Creator: a version bump changes that hash).
- Disc images (.iso): Joliet/Rock Ridge/UDF presence, the volume descriptor's identifiers, and
  every directory and file in the order of their extents on the image (DICOMDIR, README.TXT,
  INDEX.HTM first), each file compared with the staged file of the same path. USB images
  (.img): the MBR partition entry (not the random disk signature), the FAT volume label and
  every path in directory order, each compared with the staged file.
- Other binaries (JPEG renditions, ...): SHA-256, only where two builds agree byte for byte.
"""

from __future__ import annotations

import argparse
import datetime
import difflib
import hashlib
import io
import itertools
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import pikepdf
import pycdlib
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import generate_uid

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from conftest import BURNER, study_patient  # noqa: E402

import burner  # noqa: E402
from burner import synth  # noqa: E402

VERSION = burner.__version__
# Constants of burner kept as they are: its Implementation Class UID (file meta).
FIXED_UIDS = frozenset({"1.2.826.0.1.3680043.10.1468.1"})
STANDARD_ROOT = "1.2.840.10008."
# Every date of the input lies years back, so a date burner stamps (today) never equals one and
# is always masked, while the input's dates are kept.
APPROVED_AT = "2020-01-06T10:00:00Z"
TEXT_SUFFIXES = {".TXT", ".HTM", ".HTML", ".JS", ".JSON", ".CSS", ".XML"}
# DICOMDIR elements holding the byte offset of a directory record.
RECORD_OFFSETS = {0x00041200, 0x00041202, 0x00041400, 0x00041420}
BULK_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}
NUMBER_VRS = {"AT", "DS", "FD", "FL", "IS", "SL", "SS", "SV", "UL", "US", "UV"}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
_ENV_DROP = ("BURNER_CONFIG", "BURNER_HOME", "BURNER_PAUSE_AT", "BURNER_PAUSE_SECONDS",
             "FAKE_XORRISO_FAULT", "REAL_XORRISO")


# --- the cases ---------------------------------------------------------------------------------


REPORT_TEXT = ("CT CHEST\r\n\r\nFindings: no focal lesion. Reviewed with Dr. Müller.\r\n"
               "Impression:\tnormal study; Ærø Straße café.\r\n")


@contextmanager
def counted_uids(seed: str) -> Iterator[None]:
    """burner.synth's generate_uid() answers UIDs derived from `seed` and a counter."""
    counter = itertools.count(1)

    def fixed(prefix: str | None = None, entropy_srcs: list[str] | None = None) -> str:
        return generate_uid(entropy_srcs=[seed, str(next(counter))])

    modules = [m for name, m in sorted(sys.modules.items())
               if name.startswith("burner.synth") and hasattr(m, "generate_uid")]
    with ExitStack() as stack:
        for module in modules:
            stack.enter_context(mock.patch.object(module, "generate_uid", fixed))
        yield


def report_pdf(text: str) -> bytes:
    """A one-page PDF (reportlab, invariant: no dates or random document ID)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, pagesize=A4, invariant=1)
    pdf.setTitle("CT chest report")
    pdf.drawString(72, 770, text)
    pdf.drawString(72, 750, "Impression: no acute finding.")
    pdf.showPage()
    pdf.save()
    return buf.getvalue()


def _iso(da: str) -> str:
    return f"{da[:4]}-{da[4:6]}-{da[6:]}"


def _study_uid(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID)


def _write_manifest(job_dir: Path, manifest: dict) -> None:
    (job_dir / "job.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False),
                                      encoding="utf-8")


def make_ct_with_reports(job_dir: Path) -> None:
    """Case ct_reports: a CT study of 6 slices 64x64 on a DVD, with a PDF report for the
    study and a plain-text report (study implied)."""
    patient = study_patient()
    with counted_uids("golden-ct_reports"):
        paths = synth.make_ct_study(job_dir / "dicom", patient, slices=6, rows=64, cols=64,
                                    accession="GOLDCT1")
    study_uid = _study_uid(paths[0])
    (job_dir / "reports").mkdir()
    (job_dir / "reports" / "ct-chest.pdf").write_bytes(
        report_pdf("Synthetic PDF report for the golden disc"))
    (job_dir / "reports" / "addendum.txt").write_bytes(REPORT_TEXT.encode("utf-8"))
    _write_manifest(job_dir, {
        "version": 1,
        "job_id": job_dir.name,
        "patient": {"id": patient.id, "name": patient.name,
                    "birth_date": _iso(patient.birth_date), "sex": patient.sex},
        "studies": [{"study_instance_uid": study_uid, "accession_number": "GOLDCT1"}],
        "inputs": ["dicom/"],
        "reports": [{"path": "reports/ct-chest.pdf", "study_instance_uid": study_uid},
                    {"path": "reports/addendum.txt"}],
        "media": {"type": "dvd", "copies": 1},
        "approval": {"by": "tester", "at": APPROVED_AT},
    })


def make_ct_mr_usb(job_dir: Path) -> None:
    """Case ct_mr_usb: a CT study (4 slices) and an MR study (4 slices), 64x64, of one patient
    with a non-ASCII name, on a USB stick, with request details and label text."""
    patient = synth.Patient(id="GLD0077", name="MÜLLER^JÜRGEN", birth_date="19560229", sex="M")
    with counted_uids("golden-ct_mr_usb"):
        ct = synth.make_ct_study(job_dir / "dicom" / "ct", patient, slices=4, rows=64, cols=64,
                                 accession="GOLDCT2")
        mr = synth.make_mr_study(job_dir / "dicom" / "mr", patient, slices=4, rows=64, cols=64,
                                 accession="GOLDMR2")
    _write_manifest(job_dir, {
        "version": 1,
        "job_id": job_dir.name,
        "patient": {"id": patient.id, "name": patient.name,
                    "birth_date": _iso(patient.birth_date), "sex": patient.sex},
        "request": {"reference": "ROI-GOLD-2", "received": "2020-01-02",
                    "due": "2020-02-01", "requester": "patient",
                    "fee": {"amount": "6.50", "currency": "USD", "basis": "flat"}},
        "studies": [{"study_instance_uid": _study_uid(ct[0]), "accession_number": "GOLDCT2"},
                    {"study_instance_uid": _study_uid(mr[0]), "accession_number": "GOLDMR2"}],
        "inputs": ["dicom/"],
        "media": {"type": "usb", "copies": 1, "label_text": "Zweitmeinung Dr. Ørsted"},
        "approval": {"by": "tester", "at": APPROVED_AT, "note": "photo ID checked"},
    })


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[Path], None]
    config: str = ""      # extra TOML for the station


CASES = {c.name: c for c in (
    Case("ct_reports", make_ct_with_reports),
    Case("ct_mr_usb", make_ct_mr_usb,
         '[institution]\nname = "Synthetic General Hospital"\n'
         'address = "1 Example Street, Nowhere"\nphone = "+1 555 0100"\n'),
)}


def fixture_path(name: str) -> Path:
    return HERE / f"{name}.json"


# --- building ------------------------------------------------------------------------------


@dataclass
class Built:
    out: Path
    outcome: dict
    known: Known


def build_case(case: Case, base: Path) -> Built:
    """Make the case's job under `base` and run `burner build JOB --out OUT --json` on it."""
    base.mkdir(parents=True, exist_ok=True)
    job_dir = base / f"GOLD-{case.name.upper().replace('_', '-')}"
    job_dir.mkdir()
    case.make(job_dir)
    data = base / "data"
    config = base / "burner.toml"
    config.write_text(f'[station]\nid = "golden"\ndata_dir = {json.dumps(str(data))}\n'
                      + case.config, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in _ENV_DROP}
    env["BURNER_HOME"] = str(data)
    out = base / "out"
    proc = subprocess.run([BURNER, "--config", str(config), "build", str(job_dir),
                           "--out", str(out), "--json"], env=env, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"burner build of case {case.name} ended with {proc.returncode}:\n"
                           f"{proc.stdout}\n{proc.stderr}")
    outcome = json.loads(proc.stdout)
    if outcome["problems"]:
        raise RuntimeError(f"burner build of case {case.name} reported {outcome['problems']}")
    return Built(out, outcome, known_values(job_dir))


# --- what comes from the input -------------------------------------------------------------


@dataclass
class Known:
    """UIDs and dates of the input: kept as they are, unlike those burner makes."""

    uids: set[str] = field(default_factory=set)
    dates: set[str] = field(default_factory=set)       # ISO form, YYYY-MM-DD
    datetimes: set[str] = field(default_factory=set)   # DICOM DT values


def _walk(ds: Dataset) -> Iterator[pydicom.DataElement]:
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                yield from _walk(item)
        else:
            yield elem


def _values(elem: pydicom.DataElement) -> list[str]:
    value = elem.value
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple | pydicom.multival.MultiValue):
        return [str(v) for v in value]
    return [str(value)]


def known_values(job_dir: Path) -> Known:
    known = Known()
    for path in sorted(job_dir.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in ("", ".dcm"):
            continue
        try:
            ds = quiet_read(path)
        except InvalidDicomError:
            continue
        for elem in itertools.chain(_walk(ds.file_meta), _walk(ds)):
            for v in _values(elem):
                if elem.VR == "UI":
                    known.uids.add(v)
                elif elem.VR == "DA" and re.fullmatch(r"\d{8}", v):
                    known.dates.add(_iso(v))
                elif elem.VR == "DT":
                    known.datetimes.add(v)
                    if re.match(r"\d{8}", v):
                        known.dates.add(_iso(v[:8]))
    manifest = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
    for text in re.findall(r"\b\d{4}-\d{2}-\d{2}\b", json.dumps(manifest)):
        known.dates.add(text)
    return known


def quiet_read(path: Path, **kwargs: object) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, **kwargs)


# --- masking -------------------------------------------------------------------------------


_UID = re.compile(r"(?<![\w.])[0-2](?:\.\d+){3,}(?!\.?\w)")
_ISO_DATETIME = re.compile(
    r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?")
_ISO_DATE = re.compile(r"(?<![\d-])(\d{4})-(\d{2})-(\d{2})(?![\d-])")
_COMPACT_DATE = re.compile(r"(?<!\d)((?:19|20)\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?!\d)")
_MONTH = "|".join(MONTHS) + "|" + "|".join(m[:3] for m in MONTHS)
_DAY_MONTH_YEAR = re.compile(rf"\b(\d{{1,2}}) ({_MONTH})\.?,? (\d{{4}})\b")
_MONTH_DAY_YEAR = re.compile(rf"\b({_MONTH})\.? (\d{{1,2}}),? (\d{{4}})\b")
_TIME = re.compile(r"(?<![\d:])\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?![\d:])")
_PDF_DATE = re.compile(r"D:\d{4,14}(?:[Zz]|[+-]\d{2}'?\d{2}'?)?")
_VERSION = re.compile(rf"(?<![\d.]){re.escape(VERSION)}(?![\d.])")


def _month(name: str) -> int:
    return next(i for i, m in enumerate(MONTHS, 1) if m.startswith(name[:3]))


class Masker:
    """Masks values burner makes in one file; new UIDs are numbered in order of appearance."""

    def __init__(self, known: Known):
        self.known = known
        self.numbers: dict[str, int] = {}

    def uid(self, value: str) -> str:
        if value in self.known.uids or value in FIXED_UIDS or value.startswith(STANDARD_ROOT):
            return value
        return f"<uid{self.numbers.setdefault(value, len(self.numbers) + 1)}>"

    def _date(self, year: str, month: int, day: str, text: str) -> str:
        iso = f"{year}-{month:02d}-{int(day):02d}"
        return text if iso in self.known.dates else "<date>"

    def text(self, text: str) -> str:
        text = _PDF_DATE.sub("D:<date>", text)
        text = _ISO_DATETIME.sub("<datetime>", text)
        text = _UID.sub(lambda m: self.uid(m.group()), text)
        text = _ISO_DATE.sub(lambda m: self._date(m[1], int(m[2]), m[3], m.group()), text)
        text = _COMPACT_DATE.sub(lambda m: self._date(m[1], int(m[2]), m[3], m.group()), text)
        text = _DAY_MONTH_YEAR.sub(
            lambda m: self._date(m[3], _month(m[2]), m[1], m.group()), text)
        text = _MONTH_DAY_YEAR.sub(
            lambda m: self._date(m[3], _month(m[1]), m[2], m.group()), text)
        text = _TIME.sub("<time>", text)
        return _VERSION.sub("<version>", text)

    def dicom_value(self, vr: str, value: str) -> str:
        if vr == "UI":
            return self.uid(value)
        if vr == "TM":
            return "<time>"
        if vr == "DA":
            return value if not value or (re.fullmatch(r"\d{8}", value)
                                          and _iso(value) in self.known.dates) else "<date>"
        if vr == "DT":
            return value if value in self.known.datetimes else "<datetime>"
        return self.text(value)


# --- DICOM ---------------------------------------------------------------------------------


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _bulk(data: bytes) -> str:
    return f"<{len(data)} bytes sha256 {_sha(data)}>"


def _meta_length_line(raw: bytes, stated: int | None) -> str:
    """Whether (0002,0000) states the length of the rest of the file meta group."""
    pos = 132
    if raw[128:132] != b"DICM":
        return "file meta: no DICM prefix"
    start = None
    while pos + 8 <= len(raw):
        group, _elem = struct.unpack_from("<HH", raw, pos)
        if group != 2:
            break
        vr = raw[pos + 4:pos + 6].decode("latin-1")
        if vr in ("OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT",
                  "UV"):
            length = struct.unpack_from("<I", raw, pos + 8)[0]
            size = 12 + length
        else:
            length = struct.unpack_from("<H", raw, pos + 6)[0]
            size = 8 + length
        if start is None:
            start = pos + size      # the group length element itself is not counted
        pos += size
    actual = pos - start if start is not None else None
    if stated is None:
        return "file meta group length: absent"
    if stated == actual:
        return "file meta group length: right"
    return f"file meta group length: {stated}, but the group holds {actual} bytes"


def _format_value(elem: pydicom.DataElement, masker: Masker, offsets: dict[int, int]) -> str:
    if elem.tag in RECORD_OFFSETS:
        value = int(elem.value or 0)
        return "0 (none)" if value == 0 else f"record #{offsets.get(value, '?')}"
    value = elem.value
    if elem.VR in BULK_VRS or isinstance(value, bytes | bytearray):
        return _bulk(bytes(value)) if value else "<empty>"
    values = _values(elem)
    if not values:
        return "<empty>"
    if elem.VR in NUMBER_VRS:
        return "\\".join(values)
    return "\\".join(repr(masker.dicom_value(elem.VR, v)) for v in values)


def _dataset_lines(ds: Dataset, masker: Masker, offsets: dict[int, int],
                   prefix: str = "") -> list[str]:
    lines = []
    for elem in ds:
        path = f"{prefix}({elem.tag.group:04X},{elem.tag.elem:04X})"
        keyword = elem.keyword or "-"
        if elem.VR == "SQ":
            length = "undefined length" if elem.is_undefined_length else "defined length"
            lines.append(f"{path} {keyword} SQ {len(elem.value)} item(s), {length}")
            for n, item in enumerate(elem.value, 1):
                record = offsets.get(getattr(item, "seq_item_tell", -1))
                if record is not None and elem.tag == 0x00041220:
                    lines.append(f"{path}[{n}] (record #{record})")
                lines += _dataset_lines(item, masker, offsets, f"{path}[{n}].")
        else:
            lines.append(f"{path} {keyword} {elem.VR} {_format_value(elem, masker, offsets)}")
    return lines


def dicom_lines(path: Path, masker: Masker) -> list[str] | None:
    """The element listing of a DICOM file, or None when `path` is not one."""
    try:
        ds = quiet_read(path)
    except (InvalidDicomError, EOFError, OSError, ValueError):
        return None
    raw = path.read_bytes()
    preamble = ds.preamble or b""
    lines = ["preamble: 128 zero bytes" if preamble == bytes(128)
             else f"preamble: {_bulk(preamble)}",
             _meta_length_line(raw, ds.file_meta.get("FileMetaInformationGroupLength"))]
    offsets: dict[int, int] = {}
    if "DirectoryRecordSequence" in ds:
        offsets = {item.seq_item_tell: n
                   for n, item in enumerate(ds.DirectoryRecordSequence, 1)}
    meta = Dataset()
    for elem in ds.file_meta:
        if elem.tag != 0x00020000:
            meta.add(elem)
    lines += _dataset_lines(meta, masker, offsets)
    lines += _dataset_lines(ds, masker, offsets)
    return lines


# --- text ----------------------------------------------------------------------------------


_CHUNK = re.compile(r'^(BURNER\.chunk\(.*,)"([A-Za-z0-9+/=]*)"(\);?)\s*$', re.S)


def text_lines(path: Path, masker: Masker) -> list[str]:
    raw = path.read_bytes()
    try:
        text, encoding = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = raw.decode("latin-1"), "latin-1"
    crlf, lf = raw.count(b"\r\n"), raw.count(b"\n")
    ends = "none" if lf == 0 else "CRLF" if crlf == lf else "LF" if crlf == 0 else "mixed"
    final = "" if raw.endswith(b"\n") or not raw else ", no final line end"
    head = f"text: {encoding}, line ends {ends}{final}"
    chunk = _CHUNK.match(text) if path.suffix.upper() == ".JS" else None
    if chunk:
        payload = chunk[2].encode("ascii")
        return [head, f"{masker.text(chunk[1])}<base64 {len(payload)} chars sha256 "
                      f"{_sha(payload)}>{chunk[3]}"]
    if path.name == "SHA256.TXT":
        return [head, *sha256_list(path, text)]
    return [head, *(masker.text(line) for line in text.splitlines())]


def sha256_list(path: Path, text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        digest, sep, rel = line.partition("  ")
        if not sep:
            out.append(f"unparsed line: {line!r}")
            continue
        target = path.parent / rel
        ok = target.is_file() and _sha(target.read_bytes()) == digest
        out.append(f"{rel}  [{'digest right' if ok else 'DIGEST WRONG'}]")
    return out


# --- PDF -----------------------------------------------------------------------------------


def _run(args: list[str]) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, errors="replace", timeout=120,
                          check=False, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {proc.stderr.strip()}")
    return proc.stdout


def pdf_lines(path: Path, masker: Masker, *, codes: bool, digest: bool) -> list[str]:
    lines = [f"sha256 {_sha(path.read_bytes())}"] if digest else []
    with pikepdf.open(path) as pdf:
        lines.append(f"pages: {len(pdf.pages)}")
        for n, page in enumerate(pdf.pages, 1):
            box = [round(float(v), 2) for v in page.mediabox]
            lines.append(f"page {n}: mediabox {box}")
        for key, value in sorted(pdf.docinfo.items()):
            lines.append(f"info {key}: {masker.text(str(value))}")
    text = _run(["pdftotext", "-enc", "UTF-8", str(path), "-"])
    lines.append("--- text ---")
    lines += [masker.text(line) for line in text.splitlines()]
    if codes:
        lines.append("--- barcodes and QR codes ---")
        lines += [masker.text(c) for c in read_codes(path)]
    return lines


def read_codes(path: Path) -> list[str]:
    """Every barcode and QR code on every page, read by zbarimg from a 300 dpi rendering."""
    with tempfile.TemporaryDirectory(prefix="golden-codes-") as tmp:
        _run(["pdftoppm", "-r", "300", "-gray", "-png", str(path), f"{tmp}/page"])
        found = []
        for page in sorted(Path(tmp).glob("page*.png")):
            proc = subprocess.run(["zbarimg", "-q", str(page)], capture_output=True, text=True,
                                  errors="replace", timeout=120, check=False)
            found += [f"{page.stem}: {line}" for line in sorted(proc.stdout.splitlines())]
        return found


# --- images --------------------------------------------------------------------------------


def _same(data: bytes, staged: Path) -> str:
    if not staged.is_file():
        return "(no staged file)"
    return "(= staged)" if _sha(data) == _sha(staged.read_bytes()) else "(DIFFERS from staged)"


def iso_lines(path: Path, tree: Path, masker: Masker) -> list[str]:
    iso = pycdlib.PyCdlib()
    iso.open(str(path))
    try:
        pvd = iso.pvd
        lines = [f"joliet {iso.has_joliet()}, rock ridge {iso.has_rock_ridge() or False}, "
                 f"udf {iso.has_udf()}",
                 f"system id {pvd.system_identifier.decode('latin-1').rstrip()!r}",
                 f"volume id {pvd.volume_identifier.decode('latin-1').rstrip()!r}",
                 f"volume set id {pvd.volume_set_identifier.decode('latin-1').rstrip()!r}"]
        for what, ident in (("publisher", pvd.publisher_identifier),
                            ("preparer", pvd.preparer_identifier),
                            ("application", pvd.application_identifier)):
            lines.append(f"{what} {masker.text(ident.text.decode('latin-1').rstrip())!r}")
        entries = []
        for dirname, dirs, files in iso.walk(iso_path="/"):
            for d in dirs:
                full = f"{dirname.rstrip('/')}/{d}"
                entries.append((iso.get_record(iso_path=full).extent_location(), full, None))
            for f in files:
                full = f"{dirname.rstrip('/')}/{f}"
                entries.append((iso.get_record(iso_path=full).extent_location(), full, f))
        for _, full, name in sorted(entries):
            if name is None:
                lines.append(f"dir  {full}")
                continue
            buf = io.BytesIO()
            iso.get_file_from_iso_fp(buf, iso_path=full)
            rel = full.lstrip("/").split(";")[0].rstrip(".")
            lines.append(f"file {full} {_same(buf.getvalue(), tree / rel)}")
        return lines
    finally:
        iso.close()


def usb_lines(path: Path, tree: Path, masker: Masker) -> list[str]:
    with open(path, "rb") as fp:
        head = fp.read(512)
    boot, kind = head[446], head[450]
    start, count = struct.unpack_from("<II", head, 454)
    lines = [f"mbr signature {head[510:512].hex()}, partition 1: boot flag {boot:#04x}, "
             f"type {kind:#04x}, first sector {start}, {count} sectors",
             *(f"partition {n}: {'empty' if not any(head[446 + 16 * (n - 1):][:16]) else 'USED'}"
               for n in (2, 3, 4))]
    image = f"{path}@@{start * 512}"
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1", MTOOLS_NO_VFAT="1", MTOOLS_LOWER_CASE="0")

    def mtool(*args: str) -> str:
        proc = subprocess.run(list(args), capture_output=True, text=True, errors="replace",
                              env=env, timeout=120, check=False, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {proc.stderr.strip()}")
        return proc.stdout

    label = mtool("mlabel", "-s", "-i", image, "::").strip()
    lines.append(f"label: {masker.text(label.removeprefix('Volume label is '))}")
    # burner orders the root (DICOMDIR, README.TXT, INDEX.HTM first); mcopy -s fills each
    # folder below it in the host file system's readdir order, so those paths are sorted.
    root, below = [], []
    with tempfile.TemporaryDirectory(prefix="golden-usb-") as tmp:
        mtool("mcopy", "-s", "-n", "-m", "-i", image, "::/", tmp)
        for entry in mtool("mdir", "-/", "-b", "-a", "-i", image, "::/").splitlines():
            rel = entry.strip().removeprefix("::/").strip("/")
            if not rel:
                continue
            got = Path(tmp) / rel
            line = f"dir  {rel}" if got.is_dir() else \
                f"file {rel} {_same(got.read_bytes(), tree / rel)}"
            (below if "/" in rel else root).append((rel, line))
    lines.append("root, in the order on the medium:")
    lines += [line for _, line in root]
    lines.append("below the root, sorted:")
    lines += [line for _, line in sorted(below)]
    return lines


# --- one build, normalised -----------------------------------------------------------------


Content = list[str] | dict[str, str]


def normalise(built: Built) -> dict[str, Content]:
    """Every file of the build's output folder (not the work folder), normalised. PDFs are
    read in threads (pdftoppm and zbarimg take a second or two per page)."""
    out: dict[str, Content] = {}
    pending: dict[str, Future[list[str]]] = {}
    pool = ThreadPoolExecutor(max_workers=4)
    trees = {Path(v["tree"]).name: Path(v["tree"]) for v in built.outcome["volumes"]}
    prints = {Path(p).name for p in [built.outcome["prints"]["cover"],
                                     *built.outcome["prints"].get("labels", []),
                                     *built.outcome["prints"].get("inserts", [])]}
    for path in sorted(p for p in built.out.rglob("*") if p.is_file()):
        rel = path.relative_to(built.out).as_posix()
        if rel.startswith(".work/"):
            continue
        masker = Masker(built.known)
        suffix = path.suffix.upper()
        tree = trees.get(path.with_suffix("").name)
        if suffix == ".ISO" and tree:
            out[rel] = iso_lines(path, tree, masker)
        elif suffix == ".IMG" and tree:
            out[rel] = usb_lines(path, tree, masker)
        elif suffix == ".PDF":
            is_print = path.name in prints
            pending[rel] = pool.submit(pdf_lines, path, masker, codes=is_print,
                                       digest=not is_print)
        elif suffix in TEXT_SUFFIXES:
            out[rel] = text_lines(path, masker)
        elif suffix == "":
            lines = dicom_lines(path, masker)
            out[rel] = lines if lines is not None else text_lines(path, masker)
        else:
            out[rel] = {"sha256": _sha(path.read_bytes())}
    with pool:
        out.update({rel: future.result() for rel, future in pending.items()})
    return dict(sorted(out.items()))


OUTCOME = "<burner build --json>"      # the key of the command's own output in a fixture


def outcome_lines(built: Built) -> list[str]:
    """`burner build --json`, output folder as OUT; the image's digest and size are left out
    (they follow the DICOM files' lengths, which follow the lengths of new UIDs)."""
    outcome = json.loads(json.dumps(built.outcome).replace(str(built.out.resolve()), "OUT"))
    for volume in outcome["volumes"]:
        volume["sha256"] = "<sha256>"
        volume["bytes"] = "<bytes>"
    return json.dumps(outcome, indent=1, sort_keys=True).splitlines()


def normalised_build(case: Case, base: Path) -> tuple[dict[str, Content], dict]:
    built = build_case(case, base)
    return {OUTCOME: outcome_lines(built), **normalise(built)}, built.outcome


# --- comparing -----------------------------------------------------------------------------


def _as_lines(content: Content) -> list[str]:
    if isinstance(content, dict):
        return [f"{k}: {v}" for k, v in sorted(content.items())]
    return list(content)


def differences(expected: dict[str, Content], actual: dict[str, Content],
                names: tuple[str, str] = ("fixture", "build")) -> str:
    """Missing and extra paths, then a unified diff per file that differs; "" when equal."""
    parts = []
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    if missing:
        parts.append(f"missing in the {names[1]} (only in the {names[0]}):\n"
                     + "\n".join(f"  {p}" for p in missing))
    if extra:
        parts.append(f"extra in the {names[1]} (not in the {names[0]}):\n"
                     + "\n".join(f"  {p}" for p in extra))
    for rel in sorted(set(expected) & set(actual)):
        if expected[rel] == actual[rel]:
            continue
        diff = difflib.unified_diff(_as_lines(expected[rel]), _as_lines(actual[rel]),
                                    f"{names[0]}/{rel}", f"{names[1]}/{rel}", lineterm="", n=2)
        parts.append("\n".join(diff))
    return "\n\n".join(parts)


def load_fixture(name: str) -> dict[str, Content]:
    return json.loads(fixture_path(name).read_text(encoding="utf-8"))


def dump_fixture(content: dict[str, Content]) -> str:
    return json.dumps(content, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", metavar="CASE",
                        help=f"cases to regenerate (default: all of {', '.join(CASES)})")
    parser.add_argument("--keep", action="store_true", help="keep the build folders")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.cases) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(CASES)}")
    failed = False
    for name in args.cases or list(CASES):
        case = CASES[name]
        base = Path(tempfile.mkdtemp(prefix=f"golden-{name}-"))
        try:
            started = datetime.datetime.now()
            first, _ = normalised_build(case, base / "first")
            second, _ = normalised_build(case, base / "second")
            took = (datetime.datetime.now() - started).total_seconds()
            diff = differences(first, second, ("first build", "second build"))
            if diff:
                print(f"{name}: two builds of the same input differ; fixture NOT written:\n"
                      f"{diff}", file=sys.stderr)
                failed = True
                continue
            fixture_path(name).write_text(dump_fixture(first), encoding="utf-8")
            print(f"{name}: {len(first)} files, two builds agree ({took:.1f} s); "
                  f"wrote {fixture_path(name).relative_to(TESTS.parent)}")
        finally:
            if args.keep:
                print(f"  builds kept in {base}")
            else:
                shutil.rmtree(base, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
