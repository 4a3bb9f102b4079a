"""`burner demo --web` (issue: the demo leaves its station and web app running): the demo job,
the demo users with new passwords, a real `burner run` and `burner web` as child processes,
all stopped by SIGTERM."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import StationDir, new_station, require_tool

from burner.config import load_config
from burner.demo import DEMO_PATIENT
from burner.demo_web import demo_users, port_problem
from burner.users import SignInRefused, Users

USER_LINE = re.compile(r"^  (demo-[a-z-]+) +([a-z-]+) +(\S+)$")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_users_get_new_passwords_on_every_run(tmp_path: Path) -> None:
    config = load_config(new_station(tmp_path, xorriso="/bin/true").config)
    first = demo_users(config)
    assert [(name, role) for name, role, _, _ in first] == [
        ("demo-admin", "admin"), ("demo-technician", "technician"),
        ("demo-front-desk", "front-desk"), ("demo-kiosk", "kiosk")]
    with Users(config.db_path) as users:
        users.set_disabled("demo-kiosk")
    second = demo_users(config)
    with Users(config.db_path) as users:
        for (name, _, old, _), (_, _, new, note) in zip(first, second, strict=True):
            assert old != new and len(new) >= 16
            with pytest.raises(SignInRefused):
                users.authenticate(name, old)
            assert users.authenticate(name, new).name == name
            assert ("enabled again" in note) == (name == "demo-kiosk")


def test_a_busy_port_is_said_in_plain_words() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        said = port_problem("127.0.0.1", port)
    assert said and f"Port {port} on 127.0.0.1 is already in use" in said
    assert port_problem("127.0.0.1", port) is None          # free again once closed


def test_demo_web_on_a_busy_port_says_so_before_making_anything(tmp_path: Path) -> None:
    station = new_station(tmp_path, xorriso="/bin/true")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        station.config.write_text(station.config.read_text()
                                  + f'[web]\nlisten = "127.0.0.1:{port}"\n')
        ran = station.cli("demo", "--web", "--slices", "2", timeout=60)
    assert ran.returncode == 1, ran.stderr
    assert ran.stderr.startswith(f"burner: Port {port} on 127.0.0.1 is already in use by "
                                 "another program"), ran.stderr
    assert ran.stdout == ""
    assert not any(station.spool.glob("*/DEMO-*")), "no demo job was made"


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True,
                           check=False)
    return [int(p) for p in found.stdout.split()]


def _alive(pid: int) -> bool:
    """Still a process (a zombie not yet reaped counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.slow
def test_demo_web_runs_the_station_and_web_app_until_sigterm(station: StationDir,
                                                             tmp_path: Path) -> None:
    import httpx

    require_tool("pgrep")
    port = _free_port()
    station.config.write_text(station.config.read_text()
                              + f'[web]\nlisten = "127.0.0.1:{port}"\n')
    lines: list[str] = []
    url_seen = threading.Event()

    def read(stream) -> None:  # noqa: ANN001 - a text pipe
        for line in stream:
            lines.append(line.rstrip("\n"))
            if line.startswith("Open http://"):
                url_seen.set()

    with open(tmp_path / "demo.err", "wb") as err:
        demo = subprocess.Popen(station.command("demo", "--web", "--slices", "8"),
                                env=station.env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=err, text=True)
    reader = threading.Thread(target=read, args=(demo.stdout,), daemon=True)
    reader.start()
    children: list[int] = []
    try:
        deadline = time.monotonic() + 180
        while not url_seen.wait(0.2):
            assert demo.poll() is None, ("\n".join(lines)
                                         + (tmp_path / "demo.err").read_text())
            assert time.monotonic() < deadline, "\n".join(lines)
        out = "\n".join(lines)
        assert f"Open http://127.0.0.1:{port}/ in a browser" in out, out
        users = {m[1]: (m[2], m[3]) for m in map(USER_LINE.match, lines) if m}
        assert {name: role for name, (role, _) in users.items()} == {
            "demo-admin": "admin", "demo-technician": "technician",
            "demo-front-desk": "front-desk", "demo-kiosk": "kiosk"}, out
        assert len({password for _, password in users.values()}) == 4
        for patient_data in (DEMO_PATIENT.id, DEMO_PATIENT.name, "SAMPLE", "ALEX",
                             DEMO_PATIENT.birth_date, "1961-04-12"):
            assert patient_data not in out, f"patient data printed: {patient_data}"
        job_id = re.search(r"^Job (DEMO-\d{8}-\d{6}) queued", out, re.M)[1]

        children = _children(demo.pid)
        commands = sorted(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[-2]
                          for pid in children)
        assert commands == [b"run", b"web"], commands

        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, follow_redirects=True, timeout=10) as client:
            form = client.get("/signin")
            assert form.status_code == 200 and "burner_signin" in client.cookies
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)[1]
            board = client.post("/signin", data={"name": "demo-technician",
                                                 "password": users["demo-technician"][1],
                                                 "csrf": csrf})
            assert board.status_code == 200 and board.url.path == "/board", board.text
            assert "Signed in as demo-technician (technician)" in board.text
            row = re.search(rf'<tr id="job-{job_id}"[^>]* data-(?:state|phase)="([a-z]+)"',
                            board.text)
            assert row and row[1] == "done", board.text
            assert client.get(f"/api/jobs/{job_id}").json()["state"] == "done"

        demo.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        demo.wait(timeout=15)
        while any(_alive(pid) for pid in children):
            assert time.monotonic() - stopped < 15, "a child of the demo is still running"
            time.sleep(0.1)
        assert demo.returncode == 0, (tmp_path / "demo.err").read_text()
        reader.join(timeout=5)
        assert lines[-1] == "Stopping the station service and the web app...", lines[-3:]
    finally:
        if demo.poll() is None:
            demo.kill()
        demo.wait(timeout=10)
        for pid in children:             # left behind only when the test failed above
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
