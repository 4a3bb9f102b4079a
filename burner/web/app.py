"""`burner web`: the station's web app (FastAPI, pages rendered on the server).

Every page and call needs a signed-in user (or, for /api, an API token); what a user may do
comes from their role (users.RIGHTS). A session is a random id in a signed, HttpOnly,
SameSite=Strict cookie (Secure under TLS), looked up in the station database on every request,
so signing out ends it everywhere; it ends by itself after `[web] session_minutes` idle. Every
form and state-changing call carries the session's CSRF token. Job operations are those of the
CLI (burner.operations), never a copy. URLs carry job ids only, never patient data, and the
app logs no patient data.
"""


import logging

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from burner.config import Config
from burner.content.render import templates_dir
from burner.web import admin, api, board, handover, kiosk, requests, signin
from burner.web.kit import COOKIE, SignInNeeded, WebKit
from burner.web.settings import WebSettings, web_settings

log = logging.getLogger("burner.web")

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
STATIC = {"board.css": "text/css", "board.js": "text/javascript",
          "kiosk.css": "text/css", "kiosk.js": "text/javascript",
          "handover.js": "text/javascript"}
ROUTES = (signin, board, api, admin, kiosk, requests,
          handover)   # each module's install(app, kit) adds its routes


def create_app(config: Config, settings: WebSettings | None = None) -> FastAPI:
    kit = WebKit(config, settings or web_settings(config))
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def headers(request: Request, call_next):  # noqa: ANN202 - Starlette's signature
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if kit.settings.tls:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    @app.exception_handler(SignInNeeded)
    async def sign_in_needed(request: Request, exc: SignInNeeded) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "sign in first"}, status_code=401)
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.exception_handler(HTTPException)
    async def refused(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code,
                                headers=exc.headers)
        page = kit.pages.get_template("error.html").render(status=exc.status_code,
                                                           message=exc.detail)
        return HTMLResponse(page, status_code=exc.status_code)

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            raise HTTPException(404, "There is no such file.")
        return Response((templates_dir() / "web" / "static" / name).read_bytes(),
                        media_type=STATIC[name])

    for module in ROUTES:
        module.install(app, kit)
    return app


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


