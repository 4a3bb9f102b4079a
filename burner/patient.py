"""Who the approved patient is, and the rules that decide whether an object is theirs.

The rules a records office can explain: the patient ID must be the same; the issuer of the ID
must be the release's (or the site's default when the release names none), and an object
without an issuer is accepted only under the site's default issuer; the birth date must be the
same; family and given names must be the same after folding case, spacing and accents, and the
ideographic and phonetic forms too where both sides have them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from burner.config import Config
    from burner.manifest import Manifest


@dataclass(frozen=True)
class Approved:
    """The identity every object on the medium is written with (DICOM value forms)."""

    name: str = field(repr=False)               # PN, e.g. "DOE^JANE" or "YAMADA^TARO=山田^太郎"
    patient_id: str = field(repr=False)
    birth_date: str = field(repr=False)         # YYYYMMDD
    issuer: str | None = field(default=None, repr=False)
    sex: str | None = field(default=None, repr=False)
    issuer_aliases: frozenset[str] = frozenset()   # other spellings of the issuer (e.g. its OID)
    issuer_is_site: bool = False    # the issuer is this site's own: objects may leave it out

    def issuers(self) -> frozenset[str]:
        """Every spelling of the expected issuer, folded; empty when none is expected."""
        if not self.issuer:
            return frozenset()
        return frozenset(_fold(v) for v in {self.issuer, *self.issuer_aliases})


@dataclass(frozen=True)
class Found:
    """The identity an object carries, as parsed from it."""

    patient_id: str = field(default="", repr=False)
    name: str = field(default="", repr=False)
    birth_date: str = field(default="", repr=False)
    sex: str = field(default="", repr=False)
    issuer: str = field(default="", repr=False)
    issuer_ids: tuple[str, ...] = field(default=(), repr=False)   # qualifiers' entity ids
    study_uid: str = ""


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", text).strip().upper()


def name_groups(name: object) -> list[list[str]]:
    """A person name's alphabetic, ideographic and phonetic groups, each as folded parts."""
    out = []
    for group in (str(name or "").split("=") + ["", ""])[:3]:
        parts = [_fold(p) for p in group.split("^")]
        while parts and not parts[-1]:
            parts.pop()
        out.append(parts)
    return out


def name_parts(name: object) -> list[str]:
    """The alphabetic name's components after normalising case, spacing, accents, '^'."""
    return name_groups(name)[0]


def _same_parts(pa: list[str], pb: list[str]) -> bool:
    for i in range(max(len(pa), len(pb))):
        x = pa[i] if i < len(pa) else ""
        y = pb[i] if i < len(pb) else ""
        if i < 2 and x != y:
            return False
        if i >= 2 and x and y and x != y:
            return False
    return True


def same_name(a: object, b: object) -> bool:
    """Family and given names must match (further components only where both have them);
    the ideographic and phonetic groups must match where both names have them."""
    ga, gb = name_groups(a), name_groups(b)
    if not ga[0] or not gb[0] or not _same_parts(ga[0], gb[0]):
        return False
    return all(not x or not y or _same_parts(x, y) for x, y in zip(ga[1:], gb[1:], strict=True))


def mismatches(found: Found, approved: Approved, studies: set[str] | None = None) -> list[str]:
    """Why an object carrying `found` is not the approved patient, in plain words."""
    out = []
    if not found.patient_id.strip() or found.patient_id.strip() != approved.patient_id.strip():
        out.append("a different patient ID")
    expected = approved.issuers()
    named = [v for v in (found.issuer, *found.issuer_ids) if v.strip()]
    if named and not expected:
        out.append("an issuer of the patient ID, but the release and the site name none")
    elif any(_fold(v) not in expected for v in named):
        out.append("a different issuer of the patient ID")
    elif not named and expected and not approved.issuer_is_site:
        out.append("no issuer of the patient ID, but the release names another issuer "
                   "than this site's own")
    if found.birth_date.strip() != approved.birth_date:
        out.append("a different or missing birth date")
    if not same_name(found.name, approved.name):
        out.append("a different patient name")
    if studies and found.study_uid not in studies:
        out.append("an exam (study) that is not in this release")
    return out


def approved_from(manifest: Manifest, config: Config) -> Approved:
    """The approved identity of a job: the manifest's patient, with the site's default issuer
    when the manifest names none."""
    site = config.default_issuer
    issuer = manifest.patient_issuer or site or None
    aliases = config.issuer_aliases.get(issuer or "", ())
    return Approved(name=manifest.patient_name.strip(), patient_id=manifest.patient_id.strip(),
                    birth_date=manifest.patient_birth_date.strftime("%Y%m%d"),
                    issuer=issuer, sex=manifest.patient_sex or None,
                    issuer_aliases=frozenset(aliases),
                    issuer_is_site=bool(site) and issuer is not None
                    and _fold(issuer) == _fold(site))
