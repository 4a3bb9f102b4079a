"""Where log records go: burner's own one-line messages to the console, everything to the log.

Third-party libraries (pydicom's decoders, pikepdf, watchdog, Python warnings) log tracebacks
and warnings about the files they are given. A person at the station needs burner's reason
("pixel data could not be decoded"), not a decoder's traceback, so those records are demoted to
debug level: they never reach the console, and reach the log file only when `[logging] level`
is "debug" (they may quote values from the files, so not by default: DESIGN.md section 11).
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import sys
from pathlib import Path

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_OURS = "burner"
_LOG_BYTES = 10 * 1024 * 1024
_LOG_BACKUPS = 5


def is_ours(record: logging.LogRecord) -> bool:
    return record.name == _OURS or record.name.startswith(_OURS + ".")


class Demote(logging.Filter):
    """Passes burner's records at or above `level`; third-party ones only as debug records,
    and only when `level` is debug (`console` handlers never pass them)."""

    def __init__(self, level: int, console: bool):
        super().__init__()
        self.level = level
        self.console = console

    def filter(self, record: logging.LogRecord) -> bool:
        if is_ours(record):
            return record.levelno >= self.level
        if self.console or self.level > logging.DEBUG:
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


def _handler(handler: logging.Handler, level: int, console: bool) -> logging.Handler:
    handler.setLevel(logging.NOTSET)     # the filter decides; handler levels see the old level
    handler.addFilter(Demote(level, console))
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.set_name("burner-console" if console else "burner-file")
    return handler


def setup_console(level: int = logging.WARNING) -> None:
    """The console handler (standard error), replacing any earlier one of ours."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "burner-console"]:
        root.removeHandler(old)
        old.close()
    root.addHandler(_handler(logging.StreamHandler(sys.stderr), level, console=True))
    _root_level()
    logging.captureWarnings(True)        # warnings.warn() from libraries: a record, not stderr


def console_level(level: int) -> None:
    for handler in logging.getLogger().handlers:
        if handler.get_name() == "burner-console":
            for f in handler.filters:
                if isinstance(f, Demote):
                    f.level = level
    _root_level()


def _root_level() -> None:
    """The root logger lets through what some handler may want, and no more: debug records
    are not even made unless the log file asks for them (PIL logs every PNG chunk)."""
    root = logging.getLogger()
    wanted = [f.level for h in root.handlers for f in h.filters if isinstance(f, Demote)]
    root.setLevel(min(wanted, default=logging.WARNING))


class _LogFile(logging.handlers.RotatingFileHandler):
    """The log file; when it cannot be written (a full disk) that is said once on stderr, in
    words, instead of a traceback for every record."""

    _failing = False

    def emit(self, record: logging.LogRecord) -> None:
        self._ok = True
        super().emit(record)
        if self._ok:
            self._failing = False

    def close(self) -> None:
        with contextlib.suppress(OSError):   # what was not written is said already
            super().close()

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        self._ok = False
        if self._failing:
            return
        self._failing = True
        exc = sys.exc_info()[1]
        why = getattr(exc, "strerror", None) or exc
        sys.stderr.write(f"burner: cannot write the log file {self.baseFilename} ({why}); "
                         "messages go to the console only until it can be written again\n")


def setup_file(path: Path | None, level: int) -> None:
    """The log file (rotated at 10 MB, five kept); None leaves only the console."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "burner-file"]:
        root.removeHandler(old)
        old.close()
    if path is None:
        _root_level()
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = _LogFile(path, maxBytes=_LOG_BYTES, backupCount=_LOG_BACKUPS,
                           encoding="utf-8")
    except OSError as exc:
        # e.g. `burner status` run by a user who may read the station but not write its log
        _root_level()
        logging.getLogger("burner").warning("cannot write the log file %s (%s); logging to "
                                            "the console only", path, exc.strerror or exc)
        return
    root.addHandler(_handler(handler, level, console=False))
    _root_level()
