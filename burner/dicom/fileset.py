"""Build the DICOM part of a volume: DICOM/ with conformant File IDs, and the DICOMDIR."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.uid import generate_uid

from burner.dicom.dicomdir import Entry, check_parent_records, leaf_record, write_dicomdir
from burner.dicom.fileid import file_id
from burner.dicom.headers import Instance, NotUsable
from burner.dicom.profiles import ALLOWED_SYNTAXES, is_general_cd
from burner.dicom.transfer import CannotConvert, Placed, place

# Copying and hashing release the GIL, so a few threads keep both cores and the disk busy.
THREADS = 4


@dataclass
class FileSet:
    """What a volume's file-set holds once built."""

    fileset_id: str
    fileset_uid: str
    profile: str
    entries: list[Entry] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)   # path on medium -> sha256
    refused: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Slot:
    """One object of the file-set: the inputs that hold it (first first) and its File ID."""

    candidates: list[Instance]
    fid: tuple[str, ...] = ()
    entry: Entry | None = None
    placed: Placed | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)


def _try_place(slot: _Slot, tree: Path, allowed: frozenset[str], extended: bool) -> None:
    """Place the first candidate that can be written; note why the others could not."""
    dest = tree.joinpath(*slot.fid)
    ordinal = int(slot.fid[-1][2:])
    for inst in slot.candidates:
        try:
            placed = place(inst, dest, allowed)
            entry = Entry(inst, slot.fid, placed.transfer_syntax, placed.sop_class)
            record = leaf_record(entry, extended, ordinal).encode()
        except (CannotConvert, NotUsable) as exc:
            dest.unlink(missing_ok=True)
            slot.failures.append((inst.rel, f"left off the disc: {exc}"))
            continue
        slot.entry = Entry(inst, slot.fid, placed.transfer_syntax, placed.sop_class,
                           bytes(record))
        slot.placed = placed
        return


def _slots(instances: list[Instance], extended: bool,
           refused: list[tuple[str, str]]) -> list[_Slot]:
    """Group inputs by SOP Instance UID, refusing those whose parent records cannot be had."""
    slots: dict[str, _Slot] = {}
    for inst in instances:
        try:
            check_parent_records(inst, extended)
        except NotUsable as exc:
            refused.append((inst.rel, f"left off the disc: {exc}"))
            continue
        slot = slots.setdefault(inst.sop_instance, _Slot([]))
        slot.candidates.append(inst)
    return list(slots.values())


def build(tree: Path, instances: list[Instance], *, profile: str, fileset_id: str,
          descriptor: str | None = None,
          progress: Callable[[int], None] | None = None) -> FileSet:
    """Place `instances` under tree/DICOM and write tree/DICOMDIR; refuse what cannot go."""
    fs = FileSet(fileset_id, generate_uid(), profile)
    extended = not is_general_cd(profile)
    allowed = ALLOWED_SYNTAXES[profile]
    slots = _slots(instances, extended, fs.refused)
    studies: dict[str, int] = {}
    series: dict[str, list[int]] = {}
    for slot in slots:
        first = slot.candidates[0]
        s_no = studies.setdefault(first.study_uid, len(studies) + 1)
        counter = series.setdefault(first.series_uid, [len(series) + 1, 0])
        counter[1] += 1
        slot.fid = file_id(s_no, counter[0], counter[1])
    for folder in sorted({tree.joinpath(*s.fid[:-1]) for s in slots}):
        folder.mkdir(parents=True, exist_ok=True)

    def work(n_slot: tuple[int, _Slot]) -> None:
        n, slot = n_slot
        if progress:
            progress(n)
        _try_place(slot, tree, allowed, extended)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(work, enumerate(slots)))
    for slot in slots:
        fs.refused += slot.failures
        if slot.entry is None or slot.placed is None:
            continue
        for inst in slot.candidates:
            if inst is not slot.entry.instance and inst.rel not in dict(slot.failures):
                fs.refused.append((inst.rel, "the same object (SOP Instance UID) is already on "
                                             f"the disc as {slot.entry.instance.rel}"))
        fs.entries.append(slot.entry)
        fs.hashes["/".join(slot.fid)] = slot.placed.sha256
    _remove_empty_folders(tree, slots)
    if fs.entries:
        write_dicomdir(tree / "DICOMDIR", fs.entries, fileset_id=fileset_id,
                       fileset_uid=fs.fileset_uid, extended=extended, descriptor=descriptor)
    return fs


def _remove_empty_folders(tree: Path, slots: list[_Slot]) -> None:
    """A folder made for objects that were all left off stays empty: remove it."""
    folders = {tree.joinpath(*s.fid[:i]) for s in slots for i in (2, 3)}
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
