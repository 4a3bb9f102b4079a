"""Attributes and placement shared by the acquired axial slice series (CT, MR)."""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from burner.synth.common import OPERATOR, _mono12


def _acquisition(
    ds: Dataset, image_type: str, *, protocol: str, body_part: str, frame_uid: str
) -> None:
    """General Image, Frame of Reference and acquisition attributes of an original slice."""
    ds.ImageType = ["ORIGINAL", "PRIMARY", image_type]
    ds.OperatorsName = OPERATOR
    ds.ProtocolName = protocol
    ds.BodyPartExamined = body_part
    ds.PatientPosition = "HFS"
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    ds.AcquisitionNumber = 1
    ds.AcquisitionDate = ds.ContentDate = ds.SeriesDate
    ds.AcquisitionTime = ds.ContentTime = ds.SeriesTime
    ds.BurnedInAnnotation = "NO"


def _axial_plane(
    ds: Dataset, rows: int, cols: int, spacing: float, window: tuple[int, int]
) -> None:
    """Image Plane (axial, square pixels), 12-bit pixel and VOI LUT attributes of a slice."""
    ds.PixelSpacing = [spacing, spacing]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    _mono12(ds, rows, cols)
    ds.WindowCenter, ds.WindowWidth = window
    ds.LossyImageCompression = "00"


def _place_slice(ds: Dataset, index: int, z: float) -> None:
    """Make `ds` slice `index` (0-based) of its series, centred on the table axis at `z` mm."""
    spacing = float(ds.PixelSpacing[0])
    uid = generate_uid()
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.InstanceNumber = index + 1
    x0 = -spacing * (ds.Columns - 1) / 2
    y0 = -spacing * (ds.Rows - 1) / 2
    ds.ImagePositionPatient = [round(x0, 4), round(y0, 4), z]
    ds.SliceLocation = z
