"""The passphrase of an electronic copy (an AES-256 encrypted ZIP, issue 14).

It is printed only on the cover sheet handed to the patient, and never stored in clear: the
station derives it when it needs it (to encrypt, to verify, to print or reprint the cover
sheet) from a secret key of its own (`<data>/keys/electronic-copy.key`, readable by the
station's user only) and the volume's File-set UID, which is new for every build. A slow hash
of it (argon2) is kept in result.json, so that staff can confirm on the phone what a patient
reads out, without being able to read it back.
"""

from __future__ import annotations

import hmac
import os
from hashlib import sha256
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

KEY_FILE = Path("keys") / "electronic-copy.key"
# No 0/O, 1/I/L: read out on the phone and typed by a patient.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
GROUPS, GROUP = 5, 5          # 25 symbols of 31: about 124 bits


def station_key(data_dir: Path) -> bytes:
    """The station's secret key, made on first use (32 random bytes, mode 0600)."""
    path = data_dir / KEY_FILE
    try:
        key = path.read_bytes()
        if len(key) == 32:
            return key
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    part = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(os.urandom(32))
    try:
        os.link(part, path)          # the first key made wins; another process's is kept
    except FileExistsError:
        pass
    finally:
        part.unlink(missing_ok=True)
    return path.read_bytes()


def passphrase(data_dir: Path, job_id: str, fileset_uid: str) -> str:
    """The passphrase of the volume whose File-set UID is `fileset_uid`: "K7QMX-3XPDA-..."."""
    digest = hmac.new(station_key(data_dir), f"{job_id}\n{fileset_uid}".encode(),
                      sha256).digest()
    number = int.from_bytes(digest, "big")
    symbols = []
    for _ in range(GROUPS * GROUP):
        number, n = divmod(number, len(ALPHABET))
        symbols.append(ALPHABET[n])
    return "-".join("".join(symbols[i:i + GROUP]) for i in range(0, len(symbols), GROUP))


def check_hash(phrase: str) -> str:
    """A slow, salted hash of `phrase`, to confirm it later without knowing it."""
    return PasswordHasher().hash(phrase)


def confirms(stored: str, heard: str) -> bool:
    """Whether `heard` (as read out; spaces, dashes and case ignored) is the passphrase."""
    cleaned = "".join(c for c in heard.upper() if c in ALPHABET)
    candidate = "-".join(cleaned[i:i + GROUP] for i in range(0, len(cleaned), GROUP))
    try:
        return PasswordHasher().verify(stored, candidate)
    except (VerificationError, InvalidHashError):
        return False
