"""Events whose names read as consent events and are none, told by a live worker.

Only events named exactly ``subscribed`` and ``unsubscribed`` give and withdraw consent (README, Event model,
"Profile"). Segment's title case ``Unsubscribed`` or an ``Email Unsubscribed`` changes none, so whoever
sent one goes on being messaged. ``simulate`` and ``replay`` print a note on such names
(:func:`cjo_stream.journeys.unseen.consent_lookalikes`); a worker said nothing. Now it logs each such name
once a process (the name only: no customer, no payload) and counts their events in
``cjo_consent_lookalike_events_total{event}``.

**Cost.** The batch step tests each applied event's name against :data:`ORDINARY`, the names found to be
none: one set lookup, on a hash the profile's counters compute for the same string anyway. Only a name not
there calls :func:`seen` (a name first read, or a lookalike's event), which counts the batch's lookalike
events; the worker's step publishes them after the batch (:func:`publish`). The set is bounded
(:data:`ORDINARY_KEPT`: emptied when full, so a flood of distinct names costs a check each, no memory).

**Bounded series.** The ``event`` label is a lookalike's name (no other name ever gets one), among the
first :data:`LABELS_KEPT` a process saw and printable within :data:`LABEL_CHARS` characters; any other
counts as ``other``. At most :data:`TOLD_KEPT` names are logged a process.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Final

from cjo_stream import metrics
from cjo_stream.journeys.unseen import consent_lookalike, consent_note

log = logging.getLogger("cjo_stream.runtime.lookalikes")

#: Names known to read as no consent event, kept at most (then emptied and filled again).
ORDINARY_KEPT: Final = 16_384
#: Distinct ``event`` label values (besides ``other``) a process gives the counter.
LABELS_KEPT: Final = 20
#: The longest name that is a label value as it is (a longer one is ``other``, and shortened in the log).
LABEL_CHARS: Final = 64
#: Distinct lookalike names a process logs.
TOLD_KEPT: Final = 100

#: Event names checked that read as no consent event: the batch step's test (``name not in ORDINARY``).
ORDINARY: set[str] = set()
#: Names checked that read as one (bounded as :data:`ORDINARY` is), and which consent event each reads as.
_lookalikes: dict[str, str] = {}
_labels: set[str] = set()
_told: set[str] = set()
_told_all = False


def seen(name: str, counts: Counter[str]) -> None:
    """An applied event named ``name``, which is not in :data:`ORDINARY`: counted in ``counts`` (the batch's,
    :class:`~cjo_stream.metrics.BatchCounts`) if it reads as a consent event, else added to :data:`ORDINARY`."""
    if name in _lookalikes:
        counts[name] += 1
        return
    consent = consent_lookalike(name)
    if consent is None:
        if len(ORDINARY) >= ORDINARY_KEPT:
            ORDINARY.clear()
        ORDINARY.add(name)
        return
    if len(_lookalikes) >= ORDINARY_KEPT:
        _lookalikes.clear()
    _lookalikes[name] = consent
    counts[name] += 1


def _plain(name: str) -> bool:
    return len(name) <= LABEL_CHARS and name.isprintable()


def label(name: str) -> str:
    """The counter's ``event`` label for a lookalike ``name``."""
    if name in _labels:
        return name
    if len(_labels) < LABELS_KEPT and _plain(name):
        _labels.add(name)
        return name
    return "other"


def publish(counts: Counter[str]) -> None:
    """A batch's lookalike events (name -> events, ``BatchCounts.lookalikes``) into the counter, after the
    batch (the worker's step); each name new to this process logged."""
    global _told_all
    for name, n in counts.items():
        metrics.CONSENT_LOOKALIKES.labels(label(name)).inc(n)
        if name in _told:
            continue
        if len(_told) < TOLD_KEPT:
            _told.add(name)
            shown = repr(name) if _plain(name) else f"{name[:LABEL_CHARS]!r}… ({len(name)} characters)"
            consent = _lookalikes.get(name) or consent_lookalike(name) or "unsubscribed"
            log.warning("%s (counted in cjo_consent_lookalike_events_total)", consent_note(shown, consent))
        elif not _told_all:
            _told_all = True
            log.warning("more than %d event names read as consent events and are none: further ones are "
                        "counted in cjo_consent_lookalike_events_total, not logged", TOLD_KEPT)
