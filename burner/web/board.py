"""The technicians' board (/board), its live event stream and the job actions on it."""
# No "from __future__ import annotations": FastAPI reads the routes' annotations at run time.

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from burner.config import Config
from burner.errors import BurnerError
from burner.spool import job_id_problem
from burner.users import Right, Session
from burner.web.kit import WebKit

log = logging.getLogger("burner.web")

EVENT_SECONDS = 1.0        # how often the event stream looks for a change
KEEPALIVE_SECONDS = 15.0


def install(app: FastAPI, kit: WebKit) -> None:
    config = kit.config

    @app.get("/")
    def home() -> Response:
        return RedirectResponse("/board", status_code=303)

    @app.get("/board")
    def board(current: Annotated[Session, Depends(kit.allowed(Right.BOARD))]) -> Response:
        from burner.operations.overview import status

        return kit.render("board.html", status=status(config), session=current,
                          user=current.user)

    def job_action(right: Right, action: str, do: Callable[[str, str], str]):  # noqa: ANN202
        def handler(job_id: str, current: Annotated[Session, Depends(kit.allowed(right))],
                    csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
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
            return RedirectResponse("/board", status_code=303)
        return handler

    def do_retry(job_id: str, by: str) -> str:
        from burner.operations.control import retry

        return retry(config, job_id).how

    def do_cancel(job_id: str, by: str) -> str:
        from burner.operations.control import cancel

        return "at once" if cancel(config, job_id, by=by).at_once else "before its next step"

    app.post("/jobs/{job_id}/retry")(job_action(Right.RETRY, "retry", do_retry))
    app.post("/jobs/{job_id}/cancel")(job_action(Right.CANCEL, "cancel", do_cancel))

    @app.get("/board/events")
    async def board_events(request: Request,
                           current: Annotated[Session, Depends(kit.allowed(Right.BOARD))]
                           ) -> Response:
        """Server-Sent Events: the board's rows whenever something changed."""
        def alive() -> bool:        # never renews the session: an open board is not activity
            with kit.users() as store:
                return store.session(current.id, kit.idle, touch=False) is not None

        return StreamingResponse(_events(config, request, alive),
                                 media_type="text/event-stream",
                                 headers={"X-Accel-Buffering": "no"})


def _change_mark(config: Config) -> tuple[int, ...]:
    """Changes whenever a job moves or its record does: the database files' and the spool
    folders' modification times (cheap to read every second, unlike the status itself)."""
    paths = [config.db_path, config.db_path.with_name(config.db_path.name + "-wal"),
             *(config.spool_dir / name for name in ("approved", "active", "done", "held",
                                                    "rejected", "pending"))]
    mark = []
    for path in paths:
        try:
            st = os.stat(path)
            mark += [st.st_mtime_ns, st.st_size]
        except OSError:
            mark += [0, 0]
    return tuple(mark)


def board_rows(config: Config) -> list[dict]:
    """What the board shows of each job, for the live updates."""
    from burner.operations.overview import status

    return [{"job_id": j.job_id, "state": j.state, "stage": j.stage, "copies": j.copies,
             "reason_code": j.reason_code, "reason": j.reason} for j in status(config).jobs]


async def _events(config: Config, request: Request, alive: Callable[[], bool]):  # noqa: ANN202
    """The board's rows as events while the client listens and its session lives; when the
    session ends (signed out, idle, user disabled) a "signed-out" event ends the stream."""
    last_mark: tuple[int, ...] | None = None
    last_rows: list[dict] | None = None
    quiet_since = time.monotonic()
    while not await request.is_disconnected():
        if not await asyncio.to_thread(alive):
            yield "event: signed-out\ndata: {}\n\n"
            return
        mark = await asyncio.to_thread(_change_mark, config)
        if mark != last_mark:
            last_mark = mark
            rows = await asyncio.to_thread(board_rows, config)
            if rows != last_rows:
                last_rows = rows
                quiet_since = time.monotonic()
                yield f"data: {json.dumps({'jobs': rows})}\n\n"
        if time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
            quiet_since = time.monotonic()
            yield ": still here\n\n"
        await asyncio.sleep(EVENT_SECONDS)
