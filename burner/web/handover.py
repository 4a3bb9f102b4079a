"""From request to job, and the hand-over (issue 12).

/requests/{id}/images (Right.APPROVE): pick a folder exported from PACS in the intake folder,
preview what it holds with the identity check already run, and approve it (four eyes when the
site asks for it); the job is made through burner.desk.intake, which uses the operations layer.

/handover (Right.HANDOVER): a focused field takes the job id from a keyboard-wedge scanner
reading the cover sheet's Code 128 (or typed), then Enter; the answer (to a POST: the job id
travels in the body, never in a URL query) is the hand-over form for that job: who it is for,
its discs and sticks, the photo-ID check, who receives it, the tracking number of a mail-out,
an optional signature drawn on the screen (handover.js). The receipt is a PDF to download or
print. URLs carry request and job ids only; the action log names the job and request, never
the patient or the receiver.
"""
# No "from __future__ import annotations": FastAPI reads the routes' annotations at run time.

import datetime
import logging
import time
from typing import Annotated

from fastapi import Depends, FastAPI, Form, HTTPException
from fastapi.responses import Response

from burner.desk import handover as desk
from burner.desk import intake, pacs
from burner.desk.register import NoSuchRequest, Register, RequestRefused
from burner.desk.settings import desk_settings
from burner.errors import BurnerError
from burner.spool import job_id_problem
from burner.users import Right, Session
from burner.web.kit import WebKit
from burner.words import dicom_date, person_name

log = logging.getLogger("burner.web")

Field = Annotated[str, Form(max_length=1000)]
SignatureField = Annotated[str, Form(max_length=len(desk.DATA_URL) + 4 * desk.MAX_SIGNATURE // 3
                                     + 8)]
StudyFields = Annotated[list[str] | None, Form(max_length=64)]
SCAN_LABEL = "Scan the cover sheet or type the job number"


def when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at)) if at else ""


def find_job(config, typed: str) -> str | None:  # noqa: ANN001 - Config
    """The job id the station knows for what was scanned or typed: exactly it, or the one job
    whose id differs only in capitals; None when there is none."""
    from burner.operations.common import open_spool

    spool = open_spool(config)
    if spool.locate(typed):
        return typed
    alike = set()
    for folder in ("done", "active", "approved", "held", "rejected", "pending"):
        try:
            alike |= {p.name for p in spool.folder(folder).iterdir()
                      if p.name.lower() == typed.lower()}
        except OSError:
            continue
    return alike.pop() if len(alike) == 1 else None


def install(app: FastAPI, kit: WebKit) -> None:
    config = kit.config
    Approver = Annotated[Session, Depends(kit.allowed(Right.APPROVE))]
    Desk = Annotated[Session, Depends(kit.allowed(Right.HANDOVER))]

    # --- attach images, preview, approve --------------------------------------------------

    def request_or_404(request_id: str):  # noqa: ANN202
        if job_id_problem(request_id):
            raise HTTPException(404, "There is no such request.")
        with Register(config.db_path) as register:
            try:
                return register.get(request_id)
            except NoSuchRequest:
                raise HTTPException(404, "There is no such request.") from None

    def images_page(current: Session, request_id: str, status_code: int = 200, *,
                    chosen: str = "", seen: intake.Preview | None = None, message: str = "",
                    done: str = "", pacs_found: list | None = None, pacs_chosen: str = "",
                    typed: str = "") -> Response:
        request = request_or_404(request_id)
        settings = desk_settings(config)
        media_problem = ""
        try:
            intake.media_for(request)
        except RequestRefused as exc:
            media_problem = str(exc)
        return kit.render(
            "request_images.html", status_code, session=current, user=current.user,
            request=request, person_name=person_name, settings=settings,
            folders=intake.intake_folders(settings), chosen=chosen, seen=seen,
            first=intake.first_approval(config, request_id), when=when, message=message,
            done=done, approvable=request.state in intake.APPROVABLE,
            media_problem=media_problem,
            scope_notes=intake.scope_notes(request, seen.studies) if seen else [],
            pacs=pacs.pacs_names(config), pacs_found=pacs_found, pacs_chosen=pacs_chosen,
            typed=typed, destinations=intake.destinations(config))

    @app.get("/requests/{request_id}/images")
    def images(request_id: str, current: Approver) -> Response:
        return images_page(current, request_id)

    @app.post("/requests/{request_id}/images/preview")
    def images_preview(request_id: str, current: Approver, csrf: Field = "",
                       folder: Field = "") -> Response:
        kit.csrf_ok(current, csrf)
        request = request_or_404(request_id)
        with kit.users() as store:
            try:
                path = intake.pick(desk_settings(config), folder)
            except RequestRefused as exc:
                store.record(current.user.name, "preview images", "", "refused",
                             f"request {request_id}: no such intake folder")
                return images_page(current, request_id, 404, message=str(exc))
            try:
                seen = intake.preview(config, path, request)
            except BurnerError as exc:      # the request's patient cannot make a job
                store.record(current.user.name, "preview images", "", "refused",
                             f"request {request_id}: refused")
                return images_page(current, request_id, 409, message=str(exc))
            store.record(current.user.name, "preview images", "", "ok" if seen.ok else "problems",
                         f"request {request_id}: {seen.files} file(s), {seen.dicom} DICOM, "
                         f"{len(seen.strays)} of another patient, {len(seen.damaged)} damaged")
        return images_page(current, request_id, chosen=folder, seen=seen)

    @app.post("/requests/{request_id}/pacs/find")
    def pacs_find(request_id: str, current: Approver, csrf: Field = "", pacs_name: Field = "",
                  accessions: Field = "") -> Response:
        kit.csrf_ok(current, csrf)
        request = request_or_404(request_id)
        with kit.users() as store:
            try:
                if pacs_name not in pacs.pacs_names(config):
                    raise RequestRefused("Choose one of the PACS listed.")
                found = pacs.find(config, request, pacs_name, pacs.accessions_of(accessions))
            except RequestRefused as exc:
                store.record(current.user.name, "search PACS", "", "refused",
                             f"request {request_id}: refused")
                return images_page(current, request_id, 409, message=str(exc),
                                   pacs_chosen=pacs_name, typed=accessions)
            store.record(current.user.name, "search PACS", "", "ok",
                         f"request {request_id}: {len(found)} exam(s) found")
        return images_page(current, request_id, pacs_found=found, pacs_chosen=pacs_name,
                           typed=accessions)

    @app.post("/requests/{request_id}/pacs/approve")
    def pacs_approve(request_id: str, current: Approver, csrf: Field = "",
                     pacs_name: Field = "", study: StudyFields = None,
                     destination: Field = "") -> Response:
        kit.csrf_ok(current, csrf)
        request_or_404(request_id)
        return approved(current, request_id, lambda: pacs.approve(
            config, request_id, pacs_name, tuple(dict.fromkeys(study or []))[:100],
            current.user.name,
            desk_settings(config), destination), chosen="")

    @app.post("/requests/{request_id}/images/approve")
    def images_approve(request_id: str, current: Approver, csrf: Field = "",
                       folder: Field = "", destination: Field = "") -> Response:
        kit.csrf_ok(current, csrf)
        request_or_404(request_id)
        return approved(current, request_id, lambda: intake.approve(
            config, request_id, folder, current.user.name, desk_settings(config),
            destination), chosen=folder)

    def approved(current: Session, request_id: str, make, chosen: str) -> Response:  # noqa: ANN001
        """Run an approval (`make`), record it in the action log, answer with the page."""
        with kit.users() as store:
            try:
                done = make()
            except BurnerError as exc:
                # The words may name the patient or files: the log gets the request id only.
                store.record(current.user.name, "approve", "", "refused",
                             f"request {request_id}: refused")
                log.info("web: approval of request %s refused", request_id)
                return images_page(current, request_id, 409, chosen=chosen,
                                   message=str(exc))
            if done.job_id:
                store.record(current.user.name, "approve", done.job_id, "ok",
                             f"request {request_id}: job made, approved by "
                             f"{' and '.join(done.approvers)}")
                log.info("web: request %s approved as job %s by %s", request_id, done.job_id,
                         current.user.name)
            else:
                store.record(current.user.name, "approve", "", "first approval",
                             f"request {request_id}: waiting for a second person")
        return images_page(current, request_id, done=done.words)

    # --- hand-over ------------------------------------------------------------------------

    def scan_page(current: Session, message: str = "", status_code: int = 200) -> Response:
        today = datetime.date.today()
        settings = desk_settings(config)
        return kit.render("handover.html", status_code, session=current, user=current.user,
                          label=SCAN_LABEL, message=message,
                          waiting=desk.not_handed_over(config, today,
                                                       settings.handover_flag_days),
                          flag_days=settings.handover_flag_days)

    def form_page(current: Session, job_id: str, status_code: int = 200, message: str = "",
                  typed: dict | None = None) -> Response:
        from burner.manifest import load_manifest

        with Register(config.db_path) as register:
            request_id = register.request_of(job_id)
            request = register.get(request_id) if request_id else None
        try:
            manifest = load_manifest(config.spool_dir / "done" / job_id)
        except BurnerError:
            manifest = None
        patient = request.patient if request else None
        name = patient.name if patient else manifest.patient_name if manifest else ""
        born = patient.birth_date.isoformat() if patient else \
            manifest.patient_birth_date.isoformat() if manifest else ""
        pid = patient.id if patient else manifest.patient_id if manifest else ""
        requester = request.requester if request else None
        defaults = {"receiver_kind": "patient", "receiver_name": "", "relationship": "",
                    "tracking": "", "photo_id": ""}
        if requester is not None and requester.kind != "patient":
            defaults.update(receiver_kind="representative", receiver_name=requester.name,
                            relationship=requester.relationship)
        defaults.update(typed or {})
        return kit.render("handover_form.html", status_code, session=current,
                          user=current.user, job_id=job_id, request=request,
                          patient=person_name(name), born=dicom_date(born), patient_id=pid,
                          items=desk.items_of(config, job_id),
                          mailed=bool(request and request.delivery == "mail"),
                          message=message, form=defaults)

    def done_page(current: Session, record: desk.Handover, status_code: int = 200,
                  message: str = "", printed: str = "", fault: str = "") -> Response:
        return kit.render("handover_done.html", status_code, session=current,
                          user=current.user, h=record, when=when, message=message,
                          patient=person_name(desk.patient_of(config, record.job_id)),
                          printed=printed, fault=fault)

    @app.get("/handover")
    def handover_scan(current: Desk) -> Response:
        return scan_page(current)

    @app.post("/handover/job")
    def handover_job(current: Desk, csrf: Field = "", job_id: Field = "") -> Response:
        kit.csrf_ok(current, csrf)
        typed = job_id.strip()

        def refused(words: str, status_code: int, job: str = "", why: str = "") -> Response:
            with kit.users() as store:
                store.record(current.user.name, "hand-over look-up", job, "refused", why)
            return scan_page(current, words, status_code)

        if not typed:
            return refused("Scan the cover sheet first, or type the job number.", 400,
                           why="nothing typed")
        if job_id_problem(typed):
            # Not echoed, nor logged: a wrong bar code (a wristband) may carry patient data.
            return refused("That is not a job number. Check the number on the cover sheet "
                           "and try again.", 400, why="not a job number")
        found = find_job(config, typed)
        if found is None:
            return refused(f"There is no job {typed} at this station. Check the number on "
                           "the cover sheet.", 404, typed, "no such job")
        earlier = desk.get(config, found)
        where = "done" if earlier is not None else desk.job_state(config, found)
        if where != "done":
            return refused(f"Job {found} is not finished (it is {where}), so there is nothing "
                           "to hand over yet.", 409, found, f"not finished ({where})")
        with kit.users() as store:
            store.record(current.user.name, "hand-over look-up", found, "ok",
                         "handed over already" if earlier else "")
        if earlier is not None:
            return done_page(current, earlier, message=desk.already_words(earlier))
        return form_page(current, found)

    @app.post("/handover/record")
    def handover_record(current: Desk, csrf: Field = "", job_id: Field = "",
                        photo_id: Field = "", receiver_kind: Field = "",
                        receiver_name: Field = "", relationship: Field = "",
                        tracking: Field = "", signature: SignatureField = "") -> Response:
        kit.csrf_ok(current, csrf)
        if job_id_problem(job_id):
            return scan_page(current, "That is not a job number.", 400)
        with Register(config.db_path) as register:
            request_id = register.request_of(job_id)
            mailed = bool(request_id and register.get(request_id).delivery == "mail")
        typed = {"receiver_kind": receiver_kind, "receiver_name": receiver_name,
                 "relationship": relationship, "tracking": tracking, "photo_id": photo_id}
        with kit.users() as store:
            try:
                record = desk.handover(config, job_id, by=current.user.name,
                                       receiver_kind=receiver_kind,
                                       receiver_name=receiver_name, relationship=relationship,
                                       photo_id_checked=photo_id == "yes", mailed=mailed,
                                       tracking=tracking,
                                       signature=desk.parse_signature(signature))
            except desk.HandoverRefused as exc:
                store.record(current.user.name, "hand-over", job_id, "refused", str(exc))
                earlier = desk.get(config, job_id)
                if earlier is not None:
                    return done_page(current, earlier, 409, message=str(exc))
                try:
                    where = desk.job_state(config, job_id)
                except BurnerError:
                    where = "missing"
                if where != "done":
                    return scan_page(current, str(exc), 409)
                return form_page(current, job_id, 400, message=str(exc), typed=typed)
            except BurnerError as exc:
                store.record(current.user.name, "hand-over", job_id, "refused", str(exc))
                return scan_page(current, str(exc), 404)
            how = "mailed" if record.mailed else f"to the {record.receiver_kind}"
            store.record(current.user.name, "hand-over", job_id, "ok",
                         f"{how}; {len(record.items)} disc(s)/stick(s)"
                         + ("; photo ID checked" if record.photo_id_checked else "")
                         + ("; signed" if record.signature else "")
                         + (f"; request {record.request_id}" if record.request_id else ""))
        log.info("web: job %s handed over by %s", job_id, current.user.name)
        return done_page(current, record)

    def record_or_404(job_id: str) -> desk.Handover:
        record = None if job_id_problem(job_id) else desk.get(config, job_id)
        if record is None:
            raise HTTPException(404, "No hand-over of that job is recorded.")
        return record

    @app.get("/handover/{job_id}/receipt.pdf")
    def handover_receipt(job_id: str, current: Desk) -> Response:
        from burner.desk.receipt import receipt_pdf

        record = record_or_404(job_id)
        pdf = receipt_pdf(config, record, desk.patient_of(config, job_id))
        return Response(pdf, media_type="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="receipt-{job_id}.pdf"'})

    @app.post("/handover/print")
    def handover_print(current: Desk, csrf: Field = "", job_id: Field = "") -> Response:
        from burner.desk.receipt import print_receipt

        kit.csrf_ok(current, csrf)
        record = record_or_404(job_id)
        with kit.users() as store:
            try:
                printed = print_receipt(config, record, desk.patient_of(config, job_id))
            except BurnerError as exc:
                store.record(current.user.name, "print receipt", job_id, "refused", str(exc))
                return done_page(current, record, 409, fault=str(exc))
            store.record(current.user.name, "print receipt", job_id,
                         "ok" if printed.ok else "failed", printed.words)
        if not printed.ok:
            return done_page(current, record, 409, fault=printed.words)
        return done_page(current, record, printed=printed.words)
