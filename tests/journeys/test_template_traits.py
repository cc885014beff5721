"""A send's content that writes a trait no customer of the simulated or replayed input has is told after the
run: ``subject: "Hi {{ profile.traits.frist_name }}"`` wrote "Hi " in every e-mail and nothing said so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cjo_stream.journeys.loader import load_topology
from cjo_stream.journeys.template_reads import bare_trait_reads, bare_traits
from cjo_stream.journeys.unset_traits import unset_template_traits
from tests.conftest import journey
from tests.journeys.test_language2 import write

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("cjo-stream"))

WELCOME = """\
journey: welcome
entry: {event: signed_up}
steps:
  - id: hello
    send:
      channel: email
      content:
        subject: "Hi {{ profile.traits.frist_name }}"
        body: >-
          {% if profile.traits.nickname %}Hey {{ profile.traits.nickname }}{% endif %}
          {{ profile.traits.city | default: 'your town' }} {{ profile.traits.last_name }}
          {% if profile.traits.tierr %}gold{% endif %} {% unless profile.traits.vipp %}join{% endunless %}
  - {id: later, wait: 1d}
  - id: again
    send: {channel: sms, content: {text: "{% if profile.traits.tierr == 'gold' %}x{% endif %}{{ profile.traits.tierr }}"}}
"""


@pytest.mark.parametrize(("source", "bare"), [
    ("Hi {{ profile.traits.frist_name }}!", ["frist_name"]),
    ("{{ profile.traits.first_name | default: 'there' }}", []),
    ("{{ profile.traits.first_name | capitalize | default: 'there' }}", []),  # anywhere in the chain
    ("{% if profile.traits.vip %}VIP{% endif %}", []),  # only tested
    ("{% unless profile.traits.vip %}join{% endunless %}", []),
    ("{% case profile.traits.tier %}{% when 'gold' %}G{% endcase %}", []),
    ("{% if profile.traits.nick %}Hi {{ profile.traits.nick }}{% endif %}", []),  # written where tested: handled
    ("{% if profile.traits.nick %}!{% endif %}{{ profile.traits.nick }}", ["nick"]),  # tested, and bare too
    ("{% if profile.traits.vip %}{{ profile.traits.nick }}{% elsif profile.traits.nick %}{{ profile.traits.nick }}"
     "{% endif %}", ["nick"]),  # the elsif guards its own block only
    ("{{ 'Hi ' | append: profile.traits.nick }}", ["nick"]),  # a filter's argument is written
    ("{{ profile.traits.nick | default: profile.traits.name }}", ["name"]),  # the fallback is written bare
    ("{{ profile.traits.nick | default: profile.traits.name | default: 'you' }}", []),  # a fallback's own default
    ("{% assign n = profile.traits.nick | upcase %}Hi {{ n }}", ["nick"]),  # through a local
    ("{% assign n = profile.traits.nick %}{% if n %}Hi {{ n }}{% endif %}", []),
    ("{% assign n = profile.traits.nick | default: 'you' %}Hi {{ n }}", []),
    ("{% capture n %}{{ profile.traits.nick }}{% endcapture %}Hi {{ n | default: 'you' }}", []),  # as an assign
    ("{% capture n %}{{ profile.traits.nick }}{% endcapture %}Hi {{ n }}", ["nick"]),
    ("{% capture n %}{{ profile.traits.nick }}{% endcapture %}{% if n != blank %}Hi {{ n }}{% endif %}", []),
    ("{% capture n %}{% if profile.traits.nick %}{{ profile.traits.nick }}{% endif %}{% endcapture %}{{ n }}", []),
    ("{% for t in profile.traits.tags %}{{ t }}{% endfor %}", ["tags"]),
    ("{% for t in profile.traits.tags %}{{ t }}{% else %}none{% endfor %}", []),
    ("{% liquid\necho profile.traits.nick\n%}", ["nick"]),
    ("{{ profile.traits['first name'] }} {{ profile.traits | json }} {{ event.properties.x }} {{ profile.email }}",
     ["first name"]),  # only a named trait
    ("no liquid here", []),
])
def test_the_traits_a_template_writes_bare(source: str, bare: list[str]) -> None:
    assert bare_traits(source) == bare


def test_each_trait_no_customer_has_that_content_writes_bare_is_told(tmp_path: Path) -> None:
    topo = load_topology(write(tmp_path, {"welcome": WELCOME}))
    have = {"first_name", "last_name", "tier", "email"}
    assert unset_template_traits(topo.journeys, have) == [
        "journey welcome: no customer in the input has a trait 'frist_name' (step hello's email subject renders it "
        "empty for every send; did you mean 'first_name'? or give it a default: "
        "{{ profile.traits.frist_name | default: '...' }})",
        "journey welcome: no customer in the input has a trait 'tierr' (step again's sms text renders it empty for "
        "every send; did you mean 'tier'? or give it a default: {{ profile.traits.tierr | default: '...' }})",
    ]  # not nickname, city, vipp (tested or defaulted), nor last_name (customers have it)
    # camel case against snake case; no close one: only the default
    assert unset_template_traits(topo.journeys, {"frist_name", "lastName", "tierr"}) == [
        "journey welcome: no customer in the input has a trait 'last_name' (step hello's email body renders it "
        "empty for every send; did you mean 'lastName'? or give it a default: "
        "{{ profile.traits.last_name | default: '...' }})"]
    assert unset_template_traits(topo.journeys, {"email"})[0].startswith(
        "journey welcome: no customer in the input has a trait 'frist_name' (step hello's email subject renders it "
        "empty for every send; give it a default: ")
    assert unset_template_traits(topo.journeys, have | {"frist_name", "tierr"}) == []
    assert unset_template_traits(topo.journeys, set()) == []  # no customer has any trait: nothing to compare


def test_the_default_it_suggests_pastes_into_a_double_quoted_value(tmp_path: Path) -> None:
    """The README's and the example journeys' values are in double quotes (``subject: "Hi {{ ... }}"``): a
    suggestion with ``default: "..."`` pasted there ended the YAML value at its first quote."""
    (tmp_path / "a").mkdir()
    topo = load_topology(write(tmp_path / "a", {"welcome": WELCOME}))
    note = unset_template_traits(topo.journeys, {"email"})[0]  # no trait close to it: frist_name is meant
    suggested = note[note.index("{{ "):-1]
    assert suggested.startswith("{{ profile.traits.frist_name | default:"), note
    (tmp_path / "b").mkdir()
    fixed = load_topology(write(tmp_path / "b", {"welcome": WELCOME.replace("{{ profile.traits.frist_name }}",
                                                                             suggested)}))
    assert [n for n in unset_template_traits(fixed.journeys, {"email"}) if "'frist_name'" in n] == []


def test_a_list_only_a_for_loop_reads_is_given_an_else_not_a_default(tmp_path: Path) -> None:
    """``{% for t in profile.traits.favs | default: '...' %}`` does not parse: a loop's fix is an ``{% else %}``."""
    assert bare_trait_reads("{% for t in profile.traits.favs %}{{ t }}{% endfor %}{{ profile.traits.nick }}") == \
        {"favs": True, "nick": False}
    assert bare_trait_reads("{% for t in profile.traits.favs %}{{ t }}{% endfor %}{{ profile.traits.favs }}") == \
        {"favs": False}  # written as well: a default is the fix there
    text = """\
journey: picks
entry: {event: signed_up}
steps:
  - {id: a, send: {channel: email, content: {subject: "{% for t in profile.traits.favs %}{{ t }}{% endfor %}", body: x}}}
  - {id: b, send: {channel: push, content: {title: "{{ profile.traits.nick }}", body: "{% for t in profile.traits.nick %}{% endfor %}"}}}
"""
    topo = load_topology(write(tmp_path, {"picks": text}))
    assert unset_template_traits(topo.journeys, {"fav"}) == [
        "journey picks: no customer in the input has a trait 'favs' (step a's email subject renders it empty for "
        "every send; did you mean 'fav'? or give its for loop an {% else %}: "
        "{% for ... in profile.traits.favs %}...{% else %}...{% endfor %})",
        "journey picks: no customer in the input has a trait 'nick' (step b's push title and body render it empty "
        "for every send; give it a default: {{ profile.traits.nick | default: '...' }})"]


def test_a_to_field_is_read_as_content_is(tmp_path: Path) -> None:
    """``to: "{{ profile.traits.work_emial }}"`` skipped every send as no_address, and nothing said why."""
    text = """\
journey: work
entry: {event: signed_up}
steps:
  - {id: a, send: {channel: email, to: "{{ profile.traits.work_emial }}", content: {subject: hi, body: x}}}
  - {id: b, send: {channel: slack, to: "{{ profile.traits.slack_channel | default: '#leads' }}", content: {text: x}}}
"""
    topo = load_topology(write(tmp_path, {"work": text}))
    assert unset_template_traits(topo.journeys, {"work_email"}) == [
        "journey work: no customer in the input has a trait 'work_emial' (step a's email to renders it empty for "
        "every send; did you mean 'work_email'? or give it a default: {{ profile.traits.work_emial | default: '...' }})"]


def test_a_default_written_for_everyone_is_told_when_a_trait_they_have_is_close(tmp_path: Path) -> None:
    """``{{ profile.traits.frist_name | default: 'friend' }}`` (the example journeys write defaults) wrote
    "friend" to every customer, each of whom had first_name, and nothing said so; with no trait close to it
    the default is taken as meant (some customers lack it), as it is where customers have the trait."""
    text = """\
journey: hi
entry: {event: signed_up}
steps:
  - id: a
    send:
      channel: email
      content:
        subject: "Welcome, {{ profile.traits.frist_name | default: 'friend' }}!"
        body: "{% assign n = profile.traits.nick_name | default: 'you' %}{{ n }} {{ profile.traits.pet | default: '' }}"
  - {id: b, send: {channel: push, content: {title: "{{ profile.traits.frist_name | default: 'Hey' }}", body: x}}}
"""
    topo = load_topology(write(tmp_path, {"hi": text}))
    assert unset_template_traits(topo.journeys, {"first_name", "nickname"}) == [
        "journey hi: no customer in the input has a trait 'frist_name' (step a's email subject, step b's push title "
        "write its default for every send; did you mean 'first_name'?)",
        "journey hi: no customer in the input has a trait 'nick_name' (step a's email body writes its default for "
        "every send; did you mean 'nickname'?)"]  # not pet: nothing close
    assert unset_template_traits(topo.journeys, {"first_name", "frist_name", "nick_name", "nickname"}) == []


def test_every_step_and_field_writing_it_is_named_once(tmp_path: Path) -> None:
    text = """\
journey: two
entry: {event: signed_up}
steps:
  - {id: a, send: {channel: email, content: {subject: "{{ profile.traits.nick }}", body: "{{ profile.traits.nick }}{{ profile.traits.nick }}"}}}
  - {id: b, send: {channel: push, content: {title: "Hi {{ profile.traits.nick }}", body: hi}}}
"""
    topo = load_topology(write(tmp_path, {"two": text}))
    assert unset_template_traits(topo.journeys, {"email"}) == [
        "journey two: no customer in the input has a trait 'nick' (step a's email subject and body, step b's push "
        "title render it empty for every send; give it a default: {{ profile.traits.nick | default: '...' }})"]


def test_simulate_and_replay_say_so_and_still_succeed(tmp_path: Path) -> None:
    topologies = tmp_path / "t"
    topologies.mkdir()
    write(topologies, {"welcome": WELCOME})
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for i in range(2) for e in (
        {"messageId": f"i{i}", "type": "identify", "userId": f"u{i}", "timestamp": f"2026-03-02T10:0{i}:00Z",
         "traits": {"first_name": "Ann", "last_name": "Lee", "tier": "gold"}},
        {"messageId": f"s{i}", "type": "track", "event": "signed_up", "userId": f"u{i}",
         "timestamp": f"2026-03-02T10:0{i}:30Z"})))
    for cmd in ("simulate", "replay"):
        p = subprocess.run([CLI, cmd, "--topologies", str(topologies), "--events", str(events)], capture_output=True,
                           text=True, cwd=tmp_path, timeout=120)
        assert p.returncode == 0, p.stderr
        notes = [ln for ln in p.stderr.splitlines() if ln.startswith("note: ")]
        assert notes == [
            "note: journey welcome: no customer in the input has a trait 'frist_name' (step hello's email subject "
            "renders it empty for every send; did you mean 'first_name'? or give it a default: "
            "{{ profile.traits.frist_name | default: '...' }})",
            "note: journey welcome: no customer in the input has a trait 'tierr' (step again's sms text renders it "
            "empty for every send; did you mean 'tier'? or give it a default: "
            "{{ profile.traits.tierr | default: '...' }})"], (cmd, p.stderr)


def test_an_update_step_writing_a_trait_no_customer_has_is_told() -> None:
    # an update's text values are templates too: a misspelt trait in one stored "" for every customer, unsaid
    j = journey("journey: u\nentry: {event: go}\nsteps:\n  - id: remember\n    update: {traits: "
                "{greeting: \"Hi {{ profile.traits.frist_name }}\", seen: true}}\n")
    assert unset_template_traits([j], {"first_name"}) == [
        "journey u: no customer in the input has a trait 'frist_name' (step remember's update of greeting renders "
        "it empty for everyone; did you mean 'first_name'? or give it a default: "
        "{{ profile.traits.frist_name | default: '...' }})"]
    assert unset_template_traits([j], {"first_name", "frist_name"}) == []


def test_an_update_steps_lone_output_of_a_trait_no_customer_has_is_told_as_removing_the_trait() -> None:
    # a lone {{ }} stores its value: nil removes the trait it writes, not "" (the notes said "renders it empty")
    j = journey("journey: u\nentry: {event: go}\nsteps:\n  - id: remember\n    update: {traits: "
                "{name: \"{{ profile.traits.frist_name }}\", seen: true}}\n")
    assert unset_template_traits([j], {"first_name"}) == [
        "journey u: no customer in the input has a trait 'frist_name' (step remember's update of name reads it as "
        "null for everyone, and removes the trait written; did you mean 'first_name'? or give it a default: "
        "{{ profile.traits.frist_name | default: '...' }})"]


BOTH = """\
journey: both
entry: {event: signed_up, when: "profile.traits.plann != 'gold'"}
steps:
  - id: check
    branch:
      - when: profile.traits.frist_name != null
        next: mail
      - else: end
  - id: mail
    send: {channel: email, content: {subject: "Hi {{ profile.traits.frist_name }}", body: "{{ profile.traits.plann }}"}}
"""


def test_a_trait_a_condition_reads_and_a_template_writes_is_told_once(tmp_path: Path) -> None:
    """A branch testing a misspelt trait and the mail writing it gave two notes, each with its "did you mean":
    one line now names both."""
    from cjo_stream.journeys.unset_traits import trait_notes

    topologies = tmp_path / "t"
    topologies.mkdir()
    write(topologies, {"both": BOTH})
    assert trait_notes(load_topology(str(topologies)).journeys, {"first_name", "plan"}) == [
        "journey both: no customer in the input has a trait 'plann' (its entry's when reads it as null for everyone; "
        "step mail's email body renders it empty for every send; did you mean 'plan'? or give it a default: "
        "{{ profile.traits.plann | default: '...' }})",
        "journey both: no customer in the input has a trait 'frist_name' (step check's branch reads it as null for "
        "everyone; step mail's email subject renders it empty for every send; did you mean 'first_name'? or give it "
        "a default: {{ profile.traits.frist_name | default: '...' }})"]
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in (
        {"messageId": "i", "type": "identify", "userId": "u", "timestamp": "2026-03-02T10:00:00Z",
         "traits": {"first_name": "Ann", "plan": "pro", "email": "u@example.com"}},
        {"messageId": "s", "type": "track", "event": "signed_up", "userId": "u", "timestamp": "2026-03-02T10:01:00Z"})))
    for cmd in ("simulate", "replay"):
        p = subprocess.run([CLI, cmd, "--topologies", str(topologies), "--events", str(events)], capture_output=True,
                           text=True, cwd=tmp_path, timeout=120)
        assert p.returncode == 0, p.stderr
        notes = [ln for ln in p.stderr.splitlines() if "no customer in the input has a trait" in ln]
        assert [n.split("trait ")[1].split(" ")[0] for n in notes] == ["'plann'", "'frist_name'"], (cmd, p.stderr)


@pytest.mark.parametrize(("source", "fallbacks"), [
    ("Hi {{ profile.traits.nickname | default: profile.traits.frist_name }}", {"frist_name"}),
    ("{{ profile.traits.a | default: profile.traits.b | default: 'x' }}", set()),  # b has a default: not bare
    ("{{ profile.traits.a | default: profile.traits.b }} {{ profile.traits.b }}", set()),  # also written bare
    ("{{ 'Hi ' | append: profile.traits.b }}", set()),  # another filter's argument: written whatever comes first
])
def test_a_trait_read_only_as_a_defaults_value_is_a_fallback(source: str, fallbacks: set[str]) -> None:
    from cjo_stream.journeys.template_reads import fallback_traits

    assert fallback_traits(source) == fallbacks


def test_a_fallback_no_customer_has_is_told_as_one_and_given_a_default_of_its_own() -> None:
    """``{{ profile.traits.nickname | default: profile.traits.frist_name }}`` was told as rendering empty "for every
    send", with a default to paste that did not fit the chain the author wrote."""
    j = journey("journey: u\nentry: {event: go}\nsteps:\n  - id: mail\n    send: {channel: email, content: "
                "{subject: \"Hi {{ profile.traits.nickname | default: profile.traits.frist_name }}\", body: b}}\n")
    assert unset_template_traits([j], {"first_name", "nickname"}) == [
        "journey u: no customer in the input has a trait 'frist_name' (step mail's email subject renders it empty "
        "where the value it is the default of is missing; did you mean 'first_name'? or give it a default of its "
        "own: ... | default: profile.traits.frist_name | default: '...')"]
