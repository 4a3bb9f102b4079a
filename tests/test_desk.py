"""The front desk (issue 12): due dates, the one extension and its letter, fees, the work list,
the monthly records, and the pages (in process, TestClient) tried as an attacker would. Every
date comes from a fixed clock (`app.state.clock`), never from sleeping."""

from __future__ import annotations

import csv
import datetime
import io
import json
import logging
import re
import sqlite3
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import StationDir
from pdftools import flat, text_of
from test_web_app import _client, _csrf, app_with_users, sign_in

from burner.config import load_config
from burner.desk import dates, fees, letters, monthly, worklist
from burner.desk.register import (
    Extension,
    Fee,
    Patient,
    Register,
    Request,
    Requester,
    RequestRefused,
    RequestState,
    Scope,
)
from burner.desk.settings import DeskSettings, desk_settings
from burner.errors import ConfigError
from burner.state import JobState, StateDB
from burner.users import Users

D = datetime.date
THIRTY = DeskSettings(due_days=30, extension_days=30, four_eyes=False,
                      intake_dir=Path("/nonexistent"), handover_flag_days=14)
FIFTEEN = replace(THIRTY, due_days=15, extension_days=15)
MARCH_1 = datetime.date(2026, 3, 1)
FAMILY, GIVEN, MRN, BORN = "Zanzibar", "Quentin", "MRN-778899", "1961-07-23"


def _request(request_id: str = "RQ-2026-0001", received: D = MARCH_1,
             settings: DeskSettings = THIRTY, **changes: object) -> Request:
    made = Request(id=request_id, patient=Patient(f"{FAMILY}^{GIVEN}", MRN, "GEN",
                                                  D.fromisoformat(BORN)),
                   requester=Requester("patient"), scope=Scope(("ACC1",)), format="cd",
                   delivery="pickup", received=received,
                   due=dates.due_date(received, settings),
                   fee=Fee("6.50", "USD", "flat", (("flat fee", "6.50"),)))
    return replace(made, **changes)


def _config(tmp_path: Path, extra: str = ""):
    path = tmp_path / "burner.toml"
    path.write_text(f'[station]\ndata_dir = {json.dumps(str(tmp_path / "data"))}\n'
                    '[institution]\nname = "Saint Example General Hospital"\n'
                    'address = "12 Harbour Road; Springfield 01234"\nphone = "555-0142"\n'
                    + extra)
    return load_config(path)


# --- due dates --------------------------------------------------------------------------------


@pytest.mark.parametrize(("received", "settings", "due"), [
    (D(2026, 3, 1), THIRTY, D(2026, 3, 31)),
    (D(2026, 1, 31), THIRTY, D(2026, 3, 2)),         # across a short February
    (D(2028, 1, 31), THIRTY, D(2028, 3, 1)),         # a leap year
    (D(2026, 12, 15), THIRTY, D(2027, 1, 14)),       # across the year's end
    (D(2026, 4, 30), THIRTY, D(2026, 5, 30)),
    (D(2026, 2, 20), FIFTEEN, D(2026, 3, 7)),        # a state with 15 days
    (D(2026, 1, 31), FIFTEEN, D(2026, 2, 15)),
])
def test_the_due_date_is_the_sites_days_after_receipt(received, settings, due) -> None:
    assert dates.due_date(received, settings) == due


def test_desk_settings_keep_the_laws_limits(tmp_path: Path) -> None:
    assert desk_settings(_config(tmp_path)).due_days == 30
    assert desk_settings(_config(tmp_path, "[desk]\ndue_days = 15\n")).due_days == 15
    with pytest.raises(ConfigError, match="due_days must be a whole number from 1 to 30"):
        desk_settings(_config(tmp_path, "[desk]\ndue_days = 31\n"))


def test_the_clocks() -> None:
    assert dates.FixedClock(D(2026, 3, 10)).today() == D(2026, 3, 10)
    assert dates.SystemClock().today() == datetime.date.today()


# --- the one extension ------------------------------------------------------------------------


def test_an_extension_inside_the_due_date_is_allowed() -> None:
    request = _request()                               # due 2026-03-31
    for today in (D(2026, 3, 2), D(2026, 3, 31)):     # the due date itself still counts
        dates.check_extension(request, D(2026, 4, 30), "archive moving", today, THIRTY)
        dates.check_extension(request, D(2026, 4, 1), "archive moving", today, THIRTY)


def test_a_second_extension_is_refused() -> None:
    request = _request(due=D(2026, 4, 20), extension=Extension(
        "archive moving", D(2026, 4, 20), 0.0, "desk", D(2026, 3, 31), D(2026, 3, 20)))
    with pytest.raises(RequestRefused, match="already extended once, to 2026-04-20; the law "
                                             "allows one extension only"):
        dates.check_extension(request, D(2026, 4, 25), "more", D(2026, 3, 25), THIRTY)


def test_an_extension_past_day_30_is_refused() -> None:
    request = _request()
    with pytest.raises(RequestRefused) as refused:
        dates.check_extension(request, D(2026, 4, 20), "late", D(2026, 4, 1), THIRTY)
    words = str(refused.value)
    assert "past day 30" in words and "due on 2026-03-31" in words
    assert "too late" in words


def test_a_site_with_15_days_refuses_past_day_15() -> None:
    request = _request(settings=FIFTEEN)               # due 2026-03-16
    with pytest.raises(RequestRefused, match="past day 15"):
        dates.check_extension(request, D(2026, 3, 20), "late", D(2026, 3, 17), FIFTEEN)
    with pytest.raises(RequestRefused, match="at most 15 days: choose a date no later "
                                             "than 2026-03-31"):
        dates.check_extension(request, D(2026, 4, 1), "late", D(2026, 3, 10), FIFTEEN)


def test_too_long_an_extension_is_refused() -> None:
    with pytest.raises(RequestRefused, match="at most 30 days: choose a date no later than "
                                             "2026-04-30"):
        dates.check_extension(_request(), D(2026, 5, 1), "late", D(2026, 3, 10), THIRTY)


def test_an_extension_must_move_the_date_later() -> None:
    with pytest.raises(RequestRefused, match="must be after the due date"):
        dates.check_extension(_request(), D(2026, 3, 31), "late", D(2026, 3, 10), THIRTY)
    with pytest.raises(RequestRefused, match="give the date"):
        dates.check_extension(_request(), None, "late", D(2026, 3, 10), THIRTY)


@pytest.mark.parametrize("reason", ["", "   \n "])
def test_an_extension_needs_a_reason(reason: str) -> None:
    with pytest.raises(RequestRefused, match="write the reason for the delay"):
        dates.check_extension(_request(), D(2026, 4, 10), reason, D(2026, 3, 10), THIRTY)


def test_a_finished_request_is_not_extended() -> None:
    with pytest.raises(RequestRefused, match="nothing left to extend"):
        dates.check_extension(_request(state=RequestState.READY), D(2026, 4, 10), "x",
                              D(2026, 3, 10), THIRTY)


def test_extend_records_the_extension_and_its_history(tmp_path: Path) -> None:
    with Register(tmp_path / "db.sqlite") as reg:
        reg.add(_request(), "desk")
        done = dates.extend(reg, "RQ-2026-0001", D(2026, 4, 20), " archive moving ",
                            D(2026, 3, 20), THIRTY, "desk")
        assert done.due == D(2026, 4, 20)
        assert done.extension is not None
        assert (done.extension.reason, done.extension.original_due, done.extension.given,
                done.extension.by) == ("archive moving", D(2026, 3, 31), D(2026, 3, 20), "desk")
        assert dates.original_due(done) == D(2026, 3, 31)
        assert [e["event"] for e in reg.history("RQ-2026-0001")] == ["registered", "extended"]
        with pytest.raises(RequestRefused, match="already extended"):
            dates.extend(reg, "RQ-2026-0001", D(2026, 4, 25), "again", D(2026, 3, 21),
                         THIRTY, "desk")
        assert reg.get("RQ-2026-0001") == done


# --- fees -------------------------------------------------------------------------------------


def test_the_flat_fee(tmp_path: Path) -> None:
    settings = fees.fee_settings(_config(tmp_path))
    assert (settings.basis, settings.currency, settings.flat) == ("flat", "USD", Decimal("6.50"))
    fee = fees.fee_for("usb", "mail", settings)
    assert (fee.amount, fee.currency, fee.basis) == ("6.50", "USD", "flat")
    assert fee.items == (("flat fee, everything included", "6.50"),)


def test_the_fee_per_medium(tmp_path: Path) -> None:
    settings = fees.fee_settings(_config(tmp_path, '[fees]\nbasis = "per_medium"\n'
                                                   '[fees.per_medium]\nusb = 12.5\n'))
    assert fees.fee_for("usb", "pickup", settings).amount == "12.50"
    assert fees.fee_for("dvd", "pickup", settings).amount == "6.50"        # the default
    assert fees.fee_for("send", "portal", settings).amount == "0.00"


def test_the_actual_cost_in_exact_cents(tmp_path: Path) -> None:
    settings = fees.fee_settings(_config(tmp_path, (
        '[fees]\nbasis = "actual"\ncurrency = "eur"\n'
        '[fees.actual]\nlabour_per_hour = "12.34"\nlabour_minutes = 7\npostage = "1.55"\n'
        '[fees.actual.supplies]\ndvd = "0.605"\n')))
    fee = fees.fee_for("dvd", "mail", settings)
    # 12.34 * 7 / 60 = 1.43966... -> 1.44; 0.605 -> 0.61 (half up, not to even); + 1.55
    assert fee.items == (("labour, 7 minutes at 12.34 an hour", "1.44"),
                         ("supplies (DVD)", "0.61"), ("postage", "1.55"))
    assert (fee.amount, fee.currency, fee.basis) == ("3.60", "EUR", "actual")
    assert fees.fee_for("dvd", "pickup", settings).amount == "2.05"      # no postage
    half = fees.fee_settings(_config(tmp_path, '[fees]\nbasis = "actual"\n[fees.actual]\n'
                                               'labour_per_hour = "0.30"\nlabour_minutes = 1\n'
                                               '[fees.actual.supplies]\ncd = 0\n'))
    assert fees.fee_for("cd", "pickup", half).items[0][1] == "0.01"     # 0.005 -> 0.01


@pytest.mark.parametrize(("extra", "words"), [
    ('[fees]\nbasis = "hourly"\n', "basis must be one of flat, per_medium, actual"),
    ('[fees]\nflat = "-1"\n', "[fees] flat must be an amount from 0"),
    ('[fees]\nflat = "six"\n', "[fees] flat must be an amount such as"),
    ('[fees]\nflat = true\n', "[fees] flat must be an amount such as"),
    ('[fees]\ncurrency = "dollars"\n', "three-letter code"),
    ('[fees.per_medium]\nfloppy = "1.00"\n', "floppy, which is not a format"),
    ('[fees.actual]\nlabour_minutes = 1.5\n', "labour_minutes must be a whole number"),
    ('[fees]\nper_medium = 3\n', "[fees.per_medium] must be a table"),
])
def test_a_wrong_fee_schedule_is_said_plainly(tmp_path: Path, extra: str, words: str) -> None:
    with pytest.raises(ConfigError) as wrong:
        fees.fee_settings(_config(tmp_path, extra))
    assert words in str(wrong.value)


# --- the register -----------------------------------------------------------------------------


def test_the_register_round_trip(tmp_path: Path) -> None:
    with Register(tmp_path / "db.sqlite") as reg:
        assert reg.new_id(D(2026, 3, 1)) == "RQ-2026-0001"
        first = _request(requester=Requester("representative", "Ann Zanzibar", "daughter"),
                         scope=Scope((), D(2020, 1, 1), D(2026, 2, 28)), note="call first")
        assert reg.add(first, "desk") == first
        assert reg.new_id(D(2026, 3, 2)) == "RQ-2026-0002"
        assert reg.new_id(D(2027, 1, 2)) == "RQ-2027-0001"
        reg.link_job("RQ-2026-0001", "J1", "desk")
        got = reg.get("RQ-2026-0001")
        assert got == replace(first, jobs=("J1",))
        assert reg.request_of("J1") == "RQ-2026-0001"
        reg.set_state("RQ-2026-0001", RequestState.READY, "desk")
        assert [r.id for r in reg.all(("ready",))] == ["RQ-2026-0001"]
        assert [e["event"] for e in reg.history("RQ-2026-0001")] == ["registered", "job",
                                                                     "ready"]


# --- the letter -------------------------------------------------------------------------------


def test_the_extension_letter_says_the_reason_and_the_dates(tmp_path: Path) -> None:
    config = _config(tmp_path)
    with Register(config.db_path) as reg:
        reg.add(_request(), "desk")
        extended = dates.extend(reg, "RQ-2026-0001", D(2026, 4, 24),
                                "The older images are being moved to a new archive.",
                                D(2026, 3, 18), THIRTY, "desk")
    path = letters.write_extension_letter(config, extended)
    assert path == config.data_dir / "letters" / "RQ-2026-0001-extension.pdf"
    assert path.read_bytes().startswith(b"%PDF")
    text = flat(text_of(path))
    for words in ("Saint Example General Hospital", "12 Harbour Road", "Springfield 01234",
                  "Phone 555-0142", "Date: 2026-03-18", "Quentin Zanzibar", "RQ-2026-0001",
                  "Original due date 2026-03-31", "Expected date 2026-04-24",
                  "The older images are being moved to a new archive.",
                  "This is the one extension the law allows"):
        assert words in text, (words, text)
    with pytest.raises(ValueError, match="no extension"):
        letters.extension_letter(config, _request())


def test_a_long_reason_wraps_inside_the_page(tmp_path: Path) -> None:
    from pdftools import words

    config = _config(tmp_path)
    reason = " ".join(["Übertragung"] * 90)                   # 1000 characters, one word 90x
    request = _request(extension=Extension(reason[:1000], D(2026, 4, 20), time.time(), "desk",
                                           D(2026, 3, 31), D(2026, 3, 20)))
    path = tmp_path / "long.pdf"
    path.write_bytes(letters.extension_letter(config, request))
    found, pages = words(path)
    assert all(w.x0 >= 0 and w.x1 <= pages[w.page][0] for w in found)
    assert "Übertragung" in {w.text for w in found}


# --- the monthly records ----------------------------------------------------------------------


def _at(day: D, hour: int = 12) -> float:
    return datetime.datetime(day.year, day.month, day.day, hour).timestamp()


def _records(config) -> None:
    """Made-up requests of February to April 2026, with their history and copies."""
    StateDB(config.db_path).close()                           # the station's tables
    with Register(config.db_path) as reg:
        def add(rid: str, received: D, fmt: str, amount: str, state: RequestState,
                ready: D | None = None, handed: D | None = None, copies: int = 0,
                extended_to: D | None = None) -> None:
            request = _request(rid, received, format=fmt, state=state,
                               fee=Fee(amount, "USD", "flat"))
            if extended_to:
                request = replace(request, due=extended_to, extension=Extension(
                    "busy", extended_to, 0.0, "desk", request.due, received))
            reg.add(request, "desk")
            if copies:
                reg.link_job(rid, f"J-{rid}", "desk")
                with StateDB(config.db_path) as db:
                    for n in range(copies):
                        db.record_copy(f"J-{rid}", 1, n + 1, "drive0", "dvd", "0" * 64)
            if ready:
                reg.event(rid, "desk", "ready", at=_at(ready))
            if handed:
                reg.event(rid, "desk", "handed over", at=_at(handed))

        add("RQ-2026-0001", D(2026, 2, 27), "cd", "6.50", RequestState.HANDED_OVER,
            D(2026, 3, 3), D(2026, 3, 4), copies=1)            # February: not in March
        add("RQ-2026-0002", D(2026, 3, 2), "cd", "6.50", RequestState.HANDED_OVER,
            D(2026, 3, 12), D(2026, 3, 14), copies=2)          # 10 days
        add("RQ-2026-0003", D(2026, 3, 5), "usb", "10.00", RequestState.HANDED_OVER,
            handed=D(2026, 4, 14), copies=1)                   # 40 days: overdue
        add("RQ-2026-0004", D(2026, 3, 20), "dvd", "6.50", RequestState.READY,
            D(2026, 5, 1), copies=1, extended_to=D(2026, 5, 10))   # extended, in time
        add("RQ-2026-0005", D(2026, 3, 25), "electronic", "6.50", RequestState.OPEN)
        add("RQ-2026-0006", D(2026, 3, 31), "cd", "6.50", RequestState.CANCELLED)
        add("RQ-2026-0007", D(2026, 4, 2), "send", "0.00", RequestState.OPEN)


def test_the_monthly_csv_rows_and_totals(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _records(config)
    report = monthly.monthly(config, D(2026, 3, 1), D(2026, 3, 31), today=D(2026, 5, 3))
    text = monthly.to_csv(report)
    assert text.isascii()
    summary, requests = text.split("\r\n\r\n")
    table = list(csv.DictReader(io.StringIO(summary)))
    assert [r["month"] for r in table] == ["2026-03", "total"]
    march = table[0]
    assert march == table[1] | {"month": "2026-03"}
    assert march["received"] == "5"
    assert march["fulfilled"] == "2"
    assert (march["average days taken"], march["longest days taken"]) == ("30.7", "42")
    assert march["overdue"] == "2"                     # 0003 late; 0005 open past its due
    assert march["extended"] == "1"
    assert (march["fees charged"], march["currency"]) == ("29.50", "USD")   # 0006 cancelled
    assert [march[f] for f in ("cd", "dvd", "usb", "electronic", "send")] == \
        ["2", "1", "1", "1", "0"]
    assert march["media made"] == "4"
    rows = {r["request"]: r for r in csv.DictReader(io.StringIO(requests))}
    assert sorted(rows) == [f"RQ-2026-000{n}" for n in range(2, 7)]
    assert (rows["RQ-2026-0002"]["days taken"], rows["RQ-2026-0002"]["ready"],
            rows["RQ-2026-0002"]["handed over"]) == ("10", "2026-03-12", "2026-03-14")
    assert (rows["RQ-2026-0003"]["days taken"], rows["RQ-2026-0003"]["overdue"]) == ("40",
                                                                                    "yes")
    assert (rows["RQ-2026-0004"]["extended"], rows["RQ-2026-0004"]["overdue"],
            rows["RQ-2026-0004"]["due"]) == ("yes", "no", "2026-05-10")
    assert rows["RQ-2026-0006"]["fee"] == "0.00"
    for name in (FAMILY, GIVEN, MRN, BORN):
        assert name not in text


def test_a_period_of_several_months_and_an_empty_one(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _records(config)
    report = monthly.monthly(config, D(2026, 2, 1), D(2026, 4, 30), today=D(2026, 5, 3))
    assert [(m.month, m.received) for m in report.months] == [("2026-02", 1), ("2026-03", 5),
                                                              ("2026-04", 1)]
    assert report.total is not None and report.total.received == 7
    empty = monthly.monthly(config, D(2025, 1, 1), D(2025, 1, 31), today=D(2026, 5, 3))
    text = monthly.to_csv(empty)
    assert text.splitlines()[1].startswith("2025-01,0,0,,,0,0,0.00,")
    pdf = tmp_path / "empty.pdf"
    pdf.write_bytes(monthly.to_pdf(empty, config.institution))
    assert "No request was received in this period" in flat(text_of(pdf))
    full = tmp_path / "full.pdf"
    full.write_bytes(monthly.to_pdf(report, config.institution, "Letter"))
    words = flat(text_of(full))
    assert "RQ-2026-0007" in words and "Saint Example General Hospital" in words
    assert FAMILY not in words and MRN not in words


def test_a_fresh_station_without_copies_table_reports_none(tmp_path: Path) -> None:
    config = _config(tmp_path)
    with Register(config.db_path) as reg:
        reg.add(_request(), "desk")
    report = monthly.monthly(config, D(2026, 3, 1), D(2026, 3, 31), today=D(2026, 3, 5))
    assert report.requests[0].media_made == 0


# --- the work list and the board's summary ----------------------------------------------------


def test_the_work_list_sorts_by_days_left_and_filters(tmp_path: Path) -> None:
    with Register(tmp_path / "db.sqlite") as reg:
        reg.add(_request("RQ-2026-0001", D(2026, 3, 1)), "desk")                # due 03-31
        reg.add(_request("RQ-2026-0002", D(2026, 2, 1), format="usb"), "desk")  # due 03-03
        reg.add(_request("RQ-2026-0003", D(2026, 2, 20)), "desk")               # due 03-22
        reg.add(_request("RQ-2026-0004", D(2026, 2, 1),
                         state=RequestState.HANDED_OVER), "desk")
        today = D(2026, 3, 22)
        rows = worklist.work_list(reg, today)
        assert [(r.request.id, r.days_left) for r in rows] == [
            ("RQ-2026-0002", -19), ("RQ-2026-0003", 0), ("RQ-2026-0001", 9)]
        assert [r.overdue for r in rows] == [True, False, False]
        assert [r.due_today for r in rows] == [False, True, False]
        only = worklist.Filters.of(overdue="1")
        assert [r.request.id for r in worklist.work_list(reg, today, only)] == ["RQ-2026-0002"]
        usb = worklist.Filters.of(format="usb")
        assert [r.request.id for r in worklist.work_list(reg, today, usb)] == ["RQ-2026-0002"]
        every = worklist.Filters.of(state="all")
        assert len(worklist.work_list(reg, today, every)) == 4
        assert worklist.work_list(reg, today, every)[-1].request.id == "RQ-2026-0004"
        found = worklist.Filters.of(request_id="rq-2026-0003")
        assert [r.request.id for r in worklist.work_list(reg, today, found)] == ["RQ-2026-0003"]
        assert worklist.Filters.of(state="nonsense", format="floppy",
                                   request_id="Zanzibar Quentin") == worklist.Filters()
        summary = worklist.summary_of(worklist.work_list(reg, today, every))
        assert summary == worklist.DeskSummary(open=3, due_today=1, overdue=1, extended=0,
                                               ready=0)


def test_a_request_whose_jobs_are_all_done_is_ready(tmp_path: Path) -> None:
    """Its copies are made when the last of its jobs is done, even before anyone marks the
    request ready: not overdue when that was by its due date, flagged when not collected."""
    config = _config(tmp_path)
    with StateDB(config.db_path) as db:
        for job in ("J1", "J2", "J3"):
            db.add_job(job, "teststation")
        for job in ("J1", "J2"):
            db.set_state(job, JobState.DONE)
    con = sqlite3.connect(config.db_path)
    with con:
        con.execute("UPDATE jobs SET updated=? WHERE job_id='J1'", (_at(D(2026, 3, 20)),))
        con.execute("UPDATE jobs SET updated=? WHERE job_id='J2'", (_at(D(2026, 3, 25)),))
    con.close()
    with Register(config.db_path) as reg:
        reg.add(_request("RQ-2026-0001", state=RequestState.IN_PROGRESS), "desk")  # due 03-31
        reg.link_job("RQ-2026-0001", "J1", "desk")
        reg.link_job("RQ-2026-0001", "J2", "desk")
        reg.add(_request("RQ-2026-0002", state=RequestState.IN_PROGRESS), "desk")
        reg.link_job("RQ-2026-0002", "J3", "desk")                  # not done yet
        rows = {r.request.id: r for r in worklist.work_list(reg, D(2026, 4, 14))}
    assert (rows["RQ-2026-0001"].ready, rows["RQ-2026-0001"].overdue,
            rows["RQ-2026-0001"].waiting_days, rows["RQ-2026-0001"].flagged) == (
        True, False, 20, True)
    assert (rows["RQ-2026-0002"].ready, rows["RQ-2026-0002"].overdue) == (False, True)
    assert worklist.desk_summary(config, D(2026, 4, 14)).ready == 1
    report = monthly.monthly(config, D(2026, 3, 1), D(2026, 3, 31), today=D(2026, 4, 14))
    lines = {r.id: r for r in report.requests}
    assert (lines["RQ-2026-0001"].ready, lines["RQ-2026-0001"].days_taken,
            lines["RQ-2026-0001"].overdue) == (D(2026, 3, 25), 24, False)
    assert lines["RQ-2026-0002"].overdue


# --- the pages --------------------------------------------------------------------------------


TODAY = D(2026, 3, 10)


@pytest.fixture
def desk(station: StationDir):
    config, app = app_with_users(station)
    app.state.clock = dates.FixedClock(TODAY)
    return config, app


FORM = {"family_name": FAMILY, "given_name": GIVEN, "patient_id": MRN, "issuer": "GEN",
        "birth_date": BORN, "requester": "patient", "requester_name": "", "relationship": "",
        "scope": "exams", "exams": "ACC1 CT chest 2026-01-04", "date_from": "",
        "date_to": "", "format": "usb", "delivery": "mail", "received": "2026-03-02",
        "note": ""}


def _register(client, **changes: str) -> str:
    """Register through the form (check, then save); the new request's id."""
    csrf = _csrf(client.get("/requests/new").text)
    data = {**FORM, **changes, "csrf": csrf}
    checked = client.post("/requests/new", data={**data, "step": "check"})
    assert checked.status_code == 200, checked.text
    seen = re.search(r'name="fee_seen" value="([^"]+)"', checked.text)
    assert seen, checked.text
    saved = client.post("/requests/new", data={**data, "step": "save", "fee_seen": seen[1]})
    assert saved.status_code == 303, saved.text
    found = re.fullmatch(r"/requests/(RQ-\d{4}-\d{4})\?done=registered",
                         saved.headers["location"])
    assert found, saved.headers["location"]
    return found[1]


def test_register_through_the_form_seeing_the_fee_and_due_date_first(desk) -> None:
    config, app = desk
    client = sign_in(app, "desk")
    page = client.get("/requests/new")
    assert page.status_code == 200 and 'value="2026-03-10"' in page.text   # received: today
    csrf = _csrf(page.text)
    checked = client.post("/requests/new", data={**FORM, "csrf": csrf, "step": "check"})
    assert checked.status_code == 200
    assert re.search(r'id="check-fee">6\.50 USD<', checked.text)
    assert re.search(r'id="check-due">2026-04-01 \(22 days from today\)<', checked.text)
    with Register(config.db_path) as reg:
        assert reg.all() == [], "nothing is saved before the fee was shown"
    # Saving without the fee shown (or after the format changed) shows the fee again.
    unseen = client.post("/requests/new", data={**FORM, "csrf": csrf, "step": "save"})
    assert unseen.status_code == 409 and "The fee has changed" in unseen.text
    with Register(config.db_path) as reg:
        assert reg.all() == []
    request_id = _register(client)
    assert request_id == "RQ-2026-0001"
    page = client.get(f"/requests/{request_id}?done=registered")
    assert page.status_code == 200
    assert "The request is registered." in page.text
    assert re.search(r'id="fee">6\.50 USD', page.text)
    assert '<dd id="due">2026-04-01' in page.text
    assert '<dd id="days-left" class="">22</dd>' in page.text
    assert f'href="/requests/{request_id}/images">Attach images and approve</a>' in page.text
    with Register(config.db_path) as reg:
        saved = reg.get(request_id)
    assert (saved.patient.name, saved.patient.id, saved.received, saved.due, saved.format,
            saved.delivery, saved.fee.amount, saved.created_by) == (
        f"{FAMILY}^{GIVEN}", MRN, D(2026, 3, 2), D(2026, 4, 1), "usb", "mail", "6.50", "desk")
    with Users(config.db_path) as users:
        (row,) = [r for r in users.actions() if r["action"] == "request register"]
    assert (row["user"], row["job_id"], row["outcome"], row["detail"]) == (
        "desk", "", "ok", request_id)


WRONG_FORMS = [
    ({"family_name": ""}, "Give the patient&#39;s family name."),
    ({"birth_date": "1970-02-30"}, "is not a date"),
    ({"received": "2026-03-11"}, "The date received cannot be in the future."),
    ({"requester": "representative", "requester_name": "Ann"}, "their relationship"),
    ({"requester": "third party"}, "give the name of the person or hospital"),
    ({"exams": ""}, "List the exams asked for"),
    ({"scope": "range", "date_from": "2026-01-05", "date_to": "2025-01-01"},
     "is before the first"),
    ({"format": "floppy"}, "Choose the format asked for."),
    ({"delivery": "portal"}, "Only an electronic copy can go through the patient portal"),
    ({"family_name": "DOE^JOHN"}, "may not have the characters"),
]


def test_the_form_says_what_to_fix(desk) -> None:
    config, app = desk
    client = sign_in(app, "desk")
    csrf = _csrf(client.get("/requests/new").text)
    for changes, words in WRONG_FORMS:
        answer = client.post("/requests/new", data={**FORM, **changes, "csrf": csrf,
                                                    "step": "save", "fee_seen": "6.50 USD"})
        assert answer.status_code == 400, changes
        assert words in answer.text, (changes, words)
        assert f'value="{MRN}"' in answer.text            # what was typed is shown again
    with Register(config.db_path) as reg:
        assert reg.all() == []


def test_the_work_list_by_days_left_with_the_clock(desk) -> None:
    config, app = desk
    with Register(config.db_path) as reg:
        for rid, received, fmt in (("RQ-2026-0001", D(2026, 3, 5), "cd"),    # due 04-04
                                   ("RQ-2026-0002", D(2026, 2, 1), "usb"),   # due 03-03
                                   ("RQ-2026-0003", D(2026, 2, 15), "cd")):  # due 03-17
            reg.add(_request(rid, received, format=fmt), "desk")
        dates.extend(reg, "RQ-2026-0003", D(2026, 4, 1), "archive", D(2026, 3, 1), THIRTY,
                     "desk")
        reg.add(_request("RQ-2026-0004", D(2026, 1, 2), state=RequestState.HANDED_OVER),
                "desk")
    client = sign_in(app, "desk")

    def listed(url: str = "/requests") -> list[str]:
        page = client.get(url)
        assert page.status_code == 200
        return re.findall(r'<tr id="request-(RQ-[\d-]+)"', page.text)

    assert listed() == ["RQ-2026-0002", "RQ-2026-0003", "RQ-2026-0001"]
    page = client.get("/requests").text
    overdue = re.search(r'<tr id="request-RQ-2026-0002" class="overdue">(.*?)</tr>', page,
                        re.S)
    assert overdue and "overdue by 7 days" in overdue[1]
    extended = re.search(r'<tr id="request-RQ-2026-0003" class="extended">(.*?)</tr>', page,
                         re.S)
    assert extended and ">extended<" in extended[1] and "overdue" not in extended[1]
    assert 'class="days-left">22<' in page            # 0003 due 04-01 after its extension
    # Later, by the clock: 0003 passes its extended date and is overdue too.
    app.state.clock = dates.FixedClock(D(2026, 4, 3))
    assert listed() == ["RQ-2026-0002", "RQ-2026-0003", "RQ-2026-0001"]
    assert listed("/requests?overdue=1") == ["RQ-2026-0002", "RQ-2026-0003"]
    assert listed("/requests?format=usb") == ["RQ-2026-0002"]
    assert listed("/requests?state=handed+over") == ["RQ-2026-0004"]
    assert listed("/requests?state=all")[-1] == "RQ-2026-0004"
    assert listed("/requests?q=0001") == ["RQ-2026-0001"]
    assert listed("/requests?q=<b>") == listed()       # not a request id: no filter
    board = client.get("/board").text
    summary = re.search(r'<section id="desk-summary".*?</section>', board, re.S)
    assert summary, board
    assert re.sub(r"<[^>]+>", " ", summary[0]).split() == [
        "Requests", "today", "open", "3", "due", "today", "0", "overdue", "2", "extended", "1",
        "ready", "for", "hand-over", "0", "the", "work", "list"]


def test_a_technician_may_not_use_the_desk(desk) -> None:
    config, app = desk
    tech = sign_in(app, "tech")
    for url in ("/requests", "/requests/new", "/requests/RQ-2026-0001", "/reports",
                "/reports/monthly.csv", "/requests/RQ-2026-0001/letter.pdf"):
        assert tech.get(url).status_code == 403, url
    csrf = _csrf(tech.get("/board").text)
    assert tech.post("/requests/new", data={**FORM, "csrf": csrf,
                                            "step": "check"}).status_code == 403
    assert tech.post("/requests/RQ-2026-0001/extend",
                     data={"csrf": csrf, "reason": "x", "new_due": "2026-04-01"}
                     ).status_code == 403
    board = tech.get("/board").text
    assert "desk-summary" not in board and 'href="/requests"' not in board
    assert _client(app).get("/requests").headers["location"] == "/signin"
    desk_board = sign_in(app, "desk").get("/board").text
    assert 'href="/requests">Requests</a>' in desk_board
    assert 'href="/reports">Reports</a>' in desk_board


def test_csrf_is_refused(desk) -> None:
    config, app = desk
    client = sign_in(app, "desk")
    request_id = _register(client)
    for url, data in (("/requests/new", {**FORM, "step": "save", "fee_seen": "6.50 USD"}),
                      (f"/requests/{request_id}/extend",
                       {"reason": "busy", "new_due": "2026-04-10"})):
        for token in ("", "forged"):
            answer = client.post(url, data={**data, "csrf": token})
            assert answer.status_code == 403 and "CSRF" in answer.text
    with Register(config.db_path) as reg:
        assert len(reg.all()) == 1 and reg.get(request_id).extension is None


def test_the_extension_and_its_letter_through_the_pages(desk, tmp_path: Path) -> None:
    config, app = desk
    client = sign_in(app, "desk")
    request_id = _register(client)                        # received 03-02, due 04-01
    page = client.get(f"/requests/{request_id}").text
    assert f'action="/requests/{request_id}/extend"' in page
    assert 'min="2026-04-02" max="2026-05-01"' in page
    csrf = _csrf(page)
    too_long = client.post(f"/requests/{request_id}/extend",
                           data={"csrf": csrf, "reason": "busy", "new_due": "2026-05-02"})
    assert too_long.status_code == 409
    assert "no later than 2026-05-01" in too_long.text
    assert "busy</textarea>" in too_long.text             # kept for the next try
    done = client.post(f"/requests/{request_id}/extend",
                       data={"csrf": csrf, "reason": "The CD writer is being repaired.",
                             "new_due": "2026-04-20"})
    assert done.status_code == 303
    assert done.headers["location"] == f"/requests/{request_id}?done=extended"
    page = client.get(done.headers["location"]).text
    assert "The extension is recorded." in page and 'id="letter"' in page
    assert f'action="/requests/{request_id}/extend"' not in page     # no second form
    letter = client.get(f"/requests/{request_id}/letter.pdf")
    assert letter.status_code == 200
    assert letter.headers["content-type"] == "application/pdf"
    assert letter.headers["content-disposition"] == \
        f'attachment; filename="{request_id}-extension.pdf"'
    pdf = tmp_path / "letter.pdf"
    pdf.write_bytes(letter.content)
    text = flat(text_of(pdf))
    assert "The CD writer is being repaired." in text
    assert "Expected date 2026-04-20" in text and "Original due date 2026-04-01" in text
    assert request_id in text and "Date: 2026-03-10" in text
    again = client.post(f"/requests/{request_id}/extend",
                        data={"csrf": csrf, "reason": "more", "new_due": "2026-04-25"})
    assert again.status_code == 409 and "one extension only" in again.text
    with Users(config.db_path) as users:
        rows = [(r["action"], r["outcome"], r["job_id"], r["detail"].split(":")[0])
                for r in users.actions() if r["action"].startswith("request")]
    assert rows[::-1] == [("request register", "ok", "", request_id),
                          ("request extend", "refused", "", request_id),
                          ("request extend", "ok", "", request_id),
                          ("request letter", "ok", "", request_id),
                          ("request extend", "refused", "", request_id)]
    assert client.get("/requests/RQ-2026-0099/letter.pdf").status_code == 404


def test_an_extension_past_day_30_is_refused_on_the_page(desk) -> None:
    config, app = desk
    client = sign_in(app, "desk")
    request_id = _register(client, received="2026-01-30")     # due 2026-03-01: passed
    page = client.get(f"/requests/{request_id}").text
    assert "past day 30" in page and "extend\"" not in page.split("<h2>History")[0]
    csrf = _csrf(page)
    answer = client.post(f"/requests/{request_id}/extend",
                         data={"csrf": csrf, "reason": "busy", "new_due": "2026-03-20"})
    assert answer.status_code == 409
    assert f"Request {request_id} is past day 30" in answer.text
    with Register(config.db_path) as reg:
        assert reg.get(request_id).extension is None


def test_injected_markup_is_shown_as_text(desk) -> None:
    config, app = desk
    client = sign_in(app, "desk")
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    request_id = _register(client, family_name="O'Brien <b>x</b>",
                           given_name="<script>alert(1)</script>",
                           note=evil, exams=evil, requester="third party",
                           requester_name=evil)
    for url in (f"/requests/{request_id}", "/requests"):
        page = client.get(url).text
        assert "<script>alert" not in page and "<img src=x" not in page and "<b>x" not in page
        assert "&lt;script&gt;alert(1)" in page
    csrf = _csrf(client.get(f"/requests/{request_id}").text)
    client.post(f"/requests/{request_id}/extend",
                data={"csrf": csrf, "reason": evil, "new_due": "2026-04-05"})
    page = client.get(f"/requests/{request_id}").text
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_no_patient_data_in_urls_logs_or_the_action_log(desk, caplog) -> None:
    config, app = desk
    caplog.set_level(logging.DEBUG)
    client = sign_in(app, "desk")
    urls = []
    client.event_hooks["request"].append(lambda r: urls.append(str(r.url)))
    request_id = _register(client, requester="representative", requester_name="Ann Zanzibar",
                           relationship="daughter")
    csrf = _csrf(client.get(f"/requests/{request_id}").text)
    client.post(f"/requests/{request_id}/extend",
                data={"csrf": csrf, "reason": "busy", "new_due": "2026-04-05"})
    client.get(f"/requests/{request_id}/letter.pdf")
    page = client.get("/requests").text
    urls += re.findall(r'(?:href|action)="([^"]+)"', page)
    urls += re.findall(r'(?:href|action)="([^"]+)"', client.get(f"/requests/{request_id}").text)
    client.get("/reports/monthly.csv?from=2026-03-01&to=2026-03-31")
    with Users(config.db_path) as users:
        actions = [" ".join(str(v) for v in tuple(r)) for r in users.actions()]
    logged = [r.getMessage() for r in caplog.records]
    secrets = (FAMILY, GIVEN, MRN, BORN, "daughter", "busy")
    for where, texts in (("URLs", urls), ("the action log", actions), ("the log", logged)):
        for text in texts:
            for secret in secrets:
                assert secret.lower() not in text.lower(), (where, secret, text)
    assert any(request_id in a for a in actions)


def test_the_monthly_report_pages(desk) -> None:
    config, app = desk
    client = sign_in(app, "desk")
    request_id = _register(client)
    page = client.get("/reports")
    assert page.status_code == 200
    assert 'value="2026-03-01"' in page.text and 'value="2026-03-31"' in page.text
    assert "monthly.csv?from=2026-03-01&amp;to=2026-03-31" in page.text
    answer = client.get("/reports/monthly.csv?from=2026-03-01&to=2026-03-31")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"] == \
        'attachment; filename="requests-2026-03-01-to-2026-03-31.csv"'
    assert f"\r\n{request_id},2026-03-02,2026-04-01,open,patient,usb,mail,no,no" in answer.text
    assert client.get("/reports/monthly.csv?from=2026-02-01&to=2026-02-28").text.count(
        "RQ-") == 0
    pdf = client.get("/reports/monthly.pdf?from=2026-03-01&to=2026-03-31")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    for bad in ("from=2026-03-31&to=2026-03-01", "from=yesterday", "from=2000-01-01"):
        assert client.get(f"/reports?{bad}").status_code == 400, bad
        assert client.get(f"/reports/monthly.csv?{bad}").status_code == 400, bad
    assert sign_in(app, "boss").get("/reports").status_code == 200


def test_a_request_whose_jobs_are_all_done_becomes_ready_dated_by_its_last_job(
        tmp_path: Path) -> None:
    config = _config(tmp_path)
    with StateDB(config.db_path) as db:
        for job_id in ("J1", "J2"):
            db.add_job(job_id, "teststation")
        db.set_state("J1", JobState.DONE)
    with Register(config.db_path) as reg:
        reg.add(_request(state=RequestState.IN_PROGRESS), "desk")
        for job_id in ("J1", "J2"):
            reg.link_job("RQ-2026-0001", job_id, "desk")
        assert reg.get("RQ-2026-0001").state == RequestState.IN_PROGRESS   # J2 still runs
    with StateDB(config.db_path) as db:
        db.set_state("J2", JobState.DONE)
        finished = db.get("J2").updated
    with Register(config.db_path) as reg:
        assert reg.get("RQ-2026-0001").state == RequestState.READY
        (ready,) = [e for e in reg.history("RQ-2026-0001") if e["event"] == "ready"]
        assert ready["at"] == finished and "J1, J2" in ready["detail"]
        assert reg.mark_ready() == [], "once only"


def test_the_boards_desk_summary_follows_live_for_the_desk_only(desk) -> None:
    config, app = desk
    client = sign_in(app, "desk")
    _register(client)
    with client.stream("GET", "/board/events") as response:
        first = next(line for line in response.iter_lines() if line.startswith("data:"))
    summary = json.loads(first[len("data:"):])["desk"]
    assert summary["open"] == 1 and set(summary) == {"open", "due_today", "overdue",
                                                     "extended", "ready"}
    tech = sign_in(app, "tech")
    with tech.stream("GET", "/board/events") as response:
        first = next(line for line in response.iter_lines() if line.startswith("data:"))
    assert json.loads(first[len("data:"):])["desk"] is None
