"""The station service: claim approved jobs, recover after a crash, and run lanes at once:
one prepares jobs (validate ... master) while each writer (a drive, the image folder) burns,
verifies and finishes the jobs planned for its medium."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from burner import heartbeat, notices, retention
from burner.config import Config
from burner.context import JobContext, folder_gone_words, taken_over_words
from burner.errors import BurnerError, Reason
from burner.media.kinds import written_by
from burner.media.writers import IMAGES, no_writer, served_media
from burner.pipeline import next_stage, run_job, settle_failure
from burner.readiness import readiness
from burner.renames import RenameWatch
from burner.spool import Spool, write_owner
from burner.state import JobState, StateDB
from burner.untrusted import one_line

log = logging.getLogger("burner.station")
PREPARED_AHEAD = 2
CLAIM_AHEAD = PREPARED_AHEAD + 2     # jobs of its own a station holds in active/ at most
BACKOFF_FIRST, BACKOFF_MAX = 2.0, 300.0   # seconds, when a job's failure cannot be recorded


@dataclass(frozen=True)
class Lane:
    """A worker of the station: the prepare lane, or one writer's device lane."""

    name: str
    stages: str                      # which stages it runs: "prepare" or "device"
    media: frozenset[str] = frozenset()
    writer: str | None = None


def lanes(config: Config) -> list[Lane]:
    """The prepare lane, one lane per configured writer, and the image folder's lane. A job
    whose medium no writer takes is held at plan, before it gets here."""
    out = [Lane("prepare", "prepare")]
    out += [Lane(d.name, "device", frozenset({d.media}), d.name) for d in config.drives]
    out.append(Lane(IMAGES, "device", written_by(IMAGES), IMAGES))
    out.append(Lane("electronic", "device", written_by("electronic")))   # ZIP, folder
    if "dicom" in served_media(config):       # sending to another hospital
        out.append(Lane("network", "device", frozenset({"dicom"})))
    return out

_FINAL = {"done": JobState.DONE, "held": JobState.HELD, "rejected": JobState.REJECTED}
_FINAL_FOLDER = {state: folder for folder, state in _FINAL.items()}


class Station:
    """One station serving one spool."""

    def __init__(self, config: Config):
        self.config = config
        self.spool = Spool(config.spool_dir)
        self.spool.ensure(create=config.spool_is_local)
        config.work_dir.mkdir(parents=True, exist_ok=True)
        self.db = StateDB(config.db_path)
        self.lanes = lanes(config)
        self._served = served_media(config)
        self._busy: set[str] = set()
        self._backoff: dict[str, tuple[float, int]] = {}   # job: (not before, failures)
        self.left_waiting = False
        self._busy_lock = threading.Lock()
        self.renames: RenameWatch | None = None    # while serving: jobs renamed in whole

    def context(self, job_id: str, db: StateDB | None = None) -> JobContext:
        return JobContext.for_spool(self.config, self.spool, db or self.db, job_id)

    def lost_jobs(self) -> list[str]:
        """Jobs in active/ this station claimed under another database than this one, which
        does not know them: the database was lost, emptied or replaced, and with it the record
        of the discs already made for them."""
        station = self.config.station_id
        return [d.name for d in self.spool.listing("active")
                if self.spool.owner(d) == station and self.db.get(d.name) is None
                and self.spool.owner_generation(d) not in (None, self.db.generation)]

    def recover(self) -> None:
        """Make the database agree with the spool after a crash or a restart."""
        lost = self.lost_jobs()
        if lost:
            raise BurnerError(
                f"The station's database {self.config.db_path} does not know {len(lost)} "
                f"job(s) this station was working on ({', '.join(map(one_line, lost[:5]))}): "
                "it was lost, emptied or replaced, and with it the record of the discs already "
                "made. Nothing was done. After checking, run: burner recover "
                "--accept-lost-state (discs found in media/ are read back and kept, never "
                "burned again).")
        self._agree_with_folders()
        for job_dir in self.spool.listing("active"):
            row = self.db.get(job_dir.name)
            if row is not None and row.state != JobState.QUEUED:
                # Running, or held/done with its folder left in active/: the database knows
                # the job and its copies; adopting it afresh would burn copy 1 again. (A
                # queued job was claimed again just before a crash: it starts afresh.)
                continue
            if self.spool.adoptable(job_dir, self.config.station_id):
                log.info("adopting job %s found in active/", job_dir.name)
                write_owner(job_dir, self.config.station_id, self.db.generation)
                self.db.add_job(job_dir.name, self.config.station_id)

    def _agree_with_folders(self) -> None:
        """Repair every disagreement between a job's folder and its record, in the direction
        DESIGN.md section 2 sets: the folder decides where the job is, the database which
        copies exist (README, "When the folders and the database disagree")."""
        station = self.config.station_id
        for row in self.db.jobs():
            places = [p for p in self.spool.places(row.job_id) if p != "incoming"]
            # Its own folder is the one in active/ or a final one; a folder of that name in
            # approved/ beside it is another release, refused at claim as a duplicate.
            where = next((p for p in ("active", *_FINAL, "pending", "approved")
                          if p in places), None)
            running = row.state in (JobState.ACTIVE, JobState.WAITING)
            if where in _FINAL and row.state != _FINAL[where] and \
                    (running or row.state == JobState.QUEUED):
                # The move was made, the record of it not (a crash in between).
                self.db.set_state(row.job_id, _FINAL[where], row.reason, code=row.reason_code)
            elif where is None and running:
                self.db.set_state(row.job_id, JobState.HELD,
                                  folder_gone_words("active", row.job_id),
                                  code=Reason.FOLDER_GONE)
            elif where in ("pending", "approved") and running:
                # Put back into the queue by hand: claimed again later, its copies kept.
                self.db.note(row.job_id, "recover", "folder in " + where,
                             "the job folder was back in " + where + "/; queued again")
                self.db.requeue(row.job_id)
            elif where == "active":
                owner = self.spool.owner(self.spool.path("active", row.job_id))
                if running and owner not in (None, station):
                    self.db.set_state(row.job_id, JobState.HELD, taken_over_words(owner),
                                      code=Reason.TAKEN_OVER)
                elif row.state in (JobState.DONE, JobState.REJECTED) and owner in (None, station):
                    # Finished here, folder back in active/: nothing is left to run, so it
                    # goes back to where it ended rather than wait there for ever.
                    self._finish_move(row.job_id, _FINAL_FOLDER[row.state], row.reason,
                                      row.reason_code)

    def _finish_move(self, job_id: str, dest: str, reason: str, code: str = "") -> None:
        try:
            self.spool.move(job_id, "active", dest,
                            reason or None if dest != "done" else None, code)
        except (OSError, BurnerError) as exc:
            log.warning("job %s: finished, but its folder in active/ could not go back to "
                        "%s/: %s", one_line(job_id), dest, one_line(exc))
            return
        self.db.note(job_id, "recover", "moved", f"folder back from active/ to {dest}/")
        log.info("job %s: finished; its folder went back from active/ to %s/",
                 one_line(job_id), dest)

    def claim_all(self, db: StateDB | None = None) -> list[str]:
        """Claim every ready job in approved/, oldest first."""
        db = db or self.db
        claimed = []
        # Claim only what this station will start soon, so that stations sharing the spool
        # all get work: one job preparing, PREPARED_AHEAD waiting for a writer.
        room = CLAIM_AHEAD - len(db.jobs((JobState.ACTIVE, JobState.WAITING)))
        self.left_waiting = False      # a job stays in approved/ that a later look may take
        for job_dir in self.spool.listing("approved"):
            if len(claimed) >= room:
                self.left_waiting = True
                break
            ready = readiness(job_dir, self.config.quiet_seconds,
                              self.config.incomplete_seconds,
                              renamed_at=self.renames.arrived_at(job_dir)
                              if self.renames else None)
            if ready.verdict == "wait" and (job_dir / "job.json").is_file():
                self.left_waiting = True
            if ready.verdict == "reject":
                if self.spool.reject_unclaimed(job_dir, ready.reason,
                                               code=ready.code) is not None:
                    log.warning("job %s: incomplete, moved to rejected/",
                                one_line(job_dir.name))
                continue
            if ready.verdict != "claim":
                continue
            why = self.duplicate(job_dir.name, db)
            if why:
                moved = self.spool.reject_unclaimed(job_dir, why, "duplicate",
                                                    Reason.DUPLICATE_ID)
                if moved is not None:
                    log.warning("job %s: refused, its id is taken; moved to rejected/%s",
                                one_line(job_dir.name), one_line(moved.name))
                continue
            target = self.spool.claim(job_dir, self.config.station_id, db.generation)
            if target is not None:
                db.add_job(target.name, self.config.station_id)
                log.info("claimed job %s", target.name)
                claimed.append(target.name)
        return claimed

    def duplicate(self, job_id: str, db: StateDB) -> str:
        """Why a job in approved/ may not be claimed under its id (empty if it may): a job of
        that name is already in the spool, or known to this station and not queued again."""
        shown = one_line(job_id)
        places = self.spool.elsewhere(job_id)
        row = db.get(job_id)
        if not places and (row is None or row.state == JobState.QUEUED):
            return ""
        where = (f"is already in {places[0]}/" if places else
                 f"was already processed by this station (it ended {row.state})")
        return (f"This folder was not processed: a job called {shown} {where}, and a job id "
                "names one release only, so the earlier job was left exactly as it is. Give "
                "this release a new job id (the folder name and job_id in job.json) and put it "
                "in approved/ again; to run the earlier job again, use burner retry.")

    def _wants(self, lane: Lane, media: str) -> bool:
        return media in lane.media

    def _hold_unserved(self, db: StateDB) -> bool:
        """Hold one prepared job whose medium no lane of this station takes (planned under
        another configuration of the writers, then resumed here); True if one was held. The
        plan holds every other such job before staging."""
        for row in db.jobs((JobState.ACTIVE, JobState.WAITING)):
            module = next_stage(row.stages_done)
            if module is None or module.LANE == "prepare" or row.media in self._served:
                continue
            job_id = self._take([row.job_id])
            if job_id is None:
                continue
            try:
                settle_failure(self.context(job_id, db), module.NAME, no_writer(row.media))
            except Exception:  # noqa: BLE001 - e.g. the folder was moved away meanwhile
                log.exception("job %s: could not hold it", one_line(job_id))
                db.set_state(job_id, JobState.HELD, one_line(no_writer(row.media)))
            finally:
                with self._busy_lock:
                    self._busy.discard(job_id)
            return True
        return False

    def _runnable(self, lane: Lane, now: float, db: StateDB) -> list[str]:
        """Jobs `lane` may run next, oldest first. The prepare lane finishes what it started
        first, and starts no new job while PREPARED_AHEAD jobs already wait for a writer."""
        out, started, ready = [], [], 0
        for row in db.jobs((JobState.ACTIVE, JobState.WAITING)):
            module = next_stage(row.stages_done)
            if module is None:
                continue
            if module.LANE != "prepare":
                ready += 1
            if lane.stages != module.LANE or row.not_before > now:
                continue
            if lane.stages == "device" and not self._wants(lane, row.media):
                continue
            (started if row.stages_done else out).append(row.job_id)
        if lane.stages == "prepare" and ready >= PREPARED_AHEAD:
            return started
        return started + out

    def _take(self, jobs: list[str]) -> str | None:
        now = time.time()
        with self._busy_lock:
            job_id = next((j for j in jobs if j not in self._busy
                           and self._backoff.get(j, (0.0, 0))[0] <= now), None)
            if job_id is not None:
                self._busy.add(job_id)
            return job_id

    def step(self, lane: Lane, db: StateDB) -> bool:
        """Advance one job as far as `lane` goes; False when there was nothing to do."""
        if lane.stages == "prepare" and self._hold_unserved(db):
            return True
        job_id = self._take(self._runnable(lane, time.time(), db))
        if job_id is None:
            return False
        try:
            row = db.get(job_id)
            if row is not None and row.state == JobState.WAITING:
                db.set_state(job_id, JobState.ACTIVE, row.reason, code=row.reason_code)
            ctx = self.context(job_id, db)
            ctx.writer = lane.writer
            run_job(ctx, lane.stages)
            self._backoff.pop(job_id, None)
        except Exception:
            # Even recording the failure failed (a full disk, a broken database): this job is
            # left alone for a while, longer each time, instead of being restarted at once.
            _, failures = self._backoff.get(job_id, (0.0, 0))
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** failures)
            self._backoff[job_id] = (time.time() + delay, failures + 1)
            log.warning("job %s: could not go on or record why; trying again in %d s",
                        job_id, delay)
            raise
        finally:
            with self._busy_lock:
                self._busy.discard(job_id)
        return True

    def pending_work(self) -> bool:
        rows = self.db.jobs((JobState.ACTIVE, JobState.WAITING))
        return any(next_stage(r.stages_done) is not None for r in rows)

    def drain(self) -> None:
        """`burner run --once`: process everything queued now, then return."""
        self.recover()
        with heartbeat.Beater(self.spool.root, self.config.station_id, self._beat_every()):
            self._drain()

    def _beat_every(self) -> float:
        return max(0.5, min(5.0, self.config.silent_seconds / 4))

    def _drain(self) -> None:
        self.claim_all()
        while True:
            progressed = any(self.step(lane, self.db) for lane in self.lanes)
            if progressed or self.claim_all():
                continue
            settling = self.left_waiting        # what the claim just now had to leave
            if not self.pending_work() and not settling:
                return
            waits = [r.not_before for r in self.db.jobs((JobState.WAITING,))]
            wake = min(waits, default=time.time() + 0.2)
            time.sleep(min(0.2, max(0.05, wake - time.time())) if settling else
                       max(0.05, wake - time.time()))

    def serve(self, stop: threading.Event) -> None:
        """`burner run`: watch approved/ (events plus a periodic rescan) until `stop` is set."""
        from burner.watcher import SpoolWatcher

        self.recover()
        listener = self._start_listener()
        beater = heartbeat.Beater(self.spool.root, self.config.station_id, self._beat_every())
        beater.start()
        look = threading.Event()   # set by watchdog events and by the periodic rescan
        watcher = SpoolWatcher(self.spool.folder("approved"), look)
        watcher.start()
        renames = RenameWatch(self.spool.folder("incoming"), self.spool.folder("approved"), look)
        self.renames = renames if renames.start() else None
        threads = [threading.Thread(target=self._lane_loop, args=(lane, stop, look),
                                    name=f"lane-{lane.name}", daemon=True)
                   for lane in self.lanes]
        threads += notices.notice_threads(self.config, stop)   # never holds up the lanes
        for t in threads:
            t.start()
        next_cleanup = 0.0
        try:
            while not stop.is_set():
                look.set()
                if time.time() >= next_cleanup:
                    self.clean_up()
                    next_cleanup = time.time() + retention.INTERVAL_SECONDS
                stop.wait(self.config.rescan_seconds)
        finally:
            beater.stop()
            if listener is not None:
                listener.stop()
            watcher.stop()
            renames.stop()
            self.renames = None
            stop.set()
            for t in threads:
                t.join(timeout=5)

    def _start_listener(self):  # noqa: ANN202 - a network.listener.Listener, imported late
        """The DICOM listener, when `[dicom] enabled`; a port it cannot have is logged, and
        the station serves the spool without it."""
        from burner.network.settings import dicom_settings

        settings = dicom_settings(self.config)
        if not settings.enabled:
            return None
        from burner.network import listener

        try:
            return listener.start(self.config, settings)
        except OSError as exc:
            log.error("the DICOM listener cannot listen on %s:%d (%s); the station goes on "
                      "without it", settings.bind, settings.port, exc.strerror)
            return None

    def clean_up(self) -> None:
        """Delete what [retention] says finished jobs no longer need; never stop serving."""
        try:
            for item in retention.clean(self.config, self.db):
                if item.error:
                    log.warning("job %s: could not delete its old work files: %s",
                                item.job_id, item.error)
                    continue
                log.info("job %s: deleted its work files and images (%d bytes), done %d days "
                         "ago", item.job_id, item.bytes, (time.time() - item.finished) // 86400)
        except OSError as exc:
            log.warning("could not delete old work files: %s", exc)

    def _lane_loop(self, lane: Lane, stop: threading.Event, look: threading.Event) -> None:
        """Take -> run -> back off. Only the prepare lane claims, when told to look."""
        db = StateDB(self.config.db_path)
        settle_at = 0.0     # when to look again at a job in approved/ that is not yet quiet
        try:
            while not stop.is_set():
                try:
                    now = time.time()
                    if lane.stages == "prepare" and (look.is_set() or 0 < settle_at <= now):
                        look.clear()
                        self.claim_all(db)
                        # Look again soon at what stayed (still settling, or no room yet)
                        # rather than at the next rescan.
                        settle_at = (now + min(1.0, max(0.1, self.config.quiet_seconds / 2))
                                     if self.left_waiting else 0.0)
                    busy = self.step(lane, db)
                except Exception:  # noqa: BLE001 - the service keeps serving
                    log.exception("lane %s: unexpected error; going on", lane.name)
                    busy = False
                if not busy:
                    stop.wait(0.2 if lane.stages == "prepare" else 0.5)
        finally:
            db.close()

