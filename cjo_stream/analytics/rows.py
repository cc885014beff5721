"""The analytics fold's stored rows: msgspec structs, kept apart from the fold so that it compiles (mypyc)."""

from __future__ import annotations

from typing import Any

import msgspec


class InstanceRow(msgspec.Struct, array_like=True):
    journey: str
    version: int
    hour: int  # cohort: epoch hour of entry
    entered_at: float
    step: str | None = None
    variant: str | None = None
    holdout: bool = False
    at: float = 0.0  # event time of the latest transition applied
    global_control: bool = False  # the customer is in the policies' global control group (last: old rows decode)
    split: str | None = None  # the split step whose arm ``variant`` is (its sends count for that arm)
    #: every split arm taken, ``<split>|<variant>`` (one per split): a conversion counts for each (last: old rows decode)
    arms: list[str] | None = None


class DeliveryRow(msgspec.Struct, array_like=True):
    journey: str
    version: int
    hour: int
    step: str
    channel: str
    local_hour: int | None = None
    freq: int | None = None
    seen: int = 0  # receipt statuses counted (bit per RECEIPTS entry)
    at: float = 0.0  # when it was sent (event time): rows older than the receipt window are pruned
    arm: str | None = None  # ``<split>|<variant>``: the split arm its instance was in when sent (receipts count there)


ROW_TYPES: dict[str, Any] = {"i": InstanceRow, "d": DeliveryRow, "r": list[tuple[str, float]],
                             "f": list[tuple[float, str]], "s": tuple[int, int]}
"""Row types by key prefix (``i:`` instance, ``d:`` delivery, ``r:`` receipts waiting for their delivery,
``f:`` a customer's recent sends (time, delivery id), ``s:`` the highest source position applied per partition)."""
