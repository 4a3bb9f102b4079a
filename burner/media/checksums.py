"""SHA-256 helpers: hashing files and images, and the SHA256.TXT list on every medium."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20
LIST_NAME = "SHA256.TXT"


def sha256_stream(fp: BinaryIO, limit: int | None = None) -> tuple[str, int]:
    """Hash `fp` from its position (at most `limit` bytes); returns (hex, bytes read)."""
    digest = hashlib.sha256()
    done = 0
    while limit is None or done < limit:
        want = CHUNK if limit is None else min(CHUNK, limit - done)
        block = fp.read(want)
        if not block:
            break
        digest.update(block)
        done += len(block)
    return digest.hexdigest(), done


def sha256_file(path: Path, limit: int | None = None, *,
                uncached: bool = False) -> tuple[str, int]:
    """Hash a file or device (its first `limit` bytes); `uncached` reads past the page cache,
    so a medium is really read back rather than what was just written to it."""
    with open(path, "rb", buffering=0) as fp:
        if uncached and hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fp.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        return sha256_stream(fp, limit)


def write_list(path: Path, entries: Iterable[tuple[str, str]]) -> None:
    """Write `sha256sum`-style lines, "<hex>  <path on the medium>", CRLF for every reader."""
    lines = [f"{digest}  {rel}" for rel, digest in sorted(entries)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("ascii"))


def parse_list(text: str) -> dict[str, str]:
    """Read SHA256.TXT back into {path: hex}."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        digest, sep, rel = line.strip().partition("  ")
        if sep and len(digest) == 64:
            out[rel.strip()] = digest.lower()
    return out
