"""The ``update`` step (Braze's User Update step): what loads, and each refusal at its ``file:line``."""

from __future__ import annotations

import textwrap

import pytest

from cjo_stream.journeys.loader import JourneyLoadError, load_journey_text
from cjo_stream.journeys.templates import Template

GOOD = """\
journey: winback
entry: {event: churn_signal}
steps:
  - id: remember_offer
    update:
      traits:
        winback_coupon: "{{ event.properties.coupon }}"
        winback_offered: true
        offers: 2
        score: 0.5
        churn_risk: null
    next: wait_a_bit
  - id: wait_a_bit
    wait: 1d
  - id: mail
    send: {channel: email, content: {subject: "{{ profile.traits.winback_coupon }}"}}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(JourneyLoadError) as info:
        load_journey_text(textwrap.dedent(text), "j.yaml")
    return [str(p) for p in info.value.problems]


def test_a_good_update_step_loads_with_its_values_in_order() -> None:
    j = load_journey_text(GOOD, "j.yaml")
    step = j.steps["remember_offer"]
    assert step.kind == "update" and step.next == "wait_a_bit" and step.update is not None
    names = [n for n, _ in step.update.traits]
    assert names == ["winback_coupon", "winback_offered", "offers", "score", "churn_risk"]
    values = dict(step.update.traits)
    coupon = values["winback_coupon"]
    assert isinstance(coupon, Template) and coupon.source == "{{ event.properties.coupon }}"
    assert values["winback_offered"] is True and values["offers"] == 2 and values["score"] == 0.5
    assert values["churn_risk"] is None
    # the template reads the entry event after a wait: the instance keeps what it reads
    assert "remember_offer" in (j.keeps_event or ())


def test_without_next_an_update_goes_on_to_the_following_step() -> None:
    j = load_journey_text(GOOD.replace("    next: wait_a_bit\n", ""), "j.yaml")
    assert j.steps["remember_offer"].next == "wait_a_bit"


@pytest.mark.parametrize(
    ("replace", "expected"),
    [
        # traits missing or empty
        (("      traits:\n        winback_coupon", "      other:\n        winback_coupon"), "j.yaml:6: steps.0.update.other"),
        (('    update:\n      traits:\n        winback_coupon: "{{ event.properties.coupon }}"\n'
          '        winback_offered: true\n        offers: 2\n        score: 0.5\n        churn_risk: null\n',
          "    update: {}\n"),
         "j.yaml:5: an update step needs `traits:` with at least one trait to write"),
        (('      traits:\n        winback_coupon: "{{ event.properties.coupon }}"\n'
          '        winback_offered: true\n        offers: 2\n        score: 0.5\n        churn_risk: null\n',
          "      traits: {}\n"),
         "j.yaml:6: an update step needs `traits:` with at least one trait to write"),
        # a mapping, a list
        (("        offers: 2", "        offers: {count: 2}"), "j.yaml:9: trait 'offers' is a mapping: an update writes"),
        (("        offers: 2", "        offers:\n          - 1\n          - 2"), "j.yaml:9: trait 'offers' is a list"),
        # a template that does not parse, or names what templates do not have
        (("{{ event.properties.coupon }}", "{{ event.properties.coupon"), "j.yaml:7: winback_coupon: template:"),
        (("{{ event.properties.coupon }}", "{{ event.properties.coupon | nosuchfilter }}"),
         "j.yaml:7: winback_coupon: template: unknown filter 'nosuchfilter'"),
        (("{{ event.properties.coupon }}", "{{ evnt.properties.coupon }}"),
         "j.yaml:7: winback_coupon: template: unknown variable 'evnt'"),
        # the keys the profile gives a meaning of its own
        (("        offers: 2", "        consent.email: false"),
         "j.yaml:9: trait 'consent.email' cannot be written by a journey: consent is no trait: to withdraw it (a "
         "sunset flow), write `update: {consent: {email: false}}`"),
        (("        offers: 2", "        consent: true"), "j.yaml:9: trait 'consent' cannot be written by a journey"),
        (("        offers: 2", '        push_token: "abc"'),
         "j.yaml:9: trait 'push_token' cannot be written by a journey: push_token is the device's address"),
        # a YAML date is no JSON value
        (("        offers: 2", "        offered_on: 2026-03-01"),
         "j.yaml:9: trait 'offered_on': '2026-03-01' is not text, a number, true/false or null: put it in quotes"),
        (("        score: 0.5", "        score: .nan"), "j.yaml:10: trait 'score': .nan is not a number"),
        # an integer no profile can store (msgpack): the worker failed at start fingerprinting the file
        (("        offers: 2", "        offers: 99999999999999999999"),
         "j.yaml:9: trait 'offers': 99999999999999999999 is outside the signed 64-bit range a profile holds"),
        (("        offers: 2", "        offers: -9223372036854775809"), "j.yaml:9: trait 'offers': -9223372036854775809 "
                                                                         "is outside the signed 64-bit range"),
        # a lone output stores the number it gives: one of constants no profile holds fails for every customer
        (("        offers: 2", '        offers: "{{ 9223372036854775808 }}"'), "j.yaml:9: trait 'offers': "
         "'{{ 9223372036854775808 }}' stores the number 9223372036854775808, outside the signed 64-bit range"),
        (("        offers: 2", "        offers: \"{{ 'inf' | plus: 0 }}\""), "j.yaml:9: trait 'offers': "
         "\"{{ 'inf' | plus: 0 }}\" stores inf, not a number a profile can hold"),
        (('        winback_coupon: "', '        "": "'), "j.yaml:7: a trait needs a name"),
        # an update with a send's keys, or two actions
        (("    next: wait_a_bit\n", "    next: wait_a_bit\n    wait: 1h\n"), "j.yaml:4: step 'remember_offer' must "
         "have exactly one of wait, wait_until, wait_for, branch, split, send, enter, update (has wait, update)"),
        (("    next: wait_a_bit\n", "    next: wait_a_bit\n    on_timeout: end\n"),
         "j.yaml:13: on_timeout only applies to wait_for steps (an update step goes on by next: <step>)"),
    ],
)
def test_refusals_are_told_at_their_line(replace: tuple[str, str], expected: str) -> None:
    old, new = replace
    assert old in GOOD
    got = problems(GOOD.replace(old, new, 1))
    assert any(p.startswith(expected) for p in got), got


def test_a_lone_output_of_constants_a_profile_holds_loads_and_one_reading_data_is_decided_on_it() -> None:
    for value in ("{{ 9223372036854775807 }}", "{{ 1.5 | times: 2 }}", "{{ 'x' }}",
                  "{{ event.properties.n | times: 9223372036854775807 }}", "{{ now | plus: 0 }}"):
        j = load_journey_text(GOOD.replace("        offers: 2", f'        offers: "{value}"'), "j.yaml")
        assert dict(j.steps["remember_offer"].update.traits)["offers"].lone, value  # type: ignore[union-attr]


def test_the_64_bit_bounds_themselves_load() -> None:
    text = GOOD.replace("        offers: 2", "        offers: 9223372036854775807\n        floor: -9223372036854775808")
    values = dict(load_journey_text(text, "j.yaml").steps["remember_offer"].update.traits)  # type: ignore[union-attr]
    assert values["offers"] == 2**63 - 1 and values["floor"] == -(2**63)


def test_every_refused_trait_is_told_not_only_the_first() -> None:
    text = GOOD.replace("        offers: 2", "        offers: [1]\n        push_token: x\n        consent.sms: true")
    got = problems(text)
    assert [p.split(":")[1] for p in got] == ["9", "10", "11"], got


def test_the_readmes_update_block_loads_as_written() -> None:
    """README, "Profile updates": the step a migrator copies."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    (block,) = re.findall(r"```yaml\n(.*?)```", readme.split("**Profile updates.**", 1)[1].split("**", 1)[0], re.S)
    text = f"journey: t\nentry: {{event: churn_signal}}\nsteps:\n{block}  - id: wait_a_bit\n    wait: 1d\n"
    step = load_journey_text(text, "t.yaml").steps["remember_offer"]
    assert step.update is not None and [n for n, _ in step.update.traits] == [
        "winback_coupon", "cart_value", "winback_note", "winback_offered", "churn_risk"]
    values = dict(step.update.traits)  # the number copied as a number, the text around an output as text
    assert [getattr(values[n], "lone", None) for n in ("cart_value", "winback_note")] == [True, False]


def test_an_updates_templates_are_warned_about_as_a_sends_are() -> None:
    """A scheduled entry's event has no properties; a group call's traits are event.properties.traits; a
    variant no split has: each told at the update's line, as for a send's content."""
    import os
    import tempfile

    from cjo_stream.journeys.loader import load_topology

    scheduled = """\
journey: nightly
entry: {schedule: {every: 1d, at: "09:00"}}
steps:
  - id: stamp
    update:
      traits:
        plan: "{{ event.properties.plan }}"
"""
    grouped = """\
journey: grouped
entry: {event: group}
steps:
  - id: a
    split:
      - {variant: a, weight: 1}
      - {variant: b, weight: 1}
  - id: stamp
    update:
      traits:
        company: "{{ event.traits.name }}"
        arm: "{% if journey.variant == 'A' %}first{% endif %}"
"""
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "journeys"))
        for name, text in (("nightly", scheduled), ("grouped", grouped)):
            with open(os.path.join(root, "journeys", f"{name}.yaml"), "w") as f:
                f.write(text)
        warnings = load_topology(root).warnings
    rel = [w.split(os.sep)[-1] for w in warnings]
    assert any(w.startswith("nightly.yaml:7: warning: step stamp's plan reads event.properties.plan") for w in rel), rel
    assert any(w.startswith("grouped.yaml:11: warning: step stamp's company reads event.traits.name") for w in rel), rel
    assert any(w.startswith("grouped.yaml:12: warning: `journey.variant == 'A'` never holds") for w in rel), rel


def test_an_increment_loads_beside_the_traits_or_alone() -> None:
    j = load_journey_text(GOOD.replace("        churn_risk: null\n", "        churn_risk: null\n"
                                       "      increment: {winback_offers: 1, balance: -2.5}\n"), "j.yaml")
    update = j.steps["remember_offer"].update
    assert update is not None and update.increment == (("winback_offers", 1), ("balance", -2.5))
    alone = "journey: c\nentry: {event: go}\nsteps:\n  - id: count\n    update: {increment: {visits: 1}}\n"
    only = load_journey_text(alone, "j.yaml").steps["count"].update
    assert only is not None and only.traits == () and only.increment == (("visits", 1),)


@pytest.mark.parametrize(("increment", "expected"), [
    ("{visits: '1'}", "increment of 'visits': '1' is text: give the amount to add as a number, unquoted"),
    # told as the file spells them, not as Python does ('True', 'None', 'inf')
    ("{visits: true}", "increment of 'visits': true is not a number"),
    ("{visits: null}", "increment of 'visits': null is not a number"),
    ("{visits: .inf}", "increment of 'visits': .inf is not a number"),
    ("{visits: -.inf}", "increment of 'visits': -.inf is not a number"),
    ("{push_token: 1}", "trait 'push_token' cannot be written by a journey"),
    ("{seen: 1}", "trait 'seen' is both written (traits:) and incremented in one step: keep one"),
    ("{visits: 9223372036854775808}", "outside the signed 64-bit range"),
])
def test_a_bad_increment_is_refused_at_its_line(increment: str, expected: str) -> None:
    text = f"journey: c\nentry: {{event: go}}\nsteps:\n  - id: count\n    update: {{traits: {{seen: true}}, " \
           f"increment: {increment}}}\n"
    found = problems(text)
    assert any(expected in p for p in found) and all(p.startswith("j.yaml:5:") for p in found), found


def test_a_condition_comparing_a_trait_a_template_writes_as_text_with_a_number_or_a_boolean_is_warned_about() -> None:
    """A template that is not one output alone stores text: `>= 100` never holds for "150\\n", `== true` never for
    "true", and the branch went its other way for every customer without a word. Told at the condition's line,
    naming the step; not for a lone `{{ ... }}` (it stores the value as it is), nor for a trait written as a
    literal, nor for a comparison with text."""
    import os
    import tempfile

    from cjo_stream.journeys.loader import load_topology

    writer = """\
journey: keep
entry: {event: order_completed}
steps:
  - id: remember
    update:
      traits:
        last_revenue: >
          {{ event.properties.revenue }}
        big_spender: "{% if event.properties.revenue >= 100 %}true{% endif %}"
        vip: true
        plan: "{{ event.properties.plan }}"
        revenue: "{{ event.properties.revenue }}"
        trimmed: >
          {{- event.properties.revenue -}}
"""
    reader = """\
journey: read
entry:
  event: session_started
  when: profile.traits['last_revenue'] > 20
steps:
  - id: check
    branch:
      - when: 100 <= profile.traits.last_revenue
        next: end
      - when: profile.traits.big_spender != false and profile.traits.vip == true
        next: end
      - when: profile.traits.plan == 'gold' or profile.traits.last_revenue == '150'
        next: end
      - when: profile.traits.revenue >= 100 or profile.traits.trimmed > 5
        next: end
"""
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "journeys"))
        for name, text in (("keep", writer), ("read", reader)):
            with open(os.path.join(root, "journeys", f"{name}.yaml"), "w") as f:
                f.write(text)
        here = os.path.join(root, "journeys", "")
        warnings = [w.replace(here, "") for w in load_topology(root).warnings]
    told = [w for w in warnings if "writes it from a template" in w]
    assert [w.split(": warning: ")[0] for w in told] == ["read.yaml:4", "read.yaml:8", "read.yaml:10"], warnings
    assert told[0].startswith("read.yaml:4: warning: `profile.traits['last_revenue'] > 20` compares trait "
                              "'last_revenue' with a number, but step remember of journey keep (")
    assert "keep.yaml:7) writes it from a template that renders text (\"150\", not 150): that never holds" in told[0]
    # the block's line break around the lone output is what made it text: said so
    assert told[0].endswith("the space or line break around its {{ ... }} makes it text: remove it (a YAML > "
                            "block ends with a line break, >- does not) or write {{- ... -}}"), told[0]
    assert "`profile.traits.big_spender != false` compares trait 'big_spender' with false" in told[2]
    assert "(\"false\", not false): that always holds" in told[2], told[2]
    assert told[2].endswith("a template that is one {{ ... }} and nothing else stores its value as it is (a number, "
                            "true/false), as does a value written unquoted, or a count with increment:"), told[2]


@pytest.mark.parametrize(("edit", "expected"), [
    (("    next: wait_a_bit\n", "      next: wait_a_bit\n"), "j.yaml:12: steps.0.update.next: Object contains unknown "
     "field `next` (`next` is the step's: indent it level with the step's `id:` and `update:`)"),
    (("    send: {channel: email, content:", "    send: {next: end, channel: email, content:"),
     "j.yaml:16: steps.2.send.next: Object contains unknown field `next` (`next` is the step's: indent it level with "
     "the step's `id:` and `send:`)"),
])
def test_a_steps_key_indented_under_its_action_is_told_where_it_goes(edit: tuple[str, str], expected: str) -> None:
    """msgspec said `unknown field next (known keys: traits, increment)`, not that `next` belongs one level up."""
    old, new = edit
    assert old in GOOD
    assert problems(GOOD.replace(old, new)) == [expected]


def _warnings_of(journeys: dict[str, str], stages: str | None = None) -> list[str]:
    import os
    import tempfile

    from cjo_stream.journeys.loader import load_topology

    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "journeys"))
        if stages is not None:
            with open(os.path.join(root, "stages.yaml"), "w") as f:
                f.write(stages)
        for name, text in journeys.items():
            with open(os.path.join(root, "journeys", f"{name}.yaml"), "w") as f:
                f.write(text)
        here = os.path.join(root, "journeys", "")
        return [w.replace(here, "").replace(os.path.join(root, ""), "") for w in load_topology(root).warnings]


SETTER = """\
journey: {id}
entry: {{event: order_completed}}
re_entry: always
steps:
  - id: flag
    update: {{traits: {{vip: true}}}}
"""
READER = """\
journey: {id}
entry:
  event: order_completed
  when: profile.traits.vip == true
steps:
  - id: hi
    send: {{channel: email, content: {{subject: vip, body: x}}}}
"""


def test_an_entry_reading_a_trait_a_later_journey_writes_on_the_same_event_is_warned_about() -> None:
    """Journeys are started in the order of their ids: aa_reader is tried before zz_setter writes vip on the same
    order, so the first order started nothing (renaming either journey changed it), and nothing said why."""
    told = _warnings_of({"aa_reader": READER.format(id="aa_reader"), "zz_setter": SETTER.format(id="zz_setter")})
    assert told == ["aa_reader.yaml:4: warning: journey aa_reader's entry reads trait 'vip', which journey zz_setter's "
                    "step flag writes on the same event ('order_completed'); journeys are started in the order of "
                    "their ids, so aa_reader is tried first and reads the trait as it was before that step: to start "
                    "aa_reader once it is written, end the update with a hand-over (enter: aa_reader), whose entry's "
                    "when applies"], told
    # the setter first (by its id), or handing over after the update, or writing it only after a wait: nothing told
    assert _warnings_of({"zz_reader": READER.format(id="zz_reader"), "aa_setter": SETTER.format(id="aa_setter")}) == []
    handing = SETTER.format(id="zz_setter") + "  - id: go\n    enter: aa_reader\n"
    assert _warnings_of({"aa_reader": READER.format(id="aa_reader"), "zz_setter": handing}) == []
    later = SETTER.format(id="zz_setter").replace("  - id: flag\n", "  - id: pause\n    wait: 1h\n  - id: flag\n")
    assert _warnings_of({"aa_reader": READER.format(id="aa_reader"), "zz_setter": later}) == []


def test_started_in_the_order_of_their_ids_as_the_warning_says() -> None:
    """The engine behind the warning: on one event the reader with the earlier id does not see the trait."""
    from cjo_stream.simulator import Simulator
    from tests.conftest import T0, engine, ev

    def sends(reader: str, setter: str) -> int:
        sim = Simulator(engine(READER.format(id=reader), SETTER.format(id=setter)))
        sim.handle(ev("identify", T0, type="identify", traits={"email": "a@example.com"}))
        sim.handle(ev("order_completed", T0 + 60))
        return len(sim.commands)

    assert sends("aa_reader", "zz_setter") == 0 and sends("zz_reader", "aa_setter") == 1


def test_a_stage_comparing_a_templated_trait_with_a_number_is_warned_about_at_its_line() -> None:
    """An update meant to move a lifecycle stage: `score: "{{ event.properties.s }} pts"` stores text, and the stage
    `profile.traits.score >= 50` was never reached. A lone `{{ event.properties.s }}` stores the number: not told."""
    writer = SETTER.format(id="scorer").replace("{traits: {vip: true}}", "{traits: {score: \"{{ event.properties.s }} pts\"}}")
    stages = "stages:\n  - {stage: new, when: \"true\"}\n  - stage: engaged\n    when: profile.traits.score >= 50\n"
    told = _warnings_of({"scorer": writer}, stages)
    assert len(told) == 1 and told[0].startswith(
        "stages.yaml:4: warning: `profile.traits.score >= 50` compares trait 'score' with a number, but step flag of "
        "journey scorer ("), told
    assert _warnings_of({"scorer": writer.replace(" pts", "")}, stages) == []
