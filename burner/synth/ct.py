"""Synthetic CT studies, written slice by slice in-process or over a pool of workers."""

from __future__ import annotations

import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmwrite
from pydicom.dataset import Dataset
from pydicom.pixels import get_encoder
from pydicom.uid import (
    UID,
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

from burner.dicom.codes import code_item
from burner.synth.common import Patient, _base, _file_meta, _SeriesKind, _Study, _study
from burner.synth.phantom import _CTPhantom
from burner.synth.slices import _acquisition, _axial_plane, _place_slice

# Transfer syntaxes written without an encoder plugin.
_NATIVE_SYNTAXES = {ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian}
# Lossless compressed transfer syntaxes, written when pydicom has a working encoder for them.
_LOSSLESS_SYNTAXES = {
    RLELossless,
    JPEG2000Lossless,
    JPEGLSLossless,
    JPEGLosslessSV1,
    JPEGLossless,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
}


def _check_transfer_syntax(transfer_syntax: str) -> UID:
    """The transfer syntax as a UID, if this module can write it; NotImplementedError if not."""
    uid = UID(transfer_syntax)
    if uid in _NATIVE_SYNTAXES:
        return uid
    if uid not in _LOSSLESS_SYNTAXES:
        raise NotImplementedError(
            f"Synthetic studies are not written in {uid.name} ({uid}): only uncompressed "
            "little endian or a lossless compressed transfer syntax"
        )
    try:
        encoder = get_encoder(uid)
    except NotImplementedError:
        raise NotImplementedError(
            f"pydicom has no encoder for {uid.name} ({uid}); pick Explicit VR Little Endian, "
            "Implicit VR Little Endian, RLE Lossless or JPEG 2000 Lossless"
        ) from None
    if not encoder.is_available:
        raise NotImplementedError(
            f"The encoder for {uid.name} is missing its plugins: "
            + "; ".join(encoder.missing_dependencies)
        )
    return uid


@dataclass(frozen=True)
class _CTSeries:
    """Everything a worker needs to write some slices of one CT series."""

    out_dir: str
    patient: Patient
    study: _Study
    series_uid: str
    frame_uid: str
    number: int
    description: str
    thickness: float
    kernel: str
    window: tuple[int, int]
    noise: float
    slices: int
    rows: int
    cols: int
    transfer_syntax: str


_CT_KINDS = (
    # description, slice thickness (mm), kernel, (window centre, width), noise (HU)
    ("CHEST 1mm", 1.0, "STANDARD", (40, 400), 10.0),
    ("CHEST 1mm LUNG", 1.0, "LUNG", (-600, 1500), 18.0),
    ("CHEST 2mm BONE", 2.0, "BONE", (400, 1800), 14.0),
    ("CHEST 5mm", 5.0, "STANDARD", (40, 400), 6.0),
)

_FOV_MM = 360.0


def _ct_template(spec: _CTSeries) -> Dataset:
    """The attributes shared by all slices of one CT series."""
    kind = _SeriesKind(CTImageStorage, "CT", spec.number, spec.description, 2 + spec.number)
    ds = _base(spec.patient, spec.study, kind, series_uid=spec.series_uid)
    _acquisition(
        ds, "AXIAL", protocol="CHEST ABDOMEN PELVIS", body_part="CHEST", frame_uid=spec.frame_uid
    )
    ds.ScanOptions = "HELICAL MODE"
    ds.SliceThickness = spec.thickness
    ds.SpacingBetweenSlices = spec.thickness
    ds.KVP = 120
    ds.DataCollectionDiameter = 500
    ds.ReconstructionDiameter = _FOV_MM
    ds.DistanceSourceToDetector = 1040
    ds.DistanceSourceToPatient = 570
    ds.GantryDetectorTilt = 0
    ds.TableHeight = 160
    ds.RotationDirection = "CW"
    ds.ExposureTime = 500
    ds.XRayTubeCurrent = 200
    ds.Exposure = 100
    ds.FilterType = "BODY FILTER"
    ds.GeneratorPower = 24
    ds.FocalSpots = 0.7
    ds.ConvolutionKernel = spec.kernel
    ds.RevolutionTime = 0.5
    ds.SingleCollimationWidth = 0.625
    ds.TotalCollimationWidth = 40
    ds.SpiralPitchFactor = 0.984
    ds.CTDIvol = 8.5
    ds.CTDIPhantomTypeCodeSequence = [code_item("113691", "DCM", "IEC Body Dosimetry Phantom")]
    spacing = round(_FOV_MM / max(spec.rows, spec.cols), 6)
    _axial_plane(ds, spec.rows, spec.cols, spacing, spec.window)
    ds.WindowCenterWidthExplanation = spec.kernel
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.RescaleType = "HU"
    _file_meta(ds, spec.transfer_syntax)
    return ds


def _write_ct_slices(spec: _CTSeries, start: int, stop: int) -> list[Path]:
    """Write slices [start, stop) of one series; returns their paths."""
    ds = _ct_template(spec)
    phantom = _CTPhantom(spec.rows, spec.cols, spec.noise, seed=spec.number)
    compressed = UID(spec.transfer_syntax) not in _NATIVE_SYNTAXES
    series_dir = Path(spec.out_dir) / f"SE{spec.number:03d}"
    series_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, stop):
        _place_slice(ds, i, round(-i * spec.thickness, 3))
        pixels = phantom.stored(i / max(spec.slices - 1, 1), i)
        if compressed:
            ds.compress(spec.transfer_syntax, pixels, generate_instance_uid=False)
        else:
            ds.PixelData = pixels.tobytes()
        path = series_dir / f"IM{i + 1:05d}.dcm"
        dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths


def _run_chunks(specs: list[_CTSeries], workers: int) -> list[Path]:
    """Write all slices of `specs`, in-process or over a pool of `workers` processes."""
    if workers <= 1:
        return [p for spec in specs for p in _write_ct_slices(spec, 0, spec.slices)]
    jobs = []
    for spec in specs:
        step = max(1, math.ceil(spec.slices / (workers * 2)))
        jobs += [(spec, a, min(a + step, spec.slices)) for a in range(0, spec.slices, step)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = pool.map(_write_ct_slices, *zip(*jobs, strict=True))
        return [p for chunk in results for p in chunk]


def make_ct_study(
    out_dir: Path,
    patient: Patient,
    *,
    slices: int = 300,
    rows: int = 512,
    cols: int = 512,
    series: int = 1,
    study_uid: str | None = None,
    accession: str = "ACC0001",
    transfer_syntax: str = ExplicitVRLittleEndian,
    workers: int = 1,
) -> list[Path]:
    """A CT study of `series` axial series of `slices` slices each, written under `out_dir`.

    Pixels are unsigned 12-bit stored values with Rescale Intercept -1024 (HU = value - 1024).
    Files go to `out_dir/SE<nnn>/IM<nnnnn>.dcm`; the paths are returned series by series in
    slice order. `transfer_syntax`: Explicit or Implicit VR Little Endian, Deflated (valid, but
    `dciodvfy` cannot read it), or a lossless compressed syntax pydicom can encode (RLE Lossless,
    JPEG 2000 Lossless); others raise NotImplementedError before anything is written.
    """
    ts = _check_transfer_syntax(transfer_syntax)
    study = _study(study_uid, accession=accession, description="CT CHEST ABDOMEN PELVIS")
    frame_uid = generate_uid()
    specs = []
    for n in range(1, series + 1):
        description, thickness, kernel, window, noise = _CT_KINDS[(n - 1) % len(_CT_KINDS)]
        if n > len(_CT_KINDS):
            description = f"{description} ({n})"
        specs.append(
            _CTSeries(
                out_dir=str(out_dir),
                patient=patient,
                study=study,
                series_uid=generate_uid(),
                frame_uid=frame_uid,
                number=n,
                description=description,
                thickness=thickness,
                kernel=kernel,
                window=window,
                noise=noise,
                slices=slices,
                rows=rows,
                cols=cols,
                transfer_syntax=str(ts),
            )
        )
    return _run_chunks(specs, workers)
