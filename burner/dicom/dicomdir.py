"""Write a DICOMDIR (PS3.10 basic directory) from headers already read, in one pass.

Every record is encoded once; the offsets that link records are patched into the encoded bytes
afterwards (they are fixed-size UL values at fixed places at the head of each record).
"""

from __future__ import annotations

import datetime
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import ExplicitVRLittleEndian

from burner.dicom import encode
from burner.dicom.canonical import IMPLEMENTATION_UID, VERSION_NAME
from burner.dicom.headers import Instance, NotUsable
from burner.dicom.records import (
    MEDIA_STORAGE_DIRECTORY,
    PATIENT_KEYS,
    PATIENT_KEYS_EXTENDED,
    SERIES_KEYS,
    SERIES_KEYS_EXTENDED,
    STUDY_KEYS,
    Key,
    leaf_keys,
)

_ITEM = struct.pack("<HHI", 0xFFFE, 0xE000, 0)
_SEQ_END = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
# Offsets of the UL values of (0004,1400) and (0004,1420) in an encoded record.
_NEXT_AT, _LOWER_AT = 8, 30


@dataclass(frozen=True)
class Entry:
    """One object of the file-set: its header and where it lies on the medium."""

    instance: Instance
    file_id: tuple[str, ...]
    transfer_syntax: str
    sop_class: str
    record: bytes = b""      # its leaf record, when already encoded while staging


@dataclass
class Record:
    """A directory record as (keyword, value) pairs; encoded without pydicom's Dataset."""

    rtype: str
    charset: str
    items: list[tuple[str, object]]

    def encode(self) -> bytearray:
        return encode.record(self.items, self.charset)


_DA = re.compile(r"\d{8}")
_TM = re.compile(r"\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?")
_OLD_DA = re.compile(r"\d{4}\.\d{2}\.\d{2}")          # ACR-NEMA 2.0 "1997.04.24"
_OLD_TM = re.compile(r"\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?")  # ACR-NEMA 2.0 "14:04:38"


def _date_or_time(vr: str, value: object) -> str | None:
    """A DA or TM value in today's form (old ACR-NEMA forms converted); None if not one."""
    text = str(value).strip()
    if vr == "DA":
        text = text.replace(".", "") if _OLD_DA.fullmatch(text) else text
        return text if _DA.fullmatch(text) else None
    text = text.replace(":", "") if _OLD_TM.fullmatch(text) else text
    return text if _TM.fullmatch(text) else None


def _clean(keyword: str, value: object) -> object:
    """`value` fit for the record: a DA/TM value that is not a date/time counts as missing."""
    if value is None or value == "":
        return value
    vr = dictionary_VR(keyword)
    if vr in ("DA", "TM"):
        return _date_or_time(vr, value)
    return value


# Keys that are type 1 in a directory record but type 2 in the objects themselves: an object
# may leave them empty, so its record gets a made-up value, as dcmmkdir's +I does
# (dcddirif.cc). Any other type-1 key that an object lacks is missing from the object itself:
# such an object is incomplete and is left off the disc, with the reason.
_NUMBERED_BY_DIRECTORY = {"IMAGE", "RT DOSE", "RT STRUCTURE SET", "RT PLAN"}


def _invent(keyword: str, rtype: str, inst: Instance, ordinal: int) -> object | None:
    if keyword == "InstanceNumber" and rtype not in _NUMBERED_BY_DIRECTORY:
        return None
    dates = (_date_or_time("DA", inst.get(k)) for k in (
        "SeriesDate", "AcquisitionDate", "ContentDate", "InstanceCreationDate", "StudyDate"))
    first = next((d for d in dates if d), "")
    inventions = {
        "StudyDate": first or datetime.date.today().strftime("%Y%m%d"),
        "StudyTime": _date_or_time("TM", inst.get("SeriesTime")) or "000000",
        "StudyID": str(inst.get("AccessionNumber") or "1")[:16],
        "SeriesNumber": ordinal,
        "InstanceNumber": ordinal,
    }
    return inventions.get(keyword)


def _fill(record: Record, inst: Instance, keys: list[Key], ordinal: int) -> None:
    rtype = record.rtype
    for keyword, kind in keys:
        value = _clean(keyword, inst.values.get(keyword))
        empty = value is None or value == "" or (hasattr(value, "__len__") and len(value) == 0)
        if empty and kind == "1":
            value = _invent(keyword, rtype, inst, ordinal)
            if value is None:
                raise NotUsable(f"it lacks {keyword}, which the disc directory must list")
        elif empty and kind == "2":
            value = None
        elif empty:
            continue
        record.items.append((keyword, value))


def _verification_datetime(inst: Instance) -> None:
    if inst.values.get("VerificationFlag") == "VERIFIED" and "VerificationDateTime" not in \
            inst.values:
        observers = inst.values.get("VerifyingObserverSequence") or []
        if observers and "VerificationDateTime" in observers[-1]:
            inst.values["VerificationDateTime"] = observers[-1].VerificationDateTime


def _charset(inst: Instance) -> str:
    value = inst.values.get("SpecificCharacterSet")
    if not value:
        return ""
    return value if isinstance(value, str) else "\\".join(str(v) for v in value)


def _record(rtype: str, inst: Instance, keys: list[Key], ordinal: int) -> Record:
    charset = _charset(inst)
    # The offsets come first and have fixed places: _link() patches them in the bytes.
    record = Record(rtype, charset, [
        ("OffsetOfTheNextDirectoryRecord", 0),
        ("RecordInUseFlag", 0xFFFF),
        ("OffsetOfReferencedLowerLevelDirectoryEntity", 0),
        ("DirectoryRecordType", rtype)])
    if charset:
        record.items.append(("SpecificCharacterSet", inst.values["SpecificCharacterSet"]))
    _fill(record, inst, keys, ordinal)
    return record


def leaf_record(entry: Entry, extended: bool, ordinal: int) -> Record:
    """The leaf record of one object; raises NotUsable when a required key cannot be had."""
    inst = entry.instance
    if inst.record == "SR DOCUMENT":
        _verification_datetime(inst)
    record = _record(inst.record, inst, leaf_keys(inst.record, extended), ordinal)
    record.items += [
        ("ReferencedFileID", list(entry.file_id)),
        ("ReferencedSOPClassUIDInFile", entry.sop_class),
        ("ReferencedSOPInstanceUIDInFile", inst.sop_instance),
        ("ReferencedTransferSyntaxUIDInFile", entry.transfer_syntax)]
    return record


def check_parent_records(inst: Instance, extended: bool) -> None:
    """Raise NotUsable when the PATIENT, STUDY or SERIES record of `inst` could not be written.

    Those records are made from the first object of each patient, study and series, so every
    object must be able to supply their type-1 keys (e.g. a Study Instance UID).
    """
    patient_keys = PATIENT_KEYS + (PATIENT_KEYS_EXTENDED if extended else [])
    series_keys = SERIES_KEYS + (SERIES_KEYS_EXTENDED if extended else [])
    for rtype, keys in (("PATIENT", patient_keys), ("STUDY", STUDY_KEYS),
                        ("SERIES", series_keys)):
        _record(rtype, inst, keys, 1)


def _encode(ds: Dataset) -> bytearray:
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    write_dataset(fp, ds)
    return bytearray(fp.getvalue())


@dataclass
class _Node:
    data: bytearray
    children: list[_Node]
    offset: int = 0


def _tree(entries: list[Entry], extended: bool) -> _Node:
    """PATIENT > STUDY > SERIES > leaf, in the order objects were first met."""
    studies: dict[str, dict[str, list[Entry]]] = {}
    for entry in entries:
        series = studies.setdefault(entry.instance.study_uid, {})
        series.setdefault(entry.instance.series_uid, []).append(entry)
    first = entries[0].instance
    patient_keys = PATIENT_KEYS + (PATIENT_KEYS_EXTENDED if extended else [])
    series_keys = SERIES_KEYS + (SERIES_KEYS_EXTENDED if extended else [])
    root = _Node(_record("PATIENT", first, patient_keys, 1).encode(), [])
    for s_ord, series_map in enumerate(studies.values(), 1):
        s_first = next(iter(series_map.values()))[0].instance
        study = _Node(_record("STUDY", s_first, STUDY_KEYS, s_ord).encode(), [])
        root.children.append(study)
        for r_ord, leaves in enumerate(series_map.values(), 1):
            node = _Node(_record("SERIES", leaves[0].instance, series_keys, r_ord).encode(), [])
            study.children.append(node)
            node.children = [
                _Node(bytearray(e.record) if e.record
                      else leaf_record(e, extended, i).encode(), [])
                for i, e in enumerate(leaves, 1)]
    return root


def _flatten(node: _Node, out: list[_Node]) -> None:
    out.append(node)
    for child in node.children:
        _flatten(child, out)


def _link(node: _Node) -> None:
    if node.children:
        struct.pack_into("<I", node.data, _LOWER_AT, node.children[0].offset)
    for child, after in zip(node.children, node.children[1:], strict=False):
        struct.pack_into("<I", child.data, _NEXT_AT, after.offset)
    for child in node.children:
        _link(child)


def _header(fileset_id: str, descriptor: str | None, first: int) -> bytes:
    ds = Dataset()
    ds.FileSetID = fileset_id
    if descriptor:
        ds.FileSetDescriptorFileID = descriptor
        ds.SpecificCharacterSetOfFileSetDescriptorFile = "ISO_IR 100"
    ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity = first
    ds.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity = first
    ds.FileSetConsistencyFlag = 0
    return bytes(_encode(ds)) + struct.pack("<HH2sHI", 0x0004, 0x1220, b"SQ", 0, 0xFFFFFFFF)


def _meta(fileset_uid: str) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MEDIA_STORAGE_DIRECTORY
    meta.MediaStorageSOPInstanceUID = fileset_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_UID
    meta.ImplementationVersionName = VERSION_NAME
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    fp.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(fp, meta, enforce_standard=True)
    return fp.getvalue()


def write_dicomdir(path: Path, entries: list[Entry], *, fileset_id: str, fileset_uid: str,
                   extended: bool, descriptor: str | None = None) -> int:
    """Write the DICOMDIR for `entries` (all of one patient) to `path`; returns its size."""
    if not entries:
        raise ValueError("a file-set needs at least one object")
    root = _tree(entries, extended)
    nodes: list[_Node] = []
    _flatten(root, nodes)
    head = _meta(fileset_uid)
    # The header's length does not depend on the offsets it holds (UL values are fixed-size).
    position = len(head) + len(_header(fileset_id, descriptor, 0))
    for node in nodes:
        node.offset = position
        position += len(_ITEM) + len(node.data)
    _link(root)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as fp:
        fp.write(head)
        fp.write(_header(fileset_id, descriptor, root.offset))
        for node in nodes:
            fp.write(struct.pack("<HHI", 0xFFFE, 0xE000, len(node.data)))
            fp.write(node.data)
        fp.write(_SEQ_END)
        fp.flush()
        os.fsync(fp.fileno())
        size = fp.tell()
    os.replace(tmp, path)
    return size
