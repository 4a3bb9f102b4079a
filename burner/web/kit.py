"""What every route module of the web app shares: the station's configuration and users, the
signed session cookie, the role checks, the CSRF check, the /api reader (a session or an API
token) and the page renderer."""
# No "from __future__ import annotations": FastAPI reads the dependencies' annotations at run time.

import hmac
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from itsdangerous import BadSignature, Signer
from jinja2 import Environment, FileSystemLoader, select_autoescape

from burner.config import Config
from burner.content.render import templates_dir
from burner.users import Right, Session, TokenUser, User, Users
from burner.web.settings import WebSettings, secret_key

COOKIE = "burner_session"
BEARER = {"WWW-Authenticate": 'Bearer realm="burner"'}
PRE_COOKIE = "burner_signin"     # the sign-in form's own CSRF token, before a session exists


def start_page(user: User) -> str:
    """Where a user starts: a kiosk user's one page is the kiosk, everyone else's the board."""
    return "/kiosk" if user.may(Right.KIOSK) and not user.may(Right.BOARD) else "/board"


class SignInNeeded(Exception):
    """No live session: a page sends the browser to sign in, /api answers 401."""


@dataclass
class WebKit:
    """The shared parts of the app, made once by create_app and handed to each route module."""

    config: Config
    settings: WebSettings
    signer: Signer = field(init=False)
    pages: Environment = field(init=False)

    def __post_init__(self) -> None:
        self.signer = Signer(secret_key(self.settings), salt="burner-session")
        self.pages = Environment(loader=FileSystemLoader(str(templates_dir() / "web")),
                                 autoescape=select_autoescape(default=True,
                                                              default_for_string=True))

    @property
    def idle(self) -> float:
        """Seconds without a request after which a session ends."""
        return self.settings.session_minutes * 60

    def users(self) -> Users:
        return Users(self.config.db_path)

    def cookie(self, response: Response, name: str, value: str,
               max_age: int | None = None) -> None:
        response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict",
                            secure=self.settings.tls, path="/")

    def unsign(self, raw: str) -> str:
        """The value a cookie of this app carries, or '' when it is missing or forged."""
        try:
            return self.signer.unsign(raw).decode() if raw else ""
        except BadSignature:
            return ""

    def session(self, request: Request) -> Session:
        """The request's live session (a FastAPI dependency); SignInNeeded otherwise."""
        session_id = self.unsign(request.cookies.get(COOKIE, ""))
        if not session_id:
            raise SignInNeeded
        with self.users() as store:
            found = store.session(session_id, self.idle)
        if found is None:
            raise SignInNeeded
        return found

    def allowed(self, right: Right):  # noqa: ANN201 - a FastAPI dependency factory
        """A dependency: the session, when its user's role has `right`; 403 otherwise."""
        def check(current: Annotated[Session, Depends(self.session)]) -> Session:
            if not current.user.may(right):
                raise HTTPException(403, f"Your role ({current.user.role}) may not do this.")
            return current
        return check

    def api_reader(self, request: Request) -> User | TokenUser:
        """For /api only (a FastAPI dependency): who may read it. With an `Authorization:
        Bearer` header, the live API token it carries (401 otherwise, even beside a cookie);
        without one, the signed-in user when their role may see the board. A token is not a
        session: pages and forms never take it."""
        header = request.headers.get("authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer":
                raise HTTPException(401, "Send an API token as 'Authorization: Bearer TOKEN'.",
                                    headers=BEARER)
            with self.users() as store:
                caller = store.token_user(token.strip())
            if caller is None:
                raise HTTPException(401, "This API token is not known or was revoked.",
                                    headers=BEARER)
            return caller
        current = self.session(request)
        if not current.user.may(Right.BOARD):
            raise HTTPException(403, f"Your role ({current.user.role}) may not do this.")
        return current.user

    @staticmethod
    def csrf_ok(current: Session, token: str) -> None:
        """403 unless `token` is the session's CSRF token."""
        if not token or not hmac.compare_digest(token.encode(), current.csrf.encode()):
            raise HTTPException(403, "The form was not sent from this station's own page "
                                     "(a missing or wrong CSRF token); reload it and try again.")

    def render(self, name: str, status_code: int = 200, **values: object) -> HTMLResponse:
        return HTMLResponse(self.pages.get_template(name).render(Right=Right, **values),
                            status_code=status_code)
