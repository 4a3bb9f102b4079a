"""The administrator's pages: the action log, and the users page (users and API tokens)."""
# No "from __future__ import annotations": FastAPI reads the routes' annotations at run time.

import logging
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Form
from fastapi.responses import RedirectResponse, Response

from burner.errors import BurnerError
from burner.users import AlreadyThere, NoSuchToken, NoSuchUser, Right, Role, Session, Users
from burner.web.kit import WebKit

log = logging.getLogger("burner.web")

PAGE = "/admin/users"
# What the page says after a change went through (?done=KEY: a fixed word, never a name).
DONE = {
    "add": "The user was added. They can sign in now.",
    "password": "The new password is set. The user signs in with it from now on.",
    "disable": "The user is disabled and signed out everywhere.",
    "enable": "The user can sign in again.",
    "unlock": "The account is unlocked. The user can sign in again now.",
    "revoke": "The token is revoked. It no longer works.",
}
# The status of a refusal, by what the store raised (the first that matches).
REFUSALS: tuple[tuple[type[BurnerError], int], ...] = (
    (NoSuchUser, 404), (NoSuchToken, 404), (AlreadyThere, 409), (BurnerError, 400))
Field = Annotated[str, Form()]


class Refused(BurnerError):
    """A change the page itself turns down, with the words to show and the status."""

    def __init__(self, words: str, status: int = 400):
        super().__init__(words)
        self.status = status


def when(at: float) -> str:
    """A time as the station's clock shows it, or '' for never."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at)) if at else ""


def install(app: FastAPI, kit: WebKit) -> None:
    Admin = Annotated[Session, Depends(kit.allowed(Right.USERS))]

    @app.get("/actions")
    def actions(current: Annotated[Session, Depends(kit.allowed(Right.ACTIONS))]) -> Response:
        with kit.users() as store:
            rows = store.actions()
        return kit.render("actions.html", rows=rows, session=current, user=current.user)

    def page(current: Session, status_code: int = 200, message: str = "", done: str = "",
             new_token: str = "", new_token_name: str = "") -> Response:
        with kit.users() as store:
            users, tokens = store.list(), store.tokens()
        return kit.render("users.html", status_code, session=current, user=current.user,
                          users=users, tokens=tokens, roles=list(Role), now=time.time(),
                          when=when, message=message, done=DONE.get(done, ""),
                          new_token=new_token, new_token_name=new_token_name)

    def refusal(store: Users, current: Session, action: str, exc: BurnerError) -> Response:
        """The page again, with the refusal's words (logged as refused) and its status."""
        words = str(exc)
        status = exc.status if isinstance(exc, Refused) else next(
            code for kind, code in REFUSALS if isinstance(exc, kind))
        store.record(current.user.name, action, outcome="refused", detail=words)
        return page(current, status, message=words[:1].upper() + words[1:] + ".")

    def change(current: Session, csrf: str, action: str, done: str,
               do: Callable[[Users], str]) -> Response:
        """Check the form's CSRF token, make the change `do` (which answers what the action
        log keeps), log it and go back to the page; a refusal shows the page with its words."""
        kit.csrf_ok(current, csrf)
        with kit.users() as store:
            try:
                detail = do(store)
            except BurnerError as exc:
                return refusal(store, current, action, exc)
            store.record(current.user.name, action, detail=detail)
        log.info("web: %s by %s", action, current.user.name)
        return RedirectResponse(f"{PAGE}?done={done}", status_code=303)

    @app.get(PAGE)
    def users_page(current: Admin, done: str = "") -> Response:
        return page(current, done=done)

    @app.post(f"{PAGE}/add")
    def user_add(current: Admin, name: Field = "", role: Field = "", password: Field = "",
                 password2: Field = "", csrf: Field = "") -> Response:
        def do(store: Users) -> str:
            if not role:
                raise Refused("choose a role for the new user")
            same_passwords(password, password2)
            made = store.add(name.strip(), role, password)
            return f"{made.name} ({made.role})"
        return change(current, csrf, "user add", "add", do)

    @app.post(f"{PAGE}/password")
    def user_password(current: Admin, name: Field = "", password: Field = "",
                      password2: Field = "", csrf: Field = "") -> Response:
        def do(store: Users) -> str:
            if not name:
                raise Refused("choose the user whose password you want to set")
            same_passwords(password, password2)
            store.set_password(name, password, keep=current.id)
            return name
        return change(current, csrf, "user password", "password", do)

    @app.post(f"{PAGE}/disable")
    def user_disable(current: Admin, name: Field = "", csrf: Field = "") -> Response:
        def do(store: Users) -> str:
            if name == current.user.name:
                raise Refused("you cannot disable yourself: the station would be left "
                              "without an administrator who can sign in. Another "
                              "administrator can do it", status=409)
            store.set_disabled(name, True)
            return name
        return change(current, csrf, "user disable", "disable", do)

    @app.post(f"{PAGE}/enable")
    def user_enable(current: Admin, name: Field = "", csrf: Field = "") -> Response:
        def do(store: Users) -> str:
            store.set_disabled(name, False)
            return name
        return change(current, csrf, "user enable", "enable", do)

    @app.post(f"{PAGE}/unlock")
    def user_unlock(current: Admin, name: Field = "", csrf: Field = "") -> Response:
        def do(store: Users) -> str:
            store.unlock(name)
            return name
        return change(current, csrf, "user unlock", "unlock", do)

    @app.post("/admin/tokens/add")
    def token_add(current: Admin, name: Field = "", csrf: Field = "") -> Response:
        """The one response that shows a new token: it is stored only as its hash."""
        kit.csrf_ok(current, csrf)
        with kit.users() as store:
            try:
                made, plain = store.create_token(name, by=current.user.name)
            except BurnerError as exc:
                return refusal(store, current, "token add", exc)
            store.record(current.user.name, "token add", detail=f"{made.name} (id {made.id})")
        log.info("web: token add by %s", current.user.name)
        return page(current, new_token=plain, new_token_name=made.name)

    @app.post("/admin/tokens/revoke")
    def token_revoke(current: Admin, token_id: Field = "", csrf: Field = "") -> Response:
        def do(store: Users) -> str:
            if not (token_id.isascii() and token_id.isdigit()) or len(token_id) > 18:
                raise NoSuchToken("there is no such API token")
            gone = store.revoke_token(int(token_id))
            return f"{gone.name} (id {gone.id})"
        return change(current, csrf, "token revoke", "revoke", do)


def same_passwords(password: str, again: str) -> None:
    if password != again:
        raise Refused("the two passwords are not the same; type the new password twice, "
                      "exactly the same")
