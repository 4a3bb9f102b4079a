"""The files in systemd/ are accepted by systemd's own tools and say what the station needs.

`systemd-analyze verify` checks that ExecStart's program exists, and /opt/burner is not
installed on a build machine, so it checks a copy of the unit whose ExecStart runs this Python
instead; every other line is the real file's. It does not look up User=/Group= (systemd 252
prints nothing for a user that does not exist), so no burner user is needed on the machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import on_ci, require_tool

SYSTEMD = Path(__file__).resolve().parents[1] / "systemd"
UNIT = SYSTEMD / "burner.service"
EXEC_START = "ExecStart=/opt/burner/.venv/bin/burner run"


def settings(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) of every setting of a unit file, in order (keys may repeat)."""
    section, found = "", []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.append((section, key.strip(), value.strip()))
    return found


def values(key: str) -> list[str]:
    return [v for _, k, v in settings(UNIT.read_text()) if k == key]


def unit_copy(tmp_path: Path, extra: str = "") -> Path:
    """The unit with ExecStart's program replaced by one that exists, plus `extra` lines."""
    text = UNIT.read_text(encoding="utf-8")
    assert text.count(EXEC_START + "\n") == 1
    copy = tmp_path / "burner.service"
    copy.write_text(text.replace(EXEC_START, f'ExecStart="{sys.executable}" run') + extra)
    return copy


def verify(unit: Path) -> str:
    """Run systemd-analyze verify on `unit`; its whole output, after asserting exit status 0."""
    tool = require_tool("systemd-analyze")
    done = subprocess.run(
        [tool, "verify", "--man=no", "--recursive-errors=no", str(unit)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def test_copy_keeps_every_other_line(tmp_path):
    original = UNIT.read_text(encoding="utf-8").splitlines()
    copied = unit_copy(tmp_path).read_text(encoding="utf-8").splitlines()
    assert len(copied) == len(original)
    differing = [(a, b) for a, b in zip(original, copied, strict=True) if a != b]
    assert differing == [(EXEC_START, f'ExecStart="{sys.executable}" run')]


def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    unit = unit_copy(tmp_path)
    output = verify(unit)
    complaints = [line for line in output.splitlines()
                  if str(unit) in line or "burner.service" in line]
    assert complaints == []


def test_systemd_analyze_verify_would_notice_a_mistake(tmp_path):
    """The check above has teeth: a misspelt setting is reported against the file."""
    unit = unit_copy(tmp_path, "ProtectSystm=strict\n")
    tool = require_tool("systemd-analyze")
    done = subprocess.run([tool, "verify", "--man=no", str(unit)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert f"{unit}:" in done.stderr and "ProtectSystm" in done.stderr


def test_unit_runs_burner_as_its_own_user():
    assert values("ExecStart") == ["/opt/burner/.venv/bin/burner run"]
    assert "BURNER_CONFIG=/etc/burner/burner.toml" in values("Environment")
    assert values("User") == ["burner"] and values("Group") == ["burner"]
    assert values("SupplementaryGroups") == ["cdrom lp"]
    assert values("Restart") == ["on-failure"]
    assert values("WantedBy") == ["multi-user.target"]


@pytest.mark.parametrize(("key", "value"), [
    ("ProtectSystem", "strict"),
    ("ReadWritePaths", "/var/lib/burner /var/spool/burner"),
    ("StateDirectory", "burner"),
    ("PrivateTmp", "yes"),
    ("NoNewPrivileges", "yes"),
    ("ProtectHome", "yes"),
    ("ProtectKernelTunables", "yes"),
    ("ProtectKernelModules", "yes"),
    ("ProtectControlGroups", "yes"),
    ("RestrictSUIDSGID", "yes"),
    ("LockPersonality", "yes"),
    ("PrivateDevices", "no"),
    ("DevicePolicy", "closed"),
    ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
])
def test_unit_is_hardened(key, value):
    assert values(key) == [value]


def test_devices_allowed_are_the_optical_drives_only():
    allowed = values("DeviceAllow")
    assert sorted(allowed) == ["block-sr rw", "char-sg rw"]
    # systemd takes a device path literally: "/dev/sr*" would silently allow nothing.
    assert not any("*" in entry or "?" in entry for entry in allowed)


def _sysroot(tmp_path: Path) -> Path:
    """A file-system root with Debian's base groups and burner's sysusers and tmpfiles files."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "etc" / "group").write_text("root:x:0:\nlp:x:7:\ncdrom:x:24:\n")
    for kind, name in (("sysusers", "sysusers.d"), ("tmpfiles", "tmpfiles.d")):
        target = root / "usr" / "lib" / name / "burner.conf"
        target.parent.mkdir(parents=True)
        target.write_text((SYSTEMD / f"burner.{kind}").read_text(encoding="utf-8"))
    return root


def _entry(file: Path, name: str) -> list[str]:
    lines = [line.split(":") for line in file.read_text().splitlines()]
    return next(fields for fields in lines if fields[0] == name)


def _create_user(root: Path) -> None:
    tool = require_tool("systemd-sysusers")
    subprocess.run([tool, f"--root={root}"], check=True, capture_output=True, timeout=60)


def test_sysusers_creates_the_burner_user(tmp_path):
    root = _sysroot(tmp_path)
    _create_user(root)
    user = _entry(root / "etc" / "passwd", "burner")
    assert user[5:] == ["/var/lib/burner", "/usr/sbin/nologin"]
    assert _entry(root / "etc" / "group", "burner")[2] == user[3]
    for group in ("cdrom", "lp"):
        assert "burner" in _entry(root / "etc" / "group", group)[3].split(",")


@pytest.mark.skipif(os.geteuid() != 0 and not on_ci(),
                    reason="creating folders owned by burner needs root")
def test_tmpfiles_creates_the_folders_owned_by_burner(tmp_path):
    root = _sysroot(tmp_path)
    _create_user(root)
    uid = int(_entry(root / "etc" / "passwd", "burner")[2])
    tool = require_tool("systemd-tmpfiles")
    subprocess.run([tool, f"--root={root}", "--create"], check=True, capture_output=True,
                   timeout=60)
    for folder, mode in (("var/lib/burner", 0o750), ("var/spool/burner", 0o770)):
        info = (root / folder).stat()
        assert (info.st_uid, info.st_gid, info.st_mode & 0o7777) == (uid, uid, mode), folder


# --- require_tool ----------------------------------------------------------------------------


def test_require_tool_returns_the_path():
    assert Path(require_tool("sh")).name == "sh"


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception),
                                             ("", pytest.skip.Exception)])
def test_require_tool_fails_under_ci_and_skips_locally(monkeypatch, tmp_path, ci, outcome):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="no-such-tool-here is not installed"):
        require_tool("no-such-tool-here")


def test_the_usb_drop_in_verifies_with_the_unit(tmp_path):
    """systemd/burner-usb.conf, applied as a drop-in, keeps the unit valid."""
    drop_in = (SYSTEMD / "burner-usb.conf").read_text(encoding="utf-8")
    added = [line for line in drop_in.splitlines()
             if line and not line.startswith(("#", "["))]
    assert "DeviceAllow=block-sd rw" in added and "SupplementaryGroups=disk" in added
    unit = unit_copy(tmp_path)
    service_d = tmp_path / "burner.service.d"
    service_d.mkdir()
    (service_d / "usb.conf").write_text(drop_in, encoding="utf-8")
    output = verify(unit)
    assert [line for line in output.splitlines() if "usb.conf" in line] == []


WEB_UNIT = SYSTEMD / "burner-web.service"
WEB_EXEC = "ExecStart=/opt/burner/.venv/bin/burner web"


def test_systemd_analyze_verify_accepts_the_web_unit(tmp_path):
    text = WEB_UNIT.read_text(encoding="utf-8")
    assert text.count(WEB_EXEC + "\n") == 1
    copy = tmp_path / "burner-web.service"
    copy.write_text(text.replace(WEB_EXEC, f'ExecStart="{sys.executable}" web'))
    output = verify(copy)
    assert [line for line in output.splitlines() if "burner-web.service" in line] == []


def test_the_web_unit_is_hardened_like_the_station_and_has_no_devices():
    web = {(s, k): v for s, k, v in settings(WEB_UNIT.read_text())}
    station = {(s, k): v for s, k, v in settings(UNIT.read_text())}
    for key in ("ProtectSystem", "ReadWritePaths", "NoNewPrivileges", "CapabilityBoundingSet",
                "SystemCallFilter", "RestrictAddressFamilies", "User", "Group", "UMask",
                "ProtectHome", "PrivateTmp", "RestrictNamespaces", "ProtectKernelModules"):
        assert web[("Service", key)] == station[("Service", key)], key
    assert web[("Service", "PrivateDevices")] == "yes"
    assert web[("Service", "DevicePolicy")] == "closed"


KIOSK_UNIT = SYSTEMD / "burner-kiosk.service"
KIOSK_EXEC = "ExecStart=/usr/bin/chromium "
KIOSK_FLAGS = {"--kiosk", "--noerrdialogs", "--disable-translate", "--no-first-run",
               "--incognito"}


def kiosk_values(key: str) -> list[str]:
    return [v for _, k, v in settings(KIOSK_UNIT.read_text()) if k == key]


def test_systemd_analyze_verify_accepts_the_kiosk_unit(tmp_path):
    """Checked with this Python in Chromium's place (a build machine may have no Chromium);
    every other line is the real file's."""
    text = KIOSK_UNIT.read_text(encoding="utf-8")
    assert text.count(KIOSK_EXEC) == 1
    copy = tmp_path / "burner-kiosk.service"
    copy.write_text(text.replace(KIOSK_EXEC, f'ExecStart="{sys.executable}" '))
    output = verify(copy)
    assert [line for line in output.splitlines() if "burner-kiosk.service" in line] == []
    broken = tmp_path / "broken" / "burner-kiosk.service"
    broken.parent.mkdir()
    broken.write_text(copy.read_text().replace("Restart=always", "Restart=allways"))
    done = subprocess.run([require_tool("systemd-analyze"), "verify", "--man=no", str(broken)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert "allways" in done.stderr, "the check would notice a mistake"


def test_the_kiosk_unit_starts_chromium_in_kiosk_mode_on_the_kiosk_page():
    import tomllib

    (start,) = kiosk_values("ExecStart")
    program, *flags, url = start.split()
    assert (program, set(flags), url) == ("/usr/bin/chromium", KIOSK_FLAGS,
                                          "${BURNER_KIOSK_URL}")
    env = dict(v.split("=", 1) for v in kiosk_values("Environment"))
    default = tomllib.loads((SYSTEMD.parent / "burner" / "default.toml").read_text())
    assert env["BURNER_KIOSK_URL"] == f"http://{default['web']['listen']}/kiosk"
    assert env["DISPLAY"] == ":0" and env["XAUTHORITY"] == "/home/kiosk/.Xauthority"
    # The screen's own unprivileged user: never root, never the station's service user.
    assert kiosk_values("User") == ["kiosk"] and kiosk_values("Group") == ["kiosk"]
    assert kiosk_values("Restart") == ["always"]
    assert "graphical.target" in kiosk_values("After")[0].split()
    assert kiosk_values("WantedBy") == ["graphical.target"]
