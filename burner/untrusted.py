"""Text burner did not write itself (file names, exception messages, tool output), made safe to
show to people (and small files from outside, read without blocking: `read_small`): every
control character is escaped, so a file named "a<newline>Job X was
approved.dcm" cannot forge a line of reason.txt, and no terminal escape reaches a console.

"Control character" is meant widely: anything str.isprintable() rejects except the space
(C0 and C1 controls, DEL, line and paragraph separators, bidirectional overrides, other format
characters and unassigned code points). Escapes look like Python's: \\n, \\r, \\t, \\x07,
\\u2028, \\U000e0001.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def one_line(text: object) -> str:
    """`text` as one line: every control character (line breaks included) escaped."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else _escape(c) for c in text)


def lines(text: object) -> str:
    """`text` whose "\\n" are meant as line breaks (a message burner composed, with anything
    untrusted in it already passed through one_line): those lines kept, every other control
    character escaped."""
    return "\n".join(one_line(line) for line in str(text).split("\n"))


def read_small(path: Path, limit: int) -> str:
    """At most `limit` bytes of the regular file `path` as text ('' when it is missing, is no
    regular file, or is a symlink): a FIFO or a device in a job folder never blocks a reader."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as fp:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        return fp.read(limit).decode("utf-8", errors="replace")

