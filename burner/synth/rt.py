"""Synthetic RT structure sets: BODY and VERTEBRA contours on referenced CT slices."""

from __future__ import annotations

import math
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import UID

from burner.synth.common import OPERATOR, Patient, _base, _SeriesKind, _single_path, _write
from burner.synth.phantom import BODY, VERTEBRA
from burner.synth.references import _pixel, _Ref, _referencing, _series_items, _sop_item

RT_STRUCTURE_SET = UID("1.2.840.10008.5.1.4.1.1.481.3")

_RTSS_SERIES = _SeriesKind(RT_STRUCTURE_SET, "RTSTRUCT", 905, "SYNTHETIC CONTOURS", 64)


def _ellipse_contour(
    ref: _Ref, shape: tuple[float, float, float, float], points: int = 32
) -> list[float]:
    """A closed planar contour (x, y, z in mm) of a phantom ellipse on slice `ref`."""
    cx, cy, ax, ay = shape
    row_mm, col_mm = ref.spacing[0], ref.spacing[1]
    data: list[float] = []
    for k in range(points):
        a = 2 * math.pi * k / points
        col, row = _pixel(ref, cx + ax * math.cos(a), cy + ay * math.sin(a))
        x = ref.position[0] + (col - 0.5) * col_mm
        y = ref.position[1] + (row - 0.5) * row_mm
        data += [round(x, 2), round(y, 2), round(ref.position[2], 2)]
    return data


def make_rt_structure_set(
    out_dir: Path, patient: Patient, *, study_uid: str, referenced: list[Path]
) -> Path:
    """An RT Structure Set with BODY and VERTEBRA contours on each referenced CT slice."""
    refs, study = _referencing(study_uid, referenced, "a structure set needs referenced CT slices")
    frame_uid = refs[0].frame_uid
    ds = _base(patient, study, _RTSS_SERIES)
    ds.OperatorsName = OPERATOR
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    ds.StructureSetLabel = "SYNTH"
    ds.StructureSetName = "Synthetic contours"
    ds.StructureSetDate, ds.StructureSetTime = ds.SeriesDate, ds.SeriesTime
    study_item = Dataset()
    study_item.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    study_item.ReferencedSOPInstanceUID = refs[0].study_uid
    study_item.RTReferencedSeriesSequence = _series_items(refs, "ContourImageSequence")
    frame_item = Dataset()
    frame_item.FrameOfReferenceUID = frame_uid
    frame_item.RTReferencedStudySequence = [study_item]
    ds.ReferencedFrameOfReferenceSequence = [frame_item]
    rois, contours, observations = [], [], []
    for number, (name, shape, kind, colour) in enumerate(
        (("BODY", BODY, "EXTERNAL", [0, 255, 0]), ("VERTEBRA", VERTEBRA, "ORGAN", [255, 255, 0])),
        start=1,
    ):
        roi = Dataset()
        roi.ROINumber = number
        roi.ReferencedFrameOfReferenceUID = frame_uid
        roi.ROIName = name
        roi.ROIGenerationAlgorithm = "AUTOMATIC"
        rois.append(roi)
        items = []
        for ref in refs:
            contour = Dataset()
            contour.ContourImageSequence = [_sop_item(ref)]
            contour.ContourGeometricType = "CLOSED_PLANAR"
            data = _ellipse_contour(ref, shape)
            contour.NumberOfContourPoints = len(data) // 3
            contour.ContourData = data
            items.append(contour)
        roi_contour = Dataset()
        roi_contour.ROIDisplayColor = colour
        roi_contour.ContourSequence = items
        roi_contour.ReferencedROINumber = number
        contours.append(roi_contour)
        observation = Dataset()
        observation.ObservationNumber = number
        observation.ReferencedROINumber = number
        observation.RTROIInterpretedType = kind
        observation.ROIInterpreter = ""
        observations.append(observation)
    ds.StructureSetROISequence = rois
    ds.ROIContourSequence = contours
    ds.RTROIObservationsSequence = observations
    return _write(ds, _single_path(out_dir, "RTSS", ds))
