"""``validate`` over a webhook step's own request (``method:``): what the adapter would refuse on every send is
refused at its line, as is a ``headers:`` or ``content_type:`` that, without a method, would go nowhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli_errors import run

JOURNEY = """journey: crm_sync
entry: {event: signed_up}
steps:
  - id: upsert
    send:
      channel: webhook
      to: "https://api.example.com/users/{{ profile.customer_id }}"
      content:
        method: PUT
        headers: '{"X-Source": "cjo"}'
        body: '{"plan": "{{ profile.traits.plan | default: ''free'' }}"}'
"""


def _validate(tmp_path: Path, text: str) -> tuple[int, str]:
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "crm_sync.yaml").write_text(text)
    p = run("validate", str(tmp_path))
    assert "Traceback" not in p.stderr, p.stderr
    return p.returncode, p.stdout + p.stderr


def test_a_steps_own_request_loads(tmp_path: Path) -> None:
    code, out = _validate(tmp_path, JOURNEY)
    assert code == 0, out


@pytest.mark.parametrize(("old", "new", "told"), [
    ("method: PUT", "method: FETCH", ":9: method 'FETCH' is not one of POST, PUT, "
                                     "PATCH, DELETE, GET"),
    ("""headers: '{"X-Source": "cjo"}'""", "headers: 'X-Source: cjo'", ":10: "
                                                                      "headers is not JSON"),
    ('"X-Source"', '"Idempotency-Key"', ":10: header 'Idempotency-Key' is set by "
                                        "the adapter"),
    ("method: PUT", "method: GET", ":11: a GET sends no body"),
    ("method: PUT", "subject: hi", ":10: headers: belongs to a webhook step's own "
                                   "request, which `method:` asks for"),
    ("method: PUT", "method: PUT\n        subject: hi", ":10: subject: a webhook "
                                                       "step's own request (method:) sends body: as it is"),    # headers written as a YAML mapping, as a newcomer does: msgspec said only "Expected `str`, got `object`"
    ("""headers: '{"X-Source": "cjo"}'""", "headers: {X-Source: cjo}", """:10: steps.0.send.content.headers: """
     """Expected `str`, got `object` (headers are a JSON object in quotes: headers: '{"X-Source": "cjo"}')"""),
    ("body: '{", "body: {x: 1}\n        b: '{", ":11: steps.0.send.content.body: Expected `str`, got `object` (a "
                                                 "content field is text, a Liquid template: write JSON in quotes"),
])
def test_what_every_send_would_fail_on_is_refused_at_its_line(tmp_path: Path, old: str, new: str, told: str) -> None:
    code, out = _validate(tmp_path, JOURNEY.replace(old, new))
    assert code != 0 and f"crm_sync.yaml{told}" in out, out


def test_a_rendered_method_is_left_to_the_adapter(tmp_path: Path) -> None:
    # decided on the customer's data: the adapter checks what was rendered (a bad one fails that send for good)
    code, out = _validate(tmp_path, JOURNEY.replace("method: PUT", "method: \"{{ profile.traits.verb }}\""))
    assert code == 0, out


def test_the_docs_example_loads_and_renders_json(tmp_path: Path) -> None:
    """docs/adapters.md's example, as a migrator copies it: it loads, and its body is JSON for any name."""
    import orjson

    docs = (Path(__file__).resolve().parents[2] / "docs" / "adapters.md").read_text()
    step = docs.split("**A request of the step's own.**", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "crm_sync.yaml").write_text(f"journey: crm_sync\nentry: {{event: signed_up}}\nsteps:\n{step}")
    (tmp_path / "e.jsonl").write_text(
        '{"type":"identify","userId":"u1","messageId":"m1","timestamp":"2026-03-01T10:00:00Z",'
        '"traits":{"email":"a\\"o@example.com"}}\n'
        '{"type":"track","event":"signed_up","userId":"u1","messageId":"m2","timestamp":"2026-03-01T10:01:00Z"}\n')
    p = run("simulate", "--topologies", str(tmp_path), "--events", str(tmp_path / "e.jsonl"))
    assert p.returncode == 0, p.stderr
    (cmd,) = [orjson.loads(line) for line in p.stdout.splitlines()]
    assert cmd["to"] == "https://api.example.com/v1/contacts/u1" and cmd["content"]["method"] == "PUT"
    assert orjson.loads(cmd["content"]["body"]) == {"email": 'a"o@example.com', "plan": "free"}


def test_a_credential_written_in_the_journey_is_warned_at_its_line(tmp_path: Path) -> None:
    """An API key in a step's headers loads and works, and every delivery command carries it (the webhook topic,
    simulate's output): docs/adapters.md says it belongs in CJO_WEBHOOK_HEADERS, and validate said nothing."""
    text = JOURNEY.replace('{"X-Source": "cjo"}', '{"X-Source": "cjo", "Authorization": "Bearer sk_live_1"}')
    code, out = _validate(tmp_path, text)
    assert code == 0, out
    assert "crm_sync.yaml:10: warning: step upsert's header 'Authorization' holds a credential written in the " \
           "journey file" in out and "CJO_WEBHOOK_HEADERS" in out, out
    assert "sk_live_1" not in out  # the warning does not repeat the secret


@pytest.mark.parametrize("headers", ['{"X-Source": "cjo"}', '{"X-Auth-Token": "{{ profile.traits.api_token }}"}'])
def test_no_warning_for_a_plain_header_or_one_rendered_from_data(tmp_path: Path, headers: str) -> None:
    code, out = _validate(tmp_path, JOURNEY.replace('{"X-Source": "cjo"}', headers))
    assert code == 0 and ": warning:" not in out, out
