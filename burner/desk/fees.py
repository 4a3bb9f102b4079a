"""The fee for a copy, from the `[fees]` schedule of the station configuration, shown to the
requester before anything is made (45 CFR 164.524(c)(4); STANDARDS.md: a reasonable,
cost-based fee, disclosed in advance; HHS allows actual cost, a schedule of average costs per
medium, or a flat fee).

    [fees]
    basis = "flat"            # flat | per_medium | actual
    currency = "USD"
    flat = "6.50"
    [fees.per_medium]         # basis = "per_medium": one amount per format asked for
    cd = "6.50"
    ...
    [fees.actual]             # basis = "actual": the cost items of each request
    labour_per_hour = "30.00"
    labour_minutes = 10       # minutes of a person's work per request
    postage = "1.50"          # added when the copy is mailed
    [fees.actual.supplies]    # the medium itself
    cd = "0.40"
    ...

Amounts are decimal text ("6.50") or numbers; sums are exact (Decimal) and rounded half up
to cents.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from burner.config import Config
from burner.desk.register import DELIVERIES, FORMATS, Fee
from burner.errors import ConfigError

BASES = ("flat", "per_medium", "actual")
BASIS_WORDS = {"flat": "flat fee", "per_medium": "fee per medium", "actual": "actual cost"}
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("100000")
FORMAT_WORDS = {"cd": "CD", "dvd": "DVD", "usb": "USB stick", "electronic": "electronic copy",
                "send": "sending to another hospital"}
DEFAULT_PER_MEDIUM = {"cd": "6.50", "dvd": "6.50", "usb": "10.00", "electronic": "6.50",
                      "send": "0.00"}
DEFAULT_SUPPLIES = {"cd": "0.40", "dvd": "0.60", "usb": "4.00", "electronic": "0.00",
                    "send": "0.00"}


@dataclass(frozen=True)
class FeeSettings:
    basis: str
    currency: str
    flat: Decimal
    per_medium: dict[str, Decimal]
    labour_per_hour: Decimal
    labour_minutes: int
    supplies: dict[str, Decimal]
    postage: Decimal


def money(value: Decimal) -> str:
    """Decimal -> "6.50" (two places, half up)."""
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def _amount(where: str, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f"{where} must be an amount such as \"6.50\", not {value!r}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ConfigError(f"{where} must be an amount such as \"6.50\", not {value!r}") from None
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
        raise ConfigError(f"{where} must be an amount from 0 to {MAX_AMOUNT}, not {value!r}")
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _table(parent: dict, key: str, where: str) -> dict:
    value = parent.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table")
    return value


def _per_format(table: dict, where: str, defaults: dict[str, str]) -> dict[str, Decimal]:
    unknown = sorted(set(table) - set(FORMATS))
    if unknown:
        raise ConfigError(f"{where} has {', '.join(unknown)}, which is not a format; the "
                          f"formats are {', '.join(FORMATS)}")
    return {f: _amount(f"{where} {f}", table.get(f, defaults[f])) for f in FORMATS}


def fee_settings(config: Config) -> FeeSettings:
    """The [fees] table, checked; ConfigError names what is wrong."""
    fees = _table(config.raw, "fees", "[fees]")
    basis = fees.get("basis", "flat")
    if basis not in BASES:
        raise ConfigError(f"[fees] basis must be one of {', '.join(BASES)}, not {basis!r}")
    currency = fees.get("currency", "USD")
    if not isinstance(currency, str) or not (currency.isascii() and currency.isalpha()
                                             and len(currency) == 3):
        raise ConfigError(f"[fees] currency must be a three-letter code such as \"USD\", "
                          f"not {currency!r}")
    actual = _table(fees, "actual", "[fees.actual]")
    minutes = actual.get("labour_minutes", 10)
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 0 <= minutes <= 6000:
        raise ConfigError(f"[fees.actual] labour_minutes must be a whole number of minutes "
                          f"from 0 to 6000, not {minutes!r}")
    return FeeSettings(
        basis=basis, currency=currency.upper(),
        flat=_amount("[fees] flat", fees.get("flat", "6.50")),
        per_medium=_per_format(_table(fees, "per_medium", "[fees.per_medium]"),
                               "[fees.per_medium]", DEFAULT_PER_MEDIUM),
        labour_per_hour=_amount("[fees.actual] labour_per_hour",
                                actual.get("labour_per_hour", "30.00")),
        labour_minutes=minutes,
        supplies=_per_format(_table(actual, "supplies", "[fees.actual.supplies]"),
                             "[fees.actual.supplies]", DEFAULT_SUPPLIES),
        postage=_amount("[fees.actual] postage", actual.get("postage", "1.50")))


def fee_for(format: str, delivery: str, settings: FeeSettings) -> Fee:
    """The fee for a copy in `format` delivered by `delivery`, with its items."""
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}")
    if delivery not in DELIVERIES:
        raise ValueError(f"unknown delivery {delivery!r}")
    if settings.basis == "flat":
        items = [("flat fee, everything included", settings.flat)]
    elif settings.basis == "per_medium":
        items = [(f"fee for a copy as {FORMAT_WORDS[format]}", settings.per_medium[format])]
    else:
        labour = settings.labour_per_hour * settings.labour_minutes / 60
        items = [(f"labour, {settings.labour_minutes} minutes at {money(settings.labour_per_hour)}"
                  f" an hour", labour.quantize(CENT, rounding=ROUND_HALF_UP)),
                 (f"supplies ({FORMAT_WORDS[format]})", settings.supplies[format])]
        if delivery == "mail":
            items.append(("postage", settings.postage))
    total = sum((amount for _, amount in items), Decimal(0))
    return Fee(amount=money(total), currency=settings.currency,
               basis=settings.basis,
               items=tuple((what, money(amount)) for what, amount in items))
