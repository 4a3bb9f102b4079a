"""The web app's foundation (issue 11), in process through Starlette's TestClient, tried as an
attacker would: sign-in, roles, CSRF, lock-out, idle timeout, replayed and forged sessions,
security headers, injected markup. The real-server and browser tests are separate."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from conftest import StationDir
from fastapi.testclient import TestClient

from burner.config import load_config
from burner.users import LOCK_AFTER, Users
from burner.web.app import COOKIE, create_app

PASSWORD = "correct horse battery"


@pytest.fixture
def web(station: StationDir):
    config = load_config(station.config)
    with Users(config.db_path) as users:
        users.add("tech", "technician", PASSWORD)
        users.add("desk", "front-desk", PASSWORD)
        users.add("boss", "admin", PASSWORD)
    app = create_app(config)
    return station, config, app


def _client(app) -> TestClient:
    return TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def sign_in(app, name: str, password: str = PASSWORD) -> TestClient:
    client = _client(app)
    form = client.get("/signin")
    response = client.post("/signin", data={"name": name, "password": password,
                                            "csrf": _csrf(form.text)})
    assert response.status_code == 303, response.text
    return client


def test_pages_need_a_signed_in_user(web) -> None:
    _, _, app = web
    client = _client(app)
    assert client.get("/board").headers["location"] == "/signin"
    assert client.get("/api/status").status_code == 401
    client.cookies.set(COOKIE, "forged.value")
    assert client.get("/board").status_code == 303


def test_sign_in_then_the_board_and_the_api(web) -> None:
    station, _, app = web
    station.add_job("W1")
    client = sign_in(app, "tech")
    board = client.get("/board")
    assert board.status_code == 200 and "W1" in board.text
    status = client.get("/api/status").json()
    assert [j["job_id"] for j in status["jobs"]] == ["W1"]
    assert client.get("/api/jobs/W1").json()["folder"] == "approved"
    assert client.get("/api/jobs/NOPE").status_code == 404


def test_every_response_carries_the_security_headers(web) -> None:
    _, _, app = web
    headers = _client(app).get("/signin").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    cookie = sign_in(app, "tech").get("/board").request.headers.get("cookie", "")
    assert COOKIE in cookie


def test_the_session_cookie_is_httponly_and_samesite_strict(web) -> None:
    _, _, app = web
    client = _client(app)
    form = client.get("/signin")
    response = client.post("/signin", data={"name": "tech", "password": PASSWORD,
                                            "csrf": _csrf(form.text)})
    set_cookie = response.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=strict" in set_cookie


def test_a_wrong_password_is_refused_and_six_lock_the_account(web) -> None:
    _, config, app = web
    client = _client(app)
    for n in range(LOCK_AFTER):
        form = client.get("/signin")
        response = client.post("/signin", data={"name": "tech", "password": f"wrong{n}",
                                                "csrf": _csrf(form.text)})
        assert response.status_code == 401
    assert "locked" in response.text
    form = client.get("/signin")
    sixth = client.post("/signin", data={"name": "tech", "password": PASSWORD,
                                         "csrf": _csrf(form.text)})
    assert sixth.status_code == 401 and "locked" in sixth.text, "even the right password"
    with Users(config.db_path) as users:
        refused = [r for r in users.actions() if r["action"] == "sign in"]
    assert len(refused) == LOCK_AFTER + 1 and all(r["outcome"] == "refused" for r in refused)


def test_an_unknown_user_gets_the_same_words_as_a_wrong_password(web) -> None:
    _, _, app = web
    client = _client(app)
    texts = []
    for name in ("tech", "nobody"):
        form = client.get("/signin")
        texts.append(client.post("/signin", data={"name": name, "password": "wrong password",
                                                  "csrf": _csrf(form.text)}).text)
    assert "not right" in texts[0] and "not right" in texts[1]


def test_sign_in_without_its_form_token_is_refused(web) -> None:
    _, _, app = web
    response = _client(app).post("/signin", data={"name": "tech", "password": PASSWORD})
    assert response.status_code == 403


def test_a_post_without_the_csrf_token_is_refused(web) -> None:
    station, _, app = web
    station.add_job("C1", where="held")
    client = sign_in(app, "tech")
    for data in ({}, {"csrf": "guessed"}):
        response = client.post("/jobs/C1/retry", data=data)
        assert response.status_code == 403 and "CSRF" in response.text
    assert station.where("C1") == ["held"]


def test_a_front_desk_user_may_not_retry_and_sees_no_button(web) -> None:
    station, _, app = web
    station.add_job("H1", where="held")
    client = sign_in(app, "desk")
    board = client.get("/board")
    assert "H1" in board.text and "Retry" not in board.text
    response = client.post("/jobs/H1/retry", data={"csrf": _csrf(board.text)})
    assert response.status_code == 403
    assert station.where("H1") == ["held"]
    assert client.get("/actions").status_code == 403


def test_a_technician_retries_through_the_operations_and_it_is_logged(web) -> None:
    station, config, app = web
    station.add_job("H2", where="rejected")
    client = sign_in(app, "tech")
    board = client.get("/board")
    assert 'aria-label="Retry job H2"' in board.text
    response = client.post("/jobs/H2/retry", data={"csrf": _csrf(board.text)})
    assert response.status_code == 303
    assert station.where("H2") == ["approved"]
    with Users(config.db_path) as users:
        (row,) = [r for r in users.actions() if r["action"] == "retry"]
    assert (row["user"], row["job_id"], row["outcome"]) == ("tech", "H2", "ok")
    admin = sign_in(app, "boss").get("/actions")
    assert admin.status_code == 200 and "H2" in admin.text


def test_signing_out_ends_the_session_so_a_copied_cookie_is_useless(web) -> None:
    _, _, app = web
    client = sign_in(app, "tech")
    stolen = client.cookies.get(COOKIE)
    board = client.get("/board")
    assert client.post("/signout", data={"csrf": _csrf(board.text)}).status_code == 303
    replay = _client(app)
    replay.cookies.set(COOKIE, stolen)
    assert replay.get("/board").status_code == 303
    assert replay.get("/api/status").status_code == 401


def test_the_idle_timeout_signs_out(web, monkeypatch) -> None:
    _, _, app = web
    client = sign_in(app, "tech")
    assert client.get("/board").status_code == 200
    later = time.time() + 16 * 60
    monkeypatch.setattr(time, "time", lambda: later)
    assert client.get("/board").status_code == 303


def test_a_disabled_user_is_out_at_once(web) -> None:
    _, config, app = web
    client = sign_in(app, "tech")
    with Users(config.db_path) as users:
        users.set_disabled("tech")
    assert client.get("/board").status_code == 303


def test_markup_in_a_job_id_or_reason_is_shown_as_text(web) -> None:
    station, config, app = web
    job = station.add_job("X1", where="held")
    (job / "reason.txt").write_text("<script>alert(1)</script>")
    from burner.state import JobState, StateDB

    with StateDB(config.db_path) as db:
        db.add_job("X1", "teststation")
        db.set_state("X1", JobState.HELD, '<img src=x onerror="alert(1)">')
    text = sign_in(app, "tech").get("/board").text
    assert "<img src=x" not in text and "&lt;img src=x" in text


def test_no_patient_data_in_urls_or_the_log(web, caplog) -> None:
    station, _, app = web
    station.add_job("P1", where="held")
    client = sign_in(app, "tech")
    board = client.get("/board").text
    client.post("/jobs/P1/retry", data={"csrf": _csrf(board)})
    urls = re.findall(r'(?:href|action)="([^"]+)"', board)
    for url in urls:
        assert "TESTER" not in url.upper() and "BRN0042" not in url
    assert "TESTER" not in caplog.text.upper() and "BRN0042" not in caplog.text


def test_user_commands(station: StationDir, tmp_path: Path) -> None:
    add = station.cli("user", "add", "nurse1", "--role", "front-desk", "--password-stdin",
                      input_text=PASSWORD + "\n")
    assert add.returncode == 0 and "added as front-desk" in add.stdout
    short = station.cli("user", "add", "nurse2", "--role", "kiosk", "--password-stdin",
                        input_text="short\n")
    assert short.returncode == 1 and "at least 10 characters" in short.stderr
    assert station.cli("user", "disable", "nurse1").returncode == 0
    listed = station.cli("user", "list").stdout
    assert "nurse1\tfront-desk\tdisabled" in listed


def test_a_csrf_token_in_any_characters_is_refused_not_an_error(web) -> None:
    station, _, app = web
    station.add_job("U1", where="held")
    client = sign_in(app, "tech")
    response = client.post("/jobs/U1/retry", data={"csrf": "ü" * 43})
    assert response.status_code == 403


def test_the_event_stream_ends_when_its_session_does(web) -> None:
    _, config, app = web
    client = sign_in(app, "tech")
    client.get("/board")
    with Users(config.db_path) as users:
        for row in users._conn.execute("SELECT id FROM sessions").fetchall():
            users.close_session(row["id"])
    with client.stream("GET", "/board/events") as response:
        assert response.status_code == 303      # ended before the stream began
    client = sign_in(app, "tech")
    with client.stream("GET", "/board/events") as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        assert next(line for line in lines if line.startswith("data:"))
        with Users(config.db_path) as users:
            users.set_disabled("tech")
        assert "event: signed-out" in list(lines)
