"""The administrator's pages: the action log."""
# No "from __future__ import annotations": FastAPI reads the routes' annotations at run time.

from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.responses import Response

from burner.users import Right, Session
from burner.web.kit import WebKit


def install(app: FastAPI, kit: WebKit) -> None:
    @app.get("/actions")
    def actions(current: Annotated[Session, Depends(kit.allowed(Right.ACTIONS))]) -> Response:
        with kit.users() as store:
            rows = store.actions()
        return kit.render("actions.html", rows=rows, session=current, user=current.user)
