"""An ``update`` step's ``consent:`` (a sunset flow: Klaviyo's suppression, Braze's User Update subscription state,
Customer.io's unsubscribe action): what loads, and each refusal at its ``file:line``."""

from __future__ import annotations

import textwrap

import pytest

from cjo_stream.journeys.loader import JourneyLoadError, load_journey_text
from tests.conftest import policies

POLICY = policies("""
topics: {newsletter: opt_out}
channels:
  crm_sync: {customer_facing: false}
""")

SUNSET = """\
journey: sunset
entry: {event: sunset_due}
steps:
  - id: suppress
    update:
      consent:
        email: false
        newsletter: false
"""


def problems(text: str) -> list[str]:
    with pytest.raises(JourneyLoadError) as info:
        load_journey_text(textwrap.dedent(text), "j.yaml", POLICY)
    return [str(p) for p in info.value.problems]


def test_a_withdrawal_of_a_channel_a_topic_and_every_channel_loads_alone_or_with_traits() -> None:
    step = load_journey_text(SUNSET, "j.yaml", POLICY).steps["suppress"]
    assert step.update is not None and step.update.consent == ("email", "newsletter") and step.update.traits == ()
    text = SUNSET.replace("      consent:\n", "      traits: {sunset: true}\n      consent:\n").replace(
        "        newsletter: false\n", "        all: false\n")
    step = load_journey_text(text, "j.yaml", POLICY).steps["suppress"]
    assert step.update is not None and step.update.consent == ("email", "all")
    assert step.update.traits == (("sunset", True),)


@pytest.mark.parametrize(
    ("replace", "expected"),
    [
        (("        email: false", "        emial: false"),
         "j.yaml:7: unknown channel or topic 'emial' (did you mean 'email'?): name a customer-facing channel"),
        (("        newsletter: false", "        newsleter: false"),
         "j.yaml:8: unknown channel or topic 'newsleter' (did you mean 'newsletter'?)"),
        (("        email: false", "        crm_sync: false"), "j.yaml:7: channel 'crm_sync' is internal: no consent"),
        (("        email: false", "        webhook: false"), "j.yaml:7: channel 'webhook' is internal: no consent"),
        (("        email: false", "        email: true"),
         "j.yaml:7: consent 'email': true would give consent, which only the customer can"),
        (("        email: false", "        email: \"false\""), "j.yaml:7: consent 'email': 'false' is text: a journey withdraws a consent with email: false, unquoted"),
        (("        email: false", "        email: 0"), "j.yaml:7: consent 'email': '0' is not false"),
        (("        email: false", "        email: null"), "j.yaml:7: consent 'email': null is not false"),
        (("      consent:\n        email: false\n        newsletter: false\n", "      consent: {}\n"),
         "j.yaml:5: an update step needs `traits:` with at least one trait to write"),
        # consent is no trait: the message says where it goes
        (("      consent:\n        email: false\n", "      traits:\n        consent.email: false\n      consent:\n"),
         "j.yaml:7: trait 'consent.email' cannot be written by a journey: consent is no trait: to withdraw it"),
    ],
)
def test_refusals_are_told_at_their_line(replace: tuple[str, str], expected: str) -> None:
    old, new = replace
    assert old in SUNSET
    got = problems(SUNSET.replace(old, new, 1))
    assert any(p.startswith(expected) for p in got), got


def test_a_topic_is_unknown_without_the_policies_declaring_it() -> None:
    with pytest.raises(JourneyLoadError) as info:
        load_journey_text(SUNSET, "j.yaml")
    (problem,) = info.value.problems
    assert str(problem).startswith("j.yaml:8: unknown channel or topic 'newsletter'"), problem


def test_the_readmes_sunset_block_loads_as_written() -> None:
    """README, "Withdrawing consent": the steps a migrator copies, with the topic it names declared."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("**Withdrawing consent (a sunset flow).**", 1)[1].split("**", 1)[0]
    (block,) = re.findall(r"```yaml\n(.*?)```", section, re.S)
    j = load_journey_text(f"journey: sunset\nentry: {{event: sunset_due}}\nsteps:\n{block}", "sunset.yaml", POLICY)
    step = j.steps["sunset"]
    assert step.update is not None and step.update.consent == ("email", "newsletter")


def test_the_journey_map_says_the_step_unsubscribes() -> None:
    from cjo_stream.analytics.graph import _kind_line

    j = load_journey_text(SUNSET, "j.yaml", POLICY)
    assert _kind_line(j, "suppress") == "unsubscribe email, newsletter"
    text = SUNSET.replace("      consent:\n", "      traits: {sunset: true}\n      consent:\n")
    assert _kind_line(load_journey_text(text, "j.yaml", POLICY), "suppress") == "update sunset; unsubscribe email, newsletter"
