"""Viewer data, packed at build time from the staged DICOM files of a volume.

    VIEWER/DATA/ST000001/SE000001/F0000001.JS   one frame: BURNER.chunk(key, n, kind, delta, b64)

Grayscale frames hold modality values (CT: HU) as Int16 when the rescale is integral and
they fit, else the stored values (Int16/Int32) with the frame's slope and intercept; colour
frames hold RGB bytes. Files are packed in two worker processes, one DICOM file per task.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, iter_pixels

from burner.content.pixels import (
    CT_WINDOW,
    frame_value,
    own_window,
    rescale,
    rgb8,
)
from burner.viewer.encode import encode
from burner.workers import pool as workers_pool

WORKERS = 2
POOL_FROM = 4           # below this many files a pool costs more than it saves


@dataclass(frozen=True)
class PackTask:
    """Pack every frame of `source` into `folder`/F<number>.JS, numbers from `first`."""

    source: str
    folder: str
    key: str
    first: int


def _floats(value: object, n: int) -> list[float] | None:
    if value is None or isinstance(value, str | bytes):
        return None
    try:
        out = [float(v) for v in value]  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    return out if len(out) == n and all(math.isfinite(v) for v in out) else None


def _integral(x: float) -> bool:
    return float(x).is_integer()


def _gray(arr: np.ndarray, ds: Dataset, frame: int) -> tuple[np.ndarray, float, float]:
    """(values, slope, intercept): modality values when exact in Int16, else stored ones."""
    if "ModalityLUTSequence" in ds:
        out = np.asarray(apply_modality_lut(arr, ds))
        if np.all(np.mod(out, 1) == 0) and out.min() >= -32768 and out.max() <= 32767:
            return out.astype(np.int16), 1.0, 0.0
        return out.astype(np.int32), 1.0, 0.0     # rare: kept as integers
    slope, intercept = rescale(ds, frame)
    slope = 1.0 if slope is None or slope == 0 else slope
    intercept = intercept or 0.0
    wide = arr.astype(np.int64)
    if _integral(slope) and _integral(intercept):
        values = wide * int(slope) + int(intercept)
        slope, intercept = 1.0, 0.0
    else:
        values = wide
    if values.min() >= -32768 and values.max() <= 32767:
        return values.astype(np.int16), slope, intercept
    return values.astype(np.int32), slope, intercept


def _window(ds: Dataset, frame: int, values: np.ndarray, slope: float,
            intercept: float) -> tuple[float, float]:
    window = own_window(ds, frame)
    if window is not None:
        return window
    if str(ds.get("Modality", "")) == "CT":
        return CT_WINDOW
    lo, hi = np.percentile(values, (0.5, 99.5)) * slope + intercept
    return float((lo + hi) / 2), float(max(hi - lo, 1.0))


def _geometry(ds: Dataset, frame: int) -> dict:
    pos = _floats(frame_value(ds, frame, "PlanePositionSequence", "ImagePositionPatient"), 3)
    ori = _floats(frame_value(ds, frame, "PlaneOrientationSequence",
                               "ImageOrientationPatient"), 6)
    spacing = _floats(frame_value(ds, frame, "PixelMeasuresSequence", "PixelSpacing"), 2)
    if spacing is None:
        spacing = _floats(ds.get("ImagerPixelSpacing"), 2)
    return {"pos": pos, "ori": ori, "spacing": spacing}


def pack_file(task: PackTask) -> list[dict] | str:
    """Write the frames of one DICOM file; per frame its metadata, or a reason it failed."""
    folder = Path(task.folder)
    out: list[dict] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(task.source, stop_before_pixels=True)
            photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
            for frame, arr in enumerate(iter_pixels(task.source)):
                meta = {"file": f"F{task.first + frame:07d}.JS", "frame": frame,
                        "number": int(ds.get("InstanceNumber", 0) or 0),
                        "rows": int(arr.shape[0]), "cols": int(arr.shape[1])}
                meta.update(_geometry(ds, frame))
                if photometric == "PALETTE COLOR" or (arr.ndim == 3 and arr.shape[-1] == 3):
                    values, samples, kind = rgb8(arr, ds), 3, "rgb"
                    meta.update(kind=kind, slope=1.0, intercept=0.0)
                else:
                    values, slope, intercept = _gray(arr, ds, frame)
                    samples = 1
                    kind = "i16" if values.dtype == np.int16 else "i32"
                    center, width = _window(ds, frame, values, slope, intercept)
                    meta.update(kind=kind, slope=slope, intercept=intercept,
                                wc=center, ww=width, invert=photometric == "MONOCHROME1")
                text, coded = encode(values.reshape(values.shape[0], -1), samples)
                meta["bytes"] = len(text)
                (folder / meta["file"]).write_text(
                    f'BURNER.chunk("{task.key}",{task.first + frame},"{kind}",'
                    f'{int(coded)},"{text}");\n', encoding="ascii")
                out.append(meta)
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
        return f"{type(exc).__name__}: {exc}"
    return out


def pack_all(tasks: list[PackTask]) -> list[list[dict] | str]:
    """pack_file() over `tasks`, in WORKERS processes when there are enough of them."""
    if len(tasks) < POOL_FROM:
        return [pack_file(t) for t in tasks]
    with workers_pool(WORKERS) as pool:
        return list(pool.map(pack_file, tasks, chunksize=4))
