"""A misspelt field of ``event``, ``profile`` or ``journey`` is refused at load with ``file:line``.

A missing key is null (right for data: a property, a trait), so without this check a typo such as
``profile.trait.vip`` would make a condition false, or a template empty, for every customer, silently.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from cjo_stream.engine.core import _view_of
from cjo_stream.events import decode_event
from cjo_stream.journeys.fields import FIELDS
from cjo_stream.journeys.loader import JourneyLoadError, load_journey_text
from cjo_stream.profile import new_profile
from cjo_stream.simulator import Simulator
from tests.conftest import T0, engine, ev

BASE = """\
journey: j
version: 1
entry:
  event: go
  when: event.properties.x >= 1
steps:
  - id: pick
    branch:
      - when: profile.traits.vip == true
        next: hello
      - else: end
  - id: hello
    send: {channel: email, content: {subject: "Hi {{ profile.traits.first_name }}", body: "{{ journey.id }}"}}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(JourneyLoadError) as info:
        load_journey_text(textwrap.dedent(text), "j.yaml")
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("event.properties.x", "event.propertes.x",
     "j.yaml:5: bad expression 'event.propertes.x >= 1': event has no field 'propertes' (did you mean 'properties'?)"),
    ("profile.traits.vip", "profile.trait.vip",
     "j.yaml:9: bad expression 'profile.trait.vip == true': profile has no field 'trait' (did you mean 'traits'?)"),
    ("profile.traits.vip", "profile['trait'].vip", "j.yaml:9: bad expression"),
    ("{{ journey.id }}", "{{ journey.entered }}", "j.yaml:13: body: template: journey has no field 'entered'"),
    ("{{ profile.traits.first_name }}", "{{ profile.trait.first_name | default: 'x' }}",
     "j.yaml:13: subject: template: profile has no field 'trait' (did you mean 'traits'?)"),
    ("{{ journey.id }}", "{{ journy.id }}",
     "j.yaml:13: body: template: unknown variable 'journy' (did you mean 'journey'?); templates see event, profile"),
    ("{{ journey.id }}", "{% if evnt.properties.x %}x{% endif %}", "j.yaml:13: body: template: unknown variable 'evnt'"),
])
def test_misspelt_fields_are_refused_with_file_and_line(old: str, new: str, expected: str) -> None:
    assert old in BASE
    (problem,) = problems(BASE.replace(old, new))
    assert problem.startswith(expected), problem


@pytest.mark.parametrize("template", [
    "{{ event.properties.anything.deep }} {{ profile.traits['first name'] }} {{ profile.counters.never_sent }}",
    "{% assign n = profile.counters.go %}{{ n }}{% for k in event.properties.items %}{{ k.sku }}{{ forloop.index }}"
    "{% endfor %}{% capture c %}x{% endcapture %}{{ c }}",
    "{{ profile.size }} {{ profile.first | join: '=' }} {{ event.context.size }} {{ now }}",
    "{{ event.event }} {{ event.name }} {{ event.messageId }} {{ event.userId }} {{ event.anonymousId }} {{ event.type }}"
    " {{ event.timestamp }} {{ event.traits.email }} {{ journey.holdout }} {{ journey.variant }} {{ profile.timezone }}",
])
def test_data_keys_locals_and_every_field_are_accepted(template: str) -> None:
    load_journey_text(BASE.replace("{{ journey.id }}", template.replace('"', "'")), "j.yaml")


def test_the_fixed_fields_are_what_conditions_and_templates_see() -> None:
    raw = {"messageId": "m1", "type": "track", "event": "go", "userId": "u1", "timestamp": "2026-03-02T10:00:00Z"}
    # as the engine shows it: the event's view and ``previous`` (the traits it names, before it)
    assert set(_view_of(decode_event(json.dumps(raw).encode()), {})) == FIELDS["event"]
    assert set(new_profile("u1").view("a")) == FIELDS["profile"]
    text = """
    journey: jv
    entry: {event: go}
    steps:
      - id: s
        send: {channel: webhook, to: "https://h.example", content: {body: "{{ journey | json }}"}}
    """
    sim = Simulator(engine(text))
    sim.handle(ev("go", T0))
    (cmd,) = sim.commands
    assert set(json.loads(cmd.content["body"])) == FIELDS["journey"]
