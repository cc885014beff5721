"""The stored record's structs (:mod:`cjo_stream.runtime.stored` has the layouts and imports these as before).

In a module of their own because :mod:`cjo_stream.runtime.stored` is compiled with mypyc
(``cjo_stream.native``), and msgspec decodes a struct defined in a compiled module wrongly.
"""

from __future__ import annotations

import msgspec

from cjo_stream.profile_types import Instance, Profile


class Stored(msgspec.Struct, array_like=True):
    """A profile as the worker holds it: with the offset of the last internal-topic record applied to
    it and the fingerprints of the customer's recent messageIds. Also layout 1's decoder (``ids`` is
    absent in records written before it existed)."""

    hw: int
    profile: Profile
    ids: bytes = b""


class _Layout2(msgspec.Struct, array_like=True, tag=2):
    """Decoder of layout 2 (see the module docstring); the tag is the record's first element."""

    hw: int
    profile: Profile
    ids: bytes
    instances: list[Instance]
    fresh: int


class _Layout3(msgspec.Struct, array_like=True, tag=3):
    """Decoder of layout 3: layout 2 plus ``packed``, the binary form of the ids stored as ``""``."""

    hw: int
    profile: Profile
    ids: bytes
    instances: list[Instance]
    fresh: int
    packed: bytes
