"""Report PDFs made safe for a disc (DESIGN.md section 4a).

A report PDF is never copied: qpdf (through pikepdf) parses it once and writes a fresh file
from that parse, without JavaScript, automatic or launching actions, embedded files, forms'
XFA, multimedia, or anything after the last %%EOF. Links stay only as jumps inside the
document and http(s)/mailto links. The output is opened again and walked object by object;
anything left of the above refuses it. Parsing runs in a child process with a memory and time
limit, so a hostile file can neither exhaust nor crash the station.
"""

from __future__ import annotations

import io
import logging
import os
import re
import resource
import subprocess
import sys
from collections.abc import Iterator

import pikepdf

MAX_BYTES = 100 * 1024 * 1024     # largest report accepted (`[reports] max_mb`)
TIMEOUT_SECONDS = 120
_MEMORY_BASE = 512 * 1024 * 1024  # address space of the child beyond 10x the PDF's size
REFUSED_EXIT = 3
_PREFIX = "pdfsafe-refused:"

# Keys whose values are active content or attachments, wherever they are: additional
# (automatic) actions, the open action, JavaScript and its name tree, embedded files (name
# tree, file specifications' streams, PDF 2.0 associated files, portfolios), XFA forms,
# rich media and 3D content, alternate presentations (slide shows) and renditions.
DROP_KEYS = frozenset({
    "/AA", "/OpenAction", "/JS", "/JavaScript", "/EmbeddedFiles", "/EF", "/AF", "/Collection",
    "/XFA", "/NeedsRendering", "/RichMediaContent", "/RichMediaSettings", "/3DD",
    "/AlternatePresentations", "/Renditions",
})
# Every action type of ISO 32000-2 table 201; of these only jumps inside the document, the
# four page-turning named actions and http(s)/mailto links are kept.
ACTIONS = frozenset({
    "/GoTo", "/GoToR", "/GoToE", "/GoToDp", "/Launch", "/Thread", "/URI", "/Sound", "/Movie",
    "/Hide", "/Named", "/SubmitForm", "/ResetForm", "/ImportData", "/SetOCGState", "/Rendition",
    "/Trans", "/GoTo3DView", "/JavaScript", "/RichMediaExecute",
})
PAGE_NAMES = frozenset({"/NextPage", "/PrevPage", "/FirstPage", "/LastPage"})
LINK_SCHEMES = ("http:", "https:", "mailto:")
# Annotations that play, launch or carry files: removed from their pages.
ANNOTATIONS = frozenset({"/FileAttachment", "/Sound", "/Movie", "/Screen", "/RichMedia", "/3D"})
_REVISION = re.compile(rb"(?m)^\s*(\d+\s+\d+\s+obj\b|xref\b|trailer\b|startxref\b)")

log = logging.getLogger(__name__)


class NotSafe(Exception):
    """A PDF that cannot be made safe; `code` says why (see burner.content.reports)."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


# --- before parsing --------------------------------------------------------------------------


def cut_at_last_eof(data: bytes) -> bytes:
    """`data` up to its last %%EOF line: what follows is never parsed nor kept.

    NotSafe("incomplete") when there is no %%EOF, or when what follows starts another revision
    (objects, xref, trailer) that is cut off: the file was not copied whole.
    """
    end = data.rfind(b"%%EOF")
    if end < 0:
        raise NotSafe("incomplete")
    end += len(b"%%EOF")
    for eol in (b"\r\n", b"\n", b"\r"):
        if data.startswith(eol, end):
            end += len(eol)
            break
    if _REVISION.search(data, end):
        raise NotSafe("incomplete")
    return data[:end]


# --- what is active content ------------------------------------------------------------------


def _name(value: object) -> str | None:
    return str(value) if isinstance(value, pikepdf.Name) else None


def _uri_ok(action: pikepdf.Dictionary) -> bool:
    uri = action.get("/URI")
    if uri is None:
        return False
    try:
        text = bytes(uri).decode("latin-1")
    except (TypeError, ValueError):
        return False
    text = "".join(c for c in text if c.isprintable() and not c.isspace()).lower()
    return text.startswith(LINK_SCHEMES)


def action_allowed(action: pikepdf.Object | None) -> bool:
    """True for an action dictionary that only moves inside the document or is a web link."""
    if not isinstance(action, pikepdf.Dictionary):
        return False
    kind = _name(action.get("/S"))
    if kind == "/GoTo":
        return True
    if kind == "/Named":
        return _name(action.get("/N")) in PAGE_NAMES
    if kind == "/URI":
        return _uri_ok(action)
    return False


def _is_action(obj: pikepdf.Object | None) -> bool:
    """True for an action dictionary (its /S names an action type)."""
    return isinstance(obj, pikepdf.Dictionary | pikepdf.Stream) and _name(obj.get("/S")) in ACTIONS


def _is_bad_annotation(obj: pikepdf.Object) -> bool:
    return (_name(obj.get("/Subtype")) in ANNOTATIONS
            and ("/Rect" in obj or _name(obj.get("/Type")) == "/Annot"))


def _dictionaries(pdf: pikepdf.Pdf) -> Iterator[pikepdf.Object]:
    """Every dictionary and stream of `pdf`, indirect or nested, each once (no recursion)."""
    stack = [*pdf.objects, pdf.trailer]
    while stack:
        obj = stack.pop()
        if isinstance(obj, pikepdf.Array):
            children = list(obj)
        elif isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
            yield obj
            children = list(obj.values())
        else:
            continue
        stack += [c for c in children if isinstance(c, pikepdf.Object) and not c.is_indirect]


def findings(pdf: pikepdf.Pdf) -> list[str]:
    """What active content or attachment is left anywhere in `pdf` (empty when safe)."""
    found: set[str] = set()
    if pdf.is_encrypted:
        found.add("encryption")
    for obj in _dictionaries(pdf):
        found |= DROP_KEYS & set(obj.keys())
        if _is_action(obj) and not action_allowed(obj):
            found.add(f"action {obj.get('/S')}")
        if _is_action(obj) and "/Next" in obj:
            found.add("chained action")
        if _is_action(obj.get("/A")) and not action_allowed(obj.get("/A")):
            found.add("action in /A")
        if _is_bad_annotation(obj):
            found.add(f"annotation {obj.get('/Subtype')}")
        if _name(obj.get("/Type")) == "/EmbeddedFile":
            found.add("embedded file")
    return sorted(found)


# --- the rewrite (in the child process) ------------------------------------------------------


def _clean(pdf: pikepdf.Pdf) -> None:
    objects = list(_dictionaries(pdf))
    for obj in objects:
        for key in DROP_KEYS & set(obj.keys()):
            del obj[key]
        if _is_action(obj.get("/A")) and not action_allowed(obj["/A"]):
            del obj["/A"]
        if _is_action(obj) and "/Next" in obj:
            del obj["/Next"]                # a chain could lead anywhere; links need none
    for obj in objects:                     # also where something else still points at them
        if (_is_action(obj) and not action_allowed(obj)) or _is_bad_annotation(obj):
            for key in list(obj.keys()):
                del obj[key]
    for page in pdf.pages:
        annots = page.obj.get("/Annots")
        if isinstance(annots, pikepdf.Array):
            kept = [a for a in annots if isinstance(a, pikepdf.Dictionary) and len(a.keys())]
            if kept:
                page.obj["/Annots"] = pikepdf.Array(kept)
            else:
                del page.obj["/Annots"]
        elif annots is not None:
            del page.obj["/Annots"]


def rewrite(data: bytes) -> bytes:
    """`data` (a PDF cut at its last %%EOF) rewritten without active content; NotSafe if not
    possible. Runs pikepdf in this process: call make_safe() from the station."""
    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            if len(pdf.pages) == 0:
                raise NotSafe("damaged", "no pages")
            _clean(pdf)
            out = io.BytesIO()
            # Fresh file, no incremental update; streams stay as they are (never inflated, so
            # a compressed bomb costs nothing); no object streams, readable by any viewer.
            pdf.save(out, stream_decode_level=pikepdf.StreamDecodeLevel.none,
                     object_stream_mode=pikepdf.ObjectStreamMode.disable,
                     encryption=False, deterministic_id=True)
    except pikepdf.PasswordError:
        raise NotSafe("password") from None
    except (pikepdf.PdfError, pikepdf.DataDecodingError, pikepdf.DeletedObjectError,
            pikepdf.ForeignObjectError, ValueError, KeyError, TypeError) as exc:
        raise NotSafe("damaged", str(exc)[:200]) from None
    written = out.getvalue()
    try:
        with pikepdf.open(io.BytesIO(written)) as check:
            left = findings(check)
            pages = len(check.pages)
    except pikepdf.PdfError as exc:
        raise NotSafe("damaged", f"rewritten file unreadable: {str(exc)[:200]}") from None
    if left:
        raise NotSafe("active", ", ".join(left))
    if pages == 0 or not written.startswith(b"%PDF-") or not written.rstrip().endswith(b"%%EOF"):
        raise NotSafe("damaged", "rewritten file incomplete")
    return written


def _child() -> int:
    """`python -m burner.content.pdfsafe MEMORY`: PDF on stdin, safe PDF on stdout."""
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    logging.disable(logging.CRITICAL)
    data = sys.stdin.buffer.read()
    try:
        written = rewrite(data)
    except NotSafe as exc:
        print(f"{_PREFIX} {exc.code} {exc.detail}", file=sys.stderr)
        return REFUSED_EXIT
    except MemoryError:
        print(f"{_PREFIX} complex out of memory", file=sys.stderr)
        return REFUSED_EXIT
    sys.stdout.buffer.write(written)
    return 0


# --- from the station ------------------------------------------------------------------------


def make_safe(data: bytes, *, timeout: float = TIMEOUT_SECONDS) -> bytes:
    """The PDF `data` rewritten without active content, in a bounded child process.

    NotSafe with code "incomplete", "password", "damaged", "active" or "complex" (too big
    to rewrite within the memory and time limits) when it cannot be made safe.
    """
    if not data.startswith(b"%PDF-"):
        raise NotSafe("damaged", "no PDF header")
    data = cut_at_last_eof(data)
    memory = _MEMORY_BASE + 10 * len(data)
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    try:
        proc = subprocess.run([sys.executable, "-m", "burner.content.pdfsafe", str(memory)],
                              input=data, capture_output=True, timeout=timeout, env=env,
                              check=False)
    except subprocess.TimeoutExpired:
        raise NotSafe("complex", f"over {timeout:.0f} s") from None
    errors = proc.stderr.decode("utf-8", "replace")
    if proc.returncode == 0:
        return proc.stdout
    lines = [ln for ln in errors.splitlines() if ln.startswith(_PREFIX)]
    if proc.returncode == REFUSED_EXIT and lines:
        log.debug("pdfsafe refused: %s", errors[-2000:])
        code, _, detail = lines[-1][len(_PREFIX):].strip().partition(" ")
        raise NotSafe(code, detail)
    log.warning("pdfsafe child ended with %s: %s", proc.returncode, errors[-2000:])
    if "MemoryError" in errors or "bad_alloc" in errors or proc.returncode < 0:
        raise NotSafe("complex", f"child ended with {proc.returncode}")
    raise NotSafe("damaged", f"child ended with {proc.returncode}")


if __name__ == "__main__":
    sys.exit(_child())
