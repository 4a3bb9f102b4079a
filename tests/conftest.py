"""Shared test helpers."""

from __future__ import annotations

import os
import shutil

import pytest


def on_ci() -> bool:
    """True when the suite runs under CI (env CI=true), where nothing may be skipped for a tool."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def require_tool(name: str) -> str:
    """Path of the program `name`; skips the test locally without it, fails under CI=true."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (see the install steps in README and .ci/run)"
    if on_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
