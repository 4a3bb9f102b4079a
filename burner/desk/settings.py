"""`[desk]` of the station configuration: the front desk's rules (due days, four eyes, where
exported folders are dropped, when an unclaimed disc is flagged) and its letterhead."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from burner.config import Config
from burner.errors import ConfigError

LEGAL_MAX_DAYS = 30      # 45 CFR 164.524: act within 30 days; one extension of at most 30 more


@dataclass(frozen=True)
class DeskSettings:
    due_days: int                 # days from receipt to the due date (at most 30)
    extension_days: int           # the longest extension (at most 30)
    four_eyes: bool               # a second person must approve a job
    intake_dir: Path              # exported folders are dropped here, one per request
    handover_flag_days: int       # a finished job not handed over after this many days is flagged


def _int(table: dict, key: str, default: int, low: int, high: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"[desk] {key} must be a whole number from {low} to {high}, "
                          f"not {value!r}")
    return value


def desk_settings(config: Config) -> DeskSettings:
    """The [desk] table, checked; ConfigError names what is wrong."""
    desk = config.raw.get("desk", {})
    if not isinstance(desk, dict):
        raise ConfigError("[desk] must be a table")
    four_eyes = desk.get("four_eyes", False)
    if not isinstance(four_eyes, bool):
        raise ConfigError("[desk] four_eyes must be true or false")
    intake = Path(str(desk.get("intake_dir", "intake")))
    return DeskSettings(
        due_days=_int(desk, "due_days", LEGAL_MAX_DAYS, 1, LEGAL_MAX_DAYS),
        extension_days=_int(desk, "extension_days", LEGAL_MAX_DAYS, 1, LEGAL_MAX_DAYS),
        four_eyes=four_eyes,
        intake_dir=intake if intake.is_absolute() else config.data_dir / intake,
        handover_flag_days=_int(desk, "handover_flag_days", 14, 1, 365))
