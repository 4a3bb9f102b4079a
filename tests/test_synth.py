"""Tests of burner.synth: synthetic studies that are valid, consistent and plausible."""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path

import numpy as np
import pydicom.data
import pytest
from conftest import require_tool
from pydicom import dcmread
from pydicom.uid import (
    CTImageStorage,
    EncapsulatedPDFStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    MRImageStorage,
    RLELossless,
)

from burner import synth
from burner.synth import Patient

PATIENT = Patient(id="SYN0042", name="TEST^SYNTHETIC", birth_date="19800215", sex="F")

PATIENT_KEYS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex")
STUDY_KEYS = (
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyDescription",
    "PatientAge",
)
SERIES_KEYS = (
    "Modality",
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDescription",
    "SeriesDate",
    "SeriesTime",
    "Manufacturer",
    "InstitutionName",
)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """One small mixed study (CT + SR + KO + PR + PDF + ECG + RTSTRUCT)."""
    return synth.make_mixed_study(
        tmp_path_factory.mktemp("mixed"), PATIENT, ct_slices=6, rows=64, cols=64
    )


@pytest.fixture(scope="module")
def one_of_each(tmp_path_factory: pytest.TempPathFactory, mixed: list[Path]) -> dict[str, Path]:
    """One file of every kind the module makes, keyed by Modality (OT twice: SC, MF)."""
    out = tmp_path_factory.mktemp("kinds")
    files = {dcmread(p, stop_before_pixels=True).Modality: p for p in mixed}
    files["MR"] = synth.make_mr_study(out, PATIENT, slices=2, rows=64, cols=64)[0]
    files["SC"] = synth.make_rgb_secondary_capture(out, PATIENT)
    files["MF"] = synth.make_multiframe(out, PATIENT, frames=3)
    return files


def _hu(path: Path) -> np.ndarray:
    ds = dcmread(path)
    return ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


def _patch_mean(hu: np.ndarray, point: tuple[float, float], half: int = 2) -> float:
    """Mean of a small square around normalised point (u, v)."""
    rows, cols = hu.shape
    col = int((point[0] + 1) / 2 * cols)
    row = int((point[1] + 1) / 2 * rows)
    return float(hu[row - half : row + half + 1, col - half : col + half + 1].mean())


def _problems(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("Error")]


def test_ct_study_is_part10_with_consistent_series(tmp_path: Path) -> None:
    paths = synth.make_ct_study(tmp_path, PATIENT, slices=4, rows=64, cols=64, series=2)
    assert len(paths) == 8
    by_series: dict[str, list] = {}
    for path in paths:
        raw = path.read_bytes()
        assert raw[128:132] == b"DICM"
        ds = dcmread(path)
        assert ds.SOPClassUID == CTImageStorage
        assert ds.file_meta.MediaStorageSOPClassUID == CTImageStorage
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert ds.Manufacturer == "burner synthetic"
        assert ds.SpecificCharacterSet == "ISO_IR 100"
        assert list(ds.ImageType) == ["ORIGINAL", "PRIMARY", "AXIAL"]
        assert [float(x) for x in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        by_series.setdefault(ds.SeriesInstanceUID, []).append(ds)
    assert len(by_series) == 2
    assert len({ds.StudyInstanceUID for group in by_series.values() for ds in group}) == 1
    for group in by_series.values():
        for key in SERIES_KEYS + ("FrameOfReferenceUID",):
            assert len({str(ds.get(key)) for ds in group}) == 1, key
        assert [ds.InstanceNumber for ds in group] == [1, 2, 3, 4]
        z = [float(ds.ImagePositionPatient[2]) for ds in group]
        steps = np.diff(z)
        assert np.allclose(np.abs(steps), float(group[0].SliceThickness))
    assert len({ds.SOPInstanceUID for group in by_series.values() for ds in group}) == 8


def test_ct_pixels_are_plausible_hounsfield_units(tmp_path: Path) -> None:
    paths = synth.make_ct_study(tmp_path, PATIENT, slices=11, rows=128, cols=128)
    chest = _hu(paths[3])  # 30 % down the scan: lungs, heart, ribs
    assert abs(_patch_mean(chest, synth.CT_AIR_POINT) + 1000) < 40
    assert -20 < _patch_mean(chest, synth.CT_SOFT_TISSUE_POINT) < 100
    assert _patch_mean(chest, synth.CT_BONE_POINT) > 300
    assert _patch_mean(chest, synth.CT_LUNG_POINT) < -700
    assert chest.min() >= -1024 and chest.max() <= 3071
    ds = dcmread(paths[3], stop_before_pixels=True)
    assert (ds.RescaleSlope, ds.RescaleIntercept, ds.PixelRepresentation) == (1, -1024, 0)


@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, RLELossless, JPEG2000Lossless])
def test_ct_transfer_syntaxes_are_lossless(tmp_path: Path, syntax: str) -> None:
    plain = synth.make_ct_study(tmp_path / "plain", PATIENT, slices=2, rows=64, cols=64)
    coded = synth.make_ct_study(
        tmp_path / "coded", PATIENT, slices=2, rows=64, cols=64, transfer_syntax=syntax
    )
    ds = dcmread(coded[1])
    assert ds.file_meta.TransferSyntaxUID == syntax
    assert np.array_equal(ds.pixel_array, dcmread(plain[1]).pixel_array)


@pytest.mark.parametrize("syntax", [JPEGLosslessSV1, JPEGBaseline8Bit])
def test_ct_unsupported_transfer_syntax_says_so(tmp_path: Path, syntax: str) -> None:
    with pytest.raises(NotImplementedError, match="1.2.840.10008.1.2.4"):
        synth.make_ct_study(tmp_path, PATIENT, slices=1, rows=32, cols=32, transfer_syntax=syntax)
    assert not any(tmp_path.iterdir())


def test_ct_workers_give_the_same_study_shape(tmp_path: Path) -> None:
    one = synth.make_ct_study(tmp_path / "one", PATIENT, slices=6, rows=64, cols=64)
    two = synth.make_ct_study(tmp_path / "two", PATIENT, slices=6, rows=64, cols=64, workers=2)
    assert [p.relative_to(tmp_path / "two") for p in two] == [
        p.relative_to(tmp_path / "one") for p in one
    ]
    assert [dcmread(p).InstanceNumber for p in two] == list(range(1, 7))
    assert np.array_equal(dcmread(one[4]).pixel_array, dcmread(two[4]).pixel_array)


def test_mr_study(tmp_path: Path) -> None:
    paths = synth.make_mr_study(tmp_path, PATIENT, slices=3, rows=64, cols=64)
    assert len(paths) == 3
    ds = dcmread(paths[1])
    assert ds.SOPClassUID == MRImageStorage
    for key in ("EchoTime", "RepetitionTime", "MagneticFieldStrength", "ScanningSequence"):
        assert key in ds
    assert ds.pixel_array.shape == (64, 64)
    assert ds.pixel_array.max() > 500


def test_rgb_secondary_capture(tmp_path: Path) -> None:
    ds = dcmread(synth.make_rgb_secondary_capture(tmp_path, PATIENT))
    assert ds.SOPClassUID == synth.SC_IMAGE
    assert (ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration) == (
        3,
        "RGB",
        0,
    )
    assert ds.pixel_array.shape == (256, 256, 3)


def test_multiframe(tmp_path: Path) -> None:
    ds = dcmread(synth.make_multiframe(tmp_path, PATIENT, frames=4))
    assert ds.SOPClassUID == synth.MF_WORD_SC_IMAGE
    assert ds.NumberOfFrames == 4
    assert ds.pixel_array.shape == (4, 128, 128)


def test_mixed_study_objects(mixed: list[Path]) -> None:
    classes = [dcmread(p, stop_before_pixels=True).SOPClassUID for p in mixed]
    assert classes[:6] == [CTImageStorage] * 6
    assert classes[6:] == [
        synth.BASIC_TEXT_SR,
        synth.KEY_OBJECT_SELECTION,
        synth.GRAYSCALE_PR,
        EncapsulatedPDFStorage,
        synth.TWELVE_LEAD_ECG,
        synth.RT_STRUCTURE_SET,
    ]


def test_mixed_study_agrees_on_patient_and_study(mixed: list[Path]) -> None:
    headers = [dcmread(p, stop_before_pixels=True) for p in mixed]
    for key in PATIENT_KEYS + STUDY_KEYS:
        values = {str(ds.get(key)) for ds in headers}
        assert len(values) == 1, (key, values)
    assert str(headers[0].PatientID) == PATIENT.id
    assert "IssuerOfPatientID" not in headers[0]


def test_sr_key_object_and_presentation_state_reference_the_ct(mixed: list[Path]) -> None:
    ct_uids = {dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in mixed[:6]}
    sr, ko, pr = (dcmread(p) for p in mixed[6:9])
    assert (sr.CompletionFlag, sr.VerificationFlag) == ("COMPLETE", "VERIFIED")
    assert sr.VerifyingObserverSequence[0].VerifyingObserverName
    assert sr.ConceptNameCodeSequence[0].CodeValue == "18748-4"
    texts = [
        item.TextValue
        for section in sr.ContentSequence
        for item in section.get("ContentSequence", [])
        if item.ValueType == "TEXT"
    ]
    assert len(texts) == 3
    for ds in (sr, ko):
        refs = ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
        assert {r.ReferencedSOPInstanceUID for r in refs.ReferencedSOPSequence} <= ct_uids
    images = pr.ReferencedSeriesSequence[0].ReferencedImageSequence
    assert {r.ReferencedSOPInstanceUID for r in images} <= ct_uids


def test_pdf_waveform_and_structure_set(mixed: list[Path], tmp_path: Path) -> None:
    pdf, ecg, rtss = (dcmread(p) for p in mixed[9:12])
    document = bytes(pdf.EncapsulatedDocument)[: pdf.EncapsulatedDocumentLength]
    assert document.startswith(b"%PDF") and b"%%EOF" in document[-8:]
    assert pdf.MIMETypeOfEncapsulatedDocument == "application/pdf"
    given = synth.make_encapsulated_pdf(
        tmp_path, PATIENT, study_uid=pdf.StudyInstanceUID, pdf_bytes=b"%PDF-1.4 x %%EOF", title="T"
    )
    again = dcmread(given)
    assert bytes(again.EncapsulatedDocument)[:16] == b"%PDF-1.4 x %%EOF"
    assert again.DocumentTitle == "T" and again.AccessionNumber == pdf.AccessionNumber

    group = ecg.WaveformSequence[0]
    assert group.NumberOfWaveformChannels == 12
    assert ecg.waveform_array(0).shape == (group.NumberOfWaveformSamples, 12)

    ct_z = {
        dcmread(p, stop_before_pixels=True).SOPInstanceUID: float(
            dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]
        )
        for p in mixed[:6]
    }
    assert [roi.ROIName for roi in rtss.StructureSetROISequence] == ["BODY", "VERTEBRA"]
    for roi in rtss.ROIContourSequence:
        assert len(roi.ContourSequence) == 6
        for contour in roi.ContourSequence:
            uid = contour.ContourImageSequence[0].ReferencedSOPInstanceUID
            assert {float(z) for z in contour.ContourData[2::3]} == {ct_z[uid]}


def test_rewrite_patient_keeps_the_file_as_it_was(tmp_path: Path) -> None:
    who = Patient(id="ONE1", name="ONE^PATIENT", birth_date="19600101", sex="M", issuer="SYN")
    for name in ("CT_small.dcm", "no_meta.dcm", "SC_rgb_jpeg.dcm", "MR_small_bigendian.dcm"):
        source = Path(pydicom.data.get_testdata_file(name))
        out = tmp_path / name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the odd files are odd on purpose
            synth.rewrite_patient(source, who, out)
            before, after = dcmread(source, force=True), dcmread(out, force=True)
        assert (after.PatientID, str(after.PatientName)) == ("ONE1", "ONE^PATIENT")
        assert (after.IssuerOfPatientID, after.PatientBirthDate, after.PatientSex) == (
            "SYN",
            "19600101",
            "M",
        )
        assert before.file_meta.get("TransferSyntaxUID") == after.file_meta.get("TransferSyntaxUID")
        assert (before.preamble is None) == (after.preamble is None)
        assert before.get("SOPInstanceUID") == after.get("SOPInstanceUID")
        assert before.get("PixelData") == after.get("PixelData")


def test_dciodvfy_accepts_every_kind(one_of_each: dict[str, Path]) -> None:
    tool = require_tool("dciodvfy")
    assert set(one_of_each) >= {"CT", "MR", "SC", "MF", "SR", "KO", "PR", "DOC", "ECG", "RTSTRUCT"}
    for kind, path in one_of_each.items():
        run = subprocess.run([tool, str(path)], capture_output=True, text=True, check=False)
        assert _problems(run.stdout + run.stderr) == [], kind


def test_dcentvfy_finds_mixed_study_consistent(mixed: list[Path], tmp_path: Path) -> None:
    tool = require_tool("dcentvfy")
    two_series = synth.make_ct_study(tmp_path, PATIENT, slices=3, rows=32, cols=32, series=2)
    for files in (mixed, two_series):
        run = subprocess.run([tool, *map(str, files)], capture_output=True, text=True, check=False)
        assert _problems(run.stdout + run.stderr) == []
