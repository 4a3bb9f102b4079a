"""The front desk's work list (open requests by the days they have left, with filters) and the
daily summary on the board."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from burner.config import Config
from burner.desk.register import FORMATS, OPEN_STATES, Register, Request, RequestState

# The work list's state filter: "" = every open request, "all" = every request, or one state.
STATE_FILTERS = ("", "all", *(str(s) for s in RequestState))


@dataclass(frozen=True)
class Filters:
    """What the work list shows (from the page's query: states, formats, flags and a request
    id, never patient data)."""

    state: str = ""
    format: str = ""
    overdue: bool = False
    request_id: str = ""

    @classmethod
    def of(cls, state: str = "", format: str = "", overdue: str = "",
           request_id: str = "") -> Filters:
        """From the query's text; what is not a known value is dropped."""
        text = request_id.strip().upper()
        return cls(state=state if state in STATE_FILTERS else "",
                   format=format if format in FORMATS else "",
                   overdue=overdue in ("1", "yes", "on", "true"),
                   request_id=text if len(text) <= 20 and all(
                       c.isascii() and (c.isalnum() or c == "-") for c in text) else "")

    def keep(self, request: Request, today: datetime.date) -> bool:
        if self.state == "":
            if request.state not in OPEN_STATES:
                return False
        elif self.state != "all" and request.state != self.state:
            return False
        if self.format and request.format != self.format:
            return False
        if self.overdue and not request.overdue(today):
            return False
        return not self.request_id or self.request_id in request.id.upper()


@dataclass(frozen=True)
class Row:
    request: Request
    days_left: int
    overdue: bool                # open, past its due date and not made ready by then
    due_today: bool
    extended: bool
    ready: bool                  # its copies are made: waiting for hand-over or mailing
    waiting_days: int | None     # ready since this many days (None: not ready)
    flagged: bool                # ready and not collected for longer than the desk allows


def ready_days(register: Register) -> dict[str, datetime.date]:
    """The day each request's copies were ready: the first "ready" in its history, else the
    day the last of its jobs finished (when they all did)."""
    out = {rid: datetime.date.fromtimestamp(at)
           for rid, at in register.jobs_finished().items() if at}
    for rid, times in register.first_times((str(RequestState.READY),)).items():
        out[rid] = datetime.date.fromtimestamp(times[str(RequestState.READY)])
    return out


def row_for(request: Request, today: datetime.date, ready_on: datetime.date | None,
         flag_days: int) -> Row:
    live = request.state in OPEN_STATES
    ready = live and (request.state == RequestState.READY or (
        request.state == RequestState.IN_PROGRESS and ready_on is not None))
    since = ready_on if ready else None
    waiting = (today - since).days if since else None
    in_time = ready and since is not None and since <= request.due
    return Row(request=request, days_left=request.days_left(today),
               overdue=request.overdue(today) and not in_time,
               due_today=live and request.due == today and not ready,
               extended=request.extension is not None, ready=ready, waiting_days=waiting,
               flagged=waiting is not None and waiting > flag_days)


def work_list(register: Register, today: datetime.date, filters: Filters | None = None,
              flag_days: int = 14) -> list[Row]:
    """The requests `filters` keeps (every open one by default), the fewest days left first
    (overdue ones on top), open requests before closed ones."""
    filters = filters or Filters()
    ready = ready_days(register)
    rows = [row_for(r, today, ready.get(r.id), flag_days) for r in register.all()
            if filters.keep(r, today)]
    if filters.overdue:
        rows = [r for r in rows if r.overdue]
    open_first = {s: 0 for s in OPEN_STATES}
    rows.sort(key=lambda r: (open_first.get(r.request.state, 1), r.days_left, r.request.id))
    return rows


@dataclass(frozen=True)
class DeskSummary:
    open: int
    due_today: int
    overdue: int
    extended: int
    ready: int


def summary_of(rows: list[Row]) -> DeskSummary:
    """The counts of work-list rows (of open requests)."""
    live = [r for r in rows if r.request.state in OPEN_STATES]
    return DeskSummary(open=len(live), due_today=sum(r.due_today for r in live),
                       overdue=sum(r.overdue for r in live),
                       extended=sum(r.extended for r in live),
                       ready=sum(r.ready for r in live))


def desk_summary(config: Config, today: datetime.date) -> DeskSummary:
    """Today's numbers for the board: open requests, due today, overdue, extended, ready for
    hand-over."""
    with Register(config.db_path) as register:
        return summary_of(work_list(register, today))
