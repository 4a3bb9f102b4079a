"""Errors split by who is at fault; each knows its CLI exit code (DESIGN.md section 6) and
carries a reason code beside its words (`Reason`), so that the status, the web app and the
records can sort and count problems without reading sentences."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """What kind of problem a reason describes. The words say it to people; the code is for
    programs (filters, counts, icons) and never changes meaning once released."""

    STATION = "STATION"                  # the station itself cannot go on (lock, disk, db)
    CONFIG = "CONFIG"                    # the station's configuration is wrong
    NO_SUCH_JOB = "NO_SUCH_JOB"
    BAD_REQUEST = "BAD_REQUEST"          # an operator's command or option is wrong
    INVALID_JOB = "INVALID_JOB"          # job.json or the job folder is not valid
    INCOMPLETE = "INCOMPLETE"            # the copy into the spool did not finish
    DUPLICATE_ID = "DUPLICATE_ID"
    WRONG_PATIENT = "WRONG_PATIENT"      # an object of another patient (or exam)
    DAMAGED_OBJECT = "DAMAGED_OBJECT"    # an object that is not whole DICOM
    CHANGED_INPUT = "CHANGED_INPUT"      # inputs changed after they were checked
    NOTHING_TO_WRITE = "NOTHING_TO_WRITE"
    NEEDS_PERSON = "NEEDS_PERSON"        # held for another reason the words give
    NO_WRITER = "NO_WRITER"              # no configured writer takes the job's medium
    TOO_BIG = "TOO_BIG"                  # larger than its medium
    DRIVE_FAULT = "DRIVE_FAULT"          # a drive or stick failed; retried
    MEDIA_MISMATCH = "MEDIA_MISMATCH"    # a medium read back differently
    DEVICE_BUSY = "DEVICE_BUSY"          # another process writes the device: waiting
    DISK_FULL = "DISK_FULL"              # the station's disk has no room: waiting
    PRINTER_FAULT = "PRINTER_FAULT"
    NETWORK = "NETWORK"                  # a DICOM peer (PACS, destination) failed; retried
    INCOMPLETE_FETCH = "INCOMPLETE_FETCH"  # the PACS did not give every image it listed
    FOLDER_GONE = "FOLDER_GONE"          # the job folder left the spool while it ran
    TAKEN_OVER = "TAKEN_OVER"            # another station adopted the job
    CANCELLED = "CANCELLED"
    INTERNAL = "INTERNAL"                # a bug in burner: held at once, trace in the log


class BurnerError(Exception):
    """Base of every error burner raises on purpose; the message is for a person."""

    exit_code = 1
    code = Reason.STATION

    def __init__(self, message: str = "", *, code: Reason | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code


class ConfigError(BurnerError):
    """The station's configuration (burner.toml, a drive, a path) is wrong."""

    exit_code = 2
    code = Reason.CONFIG


class NoSuchJob(BurnerError):
    """An operator named a job the station does not have."""

    exit_code = 2
    code = Reason.NO_SUCH_JOB


class JobRejected(BurnerError):
    """The job or the operator's input is wrong (bad manifest, bad path, bad option)."""

    exit_code = 2
    code = Reason.INVALID_JOB


class JobCancelled(JobRejected):
    """An operator cancelled the job."""

    code = Reason.CANCELLED


class JobHeld(BurnerError):
    """The job needs a person before it may go on (e.g. a file of another patient)."""

    exit_code = 3
    code = Reason.NEEDS_PERSON

    def __init__(self, message: str, details: list[str] | None = None, *,
                 code: Reason | None = None):
        super().__init__(message, code=code)
        self.details = list(details or [])


class JobFolderGone(JobHeld):
    """The job's folder left the spool while the job ran: stop, and never make it again."""

    code = Reason.FOLDER_GONE


class DeviceError(BurnerError):
    """A drive, stick or printer failed; the job may be retried on the next attempt."""

    exit_code = 1
    code = Reason.DRIVE_FAULT


class PeerError(DeviceError):
    """A DICOM peer (a PACS, another hospital) could not be reached or refused: retried on
    the next attempt like a drive fault, then held."""

    code = Reason.NETWORK


class DeviceBusy(DeviceError):
    """Another process is writing the device: the job waits, without using up an attempt."""

    wait_seconds = 1.0
    code = Reason.DEVICE_BUSY


class MediaMismatch(DeviceError):
    """What was read back from a medium differs from what was written."""

    code = Reason.MEDIA_MISMATCH

    def __init__(self, message: str, files: list[str] | None = None, *,
                 code: Reason | None = None):
        super().__init__(message, code=code)
        self.files = list(files or [])


class InternalError(BurnerError):
    """A bug in burner itself."""

    exit_code = 1
    code = Reason.INTERNAL


def os_error_words(exc: OSError) -> str:
    """A file-system failure as one line a person can act on."""
    import errno

    where = exc.filename or "a file"
    if exc.errno == errno.ENOSPC:
        return (f"the disk holding {where} is full. Free some space (burner cleanup deletes "
                "the work files of finished jobs), then try again.")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"burner may not use {where} (permission denied); check who owns it."
    if exc.errno == errno.EROFS:
        return f"{where} is on a read-only file system; burner needs to write there."
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return f"{where}: a file stands where burner needs a folder; move it away."
    return f"{where}: {exc.strerror or exc}"
