"""Which writer writes a medium at this station: the configured drives and sticks, and the
image folder (media.type "iso"). The writers themselves are the Writer base (writer.py) and its
backends: optical.py (xorriso drives), usb.py (USB sticks), images.py (the image folder)."""

from __future__ import annotations

from pathlib import Path

from burner.config import Config, DriveConfig
from burner.errors import JobHeld, Reason
from burner.media.electronic import ELECTRONIC, FolderWriter, ZipWriter
from burner.media.images import IMAGES, ImageFolderWriter
from burner.media.kinds import KINDS, written_by
from burner.media.optical import OpticalWriter
from burner.media.usb import UsbWriter
from burner.media.writer import Writer, WriterStatus

__all__ = ["IMAGES", "no_writer", "served_media", "statuses", "takes", "writer_for",
           "writer_of", "writer_status", "writers"]


def takes(drive: DriveConfig, media: str) -> bool:
    """Can this configured writer take a job planned for `media`?"""
    return drive.media == media


def served_media(config: Config) -> frozenset[str]:
    """Every medium some writer of this station takes: its drives', the image folder's, and
    sending to another hospital when a destination is configured."""
    sends = frozenset({"dicom"}) if config.raw.get("destinations") else frozenset()
    return (frozenset(d.media for d in config.drives) | written_by(IMAGES) | sends
            | written_by(ELECTRONIC))


def portal_dir(config: Config) -> Path:
    """Where electronic copies are put for the patient portal (`[media] portal_dir`)."""
    value = Path(str(config.raw.get("media", {}).get("portal_dir", "portal")))
    return value if value.is_absolute() else config.data_dir / value


def writer_of(config: Config, drive: DriveConfig, job_id: str = "") -> Writer:
    """The writer of one configured drive, robot or stick; its tray is media/<job_id>/."""
    tray = config.media_dir / job_id
    if drive.robot == "epson":
        from burner.media.tdbridge import TdBridgeWriter

        return TdBridgeWriter(drive, tray, job_id)
    if drive.robot == "primera":
        from burner.media.ptburn import PtBurnWriter

        return PtBurnWriter(drive, tray, job_id)
    if KINDS[drive.media].writer == "usb":
        return UsbWriter(drive.name, drive.device, tray)
    return OpticalWriter(drive, config.xorriso, tray)


def writer_for(config: Config, media: str, job_id: str, name: str | None = None,
               destination: str = "", trees: dict | None = None) -> Writer:
    """The writer a job's medium goes to: the named one (the lane's), else the first that
    takes the medium; JobHeld (no_writer) when none does. A send goes to `destination`,
    from the staged volume `trees` (index -> folder)."""
    if media == "dicom":
        from burner.errors import ConfigError
        from burner.media.send import DicomSendWriter

        try:
            return DicomSendWriter(config, destination, trees or {})
        except ConfigError as exc:
            raise JobHeld(f"The images cannot be sent: {exc}. Ask a technician.",
                          code=Reason.NO_WRITER) from None
    if media in written_by(IMAGES):
        return ImageFolderWriter(config.images_dir / job_id)
    if media in written_by(ELECTRONIC):
        writer = ZipWriter if media == "zip" else FolderWriter
        return writer(portal_dir(config) / job_id, job_id, len(trees or {}) or 1)
    for drive in config.drives:
        if (name is None or drive.name == name) and takes(drive, media):
            return writer_of(config, drive, job_id)
    raise no_writer(media)


def no_writer(media: str) -> JobHeld:
    """The hold of a job whose medium no writer of this station takes."""
    return JobHeld(f"No writer for a {media.upper()} is set up at this station. Ask a "
                   "technician to configure one, or change media.type for this job and retry.",
                   code=Reason.NO_WRITER)


def writers(config: Config) -> list[Writer]:
    """Every writer of this station: one per configured drive or stick, then the image folder."""
    return [*(writer_of(config, d) for d in config.drives), ImageFolderWriter(config.images_dir)]


def statuses(config: Config) -> list[WriterStatus]:
    """How each writer of this station stands now (for the web app's board)."""
    return [w.status() for w in writers(config)]


def writer_status(config: Config, drive: DriveConfig) -> tuple[bool, str]:
    """(usable, what is in it) for `burner drives` and `burner doctor`."""
    status = writer_of(config, drive).status()
    return status.ok, status.words
