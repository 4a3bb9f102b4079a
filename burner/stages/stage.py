"""stage: per volume, the file tree of DESIGN.md section 4 (DICOM files, DICOMDIR, README,
INDEX.HTM, SHA256.TXT) in the job's work folder."""

from __future__ import annotations

import datetime
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import burner
from burner.content.render import render, write_text
from burner.content.reports import disc_name
from burner.content.siteviewer import SiteViewer, copy_into, site_viewer
from burner.dicom import fileset, recheck
from burner.dicom.fileid import fileset_id as make_fileset_id
from burner.dicom.parse import fingerprint
from burner.errors import JobHeld, Reason
from burner.media import checksums
from burner.media.kinds import kind
from burner.record import Staged, StagedVolume
from burner.summary import ReleaseSummary, VolumeSummary, summarise
from burner.viewer.write import write_viewer

if TYPE_CHECKING:
    from burner.context import JobContext
    from burner.record import Gathered

NAME = "stage"
LANE = "prepare"
NEEDS_ROOM = True   # the disk must hold the plan's estimate first (diskspace.py)
DESCRIPTOR = "README"   # the conformant File-set Descriptor (README.TXT cannot be a File ID)
DISCSET = "DISCSET.TXT"


def _exam_rows(volume: VolumeSummary) -> list[dict]:
    """The exams of a volume for README.TXT, INDEX.HTM and DISCSET.TXT."""
    return [{"date": e.date or "date unknown", "description": e.description,
             "accession": e.accession, "modalities": e.modality, "count": e.objects,
             "images": e.images, "href": "",
             "series": [{"number": s.number, "modality": s.modality,
                         "description": s.description, "count": s.count, "total": s.total,
                         "elsewhere": s.elsewhere} for s in e.series]}
            for e in volume.exams]


def _report_rows(volume: VolumeSummary) -> list[dict]:
    return [{"href": r.href, "title": r.title or f"Report {n}", "study_uid": r.study_uid,
             "name": r.name} for n, r in enumerate(volume.reports, 1)]


def write_documents(tree: Path, ctx: JobContext, fs: fileset.FileSet, summary: ReleaseSummary,
                    index: int, extra: SiteViewer | None = None) -> list[str]:
    """README.TXT (+ its File-set Descriptor copy), INDEX.HTM, the IHE PDI web content
    (IHE_PDI/, when the job wants it) and, for a set, DISCSET.TXT, all from the summary."""
    from burner.content import web  # here, not at the top: only this function needs it

    volume = summary.volume(index)
    studies = _exam_rows(volume)
    context = {
        "patient_name": summary.patient,
        "patient_id": summary.patient_id,
        "birth_date": summary.birth_date,
        "institution": ctx.config.institution,
        "created": datetime.date.today().isoformat(),
        "fileset_id": fs.fileset_id,
        "version": burner.__version__,
        "profile": fs.profile,
        "studies": studies,
        "volume_index": index,
        "volume_count": summary.volume_count,
        "discs": [{"index": v.index, "fileset_id": v.fileset_id, "exams": _exam_rows(v)}
                  for v in summary.volumes],
        "job_id": ctx.job_id,
        "medium_word": "folder" if kind(summary.media).writer == "electronic"
        else kind(summary.media).volume_word,
        "electronic": kind(summary.media).writer == "electronic",
        "encrypted": summary.media == "zip",
        "web": volume.web,
        "reports": _report_rows(volume),
        "viewer": volume.viewer,
        "viewer_left_out": volume.viewer_left_out,
        "exams": {e.study_uid: e for e in volume.exams},
        "site_viewer": extra.name if extra is not None else "",
    }
    written = ["DICOMDIR", DESCRIPTOR, "README.TXT", "INDEX.HTM"]
    pages: dict[str, str] = {}
    if volume.web:
        written += web.write_web_content(tree, fs.entries, context)
        pages = web.exam_pages(fs.entries)
    for exam, row in zip(volume.exams, studies, strict=True):
        row["href"] = pages.get(exam.study_uid, "")
    readme = render("README.TXT", **context)
    write_text(tree / "README.TXT", readme, crlf=True)
    # The same text as the DICOMDIR's File-set Descriptor, in its declared ISO_IR 100.
    (tree / DESCRIPTOR).write_bytes(
        readme.replace("\n", "\r\n").encode("latin-1", errors="replace"))
    write_text(tree / "INDEX.HTM", render("INDEX.HTM", **context, up=""))
    if summary.volume_count > 1:
        write_text(tree / DISCSET, render(DISCSET, **context), crlf=True)
        written.append(DISCSET)
    return written


def _viewer_info(summary: ReleaseSummary, index: int) -> dict:
    """The patient and the reports of a volume, for the viewer's overlay and links."""
    return {"patient": {"name": summary.patient_name, "id": summary.patient_id,
                        "birth_date": summary.birth_date},
            "reports": [{"href": f"../{r.href}", "title": r.title, "study_uid": r.study_uid}
                        for r in summary.volume(index).reports]}


def _stage_reports(ctx: JobContext, gathered: Gathered,
                   sets: list[fileset.FileSet]) -> list[list[tuple[str, str, str]]]:
    """Copy each volume's report PDFs to <tree>/REPORTS/ (REPORT1.PDF, ...; their
    Encapsulated PDF copy is in DICOM/) and add them to the volume's checksums. Returns
    (name in REPORTS/, title, study UID) per volume."""
    made = gathered.reports
    out = []
    for index, fs in enumerate(sets, 1):
        on_volume = {e.instance.sop_instance for e in fs.entries}
        listed = []
        for number, report in enumerate(made, 1):
            if report.sop_instance not in on_volume:
                continue
            name = disc_name(number)
            dest = ctx.out() / f"vol{index}" / "REPORTS" / name
            dest.parent.mkdir(exist_ok=True)
            shutil.copyfile(report.pdf, dest)
            fs.hashes[f"REPORTS/{name}"] = checksums.sha256_file(dest)[0]
            listed.append((name, report.title, report.study_uid))
        out.append(listed)
    return out


def _build_volume(ctx: JobContext, index: int, count: int, instances: list,
                  profile: str) -> fileset.FileSet:
    tree = ctx.out() / f"vol{index}"
    tree.mkdir(parents=True)
    fid = make_fileset_id(ctx.job_id if count == 1 else f"{ctx.job_id[:13]}_{index}")
    half = len(instances) // 2

    def progress(n: int) -> None:
        ctx.progress.add()
        if n == half:
            ctx.checkpoint("stage")

    return fileset.build(tree, instances, profile=profile, fileset_id=fid,
                         descriptor=DESCRIPTOR, progress=progress)


def _unchanged_inputs(gathered: Gathered) -> None:
    """Hold the job when an input was written to or replaced since it was checked: the disc
    would carry the copy that was checked, but the job folder is no longer what was approved."""
    changed = []
    for inst in gathered.instances:
        if inst.source is None or not inst.fingerprint:
            continue
        try:
            now = fingerprint(os.stat(inst.source, follow_symlinks=False))
        except OSError:
            now = ()
        if now != inst.fingerprint:
            changed.append(f"{inst.rel}: the file was changed, replaced or removed after it was "
                           "checked")
    if changed:
        raise JobHeld("Files of this job changed after the patient check, so nothing was "
                      "written. Make sure the job folder holds the files that were approved "
                      "(export them again if in doubt), then retry.", changed,
                      code=Reason.CHANGED_INPUT)


def run(ctx: JobContext) -> None:
    gathered = ctx.record.gathered
    plan = ctx.record.plan
    manifest = ctx.record.manifest
    _unchanged_inputs(gathered)
    count = len(plan.volumes)
    refused: list[tuple[str, str]] = []
    sets: list[fileset.FileSet] = []
    on_earlier: dict[str, int] = {}       # SOP Instance UID -> the volume that holds it
    ctx.progress.begin("files staged", sum(len(members) for members in plan.volumes))
    for index, members in enumerate(plan.volumes, 1):
        instances = []
        for inst in (gathered.instances[i] for i in members):
            if inst.sop_instance in on_earlier:
                refused.append((inst.rel, "the same object (SOP Instance UID) is already on "
                                          f"disc {on_earlier[inst.sop_instance]}"))
            else:
                instances.append(inst)
        fs = _build_volume(ctx, index, count, instances, plan.profile)
        refused += fs.refused
        if not fs.entries:
            raise JobHeld(f"None of the files planned for disc {index} could be put on it.",
                          [f"{rel}: {why}" for rel, why in refused],
                          code=Reason.NOTHING_TO_WRITE)
        on_earlier.update((e.instance.sop_instance, index) for e in fs.entries)
        sets.append(fs)
    _recheck(ctx, gathered, sets, manifest)
    reports = _stage_reports(ctx, gathered, sets)   # REPORTS/ of every volume
    summary = summarise(ctx.job_id, manifest, plan.media, [fs.entries for fs in sets],
                        [fs.fileset_id for fs in sets], reports,
                        [bool(manifest.media_viewer) and fits for fits in plan.viewer],
                        bool(manifest.media_viewer))
    volumes = []
    extra = site_viewer(ctx.config) if plan.media not in ("zip", "folder", "dicom") else None
    for index, fs in enumerate(sets, 1):
        tree = ctx.out() / f"vol{index}"
        hashes = dict(fs.hashes)
        if summary.volume(index).viewer:
            for name in write_viewer(tree, fs.entries, _viewer_info(summary, index)):
                hashes[name] = checksums.sha256_file(tree / name)[0]
        for name in write_documents(tree, ctx, fs, summary, index, extra):
            hashes[name] = checksums.sha256_file(tree / name)[0]
        if extra is not None:          # a site's own viewer, beside VIEWER/
            for name in copy_into(extra, tree):
                hashes[name] = checksums.sha256_file(tree / name)[0]
        checksums.write_list(tree / checksums.LIST_NAME, hashes.items())
        size = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
        volumes.append(StagedVolume(index, count, tree, fs.fileset_id, fs.fileset_uid,
                                    plan.profile, len(hashes) + 1, size, reports[index - 1]))
    ctx.save(Staged(volumes, refused, summary))


def _recheck(ctx: JobContext, gathered: Gathered, sets: list[fileset.FileSet],
             manifest: object) -> None:
    """Read every staged DICOM file back: the patient and exams must still be the approved
    ones, whatever happened between the identity check and now."""
    studies = {s.uid for s in manifest.studies}  # type: ignore[attr-defined]
    entries = [(index, entry) for index, fs in enumerate(sets, 1) for entry in fs.entries]
    items = [(ctx.out() / f"vol{index}" / Path(*entry.file_id), entry.instance.sop_instance)
             for index, entry in entries]
    found = recheck.problems_all(items, gathered.approved, studies)
    details = [f"{entry.instance.rel}: {'; '.join(why)}"
               for (_, entry), why in zip(entries, found, strict=True) if why]
    if details:
        # Only copies that cannot be read back: damaged; any other patient or exam: wrong.
        unreadable = all(w.startswith(recheck.UNREADABLE) for why in found for w in why)
        raise JobHeld("Files staged for the disc do not carry the approved patient when read "
                      "back, so nothing was written. Export the files listed again, then "
                      "retry.", details,
                      code=Reason.DAMAGED_OBJECT if unreadable else Reason.WRONG_PATIENT)
