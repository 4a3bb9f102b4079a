"""Notices: what needs a person now. A held job, a drive fault, a printer out of paper (or
stopped, or unreachable), a data disk below `[notices] disk_free_below_mb` and a job waiting
longer than `[notices] waiting_minutes` show as a banner on the board; the station service
writes each new one to its log at warning level once, and e-mails it when `[notices] email_to`
is set.

A notice carries job ids, reason codes and burner's own reason words, never patient data nor
the names of a job's files (DESIGN.md section 11): a reason whose words may quote a file name
(a report's path, an unexpected error's text) is told by its code's words instead.

What was announced is kept in the station's database (table `notices`), so a restart of the
station neither announces nor mails the same notice again.
"""

from __future__ import annotations

import logging
import re
import smtplib
import socket
import sqlite3
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING

from burner.config import Config
from burner.errors import ConfigError, Reason
from burner.untrusted import one_line

if TYPE_CHECKING:
    from burner.operations.equipment import Equipment
    from burner.operations.overview import JobInfo, Status

log = logging.getLogger("burner.notices")

KINDS = ("held", "drive fault", "printer", "disk low", "waiting")
MB = 1_000_000                 # as the board shows the free disk
SMTP_TIMEOUT = 10.0
_WORDS_MAX = 300
_KEYS = {"disk_free_below_mb", "waiting_minutes", "email_to", "email_from", "smtp_host",
         "smtp_port", "smtp_starttls", "smtp_user", "smtp_password_file", "check_seconds"}
_ADDRESS = re.compile(r"[^@\s,;<>\"]+@[^@\s,;<>\"]+")
_TABLE = """CREATE TABLE IF NOT EXISTS notices (
    key TEXT PRIMARY KEY, words TEXT NOT NULL, since REAL NOT NULL, mailed INTEGER NOT NULL)"""

# Reasons whose words burner composes from its own sentences, job ids, counts, media and
# devices only (checked where each is raised): their first line may be shown.
_OWN_WORDS = {Reason.WRONG_PATIENT, Reason.DAMAGED_OBJECT, Reason.CHANGED_INPUT,
              Reason.NOTHING_TO_WRITE, Reason.TOO_BIG, Reason.NO_WRITER, Reason.FOLDER_GONE,
              Reason.TAKEN_OVER, Reason.DRIVE_FAULT, Reason.MEDIA_MISMATCH,
              Reason.DEVICE_BUSY, Reason.DISK_FULL, Reason.PRINTER_FAULT}
# The others (a report's path, an unexpected error's text may be in their words) by code.
_CODE_WORDS = {
    Reason.NEEDS_PERSON: "it needs a person; the job's page says why.",
    Reason.INTERNAL: "burner hit an unexpected problem; a technician should look at the log.",
    Reason.INVALID_JOB: "job.json or the job folder is not valid; the job's page says why.",
    Reason.CONFIG: "the station's configuration is wrong; the job's page says why.",
    Reason.STATION: "the station could not go on with it; the job's page says why.",
}
_SOME_WORDS = "the job's page says why."


@dataclass(frozen=True)
class Notice:
    """One thing that needs a person, in words a technician understands."""

    kind: str        # one of KINDS
    key: str         # stable identity: "held:J-12", "drive:dvd1", "printer:labels", "disk"...
    words: str       # one plain sentence, without patient data
    job_id: str = ""


@dataclass(frozen=True)
class NoticeSettings:
    """`[notices]` of the station configuration, checked."""

    disk_free_below_mb: float = 2000.0     # 0: no disk notice
    waiting_minutes: float = 30.0          # 0: no waiting notice
    email_to: tuple[str, ...] = ()         # empty: no e-mail
    email_from: str = ""
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_user: str = ""
    smtp_password_file: Path | None = None
    check_seconds: float = 30.0

    @property
    def mails(self) -> bool:
        return bool(self.email_to)


def _number(table: dict, key: str, default: float, *, above_zero: bool = False) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value \
            or value < 0 or (above_zero and value == 0):
        least = "above 0" if above_zero else "of 0 or more"
        raise ConfigError(f"configuration: [notices] {key} must be a number {least}, "
                          f"not {value!r}")
    return float(value)


def _text(table: dict, key: str, default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value.isprintable():
        raise ConfigError(f"configuration: [notices] {key} must be text on one line")
    return value.strip()


def _addresses(value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(a, str) for a in items):
        raise ConfigError('configuration: [notices] email_to must be a list of e-mail '
                          'addresses, for example ["imaging-it@example.org"], or [] for none')
    out = tuple(a.strip() for a in items if a.strip())
    for address in out:
        if not _ADDRESS.fullmatch(address):
            raise ConfigError(f"configuration: [notices] email_to: {one_line(address)!r} is "
                              "not an e-mail address (name@host)")
    return out


def notice_settings(config: Config) -> NoticeSettings:
    """The [notices] table, checked; ConfigError names what is wrong."""
    table = config.raw.get("notices", {})
    if not isinstance(table, dict):
        raise ConfigError("configuration: [notices] must be a table")
    if "smtp_password" in table:
        raise ConfigError("configuration: [notices] takes no smtp_password; put the password "
                          "in a file only the station may read and name it in "
                          "smtp_password_file")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ConfigError(f"configuration: unknown [notices] setting(s) {unknown}")
    to = _addresses(table.get("email_to", []))
    sender = _text(table, "email_from", "") or f"burner@{socket.gethostname()}"
    if to and not _ADDRESS.fullmatch(sender):
        raise ConfigError(f"configuration: [notices] email_from {sender!r} is not an e-mail "
                          "address (name@host)")
    port = table.get("smtp_port", 25)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"configuration: [notices] smtp_port must be a port number "
                          f"(1 to 65535), not {port!r}")
    starttls = table.get("smtp_starttls", False)
    if not isinstance(starttls, bool):
        raise ConfigError("configuration: [notices] smtp_starttls must be true or false")
    user = _text(table, "smtp_user", "")
    password = _text(table, "smtp_password_file", "")
    if bool(user) != bool(password):
        raise ConfigError("configuration: [notices] needs both smtp_user and "
                          "smtp_password_file, or neither")
    password_file = Path(password).expanduser() if password else None
    if password_file is not None and not password_file.is_absolute():
        password_file = config.data_dir / password_file
    return NoticeSettings(
        disk_free_below_mb=_number(table, "disk_free_below_mb", 2000),
        waiting_minutes=_number(table, "waiting_minutes", 30),
        email_to=to, email_from=sender,
        smtp_host=_text(table, "smtp_host", "localhost") or "localhost",
        smtp_port=port, smtp_starttls=starttls, smtp_user=user,
        smtp_password_file=password_file,
        check_seconds=_number(table, "check_seconds", 30, above_zero=True))


# --- what stands now ----------------------------------------------------------------------


def _short(text: str, limit: int = _WORDS_MAX) -> str:
    text = " ".join(one_line(text).split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " …"


def _first_line(job: JobInfo) -> str:
    """The first line of a job's reason, without reason.txt's own frame (its first and last
    sentence) and without the list of files."""
    frame = (f"Job {one_line(job.job_id)} is on hold", f"Job {one_line(job.job_id)} was not "
             "processed", "When it is sorted out")
    for line in job.reason.splitlines():
        if not line.strip() or line.startswith("  - ") or line.startswith(frame):
            continue
        return line
    return ""


def held_words(job: JobInfo) -> str:
    """ "Job J-12 is held: WRONG_PATIENT — 1 problem(s) were found ..." """
    code = job.reason_code
    first = _first_line(job)
    why = first if code in _OWN_WORDS and first else _CODE_WORDS.get(code, _SOME_WORDS)
    shown = one_line(job.job_id)
    return _short(f"Job {shown} is held: {code} — {why}" if code else f"Job {shown} is held: "
                  f"{why}")


def _is_held(job: JobInfo) -> bool:
    return job.state == "held" or job.folder == "held"


def _waiting_for(job: JobInfo) -> str | None:
    """What a job is waiting for ("approval", "a writer", ...), None if it is not waiting."""
    if _is_held(job) or job.folder in ("rejected", "done"):
        return None
    if job.folder == "pending":
        return "approval (it is in pending/)"
    if job.folder == "approved" and job.phase in ("queued", ""):
        return "the station to take it (it is in approved/)"
    if job.state == "waiting" or job.phase == "waiting":
        return "room on the disk" if job.reason_code == Reason.DISK_FULL else "a writer"
    return None


@contextmanager
def _database(path: Path) -> Iterator[sqlite3.Connection]:
    """The station's database, with the notices table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, timeout=10, isolation_level=None)) as con:
        con.execute(_TABLE)
        yield con


def _taken_in(config: Config, job_ids: list[str]) -> dict[str, float]:
    """When the station took each job in (its database row's `created`)."""
    if not job_ids or not config.db_path.exists():
        return {}
    marks = ",".join("?" * len(job_ids))
    try:
        with closing(sqlite3.connect(config.db_path.as_uri() + "?mode=ro", uri=True,
                                     timeout=10)) as con:
            return dict(con.execute(f"SELECT job_id, created FROM jobs WHERE job_id IN "
                                    f"({marks})", job_ids).fetchall())
    except sqlite3.Error:
        return {}


def _waiting(config: Config, jobs: list[JobInfo], minutes: float, now: float) -> list[Notice]:
    if minutes <= 0:
        return []
    waiting = [(j, what) for j in jobs if (what := _waiting_for(j)) is not None]
    # A job the station took in waits since then; one in pending/ or approved/ since it got
    # there (its folder's time, or when `burner retry` put it back).
    taken = _taken_in(config, [j.job_id for j, what in waiting
                               if j.folder not in ("pending", "approved")])
    out = []
    for job, what in waiting:
        since = taken.get(job.job_id) or job.updated
        if since <= 0 or now - since < minutes * 60:
            continue
        waited = _plural(int((now - since) // 60), "minute")
        shown = one_line(job.job_id)
        words = (f"Job {shown} has waited {waited} for {what}."
                 if job.folder in ("pending", "approved") else
                 f"Job {shown} is waiting for {what}; the station took it in {waited} ago.")
        out.append(Notice("waiting", f"waiting:{job.job_id}", words, job.job_id))
    return out


def _printer_words(queue: str, state: str, words: str) -> str:
    if state == "out of paper":
        return f"Printer queue {queue} is out of paper or labels."
    if state == "stopped":
        return _short(f"Printer queue {queue} is stopped: {words}")
    return _short(f"Printer queue {queue} cannot be reached: {words}")


def current(config: Config, status: Status | None = None, equip: Equipment | None = None,
            *, now: float | None = None, settings: NoticeSettings | None = None,
            ) -> list[Notice]:
    """Every notice that stands now, held jobs first. The board passes the status and
    equipment it already has; ConfigError when [notices] is wrong."""
    settings = settings or notice_settings(config)
    now = time.time() if now is None else now
    if status is None:
        from burner.operations.overview import status as station_status

        status = station_status(config)
    if equip is None:
        from burner.operations.equipment import equipment

        equip = equipment(config, [j.job_id for j in status.jobs if j.folder == "active"])
    out: list[Notice] = []
    seen: set[str] = set()

    def add(notice: Notice) -> None:
        if notice.key not in seen:
            seen.add(notice.key)
            out.append(notice)

    for job in status.jobs:
        if _is_held(job):
            add(Notice("held", f"held:{job.job_id}", held_words(job), job.job_id))
    for writer in equip.writers:
        if writer.state == "fault":
            add(Notice("drive fault", f"drive:{writer.name}",
                       _short(f"Drive {writer.name} has a fault: {writer.words}")))
    for printer in equip.printers:
        if not printer.ok:
            add(Notice("printer", f"printer:{printer.queue}",
                       _printer_words(printer.queue, printer.state, printer.words)))
    limit = settings.disk_free_below_mb
    if limit > 0 and equip.disk_free < limit * MB:
        add(Notice("disk low", "disk",
                   f"The data disk has {equip.disk_free // MB:,} MB free, below the "
                   f"{limit:,.0f} MB set in [notices] disk_free_below_mb."))
    for notice in _waiting(config, status.jobs, settings.waiting_minutes, now):
        add(notice)
    return out


# --- announcing: the log once, e-mail once ------------------------------------------------


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def mail_message(settings: NoticeSettings, station: str,
                 notices: list[tuple[str, str]]) -> EmailMessage:
    """The e-mail listing new notices, (kind, words) each: plain text, no patient data."""
    msg = EmailMessage()
    msg["From"] = settings.email_from
    msg["To"] = ", ".join(settings.email_to)
    msg["Subject"] = f"burner station {one_line(station)}: {_plural(len(notices), 'new notice')}"
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=settings.email_from.rpartition("@")[2] or None)
    body = [f"The burner station {one_line(station)} has {_plural(len(notices), 'new notice')}:",
            ""]
    body += [f"- {kind}: {words}" for kind, words in notices]
    body += ["", "The station's board shows what stands now. This message names no patient: "
             "look at the board or the job's page for details.", ""]
    msg.set_content("\n".join(body))
    return msg


def send_mail(settings: NoticeSettings, msg: EmailMessage) -> None:
    """Send `msg` through [notices] smtp_host; OSError or smtplib.SMTPException on failure."""
    password = ""
    if settings.smtp_user and settings.smtp_password_file is not None:
        password = settings.smtp_password_file.read_text(encoding="utf-8").strip()
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT) as smtp:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_user:
            smtp.login(settings.smtp_user, password)
        smtp.send_message(msg)


def _mail_error_words(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return "the mail server refused smtp_user and its password"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "the mail server refused the addresses in email_to"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"the mail server answered {exc.smtp_code} {one_line(exc.smtp_error)}"
    if isinstance(exc, ConnectionRefusedError):
        return "the mail server refused the connection (is it running?)"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"the mail server did not answer within {SMTP_TIMEOUT:.0f} s"
    if isinstance(exc, OSError) and exc.filename:
        return f"the password file {exc.filename} could not be read ({exc.strerror})"
    return one_line(getattr(exc, "strerror", None) or exc)


class NoticeKeeper:
    """Announces each new notice once (log at warning, e-mail) and each cleared one at info;
    remembers what was announced in the station's database."""

    def __init__(self, config: Config, settings: NoticeSettings | None = None):
        self.config = config
        self.settings = settings or notice_settings(config)

    def check(self, now: float | None = None, *, status: Status | None = None,
              equip: Equipment | None = None) -> list[Notice]:
        """Compare what stands now with what was announced; returns the new notices."""
        now = time.time() if now is None else now
        notices = current(self.config, status, equip, now=now, settings=self.settings)
        standing = {n.key: n for n in notices}
        with _database(self.config.db_path) as con:
            known = {key: words for key, words in con.execute("SELECT key, words FROM notices")}
            new = [n for n in notices if n.key not in known]
            for key in [k for k in known if k not in standing]:
                log.info("cleared: %s", known[key])
                con.execute("DELETE FROM notices WHERE key = ?", (key,))
            for notice in new:
                log.warning("%s", notice.words)
                con.execute("INSERT OR REPLACE INTO notices VALUES (?, ?, ?, 0)",
                            (notice.key, notice.words, now))
            for notice in notices:
                if notice.key in known and known[notice.key] != notice.words:
                    con.execute("UPDATE notices SET words = ? WHERE key = ?",
                                (notice.words, notice.key))
            if self.settings.mails:
                self._mail(con, standing)
        return new

    def _mail(self, con: sqlite3.Connection, standing: dict[str, Notice]) -> None:
        """One e-mail listing every standing notice not mailed yet; on failure a warning,
        and the next check tries again."""
        keys = [k for (k,) in con.execute("SELECT key FROM notices WHERE mailed = 0 "
                                          "ORDER BY since, key") if k in standing]
        if not keys:
            return
        msg = mail_message(self.settings, self.config.station_id,
                           [(standing[k].kind, standing[k].words) for k in keys])
        try:
            send_mail(self.settings, msg)
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            log.warning("could not e-mail %s to %s through %s:%d: %s; trying again at the "
                        "next check", _plural(len(keys), "notice"),
                        ", ".join(self.settings.email_to), self.settings.smtp_host,
                        self.settings.smtp_port, _mail_error_words(exc))
            return
        con.executemany("UPDATE notices SET mailed = 1 WHERE key = ?", [(k,) for k in keys])
        log.info("e-mailed %s to %s", _plural(len(keys), "notice"),
                 ", ".join(self.settings.email_to))


# --- in the station service ---------------------------------------------------------------


def _watch(config: Config, settings: NoticeSettings, stop: threading.Event) -> None:
    keeper = NoticeKeeper(config, settings)
    said = ""
    while not stop.is_set():
        try:
            keeper.check()
            said = ""
        except Exception as exc:  # noqa: BLE001 - notices never stop the station
            words = one_line(exc)
            # The trace once; the same failure again is one line.
            log.warning("could not check for notices: %s; trying again in %.0f s", words,
                        settings.check_seconds, exc_info=words != said)
            said = words
        stop.wait(settings.check_seconds)


def notice_threads(config: Config, stop: threading.Event) -> list[threading.Thread]:
    """The station service's notice thread (not started; it ends when `stop` is set), or none
    when [notices] is wrong: that is logged, and the station serves without notices."""
    try:
        settings = notice_settings(config)
    except ConfigError as exc:
        log.error("%s; the station runs without notices until it is fixed", exc)
        return []
    return [threading.Thread(target=_watch, args=(config, settings, stop), name="notices",
                             daemon=True)]
