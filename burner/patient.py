"""Who the approved patient is, and the rules that decide whether an object is theirs.

The rules a records office can explain: the patient ID must be the same; the issuer of the ID
must be the release's (or the site's default when the release names none), and an object
without an issuer is accepted only under the site's default issuer; the birth date must be the
same; family and given names must be the same after folding case, spacing and accents, and the
ideographic and phonetic forms too where both sides have them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from burner.dicom.names import fold, same_name

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
        return frozenset(fold(v) for v in {self.issuer, *self.issuer_aliases})


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


def mismatches(found: Found, approved: Approved, studies: set[str] | None = None) -> list[str]:
    """Why an object carrying `found` is not the approved patient, in plain words."""
    out = []
    if not found.patient_id.strip() or found.patient_id.strip() != approved.patient_id.strip():
        out.append("a different patient ID")
    expected = approved.issuers()
    named = [v for v in (found.issuer, *found.issuer_ids) if v.strip()]
    if named and not expected:
        out.append("an issuer of the patient ID, but the release and the site name none")
    elif any(fold(v) not in expected for v in named):
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
                    and fold(issuer) == fold(site))
