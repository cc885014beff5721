"""The bundle of outputs of one engine call (compiled: see :class:`Result`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cjo_stream.commands import DeliveryCommand, SkipRecord
from cjo_stream.profile import Profile

if TYPE_CHECKING:
    from cjo_stream.engine.transition import Transition
    from cjo_stream.engine.types import Timer


class Result:
    """What one engine call decided. The caller stores ``timers`` and may delete ``cancelled`` ones
    (parkings the instance left before they were due; firing them would change nothing).

    One is made per event, most of which decide nothing: ``__init__`` is written out (list literals)
    because a dataclass's calls a default factory per list. A class compiled by mypyc, in a module of its own
    (:mod:`cjo_stream.engine.types` defines msgspec structs, which mypyc cannot take): the compiled engine,
    simulator and fold read its fields directly, not through Python's attribute lookup (~16 reads an event).
    """

    profile: Profile
    commands: list[DeliveryCommand]
    skips: list[SkipRecord]
    timers: list[Timer]
    transitions: list[Transition]
    cancelled: list[Timer]
    # lifecycle stage moves (from, to), in order: from "" is a new customer placed in the first stage,
    # to "" a profile merged into another (metrics keep a per-stage count from these)
    stage_moves: list[tuple[str, str]]
    stage_at: float  # when the stage moves happened (the call's decision time; analytics buckets them)
    late: bool  # the event happened before the customer's latest event
    too_late: bool  # ... by more than the allowed lateness: it started no journey
    limited: int  # what the profile left out of it (cjo_stream.profile LIMITED_* bits, PUSH_TOKEN_REFUSED; 0 nearly always)
    consent_changed: bool  # a consent was withdrawn or given back, or a bounced address remembered or cleared
    # (cjo_stream.profile.CONSENT_CHANGED: the worker tells the adapters)
    absorbed: str  # the id whose profile an absorb merged into this one ("" otherwise): analytics joins its sends

    def __init__(self, profile: Profile, commands: list[DeliveryCommand] | None = None,
                 skips: list[SkipRecord] | None = None, timers: list[Timer] | None = None,
                 transitions: list[Transition] | None = None, cancelled: list[Timer] | None = None,
                 stage_moves: list[tuple[str, str]] | None = None, stage_at: float = 0.0, late: bool = False,
                 too_late: bool = False) -> None:
        self.profile = profile
        self.commands = [] if commands is None else commands
        self.skips = [] if skips is None else skips
        self.timers = [] if timers is None else timers
        self.transitions = [] if transitions is None else transitions
        self.cancelled = [] if cancelled is None else cancelled
        self.stage_moves = [] if stage_moves is None else stage_moves
        self.stage_at = stage_at
        self.late = late
        self.too_late = too_late
        self.limited = 0
        self.consent_changed = False
        self.absorbed = ""
