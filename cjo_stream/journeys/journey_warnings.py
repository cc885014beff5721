"""What loads but is likely not what the author meant: ``validate``'s warnings over the loaded journeys.

Each is ``file:line: warning: reason`` (read from the parsed file: the compiled journey keeps no lines) and
refuses nothing. The checks of one concern live in modules of their own (receipt waits, lifetimes, text traits,
update steps); this module holds the smaller ones and lists them all, in the order ``validate`` prints them.
"""

from __future__ import annotations

import re
from typing import Any

from cjo_stream.commands import ALL_CHANNELS, CONTENT_NEEDS
from cjo_stream.journeys.conditions import located_conditions, way_path
from cjo_stream.journeys.expressions import Expression
from cjo_stream.journeys.lifetime_warnings import lifetime_warnings
from cjo_stream.journeys.markup_warnings import markup_warnings
from cjo_stream.journeys.model import END, Journey, exit_place
from cjo_stream.journeys.receipt_waits import receipt_wait_warnings
from cjo_stream.journeys.source import Located, Path
from cjo_stream.journeys.step_templates import step_templates
from cjo_stream.journeys.text_traits import text_trait_warnings
from cjo_stream.journeys.update_newlines import update_newline_warnings
from cjo_stream.journeys.update_order import update_order_warnings
from cjo_stream.journeys.withdrawn_sends import withdrawn_send_warnings
from cjo_stream.webhook_content import headers_of


def journey_warnings(loaded: list[tuple[Journey, Located]],
                     stage_whens: list[tuple[str, int, Expression]]) -> list[str]:
    """Every warning about the loaded journeys (each with its parsed file); ``stage_whens``: the lifecycle
    stages' conditions with their file and line, read with the journeys' by the text-trait check."""
    return _scheduled_event_warnings(loaded) + _content_warnings(loaded) + _zero_count_warnings(loaded) \
        + _quoted_number_warnings(loaded) + _preempted_warnings(loaded) + _group_traits_warnings(loaded) \
        + _variant_warnings(loaded) + receipt_wait_warnings(loaded) + lifetime_warnings(loaded) \
        + text_trait_warnings(loaded, located_conditions, stage_whens) + update_newline_warnings(loaded) \
        + update_order_warnings(loaded) + withdrawn_send_warnings(loaded) + _day_test_warnings(loaded) \
        + _dated_number_warnings(loaded) + _credential_header_warnings(loaded) + _unsubscribe_link_warnings(loaded) \
        + markup_warnings(loaded)


#: ``{unsubscribe_url}`` as the email adapter fills it in (adapters.email), and the near misses of it
_LINK = "{unsubscribe_url}"
_LINK_LIKE = re.compile(r"(?<!\{)\{\s*unsub[\w-]*\s*\}(?!\})", re.IGNORECASE)
#: the content keys the email adapter fills the link in: not the subject (a header)
_LINK_KEYS = ("body", "text", "html")


def _unsubscribe_link_warnings(loaded: list[tuple[Journey, Located]]) -> list[str]:
    """``{unsubscribe_url}`` where no adapter fills it in (an SMS, a push, a mail's subject) or misspelt
    (``{unsubscribe-url}``, ``{unsubscribe_link}``): it went out as written, braces and all."""
    out = []
    for j, src in loaded:
        for i, step in enumerate(j.steps.values()):
            if step.send is None:
                continue
            channel = step.send.channel
            for where, key, tpl in step_templates(step):
                if key == "to":
                    continue
                line = src.line(("steps", i, *where))
                for m in _LINK_LIKE.finditer(tpl.source):
                    if m.group(0) != _LINK:
                        out.append(f"{j.source}:{line}: warning: step {step.id}'s {key} writes {m.group(0)}, which "
                                   f"nothing fills in: it goes out as written (the email adapter's link is {_LINK})")
                    elif channel in ALL_CHANNELS and (channel != "email" or key not in _LINK_KEYS):
                        where_told = f"a message on {channel}" if channel != "email" else f"a mail's {key}"
                        out.append(f"{j.source}:{line}: warning: step {step.id}'s {key} writes {_LINK}, which the "
                                   f"email adapter fills in a mail's body (body, text, html) only: {where_told} "
                                   "shows it as written")
                    break
    return out


#: What the synthetic ``scheduled`` event of a scheduled entry holds empty (engine.core.scheduled_view).
_EMPTY_WHEN_SCHEDULED = ("properties", "traits", "context")


def _scheduled_event_warnings(loaded: list[tuple[Journey, Located]]) -> list[str]:
    """A scheduled journey whose ``entry.when`` reads ``event.properties`` (or traits, context): always empty
    on a scheduled entry, so the audience was silently nobody (or everybody). A warning, not a problem:
    a hand-over into the journey gives it its own trigger as ``event``, so a hand-over target is let be."""
    targets = {h.target for j, _ in loaded for h in j.handovers}
    out = []
    for j, src in loaded:
        when = j.entry.when
        if j.schedule is None or when is None or j.id in targets:
            continue
        reads = sorted(".".join(map(str, ("event", *keys))) for root, keys in when.paths
                       if root == "event" and keys and keys[0] in _EMPTY_WHEN_SCHEDULED)
        if reads:
            part = reads[0].split(".")[1]
            out.append(f"{j.source}:{src.line(('entry', 'when'))}: warning: entry.when reads {reads[0]}, always "
                       f"empty on a scheduled entry (its `scheduled` event has no {part}; only a hand-over into "
                       "this journey gives it an event): read the profile instead (profile.traits, profile.last, "
                       "profile.counters)")
    for j, src in loaded:  # the same for a send's template: it rendered empty text for every customer
        if j.schedule is None or j.id in targets:
            continue
        for i, step in enumerate(j.steps.values()):
            for where, key, tpl in step_templates(step):
                reads = sorted(".".join(map(str, ("event", *keys))) for keys in tpl.paths("event")
                               if keys and keys[0] in _EMPTY_WHEN_SCHEDULED)
                if reads:
                    out.append(f"{j.source}:{src.line(('steps', i, *where))}: warning: step "
                               f"{step.id}'s {key} reads {reads[0]}, always empty on a scheduled entry (its "
                               f"`scheduled` event has no {reads[0].split('.')[1]}): read the profile instead "
                               "(profile.traits, profile.last, profile.counters)")
    return out


#: a count of the profile compared as if a missing one were 0: ``profile.counters.x == 0``, ``< 3``, ``!= 0``
_COUNT = r"profile\.counters(?:\.[A-Za-z_]\w*|\[\s*(?:'[^']*'|\"[^\"]*\")\s*\])"
_ZERO_COUNT = re.compile(rf"{_COUNT}\s*(?:[=!]=\s*0(?![\w.])|<=?\s*\d)|(?<![\w.])(?:0\s*[=!]=|\d\s*>=?)\s*{_COUNT}")


def _day_test_warnings(loaded: list[tuple[Journey, Located]]) -> list[str]:
    """An event entry whose ``when`` holds on one day (``days_until(profile.traits.trial_ends_at) == 3``): it is
    tested only when that event comes, so a customer with no such event that day is never entered, where
    Klaviyo's date-property trigger and Customer.io's date-based campaign look at every profile each day (what
    a ``schedule`` entry does). A warning: an entry on a sign-up that happens to be on the day may be meant; a
    range (``<= 3``) is let be. A hand-over target, whose entry a scheduled journey's hand-over may test, too."""
    targets = {h.target for j, _ in loaded for h in j.handovers}
    out = []
    for j, src in loaded:
        when = j.entry.when
        if j.schedule is not None or when is None or j.id in targets:
            continue
        for test in sorted(when.day_tests)[:1]:
            out.append(f"{j.source}:{src.line(('entry', 'when'))}: warning: `{test}` holds on one day, and an "
                       f"entry on the event {j.entry.event!r} tests it only when one comes: a customer without one "
                       "that day is never entered; to test it every day, write `schedule: {every: 1d, at: "
                       "\"09:00\"}` instead of `event:` (README, Date-based journeys)")
    return out


def _dated_number_warnings(loaded: list[tuple[Journey, Located]]) -> list[str]:
    """A value a calendar function reads as a date that a condition of the same journey compares with a number
    (``days_until(event.properties.total)`` beside ``event.properties.total >= 20``): an amount or a count, not a
    date, so the day it gives is 1970's. A warning: epoch seconds are a number too."""
    out = []
    for j, src in loaded:
        found = list(located_conditions(j, src))
        dated = {p: path for path, cond in found for p in cond.dated}
        told: set[tuple[object, ...]] = set()
        for path, cond in found:
            for root, keys, literal, _, written in sorted(cond.literals, key=repr):
                where = dated.get((root, keys))
                if literal != "a number" or where is None or (root, keys) in told:
                    continue
                told.add((root, keys))
                name = ".".join((root, *map(str, keys)))
                out.append(f"{j.source}:{src.line(where)}: warning: a date function reads {name} as a date, and "
                           f"`{written}` (line {src.line(path)}) compares it with a number: a date is YYYY-MM-DD or "
                           "RFC 3339 text, or epoch seconds (README, Date-based journeys)")
    return out


def _zero_count_warnings(loaded: list[tuple[Journey, Located]]) -> list[str]:
    """A condition comparing a count as if an event never had counted 0: its count is null (README,
    Expressions), so ``profile.counters.order_completed == 0`` holds for nobody, ``< 3`` not for a customer
    who never ordered and ``!= 0`` for every one of them (a walkthrough's welcome series entered no one). A
    warning: the author may mean it."""
    out = []
    for j, src in loaded:
        for path, cond in located_conditions(j, src):
            m = _ZERO_COUNT.search(cond.source)
            if m is not None and "null" not in cond.source and "exists(" not in cond.source:  # (null handled)
                out.append(f"{j.source}:{src.line(path)}: warning: `{m.group(0)}` compares a count as if an event "
                           "never had counted 0, but its count is null then (== 0 and < n are false, != 0 true): "
                           "write not (profile.counters.<event> >= 1) for \"never had it\" (README, Expressions)")
    return out


#: an ordering comparison with a number in quotes: ``event.properties.price >= '20'``, ``'20' < x``
_QUOTED_NUMBER = re.compile(r"""(?:[<>]=?\s*(['"])-?\d+(?:\.\d+)?\1)|(?:(['"])-?\d+(?:\.\d+)?\2\s*[<>])""")


def _quoted_number_warnings(loaded: list[tuple[Journey, Located]]) -> list[str]:
    """An ordering comparison with a number in quotes, which is text: it never holds for a number, and compares
    text by its characters (``'100' < '20'``), so ``price >= '20'`` entered nobody (a walkthrough). A warning:
    text may be what the author compares."""
    out = []
    for j, src in loaded:
        for path, cond in located_conditions(j, src):
            m = _QUOTED_NUMBER.search(cond.source)
            if m is not None:
                out.append(f"{j.source}:{src.line(path)}: warning: `{m.group(0).strip()}` compares with a number in "
                           "quotes, which is text: it never holds for a number (text is not a number, README, "
                           "Expressions); write the number without quotes")
    return out


#: the instance's split arm compared with a name: ``journey.variant == 'B'``, ``'b' != journey.variant``
_VARIANT_IS = re.compile(r"""journey\.variant\s*(==|!=)\s*(['"])(.*?)\2|(['"])(.*?)\4\s*(==|!=)\s*journey\.variant""")


def _variant_warnings(loaded: list[tuple[Journey, Located]]) -> list[str]:
    """A condition or template comparing ``journey.variant`` with a name none of the journey's splits has
    (``'A'`` for the arm ``a``): ``==`` never holds (``!=`` always), so a subject-line test sent every
    customer the other subject while the report showed both arms filling up (a walkthrough). A warning: a
    journey edited under its customers may still have instances in an arm it dropped."""
    import difflib

    out = []
    for j, src in loaded:
        names = sorted({a.variant for s in j.steps.values() for a in s.split})
        texts: list[tuple[Path, str, bool]] = [(path, cond.source, False) for path, cond in located_conditions(j, src)]
        for i, step in enumerate(j.steps.values()):
            texts.extend((("steps", i, *where), tpl.source, True) for where, _, tpl in step_templates(step)
                         if where != ("send", "to"))  # (not a send's address)
        for path, text, template in texts:
            for m in _VARIANT_IS.finditer(text):
                op, name = (m.group(1), m.group(3)) if m.group(1) else (m.group(6), m.group(5))
                if name in names:
                    continue
                line = src.text_line(path, text, m.start()) if template else src.line(path)
                close = [n for n in names if n.lower() == name.lower()] or \
                    difflib.get_close_matches(name, names, n=1, cutoff=0.6)
                have = (f"its splits' variants are {', '.join(map(repr, names))}" if names else
                        "it has no split, so journey.variant is null")
                holds = "never holds" if op == "==" else "always holds"
                out.append(f"{j.source}:{line}: warning: `{m.group(0)}` {holds}: journey {j.id} has no variant "
                           f"{name!r} ({have}){f'; did you mean {close[0]!r}?' if close else ''}")
    return out


def _preempted_warnings(loaded: list[tuple[Journey, Located]]) -> list[str]:
    """A ``wait_for`` of the event the journey's goal (or an ``exit_on``) takes without a ``when``: the goal
    and exits are checked first and end the instance, so the wait's ``on_event`` way is never taken (a
    walkthrough's "thank you" step after ``wait_for: Order Completed`` never sent, with ``goal: Order
    Completed``). A warning: the step may be there for a later edit of the goal."""
    out = []
    for j, src in loaded:
        enders = [("goal", m) for m in ([j.goal] if j.goal is not None else [])] + [("exit_on", m) for m in j.exit_on]
        for i, step in enumerate(j.steps.values()):
            for k, (wf, target) in enumerate(step.ways):
                if target == END:
                    continue
                paths = ("steps", i, "wait_for", "paths") in src.lines
                where = (*way_path(src, i, k), "event") if paths else ("steps", i, "on_event")
                for what, m in enders:
                    if m.event == wf.event and m.when is None:
                        way = f"path {k + 1}'s way" if paths else "on_event way"
                        out.append(f"{j.source}:{src.line(where)}: warning: step {step.id} waits for {wf.event!r}, "
                                   f"which the journey's {what} takes first (it ends the instance), so its {way} to "
                                   f"{target!r} is never taken: give the {what} a `when`, or wait for another event")
                        break
        # an exit on the goal's event (Braze's exception event and conversion event both "order placed"): the
        # goal is checked first and takes every such event, so the exit never happens
        for k, m in enumerate(j.exit_on):
            if j.goal is not None and j.goal.when is None and m.event == j.goal.event:
                out.append(f"{j.source}:{src.line(('exit_on', exit_place(j, k), 'event'))}: warning: exit_on {m.event!r} is the "
                           f"goal's event, which the goal takes first (converted, the instance ends), so this exit "
                           f"never happens: drop it, or give the goal a `when`")
    return out


def _content_warnings(loaded: list[tuple[Journey, Located]]) -> list[str]:
    """A send whose content lacks every key its channel's adapter reads the message from (``CONTENT_NEEDS``):
    that adapter refuses each such send, a ``failed`` receipt in production, long after ``validate``. A
    warning, not a problem: a deployment may consume the channel's topic with its own adapter, which may
    need other keys (a provider's template id)."""
    import difflib

    out = []
    for j, src in loaded:
        for i, step in enumerate(j.steps.values()):
            needs = CONTENT_NEEDS.get(step.send.channel) if step.send is not None else None
            if step.send is None or not needs:
                continue
            keys = [k for k, _ in step.send.content]
            if any(k in needs for k in keys):
                continue
            close = [c for k in keys for c in difflib.get_close_matches(k, needs, n=1, cutoff=0.6)]
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            out.append(f"{j.source}:{src.line(('steps', i, 'send', 'content'))}: warning: step {step.id}'s "
                       f"{step.send.channel} content has none of {', '.join(map(repr, needs))}{hint}: the "
                       f"{step.send.channel} adapter refuses such a message (a failed receipt for every send)")
    return out


#: a header name that carries a credential: Authorization, X-Api-Key, X-Auth-Token, a secret, a password
_CREDENTIAL = re.compile(r"auth|api[-_]?key|token|secret|passw", re.I)


def _credential_header_warnings(loaded: list[tuple[Journey, Located]]) -> list[str]:
    """A webhook step's own request with a credential written in its ``headers`` (``Authorization: Bearer
    sk_live...``): it loads and works, and it is in every delivery command (``cjo.delivery.webhook``, ``simulate``'s
    output, ``tail``) and in the journeys' repository. docs/adapters.md says an API key lives in the adapter's
    ``CJO_WEBHOOK_HEADERS``, never in a journey file; nothing said so at the line (a new user's walkthrough). A
    value rendered from data (``{{ profile.traits.token }}``) is the customer's, not a secret of the file."""
    out = []
    for j, src in loaded:
        for i, step in enumerate(j.steps.values()):
            if step.send is None or step.send.channel != "webhook":
                continue
            text = next((t.source for k, t in step.send.content if k == "headers"), None)
            try:
                headers = headers_of(text) if text is not None else {}
            except ValueError:
                continue  # rendered from data, or refused at load already
            for name, value in headers.items():
                if _CREDENTIAL.search(name) and value.strip() and "{{" not in value and "{%" not in value:
                    out.append(f"{j.source}:{src.line(('steps', i, 'send', 'content', 'headers'))}: warning: step "
                               f"{step.id}'s header {name!r} holds a credential written in the journey file, which "
                               "every delivery command carries (cjo.delivery.webhook, simulate's output): give it "
                               "to the adapter in CJO_WEBHOOK_HEADERS (docs/adapters.md, webhook)")
    return out


def _events_at(j: Journey, entry: frozenset[str]) -> dict[str, set[str]]:
    """The names the ``event`` at each step may have: the trigger (``entry``: the entry event, or a hand-over's)
    until a ``wait_for``'s event, that event until a timer wakes the instance (a wait, a timeout), which
    brings back the kept trigger (README, Templates: "after a wait_for's event, it is that event")."""
    at: dict[str, set[str]] = {}
    todo: list[tuple[str, frozenset[str]]] = [(j.first, entry)]
    while todo:
        sid, names = todo.pop()
        step = j.steps.get(sid)
        if step is None or (sid in at and names <= at[sid]):
            continue
        have = at.setdefault(sid, set())
        have |= names
        if step.kind == "wait_for":
            todo.extend((t, frozenset({m.event})) for m, t in step.ways)
            if step.condition is not None:  # the event it came on (held already), or the trigger (as after a timer)
                todo.append((step.next, frozenset(have) | entry))
            todo.append((step.on_timeout, entry))
        elif step.waits:
            todo.append((step.next, entry))
        else:
            todo.extend((t, frozenset(have)) for t in step.targets)
    return at


def _group_traits_warnings(loaded: list[tuple[Journey, Located]]) -> list[str]:
    """A send's template (or a branch) reading ``event.traits`` where ``event`` may be a ``group`` call: its
    traits are the group's, at ``event.properties.traits`` (events.py), so ``event.traits`` rendered empty
    for every such call, silently (a condition matched against ``group`` itself is refused at load). A
    warning: the same step may see another event, whose traits are its own."""
    triggers: dict[str, set[str]] = {}
    for j, _ in loaded:
        triggers.setdefault(j.id, set()).add(j.entry.event)
    while True:  # a hand-over gives its target the event the handing-over step sees
        at_of = {id(j): _events_at(j, frozenset(triggers[j.id])) for j, _ in loaded}
        grew = False
        for j, _ in loaded:
            for sid, step in j.steps.items():
                names = at_of[id(j)].get(sid, set())
                if step.enter in triggers and not names <= triggers[step.enter]:
                    triggers[step.enter] |= names
                    grew = True
        if not grew:
            break
    out = []
    for j, src in loaded:
        at = at_of[id(j)]
        for i, (sid, step) in enumerate(j.steps.items()):
            if "group" not in at.get(sid, ()):
                continue
            reads: list[tuple[Path, str, tuple[Any, ...], str, int]] = []  # where, what, keys, its text, at
            for where, key, tpl in step_templates(step):
                keys = min((k for k in tpl.paths("event") if k[:1] == ("traits",)), key=repr, default=None)
                if keys is not None:
                    reads.append((("steps", i, *where), f"step {sid}'s {key}", keys, tpl.source,
                                  tpl.index_of("event", keys)))
            for k, (cond, _) in enumerate(step.branch):
                keys = min((p for r, p in cond.paths if r == "event" and p[:1] == ("traits",)), key=repr,
                           default=None) if cond is not None else None
                if cond is not None and keys is not None:
                    reads.append((("steps", i, "branch", k, "when"), f"step {sid}'s branch", keys, cond.source,
                                  max(cond.source.find("event.traits"), 0)))
            for path, what, keys, text, index in reads:
                rest = "".join(f".{k}" for k in keys[1:2] if isinstance(k, str))
                out.append(f"{j.source}:{src.text_line(path, text, index)}: warning: {what} reads event.traits{rest}, "
                           f"empty when its event is a group call: the group's traits are "
                           f"event.properties.traits{rest} (README, Event model)")
    return out
