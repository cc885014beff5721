"""The shape of a record to produce, shared by the outbox and the loopback."""

from __future__ import annotations

from collections.abc import Sequence

Header = tuple[str, bytes]
Item = tuple[bytes | None, bytes | None, Sequence[Header]]  # key, value, headers of a record to produce
