"""Referenced instances: their header facts and the sequences that point at them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from burner.synth.common import _Study, _study


@dataclass(frozen=True)
class _Ref:
    """The identifying attributes of one referenced instance."""

    sop_class: str
    sop_instance: str
    series_uid: str
    study_uid: str
    frame_uid: str
    position: tuple[float, ...]
    spacing: tuple[float, ...]
    rows: int
    cols: int
    window: tuple[float, float]
    rescale: tuple[float, float, str]


def _refs(paths: Iterable[Path]) -> list[_Ref]:
    """Header facts of the referenced files (pixel data is not read)."""
    out = []
    for path in paths:
        ds = dcmread(path, stop_before_pixels=True)

        def first(name: str, default: float, d: Dataset = ds) -> float:
            value = d.get(name, default)
            return float(value[0] if isinstance(value, Sequence | list) else value)

        out.append(
            _Ref(
                str(ds.SOPClassUID),
                str(ds.SOPInstanceUID),
                str(ds.SeriesInstanceUID),
                str(ds.StudyInstanceUID),
                str(ds.get("FrameOfReferenceUID", "")),
                tuple(float(x) for x in ds.get("ImagePositionPatient", [0, 0, 0])),
                tuple(float(x) for x in ds.get("PixelSpacing", [1, 1])),
                int(ds.get("Rows", 0)),
                int(ds.get("Columns", 0)),
                (first("WindowCenter", 40), first("WindowWidth", 400)),
                (
                    float(ds.get("RescaleIntercept", 0)),
                    float(ds.get("RescaleSlope", 1)),
                    str(ds.get("RescaleType", "US")),
                ),
            )
        )
    return out


def _referencing(
    study_uid: str, referenced: list[Path] | None, missing: str = ""
) -> tuple[list[_Ref], _Study]:
    """Facts of `referenced` and their study; ValueError(`missing`) if given and none are."""
    refs = _refs(referenced or [])
    if missing and not refs:
        raise ValueError(missing)
    return refs, _study(study_uid, referenced=referenced)


def _sop_item(ref: _Ref) -> Dataset:
    """A Referenced SOP Sequence item."""
    item = Dataset()
    item.ReferencedSOPClassUID = ref.sop_class
    item.ReferencedSOPInstanceUID = ref.sop_instance
    return item


def _grouped(refs: Sequence[_Ref], key: str) -> dict[str, list[_Ref]]:
    """References grouped by their attribute `key` (a UID), in first-seen order."""
    groups: dict[str, list[_Ref]] = {}
    for ref in refs:
        groups.setdefault(getattr(ref, key), []).append(ref)
    return groups


def _series_items(refs: Sequence[_Ref], keyword: str) -> list[Dataset]:
    """One item per referenced series: its Series Instance UID, its instances under `keyword`."""
    items = []
    for series_uid, group in _grouped(refs, "series_uid").items():
        item = Dataset()
        setattr(item, keyword, [_sop_item(r) for r in group])
        item.SeriesInstanceUID = series_uid
        items.append(item)
    return items


def _evidence(refs: Sequence[_Ref]) -> DicomSequence:
    """A Hierarchical SOP Instance Reference sequence (study / series / instance)."""
    items = []
    for study_uid, members in _grouped(refs, "study_uid").items():
        study_item = Dataset()
        study_item.ReferencedSeriesSequence = _series_items(members, "ReferencedSOPSequence")
        study_item.StudyInstanceUID = study_uid
        items.append(study_item)
    return DicomSequence(items)


def _pixel(ref: _Ref, u: float, v: float) -> tuple[float, float]:
    """Sub-pixel (column, row) image coordinates of normalised point (u, v)."""
    return (u + 1) / 2 * ref.cols, (v + 1) / 2 * ref.rows
