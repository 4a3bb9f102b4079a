"""A small, strict DICOMweb client: QIDO-RS (search), WADO-RS (retrieve a study or series) and
STOW-RS (store), over synchronous httpx.

Everything the PACS sends is treated as hostile: bodies are read as streams with a cap, JSON
must follow the DICOM JSON model, multipart answers are parsed part by part straight to disk
with bounded headers, and any breach ends in a DicomWebError whose message a technician can act
on. Messages name the PACS by host and port only, never by a URL with query parameters (those
may hold a patient ID). UIDs are checked before they are put in a URL.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx

MiB = 1024 * 1024
QIDO_MAX_BYTES = 32 * MiB
QIDO_MAX_RESULTS = 10_000
STOW_MAX_ANSWER_BYTES = 16 * MiB
MAX_PART_HEADER_BYTES = 8 * 1024
MAX_PREAMBLE_BYTES = 64 * 1024
STOW_READ_SIZE = 1 * MiB
READ_SIZE = 1 * MiB
# The DICOM JSON model nests sequences; deeper than this is not a real answer.
MAX_JSON_DEPTH = 32

DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"

_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
_TAG = re.compile(r"[0-9A-Fa-f]{8}")
_VR = re.compile(r"[A-Z]{2}")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Unquoted parameter values: a token, or a media type as servers send it (type=application/dicom).
_BARE_VALUE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z/-]+")
# RFC 2046 bchars; a boundary may not end in a space.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_PATH_WORDS = frozenset({"studies", "series", "instances"})

REFERENCED_SOP_SEQUENCE = "00081199"
FAILED_SOP_SEQUENCE = "00081198"
REFERENCED_SOP_INSTANCE_UID = "00081155"
FAILURE_REASON = "00081197"


class DicomWebError(Exception):
    """The PACS could not be used; the message says why in plain words."""


@dataclass
class StowResult:
    """What the PACS says it stored: SOP Instance UIDs, and the failed ones with their reason
    code (FailureReason, None when the PACS gave none)."""

    stored: list[str] = field(default_factory=list)
    failed: list[tuple[str, int | None]] = field(default_factory=list)


# --- URLs and transport errors --------------------------------------------------------------


def check_uid(uid: str) -> str:
    """`uid` if it is a DICOM UID (digits and dots, at most 64 characters), else DicomWebError."""
    if not isinstance(uid, str) or len(uid) > 64 or not _UID.fullmatch(uid):
        raise DicomWebError("An image request was refused before it was sent: the study, series "
                            "or instance number (UID) it names is not a valid DICOM UID.")
    return uid


def _where(base_url: str) -> str:
    """host:port of the PACS, for messages."""
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError):
        return "(an invalid address)"
    port = url.port or (443 if url.scheme == "https" else 80)
    return f"{url.host}:{port}"


def _url(base_url: str, segments: list[str]) -> str:
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise DicomWebError("The DICOMweb address of the PACS is not a valid web address; "
                            "check the station's settings.") from exc
    if url.scheme not in {"http", "https"} or not url.host or url.query or url.fragment:
        raise DicomWebError("The DICOMweb address of the PACS must be a plain http:// or "
                            "https:// address without '?' or '#'; check the station's settings.")
    return str(base_url).rstrip("/") + "/" + "/".join(segments)


def _path_segments(path: str) -> list[str]:
    """The segments of a QIDO path such as "studies/1.2.3/instances", each checked."""
    segments = path.strip("/").split("/")
    for segment in segments:
        if segment not in _PATH_WORDS:
            check_uid(segment)
    return segments


def _transport_error(exc: httpx.HTTPError, base_url: str) -> DicomWebError:
    where = _where(base_url)
    if isinstance(exc, httpx.ConnectTimeout):
        return DicomWebError(f"The PACS at {where} could not be reached (no answer in time).")
    if isinstance(exc, httpx.ConnectError):
        text = str(exc).lower()
        if "refused" in text:
            why = "connection refused"
        elif "name" in text or "resolution" in text or "known" in text:
            why = "its name could not be found"
        elif "unreachable" in text:
            why = "no route to it"
        else:
            why = "the connection failed"
        return DicomWebError(f"The PACS at {where} could not be reached ({why}).")
    if isinstance(exc, httpx.TimeoutException):
        return DicomWebError(f"The PACS at {where} stopped answering in the middle of a transfer "
                             "(timed out).")
    if isinstance(exc, httpx.RemoteProtocolError):
        return DicomWebError(f"The PACS at {where} broke off the connection in the middle of a "
                             "transfer.")
    return DicomWebError(f"The connection to the PACS at {where} failed "
                         f"({type(exc).__name__}).")


def _check_status(response: httpx.Response, base_url: str, what: str,
                  allowed: frozenset[int] = frozenset({200})) -> None:
    status = response.status_code
    if status in allowed:
        return
    where = _where(base_url)
    if status == 204:
        raise DicomWebError(f"The PACS at {where} has nothing for the {what} (HTTP 204).")
    if status in {401, 403}:
        raise DicomWebError(f"The PACS at {where} refused the {what}: this station is not "
                            f"allowed in (HTTP {status}).")
    if status == 404:
        raise DicomWebError(f"The PACS at {where} does not have what the {what} asked for "
                            "(HTTP 404).")
    if 400 <= status < 500:
        raise DicomWebError(f"The PACS at {where} rejected the {what} (HTTP {status}).")
    if status >= 500:
        raise DicomWebError(f"The PACS at {where} had an internal failure answering the {what} "
                            f"(HTTP {status}).")
    raise DicomWebError(f"The PACS at {where} gave an unexpected answer to the {what} "
                        f"(HTTP {status}).")


class _Client:
    """The caller's httpx.Client, or one of our own that is closed afterwards."""

    def __init__(self, client: httpx.Client | None, timeout: float) -> None:
        self.own = client is None
        self.client = client if client is not None else httpx.Client(timeout=timeout)

    def __enter__(self) -> httpx.Client:
        return self.client

    def __exit__(self, *exc: object) -> None:
        if self.own:
            self.client.close()


# --- header values --------------------------------------------------------------------------


def _shown(value: str) -> str:
    """A content type as it may appear in a message: printable, short."""
    value = "".join(c for c in value if c.isprintable())[:60].strip()
    return value or "no content type"


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """(media type in lower case, {parameter name in lower case: value}) of a Content-Type;
    quoted values are unquoted. ValueError if it is malformed."""
    media, _, rest = value.partition(";")
    media = media.strip().lower()
    kind, slash, sub = media.partition("/")
    if not (slash and _TOKEN.fullmatch(kind) and _TOKEN.fullmatch(sub)):
        raise ValueError("not a media type")
    params: dict[str, str] = {}
    i, n = 0, len(rest)
    while True:
        while i < n and rest[i] in " \t":
            i += 1
        if i >= n:
            return media, params
        eq = rest.find("=", i)
        if eq < 0:
            raise ValueError("a parameter without '='")
        name = rest[i:eq].strip().lower()
        if not _TOKEN.fullmatch(name):
            raise ValueError("a bad parameter name")
        i = eq + 1
        if i < n and rest[i] == '"':
            chars: list[str] = []
            i += 1
            while True:
                if i >= n:
                    raise ValueError("an unterminated quoted value")
                c = rest[i]
                if c == "\\" and i + 1 < n:
                    chars.append(rest[i + 1])
                    i += 2
                elif c == '"':
                    i += 1
                    break
                else:
                    chars.append(c)
                    i += 1
            param = "".join(chars)
        else:
            end = rest.find(";", i)
            end = n if end < 0 else end
            param = rest[i:end].strip()
            if not _BARE_VALUE.fullmatch(param):
                raise ValueError("a bad parameter value")
            i = end
        while i < n and rest[i] in " \t":
            i += 1
        if i < n:
            if rest[i] != ";":
                raise ValueError("text after a parameter")
            i += 1
        if name in params:
            raise ValueError("a repeated parameter")
        params[name] = param


# --- bounded reading and the DICOM JSON model -----------------------------------------------


def _read_capped(response: httpx.Response, max_bytes: int, base_url: str, what: str) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
        raise _too_big(base_url, what, max_bytes)
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise _too_big(base_url, what, max_bytes)
    return bytes(body)


def _too_big(base_url: str, what: str, max_bytes: int) -> DicomWebError:
    return DicomWebError(f"The PACS at {_where(base_url)} sent a larger answer to the {what} "
                         f"than this station accepts (more than {_amount(max_bytes)}).")


def _amount(nbytes: int) -> str:
    """A size limit in words: "32 MiB", "512 KiB", "100 bytes"."""
    if nbytes >= MiB:
        return f"{nbytes / MiB:g} MiB"
    if nbytes >= 1024:
        return f"{nbytes / 1024:g} KiB"
    return f"{nbytes} bytes"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _load_json(body: bytes, base_url: str, what: str) -> Any:
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DicomWebError(f"The PACS at {_where(base_url)} answered the {what} with text "
                            "that is not valid JSON.") from exc


def _valid_dataset(item: Any, depth: int = 0) -> bool:
    """True if `item` is a dataset of the DICOM JSON model (PS3.18 F.2)."""
    if not isinstance(item, dict) or depth > MAX_JSON_DEPTH:
        return False
    for tag, element in item.items():
        if not _TAG.fullmatch(tag) or not isinstance(element, dict):
            return False
        vr = element.get("vr")
        if not isinstance(vr, str) or not _VR.fullmatch(vr):
            return False
        value = element.get("Value")
        if value is None:
            continue
        if not isinstance(value, list):
            return False
        if vr == "SQ":
            if not all(_valid_dataset(sub, depth + 1) for sub in value):
                return False
        elif vr == "PN":
            if not all(v is None or (isinstance(v, dict) and all(
                    isinstance(k, str) and isinstance(s, str) for k, s in v.items()))
                    for v in value):
                return False
        elif not all(v is None or isinstance(v, str | int | float) and not isinstance(v, bool)
                     for v in value):
            return False
    return True


def json_value(item: dict, tag: str) -> str | None:
    """The first value of attribute `tag` ("0020000D") of a DICOM JSON dataset as text: a
    person name's Alphabetic form, a number in Python's notation; None if absent or empty."""
    element = item.get(tag.upper())
    if element is None:
        element = item.get(tag.lower())
    if not isinstance(element, dict):
        return None
    values = element.get("Value")
    if not isinstance(values, list) or not values:
        return None
    first = values[0]
    if isinstance(first, dict):
        alphabetic = first.get("Alphabetic")
        return alphabetic if isinstance(alphabetic, str) else None
    if isinstance(first, bool) or first is None:
        return None
    if isinstance(first, str | int | float):
        return str(first)
    return None


# --- QIDO-RS --------------------------------------------------------------------------------


def qido(base_url: str, path: str, params: dict[str, str], *, timeout: float = 30,
         max_bytes: int = QIDO_MAX_BYTES, max_results: int = QIDO_MAX_RESULTS,
         client: httpx.Client | None = None) -> list[dict]:
    """Search the PACS: GET base_url/path?params (path such as "studies" or
    "studies/{uid}/series"), the answer a list of DICOM JSON datasets ([] for HTTP 204)."""
    url = _url(base_url, _path_segments(path))
    what = "search"
    try:
        with _Client(client, timeout) as http, http.stream(
                "GET", url, params=params, timeout=timeout,
                headers={"Accept": DICOM_JSON, "Accept-Encoding": "identity"}) as response:
            _check_status(response, base_url, what, frozenset({200, 204}))
            if response.status_code == 204:
                return []
            _check_json_type(response, base_url, what)
            body = _read_capped(response, max_bytes, base_url, what)
    except httpx.HTTPError as exc:
        raise _transport_error(exc, base_url) from exc
    if not body.strip():
        return []
    answer = _load_json(body, base_url, what)
    if not isinstance(answer, list):
        raise DicomWebError(f"The PACS at {_where(base_url)} answered the search with something "
                            "other than a list of results.")
    if len(answer) > max_results:
        raise DicomWebError(f"The PACS at {_where(base_url)} found more than {max_results} "
                            "results; narrow the search.")
    if not all(_valid_dataset(item) for item in answer):
        raise DicomWebError(f"The PACS at {_where(base_url)} answered the search with results "
                            "that are not DICOM attributes.")
    return answer


def _check_json_type(response: httpx.Response, base_url: str, what: str) -> None:
    value = response.headers.get("content-type", "")
    try:
        media, _ = parse_content_type(value)
    except ValueError:
        media = ""
    if media not in {DICOM_JSON, "application/json"}:
        raise DicomWebError(f"The PACS at {_where(base_url)} answered the {what} with something "
                            f"that is not DICOM JSON ({_shown(value)}).")


# --- WADO-RS --------------------------------------------------------------------------------


def wado_study(base_url: str, study_uid: str, dest: Path, *, series_uid: str | None = None,
               timeout: float = 60, max_part_bytes: int, max_total_bytes: int,
               client: httpx.Client | None = None,
               on_file: Callable[[Path], None] | None = None) -> list[Path]:
    """Retrieve a study (or one series of it) into `dest` as part-NNNNNN.dcm files, in the
    order the PACS sends them; `on_file` is called with each file once it is complete.

    The multipart answer is parsed as a stream: each part's body goes to a `.partial` file that
    is renamed when the part ends. `max_part_bytes` caps one file, `max_total_bytes` everything
    read from the PACS. On any error DicomWebError is raised: the part being written is removed,
    but the files completed before it stay in `dest` (the caller discards the folder or keeps
    them). Existing part files in `dest` are never overwritten (FileExistsError).
    """
    segments = ["studies", check_uid(study_uid)]
    if series_uid is not None:
        segments += ["series", check_uid(series_uid)]
    url = _url(base_url, segments)
    dest.mkdir(parents=True, exist_ok=True)
    accept = f'multipart/related; type="{DICOM}"'
    if client is None:
        return _wado_plain(base_url, url, accept, timeout, dest, max_part_bytes,
                           max_total_bytes, on_file)
    try:
        with _Client(client, timeout) as http, http.stream(
                "GET", url, timeout=timeout,
                headers={"Accept": accept, "Accept-Encoding": "identity"}) as response:
            _check_status(response, base_url, "image request")
            boundary = _multipart_boundary(response.headers.get("content-type", ""), base_url)
            reader = _MultipartReader(boundary, dest, base_url, max_part_bytes,
                                      max_total_bytes, on_file)
            return reader.run(response.iter_bytes())
    except httpx.HTTPError as exc:
        raise _transport_error(exc, base_url) from exc


def _wado_plain(base_url: str, url: str, accept: str, timeout: float, dest: Path,
                max_part_bytes: int, max_total_bytes: int,
                on_file: Callable[[Path], None] | None) -> list[Path]:
    """wado_study's GET over the standard library's http.client, read in 1 MiB pieces: a
    study is hundreds of MB, and httpx's 64 KB reads cost four times the CPU (which, with
    the parsing, bounds the retrieval's speed). Same checks and words as the httpx path."""
    parts = urllib.parse.urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else \
        http.client.HTTPConnection
    conn = kind(parts.hostname or "", parts.port, timeout=timeout)
    where = _where(base_url)
    try:
        conn.request("GET", parts.path, headers={"Accept": accept,
                                                 "Accept-Encoding": "identity"})
        response = conn.getresponse()
        answer = SimpleNamespace(status_code=response.status, headers=response.headers)
        _check_status(answer, base_url, "image request")      # type: ignore[arg-type]
        boundary = _multipart_boundary(response.headers.get("content-type", ""), base_url)
        reader = _MultipartReader(boundary, dest, base_url, max_part_bytes, max_total_bytes,
                                  on_file)

        def chunks() -> Iterator[bytes]:
            while True:
                chunk = response.read(READ_SIZE)
                if not chunk:
                    return
                yield chunk

        return reader.run(chunks())
    except ConnectionRefusedError:
        raise DicomWebError(f"The PACS at {where} could not be reached (connection refused)."
                            ) from None
    except TimeoutError:
        raise DicomWebError(f"The PACS at {where} stopped answering (timed out).") from None
    except (http.client.HTTPException, ConnectionError) as exc:
        raise DicomWebError(f"The PACS at {where} broke off the connection in the middle of "
                            f"a transfer ({type(exc).__name__}).") from None
    except OSError as exc:
        raise DicomWebError(f"The connection to the PACS at {where} failed "
                            f"({exc.strerror or type(exc).__name__}).") from None
    finally:
        conn.close()


def _multipart_boundary(value: str, base_url: str) -> bytes:
    """The boundary of a multipart/related answer of DICOM parts, else DicomWebError."""
    where = _where(base_url)
    try:
        media, params = parse_content_type(value)
    except ValueError:
        # Malformed parameters of a multipart answer are a boundary problem, not a wrong type.
        media, params = value.partition(";")[0].strip().lower(), {}
    if media != "multipart/related":
        raise DicomWebError(f"The PACS at {where} answered the image request with something that "
                            f"is not DICOM ({_shown(value)}).")
    part_type = params.get("type")
    if part_type is not None and part_type.lower() != DICOM:
        raise DicomWebError(f"The PACS at {where} answered the image request with parts that "
                            f"are not DICOM ({_shown(part_type)}).")
    boundary = params.get("boundary")
    if boundary is None or not _BOUNDARY.fullmatch(boundary):
        raise DicomWebError(f"The PACS at {where} answered the image request with a malformed "
                            "multipart answer (no valid boundary).")
    return boundary.encode("ascii")


class _MultipartReader:
    """Splits a multipart body, read as a stream of chunks, into files (RFC 2046)."""

    def __init__(self, boundary: bytes, dest: Path, base_url: str, max_part_bytes: int,
                 max_total_bytes: int, on_file: Callable[[Path], None] | None) -> None:
        self.delimiter = b"\r\n--" + boundary
        self.dest = dest
        self.where = _where(base_url)
        self.max_part_bytes = max_part_bytes
        self.max_total_bytes = max_total_bytes
        self.on_file = on_file
        self.total = 0
        self.files: list[Path] = []
        self.buf = bytearray()

    def fail(self, why: str) -> DicomWebError:
        return DicomWebError(f"The PACS at {self.where} sent a broken image answer: {why}.")

    def run(self, chunks: Iterable[bytes]) -> list[Path]:
        self.chunks = iter(chunks)
        # A CRLF before the body lets the first boundary line match the delimiter as well.
        self.buf += b"\r\n"
        if not self._skip_to_delimiter(MAX_PREAMBLE_BYTES):
            raise self.fail("it has no parts")
        while True:
            if self._after_delimiter():
                return self.files
            self._part()

    def _more(self) -> bool:
        """Append the next chunk to the buffer; False at the end of the body."""
        for chunk in self.chunks:
            if not chunk:
                continue
            self.total += len(chunk)
            if self.total > self.max_total_bytes:
                raise DicomWebError(
                    f"The PACS at {self.where} sent more than this station accepts for one "
                    f"study ({_amount(self.max_total_bytes)}); the transfer was stopped.")
            self.buf += chunk
            return True
        return False

    def _skip_to_delimiter(self, limit: int) -> bool:
        """Drop text up to and including the next delimiter (the preamble)."""
        start = 0
        while True:
            at = self.buf.find(self.delimiter, start)
            if at >= 0:
                del self.buf[:at + len(self.delimiter)]
                return True
            if len(self.buf) > limit:
                raise self.fail("too much text before the first part")
            # Only the new bytes (and an overlap) need searching: a server may dribble.
            start = max(len(self.buf) - len(self.delimiter) + 1, 0)
            if not self._more():
                return False

    def _after_delimiter(self) -> bool:
        """Consume what follows a delimiter: True at the closing one, False before a part."""
        while len(self.buf) < 2:
            if not self._more():
                raise self.fail("it ends in the middle (no closing boundary)")
        if self.buf[:2] == b"--":
            return True
        # Transport padding (spaces and tabs), then the CRLF that ends the boundary line.
        while True:
            end = self.buf.find(b"\r\n")
            if end >= 0:
                if self.buf[:end].strip(b" \t"):
                    raise self.fail("text after a boundary")
                del self.buf[:end + 2]
                return False
            if len(self.buf) > 1024:
                raise self.fail("text after a boundary")
            if not self._more():
                raise self.fail("it ends in the middle (no closing boundary)")

    def _headers(self) -> dict[str, str]:
        start = 0
        while True:
            if self.buf.startswith(b"\r\n"):
                raw = b""  # no headers at all
                del self.buf[:2]
                break
            end = self.buf.find(b"\r\n\r\n", start)
            if end > MAX_PART_HEADER_BYTES or (end < 0 and len(self.buf) > MAX_PART_HEADER_BYTES):
                raise self.fail("a part's headers are too long")
            if end >= 0:
                raw = bytes(self.buf[:end])
                del self.buf[:end + 4]
                break
            start = max(len(self.buf) - 3, 0)
            if not self._more():
                raise self.fail("it ends in the middle of a part's headers")
        headers: dict[str, str] = {}
        if not raw:
            return headers
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            raise self.fail("a part's headers are not plain text") from None
        for line in text.split("\r\n"):
            name, colon, value = line.partition(":")
            if not colon or not _TOKEN.fullmatch(name) or "\n" in value or "\r" in value:
                raise self.fail("a part has a malformed header line")
            name = name.lower()
            if name in headers:
                raise self.fail(f"a part repeats its {name} header")
            headers[name] = value.strip(" \t")
        return headers

    def _part(self) -> None:
        headers = self._headers()
        content_type = headers.get("content-type")
        if content_type is None:
            raise self.fail("a part has no content type")
        try:
            media, _ = parse_content_type(content_type)
        except ValueError:
            media = ""
        if media != DICOM:
            raise DicomWebError(f"The PACS at {self.where} answered the image request with "
                                f"something that is not DICOM ({_shown(content_type)}).")
        final = self.dest / f"part-{len(self.files) + 1:06d}.dcm"
        partial = final.with_name(final.name + ".partial")
        if final.exists():
            raise FileExistsError(final)
        try:
            with open(partial, "wb") as out:
                size, head = self._body(out)
            if size == 0:
                raise self.fail("a part is empty")
            if head[128:132] != b"DICM":
                raise self.fail("a part is not a DICOM file")
            os.replace(partial, final)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        self.files.append(final)
        if self.on_file is not None:
            self.on_file(final)

    def _body(self, out: Any) -> tuple[int, bytes]:
        """Write the part's body up to the next delimiter; (its size, its first 132 bytes)."""
        delimiter = self.delimiter
        keep = len(delimiter) - 1
        size = 0
        head = b""
        while True:
            at = self.buf.find(delimiter)
            if at >= 0:
                take, skip = at, at + len(delimiter)
            else:
                take = skip = max(len(self.buf) - keep, 0)
            if take:
                size += take
                if size > self.max_part_bytes:
                    raise DicomWebError(
                        f"The PACS at {self.where} sent an image file larger than this station "
                        f"accepts ({_amount(self.max_part_bytes)}); the transfer was stopped.")
                if len(head) < 132:
                    head += bytes(self.buf[:min(take, 132 - len(head))])
                with memoryview(self.buf) as view:
                    out.write(view[:take])
            if skip:
                del self.buf[:skip]
            if at >= 0:
                return size, head
            # What is left is shorter than the delimiter: it is searched again with the next chunk.
            if not self._more():
                raise self.fail("it ends in the middle of a file (no closing boundary)")


# --- STOW-RS --------------------------------------------------------------------------------


def stow(base_url: str, files: list[Path], *, timeout: float = 120,
         client: httpx.Client | None = None) -> StowResult:
    """Store DICOM files on the PACS in one request (POST base_url/studies), the body streamed
    from the files; what the PACS says it stored and what failed."""
    url = _url(base_url, ["studies"])
    boundary = secrets.token_hex(16)
    opening = f"--{boundary}\r\nContent-Type: {DICOM}\r\n\r\n".encode("ascii")
    closing = f"--{boundary}--\r\n".encode("ascii")
    sizes = [Path(path).stat().st_size for path in files]
    length = sum(len(opening) + size + 2 for size in sizes) + len(closing)

    def body() -> Iterator[bytes]:
        for path, size in zip(files, sizes, strict=True):
            yield opening
            left = size
            with open(path, "rb") as fp:
                while left:
                    chunk = fp.read(min(left, STOW_READ_SIZE))
                    if not chunk:
                        raise OSError(f"{path} became shorter while it was being sent")
                    left -= len(chunk)
                    yield chunk
            yield b"\r\n"
        yield closing

    headers = {
        "Content-Type": f'multipart/related; type="{DICOM}"; boundary={boundary}',
        "Content-Length": str(length),
        "Accept": DICOM_JSON,
        "Accept-Encoding": "identity",
    }
    what = "request to store images"
    try:
        with _Client(client, timeout) as http, http.stream(
                "POST", url, content=body(), headers=headers, timeout=timeout) as response:
            # 202: some stored, some failed or with warnings; 409: none stored.
            _check_status(response, base_url, what, frozenset({200, 202, 409}))
            _check_json_type(response, base_url, what)
            raw = _read_capped(response, STOW_MAX_ANSWER_BYTES, base_url, what)
    except httpx.HTTPError as exc:
        raise _transport_error(exc, base_url) from exc
    answer = _load_json(raw, base_url, what)
    if isinstance(answer, list) and len(answer) == 1:
        answer = answer[0]
    if not _valid_dataset(answer):
        raise DicomWebError(f"The PACS at {_where(base_url)} answered the {what} with something "
                            "that is not a DICOM store report.")
    result = StowResult()
    for item in _sequence(answer, REFERENCED_SOP_SEQUENCE):
        result.stored.append(_item_uid(item, base_url))
    for item in _sequence(answer, FAILED_SOP_SEQUENCE):
        reason = json_value(item, FAILURE_REASON)
        try:
            code = int(reason) if reason is not None else None
        except ValueError:
            code = None
        result.failed.append((_item_uid(item, base_url), code))
    return result


def _sequence(dataset: dict, tag: str) -> list[dict]:
    element = dataset.get(tag)
    if element is None:
        return []
    return list(element.get("Value") or []) if element.get("vr") == "SQ" else []


def _item_uid(item: dict, base_url: str) -> str:
    uid = json_value(item, REFERENCED_SOP_INSTANCE_UID)
    if uid is None or len(uid) > 64 or not _UID.fullmatch(uid):
        raise DicomWebError(f"The PACS at {_where(base_url)} named an image in its store report "
                            "without a valid SOP Instance UID.")
    return uid
