"""``cjo-stream simulate`` as a user runs it, on a journey with an ``update`` step: a send after it reads the
trait the update wrote, and an update whose template fails on the data is told on stderr."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.test_cli_errors import run

JOURNEY = """journey: winback
entry: {event: churn_signal}
steps:
  - id: remember_offer
    update:
      traits:
        winback_coupon: "{{ event.properties.coupon | upcase }}"
        winback_offered: true
        churn_risk: null
  - id: offer
    send:
      channel: email
      content:
        subject: "Your code {{ profile.traits.winback_coupon }}"
        body: "offered {{ profile.traits.winback_offered }}, risk {{ profile.traits.churn_risk | default: 'gone' }}"
"""

EVENTS = (
    '{"type":"identify","userId":"u1","messageId":"m1","timestamp":"2026-03-01T10:00:00Z",'
    '"traits":{"email":"a@example.com","churn_risk":0.8}}\n'
    '{"type":"track","event":"churn_signal","userId":"u1","messageId":"m2","timestamp":"2026-03-01T10:05:00Z",'
    '"properties":{"coupon":"save20"}}\n')


def _topology(tmp_path: Path, text: str) -> Path:
    (tmp_path / "topo" / "journeys").mkdir(parents=True)
    (tmp_path / "topo" / "journeys" / "winback.yaml").write_text(text)
    (tmp_path / "ev.jsonl").write_text(EVENTS)
    return tmp_path / "topo"


def test_a_send_after_an_update_reads_the_traits_it_wrote(tmp_path: Path) -> None:
    topo = _topology(tmp_path, JOURNEY)
    p = run("simulate", "--topologies", str(topo), "--events", str(tmp_path / "ev.jsonl"))
    assert p.returncode == 0, p.stderr
    (cmd,) = [orjson.loads(line) for line in p.stdout.splitlines()]
    assert cmd["step"] == "offer" and cmd["to"] == "a@example.com"
    assert cmd["content"] == {"subject": "Your code SAVE20", "body": "offered true, risk gone"}


def test_an_update_whose_template_fails_is_told_and_the_send_goes_on(tmp_path: Path) -> None:
    failing = JOURNEY.replace("{{ event.properties.coupon | upcase }}",
                              "{{ 10 | divided_by: event.properties.count }}")
    topo = _topology(tmp_path, failing)
    p = run("simulate", "--topologies", str(topo), "--events", str(tmp_path / "ev.jsonl"), "--report")
    assert p.returncode == 0, p.stderr
    (cmd,) = [orjson.loads(line) for line in p.stdout.splitlines()]
    assert cmd["content"]["body"] == "offered , risk 0.8"  # nothing of the step was written
    # the report counts it on the step, and on no channel (an update has none: a row "channel None" was made up)
    assert "remember_offer                1        0          1         0      0         0  render_error=1" in p.stderr
    assert "channel email: sent 1, skipped 0" in p.stderr and "channel None" not in p.stderr, p.stderr
    # at the step's `update:` line, as validate would place it (the journey keeps no lines)
    assert f"{topo / 'journeys' / 'winback.yaml'}:5: winback step remember_offer: 1 update(s) wrote nothing, " \
           "a template failed on their data (render_error)" in p.stderr.splitlines(), p.stderr


def test_replay_decides_as_simulate_does(tmp_path: Path) -> None:
    """The workers, simulate and replay share the engine: replay's command is simulate's, byte for byte."""
    topo = _topology(tmp_path, JOURNEY)
    sim = run("simulate", "--topologies", str(topo), "--events", str(tmp_path / "ev.jsonl"))
    rep = run("replay", "--topologies", str(topo), "--events", str(tmp_path / "ev.jsonl"),
              "--commands", str(tmp_path / "cmds.jsonl"))
    assert sim.returncode == 0 and rep.returncode == 0, sim.stderr + rep.stderr
    replayed = (tmp_path / "cmds.jsonl").read_text().splitlines()
    assert [orjson.loads(x) for x in replayed] == [orjson.loads(x) for x in sim.stdout.splitlines()]
    assert orjson.loads(replayed[0])["content"]["subject"] == "Your code SAVE20"


def test_an_increment_of_a_trait_holding_text_is_told(tmp_path: Path) -> None:
    counting = JOURNEY.replace("        churn_risk: null\n", "        churn_risk: null\n      increment: {offers: 1}\n")
    topo = _topology(tmp_path, counting)
    (tmp_path / "ev.jsonl").write_text(EVENTS.replace('"churn_risk":0.8', '"churn_risk":0.8,"offers":"2"'))
    p = run("simulate", "--topologies", str(topo), "--events", str(tmp_path / "ev.jsonl"))
    assert p.returncode == 0, p.stderr
    (cmd,) = [orjson.loads(line) for line in p.stdout.splitlines()]
    assert cmd["content"]["subject"] == "Your code "  # none of the step written: the coupon neither
    # at the step's `increment:` line
    told = f"{topo / 'journeys' / 'winback.yaml'}:10: winback step remember_offer: 1 update(s) wrote nothing, " \
        "an increment's trait ('offers') held something " \
        "other than a number, text or true/false (a number sent in quotes, or written by a template that renders " \
        "text) (not_a_number)"
    assert told in p.stderr.splitlines(), p.stderr
    # replay tells it too (it showed only the funnel's count), and with --compare each side's, named
    rep = run("replay", "--topologies", str(topo), "--events", str(tmp_path / "ev.jsonl"))
    assert rep.returncode == 0 and told in rep.stderr.splitlines(), rep.stderr
    cmp = run("replay", "--topologies", str(topo), "--events", str(tmp_path / "ev.jsonl"), "--compare", str(topo))
    assert cmp.returncode == 0 and [ln for ln in cmp.stderr.splitlines() if ln.endswith("(not_a_number)")] == [
        f"{topo}: {told}", f"{topo}: {told}"], cmp.stderr


FLAG_THEN_CLEAR = """journey: winback
entry: {event: churn_signal}
steps:
  - id: flag
    update:
      traits: {at_risk: true, winback_coupon: "{{ event.properties.coupon }}"}
  - id: check
    branch:
      - when: profile.traits.at_risk == true
        next: offer
      - else: end
  - id: offer
    send:
      channel: email
      content: {subject: "Your code {{ profile.traits.winback_coupon }}", body: x}
  - id: clear
    update:
      traits: {at_risk: null, winback_coupon: null}
"""


def test_a_trait_an_update_wrote_then_removed_is_not_told_as_nobodys(tmp_path: Path) -> None:
    """A flag set, read, then cleared with null (as the README's Profile updates suggest): no customer holds it at
    the end, yet the branch read it as true and the mail wrote the coupon; the notes said "reads it as null for
    everyone" and "renders it empty for every send" beside that mail. Told still: a trait no update wrote."""
    topo = _topology(tmp_path, FLAG_THEN_CLEAR)
    for verb, extra in (("simulate", ()), ("replay", ("--commands", str(tmp_path / "cmds.jsonl")))):
        p = run(verb, "--topologies", str(topo), "--events", str(tmp_path / "ev.jsonl"), *extra)
        assert p.returncode == 0, p.stderr
        if verb == "simulate":
            (cmd,) = [orjson.loads(line) for line in p.stdout.splitlines()]
            assert cmd["content"]["subject"] == "Your code save20"
        assert "at_risk" not in p.stderr and "winback_coupon" not in p.stderr, (verb, p.stderr)
    misspelt = FLAG_THEN_CLEAR.replace("profile.traits.at_risk == true", "profile.traits.at_rsik == true")
    (topo / "journeys" / "winback.yaml").write_text(misspelt)
    p = run("simulate", "--topologies", str(topo), "--events", str(tmp_path / "ev.jsonl"))
    assert "no customer in the input has a trait 'at_rsik' (step check's branch reads it as null for everyone; " \
           "did you mean 'at_risk'?)" in p.stderr, p.stderr


def test_simulate_writes_the_profiles_the_updates_wrote(tmp_path: Path) -> None:
    """Offline, a journey author had no way to see what an update wrote (only a send rendering it): --profiles
    writes each customer's profile at the end, as a worker's state API shows it."""
    topo = _topology(tmp_path, JOURNEY)
    out = tmp_path / "profiles.jsonl"
    p = run("simulate", "--topologies", str(topo), "--events", str(tmp_path / "ev.jsonl"), "--profiles", str(out))
    assert p.returncode == 0, p.stderr
    (profile,) = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert profile["customer_id"] == "u1" and profile["counters"] == {"identify": 1, "churn_signal": 1}
    assert profile["traits"] == {"email": "a@example.com", "winback_coupon": "SAVE20", "winback_offered": True}
    bad = run("simulate", "--topologies", str(topo), "--events", str(tmp_path / "ev.jsonl"),
              "--profiles", str(tmp_path / "no" / "such" / "dir.jsonl"))
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "cannot write the profiles" in bad.stderr and "not found" in bad.stderr, bad.stderr


ORDERS = """journey: orders
entry: {event: order_completed}
steps:
  - id: remember
    update:
      traits:
        last_order_total: "{{ event.properties.total }}"
        last_order_label: "{{ event.properties.total }} EUR"
  - id: check
    branch:
      - when: profile.traits.last_order_total >= 100
        next: big
      - else: small
  - id: big
    send: {channel: email, content: {subject: "Thanks for a big order", body: "{{ profile.traits.last_order_label }}"}}
    next: end
  - id: small
    send: {channel: email, content: {subject: "Thanks", body: "{{ profile.traits.last_order_label }}"}}
"""


def test_a_number_an_update_copies_from_the_event_is_stored_as_a_number_and_branched_on(tmp_path: Path) -> None:
    """`last_order_total: "{{ event.properties.total }}"` stored "150", and `>= 100` sent every customer the small
    mail; a lone output now stores 150. An order without a total removes the trait (null), as `null` does."""
    topo = _topology(tmp_path, ORDERS)
    lines = [EVENTS.splitlines()[0], EVENTS.splitlines()[0].replace('"u1"', '"u2"').replace('"m1"', '"m3"')]
    for user, mid, total in (("u1", "m2", ',"total":150'), ("u2", "m4", "")):
        lines.append(f'{{"type":"track","event":"order_completed","userId":"{user}","messageId":"{mid}",'
                     f'"timestamp":"2026-03-01T10:05:00Z","properties":{{"currency":"EUR"{total}}}}}')
    (tmp_path / "ev.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "profiles.jsonl"
    p = run("simulate", "--topologies", str(topo), "--events", str(tmp_path / "ev.jsonl"), "--profiles", str(out))
    assert p.returncode == 0, p.stderr
    cmds = {c["customer_id"]: c for c in map(orjson.loads, p.stdout.splitlines())}
    assert cmds["u1"]["step"] == "big" and cmds["u1"]["content"]["body"] == "150 EUR"
    assert cmds["u2"]["step"] == "small" and cmds["u2"]["content"]["body"] == " EUR"
    traits = {q["customer_id"]: q["traits"] for q in map(orjson.loads, out.read_bytes().splitlines())}
    assert traits["u1"]["last_order_total"] == 150 and traits["u1"]["last_order_label"] == "150 EUR"
    assert "last_order_total" not in traits["u2"] and traits["u2"]["churn_risk"] == 0.8
    # no load warning: the lone output compared with a number stores a number
    assert "last_order_total" not in p.stderr, p.stderr
    # replay decides as simulate does (one engine): the big order's mail too
    rep = run("replay", "--topologies", str(topo), "--events", str(tmp_path / "ev.jsonl"),
              "--commands", str(tmp_path / "cmds.jsonl"))
    assert rep.returncode == 0, rep.stderr
    replayed = [orjson.loads(x) for x in (tmp_path / "cmds.jsonl").read_text().splitlines()]
    assert replayed == [orjson.loads(x) for x in p.stdout.splitlines()] and len(replayed) == 2


def test_a_number_no_profile_holds_is_told_and_the_step_writes_nothing(tmp_path: Path) -> None:
    scaled = ORDERS.replace('total }}"', 'total | times: 100000000000000000 }}"')  # 150 x 1e17: past 2**63
    topo = _topology(tmp_path, scaled)
    (tmp_path / "ev.jsonl").write_text(EVENTS.replace('"coupon":"save20"', '"total":150').replace(
        "churn_signal", "order_completed"))
    out = tmp_path / "profiles.jsonl"
    p = run("simulate", "--topologies", str(topo), "--events", str(tmp_path / "ev.jsonl"), "--profiles", str(out))
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert "orders step remember: 1 update(s) wrote nothing, a number a lone {{ }} gave or an increment made is one " \
           "no profile holds (past a signed 64-bit integer, or not finite) (out_of_range)" in p.stderr, p.stderr
    (profile,) = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert "last_order_total" not in profile["traits"] and "last_order_label" not in profile["traits"]
    assert [orjson.loads(line)["step"] for line in p.stdout.splitlines()] == ["small"]


def test_a_trait_whose_update_no_customer_reached_is_told_so_not_as_a_typo(tmp_path: Path) -> None:
    """An input without the entry event: the send's trait is empty because the update never ran, which the note
    says, rather than "give it a default" as for a misspelt name."""
    topo = _topology(tmp_path, JOURNEY)
    (tmp_path / "ev.jsonl").write_text(EVENTS.splitlines()[0] + "\n")  # the identify alone: no churn_signal
    p = run("simulate", "--topologies", str(topo), "--events", str(tmp_path / "ev.jsonl"))
    assert p.returncode == 0, p.stderr
    assert "note: journey winback: no customer in the input has a trait 'winback_coupon' (step offer's email " \
           "subject renders it empty for every send; step remember_offer of journey winback writes it, which no " \
           "customer of the input reached)" in p.stderr, p.stderr
    assert "give it a default" not in p.stderr, p.stderr
    r = run("replay", "--topologies", str(topo), "--events", str(tmp_path / "ev.jsonl"))
    assert r.returncode == 0 and "step remember_offer of journey winback writes it, which no customer of the input " \
                                  "reached" in r.stderr and "give it a default" not in r.stderr, r.stderr
