"""The front desk's pages (issue 12): the work list (/requests), registering a request with its
fee and due date shown first (/requests/new), the request page with its history and the one
extension and its letter (/requests/{id}), and the office's monthly records (/reports).

URLs carry request ids, dates and filter words only, never patient data; the action log names
the request id. Dates come from the app's clock: `app.state.clock` when set (tests), else the
station's calendar.
"""
# No "from __future__ import annotations": FastAPI reads the routes' annotations at run time.

import datetime
import logging
import re
import sqlite3
import time
from dataclasses import dataclass, field, replace
from typing import Annotated

from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response

from burner.desk import dates, fees, letters, monthly, register, worklist
from burner.desk.register import DELIVERIES, FORMATS, REQUESTERS, Register, RequestState
from burner.desk.settings import desk_settings
from burner.errors import ConfigError
from burner.users import Right, Session
from burner.web.kit import WebKit
from burner.words import person_name

log = logging.getLogger("burner.web")

REQUEST_ID = re.compile(r"RQ-\d{4}-\d{4,6}")
FORMAT_WORDS = {"cd": "CD", "dvd": "DVD", "usb": "USB stick", "electronic": "Electronic copy",
                "send": "Send to another hospital"}
DELIVERY_WORDS = {"pickup": "Pick-up at the desk", "mail": "Mail", "portal": "Patient portal"}
REQUESTER_WORDS = {"patient": "The patient", "representative": "A personal representative",
                   "third party": "A third party named by the patient"}
DONE = {"registered": "The request is registered.",
        "extended": "The extension is recorded. Send the letter below to the patient."}
MAX_EXAMS = 50
EARLIEST_BIRTH = datetime.date(1880, 1, 1)
MAX_REPORT_DAYS = 3700            # about ten years in one report
Field = Annotated[str, Form(max_length=4000)]


def when(at: float | None) -> str:
    """A time on the pages: "2026-12-03 14:05" (the station's local time)."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at)) if at else ""


def today_of(request: Request) -> datetime.date:
    """Today by the app's clock: `app.state.clock` when one is set (tests), else the
    station's own calendar."""
    clock = getattr(request.app.state, "clock", None)
    return (clock or dates.SystemClock()).today()


@dataclass
class Typed:
    """The register form as typed (shown again as typed when something is wrong)."""

    family_name: str = ""
    given_name: str = ""
    patient_id: str = ""
    issuer: str = ""
    birth_date: str = ""
    requester: str = "patient"
    requester_name: str = ""
    relationship: str = ""
    scope: str = "exams"
    exams: str = ""
    date_from: str = ""
    date_to: str = ""
    format: str = "cd"
    delivery: str = "pickup"
    received: str = ""
    note: str = ""
    problems: list[str] = field(default_factory=list)


def _date(form: Typed, value: str, what: str, required: bool = True) -> datetime.date | None:
    if not value.strip():
        if required:
            form.problems.append(f"Give the {what}.")
        return None
    try:
        return datetime.date.fromisoformat(value.strip())
    except ValueError:
        form.problems.append(f"The {what} is not a date: choose it with the date picker "
                             f"(year-month-day, e.g. 2026-03-31).")
        return None


def _text(form: Typed, value: str, what: str, most: int, required: bool = True,
          name_part: bool = False) -> str:
    value = " ".join(value.split())
    if required and not value:
        form.problems.append(f"Give the {what}.")
    elif len(value) > most:
        form.problems.append(f"The {what} may have at most {most} characters.")
    elif name_part and any(c in value for c in "^=\\"):     # DICOM separators
        form.problems.append(f"The {what} may not have the characters ^ = or \\.")
    return value


def _parse(form: Typed, today: datetime.date) -> register.Request | None:
    """The request the form describes (id and fee not yet set), or None with form.problems
    saying, in plain words, what to fix."""
    family = _text(form, form.family_name, "patient's family name", 64, name_part=True)
    given = _text(form, form.given_name, "patient's given name", 64, required=False,
                  name_part=True)
    patient_id = _text(form, form.patient_id, "patient ID (MRN)", 64, name_part=True)
    issuer = _text(form, form.issuer, "issuer of the patient ID", 64, required=False,
                   name_part=True)
    birth = _date(form, form.birth_date, "patient's birth date")
    if birth is not None and not EARLIEST_BIRTH <= birth <= today:
        form.problems.append("The birth date must be a day in the past.")
    if form.requester not in REQUESTERS:
        form.problems.append("Choose who asks: the patient, a personal representative or a "
                             "third party named by the patient.")
    name = _text(form, form.requester_name, "requester's name", 128, required=False)
    relationship = _text(form, form.relationship, "relationship", 64, required=False)
    if form.requester == "representative" and not (name and relationship):
        form.problems.append("For a personal representative, give their name and their "
                             "relationship to the patient (for example parent, guardian).")
    if form.requester == "third party" and not name:
        form.problems.append("For a third party, give the name of the person or hospital "
                             "the patient named to receive the copy.")
    exams: tuple[str, ...] = ()
    date_from = date_to = None
    if form.scope == "exams":
        exams = tuple(" ".join(line.split()) for line in form.exams.splitlines()
                      if line.strip())
        if not exams:
            form.problems.append("List the exams asked for (one a line), or choose all "
                                 "imaging between two dates.")
        elif len(exams) > MAX_EXAMS or any(len(e) > 128 for e in exams):
            form.problems.append(f"List at most {MAX_EXAMS} exams, each at most 128 "
                                 f"characters.")
    elif form.scope == "range":
        date_from = _date(form, form.date_from, "first day of the imaging asked for")
        date_to = _date(form, form.date_to, "last day of the imaging asked for",
                        required=False)
        if date_from and date_to and date_to < date_from:
            form.problems.append("The last day of the imaging asked for is before the first.")
    else:
        form.problems.append("Choose what is asked for: listed exams, or all imaging between "
                             "two dates.")
    if form.format not in FORMATS:
        form.problems.append("Choose the format asked for.")
    if form.delivery not in DELIVERIES:
        form.problems.append("Choose how the copy is delivered.")
    elif form.delivery == "portal" and form.format != "electronic":
        form.problems.append("Only an electronic copy can go through the patient portal; "
                             "choose pick-up or mail for a disc or stick.")
    received = _date(form, form.received, "date the request was received")
    if received is not None and received > today:
        form.problems.append("The date received cannot be in the future.")
    note = form.note.strip()
    if len(note) > 2000:
        form.problems.append("The note may have at most 2000 characters.")
    if form.problems or birth is None or received is None:
        return None
    return register.Request(
        id="", patient=register.Patient(f"{family}^{given}" if given else family, patient_id,
                                        issuer, birth),
        requester=register.Requester(form.requester, name if form.requester != "patient"
                                     else "", relationship if form.requester ==
                                     "representative" else ""),
        scope=register.Scope(exams, date_from, date_to or (received if date_from else None)),
        format=form.format, delivery=form.delivery, received=received, due=received,
        fee=register.Fee("0.00", "", ""), note=note)


def _month(today: datetime.date) -> tuple[datetime.date, datetime.date]:
    first = today.replace(day=1)
    following = (first + datetime.timedelta(days=32)).replace(day=1)
    return first, following - datetime.timedelta(days=1)


def install(app: FastAPI, kit: WebKit) -> None:
    config = kit.config
    Desk = Annotated[Session, Depends(kit.allowed(Right.REQUESTS))]
    Office = Annotated[Session, Depends(kit.allowed(Right.REPORTS))]

    def settings():  # noqa: ANN202 - DeskSettings and FeeSettings
        try:
            return desk_settings(config), fees.fee_settings(config)
        except ConfigError as exc:
            raise HTTPException(500, f"The station's configuration is wrong: {exc}. Ask the "
                                     f"administrator to correct it.") from None

    def open_register() -> Register:
        return Register(config.db_path)

    def get_request(reg: Register, request_id: str) -> register.Request:
        if not REQUEST_ID.fullmatch(request_id):
            raise HTTPException(404, "There is no such request.")
        try:
            return reg.get(request_id)
        except register.NoSuchRequest:
            raise HTTPException(404, f"There is no request {request_id}.") from None

    def page_values(current: Session) -> dict:
        return {"session": current, "user": current.user, "format_words": FORMAT_WORDS,
                "delivery_words": DELIVERY_WORDS, "requester_words": REQUESTER_WORDS,
                "person_name": person_name, "when": when}

    @app.get("/requests")
    def requests_page(request: Request, current: Desk,
                      state: Annotated[str, Query(max_length=40)] = "",
                      format: Annotated[str, Query(max_length=20)] = "",
                      overdue: Annotated[str, Query(max_length=8)] = "",
                      q: Annotated[str, Query(max_length=40)] = "") -> Response:
        today = today_of(request)
        desk, _ = settings()
        filters = worklist.Filters.of(state, format, overdue, q)
        with open_register() as reg:
            rows = worklist.work_list(reg, today, filters, desk.handover_flag_days)
            summary = worklist.summary_of(
                rows if filters == worklist.Filters() else
                worklist.work_list(reg, today, flag_days=desk.handover_flag_days))
        return kit.render("requests.html", rows=rows, filters=filters, today=today,
                          summary=summary, states=[str(s) for s in RequestState],
                          formats=FORMATS, **page_values(current))

    def new_page(current: Session, form: Typed, today: datetime.date, status: int = 200,
                 check: dict | None = None, message: str = "") -> Response:
        desk, fee_settings = settings()
        return kit.render("request_new.html", status, form=form, today=today, check=check,
                          message=message, formats=FORMATS, deliveries=DELIVERIES,
                          requesters=REQUESTERS, due_days=desk.due_days,
                          fee_basis=fees.BASIS_WORDS[fee_settings.basis],
                          **page_values(current))

    @app.get("/requests/new")
    def request_new(request: Request, current: Desk) -> Response:
        today = today_of(request)
        return new_page(current, Typed(issuer=config.default_issuer,
                                       received=today.isoformat()), today)

    @app.post("/requests/new")
    def request_register(
            request: Request, current: Desk, family_name: Field = "", given_name: Field = "",
            patient_id: Field = "", issuer: Field = "", birth_date: Field = "",
            requester: Field = "", requester_name: Field = "", relationship: Field = "",
            scope: Field = "", exams: Field = "", date_from: Field = "", date_to: Field = "",
            format: Field = "", delivery: Field = "", received: Field = "", note: Field = "",
            step: Field = "", fee_seen: Field = "", csrf: Field = "") -> Response:
        kit.csrf_ok(current, csrf)
        today = today_of(request)
        desk, fee_settings = settings()
        form = Typed(family_name, given_name, patient_id, issuer, birth_date, requester,
                     requester_name, relationship, scope, exams, date_from, date_to, format,
                     delivery, received, note)
        made = _parse(form, today)
        if made is None:
            return new_page(current, form, today, 400)
        fee = fees.fee_for(made.format, made.delivery, fee_settings)
        due = dates.due_date(made.received, desk)
        check = {"fee": fee, "due": due, "days_left": (due - today).days,
                 "seen": f"{fee.amount} {fee.currency}"}
        if step != "save":
            return new_page(current, form, today, check=check)
        if fee_seen != check["seen"]:
            return new_page(current, form, today, 409, check=check, message=(
                "The fee has changed since it was shown (the format or delivery was changed): "
                "tell the requester the fee below, then register the request."))
        with open_register() as reg:
            for _ in range(5):           # two desks registering at once: take the next id
                try:
                    saved = reg.add(replace(made, id=reg.new_id(today), due=due, fee=fee,
                                            created_by=current.user.name), current.user.name)
                    break
                except sqlite3.IntegrityError:
                    continue
            else:
                raise HTTPException(503, "The request could not be given a number; try "
                                         "again.")
        with kit.users() as store:
            store.record(current.user.name, "request register", "", "ok", saved.id)
        log.info("web: request %s registered by %s", saved.id, current.user.name)
        return RedirectResponse(f"/requests/{saved.id}?done=registered", status_code=303)

    def request_page(current: Session, request_id: str, today: datetime.date,
                     status: int = 200, message: str = "", done: str = "",
                     reason: str = "", new_due: str = "") -> Response:
        desk, _ = settings()
        with open_register() as reg:
            found = get_request(reg, request_id)
            history = reg.history(request_id)
            row = worklist.row_for(found, today, worklist.ready_days(reg).get(request_id),
                                   desk.handover_flag_days)
        refusal = ""
        if found.extension is None:
            try:
                dates.check_extension(found, found.due + datetime.timedelta(days=1), "a reason",
                                      today, desk)
            except register.RequestRefused as exc:
                refusal = str(exc)
        return kit.render(
            "request.html", status, r=found, today=today, history=history, message=message,
            done=DONE.get(done, ""), refusal=refusal, reason=reason, new_due=new_due,
            days_left=row.days_left, overdue=row.overdue, row=row,
            original_due=dates.original_due(found),
            latest=dates.latest_extension(found, desk),
            earliest=found.due + datetime.timedelta(days=1),
            basis_words=fees.BASIS_WORDS, **page_values(current))

    @app.get("/requests/{request_id}")
    def request_view(request: Request, request_id: str, current: Desk,
                     done: Annotated[str, Query(max_length=12)] = "") -> Response:
        return request_page(current, request_id, today_of(request), done=done)

    @app.post("/requests/{request_id}/extend")
    def request_extend(request: Request, request_id: str, current: Desk, reason: Field = "",
                       new_due: Field = "", csrf: Field = "") -> Response:
        kit.csrf_ok(current, csrf)
        today = today_of(request)
        desk, _ = settings()
        with open_register() as reg:
            get_request(reg, request_id)
            try:
                try:
                    day = datetime.date.fromisoformat(new_due.strip()) if new_due.strip() \
                        else None
                except ValueError:
                    raise register.RequestRefused(
                        "the expected date is not a date: choose it with the date picker "
                        "(year-month-day)") from None
                extended = dates.extend(reg, request_id, day, reason, today, desk,
                                        current.user.name)
            except register.RequestRefused as exc:
                words = str(exc)
                with kit.users() as store:
                    store.record(current.user.name, "request extend", "", "refused",
                                 f"{request_id}: {words}")
                return request_page(current, request_id, today, 409,
                                    message=words[:1].upper() + words[1:] + ".",
                                    reason=reason[:dates.MAX_REASON], new_due=new_due[:10])
        try:
            letters.write_extension_letter(config, extended)
        except OSError as exc:
            log.warning("web: the extension letter of %s could not be kept: %s", request_id,
                        exc.strerror)
        with kit.users() as store:
            store.record(current.user.name, "request extend", "", "ok", request_id)
        log.info("web: request %s extended by %s", request_id, current.user.name)
        return RedirectResponse(f"/requests/{request_id}?done=extended", status_code=303)

    @app.get("/requests/{request_id}/letter.pdf")
    def request_letter(request_id: str, current: Desk) -> Response:
        with open_register() as reg:
            found = get_request(reg, request_id)
        if found.extension is None:
            raise HTTPException(404, f"Request {request_id} was not extended, so there is no "
                                     f"extension letter.")
        path = letters.letter_path(config, request_id)
        try:
            data = path.read_bytes()
        except OSError:
            data = letters.extension_letter(config, found)
        with kit.users() as store:
            store.record(current.user.name, "request letter", "", "ok", request_id)
        return Response(data, media_type="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="{request_id}-extension.pdf"'})

    def period(request: Request, start: str, end: str) -> tuple[datetime.date,
                                                                   datetime.date, str]:
        """The report's dates (this month by default), and words when they are wrong."""
        first, last = _month(today_of(request))
        try:
            a = datetime.date.fromisoformat(start) if start else first
            b = datetime.date.fromisoformat(end) if end else last
        except ValueError:
            return first, last, ("A date of the period is not a date: choose it with the "
                                 "date picker (year-month-day).")
        if b < a:
            return a, b, "The last day of the period is before the first."
        if (b - a).days > MAX_REPORT_DAYS:
            return a, b, "Choose a period of at most ten years."
        return a, b, ""

    FromDate = Annotated[str, Query(alias="from", max_length=10)]
    ToDate = Annotated[str, Query(alias="to", max_length=10)]

    @app.get("/reports")
    def reports_page(request: Request, current: Office, start: FromDate = "",
                     end: ToDate = "") -> Response:
        a, b, problem = period(request, start, end)
        report = None if problem else monthly.monthly(config, a, b, today_of(request))
        return kit.render("reports.html", 400 if problem else 200, start=a, end=b,
                          problem=problem, report=report, summary_header=monthly.SUMMARY_HEADER,
                          **page_values(current))

    def download(request: Request, current: Session, start: str, end: str,
                 kind: str) -> Response:
        a, b, problem = period(request, start, end)
        if problem:
            raise HTTPException(400, problem)
        report = monthly.monthly(config, a, b, today_of(request))
        name = f"requests-{a.isoformat()}-to-{b.isoformat()}.{kind}"
        if kind == "csv":
            data, media = monthly.to_csv(report).encode("ascii", "replace"), "text/csv"
        else:
            data = monthly.to_pdf(report, config.institution,
                                  config.printing.get("paper", "A4"))
            media = "application/pdf"
        with kit.users() as store:
            store.record(current.user.name, f"report {kind}", "", "ok",
                         f"{a.isoformat()} to {b.isoformat()}")
        return Response(data, media_type=media,
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.get("/reports/monthly.csv")
    def report_csv(request: Request, current: Office, start: FromDate = "",
                   end: ToDate = "") -> Response:
        return download(request, current, start, end, "csv")

    @app.get("/reports/monthly.pdf")
    def report_pdf(request: Request, current: Office, start: FromDate = "",
                   end: ToDate = "") -> Response:
        return download(request, current, start, end, "pdf")

