"""libc is looked up once: ``ctypes.util.find_library`` may fork a subprocess, and ``kv.release_memory()`` runs
after every large restore (cjo_stream/libc.py)."""

from __future__ import annotations

import ctypes.util
import sys

import pytest

from cjo_stream import libc
from cjo_stream.kv import release_memory
from cjo_stream.lifetime import die_with_parent


def test_release_memory_and_the_parent_death_signal_look_libc_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    release_memory()  # (the first call anywhere in the process may look it up)
    looked_up: list[str] = []
    real = ctypes.util.find_library

    def find_library(name: str) -> str | None:
        looked_up.append(name)
        return real(name)

    monkeypatch.setattr(ctypes.util, "find_library", find_library)
    for _ in range(3):
        release_memory()
        die_with_parent()
    assert looked_up == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_the_library_kept_is_the_c_library() -> None:
    c = libc.load()
    assert c is libc.load()
    assert c.malloc_trim(0) in (0, 1)  # glibc: 1 if memory was released
