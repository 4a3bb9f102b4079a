"""Build the DICOM part of a volume: DICOM/ with conformant File IDs, and the DICOMDIR."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.uid import generate_uid

from burner.dicom.dicomdir import Entry, check_parent_records, leaf_record, write_dicomdir
from burner.dicom.fileid import file_id
from burner.dicom.headers import Instance, NotUsable
from burner.dicom.profiles import ALLOWED_SYNTAXES, is_general_cd
from burner.dicom.transfer import CannotConvert, place


@dataclass
class FileSet:
    """What a volume's file-set holds once built."""

    fileset_id: str
    fileset_uid: str
    profile: str
    entries: list[Entry] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)   # path on medium -> sha256
    refused: list[tuple[str, str]] = field(default_factory=list)
    dicom_bytes: int = 0


def build(tree: Path, instances: list[Instance], *, profile: str, fileset_id: str,
          descriptor: str | None = None,
          progress: Callable[[int], None] | None = None) -> FileSet:
    """Place `instances` under tree/DICOM and write tree/DICOMDIR; refuse what cannot go."""
    fs = FileSet(fileset_id, generate_uid(), profile)
    extended = not is_general_cd(profile)
    allowed = ALLOWED_SYNTAXES[profile]
    studies: dict[str, int] = {}
    series: dict[str, list[int]] = {}
    made_dirs: set[Path] = set()
    placed_as: dict[str, str] = {}   # SOP Instance UID -> the input placed for it
    for n, inst in enumerate(instances):
        if progress:
            progress(n)
        if inst.sop_instance in placed_as:
            fs.refused.append((inst.rel, "the same object (SOP Instance UID) is already on the "
                                         f"disc as {placed_as[inst.sop_instance]}"))
            continue
        try:
            check_parent_records(inst, extended)
        except NotUsable as exc:
            fs.refused.append((inst.rel, f"left off the disc: {exc}"))
            continue
        s_no = studies.setdefault(inst.study_uid, len(studies) + 1)
        counter = series.setdefault(inst.series_uid, [len(series) + 1, 0])
        fid = file_id(s_no, counter[0], counter[1] + 1)
        dest = tree.joinpath(*fid)
        if dest.parent not in made_dirs:
            dest.parent.mkdir(parents=True, exist_ok=True)
            made_dirs.add(dest.parent)
        try:
            placed = place(inst, dest, allowed)
            entry = Entry(inst, fid, placed.transfer_syntax, placed.sop_class)
            leaf_record(entry, extended, counter[1] + 1)  # refuse now what the DICOMDIR can't list
        except (CannotConvert, NotUsable) as exc:
            dest.unlink(missing_ok=True)
            fs.refused.append((inst.rel, f"left off the disc: {exc}"))
            continue
        counter[1] += 1
        placed_as[inst.sop_instance] = inst.rel
        fs.entries.append(entry)
        fs.hashes["/".join(fid)] = placed.sha256
        fs.dicom_bytes += placed.size
    # A folder made for an object that was then left off stays empty: remove it.
    for folder in sorted(made_dirs, key=lambda p: len(p.parts), reverse=True):
        for empty in (folder, folder.parent):
            if empty.is_dir() and not any(empty.iterdir()):
                empty.rmdir()
    if fs.entries:
        write_dicomdir(tree / "DICOMDIR", fs.entries, fileset_id=fileset_id,
                       fileset_uid=fs.fileset_uid, extended=extended, descriptor=descriptor)
    return fs
