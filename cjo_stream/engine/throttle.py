"""Throttling: at most ``max`` sends of a journey (or a step) per window; the rest wait their turn.

A window opens with its first send and lasts ``per`` seconds. A send over the limit is deferred, not
dropped: its instance parks until the window ends, and sends deferred into the same window get due
times a microsecond apart in the order they were deferred, so they are tried again — and, if that
window fills too, deferred again — in the order the customers arrived.

This is the one piece of engine state shared between customers, so the caller owns it: the simulator
keeps one :class:`Throttles` for the whole run, a worker one per partition (stored with the partition),
each partition allowed ``max / partitions`` per window (:func:`share`; a fraction is carried over), so
the deployment as a whole stays within ``max``.
"""

from __future__ import annotations

import msgspec

#: Spacing of deferred sends' due times inside one window, to keep their order.
_TICK = 1e-6


class Window(msgspec.Struct, array_like=True):
    start: float
    allowed: int  # sends this window admits
    used: int = 0
    queued: int = 0  # sends deferred to the end of this window so far


class Throttles(msgspec.Struct):
    """Open windows per throttle key (``journey`` or ``journey/step``), and fractional allowance carried."""

    windows: dict[str, Window] = {}
    carry: dict[str, float] = {}

    def admit(self, key: str, rate: float, per: float, now: float) -> float | None:
        """None when a send may go now (counted); else the time to try again.

        ``rate`` sends per window may be fractional (a partition's share of a small limit): the fraction
        is carried to the next window, so over time the partition sends ``rate`` per window on average.
        """
        w = self.windows.get(key)
        if w is None or now >= w.start + per:
            total = self.carry.get(key, 0.0) + rate
            allowed = int(total + 1e-9)
            self.carry[key] = total - allowed
            w = self.windows[key] = Window(now, allowed)
        if w.used < w.allowed:
            w.used += 1
            return None
        w.queued += 1
        return w.start + per + w.queued * _TICK

    def refund(self, key: str, now: float, per: float) -> None:
        """Give back a send counted by :meth:`admit` that did not go out (another throttle deferred it)."""
        w = self.windows.get(key)
        if w is not None and now < w.start + per and w.used:
            w.used -= 1

    def forget_before(self, now: float, longest: float) -> None:
        """Drop windows that closed (no send can fall in them any more): keeps the state small."""
        for key in [k for k, w in self.windows.items() if w.start + longest < now]:
            del self.windows[key]


def share(limit: int, partitions: int) -> float:
    """One partition's part of a deployment-wide ``limit`` per window: ``limit / partitions``."""
    return limit / max(partitions, 1)


_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(Throttles)


def encode_throttles(t: Throttles) -> bytes:
    return _enc.encode(t)


def decode_throttles(raw: bytes) -> Throttles:
    return _dec.decode(raw)
