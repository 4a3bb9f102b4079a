"""Facts about a DICOM image's pixels shared by the web renditions and the viewer's data:
values that may sit in functional groups, the modality rescale, the window, colour to 8 bits."""

from __future__ import annotations

import math

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut

CT_WINDOW = (40.0, 400.0)   # soft tissue: the default when a CT names no window of its own


def frame_value(ds: Dataset, frame: int | None, group: str, keyword: str) -> object:
    """`keyword` from the top level, else from the frame's or the shared functional group."""
    if keyword in ds:
        return ds[keyword].value
    for sequence, i in (("PerFrameFunctionalGroupsSequence", frame or 0),
                        ("SharedFunctionalGroupsSequence", 0)):
        items = ds.get(sequence)
        if items and len(items) > i:
            inner = items[i].get(group)
            if inner and keyword in inner[0]:
                return inner[0][keyword].value
    return None


def first_number(value: object) -> float | None:
    """The first number of a (multi-valued) DS/IS value, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, list | tuple | pydicom.multival.MultiValue):
        if not value:
            return None
        value = value[0]
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def rescale(ds: Dataset, frame: int | None) -> tuple[float | None, float | None]:
    """(Rescale Slope, Rescale Intercept) of a frame, None where the object has none."""
    group = "PixelValueTransformationSequence"
    return (first_number(frame_value(ds, frame, group, "RescaleSlope")),
            first_number(frame_value(ds, frame, group, "RescaleIntercept")))


def own_window(ds: Dataset, frame: int | None) -> tuple[float, float] | None:
    """The object's own (center, width) for a frame, when it names a usable one."""
    center = first_number(frame_value(ds, frame, "FrameVOILUTSequence", "WindowCenter"))
    width = first_number(frame_value(ds, frame, "FrameVOILUTSequence", "WindowWidth"))
    return (center, width) if center is not None and width is not None and width >= 1 else None


def rgb8(arr: np.ndarray, ds: Dataset) -> np.ndarray:
    """RGB (pydicom already converted YBR), palette color through its LUT, to 8 bits."""
    if str(ds.get("PhotometricInterpretation", "")) == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
        bits = 16 if arr.dtype.itemsize > 1 else 8
    else:
        bits = int(ds.get("BitsStored", 8) or 8)
    if bits > 8:
        arr = arr.astype(np.float32) * (255.0 / (2 ** bits - 1))
    return np.clip(arr, 0, 255).astype(np.uint8)
