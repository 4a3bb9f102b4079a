"""Synthetic MR studies: one axial T1 spin-echo head series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.uid import MRImageStorage, generate_uid

from burner.synth.common import Patient, _base, _file_meta, _SeriesKind, _study, _write
from burner.synth.phantom import _mr_slice
from burner.synth.slices import _acquisition, _axial_plane, _place_slice

_MR_SERIES = _SeriesKind(MRImageStorage, "MR", 51, "AX T1 SE", 5)


def make_mr_study(
    out_dir: Path,
    patient: Patient,
    *,
    slices: int = 24,
    rows: int = 256,
    cols: int = 256,
    study_uid: str | None = None,
    accession: str = "ACC0002",
) -> list[Path]:
    """An axial T1 spin-echo head series (MR Image Storage) under `out_dir/MR051/`."""
    study = _study(study_uid, accession=accession, description="MR BRAIN WO CONTRAST")
    ds = _base(patient, study, _MR_SERIES)
    _acquisition(ds, "OTHER", protocol="BRAIN ROUTINE", body_part="HEAD", frame_uid=generate_uid())
    ds.ScanningSequence = "SE"
    ds.SequenceVariant = ["SK", "SP"]
    ds.ScanOptions = ""
    ds.MRAcquisitionType = "2D"
    ds.SequenceName = "se2d1"
    ds.AngioFlag = "N"
    ds.SliceThickness = 5.0
    ds.SpacingBetweenSlices = 6.0
    ds.RepetitionTime = 500.0
    ds.EchoTime = 15.0
    ds.EchoTrainLength = 1
    ds.NumberOfAverages = 2
    ds.ImagingFrequency = 63.87
    ds.ImagedNucleus = "1H"
    ds.EchoNumbers = 1
    ds.MagneticFieldStrength = 1.5
    ds.NumberOfPhaseEncodingSteps = rows
    ds.PercentSampling = 100
    ds.PercentPhaseFieldOfView = 100
    ds.PixelBandwidth = 130
    ds.ReceiveCoilName = "HEAD"
    ds.TransmitCoilName = "BODY"
    ds.AcquisitionMatrix = [0, cols, rows, 0]
    ds.InPlanePhaseEncodingDirection = "ROW"
    ds.FlipAngle = 90
    ds.SAR = 0.8
    _axial_plane(ds, rows, cols, round(240.0 / max(rows, cols), 6), (500, 1000))
    _file_meta(ds)
    rng = np.random.default_rng(2)
    paths = []
    for i in range(slices):
        _place_slice(ds, i, round(60.0 - i * 6.0, 3))
        ds.PixelData = _mr_slice(rows, cols, i / max(slices - 1, 1), rng).tobytes()
        paths.append(_write(ds, Path(out_dir) / "MR051" / f"IM{i + 1:05d}.dcm"))
    return paths
