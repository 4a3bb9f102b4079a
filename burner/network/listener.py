"""The DICOM listener (pynetdicom): Verification, Storage and Media Creation Management SCPs.

Only the calling AE titles of `[dicom.peers]` (and of the configured PACS, whose C-MOVEs
deliver here) are accepted at association; each request is then checked against what that
peer may do. Received instances go into the intake area (received.py), bounded by
`[dicom] max_object_mb` and by the free space `min_free_mb` keeps. No patient data is logged.
"""

from __future__ import annotations

import io
import logging
import threading
from dataclasses import dataclass

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_dataset
from pydicom.uid import UID, generate_uid
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import MediaCreationManagement, Verification

from burner.config import Config
from burner.desk.settings import desk_settings
from burner.network import commitment, mcm
from burner.network.received import LISTENING, store
from burner.network.scu import (
    CANNOT_UNDERSTAND,
    incoming,
    is_uid,
    on_commitment_report,
    refusal,
)
from burner.network.settings import DicomSettings, Peer, dicom_settings
from burner.network.syntaxes import READABLE

log = logging.getLogger("burner.network")

NOT_AUTHORISED, DOES_NOT_MATCH = 0x0124, 0xA900
ADVANCE_SECONDS = 1.0
_RUNNING = LISTENING      # listeners of this process (a C-MOVE needs one)


@dataclass
class Listener:
    """A running listener: `stop()` ends it."""

    config: Config
    settings: DicomSettings
    server: object = None
    handlers: _Handlers | None = None
    _stop: threading.Event | None = None
    _timer: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server.server_address[1]       # type: ignore[attr-defined]

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
        if self.server is not None:
            self.server.shutdown()                  # type: ignore[attr-defined]
        if self._timer is not None:
            self._timer.join(timeout=5)
        if self in _RUNNING:
            _RUNNING.remove(self)


class _Handlers:
    """The event handlers, with what they share: settings, the index and its lock."""

    def __init__(self, config: Config, settings: DicomSettings):
        self.config, self.settings = config, settings
        self.intake = desk_settings(config).intake_dir
        self.pacs_aes = {r.ae_title for r in settings.pacs.values()}

    def peer(self, event: evt.Event, right: str) -> Peer | None:
        """The peer behind `event` when it may do `right` (and calls from its address)."""
        title = event.assoc.requestor.ae_title.strip()
        peer = self.settings.peers.get(title)
        if peer is None and right == "store" and title in self.pacs_aes:
            peer = Peer(title, frozenset({"store"}))       # a configured PACS's C-MOVE
        if peer is None or right not in peer.may:
            log.warning("refused %s from AE %s: not allowed by [dicom.peers]", right, title)
            return None
        if peer.host and event.assoc.requestor.address != peer.host:
            log.warning("refused %s from AE %s: it called from another address", right, title)
            return None
        return peer

    def echo(self, event: evt.Event) -> int:
        return 0x0000 if self.peer(event, "echo") else NOT_AUTHORISED

    def store(self, event: evt.Event) -> int | Dataset:
        peer = self.peer(event, "store")
        if peer is None:
            return NOT_AUTHORISED
        got = incoming(event, self.settings, self.intake)
        if isinstance(got, Dataset):
            log.warning("refused an object from AE %s: %s", peer.ae_title, got.ErrorComment)
            return got
        try:
            head = _head(memoryview(got.data)[got.body:], event.context.transfer_syntax,
                         got.data)
        except (InvalidDicomError, ValueError, EOFError, KeyError, OverflowError):
            return refusal(CANNOT_UNDERSTAND, "the data set cannot be read")
        study = head.get("StudyInstanceUID")
        if head.get("SOPInstanceUID") != got.sop_instance or not is_uid(study):
            return refusal(DOES_NOT_MATCH, "SOP Instance UID or Study Instance UID missing or "
                           "not the one of the request")
        store(self.intake, peer.ae_title, str(study), got.sop_instance, got.data)
        return 0x0000

    def n_create(self, event: evt.Event) -> tuple[int | Dataset, Dataset | None]:
        peer = self.peer(event, "mcm")
        if peer is None:
            return NOT_AUTHORISED, None
        uid = event.request.AffectedSOPInstanceUID
        new = uid is None
        uid = str(uid or generate_uid())
        if not is_uid(uid):
            return refusal(mcm.INVALID_VALUE, "invalid SOP Instance UID"), None
        try:
            out = mcm.create(self.config, peer, uid, event.attribute_list)
        except mcm.Refused as exc:
            return refusal(exc.status, str(exc)), None
        if new:
            out.AffectedSOPInstanceUID = uid
        return 0x0000, out

    def n_action(self, event: evt.Event) -> tuple[int | Dataset, Dataset | None]:
        peer = self.peer(event, "mcm")
        if peer is None:
            return NOT_AUTHORISED, None
        try:
            info = event.action_information if event.request.ActionInformation else None
            out = mcm.action(self.config, peer, str(event.request.RequestedSOPInstanceUID),
                             int(event.action_type or 0), info, self.settings.arrival_seconds)
        except mcm.Refused as exc:
            return refusal(exc.status, str(exc)), None
        return 0x0000, out

    def n_get(self, event: evt.Event) -> tuple[int | Dataset, Dataset | None]:
        peer = self.peer(event, "mcm")
        if peer is None:
            return NOT_AUTHORISED, None
        try:
            return 0x0000, mcm.status(self.config, peer,
                                      str(event.request.RequestedSOPInstanceUID))
        except mcm.Refused as exc:
            return refusal(exc.status, str(exc)), None



_STUDY_UID = 0x0020000D


def _head(body: memoryview, syntax: UID, whole: bytes) -> Dataset:
    """The data set's elements up to Study Instance UID, read from the peer's bytes (the
    rest is parsed, strictly, when a job gathers the file)."""
    if syntax.is_deflated:
        return dcmread(io.BytesIO(whole), stop_before_pixels=True,
                       specific_tags=["SOPInstanceUID", "StudyInstanceUID"])
    return read_dataset(io.BytesIO(body), syntax.is_implicit_VR, syntax.is_little_endian,
                        stop_when=lambda tag, _vr, _length: tag > _STUDY_UID)


def application_entity(settings: DicomSettings) -> AE:
    ae = AE(ae_title=settings.ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = settings.timeout
    ae.maximum_pdu_size = 0
    ae.maximum_associations = 16
    # peers; a PACS delivering a C-MOVE; a destination reporting a storage commitment
    allowed = sorted(set(settings.peers) | {r.ae_title for r in settings.pacs.values()}
                     | {r.ae_title for r in settings.destinations.values()})
    ae.require_calling_aet = allowed or ["\\NONE"]   # no peer configured: refuse everyone
    for cx in AllStoragePresentationContexts:
        ae.add_supported_context(cx.abstract_syntax, READABLE)
    ae.add_supported_context(Verification)
    ae.add_supported_context(MediaCreationManagement)
    ae.add_supported_context(commitment.PUSH_MODEL, scu_role=True, scp_role=True)
    return ae


def start(config: Config, settings: DicomSettings | None = None) -> Listener:
    """Start the listener on `[dicom] bind:port` in the background."""
    settings = settings or dicom_settings(config)
    handlers = _Handlers(config, settings)
    ae = application_entity(settings)
    bound = [(evt.EVT_C_ECHO, handlers.echo), (evt.EVT_C_STORE, handlers.store),
             (evt.EVT_N_CREATE, handlers.n_create), (evt.EVT_N_ACTION, handlers.n_action),
             (evt.EVT_N_GET, handlers.n_get),
             (evt.EVT_N_EVENT_REPORT, on_commitment_report)]
    server = ae.start_server((settings.bind, settings.port), block=False, evt_handlers=bound)
    listener = Listener(config, settings, server, handlers, threading.Event())
    listener._timer = threading.Thread(target=_advance_loop, args=(config, listener._stop),
                                       name="dicom-mcm", daemon=True)
    listener._timer.start()
    _RUNNING.append(listener)
    log.info("DICOM listener %s on %s:%d", settings.ae_title, settings.bind, listener.port)
    return listener


def _advance_loop(config: Config, stop: threading.Event) -> None:
    """Turn initiated media creation requests into jobs as their instances arrive."""
    while not stop.wait(ADVANCE_SECONDS):
        try:
            mcm.advance(config)
        except Exception:  # noqa: BLE001 - the listener keeps serving
            log.exception("media creation requests: unexpected error; going on")
