"""Helpers for the analytics tests: Debian's chromium and Graphviz, driven through Playwright."""

from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require(binary: str, package: str) -> str:
    """Path of ``binary``; skip when it is missing locally, fail when it is missing under CI=true."""
    path = shutil.which(binary)
    if path:
        return path
    msg = f"`{binary}` is not installed: Debian's `{package}` (run `bash .ci/system-deps.sh`)"
    if in_ci():
        pytest.fail(msg + "; CI=true requires it", pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def chromium() -> str:
    require("dot", "graphviz")
    return require("chromium", "chromium")
