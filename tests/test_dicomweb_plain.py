"""wado_study's standard-library path (no httpx client given: what the station uses) against a
real local HTTP server serving hostile answers: the same refusals in the same words."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port

from burner.network.dicomweb import DicomWebError, wado_study

UID = "1.2.3.4"
BOUNDARY = "xYzZy"


def part(body: bytes, kind: str = "application/dicom") -> bytes:
    return f"--{BOUNDARY}\r\nContent-Type: {kind}\r\n\r\n".encode() + body + b"\r\n"


DICOM = b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\x02\x001\x00" + b"x" * 200
ANSWERS = {
    "good": (200, part(DICOM) + part(DICOM) + f"--{BOUNDARY}--\r\n".encode()),
    "truncated": (200, part(DICOM) + part(DICOM)[:-40]),
    "html": (200, part(DICOM) + part(b"<script>alert(1)</script>", "text/html")
             + f"--{BOUNDARY}--\r\n".encode()),
    "error": (500, b"oops"),
    "forbidden": (403, b"no"),
}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        status, body = ANSWERS[self.path.split("/")[1]]
        self.send_response(status)
        self.send_header("Content-Type",
                         f'multipart/related; type="application/dicom"; boundary={BOUNDARY}')
        self.send_header("Content-Length", str(len(body) + (100 if status == 200 and
                                                             "truncated" in self.path else 0)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def fetch(base: str, tmp_path: Path) -> list[Path]:
    return wado_study(base, UID, tmp_path / "out", timeout=5, max_part_bytes=10_000,
                      max_total_bytes=100_000)


def test_a_good_answer_gives_its_parts(server: str, tmp_path: Path) -> None:
    files = fetch(f"{server}/good", tmp_path)
    assert [p.read_bytes() for p in files] == [DICOM, DICOM]


@pytest.mark.parametrize("name, words", [
    ("truncated", "broke off|ends in the middle"),
    ("html", "not DICOM|text/html"),
    ("error", "internal failure"),
    ("forbidden", "not allowed"),
])
def test_hostile_answers_are_refused_in_words(server: str, tmp_path: Path, name: str,
                                              words: str) -> None:
    with pytest.raises(DicomWebError, match=words):
        fetch(f"{server}/{name}", tmp_path)
    assert not list((tmp_path / "out").glob("*.partial"))


def test_a_dead_pacs_is_named_by_host_and_port(tmp_path: Path) -> None:
    port = free_port()
    with pytest.raises(DicomWebError, match=f"127.0.0.1:{port} could not be reached"):
        fetch(f"http://127.0.0.1:{port}", tmp_path)
