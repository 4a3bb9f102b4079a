"""Storage commitment (PS3.4 Annex J, push model) for a send to another hospital: after the
C-STOREs, burner asks the destination to commit to keeping the objects (N-ACTION) and waits for
its answer (N-EVENT-REPORT), which a destination sends on the same association or on a new one
to this station's listener. The answers are posted here by transaction UID."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

PUSH_MODEL = "1.2.840.10008.1.20.1"
PUSH_MODEL_INSTANCE = "1.2.840.10008.1.20.1.1"
REQUEST_COMMITMENT = 1
ALL_STORED, SOME_FAILED = 1, 2        # N-EVENT-REPORT event types


@dataclass
class Outcome:
    """What the destination committed to, by SOP Instance UID."""

    stored: set[str] = field(default_factory=set)
    failed: dict[str, int] = field(default_factory=dict)     # SOP Instance UID -> reason


_lock = threading.Condition()
_outcomes: dict[str, Outcome] = {}


def request(objects: list[tuple[str, str]]) -> tuple[str, Dataset]:
    """A new transaction UID and the N-ACTION's dataset for (SOP Class, SOP Instance) pairs."""
    uid = generate_uid()
    ds = Dataset()
    ds.TransactionUID = uid
    items = []
    for cls, inst in objects:
        item = Dataset()
        item.ReferencedSOPClassUID = cls
        item.ReferencedSOPInstanceUID = inst
        items.append(item)
    ds.ReferencedSOPSequence = Sequence(items)
    return uid, ds


def post(event_type: int, info: Dataset | None) -> bool:
    """Record a destination's N-EVENT-REPORT; False when it is not one burner waits for."""
    if info is None or event_type not in (ALL_STORED, SOME_FAILED):
        return False
    uid = str(info.get("TransactionUID", ""))
    with _lock:
        if uid not in _outcomes:
            return False
        outcome = _outcomes[uid]
        for item in info.get("ReferencedSOPSequence", []):
            outcome.stored.add(str(item.get("ReferencedSOPInstanceUID", "")))
        for item in info.get("FailedSOPSequence", []):
            outcome.failed[str(item.get("ReferencedSOPInstanceUID", ""))] = \
                int(item.get("FailureReason", 0x0110) or 0x0110)
        _lock.notify_all()
    return True


def expect(uid: str) -> None:
    with _lock:
        _outcomes[uid] = Outcome()


def wait(uid: str, wanted: set[str], timeout: float) -> Outcome | None:
    """The outcome once every object in `wanted` is reported (stored or failed); None when
    the destination did not answer for all of them within `timeout` seconds."""
    with _lock:
        done = _lock.wait_for(lambda: wanted <= (_outcomes[uid].stored
                                                 | set(_outcomes[uid].failed)), timeout)
        outcome = _outcomes.pop(uid)
    return outcome if done else None
