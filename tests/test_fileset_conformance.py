"""Acceptance tests of the DICOM file-set burner stages, checked with the real validators.

dicom3tools (`dciodvfy`, `dcentvfy`), DCMTK (`dcmmkdir`, `dcmdump`) and `isoinfo` (genisoimage)
judge what `build_job` makes from pydicom's own test files and from synthetic studies; the
DICOMDIR writer's record links are checked byte offset by byte offset.
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pydicom.data
import pytest
from conftest import dcmtk_errors, error_lines, output_of, quiet_read, require_tool, run_tool
from pydicom.dataset import Dataset
from pydicom.fileset import FileSet
from pydicom.uid import (
    UID,
    BasicTextSRStorage,
    ComprehensiveSRStorage,
    EncapsulatedPDFStorage,
    EnhancedSRStorage,
    ExplicitVRLittleEndian,
    GrayscaleSoftcopyPresentationStateStorage,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    KeyObjectSelectionDocumentStorage,
    MediaStorageDirectoryStorage,
    RLELossless,
    RTDoseStorage,
    RTIonPlanStorage,
    RTPlanStorage,
    RTStructureSetStorage,
    SegmentationStorage,
    TwelveLeadECGWaveformStorage,
    generate_uid,
)

from burner import synth
from burner.build import BuildOutcome, build_job
from burner.config import load_config
from burner.dicom.dicomdir import Entry, write_dicomdir
from burner.dicom.fileid import file_id
from burner.dicom.headers import read_instance
from burner.dicom.profiles import ALLOWED_SYNTAXES, dcmtk_flag
from burner.dicom.records import record_type
from burner.synth import Patient

PROFILES = {"cd": "STD-GEN-CD", "dvd": "STD-GEN-DVD-JPEG"}
TESTDATA_PATIENT = Patient(id="PYDTEST01", name="TESTDATA^PYDICOM", birth_date="19600102",
                           sex="O")
MIXED_PATIENT = Patient(id="SYNMIX01", name="MIXED^SYNTHETIC", birth_date="19750310", sex="F")
CT_PATIENT = Patient(id="SYNCT01", name="LOSSLESS^SYNTHETIC", birth_date="19821124", sex="M")
UPPER = ("PATIENT", "STUDY", "SERIES")
ISO_FILE = re.compile(r"[A-Z0-9_]{1,8}\.[A-Z0-9_]{0,3};1")
ISO_DIR = re.compile(r"[A-Z0-9_]{1,8}")

# The leaf record each SOP class must get (PS3.3 Annex F, Table F.4-1), written out here
# rather than taken from burner.dicom.records, so the test has its own opinion.
EXPECTED_RECORD = {
    RTDoseStorage: "RT DOSE",
    RTPlanStorage: "RT PLAN",
    RTIonPlanStorage: "RT PLAN",
    RTStructureSetStorage: "RT STRUCTURE SET",
    BasicTextSRStorage: "SR DOCUMENT",
    EnhancedSRStorage: "SR DOCUMENT",
    ComprehensiveSRStorage: "SR DOCUMENT",
    KeyObjectSelectionDocumentStorage: "KEY OBJECT DOC",
    GrayscaleSoftcopyPresentationStateStorage: "PRESENTATION",
    EncapsulatedPDFStorage: "ENCAP DOC",
    TwelveLeadECGWaveformStorage: "WAVEFORM",
    SegmentationStorage: "IMAGE",
}

# Keys a record of each type must carry with a value (type 1 in PS3.3 F.5 / STANDARDS.md).
LEAF_REFERENCE = ("ReferencedFileID", "ReferencedSOPClassUIDInFile",
                  "ReferencedSOPInstanceUIDInFile", "ReferencedTransferSyntaxUIDInFile")
REQUIRED_KEYS = {
    "PATIENT": ("PatientID",),
    "STUDY": ("StudyDate", "StudyTime", "StudyID", "StudyInstanceUID"),
    "SERIES": ("Modality", "SeriesInstanceUID", "SeriesNumber"),
    "IMAGE": ("InstanceNumber",),
    "SR DOCUMENT": ("InstanceNumber", "CompletionFlag", "VerificationFlag", "ContentDate",
                    "ContentTime", "ConceptNameCodeSequence"),
    "KEY OBJECT DOC": ("InstanceNumber", "ContentDate", "ContentTime",
                       "ConceptNameCodeSequence"),
    "PRESENTATION": ("InstanceNumber", "ContentLabel", "PresentationCreationDate",
                     "PresentationCreationTime"),
    "ENCAP DOC": ("InstanceNumber", "MIMETypeOfEncapsulatedDocument"),
    "WAVEFORM": ("InstanceNumber", "ContentDate", "ContentTime"),
    "RT STRUCTURE SET": ("InstanceNumber", "StructureSetLabel"),
    "RT PLAN": ("InstanceNumber", "RTPlanLabel"),
    "RT DOSE": ("InstanceNumber", "DoseSummationType"),
}
# Type 2: present, possibly empty.
PRESENT_KEYS = {
    "PATIENT": ("PatientName",),
    "STUDY": ("AccessionNumber", "StudyDescription"),
    "ENCAP DOC": ("ContentDate", "ContentTime", "DocumentTitle", "ConceptNameCodeSequence"),
    "RT STRUCTURE SET": ("StructureSetDate", "StructureSetTime"),
    "PRESENTATION": ("ContentDescription", "ContentCreatorName"),
}
# What the DVD/USB/BD profiles add.
EXTENDED_PRESENT_KEYS = {
    "PATIENT": ("PatientBirthDate", "PatientSex"),
    "SERIES": ("InstitutionName", "InstitutionAddress", "PerformingPhysicianName"),
}
EXTENDED_REQUIRED_KEYS = {"IMAGE": ("Rows", "Columns")}


# --- helpers -------------------------------------------------------------------------------


def write_job_json(job_dir: Path, patient: Patient, media: str) -> None:
    """A valid version-1 manifest for `patient`, on `media` with its general profile."""
    birth = f"{patient.birth_date[:4]}-{patient.birth_date[4:6]}-{patient.birth_date[6:]}"
    manifest = {
        "version": 1,
        "patient": {"id": patient.id, "name": patient.name, "birth_date": birth,
                    "sex": patient.sex},
        "media": {"type": media, "profile": PROFILES[media]},
        "approval": {"by": "conformance-test", "at": "2026-01-05T09:30:00Z"},
    }
    (job_dir / "job.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")


@dataclass
class Built:
    """One build: its outcome, staged tree, ISO image and DICOMDIR."""

    outcome: BuildOutcome
    media: str
    profile: str
    tree: Path
    image: Path
    dicomdir: Dataset

    @property
    def leaves(self) -> list[Dataset]:
        return [r for r in self.dicomdir.DirectoryRecordSequence
                if r.DirectoryRecordType not in UPPER]

    def path_of(self, record: Dataset) -> Path:
        fid = record.ReferencedFileID
        parts = [fid] if isinstance(fid, str) else list(fid)
        return self.tree.joinpath(*parts)

    def dicom_files(self) -> list[Path]:
        return sorted(p for p in (self.tree / "DICOM").rglob("*") if p.is_file())


def build(base: Path, job_dir: Path, media: str) -> Built:
    """Run build_job on `job_dir` with a station whose data folder is under `base`."""
    config_file = base / "burner.toml"
    config_file.write_text(f'[station]\ndata_dir = "{base / "data"}"\n', encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = build_job(load_config(config_file), job_dir, base / "out")
    assert outcome.exit_code == 0 and not outcome.held, outcome.summary()
    assert len(outcome.volumes) == 1, outcome.summary()
    volume = outcome.volumes[0]
    tree = Path(volume["tree"])
    return Built(outcome, media, volume["profile"], tree, Path(volume["image"]),
                 quiet_read(tree / "DICOMDIR"))


def expected_record(sop_class: str) -> str:
    """The leaf record type of `sop_class`, by this test's own table."""
    if sop_class in EXPECTED_RECORD:
        return EXPECTED_RECORD[sop_class]
    if UID(sop_class).name.endswith("Image Storage"):
        return "IMAGE"
    raise AssertionError(f"this test has no expectation for SOP class {sop_class}")


def check_record_keys(built: Built) -> None:
    """Every record carries the keys its type needs (more on DVD), leaves their references."""
    extended = built.profile != "STD-GEN-CD"
    for record in built.dicomdir.DirectoryRecordSequence:
        rtype = record.DirectoryRecordType
        required = REQUIRED_KEYS.get(rtype, ())
        present = PRESENT_KEYS.get(rtype, ())
        if extended:
            required += EXTENDED_REQUIRED_KEYS.get(rtype, ())
            present += EXTENDED_PRESENT_KEYS.get(rtype, ())
        if rtype not in UPPER:
            required += LEAF_REFERENCE
        for keyword in required:
            assert record.get(keyword) not in (None, "", []), f"{rtype} record lacks {keyword}"
        for keyword in present:
            assert keyword in record, f"{rtype} record lacks {keyword} (type 2)"


def check_record_types(built: Built) -> None:
    """Each leaf record's type fits the SOP class of the file it references."""
    for record in built.leaves:
        sop_class = record.ReferencedSOPClassUIDInFile
        expected = expected_record(sop_class)
        assert record.DirectoryRecordType == expected, UID(sop_class).name
        assert record_type(sop_class, expected == "IMAGE") == expected


def check_referenced_files(built: Built) -> None:
    """DICOM/ holds exactly the referenced files, each what its record says, in a profile
    syntax, with a zeroed preamble and 'DICM'."""
    allowed = ALLOWED_SYNTAXES[built.profile]
    referenced = [built.path_of(r) for r in built.leaves]
    assert len(set(referenced)) == len(referenced), "two records reference one file"
    assert sorted(referenced) == built.dicom_files()
    for folder in (built.tree / "DICOM").rglob("*"):
        assert not folder.is_dir() or any(folder.iterdir()), f"empty folder {folder}"
    for record, path in zip(built.leaves, referenced, strict=True):
        with open(path, "rb") as fp:
            head = fp.read(132)
        assert head[:128] == bytes(128), f"{path}: preamble not zeroed"
        assert head[128:] == b"DICM", f"{path}: no DICM prefix"
        ds = quiet_read(path, stop_before_pixels=True)
        syntax = ds.file_meta.TransferSyntaxUID
        assert syntax == record.ReferencedTransferSyntaxUIDInFile
        assert syntax in allowed, f"{path}: {UID(syntax).name} not in {built.profile}"
        if built.profile == "STD-GEN-CD":
            assert syntax == ExplicitVRLittleEndian
        assert ds.SOPInstanceUID == record.ReferencedSOPInstanceUIDInFile
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.SOPClassUID == record.ReferencedSOPClassUIDInFile


def check_dciodvfy(built: Built) -> None:
    proc = run_tool([require_tool("dciodvfy"), "DICOMDIR"], cwd=built.tree)
    assert error_lines(output_of(proc)) == [], output_of(proc)


def check_dcmmkdir(built: Built, tmp: Path, invent: bool) -> None:
    """dcmmkdir with the same profile makes its own DICOMDIR from the staged files."""
    tool = require_tool("dcmmkdir")
    shutil.copytree(built.tree / "DICOM", tmp / "DICOM")
    args = [tool, dcmtk_flag(built.profile), "+r", *(["+I"] if invent else []),
            "+D", "DICOMDIR.dcmtk", "DICOM"]
    proc = run_tool(args, cwd=tmp)
    assert proc.returncode == 0, output_of(proc)
    assert dcmtk_errors(output_of(proc)) == [], output_of(proc)
    assert (tmp / "DICOMDIR.dcmtk").is_file()


def iso_listing(image: Path) -> Iterator[tuple[str, str, bool]]:
    """(directory, name, is_dir) of every entry `isoinfo -l` lists, '.' and '..' left out."""
    proc = run_tool([require_tool("isoinfo"), "-l", "-i", str(image)])
    assert proc.returncode == 0, output_of(proc)
    directory = None
    entry = re.compile(r"^([d-])\S*\s.*\[\s*\d+\s+\d+\]\s+(\S+)\s*$")
    for line in proc.stdout.splitlines():
        if line.startswith("Directory listing of "):
            directory = line[len("Directory listing of "):].strip()
            continue
        match = entry.match(line)
        if match and match[2] not in (".", ".."):
            assert directory is not None, line
            yield directory, match[2], match[1] == "d"


# --- 1. pydicom's own test files as one release ----------------------------------------------

TESTDATA_ROOT = Path(pydicom.data.get_testdata_file("CT_small.dcm")).parent
# pydicom's test files whose pixels have 32 bits allocated (see test_dcentvfy_all_files).
BITS_32 = {"dicom/rtdose.dcm", "dicom/rtdose_1frame.dcm", "dicom/rtdose_expb.dcm",
           "dicom/rtdose_expb_1frame.dcm", "dicom/rtdose_rle.dcm", "dicom/rtdose_rle_1frame.dcm",
           "dicom/badVR.dcm", "dicom/SC_rgb_rle_32bit.dcm", "dicom/SC_rgb_rle_32bit_2frame.dcm"}


@dataclass
class TestdataJob:
    """The input folder: every job file (name in the job) and the SOP Instance UID it has."""

    __test__ = False  # not a test class, despite its name

    job_dir: Path
    uids: dict[str, str | None]


def _sop_instance(path: Path) -> str | None:
    """The SOP Instance UID of a file pydicom can read with force=True, else None."""
    try:
        ds = quiet_read(path, force=True)
        return str(ds.SOPInstanceUID) if "SOPInstanceUID" in ds else None
    except Exception:  # noqa: BLE001 - anything pydicom cannot read is "not DICOM"
        return None


@pytest.fixture(scope="module")
def testdata_source(tmp_path_factory: pytest.TempPathFactory) -> TestdataJob:
    """pydicom's test files, every one, rewritten to one patient where they are DICOM."""
    job_dir = tmp_path_factory.mktemp("testdata") / "R-TESTDATA"
    files = sorted(Path(f) for f in pydicom.data.get_testdata_files() if Path(f).is_file())
    assert len(files) > 100, "pydicom's test files are missing"
    uids: dict[str, str | None] = {}
    for source in files:
        rel = "dicom/" + source.relative_to(TESTDATA_ROOT).as_posix()
        assert rel not in uids
        out = job_dir / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        uid = _sop_instance(source)
        if uid is None:
            shutil.copyfile(source, out)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                synth.rewrite_patient(source, TESTDATA_PATIENT, out)
        uids[rel] = uid
    return TestdataJob(job_dir, uids)


# pydicom's test files that are damaged on purpose (or carry invalid UIDs): the job holds,
# naming each with its reason. This test's own list, with a word of the reason each.
DAMAGED = {
    "JPEG-lossy.dcm": "could not be decoded",
    "JPEG2000-embedded-sequence-delimiter.dcm": "could not be decoded",
    "MR_small_padded.dcm": "pixel data does not match",
    "MR_truncated.dcm": "pixel data does not match",   # pydicom rewrote its length
    "rtplan_truncated.dcm": "longer than the file",
    "DICOMDIR-nooffset": "longer than the file",
    "meta_missing_tsyntax.dcm": "no transfer syntax",
    "badVR.dcm": "not a valid UID",
    "rtdose.dcm": "not a valid UID",
    "rtdose_1frame.dcm": "not a valid UID",
    "rtdose_expb.dcm": "not a valid UID",
    "rtdose_expb_1frame.dcm": "not a valid UID",
    "rtdose_rle.dcm": "not a valid UID",
    "rtdose_rle_1frame.dcm": "not a valid UID",
}


@pytest.fixture(scope="module", params=["cd", "dvd"])
def testdata(request: pytest.FixtureRequest, testdata_source: TestdataJob,
             tmp_path_factory: pytest.TempPathFactory) -> tuple[TestdataJob, Built]:
    """pydicom's test files built once for CD (STD-GEN-CD) and once for DVD (JPEG): first the
    whole set, which is held for its damaged files, then the set without them."""
    media = request.param
    base = tmp_path_factory.mktemp(f"testdata-{media}")
    job_dir = base / "R-TESTDATA"
    shutil.copytree(testdata_source.job_dir, job_dir)
    write_job_json(job_dir, TESTDATA_PATIENT, media)
    config_file = base / "held.toml"
    config_file.write_text(f'[station]\ndata_dir = "{base / "held"}"\n', encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        held = build_job(load_config(config_file), job_dir, base / "held-out")
    assert held.exit_code == 3 and held.volumes == [], held.summary()
    damaged = {}
    for line in held.problems[1:]:
        rel, _, reason = line.partition(": ")
        assert rel in testdata_source.uids, line
        damaged[rel] = reason
    assert {Path(rel).name for rel in damaged} == set(DAMAGED), sorted(damaged)
    for rel, reason in damaged.items():
        assert DAMAGED[Path(rel).name] in reason, (rel, reason)
        (job_dir / rel).unlink()
    uids = {rel: uid for rel, uid in testdata_source.uids.items() if rel not in damaged}
    return TestdataJob(job_dir, uids), build(base, job_dir, media)


def _problems(outcome: BuildOutcome, inputs: set[str]) -> dict[str, str]:
    """outcome.problems as {input name: reason}; each must be 'name: reason'."""
    problems: dict[str, str] = {}
    for line in outcome.problems:
        rel, sep, reason = line.partition(": ")
        assert sep and rel in inputs, f"problem not about an input file: {line!r}"
        assert reason.strip(), f"problem without a reason: {line!r}"
        assert "Traceback" not in reason, f"a crash, not a reason: {line!r}"
        assert rel not in problems, f"{rel} listed twice"
        problems[rel] = reason
    return problems


def test_every_input_accounted_for_once(testdata: tuple[TestdataJob, Built]) -> None:
    """Each input file is on the disc (one record) or refused with a reason, never both."""
    job, built = testdata
    problems = _problems(built.outcome, set(job.uids))
    referenced: Counter[str] = Counter()
    for record in built.leaves:
        uid = record.ReferencedSOPInstanceUIDInFile
        copies = [rel for rel, u in job.uids.items() if u == uid]
        assert copies, f"record for {uid} matches no input file"
        placed = [rel for rel in copies if rel not in problems]
        assert len(placed) == 1, f"record for {uid}: placed copies {placed} of {copies}"
        referenced[placed[0]] += 1
    for rel in job.uids:
        assert (rel in problems) != (referenced[rel] == 1), (
            f"{rel}: referenced {referenced[rel]} time(s), problem: {problems.get(rel)!r}")
        assert referenced[rel] <= 1
    # A copy left off as a duplicate names the copy that really is on the disc.
    for rel, reason in problems.items():
        match = re.search(r"already on the disc as (\S+)$", reason)
        if match:
            assert referenced[match[1]] == 1, f"{rel}: {reason}, but that is not on the disc"
            assert job.uids[match[1]] == job.uids[rel]
    # Sanity: the bulk of pydicom's test files does reach the disc.
    assert len(referenced) > 50


def test_leaf_record_types(testdata: tuple[TestdataJob, Built]) -> None:
    """Leaf record types fit their SOP classes; spot checks on well-known files."""
    job, built = testdata
    check_record_types(built)
    by_uid = {r.ReferencedSOPInstanceUIDInFile: r for r in built.leaves}
    spot = {"rtplan.dcm": "RT PLAN", "waveform_ecg.dcm": "WAVEFORM",
            "test-SR.dcm": "SR DOCUMENT", "CT_small.dcm": "IMAGE",
            "rtstruct.dcm": "RT STRUCTURE SET", "MR_small.dcm": "IMAGE"}
    for name, rtype in spot.items():
        uid = job.uids[f"dicom/{name}"]
        assert uid in by_uid, f"{name} (or a copy of it) is not on the disc"
        assert by_uid[uid].DirectoryRecordType == rtype, name


def test_record_keys(testdata: tuple[TestdataJob, Built]) -> None:
    _, built = testdata
    check_record_keys(built)
    patients = [r for r in built.dicomdir.DirectoryRecordSequence
                if r.DirectoryRecordType == "PATIENT"]
    assert [p.PatientID for p in patients] == [TESTDATA_PATIENT.id]


def test_referenced_files(testdata: tuple[TestdataJob, Built]) -> None:
    """Transfer syntaxes of the profile, zeroed preambles, file meta matching the records."""
    job, built = testdata
    check_referenced_files(built)
    # A JPEG Lossless SV1 input stays JPEG Lossless on DVD and is decompressed for CD.
    uid = job.uids["dicom/SC_rgb_jpeg_gdcm.dcm"]
    record = next(r for r in built.leaves if r.ReferencedSOPInstanceUIDInFile == uid)
    wanted = ExplicitVRLittleEndian if built.media == "cd" else JPEGLosslessSV1
    assert record.ReferencedTransferSyntaxUIDInFile == wanted


def test_dciodvfy_dicomdir(testdata: tuple[TestdataJob, Built]) -> None:
    _, built = testdata
    check_dciodvfy(built)


def test_dcentvfy_all_files(testdata: tuple[TestdataJob, Built]) -> None:
    """The files agree on patient, study and series attributes (dicom3tools dcentvfy).

    dicom3tools (Debian bookworm build) aborts on pixel data with more than 16 bits allocated
    ("Assertion `bitsallocated <= bytesinword*8u' failed"), a tool limit, not a file-set error.
    Exactly those files are left out of the dcentvfy run and must read cleanly with dcmdump
    instead. In pydicom's test data they are the 32-bit RT Dose (rtdose*.dcm and badVR.dcm
    share one SOP Instance UID, so one copy reaches the disc) and SC_rgb_rle_32bit*.dcm (whose
    UID a JPEG copy already carries). No other file is left out.
    """
    job, built = testdata
    dcentvfy = require_tool("dcentvfy")
    dcmdump = require_tool("dcmdump")
    on_disc = {r.ReferencedSOPInstanceUIDInFile for r in built.leaves}
    checked: list[Path] = []
    excluded: list[Path] = []  # BitsAllocated > 16: the RT Dose of rtdose*.dcm / badVR.dcm
    for path in built.dicom_files():
        ds = quiet_read(path, stop_before_pixels=True)
        (excluded if int(ds.get("BitsAllocated", 0) or 0) > 16 else checked).append(path)
        assert ds.SOPInstanceUID in on_disc
    for path in excluded:
        uid = quiet_read(path, stop_before_pixels=True).SOPInstanceUID
        assert {rel for rel, u in job.uids.items() if u == uid} <= BITS_32, path
        proc = run_tool([dcmdump, str(path)])
        assert proc.returncode == 0 and dcmtk_errors(output_of(proc)) == [], output_of(proc)
    assert checked
    proc = run_tool([dcentvfy, *(str(p.relative_to(built.tree)) for p in checked)],
                    cwd=built.tree)
    assert proc.returncode == 0, output_of(proc)
    assert error_lines(output_of(proc)) == [], output_of(proc)


def test_dcmmkdir_accepts_files(testdata: tuple[TestdataJob, Built], tmp_path: Path) -> None:
    """DCMTK builds a DICOMDIR of the same profile from the staged files (+I as burner does)."""
    _, built = testdata
    check_dcmmkdir(built, tmp_path, invent=True)


def test_iso_level1_names(testdata: tuple[TestdataJob, Built]) -> None:
    """The image holds the staged tree in ISO 9660 level-1 names; volume id = File-set ID."""
    _, built = testdata
    seen = set()
    for directory, name, is_dir in iso_listing(built.image):
        parts = [p for p in directory.split("/") if p]
        assert len(parts) + 1 <= 8, f"{directory} is deeper than 8 levels"
        if is_dir:
            assert ISO_DIR.fullmatch(name), f"directory {directory}{name}"
            assert len(parts) + 2 <= 8, f"{directory}{name} is deeper than 8 levels"
        else:
            assert ISO_FILE.fullmatch(name), f"file {directory}{name}"
            seen.add("/".join([*parts, name[:-2].rstrip(".")]))
    staged = {p.relative_to(built.tree).as_posix() for p in built.tree.rglob("*") if p.is_file()}
    assert seen == staged
    proc = run_tool([require_tool("isoinfo"), "-d", "-i", str(built.image)])
    volume_id = re.search(r"^Volume id:\s*(\S*)\s*$", proc.stdout, re.MULTILINE)
    assert volume_id, proc.stdout
    assert volume_id[1] == built.dicomdir.FileSetID


# --- 2. a synthetic mixed study --------------------------------------------------------------


@pytest.fixture(scope="module", params=["dvd", "cd"])
def mixed(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Built]:
    """CT + SR + KO + PR + PDF + ECG + RT structure set, built for DVD and for CD."""
    media = request.param
    base = tmp_path_factory.mktemp(f"mixed-{media}")
    job_dir = base / "R-MIXED"
    sources = synth.make_mixed_study(job_dir / "dicom", MIXED_PATIENT, ct_slices=4, rows=64,
                                     cols=64)
    write_job_json(job_dir, MIXED_PATIENT, media)
    return sources, build(base, job_dir, media)


def test_mixed_records(mixed: tuple[list[Path], Built]) -> None:
    """Every kind of object gets its record type, with its keys, valued as in the file."""
    sources, built = mixed
    assert built.outcome.problems == []
    check_record_types(built)
    check_record_keys(built)
    types = Counter(r.DirectoryRecordType for r in built.leaves)
    for rtype in ("KEY OBJECT DOC", "PRESENTATION", "ENCAP DOC", "SR DOCUMENT", "WAVEFORM",
                  "RT STRUCTURE SET"):
        assert types[rtype] == 1, types
    assert types["IMAGE"] == 4
    by_uid = {str(ds.SOPInstanceUID): ds for ds in map(quiet_read, sources)}
    assert set(by_uid) == {r.ReferencedSOPInstanceUIDInFile for r in built.leaves}
    for record in built.leaves:
        source = by_uid[record.ReferencedSOPInstanceUIDInFile]
        for keyword in REQUIRED_KEYS[record.DirectoryRecordType]:
            if keyword in source:
                assert record[keyword].value == source[keyword].value, keyword
    encap = next(r for r in built.leaves if r.DirectoryRecordType == "ENCAP DOC")
    assert encap.MIMETypeOfEncapsulatedDocument == "application/pdf"
    check_referenced_files(built)


def test_mixed_dciodvfy(mixed: tuple[list[Path], Built]) -> None:
    _, built = mixed
    check_dciodvfy(built)


def test_mixed_dcentvfy(mixed: tuple[list[Path], Built]) -> None:
    _, built = mixed
    files = [str(p.relative_to(built.tree)) for p in built.dicom_files()]
    proc = run_tool([require_tool("dcentvfy"), *files], cwd=built.tree)
    assert proc.returncode == 0, output_of(proc)
    assert error_lines(output_of(proc)) == [], output_of(proc)


def test_mixed_dcmmkdir_strict(mixed: tuple[list[Path], Built], tmp_path: Path) -> None:
    """Synthetic files need nothing invented: dcmmkdir without +I accepts them."""
    _, built = mixed
    check_dcmmkdir(built, tmp_path, invent=False)


# --- 3. compressed input ---------------------------------------------------------------------


# JPEG Lossless input staying JPEG Lossless on a DVD is covered by the pydicom test-data
# build (SC_rgb_jpeg_gdcm.dcm): pydicom cannot encode that syntax for a synthetic study.
@pytest.fixture(scope="module", params=[("cd", JPEG2000Lossless), ("cd", RLELossless),
                                        ("dvd", RLELossless)],
                ids=["cd-j2k-lossless", "cd-rle", "dvd-rle"])
def compressed(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[Path], Built]:
    """A small CT in a lossless compressed transfer syntax, built for CD or DVD."""
    media, syntax = request.param
    base = tmp_path_factory.mktemp(f"compressed-{media}")
    job_dir = base / "R-LOSSLESS"
    sources = synth.make_ct_study(job_dir / "dicom", CT_PATIENT, transfer_syntax=syntax,
                                  rows=64, cols=64, slices=4)
    write_job_json(job_dir, CT_PATIENT, media)
    return syntax, sources, build(base, job_dir, media)


def test_compressed_input(compressed: tuple[str, list[Path], Built]) -> None:
    """A syntax the profile does not allow is decompressed to Explicit VR LE, pixel for pixel."""
    syntax, sources, built = compressed
    assert built.outcome.problems == []
    check_referenced_files(built)
    wanted = syntax if syntax in ALLOWED_SYNTAXES[built.profile] else ExplicitVRLittleEndian
    assert wanted == ExplicitVRLittleEndian
    source_pixels = {}
    for path in sources:
        ds = quiet_read(path)
        assert ds.file_meta.TransferSyntaxUID == syntax
        source_pixels[str(ds.SOPInstanceUID)] = ds.pixel_array
    assert len(built.leaves) == len(sources)
    for record in built.leaves:
        staged = quiet_read(built.path_of(record))
        assert staged.file_meta.TransferSyntaxUID == wanted
        assert record.ReferencedTransferSyntaxUIDInFile == wanted
        assert staged.get("LossyImageCompression", "00") == "00"
        expected = source_pixels[str(staged.SOPInstanceUID)]
        assert staged.pixel_array.dtype == expected.dtype
        assert np.array_equal(staged.pixel_array, expected)


# --- 4. the DICOMDIR writer's links ----------------------------------------------------------


@pytest.fixture(scope="module")
def two_studies(tmp_path_factory: pytest.TempPathFactory) -> list[list[list[Path]]]:
    """Two CT studies of two series of three slices each: [study][series][slice]."""
    base = tmp_path_factory.mktemp("two-studies")
    studies = []
    for n in range(2):
        paths = synth.make_ct_study(base / f"study{n}", CT_PATIENT, slices=3, rows=16, cols=16,
                                    series=2, study_uid=generate_uid(),
                                    accession=f"ACC{n}")
        studies.append([paths[:3], paths[3:]])
    return studies


def _chain(by_offset: dict[int, Dataset], offset: int) -> list[Dataset]:
    """The records of one directory entity, from its first record's offset."""
    records = []
    while offset:
        assert offset in by_offset, f"offset {offset} is not the start of a record"
        record = by_offset[offset]
        records.append(record)
        offset = record.OffsetOfTheNextDirectoryRecord
    return records


@pytest.mark.parametrize("extended", [False, True], ids=["cd-keys", "dvd-keys"])
def test_write_dicomdir_offsets(two_studies: list[list[list[Path]]], tmp_path: Path,
                                extended: bool) -> None:
    """Following the offsets gives PATIENT > 2 STUDY > 2 SERIES each > the leaves, in order."""
    entries = []
    expected = []
    series_no = 0
    for s_no, study in enumerate(two_studies, 1):
        study_tree = []
        for series in study:
            series_no += 1
            leaves = []
            for i_no, path in enumerate(series, 1):
                inst = read_instance(path, path.name)
                fid = file_id(s_no, series_no, i_no)
                target = tmp_path.joinpath(*fid)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
                entries.append(Entry(inst, fid, inst.transfer_syntax, inst.sop_class))
                leaves.append(inst.sop_instance)
            study_tree.append((inst.series_uid, leaves))
        expected.append((inst.study_uid, study_tree))
    fileset_uid = generate_uid()
    size = write_dicomdir(tmp_path / "DICOMDIR", entries, fileset_id="OFFSETS",
                          fileset_uid=fileset_uid, extended=extended)
    raw = (tmp_path / "DICOMDIR").read_bytes()
    assert size == len(raw)
    assert raw[:128] == bytes(128) and raw[128:132] == b"DICM"

    ds = pydicom.dcmread(tmp_path / "DICOMDIR")
    assert ds.file_meta.MediaStorageSOPClassUID == MediaStorageDirectoryStorage
    assert ds.file_meta.MediaStorageSOPInstanceUID == fileset_uid
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert ds.FileSetID == "OFFSETS"
    assert ds.FileSetConsistencyFlag == 0
    records = list(ds.DirectoryRecordSequence)
    by_offset = {r.seq_item_tell: r for r in records}
    assert len(by_offset) == len(records) == 1 + 2 + 4 + 12
    for offset in by_offset:  # every offset is the start of an item tag (FFFE,E000)
        assert raw[offset:offset + 4] == b"\xfe\xff\x00\xe0"

    root = _chain(by_offset, ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity)
    assert [r.DirectoryRecordType for r in root] == ["PATIENT"]
    assert root[-1].seq_item_tell == \
        ds.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity
    patient = root[0]
    assert patient.PatientID == CT_PATIENT.id
    assert ("PatientBirthDate" in patient) == extended
    reached = [patient]
    walked = []
    studies = _chain(by_offset, patient.OffsetOfReferencedLowerLevelDirectoryEntity)
    for study in studies:
        assert study.DirectoryRecordType == "STUDY"
        series_tree = []
        for series in _chain(by_offset, study.OffsetOfReferencedLowerLevelDirectoryEntity):
            assert series.DirectoryRecordType == "SERIES"
            assert ("InstitutionName" in series) == extended
            leaves = _chain(by_offset, series.OffsetOfReferencedLowerLevelDirectoryEntity)
            for leaf in leaves:
                assert leaf.DirectoryRecordType == "IMAGE"
                assert leaf.OffsetOfReferencedLowerLevelDirectoryEntity == 0
                assert ("Rows" in leaf) == extended
            series_tree.append((series.SeriesInstanceUID,
                                [leaf.ReferencedSOPInstanceUIDInFile for leaf in leaves]))
            assert [leaf.InstanceNumber for leaf in leaves] == [1, 2, 3]
            reached += [series, *leaves]
        walked.append((study.StudyInstanceUID, series_tree))
        reached.append(study)
    assert walked == expected
    assert len(reached) == len(records), "records no link leads to"

    # pydicom's own reader of file-sets agrees, and finds every referenced file.
    fs = FileSet(ds)
    assert fs.ID == "OFFSETS"
    assert fs.UID == fileset_uid  # noqa: SIM300
    found = {}
    for instance in fs:
        series = instance.node.parent
        study = series.parent
        assert study.parent.key == CT_PATIENT.id
        found[instance.SOPInstanceUID] = (study.key, series.key)
        assert Path(instance.path).is_file()
    assert found == {sop: (study_uid, series_uid)
                     for study_uid, series_tree in expected
                     for series_uid, sops in series_tree for sop in sops}
