"""The warnings of failed peer lookups, a few lines however many callbacks fail.

Every callback whose send another replica holds asks that replica (:mod:`cjo_stream.adapters.peers`): when it cannot
be reached, a provider's burst of callbacks logged a line each, thousands a minute. Held per peer URL
(:mod:`~cjo_stream.adapters.held_warnings`); ``cjo_adapter_peer_lookups_total`` still counts every lookup.
"""

from __future__ import annotations

from cjo_stream.adapters.held_warnings import HeldWarnings


class PeerWarnings(HeldWarnings):
    """Keyed by the peer's URL; ``why`` is what happened and what to set."""

    def _first(self, key: str, why: str) -> None:
        self.log.warning("adapter %s: peer lookup at %s %s", self.adapter, key, why)

    def _summary(self, key: str, n: int, why: str, over: float) -> None:
        self.log.warning("adapter %s: %d more peer lookup(s) at %s failed in the last %.0f s (not logged one by one); "
                         "the last %s", self.adapter, n, key, over, why)
