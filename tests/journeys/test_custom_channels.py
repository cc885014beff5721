"""Channels cjo-stream does not ship: declared in policies.yaml (``channels:``), named by send steps, refused
when undeclared or mistyped, and given consent, caps, quiet hours and an address like a built-in channel."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cjo_stream.engine import Engine
from cjo_stream.journeys.loader import JourneyLoadError, load_journey_text, load_topology
from cjo_stream.journeys.policies import Policies
from cjo_stream.journeys.source import SourceError
from cjo_stream.simulator import Simulator
from tests.conftest import T0, ev, policies

JOURNEY = """\
journey: wa
re_entry: always
entry: {event: go}
steps:
  - id: hello
    send: {channel: myco_whatsapp, content: {body: "hi {{ profile.traits.name }}"}}
  - id: check
    send: {channel: fraud_check, to: "https://fraud.internal/check", content: {body: x}}
"""

POLICIES = """\
channels:
  myco_whatsapp: {address: whatsapp}
  fraud_check: {customer_facing: false}
frequency_caps:
  - {channel: myco_whatsapp, max: 1, per: 1d}
quiet_hours:
  - {channels: [myco_whatsapp], start: "21:00", end: "08:00"}
"""


def topology(tmp_path: Path, journey: str = JOURNEY, policy: str = POLICIES) -> Path:
    (tmp_path / "journeys").mkdir(exist_ok=True)
    (tmp_path / "journeys" / "wa.yaml").write_text(journey)
    (tmp_path / "policies.yaml").write_text(policy)
    return tmp_path


def problems(tmp_path: Path, journey: str = JOURNEY, policy: str = POLICIES) -> list[str]:
    with pytest.raises(JourneyLoadError) as info:
        load_topology(str(topology(tmp_path, journey, policy)))
    return [str(p).replace(str(tmp_path) + "/", "") for p in info.value.problems]


def test_a_declared_channel_loads_and_undeclared_ones_are_refused_with_the_nearest_name(tmp_path: Path) -> None:
    topo = load_topology(str(topology(tmp_path)))
    assert topo.journeys[0].channels == {"myco_whatsapp", "fraud_check"}
    assert topo.policies.channel_names >= {"myco_whatsapp", "fraud_check", "email"}
    assert problems(tmp_path, JOURNEY.replace("channel: myco_whatsapp", "channel: myco_whatsap")) == [
        "journeys/wa.yaml:6: unknown channel 'myco_whatsap' (did you mean 'myco_whatsapp'?): use one of crm, "
        "email, in_app, push, slack, sms, webhook, declared fraud_check, myco_whatsapp, or declare it under "
        "`channels:` in policies.yaml (docs/adapters.md, \"Your own channel\")"]
    # a journey file loaded alone knows only the built-in channels
    with pytest.raises(JourneyLoadError, match="unknown channel 'myco_whatsapp'"):
        load_journey_text(JOURNEY, "wa.yaml")


def test_a_customer_facing_channel_needs_an_address_trait_or_a_to(tmp_path: Path) -> None:
    bare = POLICIES.replace("myco_whatsapp: {address: whatsapp}", "myco_whatsapp: {}")
    assert problems(tmp_path, policy=bare) == [
        "journeys/wa.yaml:6: channel 'myco_whatsapp' has no address trait (channels: myco_whatsapp: address: in "
        "policies.yaml) and this send gives no `to:`: every send would be skipped no_address"]
    with_to = JOURNEY.replace('content: {body: "hi', 'to: "{{ profile.traits.wa }}", content: {body: "hi')
    assert load_topology(str(topology(tmp_path, with_to, bare))).journeys[0].id == "wa"


@pytest.mark.parametrize(("declared", "expected"), [
    ("email: {}", "policies.yaml:2: 'email' is a built-in channel: declare only channels cjo-stream does not ship"),
    ("console: {}", "policies.yaml:2: 'console' is a built-in channel"),
    ("My-Channel: {}", "policies.yaml:2: channel name 'My-Channel': lower-case letters, digits and underscores"),
    ("wa: {address: ' '}", "policies.yaml:2: address is the profile trait holding the recipient"),
    # as a condition names it: the trait of that very name exists on no one, and every send was no_address
    ("wa: {address: profile.traits.whatsapp}", "policies.yaml:2: address 'profile.traits.whatsapp' is a path: name "
                                               "the profile trait itself (address: whatsapp)"),
    ("wa: {address: traits.whatsapp}", "policies.yaml:2: address 'traits.whatsapp' is a path"),
    ("wa: {customer_facing: maybe}", "policies.yaml:2: channels.wa.customer_facing: Expected `bool`, got `str`"),
    ("wa: {adress: x}", "channels.wa.adress: Object contains unknown field `adress` (did you mean `address`?)"),
    ("wa: yes", "policies.yaml:2: channels.wa: Expected `object`, got `bool`"),
])
def test_channel_declarations_are_checked(declared: str, expected: str) -> None:
    with pytest.raises(SourceError) as info:
        policies(f"channels:\n  {declared}\n")
    assert expected in str(info.value)


def test_caps_and_quiet_hours_take_declared_customer_facing_channels_only() -> None:
    p = policies(POLICIES)
    assert p.customer_channels >= {"myco_whatsapp"} and "fraud_check" not in p.customer_channels
    assert p.address_traits["myco_whatsapp"] == "whatsapp" and p.address_traits["email"] == "email"
    with pytest.raises(SourceError, match="frequency cap channel 'fraud_check' must be 'all' or one of"):
        policies(POLICIES.replace("{channel: myco_whatsapp, max: 1", "{channel: fraud_check, max: 1"))


def test_a_mistyped_channel_is_found_even_when_policies_yaml_has_another_problem(tmp_path: Path) -> None:
    """The declared names are read from the broken file: a typo is still told, a declared name is not."""
    broken = POLICIES + "consent: sometimes\n"
    found = problems(tmp_path, JOURNEY.replace("channel: fraud_check", "channel: fraud_chek"), broken)
    assert len(found) == 2 and "unknown channel 'fraud_chek' (did you mean 'fraud_check'?)" in found[0]
    assert found[1].startswith("policies.yaml:") and "consent" in found[1]


def engine_of(journey: str = JOURNEY, policy: str = POLICIES) -> Engine:
    p: Policies = policies(policy)
    return Engine([load_journey_text(textwrap.dedent(journey), "wa.yaml", p)], p)


def test_the_engine_sends_on_a_declared_channel_with_its_address_consent_caps_and_quiet_hours() -> None:
    sim = Simulator(engine_of())
    traits = {"name": "Ada", "whatsapp": "+4915100000"}
    sim.handle(ev("identify", T0, "u1", type="identify", traits=traits))
    sim.handle(ev("go", T0 + 1, "u1"))
    sim.handle(ev("go", T0 + 2, "u1"))  # over the cap of 1 a day
    sim.handle(ev("identify", T0, "u2", type="identify", traits=traits))
    sim.handle(ev("unsubscribed", T0 + 1, "u2", props={"channel": "myco_whatsapp"}))
    sim.handle(ev("go", T0 + 2, "u2"))
    sim.handle(ev("go", T0 + 2, "u3"))  # no whatsapp trait
    sim.handle(ev("identify", T0, "u4", type="identify", traits=traits))
    sim.handle(ev("go", T0 + 12 * 3600, "u4"))  # 22:00 UTC: quiet until 08:00
    sim.finish()
    wa = [(c.customer_id, c.to, c.content["body"], c.decided_at) for c in sim.commands if c.channel == "myco_whatsapp"]
    assert wa == [("u1", "+4915100000", "hi Ada", "2026-03-02T10:00:01.000Z"),
                  ("u4", "+4915100000", "hi Ada", "2026-03-03T08:00:00.000Z")]
    assert sorted((s.customer_id, s.channel, s.reason) for s in sim.skips) == [
        ("u1", "myco_whatsapp", "frequency_cap"), ("u2", "myco_whatsapp", "no_consent"),
        ("u3", "myco_whatsapp", "no_address")]
    # the internal one: no consent, caps or address; its `to:` as written; every instance reaches it
    checks = [c for c in sim.commands if c.channel == "fraud_check"]
    assert len(checks) == 5 and {c.to for c in checks} == {"https://fraud.internal/check"}
