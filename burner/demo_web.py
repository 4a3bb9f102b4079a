"""`burner demo --web`: after the demo job, keep the station service and the web app running in
the foreground (each a child process, `burner run` and `burner web`, stopped by its PID on
Ctrl-C or SIGTERM), with one demo user per role whose new random passwords are printed once."""

from __future__ import annotations

import errno
import functools
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO

from burner.config import Config
from burner.demo import run_demo
from burner.errors import BurnerError
from burner.workers import die_with_parent

DEMO_USERS = (("demo-admin", "admin"), ("demo-technician", "technician"),
              ("demo-front-desk", "front-desk"), ("demo-kiosk", "kiosk"))
START_SECONDS = 60.0        # how long the web app may take to answer its sign-in page
STOP_SECONDS = 10.0         # how long a child may take to stop after SIGTERM, before SIGKILL


def run_demo_web(config: Config, *, slices: int, echo: Callable[[str], None]) -> None:
    """The demo job, then the demo users, then `burner run` and `burner web` in the foreground
    until Ctrl-C or SIGTERM, which stop both by PID. BurnerError when the web app cannot
    listen or a child stops by itself."""
    from burner.web.settings import web_settings

    settings = web_settings(config)       # a wrong [web] table is said before the long demo
    busy = port_problem(settings.host, settings.port)
    if busy:
        raise BurnerError(busy)
    run_demo(config, slices=slices, echo=echo)        # releases the station lock when done
    echo("")
    echo("Demo users (new passwords on every `burner demo --web`; shown only this once):")
    for name, role, password, note in demo_users(config):
        echo(f"  {name:<17} {role:<11} {password}{note}")
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    children: list[_Child] = []
    try:
        busy = port_problem(settings.host, settings.port)
        if busy:
            raise BurnerError(busy)
        base = [sys.executable, "-m", "burner"]
        if config.source != "embedded default":     # else the children load it as we did
            base += ["--config", str(Path(config.source).resolve())]
        children.append(_Child("the station service (burner run)", [*base, "run"]))
        children.append(_Child("the web app (burner web)", [*base, "web"]))
        scheme = "https" if settings.tls else "http"
        if not _wait_until_answering(children, scheme, settings.host, settings.port, stop):
            return                                   # stopped while starting
        for child in children:
            child.pass_output_on()
        echo("")
        echo(f"Open {scheme}://{_url_host(settings.host)}:{settings.port}/ in a browser "
             "and sign in as one of the demo users.")
        echo("The station service and the web app run until Ctrl-C.")
        while not stop.wait(0.5):
            for child in children:
                if child.proc.poll() is not None:
                    raise BurnerError(f"{child.what} stopped by itself (exit code "
                                      f"{child.proc.returncode}){child.last_words()}")
        echo("Stopping the station service and the web app...")
    finally:
        _stop_all(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def demo_users(config: Config) -> list[tuple[str, str, str, str]]:
    """(name, role, password, note) of each demo user: made when missing, else given a new
    random password (which also lifts a lock-out and ends its sessions)."""
    from burner.users import NoSuchUser, Users

    made = []
    with Users(config.db_path) as users:
        for name, role in DEMO_USERS:
            password = secrets.token_urlsafe(12)         # 16 characters, about 96 bits
            note = ""
            try:
                existing = users.get(name)
            except NoSuchUser:
                users.add(name, role, password)
                users.record("(burner demo)", "add user", detail=f"{name} as {role}")
            else:
                users.set_password(name, password)
                users.record("(burner demo)", "set password", detail=name)
                role = existing.role.value
                if existing.disabled:
                    users.set_disabled(name, False)
                    users.record("(burner demo)", "enable user", detail=name)
                    note = "  (was disabled; enabled again)"
            made.append((name, role, password, note))
    return made


def port_problem(host: str, port: int) -> str | None:
    """Why `burner web` could not listen on host:port, in plain words; None when it can."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        return (f"The web app cannot listen on {host}:{port}: this machine does not know the "
                f"address {host} ({exc.strerror}). Change [web] listen in the configuration.")
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn does: a port left in TIME_WAIT by an earlier run is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (f"Port {port} on {host} is already in use by another program (perhaps "
                        f"a `burner web` that is still running). Stop that program, or set "
                        f"another port in [web] listen of the station configuration.")
            if exc.errno in (errno.EACCES, errno.EPERM):
                return (f"The web app may not listen on port {port} (ports below 1024 need "
                        f"extra rights). Set a port above 1024 in [web] listen.")
            if exc.errno == errno.EADDRNOTAVAIL:
                return (f"This machine has no address {host}, so the web app cannot listen "
                        f"there. Change [web] listen in the configuration.")
            return f"The web app cannot listen on {host}:{port}: {exc.strerror or exc}."
    return None


class _Child:
    """A `burner` child process. Its standard error is held back while it starts (to be
    quoted should it fail), then passed on to ours; the last lines are kept."""

    def __init__(self, what: str, command: list[str]):
        self.what = what
        self.tail: deque[str] = deque(maxlen=20)
        self._held: list[str] | None = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     preexec_fn=functools.partial(die_with_parent, signal.SIGTERM))
        self._reader = threading.Thread(target=self._read, args=(self.proc.stderr,),
                                        name=f"child-{self.proc.pid}", daemon=True)
        self._reader.start()

    def _read(self, stream: IO[bytes]) -> None:
        for raw in stream:
            line = raw.decode("utf-8", "replace")
            with self._lock:
                self.tail.append(line.rstrip())
                if self._held is not None:
                    self._held.append(line)
                    continue
            sys.stderr.write(line)
            sys.stderr.flush()

    def pass_output_on(self) -> None:
        with self._lock:
            held, self._held = self._held or [], None
        sys.stderr.write("".join(held))
        sys.stderr.flush()

    def last_words(self) -> str:
        """': <its last lines>' once it has ended, for a message; '' when it said nothing."""
        self._reader.join(timeout=2)
        with self._lock:
            lines = [line for line in self.tail if line.strip()]
        return ": " + " / ".join(lines[-5:]) if lines else ""


def _url_host(host: str) -> str:
    """The host part of the URL to open: a wildcard address becomes this machine's loopback."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _answers(scheme: str, host: str, port: int) -> bool:
    """The web app answers its sign-in page (its own certificate is not checked: it is ours)."""
    import http.client
    import ssl

    connect = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    if scheme == "https":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            connect, port, timeout=2, context=context)
    else:
        conn = http.client.HTTPConnection(connect, port, timeout=2)
    try:
        conn.request("GET", "/signin")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _wait_until_answering(children: list[_Child], scheme: str, host: str, port: int,
                          stop: threading.Event) -> bool:
    """True once the web app answers and both children still run; False when stopped first;
    BurnerError when a child ends or the web app does not answer in START_SECONDS."""
    deadline = time.monotonic() + START_SECONDS
    while not stop.is_set():
        for child in children:
            if child.proc.poll() is not None:
                words = child.last_words()
                if "address already in use" in words.lower():
                    raise BurnerError(f"Port {port} on {host} is already in use by another "
                                      f"program; {child.what} could not start. Stop that "
                                      f"program, or set another port in [web] listen.")
                raise BurnerError(f"{child.what} stopped at start (exit code "
                                  f"{child.proc.returncode}){words}")
        if _answers(scheme, host, port):
            time.sleep(0.5)     # the station service has had its time to refuse, if it does
            if all(child.proc.poll() is None for child in children):
                return True
            continue
        if time.monotonic() > deadline:
            raise BurnerError(f"The web app did not answer on {host}:{port} within "
                              f"{START_SECONDS:.0f} seconds.")
        stop.wait(0.3)
    return False


def _stop_all(children: list[_Child]) -> None:
    """SIGTERM each child by its PID, then SIGKILL whatever has not ended in STOP_SECONDS."""
    for child in children:
        if child.proc.poll() is None:
            child.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for child in children:
        try:
            child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.proc.kill()
            child.proc.wait()
