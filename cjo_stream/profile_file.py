"""``simulate --profiles`` and ``replay --profiles``: each customer's profile at the end, one JSON line each.

In the state API's format (``GET /customers/<id>``'s ``profile``), sorted by customer id, so that a journey
author checks what an ``update`` step wrote, offline, as they would on a worker. Shared by both commands so
that the two files compare line for line.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from cjo_stream.engine import Engine
from cjo_stream.errors import FileProblem
from cjo_stream.profile import Profile, profile_to_dict


def write_profiles(path: str, profiles: Mapping[str, Profile], engine: Engine) -> int:
    """Write ``profiles`` to ``path`` (keys sorted in each line); the number written. A :class:`FileProblem`
    when the file cannot be written (checked writable before the run: a full disk, a directory removed)."""
    encode = msgspec.json.Encoder(order="sorted").encode
    n = 0
    try:
        with open(path, "wb") as f:
            for cid in sorted(profiles):  # (a replay's spilled profiles are read back from its store one by one)
                f.write(encode(profile_to_dict(profiles[cid], engine.default_stage, engine.ending)) + b"\n")
                n += 1
    except OSError as e:
        raise FileProblem(f"cannot write the profiles {path}: {e.strerror}") from None
    return n
