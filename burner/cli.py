"""The `burner` command line (DESIGN.md section 6): parse the options, call one operation
(burner/operations), print its result. Errors become exit codes in one place, main().

Only click and burner's errors are imported here at start; each command imports what it uses,
so that `burner --version` and `burner --help` do not load the pipeline."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from burner import __version__, logs, permissions
from burner.errors import BurnerError, JobRejected, os_error_words

if TYPE_CHECKING:
    from burner.config import Config


class Said(Exception):
    """The command has printed what happened (a held build, a failed check); only the exit
    code of `error` is left for main() to give."""

    def __init__(self, error: BurnerError):
        super().__init__(str(error))
        self.error = error


class JobIdType(click.ParamType):
    """A job id as the spool knows it."""

    name = "JOB"

    def convert(self, value, param, ctx):  # noqa: ANN001 - click's signature
        from burner.spool import check_job_id

        try:
            return check_job_id(str(value))
        except JobRejected as exc:
            self.fail(str(exc), param, ctx)


JOB = JobIdType()


@dataclasses.dataclass
class App:
    """Built once per invocation and handed to every command."""

    config_path: str | None
    _config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            from burner.config import load_config

            self._config = load_config(self.config_path)
            permissions.apply(self._config.group_access)
            logs.setup_file(self._config.log_file, logs.LEVELS[self._config.log_level])
        return self._config


pass_app = click.make_pass_decorator(App)


@click.group()
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Station configuration (TOML). Default: $BURNER_CONFIG, "
                   "/etc/burner/burner.toml, else the built-in default.")
@click.option("-v", "--verbose", is_flag=True, help="Log progress to standard error.")
@click.version_option(__version__, prog_name="burner")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """burner: approved imaging releases in, verified patient discs out."""
    permissions.apply()          # private until the configuration says otherwise
    logs.setup_console(logging.INFO if verbose else logging.WARNING)
    ctx.obj = App(config_path)


def _echo_json(obj: object) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


@cli.command()
@click.argument("job_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the staged volume trees and images.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_app
def build(app: App, job_dir: Path, out_dir: Path, as_json: bool) -> None:
    """Turn one job folder into staged volume trees and ISO images, without burning."""
    from burner.build import build_job

    outcome = build_job(app.config, job_dir.resolve(), out_dir.resolve())
    if as_json:
        _echo_json(outcome.as_dict())
    else:
        click.echo(outcome.summary())
    if outcome.error is not None:
        raise Said(outcome.error)


@cli.command()
@click.option("--once", is_flag=True, help="Process what is queued now, then exit.")
@pass_app
def run(app: App, once: bool) -> None:
    """The station service: watch the spool and process approved jobs."""
    import signal
    import threading

    from burner.locks import StationLock
    from burner.station import Station

    logs.console_level(logging.INFO)
    # One station per data folder: a second `burner run` refuses, naming the first.
    lock = StationLock(app.config.data_dir, app.config.station_id).acquire()
    ctx = click.get_current_context()
    ctx.call_on_close(lock.release)
    station = Station(app.config)
    if once:
        station.drain()
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    station.serve(stop)


@cli.command()
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--patient-id", required=True)
@click.option("--patient-name", required=True, help="As in DICOM, e.g. DOE^JANE.")
@click.option("--birth-date", required=True, help="YYYY-MM-DD")
@click.option("--issuer", default=None)
@click.option("--approved-by", default=None,
              help="Who approved the release; without it the job waits in pending/.")
@click.option("--job-id", type=JOB, default=None)
@click.option("--media", default="auto", help="auto, cd, dvd, dvd-dl, bd, usb or iso")
@click.option("--copies", default=1, type=click.IntRange(1, 20))
@pass_app
def submit(app: App, paths: tuple[Path, ...], patient_id: str, patient_name: str,
           birth_date: str, issuer: str | None, approved_by: str | None, job_id: str | None,
           media: str, copies: int) -> None:
    """Make a job folder in the spool from files and folders."""
    from burner.operations import intake

    made = intake.submit(app.config, paths, patient_id=patient_id, patient_name=patient_name,
                         birth_date=birth_date, issuer=issuer, approved_by=approved_by,
                         job_id=job_id, media=media, copies=copies)
    click.echo(f"{made.job_id}: queued in approved/" if made.queued else
               f"{made.job_id}: waiting in pending/ for approval "
               f"(burner approve {made.job_id} --by NAME)")


@cli.command()
@click.argument("job_id", type=JOB)
@click.option("--by", "by", required=True, help="Who approves the release.")
@click.option("--note", default=None)
@pass_app
def approve(app: App, job_id: str, by: str, note: str | None) -> None:
    """Move a pending job to the queue, recording who approved it."""
    from burner.operations import intake

    done = intake.approve(app.config, job_id, by, note)
    click.echo(f"{done.job_id}: approved by {done.by}, queued")


def _days(days: float) -> str:
    """A retention time as a person reads it: 7 days, 12 hours, 3 seconds."""
    for unit, scale in (("day", 1.0), ("hour", 1 / 24), ("minute", 1 / 1440)):
        if days >= scale:
            n = round(days / scale, 1)
            return f"{n:g} {unit}" + ("" if n == 1 else "s")
    n = round(days * 86400, 1)
    return f"{n:g} second" + ("" if n == 1 else "s")


def _size(n: int) -> str:
    """Bytes as a person reads them: 512 KB, 3.4 MB, 12 GB."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{(n + 1023) // 1024} KB"


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@pass_app
def status(app: App, as_json: bool) -> None:
    """Queue, jobs, drives and printers."""
    from burner.operations.overview import status as station_status

    info = station_status(app.config)
    if as_json:
        _echo_json(info.as_dict())
        return
    click.echo(f"station {info.station}  spool {info.spool}")
    click.echo("queue: " + ", ".join(f"{k} {v}" for k, v in info.queue.items()))
    for job in info.jobs:
        if job.folder == "done" and job.state == "done":
            line = f"  {job.job_id:<24} done, {job.copies} verified cop(ies)"
            if job.left_off:
                line += (f"; {len(job.left_off)} file(s) left off the disc, "
                         "listed in result.json")
            if job.printing == "pending":
                line += f"; printing pending (burner reprint {job.job_id})"
        else:
            line = f"  {job.job_id:<24} {job.state:<9} {job.stage}"
            if job.progress:
                left = job.progress.get("left_seconds")
                line += f" [{job.progress['words']}" + (
                    f", about {left} s left]" if left is not None else "]")
            if job.owner is not None:
                quiet = job.owner.silent_seconds
                line += f" (station {job.owner.station or 'unknown'}"
                line += (f", last seen {int(quiet)} s ago" if quiet is not None else
                         ", never seen") + ")"
                if job.owner.silent and job.owner.station == info.station:
                    line += " - this station is not running: start it with burner run"
                elif job.owner.silent:
                    line += (f" - that station seems stopped; to take the job over: "
                             f"burner adopt {job.job_id}")
        click.echo(line)
        if job.reason and job.folder != "done":
            click.echo("      " + job.reason.splitlines()[0])
        if job.work_bytes:
            click.echo(f"      its work files take {_size(job.work_bytes)} (kept while it "
                       "is held; deleted after retry or cancel once it has ended)")
    for d in info.drives:
        click.echo(f"drive {d.name}: {d.device} ({d.media})")
    disk = info.disk
    kept = (f"finished jobs' images kept {_days(disk['retention_days'])}"
            if disk["retention_days"] else "finished jobs' images kept until deleted by hand")
    click.echo("disk: " + ", ".join(f"{k} {_size(v)}" for k, v in disk["used"].items())
               + f"; {_size(disk['free'])} free of {_size(disk['total'])}; {kept}")


def _kept_words(kept: int) -> str:
    if not kept:
        return ""
    return (f"; its {kept} verified cop{'y' if kept == 1 else 'ies'} made already "
            "count, only the missing ones are made")


@cli.command()
@click.argument("job_id", type=JOB)
@click.option("--start-over", is_flag=True,
              help="Make every copy and printout of the job anew, those made already too.")
@pass_app
def retry(app: App, job_id: str, start_over: bool) -> None:
    """Queue a held or rejected job again, or retry a waiting one now."""
    from burner.operations import control

    done = control.retry(app.config, job_id, start_over)
    if done.how == control.RESUMED:
        click.echo(f"{job_id}: will go on where it stopped (burner run picks it up)")
    elif done.how == control.QUEUED:
        click.echo(f"{job_id}: queued again{_kept_words(done.kept)}")
    else:
        click.echo(f"{job_id}: will be retried now")


@cli.command()
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
@pass_app
def cleanup(app: App, dry_run: bool) -> None:
    """Delete the work trees and images of jobs done more than [retention] days ago."""
    from burner.operations import upkeep

    done = upkeep.cleanup(app.config, dry_run)
    verb = "would delete" if dry_run else "deleted"
    for item in done.found:
        if item.error:
            click.echo(f"{item.job_id}: could not delete its files: {item.error}")
            continue
        click.echo(f"{item.job_id}: {verb} {_size(item.bytes)} "
                   f"({', '.join(str(p) for p in item.paths)})")
    total = sum(item.bytes for item in done.cleaned)
    click.echo(f"{len(done.cleaned)} finished job(s), {_size(total)} {verb}"
               if done.retention_days else
               "[retention] days = 0: finished jobs are kept; nothing deleted")
    if done.failed:
        raise Said(BurnerError(f"the files of {len(done.failed)} job(s) could not be deleted"))


@cli.command()
@click.argument("job_id", type=JOB)
@click.option("--force", is_flag=True, help="Even if its station was seen lately.")
@pass_app
def adopt(app: App, job_id: str, force: bool) -> None:
    """Take over a job in active/ whose station has stopped: it is queued again from the start."""
    from burner.operations import control

    done = control.adopt(app.config, job_id, force)
    click.echo(f"{done.job_id}: {done.note}")


@cli.command()
@click.argument("job_id", type=JOB)
@click.option("--by", "by", default="operator")
@pass_app
def cancel(app: App, job_id: str, by: str) -> None:
    """Cancel a job that has not finished."""
    from burner.operations import control

    done = control.cancel(app.config, job_id, by)
    click.echo(f"{job_id}: cancelled" if done.at_once else
               f"{job_id}: will stop before its next step (a disc being burned is finished, "
               "and a printout being printed)")


@cli.command()
@click.argument("job_id", type=JOB)
@click.option("--label", "labels", is_flag=True, help="Only the disc labels (or stick "
              "stickers) and jewel-case inserts.")
@click.option("--cover", "cover", is_flag=True, help="Only the cover sheet.")
@click.option("--copies", type=click.IntRange(1, 20), default=None,
              help="Labels and inserts of each disc (default: as many as the job has copies).")
@pass_app
def reprint(app: App, job_id: str, labels: bool, cover: bool, copies: int | None) -> None:
    """Print a finished job's cover sheet and labels again (after a printer fault, or a spare)."""
    from burner.operations import prints

    kinds = [k for k, on in (("cover", cover), ("label", labels), ("insert", labels)) if on]
    done = prints.reprint(app.config, job_id, kinds, copies)
    for item in done.sent:
        click.echo(f"{job_id} {item.item}: {item.state} - {item.detail}")
    problem = done.problem()
    if problem is not None:
        raise problem


@cli.command()
@click.argument("medium")
@click.option("--json", "as_json", is_flag=True)
def verify(medium: str, as_json: bool) -> None:
    """Re-check a disc image or drive: every file's checksum and the DICOMDIR."""
    from burner.errors import MediaMismatch
    from burner.operations.overview import verify as check

    report = check(medium)
    if as_json:
        _echo_json(report.as_dict())
    else:
        state = "OK: every file matches" if report.ok else "PROBLEM"
        click.echo(f"{medium}: {state} ({report.files_checked} files checked)")
        for name in report.mismatched:
            click.echo(f"  changed or damaged: {name}")
        for name in report.missing:
            click.echo(f"  missing: {name}")
        for name in report.unlisted:
            click.echo(f"  not in the checksum list: {name}")
        for text in report.problems:
            click.echo(f"  {text}")
    if not report.ok:
        raise Said(MediaMismatch(f"{medium} does not match its checksums or file-set",
                                 report.mismatched + report.missing))


@cli.command()
@pass_app
def drives(app: App) -> None:
    """List the configured writers with what is in them, and the drives the system has."""
    from burner.operations.overview import drives as station_drives

    found = station_drives(app.config)
    for w in found.writers:
        click.echo(f"{w.name}: {w.device} ({w.media}) - {w.words}")
    for d in found.found:
        click.echo(f"system drive: {d.address} {d.vendor} {d.model}")


@cli.command()
@pass_app
def doctor(app: App) -> None:
    """Check tools, drives, spool and configuration."""
    from burner.doctor import run_checks

    failed = 0
    for good, text in run_checks(app.config):
        failed += not good
        click.echo(("ok    " if good else "FAIL  ") + text)
    if failed:
        raise Said(BurnerError(f"{failed} check(s) failed"))


@cli.command()
@click.option("--accept-lost-state", is_flag=True, required=True,
              help="The database was lost or replaced: rebuild the record of this station's "
                   "jobs in active/ from their folders, work files and media/.")
@pass_app
def recover(app: App, accept_lost_state: bool) -> None:
    """Accept a lost database: rebuild what can be known; copies found are read back and kept."""
    from burner.operations import upkeep

    found = upkeep.recover(app.config, accept_lost_state=accept_lost_state)
    if not found:
        click.echo("nothing to recover: the database knows every job in active/")
    for job in found:
        click.echo(f"{job.job_id}: {job.copies} cop(ies) read back and kept, "
                   f"{job.unconfirmed} file(s) set aside, goes on from "
                   f"{'after ' + job.stages[-1] if job.stages else 'the start'}")


@cli.command()
@pass_app
def init(app: App) -> None:
    """Make this station's data folder, spool folders and drive folders."""
    from burner.operations import upkeep

    made = upkeep.init(app.config)
    click.echo(f"station {made.station_id}: data folder {made.data_dir}, spool "
               f"{made.spool_dir} ready")


@cli.command()
@pass_app
def web(app: App) -> None:
    """Serve the station's web app ([web] listen; the board, sign-in, /api)."""
    from burner.web.app import run_server

    run_server(app.config)


@cli.group()
def user() -> None:
    """Users of the web app: add, passwd, disable, enable, list."""


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return click.get_text_stream("stdin").readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@user.command("add")
@click.argument("name")
@click.option("--role", required=True,
              type=click.Choice(["admin", "technician", "front-desk", "kiosk"]))
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_app
def user_add(app: App, name: str, role: str, password_stdin: bool) -> None:
    """Add a user with a role (the README lists what each role may do)."""
    from burner.users import Users

    with Users(app.config.db_path) as users:
        made = users.add(name, role, _password(password_stdin))
        users.record("(command line)", "add user", detail=f"{made.name} as {made.role}")
    click.echo(f"user {made.name} added as {made.role}")


@user.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_app
def user_passwd(app: App, name: str, password_stdin: bool) -> None:
    """Set a user's password (ends their sessions, lifts a lock-out)."""
    from burner.users import Users

    with Users(app.config.db_path) as users:
        users.set_password(name, _password(password_stdin))
        users.record("(command line)", "set password", detail=name)
    click.echo(f"user {name}: password set")


def _set_disabled(app: App, name: str, disabled: bool) -> None:
    from burner.users import Users

    word = "disable" if disabled else "enable"
    with Users(app.config.db_path) as users:
        users.set_disabled(name, disabled)
        users.record("(command line)", f"{word} user", detail=name)
    click.echo(f"user {name}: {word}d")


@user.command("disable")
@click.argument("name")
@pass_app
def user_disable(app: App, name: str) -> None:
    """Stop a user from signing in (their sessions end at once)."""
    _set_disabled(app, name, True)


@user.command("enable")
@click.argument("name")
@pass_app
def user_enable(app: App, name: str) -> None:
    """Let a disabled user sign in again."""
    _set_disabled(app, name, False)


@user.command("list")
@pass_app
def user_list(app: App) -> None:
    """The users, their roles and whether they may sign in."""
    import time

    from burner.users import Users

    with Users(app.config.db_path) as users:
        for u in users.list():
            state = "disabled" if u.disabled else (
                "locked" if u.locked_until > time.time() else "active")
            click.echo(f"{u.name}\t{u.role}\t{state}")


@cli.command()
def schema() -> None:
    """Print the JSON Schema of job.json."""
    from burner.manifest import schema_text

    click.echo(schema_text())


@cli.command()
@click.option("--slices", default=240, show_default=True, help="Slices per CT series.")
@click.option("--web", is_flag=True, help="Then keep the station and its web app running, "
              "with a demo user per role (new passwords printed), until Ctrl-C.")
@pass_app
def demo(app: App, slices: int, web: bool) -> None:
    """Make a realistic sample study and run a whole job on this station's configuration."""
    if web:
        from burner.demo_web import run_demo_web

        run_demo_web(app.config, slices=slices, echo=click.echo)
    else:
        from burner.demo import run_demo

        run_demo(app.config, slices=slices, echo=click.echo)


def _add_groups() -> None:
    from burner.cli_dicom import register

    register(cli, pass_app)


_add_groups()


def main(args: list[str] | None = None) -> None:
    """The one place exit codes are made (DESIGN.md section 6): 0 success, 2 bad input, 3 held
    for a person, 1 anything else; each BurnerError class knows its own. `args`: the command
    line without the program's name (default: sys.argv)."""
    try:
        code = cli.main(args, prog_name="burner", standalone_mode=False)
        if isinstance(code, int) and code:      # click's own exit (ctx.exit), e.g. after help
            sys.exit(code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except Said as exc:
        sys.exit(exc.error.exit_code)
    except BurnerError as exc:
        click.echo(f"burner: {exc}", err=True)
        sys.exit(exc.exit_code)
    except OSError as exc:
        click.echo(f"burner: {os_error_words(exc)}", err=True)
        sys.exit(1)
