"""Errors split by who is at fault; each knows its CLI exit code (DESIGN.md section 6)."""


class BurnerError(Exception):
    """Base of every error burner raises on purpose; the message is for a person."""

    exit_code = 1


class JobRejected(BurnerError):
    """The job or the operator's input is wrong (bad manifest, bad path, bad option)."""

    exit_code = 2


class JobCancelled(JobRejected):
    """An operator cancelled the job."""


class JobHeld(BurnerError):
    """The job needs a person before it may go on (e.g. a file of another patient)."""

    exit_code = 3

    def __init__(self, message: str, details: list[str] | None = None):
        super().__init__(message)
        self.details = list(details or [])


class JobFolderGone(JobHeld):
    """The job's folder left the spool while the job ran: stop, and never make it again."""


class DeviceError(BurnerError):
    """A drive, stick or printer failed; the job may be retried on the next attempt."""

    exit_code = 1


class DeviceBusy(DeviceError):
    """Another process is writing the device: the job waits, without using up an attempt."""

    wait_seconds = 1.0


class MediaMismatch(DeviceError):
    """What was read back from a medium differs from what was written."""

    def __init__(self, message: str, files: list[str] | None = None):
        super().__init__(message)
        self.files = list(files or [])


class InternalError(BurnerError):
    """A bug in burner itself."""

    exit_code = 1
