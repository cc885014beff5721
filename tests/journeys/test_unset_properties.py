"""A condition on an event property that no event of its name in the simulated or replayed input carried is
told after the run, as a trait nobody has is: ``when: event.properties.cart_vlaue >= 30`` entered nobody and
nothing said why."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.journeys.test_language2 import write

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("cjo-stream"))

CART = """\
journey: cart
entry: {event: cart_item_added, when: "event.properties.cart_vlaue >= 30"}
goal: {event: order_completed, when: "event.properties.total > 0"}
exit_on:
  - {event: cart_item_added, when: "event.properties.cart_vlaue > 1000 or event.properties.currency == 'EUR'"}
steps:
  - id: w
    wait_for:
      timeout: 1d
      paths:
        - {event: page_viewed, when: "event.properties.Path == '/checkout'", next: end}
        - {event: cart_item_added, when: "event.properties.sku != null"}
  - {id: mail, send: {channel: email, content: {subject: hi, body: hi}}}
"""


def _events(path: Path) -> Path:
    lines = []
    for i in range(3):
        lines.append({"messageId": f"c{i}", "type": "track", "event": "cart_item_added", "userId": f"u{i}",
                      "timestamp": f"2026-03-02T10:0{i}:00Z", "properties": {"cart_value": 40, "currency": "GBP"}})
        lines.append({"messageId": f"p{i}", "type": "page", "userId": f"u{i}", "timestamp": f"2026-03-02T11:0{i}:00Z",
                      "properties": {"path": "/checkout"}})
    path.write_text("".join(json.dumps(e) + "\n" for e in lines))
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)


def test_simulate_and_replay_tell_each_property_no_such_event_carried_with_the_closest_one(tmp_path: Path) -> None:
    topologies = tmp_path / "t"
    topologies.mkdir()
    write(topologies, {"cart": CART})
    events = _events(tmp_path / "events.jsonl")
    for p in (_cli("simulate", "--events", str(events), "--topologies", str(topologies)),
              _cli("replay", "--events", str(events), "--topologies", str(topologies))):
        assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
        notes = [ln for ln in p.stderr.splitlines() if ln.startswith("note: ") and "property" in ln]
        # currency was carried; order_completed never came (unseen's note says so); `Path` is `path` misspelt
        assert notes == [
            "note: journey cart: no 'cart_item_added' event in the input has a property 'cart_vlaue' (its entry's "
            "when, its exit_on's when reads event.properties.cart_vlaue as null for every one; did you mean "
            "'cart_value'?)",
            "note: journey cart: no 'page_viewed' event in the input has a property 'Path' (step w's wait_for reads "
            "event.properties.Path as null for every one; did you mean 'path'?)",
            "note: journey cart: no 'cart_item_added' event in the input has a property 'sku' (step w's wait_for "
            "reads event.properties.sku as null for every one)"], p.stderr
    fixed = CART.replace("cart_vlaue", "cart_value").replace("Path", "path").replace("event.properties.sku != null",
                                                                                   "true")
    (tmp_path / "fixed").mkdir()
    p = _cli("simulate", "--events", str(events), "--topologies", str(write(tmp_path / "fixed", {"cart": fixed})))
    assert p.returncode == 0 and [ln for ln in p.stderr.splitlines() if "property" in ln] == [], p.stderr


def test_a_key_only_tested_for_having_none_is_told_only_when_a_carried_one_is_close(tmp_path: Path) -> None:
    """README's own example, ``when: event.properties.cart_value >= 20 and not exists(event.properties.coupon)``, over
    carts none of which had a coupon was told "reads event.properties.coupon as null for every one", which is what
    the test is for (a new user's walkthrough); as a template's default, it is told when a carried key is close (a
    typo), and so is a trait a condition only tests for having none."""
    journey = ('journey: cart\nentry: {event: cart_item_added, when: "event.properties.cart_value >= 20 and not '
               'exists(event.properties.coupon) and profile.traits.churned == null"}\n'
               'steps:\n  - {id: mail, send: {channel: email, content: {subject: hi, body: hi}}}\n')
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps({
        "messageId": f"c{i}", "type": "track", "event": "cart_item_added", "userId": f"u{i}",
        "timestamp": f"2026-03-02T10:0{i}:00Z", "traits": {"email": f"u{i}@example.com"},
        "properties": {"cart_value": 40, "currency": "GBP"}}) + "\n" for i in range(3)))
    for name, text, told in [
        ("meant", journey, []),
        ("typo", journey.replace("coupon", "curency"),
         ["note: journey cart: no 'cart_item_added' event in the input has a property 'curency' (its entry's when "
          "reads event.properties.curency as null for every one; did you mean 'currency'?)"]),
        ("valued", journey.replace("profile.traits.churned == null", "profile.traits.churned == false"),
         ["note: journey cart: no customer in the input has a trait 'churned' (its entry's when reads it as null for "
          "everyone)"]),
    ]:
        (tmp_path / name).mkdir()
        p = _cli("simulate", "--events", str(events), "--topologies", str(write(tmp_path / name, {"cart": text})))
        assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
        assert [ln for ln in p.stderr.splitlines() if ln.startswith("note: ")] == told, (name, p.stderr)
