"""The release summary: one description of what a release holds, built once when it is
staged (from the file-sets as built, not from the plan or the file system) and handed to
everything that tells people about it: README.TXT, INDEX.HTM, the IHE PDI pages, DISCSET.TXT,
the cover sheet, the labels and the audit record. Patient data: never logged.

An exam's modality is that of its images ("CT"); a report's (DOC, SR) shows only for an
exam that has nothing else. Names and dates are written by burner.words.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from burner.words import dicom_date, exam_title, person_name, volumes_list

if TYPE_CHECKING:
    from burner.dicom.records import Entry
    from burner.manifest import Manifest


@dataclass(frozen=True)
class SeriesSummary:
    uid: str
    study_uid: str
    number: str
    modality: str
    description: str
    count: int          # objects of the series on this volume
    total: int          # on the whole release
    elsewhere: str      # "disc 2": the volumes holding the rest


@dataclass(frozen=True)
class ExamSummary:
    """One exam (study): on one volume (counts of that volume) or on the release."""

    study_uid: str
    date: str           # "2024-01-31", or as the objects have it
    description: str
    modality: str       # "CT", "CT/PT"
    accession: str
    objects: int
    images: int         # objects with pixel data
    volumes: tuple[int, ...]
    series: tuple[SeriesSummary, ...] = ()

    @property
    def title(self) -> str:
        """"CT CHEST": the modality and description, never the modality twice."""
        return exam_title(self.modality, self.description)


@dataclass(frozen=True)
class ReportSummary:
    name: str           # REPORT1.PDF, in REPORTS/
    title: str
    study_uid: str

    @property
    def href(self) -> str:
        return f"REPORTS/{self.name}"


@dataclass(frozen=True)
class VolumeSummary:
    index: int
    fileset_id: str
    exams: tuple[ExamSummary, ...]
    reports: tuple[ReportSummary, ...]
    viewer: bool            # VIEWER/ is on it
    viewer_left_out: bool   # the job wanted the viewer, but it did not fit
    web: bool               # IHE_PDI/ web content is on it


@dataclass(frozen=True)
class ReleaseSummary:
    job_id: str
    patient_name: str       # as DICOM writes it (PN)
    patient_id: str
    birth_date: str         # ISO
    media: str
    exams: tuple[ExamSummary, ...]       # over the release; `volumes` says where
    volumes: tuple[VolumeSummary, ...] = field(default_factory=tuple)

    @property
    def patient(self) -> str:
        """The patient's name for people ("Robin Tester")."""
        return person_name(self.patient_name)

    @property
    def volume_count(self) -> int:
        return len(self.volumes)

    @property
    def web(self) -> bool:
        return any(v.web for v in self.volumes)

    @property
    def study_uids(self) -> list[str]:
        return [e.study_uid for e in self.exams]

    def volume(self, index: int) -> VolumeSummary:
        return self.volumes[index - 1]

    def exams_on(self, index: int) -> list[ExamSummary]:
        return [e for e in self.exams if index in e.volumes]


def _modality(imaging: set[str], other: set[str]) -> str:
    return "/".join(sorted(imaging or other))


def _exams(per_volume: list[list[Entry]], index: int | None) -> list[ExamSummary]:
    """The exams of one volume (index) or of all of them (None), in file-set order."""
    rows: OrderedDict[str, dict] = OrderedDict()
    series_where: dict[str, list[int]] = {}
    series_total: dict[str, int] = {}
    for number, entries in enumerate(per_volume, 1):
        for e in entries:
            series_where.setdefault(e.instance.series_uid, [])
            if number not in series_where[e.instance.series_uid]:
                series_where[e.instance.series_uid].append(number)
            series_total[e.instance.series_uid] = series_total.get(e.instance.series_uid, 0) + 1
    for number, entries in enumerate(per_volume, 1):
        if index is not None and number != index:
            continue
        for e in entries:
            inst = e.instance
            row = rows.setdefault(inst.study_uid, {
                "first": inst, "objects": 0, "images": 0, "volumes": [], "imaging": set(),
                "other": set(), "series": OrderedDict()})
            modality = str(inst.get("Modality") or "OT")
            row["objects"] += 1
            row["images"] += int(inst.has_pixels)
            row["imaging" if inst.has_pixels else "other"].add(modality)
            if number not in row["volumes"]:
                row["volumes"].append(number)
            s = row["series"].setdefault(inst.series_uid, {
                "number": str(inst.get("SeriesNumber") or ""), "modality": modality,
                "description": str(inst.get("SeriesDescription") or ""), "count": 0})
            s["count"] += 1
    out = []
    for uid, r in rows.items():
        first = r["first"]
        series = tuple(
            SeriesSummary(s_uid, uid, s["number"], s["modality"], s["description"], s["count"],
                          series_total[s_uid],
                          volumes_list([v for v in series_where[s_uid] if v != index]))
            for s_uid, s in r["series"].items())
        out.append(ExamSummary(
            study_uid=uid, date=dicom_date(first.get("StudyDate")),
            description=str(first.get("StudyDescription") or ""),
            modality=_modality(r["imaging"], r["other"]),
            accession=str(first.get("AccessionNumber") or ""), objects=r["objects"],
            images=r["images"], volumes=tuple(r["volumes"]),
            series=series if index is not None else ()))
    return out


def summarise(job_id: str, manifest: Manifest, media: str, per_volume: list[list[Entry]],
              fileset_ids: list[str], reports: list[list[tuple[str, str, str]]],
              viewer: list[bool], viewer_wanted: bool) -> ReleaseSummary:
    """The summary of a release staged as `per_volume` (the file-set entries of each volume),
    with the reports of each volume (name in REPORTS/, title, study UID) and whether each
    volume carries the viewer."""
    volumes = tuple(
        VolumeSummary(index, fileset_ids[index - 1], tuple(_exams(per_volume, index)),
                      tuple(ReportSummary(*r) for r in reports[index - 1]),
                      viewer=viewer[index - 1],
                      viewer_left_out=viewer_wanted and not viewer[index - 1],
                      web=bool(manifest.media_web))
        for index in range(1, len(per_volume) + 1))
    return ReleaseSummary(
        job_id=job_id, patient_name=manifest.patient_name, patient_id=manifest.patient_id,
        birth_date=manifest.patient_birth_date.isoformat(), media=media,
        exams=tuple(_exams(per_volume, None)), volumes=volumes)
