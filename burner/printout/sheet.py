"""Sheet: everything printed for one job, taken from the stage results once, so the cover
sheet, the labels and `burner build` all print the same facts."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from burner.dicom.headers import Instance
from burner.manifest import resolve_inside

if TYPE_CHECKING:
    from burner.context import JobContext

OPTICAL = ("cd", "dvd", "dvd-dl", "bd", "iso")
CURRENCY_SIGNS = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$", "AUD": "A$"}
MEDIUM_WORDS = {"cd": "CD", "dvd": "DVD", "dvd-dl": "DVD", "bd": "Blu-ray disc",
                "usb": "USB stick", "iso": "disc"}


@dataclass(frozen=True)
class Exam:
    """One exam (study) of the release and the discs it is on."""

    date: str
    description: str
    modality: str
    accession: str
    images: int
    discs: tuple[int, ...]


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
    exams: list[Exam]
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

    @property
    def content_kind(self) -> str:
        """The IHE PDI label wording."""
        return "DICOM PLUS WEB" if self.web else "DICOM ONLY"

    @property
    def optical(self) -> bool:
        return self.media in OPTICAL

    @property
    def medium_word(self) -> str:
        return MEDIUM_WORDS.get(self.media, "disc")

    def volume_word(self, index: int) -> str:
        """ "Disc 1 of 2", "USB stick 1 of 1"."""
        word = "USB stick" if self.media == "usb" else "Disc"
        return f"{word} {index} of {self.volume_count}"

    def exams_on(self, index: int) -> list[Exam]:
        return [e for e in self.exams if index in e.discs]


def display_name(pn: str) -> str:
    """DICOM PN "DOE^JANE^Q^DR^JR" -> "Dr Jane Q Doe Jr"; all-capital parts get capitals
    only at word starts ("MÜLLER" -> "Müller"), mixed-case parts stay as written."""
    family, given, middle, prefix, suffix = ([*pn.split("=")[0].split("^"), "", "", "", ""])[:5]
    words = [prefix, given, middle, family, suffix]
    return " ".join(w.title() if w.isupper() else w for w in words if w.strip()) or pn


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


def _date(value: object) -> str:
    text = str(value or "")
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text) == 8 and text.isdigit() else text


def _exams(instances: list[Instance], volumes: list[list[int]], refused: set[str]) -> list[Exam]:
    """One Exam per study on the volumes (objects left off excluded), in the order planned.
    Images are objects with pixel data; a report's modality (DOC, SR) shows only when the
    exam has nothing else."""
    rows: dict[str, dict] = {}
    for number, members in enumerate(volumes, 1):
        for inst in (instances[i] for i in members):
            if inst.rel in refused:
                continue
            row = rows.setdefault(inst.study_uid, {"first": inst, "images": 0, "discs": [],
                                                   "imaging": set(), "other": set()})
            modality = str(inst.get("Modality") or "OT")
            row["images"] += int(inst.has_pixels)
            row["imaging" if inst.has_pixels else "other"].add(modality)
            if number not in row["discs"]:
                row["discs"].append(number)
    return [Exam(_date(r["first"].get("StudyDate")), str(r["first"].get("StudyDescription") or ""),
                 "/".join(sorted(r["imaging"] or r["other"])),
                 str(r["first"].get("AccessionNumber") or ""), r["images"], tuple(r["discs"]))
            for r in rows.values()]


def _report_text(job_dir: Path, paths: list[str]) -> str | None:
    """The text of the job's plain-text reports, one after the other."""
    texts = []
    for rel in paths:
        if rel.lower().endswith(".txt"):
            path = resolve_inside(job_dir, rel)
            texts.append(path.read_text(encoding="utf-8", errors="replace").strip())
    return "\n\n".join(t for t in texts if t) or None


def _has_web(trees: list[Path], wanted: bool) -> bool:
    """IHE PDI web content on the medium: an IHE_PDI/ folder (the job's wish when the staged
    trees are gone)."""
    existing = [t for t in trees if t.is_dir()]
    if not existing:
        return wanted
    return any((t / "IHE_PDI").is_dir() for t in existing)


def _iso(value: object) -> str | None:
    return value.isoformat() if isinstance(value, datetime.date) else None


def sheet_for(ctx: JobContext) -> Sheet:
    """The Sheet of the job in `ctx`, from its validate, plan and stage results."""
    manifest = ctx.record.manifest
    plan = ctx.record.plan
    staged = ctx.record.staged
    gathered = ctx.record.gathered
    institution = ctx.config.institution
    volumes = staged.volumes
    return Sheet(
        job_id=manifest.job_id,
        patient_name=display_name(manifest.patient_name),
        birth_date=manifest.patient_birth_date.isoformat(),
        patient_id=manifest.patient_id,
        institution=institution.get("name", ""),
        address=institution.get("address", ""),
        phone=institution.get("phone", ""),
        exams=_exams(gathered.instances, plan.volumes, {rel for rel, _ in staged.refused}),
        volume_count=len(volumes),
        media=plan.media,
        web=_has_web([v.tree for v in volumes], bool(manifest.media_web)),
        created=datetime.date.today().isoformat(),
        reference=manifest.request_reference,
        received=_iso(manifest.request_received),
        due=_iso(manifest.request_due),
        fee=fee_text(manifest.fee_amount, manifest.fee_currency, manifest.fee_basis),
        report_text=_report_text(ctx.job_dir, [r.path for r in manifest.reports]),
        paper=ctx.config.printing.get("paper", "A4"),
        copies=manifest.media_copies,
        label_text=label_line(manifest.media_label_text or ""),
    )
