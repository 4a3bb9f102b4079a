"""The office's records of the right of access: for the requests received in a period, how many
were received and fulfilled, the days taken, how many were late or extended, the fees, the
formats asked for and the media made, month by month, and each request on its own line.
As CSV (for a spreadsheet) and PDF (for the file).

Definitions (also printed on the PDF):
- a request counts in the month it was received;
- fulfilled: handed over (or mailed, or sent);
- days taken: from the day it was received to the day its copies were ready (the first
  "ready" in its history, else the day the last of its jobs finished), else to the day it
  was handed over;
- overdue: ready or handed over after its due date (the extended one when it was extended),
  or still not ready after it;
- fees: the fees shown and stored with the requests, cancelled requests left out;
- media made: the discs, sticks and sent copies its jobs wrote (the station's copies table).

No patient names, IDs or birth dates: requests are named by their id only.
"""

from __future__ import annotations

import csv
import datetime
import io
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from burner.config import Config
from burner.desk.fees import money
from burner.desk.register import FORMATS, Register, Request, RequestState
from burner.desk.worklist import ready_days

SUMMARY_HEADER = ["month", "received", "fulfilled", "average days taken",
                  "longest days taken", "overdue", "extended", "fees charged", "currency",
                  *FORMATS, "media made"]
REQUEST_HEADER = ["request", "received", "due", "state", "requester", "format", "delivery",
                  "extended", "overdue", "ready", "handed over", "days taken", "fee",
                  "currency", "media made"]
DEFINITIONS = (
    "A request counts in the month it was received. Fulfilled: handed over, mailed or sent. "
    "Days taken: from the day it was received to the day its copies were ready (else handed "
    "over). Overdue: ready after its due date (the extended date when extended), or still "
    "not ready after it. Fees: as shown to the requester; cancelled requests left out. Media "
    "made: discs, sticks and sent copies written for it.")


@dataclass(frozen=True)
class RequestLine:
    id: str
    received: datetime.date
    due: datetime.date
    state: str
    requester: str
    format: str
    delivery: str
    extended: bool
    overdue: bool
    ready: datetime.date | None
    handed_over: datetime.date | None
    days_taken: int | None
    fee: Decimal
    currency: str
    media_made: int

    def cells(self) -> list[str]:
        return [self.id, self.received.isoformat(), self.due.isoformat(), self.state,
                self.requester, self.format, self.delivery, _yes(self.extended),
                _yes(self.overdue), _day(self.ready), _day(self.handed_over),
                "" if self.days_taken is None else str(self.days_taken), money(self.fee),
                self.currency, str(self.media_made)]


@dataclass(frozen=True)
class MonthLine:
    month: str                 # "2026-03", or "total"
    received: int
    fulfilled: int
    average_days: str          # "12.5", or "" when none was ready yet
    longest_days: str
    overdue: int
    extended: int
    fees: str
    currency: str
    formats: dict[str, int]
    media_made: int

    def cells(self) -> list[str]:
        return [self.month, str(self.received), str(self.fulfilled), self.average_days,
                self.longest_days, str(self.overdue), str(self.extended), self.fees,
                self.currency, *(str(self.formats[f]) for f in FORMATS), str(self.media_made)]


@dataclass
class Monthly:
    start: datetime.date
    end: datetime.date
    today: datetime.date
    months: list[MonthLine] = field(default_factory=list)
    total: MonthLine | None = None
    requests: list[RequestLine] = field(default_factory=list)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _day(day: datetime.date | None) -> str:
    return day.isoformat() if day else ""


def _amount(text: str) -> Decimal:
    try:
        return Decimal(text)
    except (InvalidOperation, TypeError):
        return Decimal(0)


def months_of(start: datetime.date, end: datetime.date) -> list[str]:
    """"YYYY-MM" of every month from `start` to `end`."""
    out, year, month = [], start.year, start.month
    while (year, month) <= (end.year, end.month):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def _line(request: Request, ready: datetime.date | None, handed_at: float | None,
          copies: int, today: datetime.date) -> RequestLine:
    handed = datetime.date.fromtimestamp(handed_at) if handed_at is not None else None
    done = ready or handed
    cancelled = request.state == RequestState.CANCELLED
    overdue = not cancelled and (done > request.due if done else today > request.due)
    return RequestLine(
        id=request.id, received=request.received, due=request.due, state=str(request.state),
        requester=request.requester.kind, format=request.format, delivery=request.delivery,
        extended=request.extension is not None, overdue=overdue, ready=ready,
        handed_over=handed if request.state == RequestState.HANDED_OVER else None,
        days_taken=(done - request.received).days if done else None,
        fee=Decimal(0) if cancelled else _amount(request.fee.amount),
        currency=request.fee.currency, media_made=copies)


def _sum(month: str, lines: list[RequestLine]) -> MonthLine:
    days = [r.days_taken for r in lines if r.days_taken is not None]
    fees: dict[str, Decimal] = {}
    for r in lines:
        if r.state != RequestState.CANCELLED:
            fees[r.currency] = fees.get(r.currency, Decimal(0)) + r.fee
    if len(fees) <= 1:
        currency = next(iter(fees), "")
        fee_text = money(fees.get(currency, Decimal(0)))
    else:                                   # a change of currency inside the period
        currency = ""
        fee_text = " + ".join(f"{money(v)} {k}" for k, v in sorted(fees.items()))
    return MonthLine(
        month=month, received=len(lines),
        fulfilled=sum(r.state == RequestState.HANDED_OVER for r in lines),
        average_days=f"{sum(days) / len(days):.1f}" if days else "",
        longest_days=str(max(days)) if days else "",
        overdue=sum(r.overdue for r in lines), extended=sum(r.extended for r in lines),
        fees=fee_text, currency=currency,
        formats={f: sum(r.format == f for r in lines) for f in FORMATS},
        media_made=sum(r.media_made for r in lines))


def monthly(config: Config, start: datetime.date, end: datetime.date,
            today: datetime.date) -> Monthly:
    """The records of the requests received from `start` to `end` (both included)."""
    with Register(config.db_path) as register:
        requests = [r for r in register.all() if start <= r.received <= end]
        ready = ready_days(register)
        handed = register.first_times((str(RequestState.HANDED_OVER),))
        copies = register.copies_made()
    lines = sorted((_line(r, ready.get(r.id),
                          handed.get(r.id, {}).get(str(RequestState.HANDED_OVER)),
                          copies.get(r.id, 0), today)
                    for r in requests), key=lambda r: (r.received, r.id))
    report = Monthly(start, end, today, requests=lines)
    for month in months_of(start, end):
        report.months.append(_sum(month, [r for r in lines
                                          if r.received.isoformat()[:7] == month]))
    report.total = _sum("total", lines)
    return report


def to_csv(report: Monthly) -> str:
    """Two tables, each with its header row, a blank row between: the months (and their
    total), then every request."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(SUMMARY_HEADER)
    for line in [*report.months, *([report.total] if report.total else [])]:
        writer.writerow(line.cells())
    writer.writerow([])
    writer.writerow(REQUEST_HEADER)
    for request in report.requests:
        writer.writerow(request.cells())
    return out.getvalue()


def to_pdf(report: Monthly, institution: dict[str, str], paper: str = "A4") -> bytes:
    """The same records as a landscape PDF with two tables."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    from burner.printout import fonts
    from burner.printout.cover import page_size

    regular, bold = fonts.regular(), fonts.bold()
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=landscape(page_size(paper)), leftMargin=12 * mm,
                            rightMargin=12 * mm, topMargin=12 * mm, bottomMargin=12 * mm,
                            title=f"Requests {report.start.isoformat()} to "
                                  f"{report.end.isoformat()}",
                            author=institution.get("name", "") or "burner")
    heading = ParagraphStyle("heading", fontName=bold, fontSize=14, leading=18)
    body = ParagraphStyle("body", fontName=regular, fontSize=8.5, leading=11)
    small = ParagraphStyle("small", fontName=regular, fontSize=7, leading=8.5)

    def table(rows: list[list[str]]) -> Table:
        cells = [[Paragraph(_escape(c), small) for c in row] for row in rows]
        made = Table(cells, repeatRows=1)
        made.setStyle(TableStyle([
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), 2), ("RIGHTPADDING", (0, 0), (-1, -1), 2)]))
        return made

    name = institution.get("name", "") or "Imaging department"
    story = [Paragraph(_escape(f"{name}: requests for copies of imaging records"), heading),
             Paragraph(_escape(f"Received from {report.start.isoformat()} to "
                               f"{report.end.isoformat()}; made on "
                               f"{report.today.isoformat()}."), body),
             Spacer(1, 4 * mm),
             table([SUMMARY_HEADER, *(m.cells() for m in report.months),
                    *([report.total.cells()] if report.total else [])]),
             Spacer(1, 3 * mm), Paragraph(_escape(DEFINITIONS), small), Spacer(1, 5 * mm)]
    if report.requests:
        story.append(table([REQUEST_HEADER, *(r.cells() for r in report.requests)]))
    else:
        story.append(Paragraph("No request was received in this period.", body))
    doc.build(story)
    return out.getvalue()


def _escape(text: str) -> str:
    """Text for a reportlab Paragraph (which reads a little markup)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
