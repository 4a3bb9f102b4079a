"""`burner web`: the station's web app (FastAPI, pages rendered on the server).

Every page and call needs a signed-in user (or, for /api, an API token); what a user may do
comes from their role (users.RIGHTS). A session is a random id in a signed, HttpOnly,
SameSite=Strict cookie (Secure under TLS), looked up in the station database on every request,
so signing out ends it everywhere; it ends by itself after `[web] session_minutes` idle. Every
form and state-changing call carries the session's CSRF token. Job operations are those of the
CLI (burner.operations), never a copy. URLs carry job ids only, never patient data, and the
app logs no patient data.
"""


import asyncio
import hmac
import json
import logging
import os
import secrets
import time
from typing import Annotated

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from itsdangerous import BadSignature, Signer
from jinja2 import Environment, FileSystemLoader, select_autoescape

from burner.config import Config
from burner.content.render import templates_dir
from burner.errors import BurnerError
from burner.spool import job_id_problem
from burner.users import Right, Session, SignInRefused, Users
from burner.web.settings import WebSettings, secret_key, web_settings

log = logging.getLogger("burner.web")

COOKIE = "burner_session"
PRE_COOKIE = "burner_signin"     # the sign-in form's own CSRF token, before a session exists
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; "
                                "img-src 'self' data:; connect-src 'self'; "
                                "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
                                "object-src 'none'"),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
STATIC = {"board.css": "text/css", "board.js": "text/javascript"}
EVENT_SECONDS = 1.0        # how often the event stream looks for a change
KEEPALIVE_SECONDS = 15.0


class SignInNeeded(Exception):
    """No live session: a page sends the browser to sign in, /api answers 401."""


def create_app(config: Config, settings: WebSettings | None = None) -> FastAPI:
    settings = settings or web_settings(config)
    signer = Signer(secret_key(settings), salt="burner-session")
    pages = Environment(loader=FileSystemLoader(str(templates_dir() / "web")),
                        autoescape=select_autoescape(default=True, default_for_string=True))
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    idle = settings.session_minutes * 60

    def users() -> Users:
        return Users(config.db_path)

    @app.middleware("http")
    async def headers(request: Request, call_next):  # noqa: ANN202 - Starlette's signature
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if settings.tls:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    @app.exception_handler(SignInNeeded)
    async def sign_in_needed(request: Request, exc: SignInNeeded) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "sign in first"}, status_code=401)
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    def cookie(response: Response, name: str, value: str, max_age: int | None = None) -> None:
        response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict",
                            secure=settings.tls, path="/")

    def session(request: Request) -> Session:
        raw = request.cookies.get(COOKIE, "")
        try:
            session_id = signer.unsign(raw).decode() if raw else ""
        except BadSignature:
            session_id = ""
        if not session_id:
            raise SignInNeeded
        with users() as store:
            found = store.session(session_id, idle)
        if found is None:
            raise SignInNeeded
        return found

    def allowed(right: Right):  # noqa: ANN202 - a FastAPI dependency factory
        def check(current: Annotated[Session, Depends(session)]) -> Session:
            if not current.user.may(right):
                raise HTTPException(403, f"Your role ({current.user.role}) may not do this.")
            return current
        return check

    def csrf_ok(current: Session, token: str) -> None:
        if not token or not hmac.compare_digest(token.encode(), current.csrf.encode()):
            raise HTTPException(403, "The form was not sent from this station's own page "
                                     "(a missing or wrong CSRF token); reload it and try again.")

    def render(name: str, **values: object) -> HTMLResponse:
        return HTMLResponse(pages.get_template(name).render(Right=Right, **values))

    @app.exception_handler(HTTPException)
    async def refused(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
        page = pages.get_template("error.html").render(status=exc.status_code,
                                                       message=exc.detail)
        return HTMLResponse(page, status_code=exc.status_code)

    @app.get("/")
    def home() -> Response:
        return RedirectResponse("/board", status_code=303)

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            raise HTTPException(404, "There is no such file.")
        return Response((templates_dir() / "web" / "static" / name).read_bytes(),
                        media_type=STATIC[name])

    @app.get("/signin")
    def signin_page(message: str = "") -> Response:
        token = secrets.token_urlsafe(32)
        response = render("signin.html", csrf=token, message="")
        cookie(response, PRE_COOKIE, signer.sign(token).decode(), max_age=3600)
        return response

    @app.post("/signin")
    def signin(request: Request, name: Annotated[str, Form(max_length=64)],
               password: Annotated[str, Form(max_length=1024)],
               csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
        try:
            expected = signer.unsign(request.cookies.get(PRE_COOKIE, "")).decode()
        except BadSignature:
            expected = ""
        if not expected or not hmac.compare_digest(expected.encode(), csrf.encode()):
            raise HTTPException(403, "The sign-in form was not sent from this station's own "
                                     "page; reload it and try again.")
        with users() as store:
            try:
                user = store.authenticate(name, password)
            except SignInRefused as exc:
                store.record(name[:64], "sign in", outcome="refused")
                log.warning("web: a sign-in was refused")
                response = render("signin.html", csrf=csrf, message=str(exc))
                response.status_code = 401
                return response
            opened = store.open_session(user)
            store.record(user.name, "sign in")
        response = RedirectResponse("/board", status_code=303)
        cookie(response, COOKIE, signer.sign(opened.id).decode())
        response.delete_cookie(PRE_COOKIE)
        return response

    @app.post("/signout")
    def signout(current: Annotated[Session, Depends(session)],
                csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
        csrf_ok(current, csrf)
        with users() as store:
            store.close_session(current.id)
            store.record(current.user.name, "sign out")
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.get("/board")
    def board(current: Annotated[Session, Depends(allowed(Right.BOARD))]) -> Response:
        from burner.operations.overview import status

        return render("board.html", status=status(config), session=current,
                      user=current.user)

    def job_action(right: Right, action: str, do):  # noqa: ANN001, ANN202
        def handler(job_id: str, current: Annotated[Session, Depends(allowed(right))],
                    csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
            csrf_ok(current, csrf)
            if job_id_problem(job_id):
                raise HTTPException(404, "There is no such job.")
            with users() as store:
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
                           current: Annotated[Session, Depends(allowed(Right.BOARD))]
                           ) -> Response:
        """Server-Sent Events: the board's rows whenever something changed."""
        def alive() -> bool:        # never renews the session: an open board is not activity
            with users() as store:
                return store.session(current.id, idle, touch=False) is not None

        return StreamingResponse(_events(config, request, alive),
                                 media_type="text/event-stream",
                                 headers={"X-Accel-Buffering": "no"})

    @app.get("/api/status")
    def api_status(current: Annotated[Session, Depends(allowed(Right.BOARD))]) -> Response:
        from burner.operations.overview import status

        return JSONResponse(status(config).as_dict())

    @app.get("/api/jobs/{job_id}")
    def api_job(job_id: str,
                current: Annotated[Session, Depends(allowed(Right.BOARD))]) -> Response:
        from burner.operations.overview import job

        if job_id_problem(job_id):
            raise HTTPException(404, "There is no such job.")
        try:
            return JSONResponse(job(config, job_id).as_dict())
        except BurnerError as exc:
            raise HTTPException(404, str(exc)) from None

    @app.get("/actions")
    def actions(current: Annotated[Session, Depends(allowed(Right.ACTIONS))]) -> Response:
        with users() as store:
            rows = store.actions()
        return render("actions.html", rows=rows, session=current, user=current.user)

    return app


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


async def _events(config: Config, request: Request, alive):  # noqa: ANN001, ANN202
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


def run_server(config: Config) -> None:
    """Serve the app with uvicorn until stopped (`burner web`)."""
    import uvicorn

    settings = web_settings(config)
    app = create_app(config, settings)
    ssl = {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)} \
        if settings.tls else {}
    # uvicorn's access log would write URLs and addresses for every request: job ids only,
    # but the station's own log is enough.
    # Open event streams never end by themselves: on SIGTERM they are cut after a few
    # seconds, so that stopping the service (systemctl stop) does not hang on a board.
    uvicorn.run(app, host=settings.host, port=settings.port, access_log=False,
                server_header=False, log_level="warning", timeout_graceful_shutdown=3, **ssl)


