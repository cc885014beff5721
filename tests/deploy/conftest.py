"""Helpers for the deployment tests: repository paths and the Prometheus binaries.

The live fixtures (``broker``, ``worker_env``, ``spawn``) are the runtime tests' own, re-exported here.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.runtime.conftest import broker, spawn, worker_env  # noqa: F401  (fixtures, re-exported)

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require_binary(name: str) -> str:
    """Path of ``name``; skip when it is missing locally, fail when it is missing under CI=true."""
    path = shutil.which(name)
    if path:
        return path
    msg = (f"`{name}` is not installed: it comes with Debian's `prometheus` package "
           f"(run `bash .ci/system-deps.sh`, or `apt-get install -y prometheus`)")
    if in_ci():
        pytest.fail(msg + "; CI=true requires it", pytrace=False)
    pytest.skip(msg)
