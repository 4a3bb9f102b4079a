"""Sheet: everything printed for one job, taken from the release summary (summary.py) that
the disc's own pages are made from, so the cover sheet, the labels, `burner build` and the
disc all say the same."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from burner.manifest import resolve_inside
from burner.media.kinds import KINDS, kind, words

if TYPE_CHECKING:
    from burner.context import JobContext
    from burner.summary import ExamSummary

OPTICAL = ("cd", "dvd", "dvd-dl", "bd", "iso")
CURRENCY_SIGNS = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$", "AUD": "A$"}


@dataclass
class Sheet:
    """What is printed for a job (patient data: never logged)."""

    job_id: str
    patient_name: str
    birth_date: str
    patient_id: str
    institution: str
    address: str
    phone: str
    exams: list[ExamSummary]
    volume_count: int
    media: str
    web: bool
    created: str
    reference: str | None = None
    received: str | None = None
    due: str | None = None
    fee: str | None = None
    report_text: str | None = None
    paper: str = "A4"
    copies: int = 1
    label_text: str = ""          # job.json media.label_text: printed on labels and inserts
    # An encrypted electronic copy's passphrase per volume: printed on the cover sheet only
    passwords: list[str] = field(default_factory=list, repr=False)

    @property
    def electronic(self) -> bool:
        return self.media in ("zip", "folder")

    @property
    def content_kind(self) -> str:
        """The IHE PDI label wording."""
        return "DICOM PLUS WEB" if self.web else "DICOM ONLY"

    @property
    def optical(self) -> bool:
        return self.media in OPTICAL

    @property
    def medium_word(self) -> str:
        return words(self.media)

    def volume_word(self, index: int) -> str:
        """ "Disc 1 of 2", "USB stick 1 of 1"."""
        word = kind(self.media).volume_word if self.media in KINDS else "disc"
        word = word[:1].upper() + word[1:]
        return f"{word} {index} of {self.volume_count}"

    def exams_on(self, index: int) -> list[ExamSummary]:
        return [e for e in self.exams if index in e.volumes]


def fee_text(amount: Decimal | None, currency: str | None, basis: str | None) -> str | None:
    """"$6.50 flat", "12.00 CHF per page", or None without a fee."""
    if amount is None:
        return None
    sign = CURRENCY_SIGNS.get((currency or "").upper())
    money = f"{sign}{amount:.2f}" if sign else f"{amount:.2f} {currency or ''}".strip()
    return f"{money} {basis}".strip() if basis else money


def label_line(text: str) -> str:
    """media.label_text as printed: one run of words (line breaks, tabs and other control
    characters become spaces)."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _report_text(job_dir: Path, paths: list[str]) -> str | None:
    """The text of the job's plain-text reports, one after the other."""
    texts = []
    for rel in paths:
        if rel.lower().endswith(".txt"):
            path = resolve_inside(job_dir, rel)
            texts.append(path.read_text(encoding="utf-8", errors="replace").strip())
    return "\n\n".join(t for t in texts if t) or None


def _iso(value: object) -> str | None:
    return value.isoformat() if isinstance(value, datetime.date) else None


def sheet_for(ctx: JobContext) -> Sheet:
    """The Sheet of the job in `ctx`: the release summary made at stage, and the request's
    facts from the manifest."""
    manifest = ctx.record.manifest
    summary = ctx.record.staged.summary
    institution = ctx.config.institution
    return Sheet(
        job_id=manifest.job_id,
        patient_name=summary.patient,
        birth_date=summary.birth_date,
        patient_id=summary.patient_id,
        institution=institution.get("name", ""),
        address=institution.get("address", ""),
        phone=institution.get("phone", ""),
        exams=list(summary.exams),
        volume_count=summary.volume_count,
        media=summary.media,
        web=summary.web,
        created=datetime.date.today().isoformat(),
        reference=manifest.request_reference,
        received=_iso(manifest.request_received),
        due=_iso(manifest.request_due),
        fee=fee_text(manifest.fee_amount, manifest.fee_currency, manifest.fee_basis),
        report_text=_report_text(ctx.job_dir, [r.path for r in manifest.reports]),
        paper=ctx.config.printing.get("paper", "A4"),
        copies=manifest.media_copies,
        label_text=label_line(manifest.media_label_text or ""),
        passwords=_passwords(ctx) if summary.media == "zip" else [],
    )


def _passwords(ctx: JobContext) -> list[str]:
    from burner.media.passphrase import passphrase

    return [passphrase(ctx.config.data_dir, ctx.job_id, v.fileset_uid)
            for v in ctx.record.staged.volumes]
