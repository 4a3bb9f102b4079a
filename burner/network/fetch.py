"""Fetch a patient's images from a configured PACS: list what it holds (C-FIND, or QIDO-RS),
retrieve it by the PACS's method (C-GET into a folder, C-MOVE to this station's listener, or
WADO-RS), then compare what came with what was listed, object by object."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_partial

from burner.config import Config
from burner.errors import PeerError
from burner.network import scu
from burner.network.scu import FoundInstance, FoundStudy, is_uid, text
from burner.network.settings import DicomSettings, Remote

MAX_PART = 2_000_000_000


@dataclass
class Fetched:
    """What a retrieval brought: the files, and what was listed but did not come."""

    studies: list[FoundStudy]
    files: list[Path] = field(default_factory=list)
    missing: list[FoundInstance] = field(default_factory=list)

    @property
    def expected(self) -> int:
        return sum(len(s.instances) for s in self.studies)


def find(settings: DicomSettings, pacs: Remote, *, patient_id: str | None = None,
         issuer: str | None = None, study_uids: tuple[str, ...] = (),
         accessions: tuple[str, ...] = (), web: bool = False) -> list[FoundStudy]:
    """What `pacs` holds for these keys, each study with its instances (by QIDO-RS when it
    is retrieved by DICOMweb, or when `web`)."""
    if pacs.retrieve == "dicomweb" or web:
        return _qido_find(pacs, patient_id, issuer, study_uids, accessions)
    return scu.find(settings, pacs, patient_id=patient_id, issuer=issuer,
                    study_uids=study_uids, accessions=accessions)


def _qido_find(pacs: Remote, patient_id: str | None, issuer: str | None,
               study_uids: tuple[str, ...], accessions: tuple[str, ...]) -> list[FoundStudy]:
    from burner.network import dicomweb as web

    keys: list[dict[str, str]] = [{"StudyInstanceUID": u} for u in study_uids]
    keys += [{"AccessionNumber": a} for a in accessions]
    if not keys:
        keys = [{"PatientID": patient_id or ""}]
    if patient_id:
        for key in keys:
            key["PatientID"] = patient_id
            if issuer:
                key["IssuerOfPatientID"] = issuer
    fields = "00080050,00080020,00081030,00080061,00100020,00100021,00201208"
    studies: dict[str, FoundStudy] = {}
    try:
        for key in keys:
            for item in web.qido(pacs.url, "studies", {**key, "includefield": fields},
                                 timeout=pacs.timeout):
                uid = web.json_value(item, "0020000D")
                if not is_uid(uid) or uid in studies:
                    continue
                count = web.json_value(item, "00201208")
                studies[uid] = FoundStudy(
                    uid, text(web.json_value(item, "00080050")),
                    text(web.json_value(item, "00080020")),
                    text(web.json_value(item, "00081030")),
                    text(web.json_value(item, "00080061")),
                    text(web.json_value(item, "00100020")),
                    text(web.json_value(item, "00100021")),
                    int(count) if count and count.isdigit() else None)
        for study in studies.values():
            items = web.qido(pacs.url, f"studies/{study.uid}/instances",
                             {"includefield": "0020000E,00080016"}, timeout=pacs.timeout,
                             max_results=scu.MAX_INSTANCES)
            found = {}
            for item in items:
                sop, series = web.json_value(item, "00080018"), web.json_value(item, "0020000E")
                if is_uid(sop) and is_uid(series):
                    cls = web.json_value(item, "00080016")
                    found[sop] = FoundInstance(study.uid, str(series), str(sop),
                                               str(cls) if is_uid(cls) else "")
            study.instances = list(found.values())
    except web.DicomWebError as exc:
        raise PeerError(f"the PACS {pacs.name}: {exc}") from None
    return list(studies.values())


def retrieve(config: Config, settings: DicomSettings, pacs: Remote, studies: list[FoundStudy],
             dest: Path, progress: Callable[[], None] | None = None) -> Fetched:
    """Bring every listed instance of `studies` into `dest`; the result names what is
    missing (nothing is raised for a single object the PACS did not send)."""
    dest.mkdir(parents=True, exist_ok=True)
    tick = (lambda _path: progress()) if progress else None
    if pacs.retrieve == "c-get":
        got = scu.get(settings, pacs, studies, dest, tick).got
    elif pacs.retrieve == "c-move":
        got = _move(config, settings, pacs, studies, dest, progress)
    else:
        got = _wado(pacs, studies, dest, tick)
    fetched = Fetched(studies)
    fetched.files = sorted(p for p in dest.iterdir() if p.suffix == ".dcm")
    fetched.missing = [i for s in studies for i in s.instances if i.sop_uid not in got]
    return fetched


def _move(config: Config, settings: DicomSettings, pacs: Remote, studies: list[FoundStudy],
          dest: Path, progress: Callable[[], None] | None) -> set[str]:
    """C-MOVE to this station's AE title. With the listener running in this process, the
    images go to the intake area and are linked into `dest`; without one, a storage SCP is
    opened on the listener's port for the move alone and writes into `dest`."""
    from burner.desk.settings import desk_settings
    from burner.network.received import LISTENING, file_name, where

    if not LISTENING:
        server, handler = _receiver(settings, dest, progress)
        try:
            scu.move(settings, pacs, studies)
        finally:
            server.shutdown()
        return handler.got
    scu.move(settings, pacs, studies)
    wanted = [i.sop_uid for s in studies for i in s.instances]
    arrived = where(desk_settings(config).intake_dir, wanted)
    for sop, path in arrived.items():
        target = dest / file_name(sop)
        try:
            os.link(path, target)
        except OSError:
            shutil.copyfile(path, target)
        if progress:
            progress()
    return set(arrived)


def _receiver(settings: DicomSettings, dest: Path,
              progress: Callable[[], None] | None) -> tuple[object, scu.StoreInto]:
    """A storage SCP on the listener's address for one C-MOVE (only the PACS may call it)."""
    from pynetdicom import AllStoragePresentationContexts, evt

    from burner.network.syntaxes import READABLE

    ae = scu.application_entity(settings)
    ae.require_calling_aet = [pacs.ae_title for pacs in settings.pacs.values()]
    for cx in AllStoragePresentationContexts:
        ae.add_supported_context(cx.abstract_syntax, READABLE)
    handler = scu.StoreInto(settings, dest, (lambda _p: progress()) if progress else None)
    try:
        server = ae.start_server((settings.bind, settings.port), block=False,
                                 evt_handlers=[(evt.EVT_C_STORE, handler)])
    except OSError as exc:
        raise PeerError(f"this station could not listen on port {settings.port} for the "
                        f"images the PACS sends ({exc.strerror})") from None
    return server, handler


def _wado(pacs: Remote, studies: list[FoundStudy], dest: Path,
          tick: Callable[[Path], None] | None) -> set[str]:
    """WADO-RS each study; each part, as soon as it is whole, is named by the SOP Instance UID
    its data set holds (while the PACS goes on sending)."""
    from burner.network import dicomweb as web
    from burner.network.received import file_name

    got = set()

    def arrived(path: Path) -> None:
        sop = _sop_of(path)
        if sop is None:
            path.unlink()
            return
        path.replace(dest / file_name(sop))
        got.add(sop)
        if tick:
            tick(path)

    for n, study in enumerate(studies):
        folder = dest / f".wado{n}"
        folder.mkdir(exist_ok=True)
        try:
            web.wado_study(pacs.url, study.uid, folder, timeout=pacs.timeout,
                           max_part_bytes=MAX_PART, max_total_bytes=64 * MAX_PART,
                           on_file=arrived)
        except web.DicomWebError as exc:
            raise PeerError(f"the PACS {pacs.name}: {exc}") from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return got


_SOP_UID = 0x00080018
_HEAD = 64 * 1024        # SOP Instance UID is among a data set's first elements


def _sop_of(path: Path) -> str | None:
    """The SOP Instance UID of the data set (not of the file meta, which a peer may set to
    anything): its elements are read up to that one only, from the file's first bytes."""
    stop = lambda tag, _vr, _n: tag > _SOP_UID      # noqa: E731
    try:
        with open(path, "rb") as fp:
            head = fp.read(_HEAD)
            try:
                ds = read_partial(io.BytesIO(head), stop_when=stop)
            except (InvalidDicomError, ValueError, EOFError, KeyError, OverflowError):
                ds = None
            if ds is None or "SOPInstanceUID" not in ds:      # a long header: read on
                fp.seek(0)
                ds = read_partial(fp, stop_when=stop)
    except (InvalidDicomError, ValueError, EOFError, OSError, KeyError, OverflowError):
        return None
    sop = ds.get("SOPInstanceUID")
    return str(sop) if is_uid(sop) else None
