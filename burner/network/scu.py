"""burner as a DICOM client (pynetdicom): echo, find (C-FIND, Study Root), retrieve (C-GET into
a folder, or C-MOVE to this station's listener) and send (C-STORE).

What a peer answers is untrusted: every UID is checked, strings are kept to one short line,
counts are bounded, and a C-STORE from it is written only within the size and free-space
bounds of `[dicom]`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset
from pynetdicom import AE, build_role, evt
from pynetdicom.association import Association
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from burner.dicom.canonical import file_meta
from burner.diskspace import free_bytes
from burner.errors import PeerError
from burner.network.settings import DicomSettings, Remote
from burner.network.syntaxes import READABLE
from burner.untrusted import one_line

log = logging.getLogger("burner.network")

MAX_STUDIES = 200
MAX_INSTANCES = 200_000
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
OUT_OF_RESOURCES, CANNOT_UNDERSTAND = 0xA700, 0xC000


def is_uid(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 64 and bool(_UID.fullmatch(value))


def text(value: object, limit: int = 64) -> str:
    """A value from a peer as one short line ('' when absent)."""
    if value is None:
        return ""
    return one_line(str(value))[:limit]


@dataclass(frozen=True)
class FoundInstance:
    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class: str = ""


@dataclass
class FoundStudy:
    """One study as the PACS lists it (values as found, one line each)."""

    uid: str
    accession: str = ""
    date: str = ""
    description: str = ""
    modalities: str = ""
    patient_id: str = ""
    issuer: str = ""
    listed: int | None = None          # Number of Study Related Instances, when given
    instances: list[FoundInstance] = field(default_factory=list)


def application_entity(settings: DicomSettings) -> AE:
    ae = AE(ae_title=settings.ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = settings.timeout
    ae.maximum_pdu_size = 0        # no limit of ours: the peer's is used
    return ae


def associate(ae: AE, remote: Remote, what: str, **kwargs: object) -> Association:
    """An association with `remote`, or PeerError in words ("what": "the PACS main")."""
    try:
        assoc = ae.associate(remote.host, remote.port, ae_title=remote.ae_title, **kwargs)
    except OSError as exc:
        raise PeerError(f"{what} ({remote.where}) could not be reached: "
                        f"{one_line(exc.strerror or exc)}") from None
    if assoc.is_established:
        return assoc
    if assoc.is_rejected:
        raise PeerError(f"{what} ({remote.where}) refused the connection: check that it knows "
                        "this station's AE title and address")
    raise PeerError(f"{what} ({remote.where}) could not be reached or did not answer")


def echo(settings: DicomSettings, remote: Remote, what: str = "the peer") -> None:
    """C-ECHO: PeerError unless `remote` answers with success."""
    ae = application_entity(settings)
    ae.add_requested_context(Verification)
    assoc = associate(ae, remote, what)
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    if not status or status.get("Status", -1) != 0:
        raise PeerError(f"{what} ({remote.where}) answered the echo with a failure")


# --- find ----------------------------------------------------------------------------------


def _query(assoc: Association, query: Dataset, what: str, limit: int) -> list[Dataset]:
    found = []
    for status, ident in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
        code = status.get("Status", -1) if status else -1
        if code in (0xFF00, 0xFF01):
            if ident is not None:
                found.append(ident)
            if len(found) > limit:
                assoc.abort()
                raise PeerError(f"{what} listed more than {limit} matches; narrow the search")
        elif code != 0:
            raise PeerError(f"{what} answered the search with a failure (status 0x{code:04X})"
                            if code >= 0 else f"{what} stopped answering the search")
    return found


def _study_query(patient_id: str | None, issuer: str | None, study_uid: str | None,
                 accession: str | None) -> Dataset:
    q = Dataset()
    q.QueryRetrieveLevel = "STUDY"
    q.StudyInstanceUID = study_uid or ""
    q.AccessionNumber = accession or ""
    q.PatientID = patient_id or ""
    if issuer:
        q.IssuerOfPatientID = issuer
    for key in ("StudyDate", "StudyDescription", "ModalitiesInStudy",
                "NumberOfStudyRelatedInstances"):
        setattr(q, key, "")
    if not issuer:
        q.IssuerOfPatientID = ""
    return q


def _study(ident: Dataset) -> FoundStudy | None:
    uid = ident.get("StudyInstanceUID")
    if not is_uid(uid):
        return None
    listed = ident.get("NumberOfStudyRelatedInstances")
    try:
        count = int(listed) if listed not in (None, "") else None
    except (TypeError, ValueError):
        count = None
    mods = ident.get("ModalitiesInStudy", "")
    return FoundStudy(uid, text(ident.get("AccessionNumber")), text(ident.get("StudyDate")),
                      text(ident.get("StudyDescription")),
                      text("\\".join(mods) if isinstance(mods, list | tuple) else mods),
                      text(ident.get("PatientID")), text(ident.get("IssuerOfPatientID")),
                      count)


def find(settings: DicomSettings, remote: Remote, *, patient_id: str | None = None,
         issuer: str | None = None, study_uids: Iterable[str] = (),
         accessions: Iterable[str] = (), instances: bool = True) -> list[FoundStudy]:
    """The studies `remote` holds for the patient, the Study Instance UIDs or the accession
    numbers given (C-FIND, Study Root), each with its instances when `instances`."""
    what = f"the PACS {remote.name}"
    keys: list[tuple[str | None, str | None]] = [(u, None) for u in study_uids]
    keys += [(None, a) for a in accessions]
    if not keys:
        if not patient_id:
            raise ValueError("find needs a patient ID, study UIDs or accession numbers")
        keys = [(None, None)]
    ae = application_entity(settings)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc = associate(ae, remote, what)
    studies: dict[str, FoundStudy] = {}
    try:
        for uid, accession in keys:
            for ident in _query(assoc, _study_query(patient_id, issuer, uid, accession), what,
                                MAX_STUDIES):
                study = _study(ident)
                if study is not None and study.uid not in studies:
                    studies[study.uid] = study
            if len(studies) > MAX_STUDIES:
                raise PeerError(f"{what} listed more than {MAX_STUDIES} studies")
        if instances:
            total = 0
            for study in studies.values():
                study.instances = _instances(assoc, study.uid, what)
                total += len(study.instances)
                if total > MAX_INSTANCES:
                    raise PeerError(f"{what} listed more than {MAX_INSTANCES} images")
    finally:
        if assoc.is_established:
            assoc.release()
    return list(studies.values())


def _instances(assoc: Association, study_uid: str, what: str) -> list[FoundInstance]:
    q = Dataset()
    q.QueryRetrieveLevel = "SERIES"
    q.StudyInstanceUID = study_uid
    q.SeriesInstanceUID = ""
    series = [s.SeriesInstanceUID for s in _query(assoc, q, what, MAX_INSTANCES)
              if is_uid(s.get("SeriesInstanceUID"))]
    out: dict[str, FoundInstance] = {}
    for series_uid in dict.fromkeys(series):
        q = Dataset()
        q.QueryRetrieveLevel = "IMAGE"
        q.StudyInstanceUID = study_uid
        q.SeriesInstanceUID = series_uid
        q.SOPInstanceUID = ""
        q.SOPClassUID = ""
        for ident in _query(assoc, q, what, MAX_INSTANCES):
            sop = ident.get("SOPInstanceUID")
            if is_uid(sop):
                cls = ident.get("SOPClassUID", "")
                out[sop] = FoundInstance(study_uid, series_uid, sop, cls if is_uid(cls) else "")
    return list(out.values())


# --- retrieve ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Incoming:
    """A C-STORE's object as it will be written: burner's File Meta Information, then the
    peer's data set bytes as they came (from `body` on)."""

    sop_instance: str
    data: bytes
    body: int


def incoming(event: evt.Event, settings: DicomSettings, folder: Path) -> Incoming | Dataset:
    """The object of a C-STORE request within `[dicom]`'s bounds, or the refusal to answer
    (a status with its ErrorComment): for the listener and for a C-GET alike."""
    sop, cls = event.request.AffectedSOPInstanceUID, event.request.AffectedSOPClassUID
    if not is_uid(sop) or not is_uid(cls):
        return refusal(CANNOT_UNDERSTAND, "no valid Affected SOP Class or Instance UID")
    # pydicom's encoded_dataset() builds the meta through a Dataset: a third of the time
    meta = file_meta(str(cls), str(sop), str(event.context.transfer_syntax))
    data = meta + event.request.DataSet.getbuffer()
    if len(data) > settings.max_object_bytes:
        return refusal(OUT_OF_RESOURCES, "object larger than this station accepts")
    if free_bytes(folder) - len(data) < settings.min_free_bytes:
        return refusal(OUT_OF_RESOURCES, "the station's disk is too full")
    return Incoming(str(sop), data, len(meta))


def refusal(code: int, comment: str) -> Dataset:
    """A DIMSE status with its ErrorComment."""
    ds = Dataset()
    ds.Status = code
    ds.ErrorComment = comment[:64]
    return ds


class StoreInto:
    """A C-STORE handler writing each object into `dest` (bounded by `[dicom]`), named by a
    hash of its SOP Instance UID; `got` collects the SOP Instance UIDs written."""

    def __init__(self, settings: DicomSettings, dest: Path,
                 on_file: Callable[[Path], None] | None = None):
        self.settings, self.dest, self.on_file = settings, dest, on_file
        self.got: set[str] = set()

    def __call__(self, event: evt.Event) -> int | Dataset:
        from burner.network.received import file_name

        got = incoming(event, self.settings, self.dest)
        if isinstance(got, Dataset):
            return got
        path = self.dest / file_name(got.sop_instance)
        part = path.with_suffix(".part")
        part.write_bytes(got.data)
        part.replace(path)
        self.got.add(got.sop_instance)
        if self.on_file:
            self.on_file(path)
        return 0


def _storage_contexts(classes: Iterable[str]) -> list[str]:
    return sorted({c for c in classes if is_uid(c)})[:126]


def get(settings: DicomSettings, remote: Remote, studies: list[FoundStudy], dest: Path,
        on_file: Callable[[Path], None] | None = None) -> StoreInto:
    """C-GET every study into `dest`, in one association; returns the handler (what came)."""
    what = f"the PACS {remote.name}"
    classes = _storage_contexts(i.sop_class for s in studies for i in s.instances)
    if not classes:
        from pynetdicom import StoragePresentationContexts

        classes = [c.abstract_syntax for c in StoragePresentationContexts[:120]]
    ae = application_entity(settings)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    for cls in classes:
        ae.add_requested_context(cls, READABLE)
    handler = StoreInto(settings, dest, on_file)
    assoc = associate(ae, remote, what, ext_neg=[build_role(c, scp_role=True) for c in classes],
                      evt_handlers=[(evt.EVT_C_STORE, handler)])
    try:
        for study in studies:
            q = Dataset()
            q.QueryRetrieveLevel = "STUDY"
            q.StudyInstanceUID = study.uid
            _check_retrieve(assoc.send_c_get(q, StudyRootQueryRetrieveInformationModelGet),
                            what)
    finally:
        if assoc.is_established:
            assoc.release()
    return handler


def move(settings: DicomSettings, remote: Remote, studies: list[FoundStudy]) -> None:
    """C-MOVE every study to this station's own AE title (its listener stores them)."""
    what = f"the PACS {remote.name}"
    ae = application_entity(settings)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    assoc = associate(ae, remote, what)
    try:
        for study in studies:
            q = Dataset()
            q.QueryRetrieveLevel = "STUDY"
            q.StudyInstanceUID = study.uid
            _check_retrieve(assoc.send_c_move(q, settings.ae_title,
                                              StudyRootQueryRetrieveInformationModelMove),
                            what)
    finally:
        if assoc.is_established:
            assoc.release()


def _check_retrieve(responses: Iterable[tuple[Dataset, Dataset | None]], what: str) -> None:
    """Follow a C-GET/C-MOVE to its end. Failures of single objects are not raised here: the
    completeness check after it names each missing object."""
    last = None
    for status, _ in responses:
        if not status:
            raise PeerError(f"{what} stopped answering while sending the images")
        last = status.get("Status", -1)
    if last is None:
        raise PeerError(f"{what} did not answer the request for the images")
    if last not in (0x0000, 0xB000) and last >> 8 not in (0xA7, 0xA9, 0xC0):
        raise PeerError(f"{what} refused to send the images (status 0x{last:04X})")


# --- send ----------------------------------------------------------------------------------


def send(settings: DicomSettings, remote: Remote, files: list[tuple[Path, str, str, str]],
         progress: Callable[[int], None] | None = None) -> list[str]:
    """C-STORE `files` ((path, SOP Class UID, SOP Instance UID, transfer syntax) each) to
    `remote` in one association; returns the SOP Instance UIDs it refused (empty: all stored).
    PeerError when it cannot be reached or the association breaks."""
    what = f"the destination {remote.name}"
    pairs: dict[str, set[str]] = {}
    for _, cls, _, syntax in files:
        pairs.setdefault(cls, set()).add(syntax)
    ae = application_entity(settings)
    for cls, syntaxes in sorted(pairs.items()):
        for syntax in sorted(syntaxes):
            ae.add_requested_context(cls, syntax)
    if len(ae.requested_contexts) > 128:
        raise PeerError(f"the images use more kinds of object than one connection to {what} "
                        "can carry")
    assoc = associate(ae, remote, what)
    refused = []
    try:
        for n, (path, _, sop, _) in enumerate(files, 1):
            status = assoc.send_c_store(path)
            if not status:
                raise PeerError(f"{what} ({remote.where}) stopped answering after "
                                f"{n - 1} of {len(files)} images")
            code = status.get("Status", -1)
            if code not in (0x0000, 0xB000, 0xB007, 0xB006):
                refused.append(sop)
            if progress:
                progress(n)
    finally:
        if assoc.is_established:
            assoc.release()
    return refused


def commit(settings: DicomSettings, remote: Remote, objects: list[tuple[str, str]]) -> list[str]:
    """Ask `remote` for storage commitment of `objects` ((SOP Class, SOP Instance) pairs) and
    wait for its report, on this association or on a new one to the listener; returns the SOP
    Instance UIDs it did not commit to (all of them when it did not answer in time)."""
    from burner.network import commitment

    what = f"the destination {remote.name}"
    uid, ds = commitment.request(objects)
    commitment.expect(uid)
    ae = application_entity(settings)
    ae.add_requested_context(commitment.PUSH_MODEL)

    receiver = None
    if not _listening():
        # the report may come on a new association to this station: listen for it first
        receiver = _report_receiver(settings, remote)
    try:
        assoc = associate(ae, remote, what, ext_neg=[build_role(commitment.PUSH_MODEL,
                                                                scu_role=True, scp_role=True)],
                          evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_commitment_report)])
    except PeerError:
        if receiver is not None:
            receiver.shutdown()
        raise
    wanted = {sop for _, sop in objects}
    try:
        status, _ = assoc.send_n_action(ds, commitment.REQUEST_COMMITMENT, commitment.PUSH_MODEL,
                                        commitment.PUSH_MODEL_INSTANCE)
        if not status or status.get("Status", -1) != 0:
            commitment.wait(uid, set(), 0)
            raise PeerError(f"{what} ({remote.where}) refused the storage commitment request")
        # The report may come on this association: keep it open while waiting.
        outcome = commitment.wait(uid, wanted, remote.timeout)
    finally:
        if assoc.is_established:
            assoc.release()
        if receiver is not None:
            receiver.shutdown()
    if outcome is None:
        return sorted(wanted)
    return sorted(wanted - outcome.stored)


def on_commitment_report(event: evt.Event) -> tuple[int, None]:
    """N-EVENT-REPORT of a storage commitment (on the sending association or the listener)."""
    from burner.network import commitment

    known = commitment.post(int(event.event_type or 0), event.event_information)
    return (0x0000 if known else 0x0112), None


def _listening() -> bool:
    from burner.network.received import LISTENING

    return bool(LISTENING)


def _report_receiver(settings: DicomSettings, remote: Remote) -> object:
    """An SCP on the listener's address taking only `remote`'s commitment reports."""
    from burner.network import commitment

    ae = application_entity(settings)
    ae.require_calling_aet = [remote.ae_title]
    ae.add_supported_context(commitment.PUSH_MODEL, scu_role=True, scp_role=True)
    try:
        return ae.start_server((settings.bind, settings.port), block=False,
                               evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_commitment_report)])
    except OSError as exc:
        raise PeerError(f"this station could not listen on port {settings.port} for the "
                        f"storage commitment report ({exc.strerror})") from None
