"""A request's due date and its one extension (45 CFR 164.524(b)(2); STANDARDS.md, "The
patient's right of access"): act within `[desk] due_days` (30 at most) of receipt; one
extension of at most `[desk] extension_days` (30 at most), given in writing before the due
date, with the reason and the date the records are expected.

Nothing here reads the clock by itself: the web app asks its `Clock` (tests pass a fixed one)
and hands `today` down.
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass, replace
from typing import Protocol

from burner.desk.register import Extension, Register, Request, RequestRefused, RequestState
from burner.desk.settings import DeskSettings

MAX_REASON = 1000       # characters


class Clock(Protocol):
    def today(self) -> datetime.date: ...


class SystemClock:
    """The station's own calendar day."""

    def today(self) -> datetime.date:
        return datetime.date.today()


@dataclass(frozen=True)
class FixedClock:
    """Always the same day (tests; a demonstration)."""

    day: datetime.date

    def today(self) -> datetime.date:
        return self.day


def due_date(received: datetime.date, settings: DeskSettings) -> datetime.date:
    """The day a request received on `received` must be met by: `due_days` calendar days
    later (a request received on 31 January with 30 days is due on 2 March, or 1 March in a
    leap year)."""
    return received + datetime.timedelta(days=settings.due_days)


def original_due(request: Request) -> datetime.date:
    """The due date before any extension."""
    if request.extension is None:
        return request.due
    return request.extension.original_due or request.due


def latest_extension(request: Request, settings: DeskSettings) -> datetime.date:
    """The latest date an extension of `request` may name."""
    return original_due(request) + datetime.timedelta(days=settings.extension_days)


def check_extension(request: Request, new_due: datetime.date | None, reason: str,
                    today: datetime.date, settings: DeskSettings) -> None:
    """RequestRefused, in words the front desk understands, unless `request` may be extended
    to `new_due` for `reason` on `today`: only once, only on or before the original due date,
    to a date after it and at most `extension_days` after it, and never without a reason."""
    if request.extension is not None:
        raise RequestRefused(
            f"request {request.id} was already extended once, to "
            f"{request.extension.new_due.isoformat()}; the law allows one extension only. "
            f"The records must be provided by that date")
    if request.state not in (RequestState.OPEN, RequestState.AWAITING_SECOND,
                             RequestState.IN_PROGRESS):
        raise RequestRefused(
            f"request {request.id} is {request.state}: there is nothing left to extend")
    day = (request.due - request.received).days
    if today > request.due:
        raise RequestRefused(
            f"request {request.id} is past day {day}: it was due on "
            f"{request.due.isoformat()}, and an extension must be given in writing on or "
            f"before the due date. It is too late to extend it; provide the records as soon "
            f"as possible")
    if not reason.strip():
        raise RequestRefused("write the reason for the delay; it goes into the letter to the "
                             "patient")
    if len(reason) > MAX_REASON:
        raise RequestRefused(f"the reason may have at most {MAX_REASON} characters")
    if new_due is None:
        raise RequestRefused("give the date by which the records are expected")
    if new_due <= request.due:
        raise RequestRefused(
            f"the new date must be after the due date ({request.due.isoformat()})")
    latest = latest_extension(request, settings)
    if new_due > latest:
        raise RequestRefused(
            f"an extension may be at most {settings.extension_days} days: choose a date no "
            f"later than {latest.isoformat()}")


def extend(register: Register, request_id: str, new_due: datetime.date | None, reason: str,
           today: datetime.date, settings: DeskSettings, user: str) -> Request:
    """Check, then record the extension (the request's due date becomes `new_due`)."""
    request = register.get(request_id)
    check_extension(request, new_due, reason, today, settings)
    assert new_due is not None
    extension = Extension(reason.strip(), new_due, time.time(), user,
                          original_due=request.due, given=today)
    return register.save(replace(request, due=new_due, extension=extension), user, "extended",
                         f"due date moved from {request.due.isoformat()} to "
                         f"{new_due.isoformat()}")
