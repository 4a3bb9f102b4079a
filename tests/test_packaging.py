"""Packaging (issue 8): a wheel built from the source tree, installed (not editable) in a fresh
venv, holds the templates and every other runtime file and runs `burner demo` end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import pytest
from conftest import require_tool, unavailable

REPO = Path(__file__).resolve().parents[1]

# pip's words for "the package index cannot be reached" (as opposed to a broken build).
NETWORK_TROUBLE = ("NewConnectionError", "Temporary failure in name resolution",
                   "Name or service not known", "Network is unreachable", "Max retries exceeded",
                   "ConnectTimeout", "ReadTimeoutError", "ProxyError", "SSLError",
                   "Could not find a version that satisfies", "No matching distribution found")
# Variables of the test's own environment that must not reach the installed station.
_DROP = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__",
         "BURNER_CONFIG", "BURNER_HOME", "BURNER_TEMPLATES", "BURNER_PAUSE_AT",
         "BURNER_PAUSE_SECONDS")


def _run(args: list, *, cwd: Path, env: dict[str, str], timeout: float, what: str,
         network: bool = False) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, errors="replace", timeout=timeout,
                          stdin=subprocess.DEVNULL, check=False)
    if proc.returncode != 0:
        output = proc.stdout + proc.stderr
        if network and any(word in output for word in NETWORK_TROUBLE):
            unavailable(f"{what}: the package index is not reachable:\n{output[-3000:]}")
        pytest.fail(f"{what} failed (exit {proc.returncode}):\n{output[-6000:]}", pytrace=False)
    return proc


def _tracked_files() -> list[str]:
    """The repository's tracked files that are present in the working tree."""
    require_tool("git")
    proc = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True,
                          check=False)
    if proc.returncode != 0:
        unavailable(f"{REPO} is not a git checkout: {proc.stderr.decode(errors='replace')}")
    names = [n for n in proc.stdout.decode().split("\0") if n]
    return [n for n in names if (REPO / n).is_file()]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    env.update(extra)
    return env


def test_pyproject_lists_every_package() -> None:
    """The wheel's packages are listed by name in pyproject.toml (templates/ is mapped in as
    burner.templates, which packages.find cannot do): a package folder added under burner/
    must be added there too, or a pip-installed station would lack it."""
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))[
        "tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(REPO).parts)
               for p in (REPO / "burner").rglob("__init__.py")}
    assert set(setuptools["packages"]) == on_disk | {"burner.templates"}
    assert setuptools["package-dir"] == {"burner.templates": "templates"}
    assert (REPO / "templates" / "__init__.py").is_file()


@pytest.mark.slow
def test_wheel_install_runs_demo(tmp_path: Path) -> None:
    """Build a wheel from the tracked files of the working tree (uncommitted edits included,
    untracked files not: what a clean checkout holds), install it in a fresh venv and run
    `burner demo` from outside the source tree. Needs the package index (PyPI, through pip's
    cache) for the build backend and burner's dependencies."""
    require_tool("xorriso")   # the demo burns to a stdio: medium with it
    started = time.monotonic()
    tracked = _tracked_files()
    src = tmp_path / "src"
    for name in tracked:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, src / name)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = _clean_env()

    # 1. The wheel, built the way `pip install /path/to/burner` builds it (isolated backend).
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-input", "-q", "-w", dist,
          src], cwd=outside, env=env, timeout=600, what="pip wheel", network=True)
    wheels = list(dist.glob("burner-*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as whl:
        in_wheel = set(whl.namelist())
    # Every tracked file of the package and of templates/ is in it (templates/ as
    # burner/templates/): the Python modules, default.toml, job.schema.json, the templates.
    expected = {n for n in tracked if n.startswith("burner/")}
    expected |= {"burner/" + n for n in tracked if n.startswith("templates/")}
    assert expected - in_wheel == set()
    assert "burner/templates/VIEWER/VIEWER.JS" in in_wheel

    # 2. A fresh venv (no system site-packages), the wheel installed into it, not editable.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=outside, env=env, timeout=300,
         what="python -m venv")
    python, burner = venv / "bin" / "python", venv / "bin" / "burner"
    _run([python, "-m", "pip", "install", "--no-input", "-q", wheels[0]], cwd=outside, env=env,
         timeout=900, what="pip install of the wheel", network=True)
    built = time.monotonic()

    # 3. The venv imports burner from its own site-packages, templates included.
    code = ("import json, sysconfig, burner\n"
            "from burner.content.render import templates_dir\n"
            "print(json.dumps({'burner': burner.__file__, 'templates': str(templates_dir()),\n"
            "                  'purelib': sysconfig.get_paths()['purelib']}))")
    probe = _run([python, "-c", code], cwd=outside, env=env, timeout=60, what="import burner")
    found = json.loads(probe.stdout)
    site = Path(found["purelib"]).resolve()
    package = Path(found["burner"]).resolve().parent
    assert package == site / "burner", found
    assert not package.is_relative_to(REPO) and not package.is_relative_to(src), found
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    templates = Path(found["templates"]).resolve()
    assert templates == site / "burner" / "templates", found
    for name in tracked:
        if name.startswith("templates/"):
            installed = templates / name.removeprefix("templates/")
            assert installed.read_bytes() == (REPO / name).read_bytes(), name
    for name in ("VIEWER/VIEWER.JS", "VIEWER/INDEX.HTM", "INDEX.HTM.j2", "IHE_PDI/PAGE.HTM.j2"):
        assert (templates / name).is_file(), name
    assert (site / "burner" / "default.toml").is_file()
    assert (site / "burner" / "job.schema.json").is_file()

    # 4. The demo, from outside the source tree, on a fresh data folder and the embedded
    # default configuration (an empty BURNER_CONFIG keeps /etc/burner/burner.toml out).
    home, config = tmp_path / "home", tmp_path / "burner.toml"
    config.write_text("", encoding="utf-8")
    run_env = _clean_env(BURNER_HOME=str(home), BURNER_CONFIG=str(config),
                         PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    demo = _run([burner, "demo", "--slices", "20"], cwd=outside, env=run_env, timeout=900,
                what="burner demo")
    assert "Done." in demo.stdout, demo.stdout
    done = list((home / "spool" / "done").iterdir())
    assert len(done) == 1, done
    job = done[0]
    result = json.loads((job / "result.json").read_text(encoding="utf-8"))
    assert result["state"] == "done" and result["problems"] == [], result
    assert result["software"] == "burner 0.1.0"
    assert (job / "audit.xml").is_file()
    assert len(result["copies"]) == len(result["volumes"]) == 1, result
    copy, volume = result["copies"][0], result["volumes"][0]
    assert copy["sha256"] == volume["sha256"]
    medium = Path(copy["medium"])
    assert medium.is_relative_to(home) and medium.is_file(), medium
    # The disc was made from the installed templates: the viewer's files and the start page.
    stage = home / "work" / job.name / "stage" / "vol1"
    assert (stage / "VIEWER" / "VIEWER.JS").read_bytes() == \
        (REPO / "templates" / "VIEWER" / "VIEWER.JS").read_bytes()
    assert "<html" in (stage / "INDEX.HTM").read_text(encoding="utf-8").lower()
    assert (stage / "IHE_PDI").is_dir()

    # 5. The installed `burner verify` checks the written disc again.
    check = _run([burner, "verify", "--json", medium], cwd=outside, env=run_env, timeout=300,
                 what="burner verify")
    report = json.loads(check.stdout)
    assert report["ok"] and report["files_checked"] > 0, report
    print(f"packaging: wheel + venv + install {built - started:.0f} s, "
          f"demo + verify {time.monotonic() - built:.0f} s")
