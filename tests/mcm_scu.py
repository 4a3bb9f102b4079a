"""A Media Creation Management SCU for the tests (pynetdicom), as a RIS would use it: N-CREATE
a request, N-ACTION initiate or cancel it, N-GET how it stands. Runnable as a script too:

    python tests/mcm_scu.py HOST PORT CALLING_AE CALLED_AE FILE...   # request a disc of FILEs
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.sop_class import MediaCreationManagement

MCM = MediaCreationManagement


def request_dataset(items: Iterable[tuple[str, str, str]], **attrs: object) -> Dataset:
    """An N-CREATE attribute list: Referenced SOP Sequence of (class, instance, requested
    profile or "") items, and any other attributes by keyword."""
    ds = Dataset()
    refs = []
    for cls, inst, profile in items:
        item = Dataset()
        item.ReferencedSOPClassUID = cls
        item.ReferencedSOPInstanceUID = inst
        if profile:
            item.RequestedMediaApplicationProfile = profile
        refs.append(item)
    ds.ReferencedSOPSequence = Sequence(refs)
    for key, value in attrs.items():
        setattr(ds, key, value)
    return ds


class McmScu:
    """One association to the station's listener for media creation requests."""

    def __init__(self, port: int, calling: str = "RIS", called: str = "BURNER",
                 host: str = "127.0.0.1"):
        self.ae = AE(ae_title=calling)
        self.ae.add_requested_context(MCM)
        self.ae.acse_timeout = self.ae.dimse_timeout = self.ae.network_timeout = 30
        self.assoc: Association = self.ae.associate(host, port, ae_title=called)

    def __enter__(self) -> McmScu:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.assoc.is_established:
            self.assoc.release()

    def create(self, refs: Iterable[tuple[str, str]], profile: str = "STD-GEN-DVD-JPEG",
               **attrs: object) -> tuple[int, str | None]:
        """(status, request SOP Instance UID) for a request of `refs` (class, instance)."""
        ds = request_dataset(((cls, inst, profile) for cls, inst in refs),
                             LabelUsingInformationExtractedFromInstances="YES", **attrs)
        uid = pydicom.uid.generate_uid()
        status, _ = self.assoc.send_n_create(ds, MCM, uid)
        return status.Status if status else -1, uid

    def initiate(self, uid: str, copies: int = 1, priority: str = "MED") -> int:
        ds = Dataset()
        ds.NumberOfCopies = copies
        ds.RequestPriority = priority
        status, _ = self.assoc.send_n_action(ds, 1, MCM, uid)
        return status.Status if status else -1

    def cancel(self, uid: str) -> int:
        status, _ = self.assoc.send_n_action(None, 2, MCM, uid)
        return status.Status if status else -1

    def get(self, uid: str) -> tuple[int, Dataset | None]:
        status, ds = self.assoc.send_n_get([0x22000001, 0x22000002, 0x2200000B, 0x00081198,
                                            0x2200000D], MCM, uid)
        return (status.Status if status else -1), ds


def poll(port: int, uid: str, until: Iterable[str], timeout: float = 120,
         calling: str = "RIS") -> Dataset:
    """N-GET the request (a new association each time, as a RIS polls) until its Execution
    Status is one of `until`; returns the last answer."""
    wanted = set(until)
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        with McmScu(port, calling) as scu:
            code, last = scu.get(uid)
        assert code == 0, f"N-GET answered 0x{code:04X}"
        if last is not None and last.ExecutionStatus in wanted:
            return last
        time.sleep(0.3)
    raise AssertionError(f"the request stayed {last.ExecutionStatus if last else None}/"
                         f"{last.ExecutionStatusInfo if last else None}")


def refs_of(paths: Iterable[Path]) -> list[tuple[str, str]]:
    out = []
    for path in paths:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        out.append((str(ds.SOPClassUID), str(ds.SOPInstanceUID)))
    return out


if __name__ == "__main__":
    host, port, calling, called, *files = sys.argv[1:]
    scu = McmScu(int(port), calling, called, host)
    code, request = scu.create(refs_of(Path(f) for f in files))
    print("N-CREATE", hex(code), request)
    print("N-ACTION", hex(scu.initiate(request or "")))
    scu.__exit__()
    print(poll(int(port), request or "", ("DONE", "FAILURE"), calling=calling))
