"""Traits a journey's conditions or content templates read that no customer of a simulated or replayed input
has, and event properties its conditions read that no event of that name in it carried: a likely typo.

Trait names are the customers' data, so ``when: profile.traits.loyalty_tier == 'gold'`` validates whatever
the profiles hold; over an input where no customer has ``loyalty_tier`` the condition sees ``null`` for
everyone, and a simulation showed zero entries without saying why (a walkthrough). After a run the traits
the customers have are known: each trait a condition reads that none has is told, with the closest one
they have. So is each trait a send's content writes bare (:mod:`~cjo_stream.journeys.template_reads`: not
under a ``| default:``, not only tested in an ``if``): ``Hi {{ profile.traits.frist_name }}`` wrote "Hi " in
every e-mail, unsaid; and one it reads under a ``| default:`` when a trait they have is close to it (the
default went to everyone). The same for ``event.properties.cart_vlaue`` on the event a condition is matched
against (entry, goal, exit_on, a wait_for's way: a branch's event is whichever came last), told when the
input had such events.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping

from cjo_stream.journeys.conditions import Condition, conditions, event_of, latest_versions, on_entry_event
from cjo_stream.journeys.expressions import Expression
from cjo_stream.journeys.model import Journey, Step
from cjo_stream.journeys.step_templates import step_templates
from cjo_stream.journeys.template_reads import (
    bare_property_reads,
    bare_trait_reads,
    defaulted_traits,
    fallback_traits,
)
from cjo_stream.journeys.templates import Template

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")  # written `.name` in Liquid, others `['name']`


def _role(c: Condition) -> str:
    if c.step is not None:
        return f"step {c.step}'s {c.kind}" if c.event is not None or c.kind != "wait_for" else \
            f"step {c.step}'s wait_for condition"
    # an exit_on condition matches no event: it has no `when` (the note named one the file does not have)
    return f"its {c.kind}'s when" if c.event is not None or c.kind != "exit_on" else "its exit_on condition"


def _traits_read(cond: Expression) -> Iterator[str]:
    for root, keys in cond.paths:
        if root == "profile" and len(keys) >= 2 and keys[0] == "traits" and isinstance(keys[1], str):
            yield keys[1]


def _folded(name: str) -> str:
    """``firstName``, ``first_name`` and ``First Name`` alike: one trait in the spellings of two systems."""
    return re.sub(r"[\s_-]+", "", name).lower()


def _closest_trait(name: str, choices: list[str]) -> str | None:
    close = [c for c in choices if _folded(c) == _folded(name)][:1] or \
        difflib.get_close_matches(name, choices, n=1, cutoff=0.85)  # not loyalty_id (0.82) for loyalty_tier
    return close[0] if close else None


def _latest(journeys: Iterable[Journey], traits: set[str]) -> Iterator[tuple[str, Journey]]:
    """Each journey's latest version by id, to compare with ``traits``, the names the input's customers have:
    none when that is empty (no customer has any: nothing to compare)."""
    if traits:
        latest = latest_versions(journeys)
        for jid in sorted(latest):
            yield jid, latest[jid]


def written_traits(journeys: Iterable[Journey], steps: Mapping[tuple[str, str], Mapping[str, int]]) -> set[str]:
    """The traits an ``update`` step wrote (not null) to some customer of the run: its step counted reached more
    often than skipped (``steps``: the funnel's counts by journey and step). Customers had them, though a later
    ``null`` may have removed them by the end (set a flag, clear it a day later): the profiles at the end alone
    made the notes say a branch read it as null for everyone, beside the sends it chose."""
    out: set[str] = set()
    for journey in journeys:
        for sid, step in journey.steps.items():
            if step.update is None:
                continue
            counts = steps.get((journey.id, sid), {})
            if counts.get("reached", 0) > sum(n for k, n in counts.items() if k.startswith("skipped:")):
                out.update(name for name, value in step.update.traits if value is not None)
                out.update(name for name, _ in step.update.increment)
    return out


def unreached_writers(journeys: Iterable[Journey], steps: Mapping[tuple[str, str], Mapping[str, int]]) -> dict[str, str]:
    """Per trait, an ``update`` step that writes it (not null) and that no customer of the run reached (``steps``:
    the funnel's counts): why no customer has it. A journey whose entry event the input lacked was told as
    such, and then each trait its update writes as one to give a default, as if misspelt."""
    out: dict[str, str] = {}
    for journey in journeys:
        for sid, step in journey.steps.items():
            if step.update is not None and not steps.get((journey.id, sid), {}).get("reached", 0):
                for name in (*(n for n, v in step.update.traits if v is not None), *(n for n, _ in step.update.increment)):
                    out.setdefault(name, f"step {sid} of journey {journey.id}")
    return out


def _unreached(name: str, unreached: Mapping[str, str]) -> str:
    return f"{unreached[name]} writes it, which no customer of the input reached"


#: (journey id, trait): what reads it (clauses, each "step s's x reads it ... for everyone") and the hints after them
_Told = dict[tuple[str, str], tuple[list[str], list[str]]]
#: :func:`unreached_writers`: a trait's update step no customer reached (said instead of a typo's hints)
_Unreached = Mapping[str, str]


def _condition_clauses(journeys: Iterable[Journey], traits: set[str], unreached: _Unreached) -> _Told:
    """Per journey (latest version) and trait its conditions read that ``traits``, the names the input's customers
    have, lacks: the clause saying which conditions, and the hints (the closest trait they have)."""
    choices = sorted(traits)
    out: _Told = {}
    for jid, journey in _latest(journeys, traits):
        roles: dict[str, list[str]] = {}
        on_group: set[str] = set()  # traits a condition on a group call reads: likely the group's, meant
        valued: set[str] = set()  # read somewhere as more than a test for having none (`not exists(...)`)
        for c in conditions(journey):
            role, event = _role(c), c.event
            for root, keys in c.when.paths:
                if root == "profile" and len(keys) >= 2 and keys[0] == "traits" and (root, keys) not in \
                        c.when.absence:
                    valued.add(str(keys[1]))
            for name in _traits_read(c.when):
                if name not in traits and role not in roles.get(name, []):
                    roles.setdefault(name, []).append(role)
                    if event == "group":
                        on_group.add(name)
        for name, roles_of in roles.items():
            close = _closest_trait(name, choices)
            if name not in valued and not close and name not in unreached:
                continue  # only tested for having none (`not exists(profile.traits.churned)`): as meant
            hints = [f"did you mean {close!r}?"] if close else []
            if name in on_group:  # the group's traits stay off the profile (events.py)
                hints.append(f"a group call's own traits are event.properties.traits.{name}")
            if name in unreached:
                hints.append(_unreached(name, unreached))
            out[(jid, name)] = ([f"{', '.join(roles_of)} reads it as null for everyone"], hints)
    return out


def _templates(journey: Journey) -> Iterator[tuple[Step, str, str, Template]]:
    """Each template of a send step (its content and ``to:``) and of an ``update`` step, with the step, its role
    in a note (``step s's email``, ``step s's update``) and the field (``subject``, ``to``, the trait written)."""
    for step in journey.steps.values():
        # (an update's template: stored as it renders, "", or removed by a lone output; an empty to: no_address)
        for path, key, template in step_templates(step):
            if path[0] == "update":
                yield step, f"step {step.id}'s update", f"of {key}", template
            else:
                assert step.send is not None
                yield step, f"step {step.id}'s {step.send.channel}", key, template


def _template_clauses(journeys: Iterable[Journey], traits: set[str], unreached: _Unreached) -> _Told:
    """Per journey (latest version) and trait a send step's content or ``to:``, or an update's value, writes bare
    that ``traits`` lacks: it renders empty in every send (a ``to:`` empty skips a customer's send as
    ``no_address``). So is one it reads under a ``default`` when a trait they have is close to it (``{{
    profile.traits.frist_name | default: 'friend' }}`` wrote "friend" to everyone: a default alone says some
    customers lack it, not that none has it)."""
    choices = sorted(traits)
    out: _Told = {}
    for jid, journey in _latest(journeys, traits):
        fields: dict[str, dict[str, list[str]]] = {}  # trait: "step s's channel": the content fields writing it
        looped: dict[str, bool] = {}  # trait: whether only `for` loops read it bare
        defaulted: dict[str, dict[str, list[str]]] = {}  # the same, of the traits read under a default
        updating: set[str] = set()  # the traits an update step's template writes (not only sends')
        removing: dict[str, bool] = {}  # trait: whether only lone outputs of updates read it (nil: removed)
        fallback: dict[str, bool] = {}  # trait: whether only as a default's value (`| default: profile.traits.x`)
        for step, role, field, template in _templates(journey):
            fallbacks = fallback_traits(template.source)
            for name, loop in bare_trait_reads(template.source).items():
                if name not in traits:
                    looped[name] = looped.get(name, True) and loop
                    fallback[name] = fallback.get(name, True) and name in fallbacks
                    removing[name] = removing.get(name, True) and step.update is not None and template.lone
                    if step.update is not None:
                        updating.add(name)
                    of_step = fields.setdefault(name, {}).setdefault(role, [])
                    if field not in of_step:
                        of_step.append(field)
            for name in defaulted_traits(template.source):
                if name not in traits:
                    of_step = defaulted.setdefault(name, {}).setdefault(role, [])
                    if field not in of_step:
                        of_step.append(field)
        for name, roles in fields.items():
            where = ", ".join(f"{role} {' and '.join(f)}" for role, f in roles.items())
            verb = "renders" if sum(len(f) for f in roles.values()) == 1 else "render"
            path = f"profile.traits.{name}" if _NAME.fullmatch(name) else f"profile.traits[{name!r}]"
            close = _closest_trait(name, choices)
            hint = f"did you mean {close!r}? or give" if close else "give"
            span = "for everyone" if name in updating else "for every send"
            if looped[name]:  # `{% for t in x | default: '...' %}` does not parse
                hint += f" its for loop an {{% else %}}: {{% for ... in {path} %}}...{{% else %}}...{{% endfor %}}"
            elif fallback[name]:  # empty only where the value it stands in for is missing: a default of its own
                hint += f" it a default of its own: ... | default: {path} | default: '...'"
                span = "where the value it is the default of is missing"
            else:
                hint += f" it a default: {{{{ {path} | default: '...' }}}}"
            if name in unreached:  # not misspelt: its writer never ran (the entry event the input lacked, ...)
                hint = _unreached(name, unreached)
            if removing[name]:  # a lone {{ }} stores the value: nil removes the trait it writes, for everyone
                verb = "reads" if verb == "renders" else "read"
                span = "for everyone, and removes the trait written"
            out[(jid, name)] = ([f"{where} {verb} it {'as null' if removing[name] else 'empty'} {span}"], [hint])
        for name, roles in defaulted.items():
            close = _closest_trait(name, choices)
            if name in fields or close is None:  # told above; or likely meant to be missing: nothing close
                continue
            where = ", ".join(f"{role} {' and '.join(f)}" for role, f in roles.items())
            verb = "writes" if sum(len(f) for f in roles.values()) == 1 else "write"
            out[(jid, name)] = ([f"{where} {verb} its default for every send"], [f"did you mean {close!r}?"])
    return out


def _lines(told: _Told) -> list[str]:
    return [f"journey {jid}: no customer in the input has a trait {name!r} ({'; '.join([*clauses, *hints])})"
            for (jid, name), (clauses, hints) in told.items()]


def unset_traits(journeys: Iterable[Journey], traits: set[str], unreached: _Unreached | None = None) -> list[str]:
    """One line per journey (latest version) and trait its conditions read that ``traits``, the names the
    input's customers have, lacks; nothing when ``traits`` is empty (no customer has any: nothing to compare).
    ``unreached``: :func:`unreached_writers`, said of a trait one writes."""
    return _lines(_condition_clauses(journeys, traits, unreached or {}))


def unset_template_traits(journeys: Iterable[Journey], traits: set[str],
                          unreached: _Unreached | None = None) -> list[str]:
    """One line per journey (latest version) and trait its templates write bare (or under a default, a close
    trait existing) that ``traits`` lacks (:func:`_template_clauses`). Nothing when ``traits`` is empty."""
    return _lines(_template_clauses(journeys, traits, unreached or {}))


def trait_notes(journeys: Iterable[Journey], traits: set[str], unreached: _Unreached | None = None) -> list[str]:
    """What ``simulate`` and ``replay`` tell: one line per journey and trait no customer has, naming every
    condition and template reading it (a trait a branch tested and a mail wrote was told twice, the same "did
    you mean" in each). A template's hint (a default to give) stands for the condition's same closest name."""
    unreached = unreached or {}
    told = _condition_clauses(journeys, traits, unreached)
    for key, (clauses, hints) in _template_clauses(journeys, traits, unreached).items():
        if key not in told:
            told[key] = (clauses, hints)
            continue
        mine_clauses, mine_hints = told[key]
        said = hints[0].split("?")[0] if hints[0].startswith("did you mean") else hints[0]
        kept = [h for h in mine_hints if not h.startswith(said)]
        told[key] = ([*mine_clauses, *clauses], [*hints, *kept])
    return _lines(dict(sorted(told.items(), key=lambda kv: kv[0][0])))


def _on_entry_event(j: Journey) -> Iterator[tuple[str, str, bool]]:
    """The ``event.properties`` keys the templates of a send or update step read where ``event`` is always the
    entry event (reached from the first step by no ``wait_for``'s way, whose event or timeout may come first),
    each with its role in a note (``step s's update of coupon``, ``step s's email subject``) and whether the
    template writes it bare (not under a ``default``, not tested in an ``if``). A walkthrough's
    ``coupon: "{{ event.properties.coupon }}"`` over events carrying ``cuopon`` removed the trait for everyone
    and mailed "Code  for 150", unsaid: only conditions were looked at."""
    entry_steps = on_entry_event(j)
    for step, role, field, template in _templates(j):
        if step.id in entry_steps:
            bare = bare_property_reads(template.source)
            for path in template.paths("event"):
                if len(path) >= 2 and path[0] == "properties" and isinstance(path[1], str):
                    yield path[1], f"{role} {field}", path[1] in bare


def properties_read(journeys: Iterable[Journey]) -> dict[str, frozenset[str]]:
    """Per event name, the ``event.properties`` keys a condition matched against that event reads (the first
    key below ``properties``), and a template of a step reached on the entry event: what a simulation records
    of the events it handles, for :func:`unset_properties`."""
    out: dict[str, set[str]] = {}
    for j in journeys:
        entry_steps = on_entry_event(j)
        for c in conditions(j):
            event = event_of(j, c, entry_steps)
            if event is not None:
                for root, keys in c.when.paths:
                    if root == "event" and len(keys) >= 2 and keys[0] == "properties" and isinstance(keys[1], str):
                        out.setdefault(event, set()).add(keys[1])
        for key, _, _ in _on_entry_event(j):
            out.setdefault(j.entry.event, set()).add(key)
    return {name: frozenset(keys) for name, keys in out.items()}


def unset_properties(journeys: Iterable[Journey], carried: Mapping[str, set[str]],
                     read: Mapping[str, frozenset[str]], where: str = "the input") -> list[str]:
    """One line per journey (latest version), event name and property its conditions on that event read that
    no such event carried. ``carried``: per event name seen, the property keys its events had (every key read,
    and others for the closest one); ``read``: what was recorded (:func:`properties_read`), so a key no one
    looked for is not told; a name no event had is :mod:`~cjo_stream.journeys.unseen`'s."""
    latest = latest_versions(journeys)
    out: list[str] = []
    for jid in sorted(latest):
        roles: dict[tuple[str, str], list[str]] = {}
        compared: set[tuple[str, str]] = set()  # read somewhere as more than a test for having none
        entry_steps = on_entry_event(latest[jid])
        for c in conditions(latest[jid]):
            event = event_of(latest[jid], c, entry_steps)
            if event is None or event not in carried:
                continue
            for root, keys in c.when.paths:
                if root != "event" or len(keys) < 2 or keys[0] != "properties" or not isinstance(keys[1], str):
                    continue
                name, role = keys[1], _role(c)
                if name in read.get(event, ()) and name not in carried[event]:
                    if (root, keys) not in c.when.absence:
                        compared.add((event, name))
                    if role not in roles.get((event, name), []):
                        roles.setdefault((event, name), []).append(role)
        entry = latest[jid].entry.event
        # conditions read theirs as null: told whatever a template does, but a key only tested for having none
        # (`not exists(event.properties.coupon)`: none carrying it is what the test is for) is told as a default is
        bare_somewhere = set(compared)
        for name, role, bare in _on_entry_event(latest[jid]):
            if entry in carried and name in read.get(entry, ()) and name not in carried[entry] and \
                    role not in roles.get((entry, name), []):
                roles.setdefault((entry, name), []).append(role)
                if bare:
                    bare_somewhere.add((entry, name))
        handled = set(roles) - bare_somewhere  # read by templates only, each under a default or an `if`
        for (event, name), roles_of in roles.items():
            choices = sorted(carried[event])
            close = [c for c in choices if _folded(c) == _folded(name)][:1] or \
                difflib.get_close_matches(name, choices, n=1, cutoff=0.8)
            if (event, name) in handled and not close:  # a default (or an `if`) for a key none had: as meant
                continue
            hint = f"; did you mean {close[0]!r}?" if close else ""
            out.append(f"journey {jid}: no {event!r} event in {where} has a property {name!r} ({', '.join(roles_of)} "
                       f"reads event.properties.{name} as null for every one{hint})")
    return out
