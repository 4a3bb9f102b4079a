"""Signing in and out of the web app."""
# No "from __future__ import annotations": FastAPI reads the routes' annotations at run time.

import hmac
import logging
import secrets
from typing import Annotated

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from burner.users import Session, SignInRefused
from burner.web.kit import COOKIE, PRE_COOKIE, WebKit, start_page

log = logging.getLogger("burner.web")


def install(app: FastAPI, kit: WebKit) -> None:
    @app.get("/signin")
    def signin_page() -> Response:
        token = secrets.token_urlsafe(32)
        response = kit.render("signin.html", csrf=token, message="")
        kit.cookie(response, PRE_COOKIE, kit.signer.sign(token).decode(), max_age=3600)
        return response

    @app.post("/signin")
    def signin(request: Request, name: Annotated[str, Form(max_length=64)],
               password: Annotated[str, Form(max_length=1024)],
               csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
        expected = kit.unsign(request.cookies.get(PRE_COOKIE, ""))
        if not expected or not hmac.compare_digest(expected.encode(), csrf.encode()):
            raise HTTPException(403, "The sign-in form was not sent from this station's own "
                                     "page; reload it and try again.")
        with kit.users() as store:
            try:
                user = store.authenticate(name, password)
            except SignInRefused as exc:
                store.record(name[:64], "sign in", outcome="refused")
                log.warning("web: a sign-in was refused")
                return kit.render("signin.html", status_code=401, csrf=csrf, message=str(exc))
            opened = store.open_session(user)
            store.record(user.name, "sign in")
        home = start_page(user)
        response = RedirectResponse(home, status_code=303)
        kit.cookie(response, COOKIE, kit.signer.sign(opened.id).decode())
        response.delete_cookie(PRE_COOKIE)
        return response

    @app.post("/signout")
    def signout(current: Annotated[Session, Depends(kit.session)],
                csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
        kit.csrf_ok(current, csrf)
        with kit.users() as store:
            store.close_session(current.id)
            store.record(current.user.name, "sign out")
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(COOKIE)
        return response

