"""A customer's stored record: the RocksDB value and ``<app>.profiles-changelog`` record under the customer id.

Layout 3 (written since 2026-12-03) is layout 2 with one more element, ``packed``:
``[3, hw, profile, ids, instances, fresh, packed]``. Aliases that are UUIDs in their canonical text (what
Segment's libraries make anonymous ids) and instance ids of 16 hex digits (all the engine makes) are stored
as ``""``, their bytes in ``packed`` (16 an alias, then 8 an instance id, in the profile's order); a wait's
``due`` time in whole seconds is stored as an integer. A record with nothing to pack is written in layout
2's form, two bytes shorter (its integer due times read as floats there too). A UUID alias costs 18 bytes less, an instance id 8
and a whole-second due time 4: the median record of ``make bench`` goes from 533 to ~505 bytes. Only the
exact text a binary form turns back into is packed (not upper case, not braces), and ids are never empty,
so the decoded profile equals the encoded one exactly.

In either layout the profile's last fields, ``dropped`` (added 2026-12-04) and ``undeliverable`` (2026-12-05), are
left out when empty (nearly every customer): a missing trailing field decodes as its default, so records are what they
were before them, byte for byte. A worker from before them reads a record holding them without them (msgspec ignores
an array's extra trailing items).

Layout 2 (written from 2026-11-30 to 2026-12-03) is a msgpack array ``[2, hw, profile, ids, instances, fresh]``:

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
tells the layouts apart: 2-3 elements against 6-7). A worker from before layout 2 cannot read a layout-2
or 3 record and stops on it (its ``hw`` slot holds 2 and its profile slot an integer) instead of misreading
it, and one from before layout 3 stops on a layout-3 record (its tag is not 2); docs/operations.md,
"Upgrading", says how to upgrade a running deployment.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
from msgspec.structs import replace

from cjo_stream.profile import Instance, Profile, profile_fields

# the structs live in a module of their own (no structs in a compiled module), imported from here as before
from cjo_stream.runtime.stored_types import Stored as Stored
from cjo_stream.runtime.stored_types import _Layout2, _Layout3

_NO_INSTANCES: Final[dict[str, Instance]] = {}  # put in the encoded fields only; never mutated
_FRESH_BITS: Final = 1 << 63  # ``fresh`` stays a msgpack integer: instances past the 63rd store their time
_LAYOUT1_MAX: Final = 0x93  # msgpack fixarray of 3: layout 1 is an array of 2 or 3, layout 2 of 6, 3 of 7
_LAYOUT2: Final = 0x96  # msgpack fixarray of 6
_WHOLE_MAX: Final = 2.0**53  # due times below it in whole seconds are stored as integers, exactly
# positions of the fields the record marks, in the lists of fields it encodes (msgspec writes an array-like struct
# as the array of its fields in order, so a list of them with some replaced encodes as a marked copy of the struct)
_CUSTOMER_ID: Final = Profile.__struct_fields__.index("customer_id")
_LAST_SEEN: Final = Profile.__struct_fields__.index("last_seen")
_TRAITS: Final = Profile.__struct_fields__.index("traits")
_TIMEZONE: Final = Profile.__struct_fields__.index("timezone")
_INSTANCES: Final = Profile.__struct_fields__.index("instances")
_ALIASES: Final = Profile.__struct_fields__.index("aliases")
_ENTERED_AT: Final = Instance.__struct_fields__.index("entered_at")
_INSTANCE_ID: Final = Instance.__struct_fields__.index("instance_id")
_DUE: Final = Instance.__struct_fields__.index("due")

_enc: Final = msgspec.msgpack.Encoder()  # (Final: statics of the compiled module, not a global looked up per call)
_dec1: Final = msgspec.msgpack.Decoder(Stored)
_dec2: Final = msgspec.msgpack.Decoder(_Layout2)
_dec3: Final = msgspec.msgpack.Decoder(_Layout3)
_astuple: Final = msgspec.structs.astuple
_fromhex: Final = bytes.fromhex  # looked up once: compiled, ``bytes.fromhex(s)`` looks it up at every call (callgrind)


def _uuid_bytes(s: str) -> bytes | None:
    """The 16 bytes of a UUID in canonical text (lower case, hyphenated), else None: only that text is
    what :func:`_uuid_text` makes of them again."""
    if len(s) != 36 or s[8] != "-" or s[13] != "-" or s[18] != "-" or s[23] != "-":
        return None
    digits = s.replace("-", "")
    try:
        b = _fromhex(digits)
    except ValueError:
        return None
    # 32 characters made 16 bytes: no space skipped, no other hyphen; fromhex also reads upper case
    return b if len(b) == 16 and b.hex() == digits else None


def _uuid_text(b: bytes) -> str:
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _hex_bytes(s: str) -> bytes | None:
    """The 8 bytes of an instance id of 16 lower-case hex digits (the engine's), else None."""
    if len(s) != 16:
        return None
    try:
        b = _fromhex(s)
    except ValueError:
        return None
    return b if b.hex() == s else None


def encode_stored(hw: int, p: Profile, ids: bytes = b"", layout: int = 3) -> bytes:
    """The record for ``p`` (stored under its customer id), in layout 3. ``p`` is left as it was. ``layout=2``
    or ``1`` writes what workers before layout 3 or 2 read (``CJO_STORED_LAYOUT``: a rolling upgrade's first
    step, while such workers still run and may take partitions over)."""
    if layout == 1:
        return _enc.encode(Stored(hw, p, ids))
    if layout == 2:
        return _encode2(hw, p, ids)
    # the profile's fields as the record writes them, read from this list too (a struct's field read from
    # compiled code is a generic attribute lookup, ~160 instructions)
    head = profile_fields(p)
    traits: dict[str, Any] = head[_TRAITS]
    tz: str | None = head[_TIMEZONE]
    if tz is not None and tz == traits.get("timezone"):
        head[_TIMEZONE] = ""
    head[_CUSTOMER_ID] = ""
    instances: dict[str, Instance] = head[_INSTANCES]
    head[_INSTANCES] = _NO_INSTANCES
    aliases: list[str] = head[_ALIASES]
    packed = bytearray()
    if aliases:
        kept: list[str] = []
        for a in aliases:
            b = _uuid_bytes(a)
            if b is None:
                kept.append(a)
            else:
                kept.append("")
                packed += b
        if packed:
            head[_ALIASES] = kept
    last: float = head[_LAST_SEEN]
    fresh, bit = 0, 1
    runs: list[list[Any]] = []
    for inst in instances.values():
        # entered_at 0 and a due time in whole seconds (a send window's start) are integers: 1 and 5 bytes, not 9
        # (they decode as floats). The instance's fields in a list, marked there: no copy of the struct
        # (``replace`` with keywords cost ~800 instructions an instance, callgrind), nothing set on the profile's own.
        run = list(_astuple(inst))
        if run[_ENTERED_AT] == last and bit < _FRESH_BITS:
            fresh |= bit
            run[_ENTERED_AT] = 0
        b = _hex_bytes(run[_INSTANCE_ID])
        if b is not None:
            packed += b
            run[_INSTANCE_ID] = ""
        due: float | None = run[_DUE]
        if due is not None and 0 < due < _WHOLE_MAX:
            whole = int(due)
            if whole == due:
                run[_DUE] = whole
        runs.append(run)
        bit <<= 1
    if packed:
        return _enc.encode((3, hw, head, ids, runs, fresh, bytes(packed)))
    return _enc.encode((2, hw, head, ids, runs, fresh))  # nothing packed: layout 2's form, two bytes shorter


def _encode2(hw: int, p: Profile, ids: bytes) -> bytes:
    """Layout 2, as workers from 2026-11-30 to 2026-12-03 wrote it."""
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
    return _enc.encode((2, hw, _head(p, tz), ids, runs, fresh))


def _head(p: Profile, tz: str | None) -> list[Any]:
    """The record's profile: its fields as :func:`~cjo_stream.profile.encode_profile` writes them (without ``dropped``
    and ``undeliverable`` when empty: as records were before them), with the customer id, the
    time zone ``tz`` and the instances (written after it) marked."""
    head = profile_fields(p)
    head[_CUSTOMER_ID] = ""
    head[_TIMEZONE] = tz
    head[_INSTANCES] = _NO_INSTANCES
    return head


def decode_stored(raw: bytes, customer_id: str) -> Stored:
    """The record stored under ``customer_id`` (either layout), as the profile it was encoded from."""
    if raw[0] <= _LAYOUT1_MAX:
        return _dec1.decode(raw)
    if raw[0] == _LAYOUT2:
        r2 = _dec2.decode(raw)
        return _unmark(customer_id, r2.hw, r2.profile, r2.ids, r2.instances, r2.fresh, b"")
    r = _dec3.decode(raw)
    return _unmark(customer_id, r.hw, r.profile, r.ids, r.instances, r.fresh, r.packed)


def _unmark(customer_id: str, hw: int, p: Profile, ids: bytes, runs: list[Instance], fresh: int,
            packed: bytes) -> Stored:
    """The profile a layout-2 or 3 record was encoded from: the markers replaced by what they stand for."""
    at = 0
    if packed:
        aliases = p.aliases
        for k, a in enumerate(aliases):
            if not a:
                aliases[k] = _uuid_text(packed[at:at + 16])
                at += 16
    p.customer_id = customer_id
    if p.timezone == "":
        p.timezone = p.traits.get("timezone")
    if runs:
        last, into = p.last_seen, p.instances
        for inst in runs:
            if fresh & 1:
                inst.entered_at = last
            fresh >>= 1
            if not inst.instance_id:
                inst.instance_id = packed[at:at + 8].hex()
                at += 8
            into[inst.journey] = inst
    return Stored(hw, p, ids)
