"""A customer's stored record: the RocksDB value and ``<app>.profiles-changelog`` record under the customer id.

Layout 2 (written since 2026-11-30) is a msgpack array ``[2, hw, profile, ids, instances, fresh]``:

- ``hw``: offset of the last internal-topic record applied to the profile (replays skip what it has);
- ``profile``: the :class:`~cjo_stream.profile.Profile` array, minus what the record says elsewhere:
  ``customer_id`` is ``""`` (it is the key), ``timezone`` is ``""`` when it equals ``traits.timezone``
  (the usual case: an ``identify`` carries both), ``instances`` is empty (they follow);
- ``ids``: fingerprints of the customer's recent messageIds (:mod:`cjo_stream.dedupe`);
- ``instances``: the active journey instances as a list, in the profile's order; each names its journey,
  which is its key in ``profile.instances``, so the key is not stored twice;
- ``fresh``: bit ``k`` set means instance ``k`` entered at ``profile.last_seen`` exactly (most do: an
  instance starts on the customer's latest event), and its ``entered_at`` is stored as ``0``.

Why: those are the largest repeats in a median record of ``make bench`` (about 50 of 548 bytes). Each
marker is a value the full form never holds (ids are never empty, a time zone is only set non-empty) or
positional (``fresh``), so the decoded profile equals the encoded one exactly.

Layout 1 (``[hw, profile]`` or ``[hw, profile, ids]``, the profile complete) is what workers wrote
before; it still decodes, so a worker upgraded in place restores its old changelogs (the array's length
tells the layouts apart: 2-3 elements against 6). A worker from before layout 2 cannot read a layout-2
record and stops on it (its ``hw`` slot holds 2 and its profile slot an integer) instead of misreading
it; docs/operations.md, "Upgrading", says how to upgrade a running deployment.
"""

from __future__ import annotations

from typing import Final

import msgspec
from msgspec.structs import replace

from cjo_stream.profile import Instance, Profile

# the structs live in a module of their own (no structs in a compiled module), imported from here as before
from cjo_stream.runtime.stored_types import Stored as Stored
from cjo_stream.runtime.stored_types import _Layout2

_NO_INSTANCES: dict[str, Instance] = {}  # put in the encoded copy only; never mutated
_FRESH_BITS: Final = 1 << 63  # ``fresh`` stays a msgpack integer: instances past the 63rd store their time
_LAYOUT1_MAX: Final = 0x93  # msgpack fixarray of 3: layout 1 is an array of 2 or 3, layout 2 of 6

_enc = msgspec.msgpack.Encoder()
_dec1 = msgspec.msgpack.Decoder(Stored)
_dec2 = msgspec.msgpack.Decoder(_Layout2)


def encode_stored(hw: int, p: Profile, ids: bytes = b"", layout: int = 2) -> bytes:
    """The record for ``p`` (stored under its customer id), in layout 2. ``p`` is not modified: the
    encoded profile and fresh instances are shallow copies with the markers. ``layout=1`` writes the
    complete profile as workers before layout 2 did (``CJO_STORED_LAYOUT=1``: a rolling upgrade's first
    step, while such workers still run and may take partitions over)."""
    if layout == 1:
        return _enc.encode(Stored(hw, p, ids))
    tz = p.timezone
    if tz is not None and tz == p.traits.get("timezone"):
        tz = ""
    last, fresh, bit, runs = p.last_seen, 0, 1, []
    for inst in p.instances.values():
        if inst.entered_at == last and bit < _FRESH_BITS:
            fresh |= bit
            inst = replace(inst, entered_at=0)  # an int: one byte (decodes as a float)
        runs.append(inst)
        bit <<= 1
    return _enc.encode((2, hw, replace(p, customer_id="", timezone=tz, instances=_NO_INSTANCES), ids, runs, fresh))


def decode_stored(raw: bytes, customer_id: str) -> Stored:
    """The record stored under ``customer_id`` (either layout), as the profile it was encoded from."""
    if raw[0] <= _LAYOUT1_MAX:
        return _dec1.decode(raw)
    r = _dec2.decode(raw)
    p = r.profile
    p.customer_id = customer_id
    if p.timezone == "":
        p.timezone = p.traits.get("timezone")
    runs = r.instances
    if runs:
        fresh, last, into = r.fresh, p.last_seen, p.instances
        for inst in runs:
            if fresh & 1:
                inst.entered_at = last
            fresh >>= 1
            into[inst.journey] = inst
    return Stored(r.hw, p, r.ids)
