"""The people who may use the station's web app: users with a role, their sign-in sessions and
the log of what they did (DESIGN.md section 9). Kept in the station's database, beside its jobs.

Passwords are stored only as argon2id hashes. Five failed sign-ins lock an account for 15
minutes. A session lives in this table, not only in its cookie: signing out (or disabling the
user) ends it at once, so a copied cookie cannot be replayed. An API token (for /api only, read
only) is kept as its SHA-256 hash, never itself. No patient data is stored here.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from burner.errors import BurnerError, Reason
from burner.tables import StationTables

LOCK_AFTER = 5                  # failed sign-ins in a row
LOCK_SECONDS = 15 * 60
MIN_PASSWORD = 10               # characters
MAX_PASSWORD = 1024
TOKEN_PREFIX = "bnr_"           # marks a burner API token (in a config file, a log, a leak scan)
TOKEN_USED_EVERY = 60           # seconds: last_used is written at most this often
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    locked_until REAL NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created REAL NOT NULL,
    seen REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    user TEXT NOT NULL,
    action TEXT NOT NULL,
    job_id TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    last_used REAL NOT NULL DEFAULT 0,
    revoked REAL NOT NULL DEFAULT 0
);
"""


class Role(StrEnum):
    ADMIN = "admin"
    TECHNICIAN = "technician"
    FRONT_DESK = "front-desk"
    KIOSK = "kiosk"


class Right(StrEnum):
    BOARD = "board"            # see the board, the job pages and /api
    RETRY = "retry"            # retry a held or rejected job
    CANCEL = "cancel"          # cancel a job
    REPRINT = "reprint"        # print a job's cover sheet and labels again
    USERS = "users"            # add, change and disable users; API tokens
    ACTIONS = "actions"        # read the action log
    REQUESTS = "requests"      # register patients' requests, the work list, extension letters
    APPROVE = "approve"        # attach images to a request and approve the job
    HANDOVER = "handover"      # record the hand-over of discs and sticks; receipts
    REPORTS = "reports"        # the monthly records for the office
    KIOSK = "kiosk"            # the label kiosk page


# The fixed rights of each role (README, "Who may do what").
RIGHTS: dict[Role, frozenset[Right]] = {
    Role.ADMIN: frozenset(Right),
    Role.TECHNICIAN: frozenset({Right.BOARD, Right.RETRY, Right.CANCEL, Right.REPRINT}),
    Role.FRONT_DESK: frozenset({Right.BOARD, Right.REQUESTS, Right.APPROVE, Right.HANDOVER,
                                Right.REPORTS, Right.REPRINT}),
    Role.KIOSK: frozenset({Right.KIOSK, Right.REPRINT}),
}
# What an API token may do, whoever made it: read /api/status and /api/jobs/{id}.
TOKEN_RIGHTS: frozenset[Right] = frozenset({Right.BOARD})


class NoSuchUser(BurnerError):
    exit_code = 2
    code = Reason.BAD_REQUEST


class NoSuchToken(BurnerError):
    exit_code = 2
    code = Reason.BAD_REQUEST


class AlreadyThere(BurnerError):
    """A user, or a live API token, of that name exists already."""

    exit_code = 2
    code = Reason.BAD_REQUEST


class SignInRefused(BurnerError):
    """A sign-in that did not succeed; the words never say whether the user exists."""

    exit_code = 2
    code = Reason.BAD_REQUEST


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    disabled: bool
    locked_until: float

    def may(self, right: Right) -> bool:
        return not self.disabled and right in RIGHTS[self.role]


@dataclass(frozen=True)
class TokenUser:
    """Who calls /api with an API token: named `token:<name>`; it may only read."""

    name: str
    token_id: int

    def may(self, right: Right) -> bool:
        return right in TOKEN_RIGHTS


@dataclass(frozen=True)
class Token:
    """An API token as the admin page lists it (its hash stays in the database)."""

    id: int
    name: str
    created: float
    created_by: str
    last_used: float        # 0: never (written at most once a minute)
    revoked: float          # 0: live


@dataclass(frozen=True)
class Session:
    id: str
    user: User
    csrf: str
    seen: float


def check_name(name: str) -> str:
    if not (1 <= len(name) <= 64) or not set(name) <= _NAME_CHARS:
        raise BurnerError("a user name may have only small letters a-z, digits 0-9 and the "
                          "marks '.', '_' and '-', 1 to 64 of them (for example anna.smith)",
                          code=Reason.BAD_REQUEST)
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise BurnerError(f"a password needs at least {MIN_PASSWORD} characters",
                          code=Reason.BAD_REQUEST)
    if len(password) > MAX_PASSWORD:
        raise BurnerError(f"a password may have at most {MAX_PASSWORD} characters",
                          code=Reason.BAD_REQUEST)
    return password


def check_token_name(name: str) -> str:
    name = name.strip()
    if not (1 <= len(name) <= 64) or not name.isprintable():
        raise BurnerError("give the token a name of 1 to 64 characters that says who uses "
                          "it, for example 'monitoring'", code=Reason.BAD_REQUEST)
    return name


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _token(row: sqlite3.Row) -> Token:
    return Token(row["id"], row["name"], row["created"], row["created_by"], row["last_used"],
                 row["revoked"])


class Users(StationTables):
    """Users, sessions and the action log in the station database at `path`."""

    SCHEMA = _SCHEMA

    def __init__(self, path: Path):
        super().__init__(path)
        self._hasher = PasswordHasher()

    # --- users ---------------------------------------------------------------------------

    def add(self, name: str, role: str, password: str) -> User:
        check_name(name)
        try:
            role = Role(role)
        except ValueError:
            raise BurnerError(f"there is no role {role!r}; the roles are "
                              f"{', '.join(r.value for r in Role)}",
                              code=Reason.BAD_REQUEST) from None
        digest = self._hasher.hash(check_password(password))
        try:
            self._conn.execute("INSERT INTO users (name, role, hash, created) VALUES (?,?,?,?)",
                               (name, role, digest, time.time()))
        except sqlite3.IntegrityError:
            raise AlreadyThere(f"there is already a user called {name}") from None
        return self.get(name)

    def get(self, name: str) -> User:
        row = self._conn.execute("SELECT * FROM users WHERE name=?", (name,)).fetchone()
        if row is None:
            raise NoSuchUser(f"there is no user called {name}")
        return User(row["name"], Role(row["role"]), bool(row["disabled"]), row["locked_until"])

    def list(self) -> list[User]:
        return [User(r["name"], Role(r["role"]), bool(r["disabled"]), r["locked_until"])
                for r in self._conn.execute("SELECT * FROM users ORDER BY name")]

    def set_password(self, name: str, password: str, keep: str = "") -> None:
        """A new password (which lifts a lock-out); the user's sessions end, except the
        session `keep` (the one of a user who changes their own password)."""
        self.get(name)
        digest = self._hasher.hash(check_password(password))
        self._conn.execute("UPDATE users SET hash=?, failed=0, locked_until=0 WHERE name=?",
                           (digest, name))
        self._conn.execute("DELETE FROM sessions WHERE user=? AND id<>?", (name, keep))

    def unlock(self, name: str) -> None:
        """End a lock-out after failed sign-ins at once."""
        self.get(name)
        self._conn.execute("UPDATE users SET failed=0, locked_until=0 WHERE name=?", (name,))

    def set_disabled(self, name: str, disabled: bool = True) -> None:
        self.get(name)
        self._conn.execute("UPDATE users SET disabled=? WHERE name=?", (int(disabled), name))
        if disabled:
            self._conn.execute("DELETE FROM sessions WHERE user=?", (name,))

    # --- signing in ----------------------------------------------------------------------

    def authenticate(self, name: str, password: str, now: float | None = None) -> User:
        """The user, when `password` is theirs and the account may sign in; SignInRefused
        otherwise (five failures in a row lock the account for LOCK_SECONDS)."""
        now = time.time() if now is None else now
        row = self._conn.execute("SELECT * FROM users WHERE name=?", (name,)).fetchone()
        wrong = SignInRefused("The user name or the password is not right.")
        if row is None:
            self._hasher.hash(password[:256])        # the same time as a real check
            raise wrong
        if row["locked_until"] > now:
            minutes = int((row["locked_until"] - now) // 60) + 1
            raise SignInRefused(f"This account is locked after {LOCK_AFTER} failed sign-ins; "
                                f"try again in {minutes} minute(s) or ask an administrator.")
        try:
            self._hasher.verify(row["hash"], password)
        except (VerificationError, InvalidHashError):
            failed = row["failed"] + 1
            locked = now + LOCK_SECONDS if failed >= LOCK_AFTER else 0
            self._conn.execute("UPDATE users SET failed=?, locked_until=? WHERE name=?",
                               (0 if locked else failed, locked, name))
            if locked:
                raise SignInRefused(f"This account is now locked for {LOCK_SECONDS // 60} "
                                    f"minutes after {LOCK_AFTER} failed sign-ins.") from None
            raise wrong from None
        if row["disabled"]:
            raise wrong
        self._conn.execute("UPDATE users SET failed=0 WHERE name=?", (name,))
        return self.get(name)

    def open_session(self, user: User, now: float | None = None) -> Session:
        now = time.time() if now is None else now
        session = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(32), now)
        self._conn.execute("INSERT INTO sessions VALUES (?,?,?,?,?)",
                           (session.id, user.name, session.csrf, now, now))
        return session

    def session(self, session_id: str, idle_seconds: float, now: float | None = None,
                touch: bool = True) -> Session | None:
        """The live session `session_id` (its idle time renewed unless not `touch`), or
        None: unknown, ended, idle too long, or its user disabled."""
        now = time.time() if now is None else now
        row = self._conn.execute("SELECT * FROM sessions WHERE id=?", (session_id,)).fetchone()
        if row is None:
            return None
        if now - row["seen"] > idle_seconds:
            self.close_session(session_id)
            return None
        try:
            user = self.get(row["user"])
        except NoSuchUser:
            return None
        if user.disabled:
            return None
        if touch:
            self._conn.execute("UPDATE sessions SET seen=? WHERE id=?", (now, session_id))
        return Session(row["id"], user, row["csrf"], now if touch else row["seen"])

    def close_session(self, session_id: str) -> None:
        self._conn.execute("DELETE FROM sessions WHERE id=?", (session_id,))

    # --- API tokens ----------------------------------------------------------------------

    def create_token(self, name: str, by: str = "") -> tuple[Token, str]:
        """A new API token: what the list shows, and the token itself, which is stored
        nowhere (only its hash) and so can be shown only this once."""
        name = check_token_name(name)
        if self._conn.execute("SELECT 1 FROM tokens WHERE name=? AND revoked=0",
                              (name,)).fetchone():
            raise AlreadyThere(f"there is already a token called {name}; revoke it first or "
                               f"choose another name")
        plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
        cursor = self._conn.execute(
            "INSERT INTO tokens (name, hash, created, created_by) VALUES (?,?,?,?)",
            (name, _token_hash(plain), time.time(), by))
        return self.token(cursor.lastrowid or 0), plain

    def token(self, token_id: int) -> Token:
        row = self._conn.execute("SELECT * FROM tokens WHERE id=?", (token_id,)).fetchone()
        if row is None:
            raise NoSuchToken(f"there is no API token number {token_id}")
        return _token(row)

    def tokens(self) -> list[Token]:
        return [_token(r) for r in self._conn.execute("SELECT * FROM tokens ORDER BY id")]

    def revoke_token(self, token_id: int, now: float | None = None) -> Token:
        """Stop a token from working, at once and for good (revoking twice changes nothing)."""
        self.token(token_id)
        self._conn.execute("UPDATE tokens SET revoked=? WHERE id=? AND revoked=0",
                           (time.time() if now is None else now, token_id))
        return self.token(token_id)

    def token_user(self, token: str, now: float | None = None) -> TokenUser | None:
        """Who calls with `token`, when it is a live API token; None otherwise. The lookup
        is by the whole token's hash, so no part of a token is compared on its own."""
        if not token or len(token) > 200:
            return None
        row = self._conn.execute("SELECT * FROM tokens WHERE hash=? AND revoked=0",
                                 (_token_hash(token),)).fetchone()
        if row is None:
            return None
        now = time.time() if now is None else now
        if now - row["last_used"] >= TOKEN_USED_EVERY:     # not a write on every call
            self._conn.execute("UPDATE tokens SET last_used=? WHERE id=?", (now, row["id"]))
        return TokenUser(f"token:{row['name']}", row["id"])

    # --- the action log ------------------------------------------------------------------

    def record(self, user: str, action: str, job_id: str = "", outcome: str = "ok",
               detail: str = "") -> None:
        """Who did what, when, to which job (never patient data)."""
        self._conn.execute(
            "INSERT INTO actions (at, user, action, job_id, outcome, detail) VALUES (?,?,?,?,?,?)",
            (time.time(), user, action, job_id, outcome, detail[:500]))

    def actions(self, limit: int = 200, job_id: str | None = None) -> list[sqlite3.Row]:
        """The newest actions first (only those on `job_id` when given)."""
        if job_id is not None:
            return list(self._conn.execute(
                "SELECT * FROM actions WHERE job_id=? ORDER BY id DESC LIMIT ?",
                (job_id, limit)))
        return list(self._conn.execute("SELECT * FROM actions ORDER BY id DESC LIMIT ?",
                                       (limit,)))
