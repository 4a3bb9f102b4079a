"""The DICOMweb client: hostile answers served by httpx.MockTransport (fast), then QIDO-RS,
WADO-RS and STOW-RS against a private Orthanc (slow)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pydicom
import pytest
from orthanc_server import OrthancServer, free_ports, require_orthanc

from burner import synth
from burner.network import dicomweb
from burner.network.dicomweb import DicomWebError, json_value, qido, stow, wado_study

BASE = "http://pacs.example:8080/dicom-web"
STUDY = "1.2.826.0.1.3680043.8.498.1"
BOUNDARY = "b0und4ry-xyz"
MULTIPART = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


def dicom_bytes(n: int, size: int = 300) -> bytes:
    """A stand-in for a Part 10 file: preamble, DICM, then `size` bytes of filler."""
    return b"\0" * 128 + b"DICM" + bytes([n % 251]) * size


def multipart(parts: list[tuple[dict[str, str], bytes]], boundary: str = BOUNDARY,
              close: bool = True, preamble: bytes = b"", epilogue: bytes = b"") -> bytes:
    body = bytearray(preamble)
    for headers, content in parts:
        body += f"--{boundary}\r\n".encode()
        for name, value in headers.items():
            body += f"{name}: {value}\r\n".encode()
        body += b"\r\n" + content + b"\r\n"
    if close:
        body += f"--{boundary}--\r\n".encode() + epilogue
    return bytes(body)


def dicom_parts(count: int, size: int = 300) -> list[tuple[dict[str, str], bytes]]:
    return [({"Content-Type": "application/dicom"}, dicom_bytes(n, size)) for n in range(count)]


def chunked(body: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start:start + size]


def serving(body: bytes, content_type: str = MULTIPART, status: int = 200,
            chunk: int = 65536, seen: list[httpx.Request] | None = None) -> httpx.Client:
    """A client whose every request gets `body`, streamed in chunks of `chunk` bytes."""

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, headers={"Content-Type": content_type},
                              content=chunked(body, chunk))

    return httpx.Client(transport=httpx.MockTransport(handler))


def fetch(tmp_path: Path, client: httpx.Client, **kwargs: object) -> list[Path]:
    limits: dict = {"max_part_bytes": 1 << 20, "max_total_bytes": 1 << 24}
    limits.update(kwargs)
    return wado_study(BASE, STUDY, tmp_path / "got", client=client, **limits)


def leftovers(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "got").iterdir())


# --- WADO-RS: the multipart parser ----------------------------------------------------------


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 16, 17, 4096, 1 << 20])
def test_parts_become_files_whatever_the_chunk_borders(tmp_path: Path, chunk: int) -> None:
    parts = dicom_parts(3)
    seen: list[Path] = []
    files = fetch(tmp_path, serving(multipart(parts), chunk=chunk), on_file=seen.append)
    assert [f.name for f in files] == ["part-000001.dcm", "part-000002.dcm", "part-000003.dcm"]
    assert [f.read_bytes() for f in files] == [content for _, content in parts]
    assert seen == files
    assert leftovers(tmp_path) == [f.name for f in files]


def test_body_holding_boundary_lookalikes_is_split_only_at_the_delimiter(tmp_path: Path) -> None:
    # CRLF, dashes and the boundary without its CRLF prefix are ordinary body bytes.
    tricky = dicom_bytes(1) + f"\r\n-{BOUNDARY}\r\n--{BOUNDARY[:-1]}\n--{BOUNDARY}".encode()
    body = multipart([({"Content-Type": "application/dicom"}, tricky)] + dicom_parts(1))
    for chunk in (1, 5, 64):
        files = fetch(tmp_path / str(chunk), serving(body, chunk=chunk))
        assert [f.read_bytes() for f in files] == [tricky, dicom_bytes(0)]


def test_request_asks_for_dicom_parts_of_the_study_or_series(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    client = serving(multipart(dicom_parts(1)), seen=seen)
    fetch(tmp_path / "a", client)
    wado_study(BASE, STUDY, tmp_path / "b", series_uid="1.2.3", client=client,
               max_part_bytes=1 << 20, max_total_bytes=1 << 20)
    assert [str(r.url) for r in seen] == [f"{BASE}/studies/{STUDY}",
                                          f"{BASE}/studies/{STUDY}/series/1.2.3"]
    assert seen[0].headers["accept"] == 'multipart/related; type="application/dicom"'


@pytest.mark.parametrize("content_type", [
    f'multipart/related; type="application/dicom"; boundary="{BOUNDARY}"',
    f"multipart/related;boundary={BOUNDARY};type=application/dicom",
    f'Multipart/Related; Boundary="{BOUNDARY}"',
])
def test_boundary_parameter_quoted_or_not(tmp_path: Path, content_type: str) -> None:
    files = fetch(tmp_path, serving(multipart(dicom_parts(2)), content_type=content_type))
    assert len(files) == 2


def test_boundary_with_spaces_in_quotes(tmp_path: Path) -> None:
    boundary = "a b'c(d)e+f_g,h-i.j/k:l=m?n"
    body = multipart(dicom_parts(2), boundary=boundary)
    content_type = f'multipart/related; type="application/dicom"; boundary="{boundary}"'
    assert len(fetch(tmp_path, serving(body, content_type=content_type, chunk=3))) == 2


def test_preamble_epilogue_padding_and_part_parameters_are_accepted(tmp_path: Path) -> None:
    parts = [({"Content-Type": "application/dicom; transfer-syntax=1.2.840.10008.1.2.1",
               "Content-Length": "432", "MIME-Version": "1.0"}, dicom_bytes(1)),
             ({"content-type": 'APPLICATION/DICOM; transfer-syntax="*"'}, dicom_bytes(2))]
    body = multipart(parts, preamble=b"This is a multipart answer.\r\n", epilogue=b"bye\r\n")
    # Transport padding: spaces after a boundary, before its CRLF.
    body = body.replace(f"--{BOUNDARY}\r\n".encode(), f"--{BOUNDARY}  \t\r\n".encode(), 1)
    files = fetch(tmp_path, serving(body, chunk=5))
    assert [f.read_bytes() for f in files] == [dicom_bytes(1), dicom_bytes(2)]


def refused(tmp_path: Path, client: httpx.Client, match: str, **kwargs: object) -> str:
    with pytest.raises(DicomWebError, match=match) as caught:
        fetch(tmp_path, client, **kwargs)
    assert not [p for p in (tmp_path / "got").glob("*.partial")]
    return str(caught.value)


def test_part_without_content_type(tmp_path: Path) -> None:
    body = multipart([({}, dicom_bytes(1))])
    refused(tmp_path, serving(body), "no content type")


def test_text_html_part(tmp_path: Path) -> None:
    body = multipart(dicom_parts(1) + [({"Content-Type": "text/html"}, b"<html>oops</html>")])
    message = refused(tmp_path, serving(body), r"not DICOM \(text/html\)")
    assert message.startswith("The PACS at pacs.example:8080 answered the image request")
    # The part completed before the bad one stays, as documented.
    assert leftovers(tmp_path) == ["part-000001.dcm"]


def test_dicom_part_that_is_not_a_dicom_file(tmp_path: Path) -> None:
    body = multipart([({"Content-Type": "application/dicom"}, b"<html>" * 100)])
    refused(tmp_path, serving(body), "not a DICOM file")
    assert leftovers(tmp_path) == []


def test_empty_part(tmp_path: Path) -> None:
    refused(tmp_path, serving(multipart([({"Content-Type": "application/dicom"}, b"")])),
            "empty")


@pytest.mark.parametrize("chunk", [1, 100, 65536])
def test_truncated_body_without_closing_delimiter(tmp_path: Path, chunk: int) -> None:
    whole = multipart(dicom_parts(3), close=False)
    cut = whole[:-150]  # in the middle of the third part
    refused(tmp_path, serving(cut, chunk=chunk), "no closing boundary")
    assert leftovers(tmp_path) == ["part-000001.dcm", "part-000002.dcm"]


def test_body_ending_after_last_part_without_closing_delimiter(tmp_path: Path) -> None:
    body = multipart(dicom_parts(2), close=False)
    refused(tmp_path, serving(body), "no closing boundary")
    assert leftovers(tmp_path) == ["part-000001.dcm"]


def test_body_ending_in_headers(tmp_path: Path) -> None:
    body = f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n".encode()
    refused(tmp_path, serving(body), "headers")


def test_body_with_no_parts(tmp_path: Path) -> None:
    refused(tmp_path, serving(b"nothing here"), "no parts")
    refused(tmp_path, serving(b""), "no parts")


def test_part_larger_than_max_part_bytes(tmp_path: Path) -> None:
    body = multipart(dicom_parts(1, size=100) + dicom_parts(1, size=5000))
    refused(tmp_path, serving(body, chunk=512), "larger than this station accepts",
            max_part_bytes=2000)
    assert leftovers(tmp_path) == ["part-000001.dcm"]


def test_total_over_max_total_bytes(tmp_path: Path) -> None:
    body = multipart(dicom_parts(10, size=1000))
    refused(tmp_path, serving(body, chunk=700), "more than this station accepts for one study",
            max_total_bytes=5000)
    assert 1 <= len(leftovers(tmp_path)) < 10


def test_endless_part_headers(tmp_path: Path) -> None:
    body = f"--{BOUNDARY}\r\n".encode() + b"X-Padding: " + b"a" * 20000 + b"\r\n\r\n"
    refused(tmp_path, serving(body, chunk=1000), "headers are too long")


def test_malformed_part_header_line(tmp_path: Path) -> None:
    body = multipart([({"Content-Type": "application/dicom", "Bad Name": "x"}, dicom_bytes(1))])
    refused(tmp_path, serving(body), "malformed header")


def test_text_after_boundary(tmp_path: Path) -> None:
    body = multipart(dicom_parts(1)).replace(f"--{BOUNDARY}\r\n".encode(),
                                             f"--{BOUNDARY}junk\r\n".encode(), 1)
    refused(tmp_path, serving(body), "text after a boundary")


def test_endless_preamble(tmp_path: Path) -> None:
    refused(tmp_path, serving(b"x" * 200_000, chunk=4096), "too much text before the first part")


@pytest.mark.parametrize("content_type", [
    "multipart/related; type=\"application/dicom\"",
    "multipart/related; boundary=",
    "multipart/related; boundary=\"\"",
    "multipart/related; boundary=\"unterminated",
    "multipart/related; boundary=" + "x" * 71,
    "multipart/related; boundary=\"ends in space \"",
])
def test_missing_or_bad_boundary_parameter(tmp_path: Path, content_type: str) -> None:
    body = multipart(dicom_parts(1))
    refused(tmp_path, serving(body, content_type=content_type), "no valid boundary")


@pytest.mark.parametrize(("content_type", "shown"), [
    ("text/html; charset=utf-8", "text/html; charset=utf-8"),
    ("application/dicom", "application/dicom"),
    ("multipart/mixed; boundary=abc", "multipart/mixed; boundary=abc"),
    ("", "no content type"),
])
def test_answer_that_is_not_multipart_related(tmp_path: Path, content_type: str,
                                              shown: str) -> None:
    body = b"<html><body>Login</body></html>"
    message = refused(tmp_path, serving(body, content_type=content_type), "not DICOM")
    assert message.endswith(f"that is not DICOM ({shown}).")


def test_multipart_of_other_parts_is_refused(tmp_path: Path) -> None:
    content_type = f'multipart/related; type="application/pdf"; boundary={BOUNDARY}'
    refused(tmp_path, serving(multipart(dicom_parts(1)), content_type=content_type),
            r"parts that are not DICOM \(application/pdf\)")


@pytest.mark.parametrize("uid", ["1.2.3/..", "../1.2", "1.2.abc", "1.2.3?x=1", "", ".1.2",
                                 "1..2", "1.2.", "1" * 65, "1.2\n", "１.２"])
def test_bad_uids_are_refused_before_any_request(tmp_path: Path, uid: str) -> None:
    seen: list[httpx.Request] = []
    client = serving(multipart(dicom_parts(1)), seen=seen)
    with pytest.raises(DicomWebError, match="not a valid DICOM UID"):
        wado_study(BASE, uid, tmp_path, client=client, max_part_bytes=1, max_total_bytes=1)
    with pytest.raises(DicomWebError, match="not a valid DICOM UID"):
        wado_study(BASE, STUDY, tmp_path, series_uid=uid, client=client, max_part_bytes=1,
                   max_total_bytes=1)
    with pytest.raises(DicomWebError, match="not a valid DICOM UID"):
        qido(BASE, f"studies/{uid}/series", {}, client=client)
    assert seen == []


def test_http_errors_name_the_pacs_by_host_and_port(tmp_path: Path) -> None:
    for status, words in ((404, "does not have"), (403, "not allowed"), (500, "internal"),
                          (204, "nothing"), (400, "rejected")):
        message = refused(tmp_path, serving(b"", content_type="text/plain", status=status),
                          words)
        assert "pacs.example:8080" in message
        assert STUDY not in message


def test_existing_part_files_are_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "got").mkdir()
    (tmp_path / "got" / "part-000001.dcm").write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        fetch(tmp_path, serving(multipart(dicom_parts(1))))
    assert (tmp_path / "got" / "part-000001.dcm").read_bytes() == b"keep"


# --- QIDO-RS --------------------------------------------------------------------------------


def answering(body: bytes, content_type: str = "application/dicom+json", status: int = 200,
              seen: list[httpx.Request] | None = None) -> httpx.Client:
    return serving(body, content_type=content_type, status=status, chunk=1000, seen=seen)


STUDY_JSON = {
    "0020000D": {"vr": "UI", "Value": [STUDY]},
    "00100010": {"vr": "PN", "Value": [{"Alphabetic": "DOE^JANE", "Ideographic": "X"}]},
    "00201208": {"vr": "IS", "Value": [3]},
    "00081030": {"vr": "LO"},
    "00280030": {"vr": "DS", "Value": [0.5, 0.5]},
    "00081110": {"vr": "SQ", "Value": [{"00081150": {"vr": "UI", "Value": ["1.2"]}}]},
    "00080005": {"vr": "CS", "Value": ["ISO_IR 192"]},
}


def test_qido_returns_datasets_and_sends_the_query(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    client = answering(json.dumps([STUDY_JSON]).encode(), seen=seen)
    found = qido(BASE, "studies", {"PatientID": "P1", "StudyDate": "20240101-"}, client=client)
    assert found == [STUDY_JSON]
    assert seen[0].url.path == "/dicom-web/studies"
    assert dict(seen[0].url.params) == {"PatientID": "P1", "StudyDate": "20240101-"}
    assert seen[0].headers["accept"] == "application/dicom+json"
    found = qido(BASE, f"studies/{STUDY}/instances", {}, client=client)
    assert seen[1].url.path == f"/dicom-web/studies/{STUDY}/instances"


def test_json_value() -> None:
    assert json_value(STUDY_JSON, "0020000D") == STUDY
    assert json_value(STUDY_JSON, "0020000d") == STUDY
    assert json_value(STUDY_JSON, "00100010") == "DOE^JANE"
    assert json_value(STUDY_JSON, "00201208") == "3"
    assert json_value(STUDY_JSON, "00280030") == "0.5"
    assert json_value(STUDY_JSON, "00081030") is None
    assert json_value(STUDY_JSON, "00100020") is None
    assert json_value({"00100010": {"vr": "PN", "Value": [{}]}}, "00100010") is None


def test_qido_204_is_no_results() -> None:
    assert qido(BASE, "studies", {}, client=answering(b"", status=204)) == []


@pytest.mark.parametrize(("body", "words"), [
    (b'{"0020000D": {"vr": "UI"}}', "other than a list"),
    (b'"studies"', "other than a list"),
    (b"[1, 2, 3]", "not DICOM attributes"),
    (b"[[]]", "not DICOM attributes"),
    (b'[{"PatientID": {"vr": "LO", "Value": ["x"]}}]', "not DICOM attributes"),
    (b'[{"00100020": "x"}]', "not DICOM attributes"),
    (b'[{"00100020": {"Value": ["x"]}}]', "not DICOM attributes"),
    (b'[{"00100020": {"vr": "lo", "Value": ["x"]}}]', "not DICOM attributes"),
    (b'[{"00100020": {"vr": "LO", "Value": "x"}}]', "not DICOM attributes"),
    (b'[{"00100020": {"vr": "LO", "Value": [{"a": 1}]}}]', "not DICOM attributes"),
    (b'[{"00081110": {"vr": "SQ", "Value": [1]}}]', "not DICOM attributes"),
    (b'[{"00201208": {"vr": "IS", "Value": [NaN]}}]', "not valid JSON"),
    (b"<html>", "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "not valid JSON|not DICOM attributes"),
    (b'[{"00100010": {"vr": "PN", "Value": ["\xff"]}}]', "not valid JSON"),
])
def test_qido_hostile_json(body: bytes, words: str) -> None:
    with pytest.raises(DicomWebError, match=words):
        qido(BASE, "studies", {}, client=answering(body))


def test_qido_oversized_body() -> None:
    body = json.dumps([STUDY_JSON] * 1000).encode()
    with pytest.raises(DicomWebError, match="larger answer"):
        qido(BASE, "studies", {}, max_bytes=10_000, client=answering(body))


def test_qido_too_many_results() -> None:
    body = json.dumps([STUDY_JSON] * 11).encode()
    with pytest.raises(DicomWebError, match="more than 10 results"):
        qido(BASE, "studies", {}, max_results=10, client=answering(body))


def test_qido_wrong_content_type() -> None:
    with pytest.raises(DicomWebError, match=r"not DICOM JSON \(text/html\)"):
        qido(BASE, "studies", {}, client=answering(b"[]", content_type="text/html"))


@pytest.mark.parametrize("path", ["studies/../../admin", "patients", "studies?x=1",
                                  "studies/1.2/frames", ""])
def test_qido_paths_are_checked(path: str) -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(DicomWebError):
        qido(BASE, path, {}, client=answering(b"[]", seen=seen))
    assert seen == []


@pytest.mark.parametrize("base", ["ftp://pacs/dicom-web", "pacs:8080", "http://pacs/?q=1",
                                  "http:///nohost"])
def test_bad_base_urls(base: str) -> None:
    with pytest.raises(DicomWebError, match="address"):
        qido(base, "studies", {}, client=answering(b"[]"))


def test_unreachable_pacs_message_hides_the_query() -> None:
    (port,) = free_ports(1)  # nothing listens there once the probe socket is closed
    base = f"http://127.0.0.1:{port}/dicom-web"
    with pytest.raises(DicomWebError) as caught:
        qido(base, "studies", {"PatientID": "SECRET42"}, timeout=5)
    message = str(caught.value)
    assert message == f"The PACS at 127.0.0.1:{port} could not be reached (connection refused)."
    with pytest.raises(DicomWebError, match="connection refused"):
        stow(base, [], timeout=5)


def test_timeouts_and_broken_connections_are_named() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    for handler, words in ((slow, "stopped answering"), (broken, "broke off")):
        client = httpx.Client(transport=httpx.MockTransport(handler))
        with pytest.raises(DicomWebError, match=words) as caught:
            qido(BASE, "studies", {"PatientID": "SECRET42"}, client=client)
        assert "SECRET42" not in str(caught.value)


def test_parse_content_type() -> None:
    parse = dicomweb.parse_content_type
    assert parse('Multipart/Related; TYPE="application/dicom"; boundary="a \\"b\\" c"') == (
        "multipart/related", {"type": "application/dicom", "boundary": 'a "b" c'})
    assert parse("application/dicom") == ("application/dicom", {})
    assert parse("text/plain ; charset=utf-8 ;") == ("text/plain", {"charset": "utf-8"})
    for bad in ("", "text", "text/plain; charset", "a/b; x=1; x=2", "a/b; x=\"1\" y",
                "a/b; x=a b", "a b/c"):
        with pytest.raises(ValueError):
            parse(bad)


# --- STOW-RS --------------------------------------------------------------------------------


def test_stow_streams_a_multipart_request_and_reads_the_report(tmp_path: Path) -> None:
    files = []
    for n in range(3):
        files.append(tmp_path / f"f{n}.dcm")
        files[-1].write_bytes(dicom_bytes(n, size=3_000_000 + n))
    received: dict[str, object] = {}

    class Transport(httpx.BaseTransport):
        """Reads the request body chunk by chunk, as a server's socket would."""

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            chunks = list(request.stream)
            received["largest_chunk"] = max(len(c) for c in chunks)
            request._content = b"".join(chunks)
            return handler(request)

    def handler(request: httpx.Request) -> httpx.Response:
        received["content_type"] = request.headers["content-type"]
        received["length"] = int(request.headers["content-length"])
        received["body"] = request.content
        report = {
            "00081190": {"vr": "UR", "Value": [f"{BASE}/studies/{STUDY}"]},
            "00081199": {"vr": "SQ", "Value": [
                {"00081150": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.2"]},
                 "00081155": {"vr": "UI", "Value": ["1.2.3.1"]}},
                {"00081155": {"vr": "UI", "Value": ["1.2.3.2"]}}]},
            "00081198": {"vr": "SQ", "Value": [
                {"00081155": {"vr": "UI", "Value": ["1.2.3.3"]},
                 "00081197": {"vr": "US", "Value": [272]}},
                {"00081155": {"vr": "UI", "Value": ["1.2.3.4"]}}]},
        }
        return httpx.Response(202, json=report,
                              headers={"Content-Type": "application/dicom+json"})

    result = stow(BASE, files, client=httpx.Client(transport=Transport()))
    assert result.stored == ["1.2.3.1", "1.2.3.2"]
    assert result.failed == [("1.2.3.3", 272), ("1.2.3.4", None)]
    # Streamed from the files a bounded piece at a time, never one bytes object of 9 MB.
    assert received["largest_chunk"] <= dicomweb.STOW_READ_SIZE
    media, params = dicomweb.parse_content_type(str(received["content_type"]))
    assert media == "multipart/related" and params["type"] == "application/dicom"
    body = received["body"]
    assert isinstance(body, bytes) and len(body) == received["length"]
    got = tmp_path / "got"
    parsed = wado_study(BASE, STUDY, got, max_part_bytes=1 << 23, max_total_bytes=1 << 25,
                        client=serving(body, content_type=str(received["content_type"])))
    assert [p.read_bytes() for p in parsed] == [f.read_bytes() for f in files]


@pytest.mark.parametrize(("status", "body", "content_type", "words"), [
    (200, b"<html>", "text/html", r"not DICOM JSON \(text/html\)"),
    (200, b"[1]", "application/dicom+json", "not a DICOM store report"),
    (200, b"{", "application/dicom+json", "not valid JSON"),
    (200, b'{"00081199": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": ["x/.."]}}]}}',
     "application/dicom+json", "without a valid SOP Instance UID"),
    (200, b"{}" + b" " * (20 << 20), "application/dicom+json", "larger answer"),
    (413, b"", "text/plain", r"rejected the request to store images \(HTTP 413\)"),
    (503, b"", "text/plain", "internal failure"),
])
def test_stow_hostile_answers(tmp_path: Path, status: int, body: bytes, content_type: str,
                              words: str) -> None:
    path = tmp_path / "f.dcm"
    path.write_bytes(dicom_bytes(1))

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        return httpx.Response(status, content=body, headers={"Content-Type": content_type})

    with pytest.raises(DicomWebError, match=words):
        stow(BASE, [path], client=httpx.Client(transport=httpx.MockTransport(handler)))


# --- against a real PACS (Orthanc with its DICOMweb plugin) ---------------------------------

PATIENT = synth.Patient(id="DW0001", name="WEB^DICOM")


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    require_orthanc()
    server = OrthancServer(tmp_path_factory.mktemp("orthanc"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def ct_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return synth.make_ct_study(tmp_path_factory.mktemp("ct"), PATIENT, slices=3, rows=32,
                               cols=32)


@pytest.fixture
def stored(orthanc: OrthancServer, ct_files: list[Path]) -> Iterator[list[Path]]:
    orthanc.clear()
    orthanc.upload_all(ct_files)
    yield ct_files
    orthanc.clear()


def by_sop_uid(paths: list[Path]) -> dict[str, pydicom.Dataset]:
    datasets = [pydicom.dcmread(p) for p in paths]
    return {str(ds.SOPInstanceUID): ds for ds in datasets}


@pytest.mark.slow
def test_qido_finds_the_study_and_its_instances(orthanc: OrthancServer,
                                                stored: list[Path]) -> None:
    originals = by_sop_uid(stored)
    study_uid = str(next(iter(originals.values())).StudyInstanceUID)
    studies = qido(orthanc.dicomweb_url, "studies", {"PatientID": PATIENT.id})
    assert [json_value(s, "0020000D") for s in studies] == [study_uid]
    assert json_value(studies[0], "00100010") == PATIENT.name
    assert qido(orthanc.dicomweb_url, "studies", {"PatientID": "NOBODY"}) == []
    instances = qido(orthanc.dicomweb_url, f"studies/{study_uid}/instances", {})
    assert {json_value(i, "00080018") for i in instances} == set(originals)


@pytest.mark.slow
@pytest.mark.parametrize("by_series", [False, True])
def test_wado_fetches_the_instances_unchanged(orthanc: OrthancServer, stored: list[Path],
                                              tmp_path: Path, by_series: bool) -> None:
    originals = by_sop_uid(stored)
    first = next(iter(originals.values()))
    seen: list[Path] = []
    files = wado_study(orthanc.dicomweb_url, str(first.StudyInstanceUID), tmp_path / "got",
                       series_uid=str(first.SeriesInstanceUID) if by_series else None,
                       max_part_bytes=1 << 20, max_total_bytes=1 << 24, on_file=seen.append)
    assert seen == files and len(files) == 3
    fetched = by_sop_uid(files)
    assert set(fetched) == set(originals)
    for uid, ds in fetched.items():
        assert ds.PixelData == originals[uid].PixelData
    assert not list((tmp_path / "got").glob("*.partial"))


@pytest.mark.slow
def test_wado_limits_hold_against_a_real_server(orthanc: OrthancServer, stored: list[Path],
                                                tmp_path: Path) -> None:
    study_uid = str(pydicom.dcmread(stored[0]).StudyInstanceUID)
    with pytest.raises(DicomWebError, match="larger than this station accepts"):
        wado_study(orthanc.dicomweb_url, study_uid, tmp_path / "a", max_part_bytes=1000,
                   max_total_bytes=1 << 24)
    with pytest.raises(DicomWebError, match="does not have"):
        wado_study(orthanc.dicomweb_url, "1.2.3.4.5", tmp_path / "b", max_part_bytes=1 << 20,
                   max_total_bytes=1 << 24)


@pytest.mark.slow
def test_stow_stores_new_instances(orthanc: OrthancServer, stored: list[Path],
                                   tmp_path: Path) -> None:
    study_uid = str(pydicom.dcmread(stored[0]).StudyInstanceUID)
    new = synth.make_ct_study(tmp_path / "new", PATIENT, slices=2, rows=32, cols=32,
                              study_uid=study_uid)
    new_uids = [str(pydicom.dcmread(p).SOPInstanceUID) for p in new]
    assert all(orthanc.find_instance(uid) is None for uid in new_uids)
    result = stow(orthanc.dicomweb_url, new)
    assert sorted(result.stored) == sorted(new_uids) and result.failed == []
    assert all(orthanc.find_instance(uid) is not None for uid in new_uids)
    assert len(orthanc.sop_instance_uids()) == 5
    instances = qido(orthanc.dicomweb_url, f"studies/{study_uid}/instances", {})
    assert len(instances) == 5


@pytest.mark.slow
def test_stow_of_something_that_is_not_dicom(orthanc: OrthancServer, tmp_path: Path) -> None:
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 64)
    # Orthanc 1.10 refuses the whole request with HTTP 400 (its JSON body has no content type).
    where = orthanc.url.removeprefix("http://")
    with pytest.raises(DicomWebError, match=rf"^The PACS at {where} rejected the request to "
                                            r"store images \(HTTP 400\)\.$"):
        stow(orthanc.dicomweb_url, [junk])


@pytest.mark.slow
def test_stow_again_is_reported_as_stored(orthanc: OrthancServer, stored: list[Path]) -> None:
    uid = str(pydicom.dcmread(stored[0]).SOPInstanceUID)
    assert stow(orthanc.dicomweb_url, stored[:1]).stored == [uid]
