"""Notices (burner/notices.py): what raises one, the words (never patient data), announcing
each once in the log and by e-mail to a real local SMTP sink (aiosmtpd), remembering that
across a restart, the board's banner, and the station service raising one for a held job."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import os
import socket
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from conftest import StationDir, make_job_folder, serve, stop, study_patient
from jinja2 import Environment, FileSystemLoader, select_autoescape

from burner import synth
from burner.config import Config, load_config
from burner.errors import ConfigError
from burner.notices import Notice, NoticeKeeper, current, notice_settings
from burner.operations.equipment import Equipment, PrinterView, WriterView
from burner.operations.overview import JobInfo, Status
from burner.spool import Spool

NOW = 1_750_000_000.0
MB = 1_000_000
PATIENT = study_patient()
SECRETS = (PATIENT.id, PATIENT.name, "TESTER", "ROBIN", PATIENT.birth_date)
TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "web"


# --- helpers ----------------------------------------------------------------------------------


def make_config(tmp_path: Path, notices: str = "") -> Config:
    """A station without writers (nothing asks a drive), printing to a folder."""
    data = tmp_path / "data"
    path = tmp_path / "burner.toml"
    path.write_text("drives = []\n[station]\nid = \"noticestation\"\n"
                    f"data_dir = {json.dumps(str(data))}\n[notices]\n{notices}\n",
                    encoding="utf-8")
    return load_config(path)


def job(job_id: str, folder: str, state: str, *, phase: str = "", reason: str = "",
        code: str = "", updated: float = NOW) -> JobInfo:
    return JobInfo(job_id=job_id, folder=folder, state=state, stage="", attempts=0,
                   reason=reason, reason_code=code, copies=0, phase=phase, updated=updated)


def status(*jobs: JobInfo) -> Status:
    return Status(station="noticestation", config="test", spool="spool", queue={},
                  jobs=list(jobs), drives=[], printers=[], disk={})


def equipment(*, writers: tuple[WriterView, ...] = (), printers: tuple[PrinterView, ...] = (),
              free_mb: int = 50_000) -> Equipment:
    return Equipment(list(writers), list(printers), free_mb * MB, 100_000 * MB)


FINE = equipment(writers=(WriterView("dvd1", "dvd", "idle", "blank", "DVD+R, blank"),),
                 printers=(PrinterView("label", "labels", "idle", "printer labels is idle"),))

HELD_REASON = ("1 problem(s) were found with the patient or the exams: nothing of this release "
               "may go on a disc until every file is intact and belongs to the patient and "
               "exams approved. Export the files listed again (or remove them), then retry.")


def troubled() -> tuple[Status, Equipment]:
    """One of each kind of notice."""
    return (status(job("J-12", "held", "held", phase="held", reason=HELD_REASON,
                       code="WRONG_PATIENT"),
                   job("J-9", "active", "waiting", phase="waiting", updated=NOW - 47 * 60),
                   job("J-10", "pending", "pending", phase="queued", updated=NOW - 40 * 60),
                   job("J-11", "approved", "approved", phase="queued", updated=NOW - 5 * 60),
                   job("J-13", "active", "active", phase="writing", updated=NOW - 90 * 60)),
            equipment(writers=(WriterView("dvd1", "dvd", "fault", "", "the drive does not "
                                          "answer (SCSI error)"),
                               WriterView("dvd2", "dvd", "idle", "blank", "DVD+R, blank")),
                      printers=(PrinterView("label", "labels", "out of paper",
                                            "labels is out of paper or labels: media-empty"),
                                PrinterView("cover", "Office", "idle", "Office is idle")),
                      free_mb=420))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """A local SMTP server (aiosmtpd) keeping every message it is sent."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802, ANN001
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(envelope.original_content,
                                                      policy=email.policy.default))
        return "250 OK"

    def start(self) -> Sink:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def settings(self) -> str:
        return (f'email_to = ["imaging-it@example.org", "desk@example.org"]\n'
                f'email_from = "burner@station.example.org"\n'
                f'smtp_host = "127.0.0.1"\nsmtp_port = {self.port}\n')


@pytest.fixture
def sink():
    found = Sink().start()
    try:
        yield found
    finally:
        found.stop()


def notice_records(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "burner.notices" and r.levelno == level]


def held_job(config: Config, job_id: str, reason: str, code: str) -> Path:
    """A job of the test patient in held/, as the pipeline leaves one (reason.txt, code)."""
    spool = Spool(config.spool_dir)
    spool.ensure()
    make_job_folder(spool.path("active", job_id), slices=1)
    spool.move(job_id, "active", "held", reason, code)
    return spool.path("held", job_id)


# --- what raises a notice -----------------------------------------------------------------


def test_each_kind_appears_and_goes_away(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    found = current(config, *troubled(), now=NOW)
    by_key = {n.key: n for n in found}
    assert sorted(by_key) == ["disk", "drive:dvd1", "held:J-12", "printer:labels",
                              "waiting:J-10", "waiting:J-9"]
    assert [n.kind for n in found] == ["held", "drive fault", "printer", "disk low",
                                       "waiting", "waiting"]
    held = by_key["held:J-12"]
    assert held.job_id == "J-12"
    assert held.words.startswith("Job J-12 is held: WRONG_PATIENT — 1 problem(s) were found")
    assert by_key["drive:dvd1"].words == \
        "Drive dvd1 has a fault: the drive does not answer (SCSI error)"
    assert by_key["drive:dvd1"].job_id == ""
    assert by_key["printer:labels"].words == "Printer queue labels is out of paper or labels."
    assert by_key["disk"].words == ("The data disk has 420 MB free, below the 2,000 MB set in "
                                    "[notices] disk_free_below_mb.")
    assert by_key["waiting:J-9"].words == ("Job J-9 is waiting for a writer; the station took "
                                           "it in 47 minutes ago.")
    assert by_key["waiting:J-10"].words == \
        "Job J-10 has waited 40 minutes for approval (it is in pending/)."
    for notice in found:
        assert notice.kind in ("held", "drive fault", "printer", "disk low", "waiting")
        assert "\n" not in notice.words and len(notice.words) <= 310

    # All well again: no notice.
    assert current(config, status(job("J-12", "done", "done", phase="done")), FINE,
                   now=NOW) == []


def test_thresholds_come_from_the_configuration(tmp_path: Path) -> None:
    config = make_config(tmp_path, "disk_free_below_mb = 0\nwaiting_minutes = 60\n")
    kinds = {n.kind for n in current(config, *troubled(), now=NOW)}
    assert kinds == {"held", "drive fault", "printer"}
    config = make_config(tmp_path, "disk_free_below_mb = 100\nwaiting_minutes = 45\n")
    keys = {n.key for n in current(config, *troubled(), now=NOW)}
    assert "disk" not in keys and "waiting:J-9" in keys and "waiting:J-10" not in keys


def test_a_stopped_or_unreachable_printer_is_a_notice_once_per_queue(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    equip = equipment(printers=(PrinterView("cover", "Office", "stopped", "printer Office "
                                            "disabled since Mon"),
                                PrinterView("insert", "Office", "stopped", "printer Office "
                                            "disabled since Mon"),
                                PrinterView("label", "Labels", "unreachable",
                                            "the print server gave no answer")))
    found = current(config, status(), equip, now=NOW)
    assert [(n.key, n.words) for n in found] == [
        ("printer:Office", "Printer queue Office is stopped: printer Office disabled since Mon"),
        ("printer:Labels", "Printer queue Labels cannot be reached: the print server gave no "
                           "answer")]


def test_words_name_no_patient_and_no_file(tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    """Held jobs read from the real spool: reason.txt lists the files, and a report's reason
    quotes its file name (here one named after the patient); the notices say neither."""
    config = make_config(tmp_path)
    wrong = held_job(config, "H1", "\n".join([
        "Job H1 is on hold and was NOT written to any disc.", "", HELD_REASON,
        "  - dicom/SE001/IM00001.dcm: a different patient ID and a different patient name",
        "", "When it is sorted out, run: burner retry H1"]), "WRONG_PATIENT")
    report = held_job(config, "H2", "\n".join([
        "Job H2 is on hold and was NOT written to any disc.", "",
        "reports/TESTER_ROBIN_BRN0042.pdf: the report is larger than 100 MB, the most a report "
        "may be.", "", "When it is sorted out, run: burner retry H2"]), "NEEDS_PERSON")
    assert PATIENT.name in (wrong / "job.json").read_text()
    caplog.set_level(logging.INFO, logger="burner.notices")
    new = NoticeKeeper(config).check(equip=FINE)
    words = {n.key: n.words for n in new}
    assert words == {
        "held:H1": "Job H1 is held: WRONG_PATIENT — " + HELD_REASON,
        "held:H2": "Job H2 is held: NEEDS_PERSON — it needs a person; the job's page says why.",
    }
    logged = " ".join(r.getMessage() for r in caplog.records)
    for text in [*(n.words for n in new), logged]:
        for secret in (*SECRETS, "IM00001", "dicom/", "reports/", ".pdf"):
            assert secret not in text
    assert report.is_dir()


# --- announcing -----------------------------------------------------------------------------


def test_keeper_logs_each_notice_once_clears_it_and_remembers_across_a_restart(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = make_config(tmp_path)
    caplog.set_level(logging.INFO, logger="burner.notices")
    keeper = NoticeKeeper(config)
    new = keeper.check(NOW, status=troubled()[0], equip=troubled()[1])
    assert len(new) == 6
    warned = notice_records(caplog, logging.WARNING)
    assert warned == [n.words for n in new]

    caplog.clear()
    assert keeper.check(NOW + 30, status=troubled()[0], equip=troubled()[1]) == []
    assert notice_records(caplog, logging.WARNING) == []

    # The station restarts: nothing is announced again.
    caplog.clear()
    assert NoticeKeeper(config).check(NOW + 60, status=troubled()[0], equip=troubled()[1]) == []
    assert notice_records(caplog, logging.WARNING) == []

    # The drive is mended and the held job retried: both cleared, at info, once.
    stat, _ = troubled()
    still = status(*[j for j in stat.jobs if j.job_id != "J-12"])
    mended = equipment(printers=troubled()[1].printers, free_mb=420)
    caplog.clear()
    assert NoticeKeeper(config).check(NOW + 90, status=still, equip=mended) == []
    cleared = notice_records(caplog, logging.INFO)
    assert len(cleared) == 2
    assert any("Job J-12 is held" in line for line in cleared)
    assert any("Drive dvd1 has a fault" in line for line in cleared)
    caplog.clear()
    NoticeKeeper(config).check(NOW + 120, status=still, equip=mended)
    assert notice_records(caplog, logging.INFO) == []

    # Held again later: a new notice.
    caplog.clear()
    again = NoticeKeeper(config).check(NOW + 150, status=troubled()[0], equip=mended)
    assert [n.key for n in again] == ["held:J-12"]
    assert notice_records(caplog, logging.WARNING) == [again[0].words]


# --- settings -------------------------------------------------------------------------------


def test_settings_defaults_and_checks(tmp_path: Path) -> None:
    settings = notice_settings(make_config(tmp_path))
    assert (settings.disk_free_below_mb, settings.waiting_minutes, settings.email_to,
            settings.smtp_host, settings.smtp_port, settings.smtp_starttls,
            settings.check_seconds) == (2000, 30, (), "localhost", 25, False, 30)
    assert not settings.mails
    settings = notice_settings(make_config(tmp_path, 'smtp_user = "burner"\n'
                                           'smtp_password_file = "smtp.password"\n'))
    assert settings.smtp_password_file == tmp_path / "data" / "smtp.password"
    for bad, words in [
        ("waiting_minutes = -1", "waiting_minutes must be a number of 0 or more"),
        ('disk_free_below_mb = "lots"', "disk_free_below_mb must be a number"),
        ("check_seconds = 0", "check_seconds must be a number above 0"),
        ('email_to = ["not an address"]', "is not an e-mail address"),
        ("email_to = 5", "email_to must be a list of e-mail addresses"),
        ('email_to = ["a@b.org"]\nemail_from = "nobody"', "email_from 'nobody' is not"),
        ("smtp_port = 70000", "smtp_port must be a port number"),
        ('smtp_starttls = "yes"', "smtp_starttls must be true or false"),
        ('smtp_user = "burner"', "needs both smtp_user and smtp_password_file"),
        ('smtp_password = "secret"', "takes no smtp_password"),
        ("email_too = []", "unknown [notices] setting(s) ['email_too']"),
    ]:
        with pytest.raises(ConfigError) as caught:
            notice_settings(make_config(tmp_path, bad))
        assert words in str(caught.value), bad
        assert "secret" not in str(caught.value)


# --- e-mail -----------------------------------------------------------------------------------


def test_new_notices_are_mailed_once_and_a_failed_mail_is_sent_later(
        tmp_path: Path, sink: Sink, caplog: pytest.LogCaptureFixture) -> None:
    config = make_config(tmp_path, sink.settings() + "disk_free_below_mb = 10000000\n")
    held_job(config, "H1", "\n".join([
        "Job H1 is on hold and was NOT written to any disc.", "", HELD_REASON,
        "  - dicom/SE001/IM00001.dcm: a different patient ID", "",
        "When it is sorted out, run: burner retry H1"]), "WRONG_PATIENT")
    caplog.set_level(logging.INFO, logger="burner.notices")
    keeper = NoticeKeeper(config)
    new = keeper.check()            # the real status and equipment of this station
    assert sorted(n.key for n in new) == ["disk", "held:H1"]
    (msg,) = sink.messages
    assert msg["From"] == "burner@station.example.org"
    assert msg["To"] == "imaging-it@example.org, desk@example.org"
    assert msg["Subject"] == "burner station noticestation: 2 new notices"
    assert sink.envelopes == [("burner@station.example.org",
                               ["imaging-it@example.org", "desk@example.org"])]
    assert msg.get_content_type() == "text/plain"
    body = msg.get_content()
    assert "Job H1 is held: WRONG_PATIENT" in body and "The data disk has" in body
    for secret in (*SECRETS, "IM00001"):
        assert secret not in msg.as_string()

    # Nothing new: nothing sent.
    assert keeper.check() == []
    assert len(sink.messages) == 1

    # The mail server is down: a warning, no exception; the next check sends it.
    sink.stop()
    held_job(config, "H2", "Job H2 is on hold and was NOT written to any disc.\n\nNo DICOM "
             "images were found in this job, so there is nothing to put on a disc.",
             "NOTHING_TO_WRITE")
    caplog.clear()
    assert [n.key for n in keeper.check()] == ["held:H2"]
    (warning,) = [w for w in notice_records(caplog, logging.WARNING) if "e-mail" in w]
    assert warning.startswith("could not e-mail 1 notice to imaging-it@example.org, "
                              "desk@example.org through 127.0.0.1:")
    assert "trying again at the next check" in warning
    assert "Traceback" not in caplog.text

    again = Sink(sink.port).start()
    try:
        assert NoticeKeeper(config).check() == []      # after a restart, too
        (late,) = again.messages
        assert late["Subject"] == "burner station noticestation: 1 new notice"
        assert "Job H2 is held: NOTHING_TO_WRITE — No DICOM images were found" in \
            late.get_content()
        assert "Job H1" not in late.get_content()
        NoticeKeeper(config).check()
        assert len(again.messages) == 1
    finally:
        again.stop()


def test_mail_login_and_a_missing_password_file(tmp_path: Path, sink: Sink,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """A password file that cannot be read is said in words; the notice waits for the mail."""
    config = make_config(tmp_path, sink.settings() + 'smtp_user = "burner"\n'
                         'smtp_password_file = "missing.password"\n')
    caplog.set_level(logging.INFO, logger="burner.notices")
    keeper = NoticeKeeper(config)
    keeper.check(NOW, status=troubled()[0], equip=FINE)
    assert sink.messages == []
    (warning,) = notice_records(caplog, logging.WARNING)[-1:]
    assert "the password file" in warning and "missing.password" in warning


# --- the board's banner ---------------------------------------------------------------------


def test_banner_lists_notices_with_links_and_nothing_when_none() -> None:
    pages = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                        autoescape=select_autoescape(default=True, default_for_string=True))
    banner = pages.get_template("_notices.html")
    assert banner.render(notices=[]).strip() == ""
    html = banner.render(notices=[
        Notice("held", "held:J-12", "Job J-12 is held: WRONG_PATIENT — <b>x</b>", "J-12"),
        Notice("disk low", "disk", "The data disk has 420 MB free.")])
    assert '<section class="notices" role="alert" aria-label="Notices">' in html
    assert html.count("<li") == 2
    assert '<a href="/jobs/J-12">Job J-12 is held: WRONG_PATIENT — &lt;b&gt;x&lt;/b&gt;</a>' \
        in html
    assert "The data disk has 420 MB free." in html and html.count("<a ") == 1
    assert "style=" not in html
    css = (TEMPLATES / "static" / "board.css").read_text()
    assert ".notices" in css and ".notice-kind" in css


# --- the station service ----------------------------------------------------------------------


def _wait_for(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.mark.slow
def test_service_announces_a_held_job_in_its_log_and_by_mail(station: StationDir,
                                                            sink: Sink,
                                                            tmp_path: Path) -> None:
    """`burner run` with [notices] check_seconds = 1: a job with a file of another patient is
    held; the service's log has the warning and the sink the mail, neither naming a patient."""
    with open(station.config, "a", encoding="utf-8") as fp:
        fp.write("[notices]\ncheck_seconds = 1\ndisk_free_below_mb = 0\n" + sink.settings())
    # Made whole in incoming/ first, then renamed into approved/ as a producer does.
    staging = station.folder("incoming") / "N1"
    make_job_folder(staging)
    stranger = synth.Patient(id="XQ998877", name="QUIMBY^XAVERIUS", birth_date="19440102",
                             sex="M")
    target = staging / "dicom" / "SE001" / "IM00003.dcm"
    synth.rewrite_patient(target, stranger, target.with_name("rewritten.tmp"))
    os.replace(target.with_name("rewritten.tmp"), target)
    log = tmp_path / "service.log"
    proc = serve(station, log)
    try:
        station.folder("approved").mkdir(parents=True, exist_ok=True)
        os.rename(staging, station.folder("approved") / "N1")

        def mailed() -> bool:
            return any("Job N1 is held" in m.get_content() for m in sink.messages)

        assert _wait_for(mailed, 90), log.read_text()
        assert station.where("N1") == ["held"]
        assert _wait_for(lambda: "WARNING burner.notices: Job N1 is held: WRONG_PATIENT"
                         in log.read_text(), 10), log.read_text()
    finally:
        stop(proc)
    text = log.read_text()
    assert text.count("WARNING burner.notices: Job N1 is held") == 1
    assert "Traceback" not in text
    (msg,) = [m for m in sink.messages if "Job N1 is held" in m.get_content()]
    assert msg["Subject"].startswith("burner station teststation: ")
    for secret in (*SECRETS, stranger.id, stranger.name, "QUIMBY", "IM00003"):
        assert secret not in msg.as_string()
        assert secret not in text
