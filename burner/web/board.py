"""The technicians' board (/board), its live event stream and the job actions on it."""
# No "from __future__ import annotations": FastAPI reads the routes' annotations at run time.

import asyncio
import dataclasses
import datetime
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from burner.config import Config
from burner.desk.worklist import desk_summary
from burner.errors import BurnerError
from burner.operations.equipment import QUERY_SECONDS
from burner.progress import PROGRESS
from burner.spool import job_id_problem
from burner.users import Right, Session
from burner.web.boardview import HEADINGS, board_view, megabytes, row
from burner.web.kit import WebKit, start_page
from burner.web.requests import today_of

log = logging.getLogger("burner.web")

EVENT_SECONDS = 1.0        # how often the event stream looks for a change
KEEPALIVE_SECONDS = 15.0


def install(app: FastAPI, kit: WebKit) -> None:
    config = kit.config

    @app.get("/")
    def home(current: Annotated[Session, Depends(kit.session)]) -> Response:
        return RedirectResponse(start_page(current.user), status_code=303)

    @app.get("/board")
    def board(request: Request, current: Annotated[Session, Depends(kit.allowed(Right.BOARD))],
              done: Annotated[str, Query(max_length=8)] = "") -> Response:
        view = board_view(config, all_done=done == "all")
        desk = desk_summary(config, today_of(request)) \
            if current.user.may(Right.REQUESTS) else None
        return kit.render("board.html", view=view, notices=view.notices, headings=HEADINGS,
                          row=row, desk=desk,
                          megabytes=megabytes, session=current, user=current.user)

    @app.get("/jobs/{job_id}")
    def job_page(job_id: str,
                 current: Annotated[Session, Depends(kit.allowed(Right.BOARD))]) -> Response:
        from burner.operations.details import details

        if job_id_problem(job_id):
            raise HTTPException(404, "There is no such job.")
        try:
            detail = details(config, job_id)
        except BurnerError as exc:
            raise HTTPException(404, str(exc)) from None
        with kit.users() as store:
            actions = store.actions(job_id=job_id)
        return kit.render("job.html", job=detail, r=row(detail.info), actions=actions,
                          when=when, session=current, user=current.user)

    def job_action(right: Right, action: str, do: Callable[[str, str], str]):  # noqa: ANN202
        def handler(request: Request, job_id: str,
                    current: Annotated[Session, Depends(kit.allowed(right))],
                    csrf: Annotated[str, Form(max_length=200)] = "",
                    back: Annotated[str, Form(max_length=8)] = "") -> Response:
            kit.csrf_ok(current, csrf)
            if job_id_problem(job_id):
                raise HTTPException(404, "There is no such job.")
            with kit.users() as store:
                try:
                    words = do(job_id, current.user.name)
                except BurnerError as exc:
                    store.record(current.user.name, action, job_id, "refused", str(exc))
                    raise HTTPException(409, str(exc)) from None
                store.record(current.user.name, action, job_id, "ok", words)
            log.info("web: %s %s by %s", action, job_id, current.user.name)
            back = f"/jobs/{job_id}" if back == "job" else "/board"
            return RedirectResponse(back, status_code=303)
        return handler

    def do_retry(job_id: str, by: str) -> str:
        from burner.operations.control import retry

        return retry(config, job_id).how

    def do_cancel(job_id: str, by: str) -> str:
        from burner.operations.control import cancel

        return "at once" if cancel(config, job_id, by=by).at_once else "before its next step"

    def do_reprint(job_id: str, by: str) -> str:
        from burner.operations.prints import reprint

        done = reprint(config, job_id)
        problem = done.problem()
        if problem is not None:
            raise problem
        return f"{len(done.sent)} printout(s) sent"

    app.post("/jobs/{job_id}/retry")(job_action(Right.RETRY, "retry", do_retry))
    app.post("/jobs/{job_id}/cancel")(job_action(Right.CANCEL, "cancel", do_cancel))
    app.post("/jobs/{job_id}/reprint")(job_action(Right.REPRINT, "reprint", do_reprint))

    @app.get("/board/events")
    async def board_events(request: Request,
                           current: Annotated[Session, Depends(kit.allowed(Right.BOARD))],
                           done: Annotated[str, Query(max_length=8)] = "") -> Response:
        """Server-Sent Events: the board's rows whenever something changed."""
        def alive() -> bool:        # never renews the session: an open board is not activity
            with kit.users() as store:
                return store.session(current.id, kit.idle, touch=False) is not None

        def desk() -> dict | None:  # the front desk's counts, for those who may see requests
            if not current.user.may(Right.REQUESTS):
                return None
            return dataclasses.asdict(desk_summary(config, today_of(request)))

        return StreamingResponse(_events(config, request, alive, all_done=done == "all",
                                         desk=desk),
                                 media_type="text/event-stream",
                                 headers={"X-Accel-Buffering": "no"})


def _change_mark(config: Config) -> tuple[int, ...]:
    """Changes whenever a job moves, its record changes or a running job reports progress: the
    modification times of the database files, the spool folders and the running jobs'
    progress reports (cheap to read every second, unlike the status itself); and every
    QUERY_SECONDS, when the writers and printers are asked again."""
    active = config.spool_dir / "active"
    try:
        running = [config.work_dir / name / PROGRESS for name in os.listdir(active)]
    except OSError:
        running = []
    paths = [config.db_path, config.db_path.with_name(config.db_path.name + "-wal"),
             *(config.spool_dir / name for name in ("approved", "active", "done", "held",
                                                    "rejected", "pending")),
             *sorted(running)]
    mark = [int(time.monotonic() // QUERY_SECONDS)]
    for path in paths:
        try:
            st = os.stat(path)
            mark += [st.st_mtime_ns, st.st_size]
        except OSError:
            mark += [0, 0]
    return tuple(mark)


def board_rows(config: Config, all_done: bool = False) -> dict:
    """What the board shows, for the live updates."""
    return board_view(config, all_done).live()


def when(at: float | None) -> str:
    """A time on the pages: "2026-12-03 14:05:09" (the station's local time)."""
    if not at:
        return ""
    return datetime.datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S")


async def _events(config: Config, request: Request, alive: Callable[[], bool],  # noqa: ANN202
                  all_done: bool = False, desk: Callable[[], dict | None] = lambda: None):
    """The board's rows as events while the client listens and its session lives; when the
    session ends (signed out, idle, user disabled) a "signed-out" event ends the stream."""
    last_mark: tuple[int, ...] | None = None
    last_rows: dict | None = None
    quiet_since = time.monotonic()
    while not await request.is_disconnected():
        if not await asyncio.to_thread(alive):
            yield "event: signed-out\ndata: {}\n\n"
            return
        mark = await asyncio.to_thread(_change_mark, config)
        if mark != last_mark:
            last_mark = mark
            rows = await asyncio.to_thread(board_rows, config, all_done)
            rows["desk"] = await asyncio.to_thread(desk)
            if rows != last_rows:
                last_rows = rows
                quiet_since = time.monotonic()
                yield f"data: {json.dumps(rows)}\n\n"
        if time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
            quiet_since = time.monotonic()
            yield ": still here\n\n"
        await asyncio.sleep(EVENT_SECONDS)
