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


def app_with_users(station: StationDir):  # noqa: ANN201 - (Config, FastAPI)
    """The station's web app with a technician, a front-desk user and an admin."""
    config = load_config(station.config)
    with Users(config.db_path) as users:
        users.add("tech", "technician", PASSWORD)
        users.add("desk", "front-desk", PASSWORD)
        users.add("boss", "admin", PASSWORD)
    return config, create_app(config)


@pytest.fixture
def web(station: StationDir):
    return station, *app_with_users(station)


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


# --- the users page and API tokens -------------------------------------------------------

NEW_PASSWORD = "another long password"


def _users_page(client: TestClient) -> str:
    page = client.get("/admin/users")
    assert page.status_code == 200, page.text
    return page.text


def _post(client: TestClient, path: str, **fields: str):
    return client.post(path, data={"csrf": _csrf(_users_page(client)), **fields})


def _actions(config) -> list:
    with Users(config.db_path) as users:
        return users.actions()


def test_an_admin_adds_a_user_on_the_page_and_they_can_sign_in(web) -> None:
    _, config, app = web
    admin = sign_in(app, "boss")
    page = _users_page(admin)
    assert '<label for="add-name">' in page and "<caption>" in page
    assert 'href="/admin/users">Users</a>' in page
    response = _post(admin, "/admin/users/add", name="nurse1", role="front-desk",
                     password=NEW_PASSWORD, password2=NEW_PASSWORD)
    assert response.status_code == 303
    assert "The user was added" in admin.get(response.headers["location"]).text
    assert sign_in(app, "nurse1", NEW_PASSWORD).get("/board").status_code == 200
    (row,) = [r for r in _actions(config) if r["action"] == "user add"]
    assert (row["user"], row["outcome"], row["detail"]) == ("boss", "ok", "nurse1 (front-desk)")


def test_a_technician_may_not_use_the_users_page_and_sees_no_link(web) -> None:
    _, config, app = web
    client = sign_in(app, "tech")
    board = client.get("/board").text
    assert "/admin/users" not in board
    assert client.get("/admin/users").status_code == 403
    for path, data in (("/admin/users/add", {"name": "evil", "role": "admin",
                                             "password": NEW_PASSWORD,
                                             "password2": NEW_PASSWORD}),
                       ("/admin/users/password", {"name": "boss", "password": NEW_PASSWORD,
                                                  "password2": NEW_PASSWORD}),
                       ("/admin/users/disable", {"name": "boss"}),
                       ("/admin/tokens/add", {"name": "mine"})):
        assert client.post(path, data={"csrf": _csrf(board), **data}).status_code == 403
    with Users(config.db_path) as users:
        assert [u.name for u in users.list()] == ["boss", "desk", "tech"]
        assert users.tokens() == []


def test_a_users_page_form_without_its_csrf_token_is_refused(web) -> None:
    _, config, app = web
    admin = sign_in(app, "boss")
    for data in ({}, {"csrf": "guessed"}):
        response = admin.post("/admin/users/add", data={
            "name": "nurse2", "role": "kiosk", "password": NEW_PASSWORD,
            "password2": NEW_PASSWORD, **data})
        assert response.status_code == 403 and "CSRF" in response.text
        assert admin.post("/admin/users/disable", data={"name": "tech", **data}
                          ).status_code == 403
        assert admin.post("/admin/tokens/add", data={"name": "t", **data}).status_code == 403
    with Users(config.db_path) as users:
        assert "nurse2" not in [u.name for u in users.list()]
        assert not users.get("tech").disabled and users.tokens() == []


@pytest.mark.parametrize(("fields", "status", "words"), [
    ({"name": "nurse3", "role": "kiosk", "password": "short", "password2": "short"},
     400, "at least 10 characters"),
    ({"name": "nurse3", "role": "kiosk", "password": NEW_PASSWORD,
      "password2": NEW_PASSWORD + "x"}, 400, "two passwords are not the same"),
    ({"name": "Nurse <b>3</b>", "role": "kiosk", "password": NEW_PASSWORD,
      "password2": NEW_PASSWORD}, 400, "small letters a-z"),
    ({"name": "nurse3", "role": "superuser", "password": NEW_PASSWORD,
      "password2": NEW_PASSWORD}, 400, "There is no role"),
    ({"name": "nurse3", "role": "", "password": NEW_PASSWORD,
      "password2": NEW_PASSWORD}, 400, "Choose a role"),
    ({"name": "tech", "role": "kiosk", "password": NEW_PASSWORD,
      "password2": NEW_PASSWORD}, 409, "already a user called tech"),
])
def test_a_wrong_new_user_is_refused_in_plain_words(web, fields, status, words) -> None:
    _, config, app = web
    admin = sign_in(app, "boss")
    response = _post(admin, "/admin/users/add", **fields)
    assert response.status_code == status, response.text
    assert words in response.text and "Traceback" not in response.text
    assert 'role="alert"' in response.text and "<b>3</b>" not in response.text
    with Users(config.db_path) as users:
        assert [u.name for u in users.list()] == ["boss", "desk", "tech"]
        assert users.get("tech").role == "technician"
    log = " ".join(f"{r['detail']}" for r in _actions(config))
    assert NEW_PASSWORD not in log and "short" not in log


def test_an_admin_cannot_disable_themselves(web) -> None:
    _, config, app = web
    admin = sign_in(app, "boss")
    assert 'aria-label="Disable boss"' not in _users_page(admin)
    response = _post(admin, "/admin/users/disable", name="boss")
    assert response.status_code == 409 and "cannot disable yourself" in response.text
    with Users(config.db_path) as users:
        assert not users.get("boss").disabled
    assert admin.get("/board").status_code == 200


def test_disabling_a_user_ends_their_sessions_and_enabling_lets_them_back(web) -> None:
    _, config, app = web
    tech = sign_in(app, "tech")
    admin = sign_in(app, "boss")
    assert _post(admin, "/admin/users/disable", name="tech").status_code == 303
    assert tech.get("/board").status_code == 303
    assert "no, disabled" in _users_page(admin)
    assert _post(admin, "/admin/users/enable", name="tech").status_code == 303
    assert sign_in(app, "tech").get("/board").status_code == 200
    done = [(r["action"], r["detail"]) for r in _actions(config) if r["user"] == "boss"]
    assert ("user disable", "tech") in done and ("user enable", "tech") in done


def test_setting_a_password_on_the_page(web) -> None:
    _, config, app = web
    tech = sign_in(app, "tech")
    admin = sign_in(app, "boss")
    assert _post(admin, "/admin/users/password", name="tech", password=NEW_PASSWORD,
                 password2=NEW_PASSWORD).status_code == 303
    assert tech.get("/board").status_code == 303, "their old session ended"
    assert sign_in(app, "tech", NEW_PASSWORD).get("/board").status_code == 200
    own = _post(admin, "/admin/users/password", name="boss", password=NEW_PASSWORD,
                password2=NEW_PASSWORD)
    assert own.status_code == 303 and admin.get("/board").status_code == 200, "kept"
    unknown = _post(admin, "/admin/users/password", name="nobody", password=NEW_PASSWORD,
                    password2=NEW_PASSWORD)
    assert unknown.status_code == 404 and "no user called nobody" in unknown.text
    assert NEW_PASSWORD not in str([dict(r) for r in _actions(config)])


def test_unlocking_clears_a_lock_out(web) -> None:
    _, config, app = web
    client = _client(app)
    for n in range(LOCK_AFTER):
        form = client.get("/signin")
        client.post("/signin", data={"name": "tech", "password": f"wrong{n}",
                                     "csrf": _csrf(form.text)})
    form = client.get("/signin")
    locked = client.post("/signin", data={"name": "tech", "password": PASSWORD,
                                          "csrf": _csrf(form.text)})
    assert locked.status_code == 401 and "locked" in locked.text
    admin = sign_in(app, "boss")
    assert 'aria-label="Unlock tech"' in _users_page(admin)
    assert _post(admin, "/admin/users/unlock", name="tech").status_code == 303
    assert 'aria-label="Unlock tech"' not in _users_page(admin)
    assert sign_in(app, "tech").get("/board").status_code == 200
    assert any(r["action"] == "user unlock" and r["detail"] == "tech"
               for r in _actions(config))


def _new_token(admin: TestClient, name: str = "monitoring") -> str:
    response = _post(admin, "/admin/tokens/add", name=name)
    assert response.status_code == 200, response.text
    assert "will not be shown again" in response.text
    found = re.search(r'<code id="new-token">(bnr_[A-Za-z0-9_-]+)</code>', response.text)
    assert found, response.text
    return found.group(1)


def test_an_api_token_reads_the_api_and_nothing_else(web) -> None:
    station, config, app = web
    station.add_job("T1", where="held")
    admin = sign_in(app, "boss")
    token = _new_token(admin)
    assert token not in _users_page(admin), "shown once only"
    bearer = _client(app)
    bearer.headers["Authorization"] = f"Bearer {token}"
    by_token = bearer.get("/api/status")
    assert by_token.status_code == 200
    answers = by_token.json(), sign_in(app, "tech").get("/api/status").json()
    for answer in answers:
        answer["disk"].pop("free")          # other tests write to the same disk meanwhile
    assert answers[0] == answers[1]
    assert bearer.get("/api/jobs/T1").json()["folder"] == "held"
    assert bearer.get("/board").headers["location"] == "/signin", "not a session"
    assert bearer.get("/admin/users").status_code == 303
    retry = bearer.post("/jobs/T1/retry", data={"csrf": token})
    assert retry.status_code == 303 and retry.headers["location"] == "/signin"
    assert station.where("T1") == ["held"]
    row = re.search(r'<th scope="row">monitoring</th>(.*?)</tr>', _users_page(admin), re.S)
    assert row and "never" not in row.group(1), "its last use is shown"


def test_the_users_page_is_labelled_and_has_no_inline_script_or_style(web) -> None:
    _, _, app = web
    admin = sign_in(app, "boss")
    page = _post(admin, "/admin/tokens/add", name="monitoring").text
    fields = re.findall(r'<(?:input|select)\b(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', page)
    assert len(fields) == 8, fields
    for field in fields:
        assert f'<label for="{field}">' in page, field
    assert len(re.findall(r"<(?:input|select)\b(?![^>]*type=\"hidden\")", page)) == 8
    assert not re.search(r"<script(?![^>]*\bsrc=)|\son[a-z]+=|\sstyle=", page)
    assert page.count("<caption>") == 2 and '<button type="submit"></button>' not in page


def test_a_revoked_an_unknown_or_a_malformed_token_is_401(web) -> None:
    _, config, app = web
    admin = sign_in(app, "boss")
    token = _new_token(admin)
    with Users(config.db_path) as users:
        (made,) = users.tokens()
    for header in (f"Bearer {token}x", "Bearer garbage", f"Bearer {token[:-1]}",
                   f"Basic {token}", "Bearer ", f"Bearer {'ü' * 40}".encode("latin-1")):
        response = _client(app).get("/api/status", headers={"Authorization": header})
        assert response.status_code == 401 and "error" in response.json(), header
        assert response.headers["www-authenticate"] == 'Bearer realm="burner"'
    assert _post(admin, "/admin/tokens/revoke", token_id=str(made.id)).status_code == 303
    response = _client(app).get("/api/status", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and "revoked" in response.json()["error"]
    assert 'aria-label="Revoke the token monitoring"' not in _users_page(admin)
    unknown = _post(admin, "/admin/tokens/revoke", token_id="999")
    assert unknown.status_code == 404 and "no API token" in unknown.text
    assert _post(admin, "/admin/tokens/revoke", token_id="²").status_code == 404


def test_markup_in_a_token_name_is_shown_as_text(web) -> None:
    _, _, app = web
    admin = sign_in(app, "boss")
    _new_token(admin, '<img src=x onerror="alert(1)">')
    page = _users_page(admin)
    assert "<img src=x" not in page and "&lt;img src=x" in page


def test_a_token_name_is_needed_and_two_live_tokens_have_different_names(web) -> None:
    _, _, app = web
    admin = sign_in(app, "boss")
    empty = _post(admin, "/admin/tokens/add", name="  ")
    assert empty.status_code == 400 and "give the token a name" in empty.text.lower()
    _new_token(admin, "monitoring")
    again = _post(admin, "/admin/tokens/add", name="monitoring")
    assert again.status_code == 409 and "bnr_" not in again.text


def test_only_the_hash_of_a_token_is_stored_and_the_log_keeps_no_secret(web) -> None:
    _, config, app = web
    admin = sign_in(app, "boss")
    token = _new_token(admin)
    assert _post(admin, "/admin/users/add", name="nurse4", role="kiosk",
                 password=NEW_PASSWORD, password2=NEW_PASSWORD).status_code == 303
    with Users(config.db_path) as users:
        users._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    stored = b"".join(path.read_bytes() for path in config.db_path.parent.iterdir()
                      if path.name.startswith(config.db_path.name))
    assert token.encode() not in stored and token[4:].encode() not in stored
    assert NEW_PASSWORD.encode() not in stored
    log = str([dict(r) for r in _actions(config)])
    assert "token add" in log and "monitoring (id 1)" in log
    assert token not in log and NEW_PASSWORD not in log
    assert "monitoring (id 1)" in admin.get("/actions").text
