"""The C library, loaded once for the few libc calls made here (``malloc_trim``, ``prctl``, ``mallinfo2``).

``ctypes.util.find_library`` may run a subprocess (``ldconfig -p``, else a compiler) to find it: done at every
``kv.release_memory()`` that cost a fork and exec each time, so it is looked up at the first call and kept.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any


@functools.cache
def load() -> Any:
    """The process's libc (errno kept for ``ctypes.get_errno``), or None if it cannot be loaded."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
