"""An entry ``when`` reading a trait that another journey's ``update`` step writes on the same event, too late.

On an event the engine tries the journeys it starts in the order of their ids (engine.core, ``by_entry_event``),
and each runs until it waits. So when ``vip_setter`` writes ``vip: true`` on ``order_completed`` and
``big_thanks`` enters on ``order_completed`` when ``profile.traits.vip == true``, ``big_thanks`` (the earlier id)
reads the trait as it was before the update: a customer's first order starts nothing, and renaming either
journey changes that. Told at load as a warning at the reader's ``when``, with what does it in one go: a
hand-over (``enter:``) after the update, whose target's entry ``when`` applies.
"""

from __future__ import annotations

from cjo_stream.journeys.conditions import latest_versions
from cjo_stream.journeys.model import Journey, until_first_wait
from cjo_stream.journeys.source import Located


def _written_at_entry(j: Journey) -> dict[str, str]:
    """The traits the update steps reached from the first step before any wait write: trait -> step id."""
    out: dict[str, str] = {}
    for step in until_first_wait(j):
        if step.update is not None:
            for name, value in step.update.traits:
                if value is not None:
                    out.setdefault(name, step.id)
            for name, _ in step.update.increment:
                out.setdefault(name, step.id)
    return out


def update_order_warnings(loaded: list[tuple[Journey, Located]]) -> list[str]:
    """One warning per (reader, writer, trait): a journey whose entry ``when`` reads a trait that a journey of a
    later id, entered on the same event, writes before its first wait (and hands nothing over to the reader)."""
    latest = latest_versions(j for j, _ in loaded)
    where = {id(j): src for j, src in loaded}
    out: list[str] = []
    writers = [(w, _written_at_entry(w)) for w in latest.values() if w.schedule is None]
    for rid in sorted(latest):
        reader = latest[rid]
        when = reader.entry.when
        if reader.schedule is not None or when is None or id(reader) not in where:
            continue
        read = sorted({keys[1] for root, keys in when.paths
                       if root == "profile" and len(keys) >= 2 and keys[0] == "traits" and isinstance(keys[1], str)})
        for writer, written in writers:
            if writer.id <= rid or writer.entry.event != reader.entry.event:
                continue
            if any(s.enter == rid for s in writer.steps.values()):  # handed over after the update: meant
                continue
            for name in read:
                if name in written:
                    line = where[id(reader)].line(("entry", "when"))
                    out.append(f"{reader.source}:{line}: warning: journey {rid}'s entry reads trait {name!r}, which "
                               f"journey {writer.id}'s step {written[name]} writes on the same event "
                               f"({reader.entry.event!r}); journeys are started in the order of their ids, so {rid} "
                               f"is tried first and reads the trait as it was before that step: to start {rid} once "
                               f"it is written, end the update with a hand-over (enter: {rid}), whose entry's "
                               "when applies")
    return out
