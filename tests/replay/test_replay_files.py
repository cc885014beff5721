"""Replay over files: the simulator's decisions, warm-up, bounded memory, and --compare's exact diff."""

from __future__ import annotations

import gzip
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import orjson
import pytest

from cjo_stream.engine import Engine
from cjo_stream.events import format_ts
from cjo_stream.journeys.loader import load_topology
from cjo_stream.jsonl import jsonl_lines
from cjo_stream.replay.compare import compare, render
from cjo_stream.replay.run import Replay
from cjo_stream.simulator import Simulator
from tests.conftest import T0

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = str(ROOT / "schemas" / "examples" / "touchpoints.jsonl")

CART = """\
journey: cart
version: 1
entry: {event: cart_item_added, when: event.properties.cart_value >= CART_MIN}
goal: {event: order_completed}
steps:
  - id: wait_checkout
    wait_for: {event: checkout_started, timeout: WAITs}
    on_event: end
    on_timeout: remind
  - id: remind
    send: {channel: email, content: {subject: "Your cart"}}
"""

LOYAL = """\
journey: loyal
version: 1
re_entry: always
entry: {event: order_completed, when: profile.counters.order_completed >= 3}
steps:
  - id: thanks
    send: {channel: email, content: {subject: "Thanks for being a regular"}}
"""


STAGES = """\
stages:
  - {stage: awareness, when: "true"}
  - {stage: consideration, when: profile.counters.cart_item_added >= 1}
  - {stage: checkout, when: profile.counters.checkout_started >= 1}  # (its name sorts before consideration)
"""


def topology(tmp: Path, name: str, cart_min: int = 20, wait: int = 60, cap: int | None = None,
             stages: str | None = None) -> str:
    d = tmp / name
    (d / "journeys").mkdir(parents=True)
    (d / "journeys" / "cart.yaml").write_text(CART.replace("CART_MIN", str(cart_min)).replace("WAIT", str(wait)))
    (d / "journeys" / "loyal.yaml").write_text(LOYAL)
    if cap is not None:
        (d / "policies.yaml").write_text(f"frequency_caps:\n  - {{channel: email, max: {cap}, per: 1d}}\n")
    if stages is not None:
        (d / "stages.yaml").write_text(stages)
    return str(d)


def line(mid: str, name: str, user: str, at: float, **props: Any) -> bytes:
    ev: dict[str, Any] = {"messageId": mid, "type": "track", "event": name, "userId": user, "timestamp": format_ts(at),
                          "properties": props}
    if name == "identify":
        ev = {"messageId": mid, "type": "identify", "userId": user, "timestamp": format_ts(at),
              "traits": {"email": f"{user}@example.com"}}
    return orjson.dumps(ev)


def shoppers() -> list[bytes]:
    """Four shoppers: a's cart of 30 is abandoned, b's of 60 too, c's of 60 checked out after 90 s, d's 10."""
    out = []
    for i, (who, value) in enumerate([("a", 30), ("b", 60), ("c", 60), ("d", 10)]):
        t = T0 + i * 10
        out.append(line(f"id-{who}", "identify", who, t))
        out.append(line(f"cart-{who}", "cart_item_added", who, t + 1, cart_value=value))
    out.append(line("co-c", "checkout_started", "c", T0 + 20 + 1 + 90))
    out.append(line("cart2-a", "cart_item_added", "a", T0 + 3600, cart_value=30))  # a second cart an hour later
    return sorted(out, key=lambda x: orjson.loads(x)["timestamp"])


def warm_shoppers() -> list[bytes]:
    """a and b put a cart of 30 in at T0, c at T0 + 100; a and b buy at T0 + 110 and 111."""
    return [line("id-a", "identify", "a", T0), line("cart-a", "cart_item_added", "a", T0 + 1, cart_value=30),
            line("id-b", "identify", "b", T0 + 2), line("cart-b", "cart_item_added", "b", T0 + 3, cart_value=30),
            line("id-c", "identify", "c", T0 + 100), line("cart-c", "cart_item_added", "c", T0 + 101, cart_value=30),
            line("buy-a", "order_completed", "a", T0 + 110), line("buy-b", "order_completed", "b", T0 + 111)]


def replay(files: list[str], *topos: str, **kw: Any) -> Replay:
    r = Replay([(t, load_topology(t)) for t in topos], **kw)
    for f in files:
        r.feed_lines(f, jsonl_lines(f))
    r.finish()
    return r


def test_replay_of_a_file_decides_what_the_simulator_decides(tmp_path: Path) -> None:
    topo = load_topology(str(ROOT / "topologies"))
    sim = Simulator(Engine(topo.journeys, topo.policies))
    sim.run_lines(jsonl_lines(EXAMPLES))
    sim.finish()
    got: list[Any] = []
    r = Replay([("topologies", topo)], on_command=got.append, profiles_in_memory=5)  # most profiles spilled
    r.feed_lines(EXAMPLES, jsonl_lines(EXAMPLES))
    r.finish()
    assert [c.delivery_id for c in got] == [c.delivery_id for c in sim.commands] and len(got) > 50
    assert sorted((b.origin, b.reason) for b in r.bad) == [
        (f"{EXAMPLES}:149", "missing_field"), (f"{EXAMPLES}:251", "bad_timestamp"), (f"{EXAMPLES}:52", "invalid_json")]
    spill = r.sides[0].sim.profiles
    assert spill.spilled > 0 and len(spill) == len(sim.profiles)  # type: ignore[attr-defined]
    # the analytics rows spill too (four times the profiles' budget): every counter as with all in memory
    folded, whole = r.sides[0].sim.analytics, replay([EXAMPLES], str(ROOT / "topologies")).sides[0].sim.analytics
    assert folded.rows.spilled > 0 and whole.rows.spilled == 0  # type: ignore[attr-defined]
    assert folded.buckets == whole.buckets and folded.totals == whole.totals
    assert sum(t.get("entered", 0) for t in folded.totals.values()) > 20
    r.close()


def test_gzip_and_plain_files_in_order_with_line_numbers(tmp_path: Path) -> None:
    lines = shoppers()
    first, second = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl"
    with gzip.open(first, "wb") as f:
        f.write(b"\n".join(lines[:5]) + b"\n{broken\n")
    second.write_bytes(b"\n".join(lines[5:7]) + b"\n\n{broken\n" + b"\n".join(lines[7:]) + b"\n")
    r = replay([str(first), str(second)], topology(tmp_path, "t"))
    # each file counts its own lines, blank ones included
    assert r.events == 10 and [(b.origin, b.reason) for b in r.bad] == [
        (f"{first}:6", "invalid_json"), (f"{second}:4", "invalid_json")]
    assert r.read == 12  # non-blank lines: the progress bar's count


@pytest.mark.parametrize("packed", [False, True], ids=["plain", "gzip"])
def test_a_pipe_is_read_whole(packed: bool) -> None:
    """`zcat export.gz | cjo-stream replay --events /dev/stdin`: a pipe gives its bytes once; finding out
    whether it is gzip must not take any of them (a probe-and-reopen lost its first 8 KiB)."""
    data = Path(EXAMPLES).read_bytes()
    assert len(data) > 3 * 8192  # more than a read buffer
    from_file = cli("--events", EXAMPLES)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
    piped = subprocess.run([sys.executable, "-m", "cjo_stream.cli", "replay", "--events", "/dev/stdin"],
                           input=gzip.compress(data) if packed else data, capture_output=True, cwd=ROOT, env=env,
                           timeout=120)
    assert from_file.returncode == piped.returncode == 0, piped.stderr[-2000:]

    def report(out: str, err: str) -> list[str]:  # less the time, rate and memory; the path as the pipe's
        text = re.sub(r" in [\d.]+ s \([\d,]+/s\)|, peak memory [\d,]+ MiB", "", out + err)
        return text.replace(EXAMPLES, "/dev/stdin").splitlines()

    expected = report(from_file.stdout, from_file.stderr)
    assert any("skipped bad event" in ln for ln in expected) and any("replayed 453 events" in ln for ln in expected)
    assert report(piped.stdout.decode(), piped.stderr.decode()) == expected


def test_warmup_builds_profiles_but_its_decisions_are_not_counted(tmp_path: Path) -> None:
    topo = topology(tmp_path, "t")
    orders = [line(f"o{k}", "order_completed", "r", T0 + k * 86400) for k in range(5)]  # one a day
    path = tmp_path / "orders.jsonl"
    path.write_bytes(b"\n".join([line("id-r", "identify", "r", T0 - 1), *orders]) + b"\n")
    since = T0 + 3 * 86400  # the 4th and 5th order
    cold = replay([str(path)], topo, since=since)
    assert cold.sides[0].commands == 0 and cold.outside == 4  # counters start at 0: never 3 orders
    warm = replay([str(path)], topo, since=since, warmup_from=T0 - 10)
    fw = warm.sides[0].sim.funnel
    assert warm.sides[0].commands == 2 and fw.journeys["loyal"]["entered"] == 2  # 4th and 5th, not the 3rd


def test_warmup_instances_stay_out_of_the_analytics_cohorts(tmp_path: Path) -> None:
    """A cart abandoned in the warm-up and checked out after --since is not a conversion of the customers
    who entered from --since on (the report's cohort): counted, it made 1 of 1 entered convert 2 times."""
    topo = topology(tmp_path, "t", wait=600)
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"\n".join(warm_shoppers()) + b"\n")
    warm = replay([str(path)], topo, since=T0 + 100, warmup_from=T0 - 10)
    assert warm.sides[0].sim.funnel.journeys["cart"]["converted"] == 2  # the funnel follows a and b after it
    from cjo_stream.analytics.offline import reports

    rows, reps = reports(warm.sides[0].sim.analytics, load_topology(topo).journeys)
    cart = next(r for r in rows if r["journey"] == "cart")
    assert (cart["entered"], cart["converted"], cart["active"]) == (1, 0, 0)  # c alone: its cart was abandoned
    assert reps["cart"]["totals"]["ended"] == 1


def test_compare_rates_are_of_the_instances_entered_after_the_warmup(tmp_path: Path) -> None:
    """a and b enter in the warm-up and convert after --since, c enters after it and does not convert:
    the comparison's rate said 200 % (2 converted / 1 entered); it is c's 0 %, and a row says the 2
    conversions counted in "converted" were the warm-up's."""
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"\n".join([*warm_shoppers(),
        line("buy-c", "order_completed", "c", T0 + 400),  # after its wait timed out: not a conversion
    ]) + b"\n")
    a, b = topology(tmp_path, "a", wait=200), topology(tmp_path, "b", wait=600)
    r = replay([str(path)], a, b, since=T0 + 100, warmup_from=T0 - 10)
    rows = {(row.journey, row.what, row.metric): (row.a, row.b) for row in compare(r.sides[0], r.sides[1]).rows}
    assert rows[("cart", "", "entered")] == (1, 1)
    assert rows[("cart", "", "converted")] == (2, 3)  # B's longer wait: c converts too
    assert rows[("cart", "", "of them entered in warm-up")] == (2, 2)
    assert rows[("cart", "", "conversion rate")] == (0.0, 1.0)
    assert all(0 <= v <= 1 for (_, _, m), ab in rows.items() if m == "conversion rate" for v in ab)


def test_compare_with_itself_finds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"\n".join(shoppers()) + b"\n")
    topo = topology(tmp_path, "t")
    r = replay([str(path)], topo, topo)
    cmp = compare(r.sides[0], r.sides[1])
    assert not cmp.changed and all(not c.only_a and not c.only_b for c in cmp.customers)


def test_compare_names_a_journey_version_edited_in_place(tmp_path: Path) -> None:
    """Both sides start empty, so what an edit without a new version does to customers already in the journey
    (they switch definitions where they stand) is not in the table: it is named (a walkthrough)."""
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"\n".join(shoppers()) + b"\n")
    a, b = topology(tmp_path, "a"), topology(tmp_path, "b", wait=120)  # the same `cart` version 1, edited
    r = replay([str(path)], a, b)
    cmp = compare(r.sides[0], r.sides[1])
    assert cmp.edited == (("cart", 1),)
    assert "note: journey cart version 1 is defined differently under A and B" in render(cmp)
    same = topology(tmp_path, "c")  # another directory, the same definition
    again = replay([str(path)], a, same)
    assert compare(again.sides[0], again.sides[1]).edited == ()


def test_compare_names_the_versions_each_side_enters(tmp_path: Path) -> None:
    """Version 1 against version 2 of a journey: the rows are by journey id, and no version showed anywhere (a
    walkthrough). Each side's current version is named, in two processes as in one."""
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"\n".join(shoppers()) + b"\n")
    a, b = topology(tmp_path, "a"), topology(tmp_path, "b", wait=120)
    cart = Path(b) / "journeys" / "cart.yaml"
    cart.write_text(cart.read_text().replace("version: 1\n", "version: 2\n", 1))
    assert "version: 2" in cart.read_text()
    for extra in ((), ("--serial",)):
        p = cli("--events", str(path), "--topologies", a, "--compare", b, *extra)
        assert p.returncode == 0, p.stderr
        assert "\njourney cart: A enters version 1, B version 2\n" in p.stdout, p.stdout
        assert "loyal: A enters" not in p.stdout  # the same version on both sides: nothing to say
    same = cli("--events", str(path), "--topologies", a, "--compare", a)
    assert "enters version" not in same.stdout


def test_compare_names_the_catalog_rows_that_differ(tmp_path: Path) -> None:
    """A what-if of a changed catalog: the table showed what B's rows decide, and nothing said the catalog
    differed, nor that customers already in a journey read the new rows once deployed (catalogs have no
    versions), as a journey edited in place is named. In two processes as in one."""
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"\n".join(shoppers()) + b"\n")
    a, b = topology(tmp_path, "a"), topology(tmp_path, "b")
    rows: dict[str, list[dict[str, object]]] = {  # row 2's id as a number and as text: the same row
        "a": [{"id": "sku-1", "title": "Red shoes"}, {"id": 2, "title": "Blue hat"}, {"id": "x", "title": "X"}],
        "b": [{"id": "sku-1", "title": "Red boots"}, {"id": "2", "title": "Blue hat"}, {"id": "y", "title": "Y"}]}
    for side, d in (("a", a), ("b", b)):
        (Path(d) / "catalogs").mkdir()
        (Path(d) / "catalogs" / "products.jsonl").write_bytes(b"\n".join(orjson.dumps(r) for r in rows[side]))
    for extra in ((), ("--serial",)):
        p = cli("--events", str(path), "--topologies", a, "--compare", b, *extra)
        assert p.returncode == 0, p.stderr
        assert "\ncatalog products: 1 row(s) differ under B, 1 only under A, 1 only under B (e.g. sku-1, x, y): " \
               "deployed, customers already in a journey read B's rows too (catalogs have no versions)\n" in p.stdout, \
            p.stdout
    assert "catalog products" not in cli("--events", str(path), "--topologies", a, "--compare", a).stdout


def test_compare_reports_exactly_the_hand_derived_difference(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"\n".join(shoppers()) + b"\n")
    a = topology(tmp_path, "a")  # cart >= 20, wait 60 s, no cap
    # B: cart >= 50 (a's 30 no longer enters), wait 120 s (c's checkout at 90 s now ends the wait)
    b = topology(tmp_path, "b", cart_min=50, wait=120)
    r = replay([str(path)], a, b)
    cmp = compare(r.sides[0], r.sides[1], examples=3)
    changed = {(row.journey, row.what, row.metric): (row.a, row.b) for row in cmp.rows if row.changed}
    # A: a enters twice? no: re_entry once -> a, b, c enter (3); reminders to a, b, c (c checks out too late)
    # B: b, c enter (2); reminder to b only (c's checkout at 90 s < 120 s ends the wait)
    assert changed == {
        ("cart", "", "entered"): (3, 2),
        ("cart", "", "ended"): (3, 2),
        ("cart", "wait_checkout", "reached"): (3, 2),
        ("cart", "remind (email)", "reached"): (3, 1),
        ("cart", "remind (email)", "sent"): (3, 1),
    }
    (cust,) = cmp.customers
    assert (cust.only_a, cust.only_b, cust.examples_a) == (2, 0, ("a", "c"))


def test_compare_with_a_frequency_cap(tmp_path: Path) -> None:
    lines = [line("id-z", "identify", "z", T0)] + [line(f"c{k}", "cart_item_added", f"z{k}", T0 + k, cart_value=30)
                                                   for k in range(1)]
    lines += [line("id-y", "identify", "y", T0), line("c-y", "cart_item_added", "y", T0 + 1, cart_value=30),
              line("o-y1", "order_completed", "y", T0 + 2), line("o-y2", "order_completed", "y", T0 + 3),
              line("o-y3", "order_completed", "y", T0 + 4)]
    path = tmp_path / "s.jsonl"
    ordered: list[bytes] = sorted(lines, key=lambda x: orjson.loads(x)["timestamp"])
    path.write_bytes(b"\n".join(ordered) + b"\n")
    # y: the cart converts at the 1st order (goal); the 3rd order sends "loyal" thanks; a cap of 0 skips it
    r = replay([str(path)], topology(tmp_path, "a"), topology(tmp_path, "b", cap=0))
    changed = {(row.journey, row.what, row.metric): (row.a, row.b) for row in compare(r.sides[0], r.sides[1]).rows
               if row.changed}
    assert changed == {("loyal", "thanks (email)", "sent"): (1, 0),
                       ("loyal", "thanks (email)", "skipped:frequency_cap"): (0, 1)}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
    return subprocess.run([sys.executable, "-m", "cjo_stream.cli", "replay", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)


def test_cli_writes_commands_and_fails_on_change_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"\n".join(shoppers()) + b"\n")
    a, b = topology(tmp_path, "a", stages=STAGES), topology(tmp_path, "b", cart_min=50, wait=120)
    out = tmp_path / "cmds.jsonl"
    p = cli("--events", str(path), "--topologies", a, "--commands", str(out))
    assert p.returncode == 0, p.stderr
    assert "3 delivery commands would have been sent" in p.stdout and len(out.read_text().splitlines()) == 3
    # the report's stage flow, by hand: four new shoppers, each with a cart, c checked out
    flow = p.stdout.split("== lifecycle stages\n", 1)[1].splitlines()
    assert [x.split() for x in flow[1:4]] == [["awareness", "4", "4", "0"], ["consideration", "4", "1", "3"],
                                              ["checkout", "1", "0", "1"]]
    assert flow[4] == "  moves: (new) -> awareness 4, awareness -> consideration 4, consideration -> checkout 1"
    assert all(list(c) == sorted(c) for c in map(orjson.loads, out.read_text().splitlines()))
    same = cli("--events", str(path), "--topologies", a, "--compare", a, "--fail-on-change")
    assert same.returncode == 0 and "no differences" in same.stdout
    quiet = cli("--events", str(path), "--topologies", a, "--compare", a, "--only-changed")  # (was a bare header)
    assert quiet.returncode == 0 and "  no row differs\n" in quiet.stdout and "step / variant" not in quiet.stdout
    diff = cli("--events", str(path), "--topologies", a, "--compare", b, "--fail-on-change", "--only-changed")
    assert diff.returncode == 1 and "differences found" in diff.stdout and "2 only under A (e.g. a, c)" in diff.stdout


@pytest.mark.parametrize("change", ["subject", "wait"])
def test_compare_finds_the_same_customers_sent_other_messages_or_at_other_times(tmp_path: Path, change: str) -> None:
    """B changes only the reminder's subject, or its wait (80 s instead of 60: a, b and c are reminded
    all the same, 20 s later; c checks out after 90 s). Every count is equal, so `--fail-on-change` passed CI; it fails now, naming
    the customers."""
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"\n".join(shoppers()) + b"\n")
    a = topology(tmp_path, "a", wait=60)
    b = topology(tmp_path, "b", wait=80 if change == "wait" else 60)
    if change == "subject":
        cart = Path(b) / "journeys" / "cart.yaml"
        cart.write_text(cart.read_text().replace("Your cart", "Your basket"))
    r = replay([str(path)], a, b, fingerprints=True)
    cmp = compare(r.sides[0], r.sides[1], examples=2)
    assert not any(row.changed for row in cmp.rows)
    (cust,) = [c for c in cmp.customers if c.journey == "cart"]
    assert (cust.only_a, cust.only_b, cust.differ, cust.examples_differ) == (0, 0, 3, ("a", "b"))
    assert cmp.changed and all(not c.changed for c in cmp.customers if c.journey != "cart")
    same = replay([str(path)], a, a, fingerprints=True)
    assert not compare(same.sides[0], same.sides[1]).changed
    p = cli("--events", str(path), "--topologies", a, "--compare", b, "--fail-on-change")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "but not the same messages at the same times:\n  cart: 3 (e.g. a, b, c)\n" in p.stdout, p.stdout


def test_stage_flow_from_since_is_not_called_the_customers_in_each_stage(tmp_path: Path) -> None:
    """From --since on, a stage's net is the change since then: the page called it the customers in the
    stage now, and showed a negative number of them."""
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"\n".join(shoppers()) + b"\n")
    a = topology(tmp_path, "a", stages=STAGES)
    page = tmp_path / "p.html"
    since = format_ts(T0 + 5)  # after a's identify and cart: a is no longer new, nor moved, from then on
    p = cli("--events", str(path), "--topologies", a, "--since", since, "--warmup", "1h", "--html", str(page))
    assert p.returncode == 0, p.stderr
    assert f"== lifecycle stages (moves from {since} on: net is the change since then, not the customers in " \
           "each stage)" in p.stdout
    flow = p.stdout.split("== lifecycle stages", 1)[1].splitlines()
    assert [x.split() for x in flow[2:5]] == [["awareness", "3", "3", "0"], ["consideration", "3", "1", "2"],
                                              ["checkout", "1", "0", "1"]]
    html = page.read_text()
    assert f"Stage moves made from {since} on" in html and "the customers in the stage now" not in html
    whole = cli("--events", str(path), "--topologies", a, "--html", str(page))  # all of it: the customers now
    assert "== lifecycle stages\n" in whole.stdout and "the customers in the stage now" in page.read_text()


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--events", "nope.jsonl"], 3, "events file not found: nope.jsonl"),
    (["--events", EXAMPLES, "--since", "2026-01-02T00:00:00Z", "--until", "2026-01-01T00:00:00Z"], 2,
     "--since is after --until"),
    (["--events", EXAMPLES, "--warmup", "7d"], 2, "--warmup needs --since"),
    (["--events", EXAMPLES, "--since", "yesterday"], 2, "neither an RFC 3339 time"),
    (["--events", EXAMPLES, "--since", "0d"], 2, "'0d': a duration ago must be above 0 (7d, 12h, 30m)"),
    (["--events", EXAMPLES, "--warmup", "soon", "--since", "7d"], 2, "is not a duration"),
])
def test_cli_mistakes_are_one_line_and_an_exit_code(args: list[str], code: int, message: str) -> None:
    p = cli(*args)
    assert p.returncode == code and message in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_nothing_to_replay_is_an_error_naming_the_events_times(tmp_path: Path) -> None:
    """A --since in the wrong year, or an empty export, printed an empty report with exit 0."""
    p = cli("--events", EXAMPLES, "--since", "2027-01-01T00:00:00Z")
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
    assert p.stderr.strip().splitlines()[-1] == (
        f"error: no event of {EXAMPLES} is in the time range (from 2027-01-01T00:00:00.000Z): its 453 events "
        "run from 2026-03-02T22:23:04.886Z to 2026-04-13T16:39:51.194Z")
    empty = tmp_path / "empty.jsonl.gz"
    empty.write_bytes(gzip.compress(b""))
    p = cli("--events", str(empty))
    assert p.returncode == 1 and p.stderr.strip().splitlines()[-1] == f"error: {empty} holds no events", p.stderr


def test_relative_and_absolute_times() -> None:
    from cjo_stream.replay.cli import when

    assert when("7d", 1_000_000.0) == 1_000_000.0 - 7 * 86400
    assert when("2026-03-02T10:00:00Z", 0.0) == T0
    assert textwrap.dedent(" x").strip() == "x"


def test_replay_report_and_page_are_the_simulators(tmp_path: Path) -> None:
    """The analytics of a replay are what `simulate --report/--html` shows for the same file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
    sim = subprocess.run([sys.executable, "-m", "cjo_stream.cli", "simulate", "--events", EXAMPLES, "--report",
                          "--html", str(tmp_path / "sim.html")], capture_output=True, text=True, cwd=ROOT, env=env,
                         timeout=120)
    rep = cli("--events", EXAMPLES, "--html", str(tmp_path / "replay.html"))
    assert sim.returncode == 0 and rep.returncode == 0, sim.stderr + rep.stderr
    assert (tmp_path / "replay.html").read_text() == (tmp_path / "sim.html").read_text()
    start = sim.stderr.index("journey                 entered  active  converted")
    analytics = sim.stderr[start:sim.stderr.rindex("\n\n")]  # the analytics report, up to the summary line
    assert "== abandoned_cart" in analytics and analytics in rep.stdout


def test_compare_in_two_processes_prints_what_one_process_does(tmp_path: Path) -> None:
    """Over regular files the contender runs in a child process (replay/contender.py); --serial, or a pipe,
    keeps both sides in one. Every row, count and example id must be the same either way."""
    from cjo_stream.generator import generate_events

    events = [orjson.dumps(e) for e in generate_events(customers=400, seed=3, start=T0, duration=2 * 86400)]
    path = tmp_path / "g.jsonl"
    path.write_bytes(b"\n".join(events[:1500]) + b"\nnot json\n" + b"\n".join(events[1500:]) + b"\n")
    other = tmp_path / "next"
    import shutil

    shutil.copytree(ROOT / "topologies", other)
    cart = other / "journeys" / "abandoned_cart.yaml"
    cart.write_text(cart.read_text().replace("cart_value >= 20", "cart_value >= 50"))
    args = ("--topologies", str(ROOT / "topologies"), "--compare", str(other), "--examples", "3",
            "--since", format_ts(T0 + 86400), "--warmup", "1d", "--profiles-in-memory", "50")  # warm-up, spilling
    runs = {}
    for how, extra in (("apart", ()), ("serial", ("--serial",))):
        cmds = tmp_path / f"{how}.jsonl"
        p = cli("--events", str(path), *args, "--commands", str(cmds), *extra)
        assert p.returncode == 0, p.stderr
        summary, _, rest = p.stdout.partition("\n")
        assert ("(two processes)" in summary) is (how == "apart"), summary
        runs[how] = (re.sub(r" in [\d.]+ s \([\d,]+/s\)|, peak memory [\d,]+ MiB.*", "", summary), rest,
                     cmds.read_bytes(), p.stderr)
    piped = subprocess.run([sys.executable, "-m", "cjo_stream.cli", "replay", "--events", "/dev/stdin", *args],
                           input=path.read_bytes(), capture_output=True, cwd=ROOT, timeout=120,
                           env={k: v for k, v in os.environ.items() if not k.startswith("CJO_")})
    assert piped.returncode == 0, piped.stderr
    assert runs["apart"] == runs["serial"]
    assert piped.stdout.decode().partition("\n")[2] == runs["serial"][1]
    assert "differences found" in runs["serial"][1] and "only under A (e.g. " in runs["serial"][1]
    assert ":1501: skipped bad event (invalid_json)" in runs["serial"][3]  # reported once, by the parent


def test_the_contenders_failure_reaches_the_parent_with_its_traceback() -> None:
    from cjo_stream.engine.funnel import Funnel
    from cjo_stream.replay.contender import Contender, Outcome

    def fails() -> Outcome:
        raise ZeroDivisionError("in the child")

    with pytest.raises(RuntimeError, match=r"(?s)failed in its process.*ZeroDivisionError: in the child"):
        Contender(fails).outcome()
    got = Contender(lambda: Outcome(Funnel(), Funnel(), {"j": {"c1": 3}}, 7, 1.5)).outcome()
    assert (got.messaged, got.commands) == ({"j": {"c1": 3}}, 7)


def test_only_regular_files_let_the_contender_run_apart(tmp_path: Path) -> None:
    from cjo_stream.replay.contender import runs_apart

    f = tmp_path / "e.jsonl"
    f.write_bytes(b"{}\n")
    r, w = os.pipe()
    try:
        assert runs_apart([str(f)]) is (len(os.sched_getaffinity(0)) >= 2)
        assert not runs_apart([str(f), f"/proc/self/fd/{r}"])
    finally:
        os.close(r)
        os.close(w)


def test_a_stopped_contender_unwinds_so_its_spill_stores_are_deleted(tmp_path: Path) -> None:
    """The parent stops the child on an error or Ctrl-C (SIGTERM): the child's replay must reach its
    ``finally`` (the default action ended it on the spot and left its RocksDB stores in the temp dir)."""
    import time

    from cjo_stream.replay.contender import Contender, Outcome

    store, started = tmp_path / "store", tmp_path / "started"

    def run() -> Outcome:
        store.mkdir()
        try:
            started.touch()
            while True:  # a replay that is still running
                time.sleep(0.01)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # a second SIGTERM during the cleanup: ignored
            time.sleep(0.05)
            store.rmdir()

    c = Contender(run)
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.exists()
    c.stop()
    assert not store.exists()
