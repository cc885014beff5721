"""A one-line progress bar for long client verbs (``produce``, ``replay``)."""

from __future__ import annotations

import sys
import time


class Progress:
    """A one-line progress bar on stderr (only when stderr is a terminal, or forced)."""

    def __init__(self, total: int | None, label: str, force: bool = False) -> None:
        self.total = total
        self.label = label
        self.enabled = force or sys.stderr.isatty()
        self.t0 = time.monotonic()
        self._last = 0.0

    def update(self, n: int) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.2 and n != self.total):
            return
        self._last = now
        rate = n / max(now - self.t0, 1e-9)
        if self.total:
            width = 30
            done = int(width * n / self.total)
            bar = "#" * done + "-" * (width - done)
            sys.stderr.write(f"\r{self.label} [{bar}] {n}/{self.total} ({rate:,.0f}/s)")
        else:
            sys.stderr.write(f"\r{self.label} {n} ({rate:,.0f}/s)")
        sys.stderr.flush()

    def close(self, n: int) -> None:
        if self.enabled:
            self.update(n)
            sys.stderr.write("\n")
