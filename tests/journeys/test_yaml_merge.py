"""YAML merge keys (``<<: *defaults``) in journey files: they ended `validate` with PyYAML's "could not determine
a constructor for the tag 'tag:yaml.org,2002:merge'". They now merge as YAML says: the mapping's own keys
win, then the first source listed that has a key; a mistake in merged text is told at its own line."""

from __future__ import annotations

from typing import Any

import pytest

from cjo_stream.journeys.loader import JourneyLoadError, load_journey_text

MERGED = """\
journey: merged
entry: {event: order_completed}
steps:
  - id: w
    <<: {wait: 1h}
  - id: first
    send: &mail
      channel: email
      content: {subject: "Thanks", body: "b"}
  - id: second
    send:
      <<: [{channel: sms}, *mail]
      content: {subject: "Thanks {{ profile.traits.first_name }}", body: "b2"}
"""

EXPANDED = """\
journey: merged
entry: {event: order_completed}
steps:
  - id: w
    wait: 1h
  - id: first
    send:
      channel: email
      content: {subject: "Thanks", body: "b"}
  - id: second
    send:
      channel: sms
      content: {subject: "Thanks {{ profile.traits.first_name }}", body: "b2"}
"""


def _shape(text: str) -> list[tuple[Any, ...]]:
    """Each step as the engine reads it (templates by their text: compiled ones compare by identity)."""
    steps = load_journey_text(text, "m.yaml").steps.values()
    return [(s.id, s.kind, s.next, s.seconds, s.send and (s.send.channel, [(k, t.source) for k, t in s.send.content]))
            for s in steps]


def test_merge_keys_load_as_the_journey_written_out() -> None:
    merged = _shape(MERGED)
    assert merged == _shape(EXPANDED)
    assert [s[1] for s in merged] == ["wait", "send", "send"]
    assert merged[2][4][0] == "sms"  # the first source listed wins over *mail


@pytest.mark.parametrize("edit, reason", [
    # a merged key misspelt: told at the line of the text merged in
    (('      channel: email\n', '      chanel: email\n'), "m.yaml:8: steps.1.send.chanel: Object contains unknown"),
    (('<<: {wait: 1h}', '<<: 1h'), "m.yaml:5: a merge key (<<) takes a mapping, or a list of mappings, to merge in"),
    # the mapping's own key twice is still a mistake (a merged key beside it is not)
    (('      content: {subject: "Thanks {{', '      content: {}\n      content: {subject: "Thanks {{'),
     "m.yaml:14: duplicate key 'content'"),
])
def test_mistakes_around_merge_keys_are_told_at_their_line(edit: tuple[str, str], reason: str) -> None:
    with pytest.raises(JourneyLoadError) as e:
        load_journey_text(MERGED.replace(*edit), "m.yaml")
    assert reason in str(e.value), str(e.value)


def test_merge_keys_cannot_make_an_alias_bomb() -> None:
    lines = ['a0: &a0 {k0: "x", k1: "x", k2: "x", k3: "x", k4: "x", k5: "x", k6: "x", k7: "x", k8: "x"}']
    lines += [f"a{i}: &a{i} {{" + ", ".join(f"m{j}: *a{i - 1}" for j in range(9)) + ", <<: *a0}"
              for i in range(1, 9)]
    with pytest.raises(JourneyLoadError, match=r"l\.yaml:\d+: the file expands to more than"):
        load_journey_text("\n".join(lines) + "\njourney: x\n", "l.yaml")
