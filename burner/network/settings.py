"""The network settings: `[dicom]` (the listener and the calling AEs it serves), `[pacs.NAME]`
(where images are fetched from) and `[destinations.NAME]` (hospitals images are sent to).

    [dicom]
    enabled = true            # `burner run` starts the listener (`burner dicom` always does)
    ae_title = "BURNER"
    port = 11112
    bind = "0.0.0.0"          # default: 127.0.0.1 (only this machine)
    min_free_mb = 2048        # refuse to store when the data disk has less free
    max_object_mb = 512       # the largest single object a peer may send
    arrival_seconds = 600     # an initiated media creation request waits this long for its
                              # instances; those still missing then fail it (NO_INSTANCE)

    [dicom.peers.RIS]         # a calling AE title; every other one is rejected at association
    may = ["echo", "store", "mcm"]
    approve = "at-once"       # MCM requests are released at once (the RIS did the release
                              # workflow), or "desk": they wait in pending/ for the front desk
    host = "10.1.2.3"         # optional: only from this address

    [pacs.main]
    ae_title = "PACS"
    host = "10.1.2.4"
    port = 104
    retrieve = "c-get"        # "c-get", "c-move" (to this station's listener) or "dicomweb"
    url = "http://10.1.2.4:8042/dicom-web"   # for "dicomweb"

    [destinations.stmarys]
    ae_title = "STMARYS"
    host = "10.9.8.7"
    port = 104
    commitment = true         # ask for storage commitment (the destination must support it)
    send = "c-store"          # or "stow": STOW-RS to url = "https://.../dicom-web"
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from burner.config import Config
from burner.errors import ConfigError

RIGHTS = ("echo", "store", "mcm")
RETRIEVE = ("c-get", "c-move", "dicomweb")
SEND = ("c-store", "stow")
_AE = re.compile(r"[\x20-\x5b\x5d-\x7e]{1,16}")     # PS3.5 AE VR: no backslash, no controls
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
_URL = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9._~\-/]*)?")


@dataclass(frozen=True)
class Peer:
    """A calling AE the listener serves, and what it may do."""

    ae_title: str
    may: frozenset[str]
    approve_at_once: bool = False
    host: str = ""


@dataclass(frozen=True)
class Remote:
    """A PACS burner fetches from, or a destination it sends to."""

    name: str
    ae_title: str
    host: str
    port: int
    retrieve: str = "c-get"
    url: str = ""
    commitment: bool = False
    timeout: float = 60.0
    send: str = "c-store"           # a destination: C-STORE, or STOW-RS to its url

    @property
    def where(self) -> str:
        """host:port, for messages (no patient data)."""
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class DicomSettings:
    enabled: bool = False
    ae_title: str = "BURNER"
    port: int = 11112
    bind: str = "127.0.0.1"
    min_free_bytes: int = 2048 * 1_000_000
    max_object_bytes: int = 512 * 1_000_000
    timeout: float = 30.0
    arrival_seconds: float = 600.0     # an initiated MCM request waits this long for images
    peers: dict[str, Peer] = field(default_factory=dict)
    pacs: dict[str, Remote] = field(default_factory=dict)
    destinations: dict[str, Remote] = field(default_factory=dict)

    def pacs_named(self, name: str) -> Remote:
        if name not in self.pacs:
            known = ", ".join(sorted(self.pacs)) or "none is configured"
            raise ConfigError(f"there is no PACS called {name!r} in the configuration "
                              f"([pacs.NAME]; known: {known})")
        return self.pacs[name]

    def destination_named(self, name: str) -> Remote:
        if name not in self.destinations:
            known = ", ".join(sorted(self.destinations)) or "none is configured"
            raise ConfigError(f"there is no destination called {name!r} in the configuration "
                              f"([destinations.NAME]; known: {known})")
        return self.destinations[name]


def ae_title(value: object, where: str) -> str:
    text = str(value).strip()
    if not _AE.fullmatch(text) or not text.strip():
        raise ConfigError(f"configuration: {where} must be an AE title of 1 to 16 letters, "
                          "digits or spaces (no backslash)")
    return text


def _port(value: object, where: str) -> int:
    try:
        port = int(value)      # type: ignore[call-overload]
    except (TypeError, ValueError):
        port = -1
    if not 0 <= port <= 65535:
        raise ConfigError(f"configuration: {where} port must be a number from 0 to 65535")
    return port


def _host(value: object, where: str) -> str:
    text = str(value).strip()
    if not text or any(c.isspace() for c in text) or len(text) > 253:
        raise ConfigError(f"configuration: {where} host must be a host name or address")
    return text


def _number(section: dict, key: str, default: float, where: str) -> float:
    try:
        value = float(section.get(key, default))
    except (TypeError, ValueError):
        value = -1.0
    if not value >= 0:
        raise ConfigError(f"configuration: {where} {key} must be a number of 0 or more")
    return value


def _known(section: dict, allowed: set[str], where: str) -> None:
    unknown = set(section) - allowed
    if unknown:
        raise ConfigError(f"configuration: unknown {where} setting(s) {sorted(unknown)}")


def _peer(title: str, item: object) -> Peer:
    where = f"[dicom.peers.{title}]"
    if not isinstance(item, dict):
        raise ConfigError(f"configuration: {where} must be a table")
    _known(item, {"may", "approve", "host"}, where)
    may = item.get("may", list(RIGHTS))
    if not isinstance(may, list) or not set(may) <= set(RIGHTS):
        raise ConfigError(f"configuration: {where} may must list some of {', '.join(RIGHTS)}")
    approve = str(item.get("approve", "desk"))
    if approve not in ("at-once", "desk"):
        raise ConfigError(f"configuration: {where} approve must be \"at-once\" or \"desk\"")
    host = str(item.get("host", "")).strip()
    if host:
        try:
            host = str(ipaddress.ip_address(host))
        except ValueError:
            raise ConfigError(f"configuration: {where} host must be an IP address") from None
    return Peer(ae_title(title, f"{where} (its name)"), frozenset(may), approve == "at-once",
                host)


def _remote(kind: str, name: str, item: object) -> Remote:
    where = f"[{kind}.{name}]"
    if not _NAME.fullmatch(name):
        raise ConfigError(f"configuration: {where}: a name of letters, digits, - and _")
    if not isinstance(item, dict):
        raise ConfigError(f"configuration: {where} must be a table")
    _known(item, {"ae_title", "host", "port", "retrieve", "url", "commitment", "timeout",
                  "send"}, where)
    send = str(item.get("send", "c-store"))
    if send not in SEND:
        raise ConfigError(f"configuration: {where} send must be one of {', '.join(SEND)}")
    retrieve = str(item.get("retrieve", "c-get"))
    if retrieve not in RETRIEVE:
        raise ConfigError(f"configuration: {where} retrieve must be one of "
                          f"{', '.join(RETRIEVE)}")
    url = str(item.get("url", "")).rstrip("/")
    if url and not _URL.fullmatch(url):
        raise ConfigError(f"configuration: {where} url must be an http(s) address")
    if (retrieve == "dicomweb" or send == "stow") and not url:
        setting = 'send = "stow"' if send == "stow" else 'retrieve = "dicomweb"'
        raise ConfigError(f"configuration: {where} {setting} needs a url")
    return Remote(name, ae_title(item.get("ae_title", ""), f"{where} ae_title"),
                  _host(item.get("host", "127.0.0.1"), where),
                  _port(item.get("port", 104), where), retrieve, url,
                  bool(item.get("commitment", False)),
                  _number(item, "timeout", 60.0, where) or 60.0, send)


def dicom_settings(config: Config) -> DicomSettings:
    """The network settings of `config` (ConfigError naming a bad one)."""
    raw = config.raw
    section = raw.get("dicom", {})
    if not isinstance(section, dict):
        raise ConfigError("configuration: [dicom] must be a table")
    _known(section, {"enabled", "ae_title", "port", "bind", "min_free_mb", "max_object_mb",
                     "timeout", "arrival_seconds", "peers"}, "[dicom]")
    peers = section.get("peers", {})
    if not isinstance(peers, dict):
        raise ConfigError("configuration: [dicom.peers] must be a table of AE titles")
    bind = str(section.get("bind", "127.0.0.1"))
    try:
        ipaddress.ip_address(bind)
    except ValueError:
        raise ConfigError("configuration: [dicom] bind must be an IP address") from None
    return DicomSettings(
        enabled=bool(section.get("enabled", False)),
        ae_title=ae_title(section.get("ae_title", "BURNER"), "[dicom] ae_title"),
        port=_port(section.get("port", 11112), "[dicom]"),
        bind=bind,
        min_free_bytes=int(_number(section, "min_free_mb", 2048, "[dicom]") * 1_000_000),
        max_object_bytes=int(_number(section, "max_object_mb", 512, "[dicom]") * 1_000_000),
        timeout=_number(section, "timeout", 30.0, "[dicom]") or 30.0,
        arrival_seconds=_number(section, "arrival_seconds", 600.0, "[dicom]"),
        peers={p.ae_title: p for p in (_peer(str(t), v) for t, v in peers.items())},
        pacs={n: _remote("pacs", n, v) for n, v in _table(raw, "pacs").items()},
        destinations={n: _remote("destinations", n, v)
                      for n, v in _table(raw, "destinations").items()},
    )


def _table(raw: dict, key: str) -> dict:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"configuration: [{key}] must hold tables [{key}.NAME]")
    return value
