"""A send after an ``update`` step that withdrew its channel's or topic's consent, on the same path.

A sunset flow's ``update: {consent: {email: false}}`` followed by a "sorry to see you go" mail: the engine skips the
mail ``no_consent`` for every customer who walks that way (the withdrawal acts as the customer's own
``unsubscribed``), and nothing says so until the analytics show zero sends. Told at load as a warning at the send,
naming the update step's line. Not for a ``transactional`` send (consent is not its test) nor an internal channel's.
"""

from __future__ import annotations

from cjo_stream.commands import CUSTOMER_CHANNELS
from cjo_stream.journeys.model import END, Journey, Step
from cjo_stream.journeys.source import Located

#: the consent name that withdraws every channel and topic (profile_types.ALL_CHANNELS)
_EVERY = "all"
#: the customer's event that gives a consent back
_SUBSCRIBED = "subscribed"


def _withdraws(names: tuple[str, ...], step: Step) -> str | None:
    """The consent name of ``names`` that holds back the send ``step`` (its topic's, its channel's, or every one),
    None if none does."""
    send = step.send
    if send is None or send.transactional:
        return None
    if send.topic is not None and send.topic in names:
        return send.topic
    if send.channel in names:
        return send.channel
    if _EVERY in names and send.channel in CUSTOMER_CHANNELS:  # (a declared channel's kind is the policies' word)
        return _EVERY
    return None


def _onward(step: Step) -> tuple[str, ...]:
    """The steps ``step`` leads to but by a way on which the customer gave their consent back: a wait_for's
    ``subscribed`` event ("welcome back" after a sunset), or a condition on their consent holding."""
    if step.kind != "wait_for":
        return step.targets
    if step.condition is not None:
        regained = "profile.consent" in step.condition.source
        return (step.on_timeout,) if regained else step.targets
    return tuple(t for m, t in step.ways if m.event != _SUBSCRIBED) + (step.on_timeout,)


def _after(j: Journey, start: Step) -> list[tuple[Step, bool]]:
    """The steps reachable from ``start`` (not through a way the consent comes back by: :func:`_onward`), each
    once, with whether every way there from it waits somewhere (False: some way reaches it in the same decision)."""
    waited: dict[str, bool] = {}
    todo = [(t, start.waits) for t in start.targets]
    while todo:
        sid, w = todo.pop()
        if sid == END or sid == start.id or (sid in waited and (w or not waited[sid])):
            continue
        waited[sid] = w
        step = j.steps[sid]
        todo.extend((t, w or step.waits) for t in _onward(step))
    return [(j.steps[sid], w) for sid, w in waited.items()]


def withdrawn_send_warnings(loaded: list[tuple[Journey, Located]]) -> list[str]:
    """One warning per (update step, send after it) where the send's channel or topic is one the update withdrew."""
    out: list[str] = []
    for j, src in loaded:
        index = {sid: i for i, sid in enumerate(j.steps)}
        for update in j.steps.values():
            names = update.update.consent if update.update is not None else ()
            if not names:
                continue
            line = src.line(("steps", index[update.id], "update", "consent"))
            for step, waited in sorted(_after(j, update), key=lambda s: index[s[0].id]):
                name = _withdraws(names, step)
                if name is None:
                    continue
                assert step.send is not None
                what = f"topic {name}" if name == step.send.topic else \
                    "every channel" if name == _EVERY else f"channel {name}"
                when = "unless the customer subscribes again while it waits" if waited else "for every customer"
                out.append(f"{j.source}:{src.line(('steps', index[step.id], 'send'))}: warning: step {step.id} "
                           f"sends on {step.send.channel}{f' (topic {step.send.topic})' if step.send.topic else ''} "
                           f"after step {update.id} (line {line}) withdrew the consent of {what} on the same path: "
                           f"it is skipped no_consent {when}; send it before the update, or mark it "
                           "`transactional: true` if it is a confirmation the customer asked for")
    return out
