"""An ``update`` step's lone ``{{ expr }}`` stores the expression's value with its type (Jinja2's NativeEnvironment):
``last_order_total: "{{ event.properties.total }}"`` stored "150", so ``profile.traits.last_order_total >= 100``
never held. Any other template still renders text; nil removes the trait; a number no profile holds writes
nothing of the step (``out_of_range``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine, ev

ORDERS = """
journey: orders
re_entry: always
entry: {event: order_completed}
steps:
  - id: remember
    update:
      traits:
        last_order_total: "{{ event.properties.total }}"
  - id: check
    branch:
      - when: profile.traits.last_order_total >= 100
        next: big
      - else: small
  - id: big
    send: {channel: email, content: {subject: "big"}}
    next: end
  - id: small
    send: {channel: email, content: {subject: "small"}}
"""


def _run(text: str, props: dict[str, Any], traits: dict[str, Any] | None = None) -> Simulator:
    sim = Simulator(engine(text))
    sim.handle(ev("identify", T0, type="identify", traits={"email": "a@example.com", **(traits or {})}))
    sim.handle(ev("order_completed", T0 + 60, props=props))
    return sim


@pytest.mark.parametrize(("total", "way"), [(150, "big"), (100, "big"), (99.5, "small"), (20, "small")])
def test_a_number_copied_from_the_event_is_a_number_and_the_branch_compares_it(total: float, way: str) -> None:
    sim = _run(ORDERS, {"total": total})
    stored = sim.profiles["u1"].traits["last_order_total"]
    assert stored == total and type(stored) is type(total)
    assert [c.content["subject"] for c in sim.commands] == [way]


@pytest.mark.parametrize(("template", "props", "stored"), [
    ("{{ event.properties.v }}", {"v": 2.5}, 2.5),
    ("{{ event.properties.v }}", {"v": True}, True),
    ("{{ event.properties.v }}", {"v": False}, False),
    ("{{ event.properties.v }}", {"v": "gold"}, "gold"),
    ("{{ event.properties.v }}", {"v": "150"}, "150"),  # the producer's text stays text...
    ("{{ event.properties.v | plus: 0 }}", {"v": "150"}, 150),  # ...a filter makes it a number
    ("{{ event.properties.v | times: 1.5 }}", {"v": 10}, 15.0),
    ("{{ event.properties.items | size }}", {"items": ["a", "b"]}, 2),
    ("{{ event.properties.v | upcase }}", {"v": "gold"}, "GOLD"),
    ("{{- event.properties.v -}}\n", {"v": 7}, 7),  # whitespace control leaves the output alone
    ("{{ event.properties.v }} ", {"v": 7}, "7 "),  # text around it: text, as before
    ("{{ event.properties.v }} EUR", {"v": 7}, "7 EUR"),
    ("{{ event.properties.v }}{{ event.properties.v }}", {"v": 7}, "77"),
    ("{% if event.properties.v %}true{% endif %}", {"v": 7}, "true"),
    ("{{ event.properties.items }}", {"items": ["a", "b"]}, "ab"),  # a list renders as Liquid writes it
    ("{{ event.properties.m | json }}", {"m": {"a": [1]}}, '{"a":[1]}'),
    ("{{ event.properties.v | default: 0 }}", {}, 0),
    ("{{ now }}", {}, "2026-03-02T10:01:00.000Z"),  # the decision time as a send's decided_at text
])
def test_a_lone_output_keeps_its_values_type_anything_else_renders_text(template: str, props: dict[str, Any],
                                                                        stored: Any) -> None:
    text = ORDERS.replace('"{{ event.properties.total }}"', json.dumps(template))  # (YAML reads JSON's strings)
    got = _run(text, props).profiles["u1"].traits["last_order_total"]
    assert got == stored and type(got) is type(stored), (template, got)


def test_a_list_or_mapping_value_is_stored_as_its_text_not_as_the_events_object() -> None:
    sim = _run(ORDERS.replace("total }}", "m }}"), {"m": {"a": 1}})
    assert sim.profiles["u1"].traits["last_order_total"] == "{'a': 1}"  # as a send's template renders it


def test_nil_or_a_missing_property_removes_the_trait_as_null_does() -> None:
    """Not "" (neither a number nor absent: an increment of it is not_a_number, `| default:` cannot tell it from
    missing), nor the value of an earlier event left standing (the last order's total of another order)."""
    sim = _run(ORDERS, {}, traits={"last_order_total": 500})
    assert "last_order_total" not in sim.profiles["u1"].traits
    assert [c.content["subject"] for c in sim.commands] == ["small"]
    assert sim.funnel.steps[("orders", "remember")].get("skipped:render_error") is None
    kept = ORDERS.replace("total }}", "total | default: profile.traits.last_order_total }}")
    assert _run(kept, {}, traits={"last_order_total": 500}).profiles["u1"].traits["last_order_total"] == 500
    assert "last_order_total" not in _run(ORDERS.replace("total }}", "total | first }}"), {"total": []}) \
        .profiles["u1"].traits  # a filter's nil too


@pytest.mark.parametrize(("template", "props"), [
    ("{{ event.properties.n | times: 4 }}", {"n": 2**62}),  # past a signed 64-bit integer
    ("{{ event.properties.n | plus: 1 }}", {"n": 2**63 - 1}),
    ("{{ event.properties.n | minus: 1 }}", {"n": -(2**63)}),
    ("{{ event.properties.s | plus: 0 }}", {"s": "inf"}),  # no JSON number, but text a filter reads as one
    ("{{ event.properties.s | plus: 0 }}", {"s": "nan"}),
    ("{{ event.properties.n | times: 10.0 }}", {"n": 1.7e308}),
])
def test_a_number_no_profile_holds_writes_nothing_of_the_step(template: str, props: dict[str, Any]) -> None:
    text = ORDERS.replace('"{{ event.properties.total }}"', f'"{template}"\n        seen: true')
    sim = _run(text, props, traits={"last_order_total": 1})
    traits = sim.profiles["u1"].traits
    assert traits["last_order_total"] == 1 and "seen" not in traits  # none of the step, as an increment's
    assert sim.funnel.steps[("orders", "remember")].get("skipped:out_of_range") == 1
    assert [c.content["subject"] for c in sim.commands] == ["small"]  # and the instance went on


def test_a_lone_output_that_fails_on_the_data_is_a_render_error() -> None:
    sim = _run(ORDERS.replace("total }}", "total | divided_by: event.properties.n }}"), {"total": 5, "n": 0})
    assert sim.funnel.steps[("orders", "remember")].get("skipped:render_error") == 1
    assert "last_order_total" not in sim.profiles["u1"].traits
