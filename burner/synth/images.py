"""Synthetic secondary captures: an RGB rendering and a multi-frame grayscale cine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import UID

from burner.synth.common import (
    MANUFACTURER,
    OPERATOR,
    SOFTWARE,
    Patient,
    _base,
    _mono12,
    _SeriesKind,
    _single_path,
    _study,
    _write,
)
from burner.synth.phantom import _CTPhantom

SC_IMAGE = UID("1.2.840.10008.5.1.4.1.1.7")
MF_WORD_SC_IMAGE = UID("1.2.840.10008.5.1.4.1.1.7.3")

_RENDERING_SERIES = _SeriesKind(SC_IMAGE, "OT", 800, "3D RENDERING", 20)
_CINE_SERIES = _SeriesKind(MF_WORD_SC_IMAGE, "OT", 801, "CINE CAPTURE", 21)


def _secondary_capture(patient: Patient, study_uid: str | None, kind: _SeriesKind) -> Dataset:
    """A secondary capture's attributes up to its pixels (SC Equipment, General Image)."""
    ds = _base(patient, _study(study_uid), kind)
    ds.ConversionType = "WSD"
    ds.BodyPartExamined = "CHEST"
    ds.OperatorsName = OPERATOR
    ds.PatientOrientation = ""
    ds.ContentDate, ds.ContentTime = ds.SeriesDate, ds.SeriesTime
    ds.BurnedInAnnotation = "NO"
    ds.DateOfSecondaryCapture, ds.TimeOfSecondaryCapture = ds.SeriesDate, ds.SeriesTime
    ds.SecondaryCaptureDeviceManufacturer = MANUFACTURER
    ds.SecondaryCaptureDeviceManufacturerModelName = "Phantom"
    ds.SecondaryCaptureDeviceSoftwareVersions = SOFTWARE
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.LossyImageCompression = "00"
    return ds


def make_rgb_secondary_capture(
    out_dir: Path, patient: Patient, *, study_uid: str | None = None
) -> Path:
    """A 256x256 RGB secondary capture (colour "rendering" of the CT phantom)."""
    ds = _secondary_capture(patient, study_uid, _RENDERING_SERIES)
    size = 256
    hu = _CTPhantom(size, size, noise=0.0).stored(0.3, 0).astype(np.int32) - 1024
    rgb = np.zeros((size, size, 3), dtype=np.uint8)
    rgb[..., 0] = np.clip((hu + 200) / 6, 0, 255).astype(np.uint8)
    rgb[..., 1] = np.clip((hu + 1000) / 10, 0, 255).astype(np.uint8)
    rgb[..., 2] = np.where(hu > 300, 255, np.clip(hu + 1000, 0, 120)).astype(np.uint8)
    rgb[:12, :, :] = (0, 90, 160)  # a coloured title bar
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.Rows = ds.Columns = size
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = rgb.tobytes()
    return _write(ds, _single_path(out_dir, "SC", ds))


def make_multiframe(
    out_dir: Path, patient: Patient, *, frames: int = 10, study_uid: str | None = None
) -> Path:
    """A Multi-frame Grayscale Word SC image: a cine of `frames` phantom slices."""
    ds = _secondary_capture(patient, study_uid, _CINE_SERIES)
    size = 128
    phantom = _CTPhantom(size, size, noise=8.0)
    cube = np.stack([phantom.stored(i / max(frames - 1, 1), i) for i in range(frames)])
    _mono12(ds, size, size)
    ds.NumberOfFrames = frames
    ds.FrameIncrementPointer = (0x0018, 0x1063)  # Frame Time
    ds.FrameTime = 100.0
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.RescaleType = "US"
    ds.PresentationLUTShape = "IDENTITY"
    ds.WindowCenter = 40
    ds.WindowWidth = 400
    ds.PixelData = cube.tobytes()
    return _write(ds, _single_path(out_dir, "MF", ds))
