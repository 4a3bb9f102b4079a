"""A request's images straight from the PACS (issue 13): the front desk searches a configured
PACS for the request's patient (by Patient ID, narrowed by accession numbers when given), sees
each exam with whether the PACS files it under the request's patient, and approves the exams
to fetch; the job is made with job.json's `fetch`, so the station retrieves them and checks
every image came before anything is written. Four eyes and the request's states work as for an
exported folder (desk.intake)."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from burner.config import Config
from burner.desk.intake import (
    Approval,
    Approvals,
    FirstApproval,
    approvable,
    request_block,
)
from burner.desk.register import Register, Request, RequestRefused, RequestState
from burner.desk.settings import DeskSettings
from burner.errors import BurnerError, ConfigError
from burner.network.scu import FoundStudy
from burner.network.settings import dicom_settings

MAX_ACCESSIONS = 20
PACS_FOLDER = "pacs:"          # how a PACS approval is kept beside folder approvals


@dataclass(frozen=True)
class PacsStudy:
    """One exam the PACS lists, and whether it files it under the request's patient."""

    found: FoundStudy
    matches: bool


def pacs_names(config: Config) -> list[str]:
    try:
        return sorted(dicom_settings(config).pacs)
    except ConfigError:
        return []


def accessions_of(text: str) -> tuple[str, ...]:
    """Accession numbers typed with commas or spaces between them; RequestRefused for what
    cannot be one."""
    values = tuple(dict.fromkeys(v for v in text.replace(",", " ").split() if v))
    if len(values) > MAX_ACCESSIONS:
        raise RequestRefused(f"At most {MAX_ACCESSIONS} accession numbers at a time.")
    for value in values:
        if len(value) > 16 or any(c in value for c in "\\*?") or not value.isprintable():
            raise RequestRefused("An accession number has at most 16 letters or digits, "
                                 "without \\, * or ?.")
    return values


def find(config: Config, request: Request, pacs: str, accessions: tuple[str, ...]
         ) -> list[PacsStudy]:
    """The exams `pacs` holds for the request's patient (those of `accessions` only, when
    given); RequestRefused in words when the PACS cannot be asked."""
    from burner.network.fetch import find as pacs_find

    try:
        settings = dicom_settings(config)
        remote = settings.pacs_named(pacs)
        found = pacs_find(settings, remote, patient_id=request.patient.id,
                          accessions=accessions)
    except BurnerError as exc:
        raise RequestRefused(f"The PACS could not be searched: {exc}") from None
    issuer = request.patient.issuer
    return [PacsStudy(s, s.patient_id == request.patient.id
                      and (not issuer or not s.issuer or s.issuer == issuer)) for s in found]


def fingerprint(pacs: str, study_uids: tuple[str, ...]) -> str:
    return hashlib.sha256("\n".join([pacs, *sorted(study_uids)]).encode()).hexdigest()


def approve(config: Config, request_id: str, pacs: str, study_uids: tuple[str, ...],
            user: str, settings: DeskSettings, destination: str = "") -> Approval:
    """Approve fetching `study_uids` from `pacs` for the request, as `user` (four eyes when
    the site asks). The PACS is searched again: only exams it still files under the
    request's patient are approved."""
    if not study_uids:
        raise RequestRefused("Choose at least one exam to fetch.")
    with Register(config.db_path) as register:
        request, media = approvable(config, register, request_id, destination)
        seen = {s.found.uid: s for s in find(config, request, pacs, ())}
        wrong = [uid for uid in study_uids if uid not in seen or not seen[uid].matches]
        if wrong:
            raise RequestRefused(f"Nothing was approved: {len(wrong)} of the chosen exams are "
                                 "not (or no longer) filed at the PACS under this request's "
                                 "patient. Search again.")
        key = PACS_FOLDER + pacs
        print_ = fingerprint(pacs, study_uids)
        with Approvals(config.db_path) as approvals:
            first = approvals.first(request_id) if settings.four_eyes else None
            if settings.four_eyes and (first is None or first.folder != key
                                       or first.fingerprint != print_):
                approvals.keep(request_id, FirstApproval(user, key, time.time(), print_))
                register.set_state(request_id, RequestState.AWAITING_SECOND, user,
                                   f"first approval of {len(study_uids)} exam(s) from the "
                                   f"PACS {pacs}")
                return Approval(request_id, None, (user,), "Your approval is recorded. A "
                                "second person must approve before the job is made.")
            if first is not None and first.by == user:
                raise RequestRefused(
                    f"A second person must approve this release: you ({user}) approved it "
                    "already. Ask a colleague to check the exams and approve them.")
            approvers = (first.by, user) if first is not None else (user,)
            job_id = _make_job(config, register, request, pacs,
                               [seen[uid].found for uid in study_uids], media, approvers,
                               user, destination)
            approvals.forget(request_id)
    return Approval(request_id, job_id, approvers,
                    f"Job {job_id} was made for request {request_id}: the station fetches "
                    f"the {len(study_uids)} exam(s) from the PACS and checks every image "
                    "came before writing.")


def _make_job(config: Config, register: Register, request: Request, pacs: str,
              studies: list[FoundStudy], media: str, approvers: tuple[str, ...], user: str,
              destination: str) -> str:
    from burner.operations.intake import submit

    p = request.patient
    note = f"four eyes: {' and '.join(approvers)}" if len(approvers) > 1 else None
    made = submit(config, [], patient_id=p.id, patient_name=p.name,
                  birth_date=p.birth_date.isoformat(), issuer=p.issuer or None,
                  approved_by=user, media=media, request=request_block(request), note=note,
                  studies=[(s.uid, s.accession) for s in studies],
                  media_options={"destination": destination} if media == "dicom" else None,
                  extra={"fetch": {"pacs": pacs,
                                   "study_instance_uids": [s.uid for s in studies]}})
    register.link_job(request.id, made.job_id, user)
    register.event(request.id, user, "approved",
                   f"job {made.job_id}: {len(studies)} exam(s) from the PACS {pacs}; approved "
                   f"by {' and '.join(approvers)}")
    register.set_state(request.id, RequestState.IN_PROGRESS, user, f"job {made.job_id}")
    return made.job_id
