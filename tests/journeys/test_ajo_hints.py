"""A journey pasted from Adobe Journey Optimizer is refused by ``cjo-stream validate`` with what to write here, at
its line (``cjo_stream/journeys/foreign_names.py``, ``liquid_hints.py``, ``source.py``): its XDM profile paths
(``{{profile.person.name.firstName}}``), its ``{%#if%}`` / ``{{#each}}`` blocks and ``{%= ... %}`` outputs, its
journey-event context, its condition references and its activities written as keys. What each hint says to write
loads and renders the value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cjo_stream.journeys.foreign_names import foreign_hint, foreign_path
from cjo_stream.journeys.templates import Template, TemplateError
from tests.test_cli_errors import run, user_error

PASTED = """journey: welcome
entry: {event: signed_up}
steps:
  - id: hello
    send:
      channel: email
      content:
        subject: "Hi {{profile.person.name.firstName}}"
        body: "{%#if profile.homeAddress.countryCode = \\"FR\\"%}Bonjour{%else%}Hello{%/if%}"
        footer: "{%= profile.person.name.firstName ?: \\"there\\" %}"
        to_line: "{{profile.personalEmail.address}}"
        total: "{{context.journey.events.1234.commerce.order.priceTotal}}"
        items: "{{#each context.journey.events.abc.productListItems}}{{this.name}}{{/each}}"
"""


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "journeys").mkdir(exist_ok=True)
    (tmp_path / "journeys" / "welcome.yaml").write_text(text)
    return tmp_path


def test_validate_tells_each_adobe_form_at_its_line(tmp_path: Path) -> None:
    err = user_error(run("validate", str(_write(tmp_path, PASTED))), 1)
    told = {int(m.group(1)): m.group(2) for m in re.finditer(r"welcome\.yaml:(\d+): (.*)", err)}
    assert "Adobe Journey Optimizer's {{ profile.person.name.firstName }} is {{ profile.traits.firstName }} here " \
           "(the trait as your producer names it;" in told[8]
    assert "is Liquid's {% if cond %}...{% elsif cond %}...{% else %}...{% endif %} here, its = written ==" in told[9]
    assert "Adobe Journey Optimizer's {%= expression %} is an output here: {{ x | default: 'there' }}" in told[10]
    assert "{{ profile.personalEmail.address }} is {{ profile.traits.email }} here (README" in told[11]
    assert "{{ context.journey.events.1234.commerce.order.priceTotal }} (the journey's event) is " \
           "{{ event.properties.commerce.order.priceTotal }} here" in told[12]
    assert "Klaviyo" not in told[12], told[12]
    assert "{{#each list as |item|}}...{{/each}} is Liquid's {% for item in list %}...{% endfor %}" in told[13]
    assert all('(README, "Coming from Adobe Journey Optimizer")' in told[n] for n in (9, 10, 12, 13)), told
    assert all('README, "Coming from Adobe Journey Optimizer")' in told[n] for n in (8, 11)), told


def test_the_journey_written_as_the_hints_say_loads_and_renders(tmp_path: Path) -> None:
    fixed = (PASTED.replace("{{profile.person.name.firstName}}", "{{ profile.traits.firstName }}")
             .replace('{%#if profile.homeAddress.countryCode = \\"FR\\"%}Bonjour{%else%}Hello{%/if%}',
                      "{% if profile.traits.countryCode == 'FR' %}Bonjour{% else %}Hello{% endif %}")
             .replace('{%= profile.person.name.firstName ?: \\"there\\" %}',
                      "{{ profile.traits.firstName | default: 'there' }}")
             .replace("{{profile.personalEmail.address}}", "{{ profile.traits.email }}")
             .replace("context.journey.events.1234.commerce", "event.properties.commerce")
             .replace("{{#each context.journey.events.abc.productListItems}}{{this.name}}{{/each}}",
                      "{% for item in event.properties.productListItems %}{{ item.name }}{% endfor %}"))
    p = run("validate", str(_write(tmp_path, fixed)))
    assert p.returncode == 0, p.stderr
    data = {"profile": {"traits": {"countryCode": "FR", "email": "a@example.com"}}, "event": {"properties": {
        "commerce": {"order": {"priceTotal": 42}}, "productListItems": [{"name": "Lamp"}, {"name": "Mug"}]}}}
    assert Template("{% if profile.traits.countryCode == 'FR' %}Bonjour{% else %}Hello{% endif %} "
                    "{{ profile.traits.firstName | default: 'there' }}").render(data) == "Bonjour there"
    assert Template("{{ event.properties.commerce.order.priceTotal }} {% for item in event.properties."
                    "productListItems %}{{ item.name }}{% endfor %}").render(data) == "42 LampMug"


@pytest.mark.parametrize(("keys", "ours"), [
    (("person", "name", "firstName"), "profile.traits.firstName"),
    (("person", "name", "lastName"), "profile.traits.lastName"),
    (("personalEmail", "address"), "profile.traits.email"),
    (("mobilePhone", "number"), "profile.traits.phone"),
    (("homeAddress", "city"), "profile.traits.homeAddress.city"),
    (("consents", "marketing", "email", "val"), "profile.consent.email"),
])
def test_an_adobe_profile_path_and_ours(keys: tuple[str, ...], ours: str) -> None:
    found = foreign_path("profile", keys)
    assert found == ("Adobe Journey Optimizer", ours)


@pytest.mark.parametrize("keys", [("traits", "x"), ("trait", "x"), ("consent", "email"), ("timezon",), ("email",)])
def test_a_profile_field_or_a_misspelt_one_is_not_taken_for_adobes(keys: tuple[str, ...]) -> None:
    assert foreign_path("profile", keys) is None


def test_a_trait_named_on_the_profile_itself_is_told_where_it_lives() -> None:
    """``{{ profile.email }}`` is no XDM path (not Adobe's): a guess at a trait, told as one; a misspelt field is
    told by the error's own "did you mean"."""
    assert foreign_hint("profile", ("email",), liquid=True) == "; a trait is {{ profile.traits.email }}"
    assert foreign_hint("profile", ("loyalty tier",), liquid=False) == "; a trait is profile.traits['loyalty tier']"
    assert foreign_hint("profile", ("trait",), liquid=True) == ""


@pytest.mark.parametrize(("source", "fragment"), [
    ("{{#if profile.traits.vip}}VIP{{/if}}", "{% if cond %}"),
    ("{{/if}}", "{% if cond %}"),
    ("{%#if profile.traits.vip%}VIP{%/if%}", "{% if cond %}"),
    ("{%#if profile.traits.vip%}a{%else if profile.traits.x%}b{%else%}c{%/if%}", "{% elsif cond %}"),
    ("{%- /if -%}", "{% endif %}"),
    ("{%#each profile.traits.tags as |t|%}{{t}}{%/each%}", "{% for item in list %}"),
    ("{{#each profile.traits.tags}}{{this}}{{/each}}", "{% for item in list %}"),
    ('{%= profile.traits.first_name ?: "there" %}', "{{ x | default: 'there' }}"),
    ("{{{profile.traits.bio}}}", "is {{ x }} here: Liquid escapes nothing"),
    ('{% if profile.traits.country = "FR" %}x{% endif %}', "equality is == in Liquid"),
    ("{{upperCase(profile.traits.first_name)}}", "upperCase(x) is Liquid's filter here, {{ x | upcase }}"),
    ("{% if lowerCase(profile.traits.tier) == 'gold' %}x{% endif %}", "{% assign v = x | downcase %}"),
    ('{%= formatDate(now, "yyyy-MM-dd") %}', "{{ x | default: 'there' }}"),
    ("{{ profile.traits.first_name | upperCase }}", "upperCase is Liquid's filter upcase here"),
])
def test_an_adobe_block_or_output_says_what_to_write(source: str, fragment: str) -> None:
    with pytest.raises(TemplateError) as e:
        Template(source)
    assert fragment in e.value.reason and "Adobe Journey Optimizer" in e.value.reason, e.value.reason


@pytest.mark.parametrize("source", ["{% if x %}{% endif %}{%}", "{{ 1 | }}", "{{ a.b c }}", "{% else %}",
                                    "{{ event.properties.Items.0.name }}", "{{ upper(profile.traits.x) }}",
                                    "{{ profile.traits.x | bogus }}"])
def test_a_syntax_error_of_no_adobe_form_is_not_told_as_one(source: str) -> None:
    with pytest.raises(TemplateError) as e:
        Template(source)
    assert "Adobe" not in e.value.reason, e.value.reason


def test_every_filter_the_adobe_function_hints_give_loads_and_renders() -> None:
    """Each Liquid filter named for an Adobe function is one here, with the arguments the hint writes."""
    from cjo_stream.journeys.liquid_hints import _AJO_FUNCTIONS

    data = {"event": {"properties": {"x": " Ada Lovelace "}}}
    for name, ours in _AJO_FUNCTIONS.items():
        out = Template(f"{{{{ event.properties.x | {ours} }}}}").render(data)
        assert out != "" or name == "formatDate", (name, ours)
    assert Template("{{ event.properties.x | upcase }}").render(data) == " ADA LOVELACE "


@pytest.mark.parametrize(("when", "ours"), [
    ("#{ExperiencePlatform.ProfileFieldGroup.profile.person.name.firstName} == 'Ada'", "profile.traits.firstName"),
    ("@event{OrderPlaced.commerce.order.priceTotal} > 20", "event.properties.commerce.order.priceTotal"),
    ("profile.person.name.firstName == 'Ada'", "profile.traits.firstName"),
])
def test_an_adobe_condition_reference_is_told_with_ours(tmp_path: Path, when: str, ours: str) -> None:
    """Refused at its line naming ours; the condition written with ours loads."""
    journey = "journey: welcome\nentry: {{event: signed_up, when: {}}}\nsteps:\n  - id: w\n    wait: 1h\n"
    err = user_error(run("validate", str(_write(tmp_path, journey.format(f'"{when}"')))), 1)
    assert re.search(rf"welcome\.yaml:2: .*Adobe Journey Optimizer's .* is {re.escape(ours)} here", err), err
    fixed = re.sub(r"#\{[^}]+\}|@event\{[^}]+\}|profile\.person\.name\.firstName", ours, when)
    p = run("validate", str(_write(tmp_path, journey.format(f'"{fixed}"'))))
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize(("step", "ours"), [
    ("condition: [{when: profile.traits.vip == true, next: end}]", "branch: [{when: ..., next: ...}"),
    ("reaction: {event: message_opened, timeout: 2d}", "wait_for: {event: message_opened, timeout: 3d"),
    ("jump: other", "enter: <journey>"),
    ("end: true", "next: end"),
    ("event: {name: Order Placed}", "wait_for: {event: ..., timeout: 1d}"),
    ("audience_qualification: gold", "wait_for: {condition: "),
])
def test_an_adobe_activity_written_as_a_key_names_our_step(tmp_path: Path, step: str, ours: str) -> None:
    journey = f"journey: welcome\nentry: {{event: signed_up}}\nsteps:\n  - id: s\n    {step}\n"
    err = user_error(run("validate", str(_write(tmp_path, journey))), 1)
    (line,) = [ln for ln in err.splitlines() if "welcome.yaml:5:" in ln]
    assert f"Adobe Journey Optimizer's {step.split(':')[0]} is `{ours}" in line, line
    assert "known keys" not in line, line


@pytest.mark.parametrize("channel", ["email", "push", "sms", "in_app", "webhook"])
def test_a_channel_written_as_a_step_key_names_the_send_step(tmp_path: Path, channel: str) -> None:
    """An email activity as the canvas shows it, ``email: {subject: ...}``, was told the list of step keys."""
    journey = f"journey: welcome\nentry: {{event: signed_up}}\nsteps:\n  - id: s\n    {channel}: {{subject: Hi}}\n"
    err = user_error(run("validate", str(_write(tmp_path, journey))), 1)
    assert re.search(rf"welcome\.yaml:5: .*a message is a send step: `send: {{channel: {channel}, content: ", err), err


def test_an_adobe_journey_property_written_as_a_key_names_ours(tmp_path: Path) -> None:
    journey = "journey: welcome\nentry: {event: signed_up}\nexit_criteria: [{event: x}]\nsteps:\n  - id: w\n    wait: 1h\n"
    err = user_error(run("validate", str(_write(tmp_path, journey))), 1)
    assert re.search(r"welcome\.yaml:3: .*Adobe Journey Optimizer's exit_criteria is `exit_on: ", err), err


def test_an_exported_journey_in_json_beside_ours_is_named_as_not_loaded(tmp_path: Path) -> None:
    """An AJO journey exported as JSON, set in journeys/ beside the YAML ones, was skipped without a word."""
    topo = _write(tmp_path, "journey: welcome\nentry: {event: signed_up}\nsteps:\n  - id: w\n    wait: 1h\n")
    (topo / "journeys" / "Welcome journey.json").write_text('{"name": "Welcome", "steps": []}\n')
    p = run("validate", str(topo))
    assert p.returncode == 0, p.stderr
    assert p.stderr.splitlines() == [f"{topo / 'journeys'}: warning: 1 JSON file(s) are not loaded (journeys/*.yaml "
                                     'only): a journey exported from another tool is written anew as a journey file '
                                     '(README, "Coming from ...")'], p.stderr


def test_the_triple_stash_hint_is_true_liquid_here_escapes_nothing() -> None:
    """Handlebars' {{{x}}} writes HTML unescaped; the hint's {{ x }} does so here too."""
    assert Template("{{ event.properties.html }}").render({"event": {"properties": {"html": "<b>A&B</b>"}}}) == \
        "<b>A&B</b>"
