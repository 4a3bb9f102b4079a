"""The JSON API: /api/status (what `burner status --json` prints) and /api/jobs/{id}, read with
a session of a user who may see the board or with an API token (kit.api_reader)."""
# No "from __future__ import annotations": FastAPI reads the routes' annotations at run time.

from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import JSONResponse, Response

from burner.errors import BurnerError
from burner.spool import job_id_problem
from burner.users import TokenUser, User
from burner.web.kit import WebKit


def install(app: FastAPI, kit: WebKit) -> None:
    config = kit.config

    @app.get("/api/status")
    def api_status(caller: Annotated[User | TokenUser, Depends(kit.api_reader)]) -> Response:
        from burner.operations.overview import status

        return JSONResponse(status(config).as_dict())

    @app.get("/api/jobs/{job_id}")
    def api_job(job_id: str,
                caller: Annotated[User | TokenUser, Depends(kit.api_reader)]) -> Response:
        from burner.operations.overview import job

        if job_id_problem(job_id):
            raise HTTPException(404, "There is no such job.")
        try:
            return JSONResponse(job(config, job_id).as_dict())
        except BurnerError as exc:
            raise HTTPException(404, str(exc)) from None
