"""The `burner` command line (DESIGN.md section 6). Errors become exit codes in one place."""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import shutil
import signal
import sys
import threading
import uuid
from pathlib import Path

import click

from burner import __version__, heartbeat, logs, permissions
from burner.build import build_job
from burner.config import Config, load_config
from burner.errors import BurnerError, JobRejected
from burner.retention import disk_use, tree_bytes
from burner.spool import OWNER, REASON, Spool, check_job_id, write_atomic, write_owner
from burner.state import JobRow, JobState, StateDB
from burner.untrusted import one_line


class JobIdType(click.ParamType):
    """A job id as the spool knows it."""

    name = "JOB"

    def convert(self, value, param, ctx):  # noqa: ANN001 - click's signature
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
            self._config = load_config(self.config_path)
            permissions.apply(self._config.group_access)
            logs.setup_file(self._config.log_file, logs.LEVELS[self._config.log_level])
        return self._config

    @property
    def spool(self) -> Spool:
        spool = Spool(self.config.spool_dir)
        spool.ensure(create=self.config.spool_is_local)
        return spool

    def db(self) -> StateDB:
        return StateDB(self.config.db_path)


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
    outcome = build_job(app.config, job_dir.resolve(), out_dir.resolve())
    if as_json:
        _echo_json(outcome.as_dict())
    else:
        click.echo(outcome.summary())
    if outcome.exit_code:
        sys.exit(outcome.exit_code)


@cli.command()
@click.option("--once", is_flag=True, help="Process what is queued now, then exit.")
@pass_app
def run(app: App, once: bool) -> None:
    """The station service: watch the spool and process approved jobs."""
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


def _new_job_id() -> str:
    return datetime.date.today().strftime("J%Y%m%d-") + uuid.uuid4().hex[:6].upper()


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
    from burner.manifest import validate_manifest

    spool = app.spool
    job_id = job_id or _new_job_id()
    if spool.locate(job_id):
        raise JobRejected(f"a job called {job_id} already exists")
    manifest: dict = {"version": 1, "job_id": job_id,
                      "patient": {"id": patient_id, "name": patient_name,
                                  "birth_date": birth_date},
                      "media": {"type": media, "copies": copies}}
    if issuer:
        manifest["patient"]["issuer"] = issuer
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    manifest["approval"] = {"by": approved_by or "PENDING", "at": now}
    validate_manifest(manifest, job_id)  # refuse bad options before copying anything
    if not approved_by:
        del manifest["approval"]
    staging = spool.folder("incoming") / job_id
    dicom = staging / "dicom"
    dicom.mkdir(parents=True)
    try:
        for n, src in enumerate(paths, 1):
            dest = dicom / f"{n:03d}_{src.name}"
            if src.is_dir():
                shutil.copytree(src, dest, symlinks=False)
            else:
                shutil.copy2(src, dest)
            permissions.restrict_tree(dest)   # copy2 keeps the source's (often world-) read bits
        write_atomic(staging / "job.json", json.dumps(manifest, indent=2).encode("utf-8"))
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)     # no half-made job left in incoming/
        raise BurnerError(f"the files could not be copied into the spool, so no job was made "
                          f"({_copy_failure(exc)})") from None
    where = "approved" if approved_by else "pending"
    spool.move(job_id, "incoming", where)
    click.echo(f"{job_id}: queued in {where}/" if approved_by else
               f"{job_id}: waiting in pending/ for approval (burner approve {job_id} --by NAME)")


@cli.command()
@click.argument("job_id", type=JOB)
@click.option("--by", "by", required=True, help="Who approves the release.")
@click.option("--note", default=None)
@pass_app
def approve(app: App, job_id: str, by: str, note: str | None) -> None:
    """Move a pending job to the queue, recording who approved it."""
    spool = app.spool
    job_dir = spool.path("pending", job_id)
    if not job_dir.is_dir():
        raise JobRejected(f"there is no job {job_id} waiting in pending/")
    path = job_dir / "job.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise JobRejected(f"job {job_id} has no readable job.json ({one_line(exc)[:200]})") \
            from None
    data["approval"] = {"by": by, "at": datetime.datetime.now(datetime.UTC)
                        .isoformat(timespec="seconds")}
    if note:
        data["approval"]["note"] = note
    write_atomic(path, json.dumps(data, indent=2).encode("utf-8"))
    spool.move(job_id, "pending", "approved")
    click.echo(f"{job_id}: approved by {by}, queued")


def _job_info(spool: Spool, db: StateDB, where: str, name: str, row: JobRow | None,
              silent_after: float = 120.0, work_dir: Path = Path("work")) -> dict:
    """One job as `burner status` shows it: state and stage, and why it stopped if it did."""
    folder = spool.path(where, name)
    reason = (folder / REASON).read_text(errors="replace") if (folder / REASON).is_file() else ""
    result = folder / "result.json"
    outcome = json.loads(result.read_text()) if where == "done" and result.is_file() else {}
    left_off = outcome.get("problems", [])
    info = {"job_id": name, "folder": where, "left_off": left_off,
            "printing": outcome.get("printing", ""),
            "state": row.state if row else where,
            "stage": row.stage if row else "",
            "attempts": row.attempts if row else 0,
            "reason": (row.reason if row and row.reason else reason).strip(),
            # a job another station finished is not in this database: its result says
            "copies": len(db.copies(name)) if row else len(outcome.get("copies", []))}
    if where == "held":
        info["work_bytes"] = tree_bytes(work_dir / name) if (work_dir / name).exists() else 0
    if where == "active":
        owner = spool.owner(folder)
        quiet = heartbeat.silence(spool.root, owner) if owner else None
        info.update(owner=owner or "", owner_silent_seconds=quiet,
                    owner_silent=owner is None or quiet is None
                    or quiet > silent_after)
    return info


def _status(app: App) -> dict:
    spool = app.spool
    folders = ("pending", "approved", "active", "held", "rejected", "done")
    queue = {name: [p.name for p in spool.listing(name)] for name in folders}
    with app.db() as db:
        rows = {r.job_id: r for r in db.jobs()}
        jobs = [_job_info(spool, db, where, name, rows.get(name), app.config.silent_seconds,
                          app.config.work_dir)
                for where, names in queue.items() for name in names]
        # Jobs the station was working on whose folder is in no spool folder any more.
        listed = {name for names in queue.values() for name in names}
        jobs += [_job_info(spool, db, "missing", row.job_id, row) for row in rows.values()
                 if row.job_id not in listed and row.state in
                 (JobState.ACTIVE, JobState.WAITING, JobState.HELD)]
    drives = [{"name": d.name, "device": d.device, "media": d.media} for d in app.config.drives]
    return {"station": app.config.station_id, "config": app.config.source,
            "spool": str(app.config.spool_dir),
            "queue": {k: len(v) for k, v in queue.items()}, "jobs": jobs, "drives": drives,
            "printers": [{"mode": app.config.printing.get("mode", "folder")}],
            "disk": {**disk_use(app.config), "retention_days": app.config.retention_days}}


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
    info = _status(app)
    if as_json:
        _echo_json(info)
        return
    click.echo(f"station {info['station']}  spool {info['spool']}")
    click.echo("queue: " + ", ".join(f"{k} {v}" for k, v in info["queue"].items()))
    for job in info["jobs"]:
        if job["folder"] == "done" and job["state"] == "done":
            line = f"  {job['job_id']:<24} done, {job['copies']} verified cop(ies)"
            if job["left_off"]:
                line += (f"; {len(job['left_off'])} file(s) left off the disc, "
                         "listed in result.json")
            if job["printing"] == "pending":
                line += f"; printing pending (burner reprint {job['job_id']})"
        else:
            line = f"  {job['job_id']:<24} {job['state']:<9} {job['stage']}"
            if job["folder"] == "active":
                quiet = job["owner_silent_seconds"]
                line += f" (station {job['owner'] or 'unknown'}"
                line += (f", last seen {int(quiet)} s ago" if quiet is not None else
                         ", never seen") + ")"
                if job["owner_silent"] and job["owner"] == info["station"]:
                    line += " - this station is not running: start it with burner run"
                elif job["owner_silent"]:
                    line += (f" - that station seems stopped; to take the job over: "
                             f"burner adopt {job['job_id']}")
        click.echo(line)
        if job["reason"] and job["folder"] != "done":
            click.echo("      " + job["reason"].splitlines()[0])
        if job.get("work_bytes"):
            click.echo(f"      its work files take {_size(job['work_bytes'])} (kept while it "
                       "is held; deleted after retry or cancel once it has ended)")
    for d in info["drives"]:
        click.echo(f"drive {d['name']}: {d['device']} ({d['media']})")
    disk = info["disk"]
    kept = (f"finished jobs' images kept {_days(disk['retention_days'])}"
            if disk["retention_days"] else "finished jobs' images kept until deleted by hand")
    click.echo("disk: " + ", ".join(f"{k} {_size(v)}" for k, v in disk["used"].items())
               + f"; {_size(disk['free'])} free of {_size(disk['total'])}; {kept}")


def _resumable(app: App, job_id: str) -> bool:
    """A held job whose disc image is made (and still there) resumes instead of restarting."""
    from burner.pipeline import STAGES

    with app.db() as db:
        row = db.get(job_id)
    from burner.record import JobRecord, StaleRecord

    prepared = [s.NAME for s in STAGES if s.LANE == "prepare"]
    if row is None or row.state != JobState.HELD or \
            not all(name in row.stages_done for name in prepared):
        return False
    try:     # the images master made (ISO or USB) are all still there
        images = JobRecord(app.config.work_dir / job_id).images
    except StaleRecord:
        return False
    return all(image.path.is_file() for image in images)


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
    spool = app.spool
    found = spool.locate(job_id)
    if found is None:
        with app.db() as db:
            row = db.get(job_id)
        if row is not None and row.state == JobState.HELD:
            raise JobRejected(f"job {job_id} is held, but its folder is in no spool folder "
                              "(it was taken out while the job ran). Put the folder back in "
                              f"active/, then run burner retry {job_id} again")
        raise JobRejected(f"there is no job called {job_id}")
    where, path = found
    if where in ("held", "rejected"):
        reason = path / REASON
        if reason.exists():
            reason.rename(path / f"reason-{int(datetime.datetime.now().timestamp())}.txt")
        if where == "held" and not start_over and _resumable(app, job_id):
            # A drive fault after the disc image was made: go on from there, so copies
            # already burned and verified are not burned again.
            spool.move(job_id, "held", "active")
            with app.db() as db:
                write_owner(spool.path("active", job_id), app.config.station_id, db.generation)
                db.resume(job_id)
            click.echo(f"{job_id}: will go on where it stopped (burner run picks it up)")
            return
        with app.db() as db:
            row = db.get(job_id)
            kept = len(db.copies(job_id)) if row is not None and not start_over else 0
            if row is not None:
                # Its next claim is this job again, not a duplicate.
                db.requeue(job_id, start_over)
            try:
                spool.move(job_id, where, "approved")
            except BaseException:
                if row is not None:
                    db.set_state(job_id, JobState(row.state), row.reason)
                raise
        click.echo(f"{job_id}: queued again{_kept_words(kept)}")
        return
    if where == "active":
        with app.db() as db:
            row = db.get(job_id)
            owner = spool.owner(path)
            if owner not in (None, app.config.station_id):
                raise JobRejected(f"job {job_id} is in active/ for station {owner}; it is "
                                  "that station's to run (burner adopt takes it over if that "
                                  "station has stopped)")
            if row is not None and row.state == JobState.HELD:
                # Held while its folder stayed in (or came back to) active/.
                if not start_over and _resumable(app, job_id):
                    write_owner(path, app.config.station_id, db.generation)
                    db.resume(job_id)
                    click.echo(f"{job_id}: will go on where it stopped (burner run picks it "
                               "up)")
                    return
                kept = 0 if start_over else len(db.copies(job_id))
                db.requeue(job_id, start_over)
                spool.move(job_id, "active", "approved")
                click.echo(f"{job_id}: queued again{_kept_words(kept)}")
                return
            if row is None or row.state != JobState.WAITING:
                raise JobRejected(f"job {job_id} is being worked on now; there is nothing to "
                                  "retry")
            db.set_state(job_id, JobState.WAITING, row.reason, not_before=0)
        click.echo(f"{job_id}: will be retried now")
        return
    raise JobRejected(f"job {job_id} is in {where}/ and cannot be retried")


@cli.command()
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
@pass_app
def cleanup(app: App, dry_run: bool) -> None:
    """Delete the work trees and images of jobs done more than [retention] days ago."""
    from burner.retention import clean

    with app.db() as db:
        found = clean(app.config, db, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    for item in found:
        if item.error:
            click.echo(f"{item.job_id}: could not delete its files: {item.error}")
            continue
        click.echo(f"{item.job_id}: {verb} {_size(item.bytes)} "
                   f"({', '.join(str(p) for p in item.paths)})")
    cleaned = [item for item in found if not item.error]
    total = sum(item.bytes for item in cleaned)
    days = app.config.retention_days
    click.echo(f"{len(cleaned)} finished job(s), {_size(total)} {verb}" if days else
               "[retention] days = 0: finished jobs are kept; nothing deleted")
    if len(cleaned) < len(found):
        sys.exit(1)


@cli.command()
@click.argument("job_id", type=JOB)
@click.option("--force", is_flag=True, help="Even if its station was seen lately.")
@pass_app
def adopt(app: App, job_id: str, force: bool) -> None:
    """Take over a job in active/ whose station has stopped: it is queued again from the start."""
    spool = app.spool
    folder = spool.path("active", job_id)
    if not folder.is_dir():
        raise JobRejected(f"there is no job {job_id} in active/")
    owner = spool.owner(folder)
    if owner == app.config.station_id:
        raise JobRejected(f"job {job_id} is this station's own; use burner retry if it is held")
    quiet = heartbeat.silence(spool.root, owner) if owner else None
    if owner is not None and quiet is None and not force:
        raise JobRejected(f"station {owner} working on {job_id} has never said it is alive "
                          "here, so whether it stopped cannot be told; if it surely has, use "
                          "--force")
    if quiet is not None and quiet <= app.config.silent_seconds and not force:
        raise JobRejected(f"station {owner} working on {job_id} was seen {int(quiet)} s ago; "
                          "stop it first (or use --force if it is surely gone)")
    note = (f"Taken over from station {owner or 'unknown'} "
            f"({'never seen' if quiet is None else f'silent for {int(quiet)} s'}) by "
            f"{app.config.station_id}: it starts again from the beginning. Discs that station "
            "may have made for it cannot be confirmed here and are not counted.")
    with app.db() as db:
        db.note(job_id, "adopt", "adopted", note)
        if db.get(job_id) is not None:
            db.requeue(job_id)
    write_atomic(folder / f"adopted-{int(datetime.datetime.now().timestamp())}.txt",
                 (note + "\n").encode("utf-8"))
    (folder / OWNER).unlink(missing_ok=True)
    spool.move(job_id, "active", "approved")
    click.echo(f"{job_id}: {note}")


@cli.command()
@click.argument("job_id", type=JOB)
@click.option("--by", "by", default="operator")
@pass_app
def cancel(app: App, job_id: str, by: str) -> None:
    """Cancel a job that has not finished."""
    spool = app.spool
    found = spool.locate(job_id)
    if found is None:
        raise JobRejected(f"there is no job called {job_id}")
    where, _ = found
    if where in ("incoming", "pending", "approved", "held"):
        spool.move(job_id, where, "rejected", f"Job {job_id} was cancelled by {one_line(by)}.")
        click.echo(f"{job_id}: cancelled")
    elif where == "active":
        from burner.pipeline import next_stage

        with app.db() as db:
            row = db.get(job_id)
            following = next_stage(row.stages_done) if row is not None else None
            if following is not None and following.NAME == "done":
                raise JobRejected(f"job {job_id} is finishing now: its discs are made and "
                                  "verified and its printouts done, so it can no longer be "
                                  "cancelled")
            db.request_cancel(job_id)
        click.echo(f"{job_id}: will stop before its next step (a disc being burned is finished, "
                   "and a printout being printed)")
    else:
        raise JobRejected(f"job {job_id} is already {where}; nothing to cancel")


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
    from burner.printout import deliver
    from burner.printout.cups import PrinterError

    found = app.spool.locate(job_id)
    if found is None or found[0] not in ("done", "active"):
        raise JobRejected(f"there is no finished job called {job_id} (only jobs in done/ or "
                          "active/ have printouts)")
    where, job_dir = found
    kinds = tuple(k for k, on in (("cover", cover), ("label", labels), ("insert", labels))
                  if on) or deliver.KINDS
    with app.db() as db:
        sent = deliver.reprint(app.config, db, job_id, job_dir, kinds, copies)
        result = job_dir / "result.json"
        if where == "done" and result.is_file():
            outcome = json.loads(result.read_text())
            outcome.update(deliver.summary(db.prints(job_id)))
            write_atomic(result, json.dumps(outcome, indent=2).encode("utf-8"))
    for item, state, detail in sent:
        click.echo(f"{job_id} {item}: {state} - {detail}")
    failed = [item for item, state, _ in sent if state != "printed"]
    if failed:
        raise PrinterError(f"{', '.join(failed)} of job {job_id} could not be printed; the "
                           f"printing stays pending. Check the printer, then run: burner "
                           f"reprint {job_id}")


@cli.command()
@click.argument("medium")
@click.option("--json", "as_json", is_flag=True)
def verify(medium: str, as_json: bool) -> None:
    """Re-check a disc image or drive: every file's checksum and the DICOMDIR."""
    from burner.media.medium import check_medium

    path = Path(medium.removeprefix("stdio:"))
    if not path.exists():
        raise JobRejected(f"{medium} does not exist")
    report = check_medium(path)
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
        sys.exit(1)


@cli.command()
@pass_app
def drives(app: App) -> None:
    """List the configured writers with what is in them, and the drives the system has."""
    from burner.media.optical import discover_drives
    from burner.media.writers import writer_status

    for d in app.config.drives:
        click.echo(f"{d.name}: {d.device} ({d.media}) - {writer_status(app.config, d)[1]}")
    for info in discover_drives(app.config.xorriso):
        click.echo(f"system drive: {info.address} {info.vendor} {info.model}")


@cli.command()
@pass_app
def doctor(app: App) -> None:
    """Check tools, drives, spool and configuration."""
    from burner.doctor import run_checks

    ok = True
    for good, text in run_checks(app.config):
        ok &= good
        click.echo(("ok    " if good else "FAIL  ") + text)
    if not ok:
        sys.exit(1)


@cli.command()
@click.option("--accept-lost-state", is_flag=True, required=True,
              help="The database was lost or replaced: rebuild the record of this station's "
                   "jobs in active/ from their folders, work files and media/.")
@pass_app
def recover(app: App, accept_lost_state: bool) -> None:
    """Accept a lost database: rebuild what can be known; copies found are read back and kept."""
    from burner.locks import StationLock
    from burner.rebuild import rebuild_job
    from burner.station import Station

    lock = StationLock(app.config.data_dir, app.config.station_id).acquire()
    try:
        station = Station(app.config)
        lost = station.lost_jobs()
        if not lost:
            click.echo("nothing to recover: the database knows every job in active/")
            return
        for job_id in lost:
            done = rebuild_job(app.config, station.spool, station.db, job_id)
            click.echo(f"{job_id}: {len(done.copies)} cop(ies) read back and kept, "
                       f"{len(done.unconfirmed)} file(s) set aside, goes on from "
                       f"{'after ' + done.stages[-1] if done.stages else 'the start'}")
    finally:
        lock.release()


@cli.command()
@pass_app
def init(app: App) -> None:
    """Make this station's data folder, spool folders and drive folders."""
    config = app.config
    config.data_dir.mkdir(parents=True, exist_ok=True)
    Spool(config.spool_dir).ensure(create=True)
    for d in config.drives:
        if d.is_stdio:
            Path(d.device.removeprefix("stdio:")).parent.mkdir(parents=True, exist_ok=True)
    with app.db():
        pass
    click.echo(f"station {config.station_id}: data folder {config.data_dir}, spool "
               f"{config.spool_dir} ready")


@cli.command()
def schema() -> None:
    """Print the JSON Schema of job.json."""
    from burner.manifest import schema_text

    click.echo(schema_text())


@cli.command()
@click.option("--slices", default=240, show_default=True, help="Slices per CT series.")
@pass_app
def demo(app: App, slices: int) -> None:
    """Make a realistic sample study and run a whole job on this station's configuration."""
    from burner.demo import run_demo

    run_demo(app.config, slices=slices, echo=click.echo)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except BurnerError as exc:
        click.echo(f"burner: {exc}", err=True)
        sys.exit(exc.exit_code)
    except OSError as exc:
        click.echo(f"burner: {_os_error_words(exc)}", err=True)
        sys.exit(1)


def _copy_failure(exc: OSError) -> str:
    """shutil.copytree gathers its failures into one error; the first says enough."""
    if isinstance(exc, shutil.Error) and exc.args and isinstance(exc.args[0], list):
        first = exc.args[0][0] if exc.args[0] else ("", "", str(exc))
        return f"{len(exc.args[0])} file(s) failed, the first: {one_line(first[2])[:200]}"
    return _os_error_words(exc)


def _os_error_words(exc: OSError) -> str:
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
