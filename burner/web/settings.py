"""`[web]` of the station configuration: where `burner web` listens, TLS, the idle timeout and
the secret that signs its cookies."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from burner.config import Config
from burner.errors import ConfigError


@dataclass(frozen=True)
class WebSettings:
    host: str
    port: int
    tls_cert: Path | None
    tls_key: Path | None
    session_minutes: float
    secret_file: Path

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


def web_settings(config: Config) -> WebSettings:
    """The [web] table, checked; ConfigError names what is wrong."""
    web = config.raw.get("web", {})
    listen = str(web.get("listen", "127.0.0.1:8080"))
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"[web] listen must be HOST:PORT, for example 127.0.0.1:8080, "
                          f"not {listen!r}")
    cert, key = web.get("tls_cert"), web.get("tls_key")
    if bool(cert) != bool(key):
        raise ConfigError("[web] needs both tls_cert and tls_key, or neither")
    minutes = web.get("session_minutes", 15)
    if not isinstance(minutes, int | float) or isinstance(minutes, bool) or minutes <= 0:
        raise ConfigError("[web] session_minutes must be a number of minutes above 0")
    secret = Path(str(web.get("secret_file", config.data_dir / "web.secret")))
    return WebSettings(host.strip("[]"), int(port),
                       Path(str(cert)) if cert else None, Path(str(key)) if key else None,
                       float(minutes), secret if secret.is_absolute() else config.data_dir / secret)


def secret_key(settings: WebSettings) -> bytes:
    """The key that signs the app's cookies, made (readable by the station only) when
    missing."""
    path = settings.secret_file
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = secrets.token_hex(32).encode()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:          # another process made it just now
            return secret_key(settings)
        with os.fdopen(fd, "wb") as fp:
            fp.write(data)
    data = data.strip()
    if len(data) < 32:
        raise ConfigError(f"the web secret {path} is too short (at least 32 characters)")
    return data
