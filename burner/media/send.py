"""The DICOM destination writer: "send to another hospital" (media.type "dicom"). A copy is
every DICOM object of a staged volume, sent by C-STORE to the configured destination, and
proven there like a disc is read back: by storage commitment when the destination supports it
(`commitment = true`), else by asking it (C-FIND) for every object sent. What is sent is the
volume as staged, the same canonical objects a disc of the job would hold."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

from pydicom import dcmread

from burner.config import Config
from burner.errors import MediaMismatch, PeerError
from burner.media.writer import READY, Writer, WriterStatus

log = logging.getLogger("burner.network")
NETWORK = "network"
_LABEL = re.compile(r"disc(\d+)-copy\d+")
STOW_BATCH = 50       # objects per STOW-RS request


def volume_objects(tree: Path) -> tuple[list[tuple[Path, str, str, str]], set[str]]:
    """(path, SOP Class UID, SOP Instance UID, transfer syntax) of each object under DICOM/ of
    a staged volume (burner's own canonical files), and the Study Instance UIDs they hold."""
    out, studies = [], set()
    for path in sorted((tree / "DICOM").rglob("*")):
        if path.is_file():
            ds = dcmread(path, stop_before_pixels=True,
                         specific_tags=["SOPClassUID", "SOPInstanceUID", "StudyInstanceUID"])
            out.append((path, str(ds.SOPClassUID), str(ds.SOPInstanceUID),
                        str(ds.file_meta.TransferSyntaxUID)))
            studies.add(str(ds.StudyInstanceUID))
    return out, studies


class DicomSendWriter(Writer[int]):
    """Sends a staged volume to `[destinations.NAME]`; `trees` maps volume index -> tree."""

    media = "dicom"

    def __init__(self, config: Config, destination: str, trees: dict[int, Path]):
        from burner.network.settings import dicom_settings

        self.config = config
        self.settings = dicom_settings(config)
        self.remote = self.settings.destination_named(destination)
        self.name = f"{NETWORK}:{destination}"
        self.device = ""                   # nothing to lock: a destination takes many
        self.address = f"{self.remote.ae_title}@{self.remote.where}"
        self.trees = trees

    def write_copy(self, image: Path, size: int, sha256: str, label: str,
                   after_burn: Callable[[], None] | None = None,
                   progress: Callable[[int], None] | None = None) -> str:
        from burner.network import scu

        match = _LABEL.fullmatch(label)
        tree = self.trees.get(int(match.group(1))) if match else None
        if tree is None:
            raise PeerError(f"there is no staged volume for {label}")
        objects, studies = volume_objects(tree)
        sizes = [p.stat().st_size for p, *_ in objects]
        total = sum(sizes)

        def sent(n: int) -> None:
            if progress:
                progress(int(size * sum(sizes[:n]) / total) if total else size)

        if self.remote.send == "stow":
            refused = self._stow(objects, sent)
        else:
            refused = scu.send(self.settings, self.remote, objects, sent)
        if refused:
            raise PeerError(f"{self.remote.name} ({self.remote.where}) refused "
                            f"{len(refused)} of {len(objects)} images; the send will be tried "
                            "again")
        if after_burn:
            after_burn()
        self._confirm(objects, studies)
        log.info("sent %d objects to %s", len(objects), self.address)
        return self.address

    def _stow(self, objects: list[tuple[Path, str, str, str]],
              sent: Callable[[int], None]) -> list[str]:
        """STOW-RS in requests of at most STOW_BATCH objects; the SOP Instance UIDs refused."""
        from burner.network import dicomweb

        refused = []
        for start in range(0, len(objects), STOW_BATCH):
            batch = objects[start:start + STOW_BATCH]
            try:
                result = dicomweb.stow(self.remote.url, [p for p, *_ in batch],
                                       timeout=self.remote.timeout)
            except dicomweb.DicomWebError as exc:
                raise PeerError(f"{self.remote.name}: {exc}") from None
            stored = set(result.stored)
            refused += [sop for _, _, sop, _ in batch if sop not in stored]
            sent(start + len(batch))
        return refused

    def _confirm(self, objects: list[tuple[Path, str, str, str]], studies: set[str]) -> None:
        """MediaMismatch unless the destination holds every object sent."""
        from burner.network import scu
        from burner.network.fetch import find

        wanted = {sop for _, _, sop, _ in objects}
        if self.remote.commitment:
            missing = scu.commit(self.settings, self.remote,
                                 [(cls, sop) for _, cls, sop, _ in objects])
            how = "did not commit to keeping"
        else:
            # asked the way the objects went: QIDO-RS after STOW-RS, else C-FIND
            found = find(self.settings, self.remote, study_uids=tuple(sorted(studies)),
                         web=self.remote.send == "stow")
            held = {i.sop_uid for s in found for i in s.instances}
            missing = sorted(wanted - held)
            how = "does not list"
        if missing:
            raise MediaMismatch(f"{self.remote.name} {how} {len(missing)} of the "
                                f"{len(wanted)} images sent; the send will be tried again",
                                missing[:50])

    def status(self) -> WriterStatus:
        return WriterStatus(self.name, self.address, self.media, READY,
                            f"sends to {self.remote.name}")
