"""Station configuration: one TOML file, or the embedded default (DESIGN.md section 5)."""

from __future__ import annotations

import os
import socket
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from burner.dicom.parse import MB, Limits
from burner.errors import ConfigError

MEDIA_TYPES = ("cd", "dvd", "dvd-dl", "bd", "usb", "iso")


@dataclass(frozen=True)
class DriveConfig:
    """One writer: an optical drive (`/dev/sr0`) or an xorriso `stdio:` file."""

    name: str
    device: str
    media: str = "dvd"
    auto_load_blank: bool = False
    capacity_mb: int | None = None   # e.g. 650 for 74-minute CD-Rs; else the medium's standard
    # A disc publisher driven through its vendor software's hot folder (media/robot.py):
    robot: str = ""                  # "epson" (TD Bridge) or "primera" (PTBurn); "" a drive
    robot_path: str = ""             # `device` as the robot's PC sees it (C:\\..., \\\\PC\\share)
    publisher: str = ""              # TD Bridge PUBLISHER / PTBurn RobotName
    label_design: str = ""           # the site's label design file, as the robot's PC sees it
    poll_seconds: float = 1.0        # how often the robot's status files are read
    timeout_minutes: float = 120.0   # a robot job silent this long is a fault
    out_stacker: str = ""            # TD Bridge OUT_STACKER (which stacker takes the discs)
    priority: str = ""               # TD Bridge PRIORITY

    @property
    def is_stdio(self) -> bool:
        return self.device.startswith("stdio:")


@dataclass(frozen=True)
class Config:
    """Everything a station needs to know, with paths already made absolute."""

    station_id: str
    data_dir: Path
    spool_dir: Path
    rescan_seconds: float
    institution: dict[str, str]
    max_attempts: int
    retry_delay_seconds: float
    keep_work: bool
    drives: tuple[DriveConfig, ...]
    media_dir: Path
    images_dir: Path
    printing: dict[str, str]
    xorriso: str
    limits: Limits = field(default_factory=Limits)
    default_issuer: str = ""                 # the issuer of this site's own patient IDs
    issuer_aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    group_access: bool = False               # [files]: the station's group may read its files
    retention_days: float = 7.0              # [retention]: 0 keeps everything
    log_file: Path | None = None             # [logging]: None = console only
    log_level: str = "info"
    quiet_seconds: float = 10.0              # [spool]: a job folder this long unchanged is whole
    incomplete_seconds: float = 120.0        # [spool]: ...and this long still short: rejected
    silent_seconds: float = 120.0            # [spool]: a station unheard this long is stopped
    source: str = "embedded default"
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "burner.sqlite"

    @property
    def spool_is_local(self) -> bool:
        """The spool lies in the data folder: burner may make it. One elsewhere (a share)
        must already be a spool, or be made by `burner init`."""
        return self.spool_dir.is_relative_to(self.data_dir)

    @property
    def work_dir(self) -> Path:
        return self.data_dir / "work"


def default_data_dir() -> Path:
    env = os.environ.get("BURNER_HOME")
    if env:
        return Path(env).expanduser().resolve()
    return (Path.home() / ".local" / "share" / "burner").resolve()


def _embedded() -> dict:
    text = resources.files("burner").joinpath("default.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _resolve(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path)


def _number(section: dict, key: str, default: float, where: str, kind: type = float) -> float:
    """A number setting, or ConfigError naming it (never a Python traceback)."""
    try:
        value = kind(section.get(key, default))
    except (TypeError, ValueError, OverflowError):
        value = None
    if value is None or value != value or value < 0:      # NaN, negative
        whole = "a whole number" if kind is int else "a number"
        raise ConfigError(f"configuration: {where} {key} must be {whole} of 0 or more")
    return value


ROBOTS = ("epson", "primera")
_ROBOT_KEYS = {"robot", "robot_path", "publisher", "label_design", "poll_seconds",
               "timeout_minutes", "out_stacker", "priority"}


def _drive(base: Path, item: dict) -> DriveConfig:
    unknown = set(item) - {"name", "device", "media", "auto_load_blank", "capacity_mb",
                           *_ROBOT_KEYS}
    if unknown:
        raise ConfigError(f"configuration: unknown drive setting(s) {sorted(unknown)}")
    device = str(item.get("device", ""))
    if not device:
        raise ConfigError("configuration: every [[drives]] entry needs a device")
    media = str(item.get("media", "dvd"))
    robot = str(item.get("robot", ""))
    if robot:
        if robot not in ROBOTS:
            raise ConfigError(f"configuration: a drive's robot must be one of "
                              f"{', '.join(ROBOTS)}")
        if media not in ("cd", "dvd", "dvd-dl", "bd"):
            raise ConfigError("configuration: a disc robot's media must be cd, dvd, dvd-dl or "
                              "bd")
        folder = str(_resolve(base, device))
        return DriveConfig(
            name=str(item.get("name", robot)), device=folder, media=media,
            capacity_mb=int(_number(item, "capacity_mb", 0, "[[drives]]", int))
            if "capacity_mb" in item else None,
            robot=robot, robot_path=str(item.get("robot_path", "")) or folder,
            publisher=str(item.get("publisher", "")),
            label_design=str(item.get("label_design", "")),
            poll_seconds=_number(item, "poll_seconds", 1.0, "[[drives]]") or 1.0,
            timeout_minutes=_number(item, "timeout_minutes", 120.0, "[[drives]]") or 120.0,
            out_stacker=str(item.get("out_stacker", "")),
            priority=str(item.get("priority", "")))
    if set(item) & _ROBOT_KEYS:
        raise ConfigError("configuration: robot settings need robot = \"epson\" or "
                          "\"primera\" in the same [[drives]] entry")
    if device.startswith("stdio:"):
        device = "stdio:" + str(_resolve(base, device[len("stdio:"):]))
    elif media == "usb" and device != "auto":
        device = str(_resolve(base, device))   # a /dev path, or a file standing in for a stick
    if media not in MEDIA_TYPES:
        raise ConfigError(f"configuration: drive media must be one of {', '.join(MEDIA_TYPES)}")
    return DriveConfig(
        name=str(item.get("name", device)),
        device=device,
        media=media,
        auto_load_blank=bool(item.get("auto_load_blank", False)),
        capacity_mb=int(_number(item, "capacity_mb", 0, "[[drives]]", int))
        if "capacity_mb" in item else None,
    )


def _limits(section: dict) -> Limits:
    """[limits]: the largest element and inflated data set one input may have, in MB."""
    try:
        return Limits(max_element_bytes=int(section.get("max_element_mb", 4096)) * MB,
                      max_inflated_bytes=int(section.get("max_inflated_mb", 512)) * MB)
    except (TypeError, ValueError):
        raise ConfigError("configuration: [limits] values must be whole numbers of MB") \
            from None


def _logging(base: Path, section: dict) -> tuple[Path | None, str]:
    level = str(section.get("level", "info")).lower()
    if level not in ("debug", "info", "warning"):
        raise ConfigError("configuration: [logging] level must be debug, info or warning")
    name = str(section.get("file", "")).strip()
    return (_resolve(base, name) if name else None), level


def _retention_days(section: dict) -> float:
    try:
        days = float(section.get("days", 7))
    except (TypeError, ValueError):
        days = -1.0
    if not days >= 0:
        raise ConfigError("configuration: [retention] days must be a number of days, "
                          "0 to keep everything")
    return days


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Load `path`, else $BURNER_CONFIG, else /etc/burner/burner.toml, else the embedded default.

    A file only needs the settings it changes; the rest come from the embedded default.
    """
    data = _embedded()
    source = "embedded default"
    candidates = [path, os.environ.get("BURNER_CONFIG")]
    chosen = next((c for c in candidates if c), None)
    if chosen is None and Path("/etc/burner/burner.toml").is_file():
        chosen = "/etc/burner/burner.toml"
    if chosen is not None:
        try:
            text = Path(chosen).read_text(encoding="utf-8")
            data = _merge(data, tomllib.loads(text))
        except FileNotFoundError as exc:
            raise ConfigError(f"configuration file {chosen} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"configuration file {chosen} is not valid TOML: {exc}") from exc
        source = str(chosen)

    station = data.get("station", {})
    data_dir = _resolve(Path("/"), str(station["data_dir"])) if "data_dir" in station \
        else default_data_dir()
    spool = data.get("spool", {})
    job = data.get("job", {})
    output = data.get("output", {})
    log_file, log_level = _logging(data_dir, data.get("logging", {}))
    return Config(
        station_id=str(station.get("id") or socket.gethostname()),
        data_dir=data_dir,
        spool_dir=_resolve(data_dir, str(spool.get("path", "spool"))),
        rescan_seconds=_number(spool, "rescan_seconds", 5.0, "[spool]"),
        quiet_seconds=_number(spool, "quiet_seconds", 10.0, "[spool]"),
        incomplete_seconds=_number(spool, "incomplete_seconds", 120.0, "[spool]"),
        silent_seconds=_number(spool, "silent_seconds", 120.0, "[spool]"),
        institution={k: str(v) for k, v in data.get("institution", {}).items()},
        max_attempts=int(_number(job, "max_attempts", 3, "[job]", int)),
        retry_delay_seconds=_number(job, "retry_delay_seconds", 2.0, "[job]"),
        keep_work=bool(job.get("keep_work", False)),
        drives=tuple(_drive(data_dir, d) for d in data.get("drives", [])),
        media_dir=_resolve(data_dir, str(output.get("media_dir", "media"))),
        images_dir=_resolve(data_dir, str(output.get("images_dir", "images"))),
        printing={k: str(v) for k, v in data.get("printing", {}).items()},
        xorriso=str(data.get("tools", {}).get("xorriso", "xorriso")),
        limits=_limits(data.get("limits", {})),
        default_issuer=str(data.get("identity", {}).get("default_issuer", "")).strip(),
        issuer_aliases={str(k): tuple(str(a) for a in v) for k, v in
                        data.get("identity", {}).get("issuer_aliases", {}).items()},
        group_access=bool(data.get("files", {}).get("group_access", False)),
        retention_days=_retention_days(data.get("retention", {})),
        log_file=log_file,
        log_level=log_level,
        source=source,
        raw=data,
    )
