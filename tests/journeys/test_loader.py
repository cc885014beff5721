"""The loader refuses bad journey files with ``file:line: reason`` and accepts the documented language."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from cjo_stream.journeys.loader import JourneyLoadError, load_journey_text, load_topology
from cjo_stream.journeys.policies import Policies

GOOD = """\
journey: ok
version: 2
entry:
  event: go
  when: event.properties.x >= 1
steps:
  - id: first
    wait: 1h
  - id: second
    send: {channel: email, content: {subject: "Hi {{ profile.traits.first_name }}"}}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(JourneyLoadError) as info:
        load_journey_text(textwrap.dedent(text), "j.yaml")
    return [str(p) for p in info.value.problems]


def test_good_journey_loads() -> None:
    j = load_journey_text(GOOD, "j.yaml")
    assert j.id == "ok" and j.version == 2 and j.first == "first"
    assert j.steps["first"].seconds == 3600 and j.steps["first"].next == "second"
    assert j.steps["second"].next == "end" and j.channels == {"email"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace("    wait: 1h", "    wait: 1h\n    colour: blue"), "j.yaml:9: steps.0.colour: Object contains unknown field"),
        (GOOD.replace("wait: 1h", "wait: 1 hour"), "j.yaml:8: bad duration '1 hour'"),
        (GOOD.replace("x >= 1", "x >= "), "j.yaml:5: bad expression"),
        (GOOD.replace("journey: ok", "journey: Not-OK"), "j.yaml:1: journey: 'Not-OK' is not a name: use lower-case letters, digits and _ (e.g. 'not_ok')"),
        (GOOD.replace("  event: go\n", ""), "j.yaml:3: entry needs exactly one of `event` (an event starts it) or `schedule`"),
        (GOOD + "    next: nowhere\n", "j.yaml:11: unknown step 'nowhere'"),
        (GOOD.replace("channel: email", "channel: fax"), "j.yaml:10: unknown channel 'fax': use one of crm, email"),
        (GOOD.replace("{{ profile.traits.first_name }}", "{{ x | nosuchfilter }}"), "j.yaml:10: subject: template:"),
        (GOOD.replace("    wait: 1h\n", "    wait: 1h\n    next: end\n"), "j.yaml:10: step 'second' is unreachable"),
        (GOOD.replace("version: 2", "version: 2\nre_entry: sometimes"), "j.yaml:3: bad re_entry 'sometimes'"),
        (GOOD.replace("    wait: 1h\n", "    wait: 1h\n    send: {channel: email, content: {b: x}}\n"),
         "j.yaml:7: step 'first' must have exactly one of"),
        ("journey: x\nentry: {event: go}\nsteps: []\n", "j.yaml:3: steps: Expected `array` of length >= 1"),
        ("journey: [unclosed\n", "j.yaml:2: YAML syntax"),
        ("journey: a\njourney: b\n", "j.yaml:2: duplicate key 'journey'"),
        # beyond these a send's expires_at or a profile holding the instance could not be written (traceback)
        (GOOD.replace("wait: 1h", "wait: 99999999w"), "j.yaml:8: bad duration '99999999w': at most 36500d"),
        (GOOD.replace("version: 2", "version: 18446744073709551616"), "j.yaml:2: version: 18446744073709551616 is out of range: it must be at most 9,223,372,036,854,775,807 "),
        (GOOD.replace("version: 2", "version: 0"), "j.yaml:2: version: 0 is out of range: it must be at least 1 (raised "
         "when the journey's steps change, e.g. version: 2)"),
        (GOOD.replace("version: 2", "version: 2\nholdout: ten"), "j.yaml:3: holdout: 'ten' is not a number (the percent "
         "of entrants kept as control, e.g. holdout: 10)"),
        (GOOD.replace("version: 2", "version: 2\nholdout: '10'"), "j.yaml:3: holdout: '10' is text in quotes (the "
         "percent of entrants kept as control, e.g. holdout: 10)"),  # not "'10' is not a number"
        (GOOD.replace("version: 2", "version: 2\nholdout: yes"), "j.yaml:3: holdout: true is not a number (the percent "
         "of entrants kept as control, e.g. holdout: 10)"),
        (GOOD.replace("version: 2", "version: 1.5"), "j.yaml:2: version: 1.5 is not a whole number (raised when the "
         "journey's steps change, e.g. version: 2)"),
        # a pause mistyped must not load as live: the journey would go on sending what the pause was to stop
        (GOOD.replace("version: 2", "version: 2\nstatus: stopped"), "j.yaml:3: status: Invalid enum value 'stopped' "
         "(one of: closed, live, paused)"),
        (GOOD.replace("version: 2", "version: 2\nstatus: true"), "j.yaml:3: status: Expected `str`"),
    ],
)
def test_bad_journeys_are_refused_with_file_line_reason(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_cycle_without_wait_is_refused_but_cycle_with_wait_is_fine() -> None:
    loop = """\
    journey: loop
    entry: {event: go}
    steps:
      - id: a
        branch:
          - when: profile.traits.x == 1
            next: b
      - id: b
        send: {channel: in_app, content: {body: hi}, }
        next: a
    """
    assert any("form a cycle without a wait" in p for p in problems(loop))
    fine = loop.replace("        next: a", "        next: pause") + "  - {id: pause, wait: 1d, next: a}\n"
    load_journey_text(textwrap.dedent(fine), "j.yaml")


@pytest.mark.parametrize("pause, refused", [
    ("wait: 0.0000001s", "0.0000001s"),  # below a float's resolution at today's epoch: simulate spun forever
    ("wait: 30s", "30s"),
    ("wait_for: {event: x, timeout: 59s}", "59s"),
    ("wait: 1m", None),
    ("wait_until: \"09:00\"", None),
    ("wait_for: {event: x, timeout: 5s}", None),  # it loops on the customer's event only, not by the clock
])
def test_a_loop_must_wait_at_least_a_minute_a_round(pause: str, refused: str | None) -> None:
    """A loop with a tiny wait validated, then ``simulate`` never finished: ``now + 1e-7 == now``, so the
    timer came due at once again and again and ``max_duration`` was never reached (a walkthrough)."""
    loop = f"""\
    journey: loop
    entry: {{event: go}}
    max_duration: 1m
    steps:
      - id: a
        {pause}
      - id: b
        branch: [{{when: profile.traits.stop == true, next: end}}]
        next: a
    """
    if "wait_for" in pause:
        timeout = "end" if refused is None else "b"
        loop = loop.replace("      - id: b\n", f"        on_timeout: {timeout}\n        on_event: b\n      - id: b\n")
    if refused is None:
        load_journey_text(textwrap.dedent(loop), "j.yaml")
    else:
        assert problems(loop) == [f"j.yaml:5: steps a -> b -> a form a loop that waits only {refused} a round: "
                                  "wait at least 1m in it (each round is a timer for every customer in it)"]


def test_a_loop_of_short_waits_counts_them_all() -> None:
    """Two waits of 40s make a round of 80s: allowed; a way round that skips one of them is not."""
    loop = """\
    journey: loop
    entry: {event: go}
    steps:
      - {id: a, wait: 40s}
      - {id: b, wait: 40s}
      - id: c
        branch: [{when: profile.traits.skip == true, next: b}]
        next: a
    """
    found = problems(loop)
    assert found == ["j.yaml:5: steps b -> c -> b form a loop that waits only 40s a round: wait at least 1m in it "
                     "(each round is a timer for every customer in it)"], found
    load_journey_text(textwrap.dedent(loop.replace("next: b}", "next: end}")), "j.yaml")


@pytest.mark.parametrize(("holdout", "bound"), [("150", "below 100"), ("-5", "at least 0"), ("100.0", "below 100")])
def test_a_holdout_out_of_range_says_what_it_is(holdout: str, bound: str) -> None:
    # msgspec said only "Expected `float` < 100.0", leaving an author to guess that holdout is a percent
    found = problems(f"journey: h\nentry: {{event: go}}\nholdout: {holdout}\nsteps:\n  - {{id: a, wait: 1h}}\n")
    assert found == [f"j.yaml:3: holdout: {holdout} is out of range: it must be {bound} "
                     "(the percent of entrants kept as control, e.g. holdout: 10)"], found


def test_branch_and_split_rules() -> None:
    base = """\
    journey: b
    entry: {event: go}
    steps:
      - id: s
        split:
          - {variant: a, weight: 0, next: end}
          - {variant: a, weight: 1, next: end}
    """
    found = problems(base)
    assert any("j.yaml:6:" in p and "weight: 0 is out of range: it must be above 0 (an arm's share" in p
               for p in found), found
    found = problems(base.replace("weight: 0", "weight: 2"))
    assert any(p.startswith("j.yaml:7: duplicate variant 'a'") for p in found), found
    # .inf passed validate and put every customer in the last arm; the report showed 'nan%'
    for weight in (".inf", "1.0e+400", "1000001"):
        found = problems(base.replace("weight: 0", f"weight: {weight}").replace("a, weight: 1", "b, weight: 1"))
        assert any("j.yaml:6:" in p and "is out of range: it must be at most 1,000,000" in p
                   for p in found), (weight, found)
    br = """\
    journey: b
    entry: {event: go}
    steps:
      - id: s
        branch:
          - else: end
          - when: "true"
            next: end
    """
    assert any(p.startswith("j.yaml:6: else must be the last case") for p in problems(br))


def test_all_problems_reported_at_once() -> None:
    text = GOOD.replace("wait: 1h", "wait: soon").replace("x >= 1", "x >=")
    found = problems(text)
    assert len(found) == 2


def test_validate_command_prints_every_problem_and_exits_nonzero(tmp_path: os.PathLike[str]) -> None:
    root = os.fspath(tmp_path)
    os.makedirs(os.path.join(root, "journeys"))
    with open(os.path.join(root, "journeys", "a.yaml"), "w") as f:
        f.write(GOOD.replace("wait: 1h", "wait: later"))
    with open(os.path.join(root, "journeys", "b.yaml"), "w") as f:
        f.write(GOOD.replace("journey: ok", "journey: other").replace("next", "nxt"))
    with open(os.path.join(root, "policies.yaml"), "w") as f:
        f.write("frequency_caps:\n  - {channel: fax, max: 1, per: 1d}\n")
    proc = subprocess.run([sys.executable, "-m", "cjo_stream.cli", "validate", root],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert "a.yaml:8: bad duration 'later'" in proc.stderr
    assert "policies.yaml:2: frequency cap channel 'fax'" in proc.stderr
    ok = load_topology(os.path.join(os.path.dirname(__file__), "..", "..", "topologies"))
    assert {j.id for j in ok.journeys} >= {"abandoned_cart", "welcome", "post_purchase", "winback", "lead_alert"}


def test_same_journey_version_twice_is_refused(tmp_path: os.PathLike[str]) -> None:
    root = os.fspath(tmp_path)
    os.makedirs(os.path.join(root, "journeys"))
    for name in ("a.yaml", "b.yaml"):
        with open(os.path.join(root, "journeys", name), "w") as f:
            f.write(GOOD)
    with pytest.raises(JourneyLoadError) as info:
        load_topology(root)
    assert "bump `version`" in str(info.value)


def test_files_that_cannot_be_read_are_file_line_problems(tmp_path: os.PathLike[str]) -> None:
    """A Latin-1 journey, a directory named *.yaml, a dangling link and Latin-1 policies/stages were
    tracebacks (exit 70) in validate, simulate and the worker; each is now a `file:line: reason`."""
    root = str(tmp_path)
    os.makedirs(os.path.join(root, "journeys", "dir.yaml"))
    with open(os.path.join(root, "journeys", "latin1.yaml"), "wb") as f:
        f.write(b"journey: j\nversion: 1\ndescription: caf\xe9\nentry: {event: x}\nsteps:\n  - {id: a, wait: 1h}\n")
    os.symlink(os.path.join(root, "gone.yaml"), os.path.join(root, "journeys", "link.yaml"))
    for name in ("policies.yaml", "stages.yaml"):
        with open(os.path.join(root, name), "wb") as f:
            f.write(b"# r\xe9sum\xe9\n")
    with pytest.raises(JourneyLoadError) as e:
        load_topology(root)
    got = sorted(str(p).removeprefix(root + os.sep) for p in e.value.problems)
    assert got == [
        "journeys/dir.yaml:1: cannot read the file: is a directory",
        "journeys/latin1.yaml:3: not UTF-8 text (byte 0xe9): save the file as UTF-8",
        "journeys/link.yaml:1: cannot read the file: no such file or directory",
        "policies.yaml:1: not UTF-8 text (byte 0xe9): save the file as UTF-8",
        "stages.yaml:1: not UTF-8 text (byte 0xe9): save the file as UTF-8",
    ]


def test_every_problem_of_policies_yaml_is_listed_at_once(tmp_path: os.PathLike[str]) -> None:
    """A bad cap channel hid a bad quiet-hours time and an unknown time zone until it was fixed: one per pass."""
    root = str(tmp_path)
    os.makedirs(os.path.join(root, "journeys"))
    with open(os.path.join(root, "journeys", "a.yaml"), "w") as f:
        f.write(GOOD)
    with open(os.path.join(root, "policies.yaml"), "w") as f:
        f.write("frequency_caps:\n  - {channel: fax, max: 1, per: 1d}\n  - {channel: email, max: 2, per: 1d}\n"
                "quiet_hours:\n  - {channels: [email], start: '24:00', end: '08:00'}\ndefault_timezone: Mars/Olympus\n")
    with pytest.raises(JourneyLoadError) as e:
        load_topology(root)
    got = [str(p).removeprefix(root + os.sep) for p in e.value.problems]
    assert [g.split(": ")[0] for g in got] == ["policies.yaml:2", "policies.yaml:5", "policies.yaml:6"], got
    assert "channel 'fax'" in got[0] and "24:00" in got[1] and "unknown time zone 'Mars/Olympus'" in got[2]
    with open(os.path.join(root, "policies.yaml"), "w") as f:  # a directory of the tz database: was a traceback
        f.write("default_timezone: America\n")
    with pytest.raises(JourneyLoadError, match="policies.yaml:1: unknown time zone 'America'"):
        load_topology(root)


@pytest.mark.parametrize(("policies", "reason"), [
    # told only "use an IANA name like Europe/Berlin" (a walkthrough)
    ("default_timezone: Europe/Pairs\n", "policies.yaml:1: unknown time zone 'Europe/Pairs': did you mean "
                                          "'Europe/Paris'?"),
    ("default_timezone: europe/paris\n", "did you mean 'Europe/Paris'?"),
    ("default_timezone: Mars/Base\n", "unknown time zone 'Mars/Base': use an IANA name like Europe/Berlin"),
    # told only "Expected `object | null`, got `int`"
    ("global_control: 5\n", "policies.yaml:1: global_control: Expected `object | null`, got `int` (a mapping: "
                             "global_control: {percent: 5})"),
])
def test_a_policy_mistake_says_what_to_write(tmp_path: os.PathLike[str], policies: str, reason: str) -> None:
    root = str(tmp_path)
    os.makedirs(os.path.join(root, "journeys"))
    with open(os.path.join(root, "journeys", "a.yaml"), "w") as f:
        f.write(GOOD)
    with open(os.path.join(root, "policies.yaml"), "w") as f:
        f.write(policies)
    with pytest.raises(JourneyLoadError) as e:
        load_topology(root)
    assert len(e.value.problems) == 1 and reason in str(e.value.problems[0]), e.value.problems


def test_policies_and_stages_with_every_line_commented_out_are_no_policies_and_no_stages(
        tmp_path: os.PathLike[str]) -> None:
    """Commenting out every setting (or an empty file) was refused, "the file is empty", and stopped the
    workers; both files are optional, so it reads as no file. An empty journey file is still refused."""
    root = str(tmp_path)
    os.makedirs(os.path.join(root, "journeys"))
    with open(os.path.join(root, "journeys", "a.yaml"), "w") as f:
        f.write(GOOD)
    with open(os.path.join(root, "policies.yaml"), "w") as f:
        f.write("# frequency_caps:\n#   - {channel: email, max: 1, per: 1d}\n\n  # default_timezone: UTC\n")
    open(os.path.join(root, "stages.yaml"), "w").close()
    topo = load_topology(root)
    assert topo.stages is None and topo.policies == Policies()
    open(os.path.join(root, "journeys", "b.yaml"), "w").close()
    with pytest.raises(JourneyLoadError) as e:
        load_topology(root)
    assert [str(p).removeprefix(root + os.sep) for p in e.value.problems] == ["journeys/b.yaml:1: the file is empty"]


@pytest.mark.parametrize("where, text", [
    ("entry.event", "journey: e\nentry: {event: ''}\nsteps:\n  - {id: s, wait: 1h}\n"),
    ("goal.event", "journey: e\nentry: {event: go}\ngoal: {event: ''}\nsteps:\n  - {id: s, wait: 1h}\n"),
    ("steps.0.wait_for.event", "journey: e\nentry: {event: go}\nsteps:\n  - {id: s, wait_for: {event: '', timeout: 1h}}\n"),
])
def test_an_empty_event_name_is_refused(where: str, text: str) -> None:
    """`event: ""` passed validate: a journey no event ever starts (or a goal never reached)."""
    assert any(f"{where}: Expected `str` of length >= 1" in p for p in problems(text)), problems(text)


TIMES_OF_DAY = """\
journey: tod
entry:
  schedule: {every: 1d, at: "AT"}
steps:
  - id: morning
    wait_until: "WAIT"
  - id: best
    wait_until: {best_time: email, default: "BEST", within: 24h}
  - id: mail
    send: {channel: email, content: {subject: "Hi"}}
"""


def test_times_of_day_take_h_mm_and_hh_mm_alike_everywhere() -> None:
    """"9:00" was accepted while the message for a bad time asked for HH:MM: both forms are the rule, in
    every place a time of day is named (a schedule's at, wait_until, its best_time default, quiet hours)."""
    from tests.conftest import policies

    def tod(at: str, wait: str, best: str) -> tuple[object, ...]:
        j = load_journey_text(TIMES_OF_DAY.replace("AT", at).replace("WAIT", wait).replace("BEST", best), "j.yaml")
        assert j.schedule is not None and j.steps["best"].best_time is not None
        return j.schedule.at, j.steps["morning"].time_of_day, j.steps["best"].best_time.default

    assert tod("9:00", "7:30", "0:05") == tod("09:00", "07:30", "00:05") == ((9, 0), (7, 30), (0, 5))
    quiet = "quiet_hours:\n  - {channels: [sms], start: 'START', end: 'END'}\n"
    assert policies(quiet.replace("START", "21:00").replace("END", "8:00")).quiet_hours == \
        policies(quiet.replace("START", "21:00").replace("END", "08:00")).quiet_hours
    for at, wait, best in (("9:60", "7:30", "0:05"), ("9:00", "25:00", "0:05"), ("9:00", "7:30", "9:5")):
        (problem,) = problems(TIMES_OF_DAY.replace("AT", at).replace("WAIT", wait).replace("BEST", best))
        assert problem.startswith("j.yaml:") and problem.endswith(
            ": use a 24-hour time H:MM or HH:MM in quotes, e.g. \"9:00\" or \"21:30\""), problem


def test_a_mistyped_content_value_is_reported_at_its_own_line_and_key() -> None:
    """msgspec names a mapping's value only as ``content[...]``: the problem was told at the ``content:`` line
    without the key, and with ten fields the author had to guess which one (a walkthrough)."""
    text = """\
    journey: crm_sync
    entry: {event: x}
    steps:
      - id: a
        send:
          channel: crm
          content:
            status: sql
            name: "x"
            score: 80
            items: [1, 2]
    """
    assert problems(text) == ["j.yaml:10: steps.0.send.content.score: Expected `str`, got `int` (put it in quotes: "
                              "unquoted, YAML reads it as a number or true/false, not as text)"]
    assert problems(text.replace("score: 80", 'score: "80"')) == [
        "j.yaml:11: steps.0.send.content.items: Expected `str`, got `array` (a content field is text, a Liquid "
        "template: write JSON in quotes, or {{ ... | json }})"]


def test_every_misspelt_name_of_a_template_is_listed_at_its_line() -> None:
    """Only the first was told: a body reading `event.propeties.x` and later `user.name` took two rounds."""
    text = """\
    journey: t
    entry: {event: x}
    steps:
      - id: a
        send:
          channel: in_app
          content:
            body: |
              Hi {{ event.propeties.x }}
              and {{ user.name }}
              and {{ profile.trait.y }} {{ event.propeties.z }}
    """
    found = problems(text)
    assert [p.split(": template: ")[1].split(" (")[0].split(";")[0] for p in found] == [
        "event has no field 'propeties'", "unknown variable 'user'", "profile has no field 'trait'"], found
    assert [p.split(":")[1] for p in found] == ["9", "10", "11"], found


def test_a_mistake_after_a_quote_escape_in_single_quoted_text_is_told_at_its_line() -> None:
    """Line 8 was told (where the text starts): the escape '' made the line-by-line search give up there."""
    text = """\
    journey: q
    entry: {event: x}
    steps:
      - id: a
        send:
          channel: in_app
          content:
            b4: 'single ''quoted''
              second {{ journey.nme }}'
    """
    (found,) = problems(text)
    assert found.startswith("j.yaml:9: b4: template: journey has no field 'nme'"), found


def test_a_mistake_in_a_condition_over_several_lines_is_told_at_its_line() -> None:
    """A `when: >` folded over several lines was told at the `when:` line whatever line the mistake was on."""
    text = """\
    journey: f
    entry: {event: order_completed}
    steps:
      - id: check
        branch:
          - when: >
              event.properties.total > 10
              and profile.traits.plan == 'pro'
              and event.properties.x +* 3
            next: done
          - else: done
      - id: done
        wait: 1d
    """
    (found,) = problems(text)
    assert found.startswith("j.yaml:9: bad expression \"event.properties.total > 10 and profile.traits.plan == 'pro' "
                            "and event.properties.x +* 3\": unexpected '*'"), found
    (found,) = problems(text.replace("and profile.traits", "and event.propertis.y or profile.traits").replace("+*", "*"))
    assert found.startswith("j.yaml:8: bad expression") and "no field 'propertis'" in found, found
    (found,) = problems(text.replace("when: >", "when: |"))  # a literal block: the same lines
    assert found.startswith("j.yaml:9: "), found
    (found,) = problems(text.replace("event.properties.x +* 3", "event.properties.x > 3").replace(
        "when: >\n", "when: event.properties.x >\n").replace("          event.properties.total", "          3 +* event.properties.total"))
    assert found.startswith("j.yaml:7: "), found
