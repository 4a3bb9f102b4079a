"""The command line's wiring (issue 10), in process and fast: every command parses its options,
calls its operation (burner/operations) and prints the result; exit codes come from the
errors, at the one edge (cli.main). Operations that burn, build or print are replaced by
stand-ins here: what they do is the business of the station tests."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from burner import cli
from burner.errors import (
    ConfigError,
    DeviceError,
    JobHeld,
    JobRejected,
    NoSuchJob,
    Reason,
)
from burner.operations import control, intake, overview, prints, upkeep
from burner.retention import Expired

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Ran:
    code: int
    out: str
    err: str


Burner = Callable[..., Ran]


@pytest.fixture
def station_config(tmp_path: Path) -> Path:
    config = tmp_path / "burner.toml"
    data = tmp_path / "data"
    config.write_text("\n".join([
        "[station]", 'id = "clistation"', f"data_dir = {json.dumps(str(data))}",
        "[[drives]]", 'name = "drive0"', 'device = "stdio:drives/drive0.img"',
        'media = "dvd"', ""]), encoding="utf-8")
    return config


@pytest.fixture
def invoke(station_config: Path) -> Iterator[Burner]:
    """Run `burner ARGS` in this process (cli.main, the edge included) on a station in
    tmp_path; the process's logging and umask are put back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    mask = os.umask(0o077)
    os.umask(mask)
    env = {"BURNER_CONFIG": str(station_config), "BURNER_HOME": None,
           "BURNER_PAUSE_AT": None}

    def run(*args: str) -> Ran:
        runner = CliRunner()
        with runner.isolation(env=env) as (out, err, _):
            try:
                cli.main(list(args))
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        return Ran(code, out.getvalue().decode(), err.getvalue().decode())

    yield run
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    logging.captureWarnings(False)
    os.umask(mask)


def _fake(monkeypatch: pytest.MonkeyPatch, module: object, name: str,
          result: object = None, error: BaseException | None = None) -> list[tuple]:
    """Replace module.name by a stand-in that records its arguments and returns `result`
    (or raises `error`)."""
    calls: list[tuple] = []

    def stand_in(*args: object, **kwargs: object) -> object:
        calls.append((args[1:], kwargs))      # args[0] is the Config
        if error is not None:
            raise error
        return result

    monkeypatch.setattr(module, name, stand_in)
    return calls


# --- start-up ---------------------------------------------------------------------------------


def test_version_and_help_load_no_pipeline() -> None:
    """`burner --version` and `--help` import click and burner's errors, not the pipeline,
    pydicom, jsonschema or reportlab (DESIGN.md section 6: they answer at once)."""
    probe = ("import sys\nfrom burner import cli\n"
             "for args in (['--version'], ['--help'], ['retry', '--help']):\n"
             "    cli.main(args)\n"
             "heavy = ('burner.pipeline', 'burner.config', 'burner.spool', 'burner.state',\n"
             "         'pydicom', 'jsonschema', 'reportlab', 'numpy')\n"
             "print('LOADED', [m for m in heavy if m in sys.modules])\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "burner, version" in proc.stdout and "Usage: burner" in proc.stdout
    assert "LOADED []" in proc.stdout, proc.stdout


def test_version_help_and_usage_errors(invoke: Burner) -> None:
    ran = invoke("--version")
    assert ran.code == 0 and ran.out.startswith("burner, version ")
    ran = invoke("--help")
    assert ran.code == 0
    for command in ("adopt", "approve", "build", "cancel", "cleanup", "demo", "doctor",
                    "drives", "init", "recover", "reprint", "retry", "run", "schema",
                    "status", "submit", "verify"):
        assert re.search(rf"^\s+{command}\s", ran.out, re.M), command
    ran = invoke("retry")
    assert ran.code == 2 and "Missing argument 'JOB_ID'" in ran.err
    ran = invoke("retry", ".hidden")
    assert ran.code == 2 and "A job id must start with a letter or digit" in ran.err
    ran = invoke("no-such-command")
    assert ran.code == 2 and "No such command" in ran.err


def test_no_exit_code_is_made_outside_the_edge() -> None:
    """sys.exit and SystemExit appear in cli.main only (and in the PDF sanitiser's child
    process, which is a program of its own)."""
    allowed = {Path("burner/cli.py"), Path("burner/content/pdfsafe.py")}
    found = [p.relative_to(ROOT) for p in (ROOT / "burner").rglob("*.py")
             if re.search(r"sys\.exit\(|SystemExit", p.read_text(encoding="utf-8"))]
    assert set(found) <= allowed, found
    text = (ROOT / "burner" / "cli.py").read_text(encoding="utf-8")
    edge = text[text.index("def main("):]
    assert text.count("sys.exit(") == edge.count("sys.exit(")


# --- the edge: errors to exit codes -------------------------------------------------------------


@pytest.mark.parametrize(("error", "code"), [
    (NoSuchJob("there is no job called X1"), 2),
    (JobRejected("job X1 is in done/ and cannot be retried", code=Reason.BAD_REQUEST), 2),
    (ConfigError("configuration: [job] max_attempts must be a whole number"), 2),
    (JobHeld("held for a person"), 3),
    (DeviceError("drive drive0 is not there"), 1),
    (OSError(28, "No space left on device", "/data/spool"), 1),
])
def test_errors_become_exit_codes_and_one_line(invoke: Burner, monkeypatch, error: Exception,
                                               code: int) -> None:
    _fake(monkeypatch, control, "retry", error=error)
    ran = invoke("retry", "X1")
    assert ran.code == code, ran
    assert ran.out == ""
    (line,) = ran.err.splitlines()
    assert line.startswith("burner: ") and "Traceback" not in ran.err
    if isinstance(error, OSError):
        assert "the disk holding /data/spool is full" in line
    else:
        assert str(error) in line


def test_a_configuration_error_is_exit_2(invoke: Burner, station_config: Path) -> None:
    station_config.write_text('[job]\nmax_attempts = "many"\n', encoding="utf-8")
    ran = invoke("status")
    assert ran.code == 2
    assert "[job] max_attempts must be a whole number" in ran.err
    station_config.write_text('[[drives]]\nmedia = "dvd"\n', encoding="utf-8")
    ran = invoke("status")
    assert ran.code == 2 and "every [[drives]] entry needs a device" in ran.err


# --- real operations that burn nothing --------------------------------------------------------


def test_submit_approve_status_cancel_retry(invoke: Burner, tmp_path: Path) -> None:
    ran = invoke("init")
    assert ran.code == 0 and re.match(r"station clistation: data folder .* ready", ran.out)
    source = tmp_path / "export"
    source.mkdir()
    (source / "IM1.dcm").write_bytes(b"not really DICOM")
    ran = invoke("submit", str(source), "--patient-id", "P1", "--patient-name", "DOE^JANE",
                 "--birth-date", "1970-01-01", "--job-id", "C1")
    assert (ran.code, ran.out) == (0, "C1: waiting in pending/ for approval "
                                      "(burner approve C1 --by NAME)\n"), ran
    ran = invoke("submit", str(source), "--patient-id", "P1", "--patient-name", "DOE^JANE",
                 "--birth-date", "1970-01-01", "--job-id", "C1", "--approved-by", "x")
    assert ran.code == 2 and "a job called C1 already exists" in ran.err
    ran = invoke("submit", str(source), "--patient-id", "P1", "--patient-name", "DOE^JANE",
                 "--birth-date", "not a date", "--approved-by", "x")
    assert ran.code == 2 and "birth_date" in ran.err
    ran = invoke("approve", "C1", "--by", "supervisor", "--note", "ID checked")
    assert (ran.code, ran.out) == (0, "C1: approved by supervisor, queued\n")
    ran = invoke("approve", "C1", "--by", "supervisor")
    assert ran.code == 2 and "there is no job C1 waiting in pending/" in ran.err

    info = json.loads(invoke("status", "--json").out)
    assert info["queue"]["approved"] == 1 and info["station"] == "clistation"
    (job,) = info["jobs"]
    assert (job["job_id"], job["folder"], job["reason_code"]) == ("C1", "approved", "")
    text = invoke("status").out
    assert text.startswith("station clistation  spool ")
    assert "queue: pending 0, approved 1," in text and "drive drive0: stdio:" in text

    ran = invoke("cancel", "C1", "--by", "clerk")
    assert (ran.code, ran.out) == (0, "C1: cancelled\n")
    (job,) = json.loads(invoke("status", "--json").out)["jobs"]
    assert (job["folder"], job["reason_code"]) == ("rejected", "CANCELLED")
    assert "cancelled by clerk" in job["reason"]
    ran = invoke("cancel", "C1")
    assert ran.code == 2 and "job C1 is already rejected; nothing to cancel" in ran.err
    ran = invoke("retry", "C1")
    assert (ran.code, ran.out) == (0, "C1: queued again\n")
    (job,) = json.loads(invoke("status", "--json").out)["jobs"]
    assert (job["folder"], job["reason_code"]) == ("approved", "")
    ran = invoke("retry", "C2")
    assert ran.code == 2 and ran.err == "burner: there is no job called C2\n"
    ran = invoke("adopt", "C1")
    assert ran.code == 2 and "there is no job C1 in active/" in ran.err
    ran = invoke("reprint", "C1")
    assert ran.code == 2 and "there is no finished job called C1" in ran.err


def test_schema_and_cleanup_with_nothing_to_do(invoke: Burner) -> None:
    ran = invoke("schema")
    assert ran.code == 0 and json.loads(ran.out)["type"] == "object"
    ran = invoke("cleanup", "--dry-run")
    assert (ran.code, ran.out) == (0, "0 finished job(s), 0 KB would delete\n"), ran


# --- each command's wiring, the operation stood in for ----------------------------------------


def test_retry_says_how_the_job_goes_on(invoke: Burner, monkeypatch) -> None:
    for result, words in [
        (control.Retried("R1", control.RESUMED),
         "R1: will go on where it stopped (burner run picks it up)"),
        (control.Retried("R1", control.QUEUED), "R1: queued again"),
        (control.Retried("R1", control.QUEUED, kept=1),
         "R1: queued again; its 1 verified copy made already count, only the missing ones "
         "are made"),
        (control.Retried("R1", control.NOW), "R1: will be retried now"),
    ]:
        calls = _fake(monkeypatch, control, "retry", result)
        ran = invoke("retry", "R1", "--start-over")
        assert (ran.code, ran.out) == (0, words + "\n")
        assert calls == [(("R1", True), {})]


def test_cancel_adopt_approve_submit_wiring(invoke: Burner, monkeypatch, tmp_path) -> None:
    calls = _fake(monkeypatch, control, "cancel", control.Cancelled("K1", at_once=False))
    ran = invoke("cancel", "K1", "--by", "clerk7")
    assert ran.out.startswith("K1: will stop before its next step") and ran.code == 0
    assert calls == [(("K1", "clerk7"), {})]
    calls = _fake(monkeypatch, control, "adopt", control.Adopted("K1", "Taken over."))
    ran = invoke("adopt", "K1", "--force")
    assert (ran.code, ran.out, calls) == (0, "K1: Taken over.\n", [(("K1", True), {})])
    calls = _fake(monkeypatch, intake, "approve", intake.Approved("K1", "sup"))
    assert invoke("approve", "K1", "--by", "sup").out == "K1: approved by sup, queued\n"
    assert calls == [(("K1", "sup", None), {})]
    calls = _fake(monkeypatch, intake, "submit", intake.Submitted("K2", "approved"))
    ran = invoke("submit", str(tmp_path), "--patient-id", "P", "--patient-name", "A^B",
                 "--birth-date", "1970-01-01", "--approved-by", "me", "--media", "usb",
                 "--copies", "2", "--issuer", "HOSP")
    assert (ran.code, ran.out) == (0, "K2: queued in approved/\n")
    ((paths,), kwargs), = calls
    assert paths == (tmp_path,)
    assert kwargs == {"patient_id": "P", "patient_name": "A^B", "birth_date": "1970-01-01",
                      "issuer": "HOSP", "approved_by": "me", "job_id": None, "media": "usb",
                      "copies": 2}
    ran = invoke("submit", str(tmp_path), "--patient-id", "P", "--patient-name", "A^B",
                 "--birth-date", "1970-01-01", "--copies", "99")
    assert ran.code == 2 and "--copies" in ran.err


def test_status_text_of_an_active_job(invoke: Burner, monkeypatch) -> None:
    owner = overview.Owner("otherstation", None, True)
    progress = {"words": "MB written 120 of 400", "left_seconds": 35}
    jobs = [overview.JobInfo("A1", "active", "active", "write", 1, "", "", 0, owner=owner,
                             progress=progress),
            overview.JobInfo("H1", "held", "held", "identity", 0,
                           "Some files are of another patient.\nmore", "WRONG_PATIENT", 0,
                           work_bytes=3 << 20),
            overview.JobInfo("D1", "done", "done", "done", 0, "", "", 2, left_off=["x"],
                           printing="pending")]
    info = overview.Status("clistation", "test", "/spool", {"active": 1, "held": 1, "done": 1},
                         jobs, [overview.DriveInfo("drive0", "/dev/sr0", "dvd")],
                         [{"mode": "folder"}],
                         {"used": {"work": 3 << 20}, "free": 5 << 30, "total": 10 << 30,
                          "retention_days": 7.0})
    _fake(monkeypatch, overview, "status", info)
    text = invoke("status").out.splitlines()
    assert text[0] == "station clistation  spool /spool"
    assert "A1" in text[2] and "never seen) - that station seems stopped; to take the job " \
                               "over: burner adopt A1" in text[2]
    assert "write [MB written 120 of 400, about 35 s left] (station" in text[2]
    assert text[3].split() == ["H1", "held", "identity"]
    assert text[4] == "      Some files are of another patient."
    assert "its work files take 3.0 MB" in text[5]
    assert text[6].endswith("done, 2 verified cop(ies); 1 file(s) left off the disc, listed in "
                            "result.json; printing pending (burner reprint D1)")
    assert text[7] == "drive drive0: /dev/sr0 (dvd)"
    assert text[8] == ("disk: work 3.0 MB; 5.0 GB free of 10.0 GB; finished jobs' images kept "
                       "7 days")
    data = json.loads(invoke("status", "--json").out)
    assert data["jobs"][1]["reason_code"] == "WRONG_PATIENT"
    assert data["jobs"][0]["owner_silent_seconds"] is None and "work_bytes" not in data["jobs"][0]


def test_build_exit_codes_come_from_its_error(invoke: Burner, monkeypatch, tmp_path) -> None:
    from burner import build

    job = tmp_path / "B1"
    job.mkdir()
    for error, code in ((None, 0), (JobRejected("job.json: bad"), 2), (JobHeld("held"), 3)):
        outcome = build.BuildOutcome("B1", error, problems=[str(error)] if error else [])
        calls = _fake(monkeypatch, build, "build_job", outcome)
        ran = invoke("build", str(job), "--out", str(tmp_path / "out"), "--json")
        assert ran.code == code and ran.err == "", ran
        assert json.loads(ran.out)["held"] is (code == 3)
        assert calls == [((job, tmp_path / "out"), {})]
    ran = invoke("build", str(job), "--out", str(tmp_path / "out"))
    assert ran.code == 3 and ran.out.startswith("B1: HELD - nothing may be written")


def test_verify_doctor_drives_wiring(invoke: Burner, monkeypatch, tmp_path) -> None:
    from burner import doctor
    from burner.media.medium import MediumReport

    _fake(monkeypatch, overview, "verify", MediumReport("m.iso", 3))
    ran = invoke("verify", "stdio:m.iso")
    assert (ran.code, ran.out) == (0, "stdio:m.iso: OK: every file matches (3 files checked)\n")
    bad = MediumReport("m.iso", 3, mismatched=["DICOM/IM1"], problems=["no DICOMDIR"])
    _fake(monkeypatch, overview, "verify", bad)
    ran = invoke("verify", "m.iso")
    assert ran.code == 1 and ran.err == ""
    assert "PROBLEM" in ran.out and "  changed or damaged: DICOM/IM1" in ran.out
    assert json.loads(invoke("verify", "m.iso", "--json").out)["ok"] is False
    monkeypatch.undo()
    ran = invoke("verify", str(tmp_path / "absent.iso"))
    assert ran.code == 2 and "absent.iso does not exist" in ran.err

    monkeypatch.setattr(doctor, "run_checks", lambda config: iter([(True, "a"), (False, "b")]))
    ran = invoke("doctor")
    assert (ran.code, ran.out, ran.err) == (1, "ok    a\nFAIL  b\n", "")
    monkeypatch.setattr(doctor, "run_checks", lambda config: iter([(True, "a")]))
    assert invoke("doctor").code == 0

    found = overview.Drives([overview.WriterInfo("usb0", "/dev/sdb", "usb", True, "ready")],
                          [overview.SystemDrive("/dev/sr0", "ACME", "DVD-RW")])
    _fake(monkeypatch, overview, "drives", found)
    ran = invoke("drives")
    assert ran.out == "usb0: /dev/sdb (usb) - ready\nsystem drive: /dev/sr0 ACME DVD-RW\n"


def test_verify_calls_the_operation_with_the_medium(invoke: Burner, monkeypatch) -> None:
    from burner.media.medium import MediumReport

    seen = []
    monkeypatch.setattr(overview, "verify", lambda medium: seen.append(medium) or
                        MediumReport(medium, 1))
    assert invoke("verify", "stdio:/dev/sr0").code == 0
    assert seen == ["stdio:/dev/sr0"]


def test_cleanup_recover_init_reprint_wiring(invoke: Burner, monkeypatch, tmp_path) -> None:
    gone = Expired("E1", 0.0, [tmp_path / "work" / "E1"], 2 << 20)
    stuck = Expired("E2", 0.0, [], 0, error="permission denied")
    calls = _fake(monkeypatch, upkeep, "cleanup", upkeep.Cleaned([gone, stuck], False, 7.0))
    ran = invoke("cleanup")
    assert ran.code == 1 and ran.err == ""
    assert ran.out.splitlines() == [f"E1: deleted 2.0 MB ({tmp_path / 'work' / 'E1'})",
                                    "E2: could not delete its files: permission denied",
                                    "1 finished job(s), 2.0 MB deleted"]
    assert calls == [((False,), {})]
    _fake(monkeypatch, upkeep, "cleanup", upkeep.Cleaned([], True, 0))
    ran = invoke("cleanup", "--dry-run")
    assert ran.out == "[retention] days = 0: finished jobs are kept; nothing deleted\n"

    ran = invoke("recover")
    assert ran.code == 2 and "--accept-lost-state" in ran.err
    calls = _fake(monkeypatch, upkeep, "recover",
                  [upkeep.Recovered("L1", 1, 0, ("validate", "write")),
                   upkeep.Recovered("L2", 0, 2, ())])
    ran = invoke("recover", "--accept-lost-state")
    assert ran.out.splitlines() == [
        "L1: 1 cop(ies) read back and kept, 0 file(s) set aside, goes on from after write",
        "L2: 0 cop(ies) read back and kept, 2 file(s) set aside, goes on from the start"]
    assert calls == [((), {"accept_lost_state": True})]
    _fake(monkeypatch, upkeep, "recover", [])
    assert invoke("recover", "--accept-lost-state").out.startswith("nothing to recover")

    _fake(monkeypatch, upkeep, "init", upkeep.Initialised("s1", Path("/d"), Path("/d/spool")))
    assert invoke("init").out == "station s1: data folder /d, spool /d/spool ready\n"

    sent = [prints.Sent("cover", "printed", "queue PDF"), prints.Sent("label1", "pending", "x")]
    calls = _fake(monkeypatch, prints, "reprint", prints.Reprinted("P1", sent))
    ran = invoke("reprint", "P1", "--label", "--copies", "2")
    assert ran.code == 1
    assert ran.out == "P1 cover: printed - queue PDF\nP1 label1: pending - x\n"
    assert ran.err.startswith("burner: label1 of job P1 could not be printed")
    assert calls == [(("P1", ["label", "insert"], 2), {})]
    _fake(monkeypatch, prints, "reprint", prints.Reprinted("P1", sent[:1]))
    assert invoke("reprint", "P1", "--cover").code == 0


def test_run_and_demo_wiring(invoke: Burner, monkeypatch) -> None:
    import burner.demo
    import burner.station

    drained = []

    class FakeStation:
        def __init__(self, config: object):
            self.config = config

        def drain(self) -> None:
            drained.append(self.config.station_id)

    monkeypatch.setattr(burner.station, "Station", FakeStation)
    assert invoke("run", "--once").code == 0 and drained == ["clistation"]

    def demo(config: object, *, slices: int, echo: Callable[[str], None]) -> str:
        echo(f"demo of {slices} slices")
        return "DEMO1"

    monkeypatch.setattr(burner.demo, "run_demo", demo)
    assert invoke("demo", "--slices", "3").out == "demo of 3 slices\n"
