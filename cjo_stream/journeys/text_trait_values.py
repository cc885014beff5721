"""Traits a journey's conditions compare with a number or true/false that customers of a simulated or replayed
input hold as text.

A lone output keeps the type its data gave (README, Profile updates): ``last_total: "{{ event.properties.total }}"``
stores ``"250"`` for a producer that quotes its numbers, and a customer's own traits keep theirs (an identify's
``"score": "50"``). ``profile.traits.last_total >= 100`` then never holds for that customer, and nothing said so:
the load-time warning (:mod:`~cjo_stream.journeys.text_traits`) sees only templates that always render text, and
the text-number note (:mod:`~cjo_stream.journeys.text_numbers`) only event properties. In a walkthrough a VIP
branch on an order total took its other way for the one customer whose total came quoted, unsaid. After a run the
profiles are known: the customers holding such a trait as text at the end are counted and told, per journey and
trait (only the count: the values are the customers' data).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from cjo_stream.journeys.conditions import compared_keys, conditions, latest_versions
from cjo_stream.journeys.expressions import Expression
from cjo_stream.journeys.model import Journey
from cjo_stream.journeys.stage_model import Stages
from cjo_stream.journeys.templates import Template
from cjo_stream.journeys.unset_traits import _role


def _compared(when: Expression) -> Iterator[tuple[str, str]]:
    """Each trait ``when`` compares in a way text never meets, with what: ``a number`` (``>=``, ``==``, ``in``
    a list of numbers, arithmetic), ``true`` or ``false`` (``==``)."""
    for key, literal, never, _ in compared_keys(when, "profile", "traits"):
        if never:
            yield key, literal


def _writers(journeys: Iterable[Journey]) -> tuple[dict[str, str], set[str]]:
    """Per trait, the first update step that writes it from a lone ``{{ }}`` (``step s of journey j``: it stores
    the data's text as text); and the traits one writes from a template that always renders text, which the
    loader warns about at the condition's line already."""
    lone: dict[str, str] = {}
    text: set[str] = set()
    for j in journeys:
        for step in j.steps.values():
            if step.update is not None:
                for name, value in step.update.traits:
                    if isinstance(value, Template) and not value.lone:
                        text.add(name)
                    elif isinstance(value, Template) and name not in lone:
                        lone[name] = f"step {step.id} of journey {j.id}"
    return lone, text


def text_trait_notes(journeys: Iterable[Journey], traits_of: Iterable[Mapping[str, Any]],
                     stages: Stages | None = None) -> list[str]:
    """One line per journey (latest version; ``stages.yaml`` as one more) and trait its conditions compare with
    a number or true/false that some of ``traits_of``, the customers' traits at the end, hold as text."""
    latest = latest_versions(journeys)
    roles: dict[str, dict[str, list[tuple[str, str]]]] = {}  # who: trait: (role, literal)
    for jid in sorted(latest):
        for c in conditions(latest[jid]):
            role = _role(c)
            for name, literal in _compared(c.when):
                of = roles.setdefault(f"journey {jid}", {}).setdefault(name, [])
                if role not in (r for r, _ in of):
                    of.append((role, literal))
    for stage in stages.stages if stages is not None else ():
        for name, literal in _compared(stage.when):
            of = roles.setdefault("stages.yaml", {}).setdefault(name, [])
            if not of or of[-1][0] != f"stage {stage.name}'s when":
                of.append((f"stage {stage.name}'s when", literal))
    writers, warned = _writers(latest.values())
    wanted = {name for of in roles.values() for name in of} - warned
    if not wanted:
        return []
    as_text: dict[str, int] = {}
    for traits in traits_of:
        for name in wanted:
            if isinstance(traits.get(name), str):
                as_text[name] = as_text.get(name, 0) + 1
    out: list[str] = []
    for who, of_who in roles.items():
        for name, roles_of in of_who.items():
            n = as_text.get(name, 0)
            if not n:
                continue
            literal = roles_of[0][1]
            like = f'"{literal}", not {literal}' if literal in ("true", "false") else '"150", not 150'
            unquoted = "true/false" if literal in ("true", "false") else "the number"
            if name in writers:
                fix = (f"{writers[name]} stores what its lone {{{{ }}}} gives, text where the data gave text: send "
                       f"{unquoted} unquoted" + (", or write {{ ... | plus: 0 }} there" if unquoted == "the number"
                                                 else ""))
            else:
                fix = f"a trait keeps the type the customer's events sent: send {unquoted} unquoted"
            out.append(f"{who}: {n} customer(s) of the input hold the trait {name!r} as text at the end ({like}), "
                       f"which {', '.join(r for r, _ in roles_of)} compares with {literal}: that never holds for "
                       f"text (README, Expressions); {fix}")
    return out
