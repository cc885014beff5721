"""Mistakes a journey author makes, run as the author would (``cjo-stream validate``, ``replay``).

Each one must come back as one ``file:line: reason`` line naming the line the mistake is on, exit 1,
never a traceback; and a mistake that fails whatever the data (a constant divided by zero, an unknown
filter) is refused at load rather than failing every customer's send (``render_error``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("cjo-stream"))

# line numbers below are this file's: keep them in step when editing it
JOURNEY = """\
journey: cart_rescue
entry:
  event: cart_item_added
  when: event.properties.cart_value >= 30
steps:
  - id: wait_checkout
    wait_for: {event: checkout_started, timeout: 2h}
    on_event: end
    on_timeout: remind
  - id: remind
    send:
      channel: email
      content:
        subject: "{{ profile.traits.first_name | default: 'Hi' }}, your cart"
        body: |
          You viewed {{ profile.counters.product_viewed | default: 0 }} products.
          {% if profile.traits.vip %}Free shipping for you.{% endif %}
          Cart total: {{ event.properties.cart_value }} {{ event.properties.currency | upcase }}
  - id: value_check
    branch:
      - when: event.properties.cart_value >= 100
        next: nudge
      - else: end
  - id: nudge
    send: {channel: sms, content: {text: "Cart of {{ event.properties.cart_value }} waiting."}}
"""

#: (what the author did, the edit, the line it is on, a fragment of the reason)
MISTAKES = [
    ("typo in a step target", ("on_timeout: remind", "on_timeout: remnd"), 9,
     "unknown step 'remnd' (did you mean 'remind'?)"),
    # msgspec's "Expected `str` matching regex '^[a-z0-9_]+$'" said neither what a name holds nor what to write
    ("a step id with capitals and a dash", ("- id: remind", "- id: Remind-1"), 10,
     "steps.1.id: 'Remind-1' is not a name: use lower-case letters, digits and _ (e.g. 'remind_1')"),
    # the example was 'e_mail', no channel either: the next validate said "unknown channel 'e_mail'" (a walkthrough)
    ("a channel written e-mail", ("channel: email", "channel: e-mail"), 12,
     "steps.1.send.channel: 'e-mail' is not a name: use lower-case letters, digits and _, starting with a letter, "
     "at most 48 (e.g. 'email')"),
    ("a channel written In-App", ("channel: email", "channel: In-App"), 12, "(e.g. 'in_app')"),
    ("typo in a step's own id", ("- id: remind", "- id: remidn"), 9, "unknown step 'remind' (did you mean 'remidn'?)"),
    ("branch to a missing step", ("next: nudge", "next: nudgee"), 22, "unknown step 'nudgee'"),
    ("a wait with a bad duration", ("timeout: 2h", "timeout: 2 hours"), 7, "bad duration '2 hours'"),
    ("a condition on an unknown field", ("when: event.properties.cart_value >= 30", "when: event.propertes.cart_value >= 30"),
     4, "event has no field 'propertes'"),
    # PyYAML's own words (`expected <block end>, but found '?'`) said nothing of indentation (a walkthrough)
    ("YAML indentation", ("    send: {channel: sms", "   send: {channel: sms"), 25,
     "YAML syntax: this line is indented unlike the lines above it"),
    ("a step's key indented less", ("    on_timeout: remind", "  on_timeout: remind"), 9,
     "YAML syntax: this line is indented unlike the lines above it"),
    ("a list item's - out of its list", ("  - id: value_check", "- id: value_check"), 19,
     "and so does the `-` of each item of one list"),
    # told "steps.1.send: missing required key `content`" at the line of `send`, not at the line to mend
    ("a send's content indented as the step's key", ("      content:\n        subject", "    content:\n        subject"),
     13, "steps.1.content: `content` is indented as `send`'s neighbour, and `send` misses it (missing required key "
     "`content`): indent it under `send`"),
    # `then:` was told "did you mean `when`?", a key the case has (a walkthrough): it is `next`
    ("a branch case's then", ("        next: nudge", "        then: nudge"), 22,
     "steps.2.branch.0.then: Object contains unknown field `then` (did you mean `next`?)"),
    # `- else:` with its `next:` below it was told "a branch case needs `when: <expression>` and `next: <step>`"
    ("a branch's else with a next", ("      - else: end", "      - else:\n        next: end"), 23,
     "an else case names its step itself, on its line: - else: end"),
    # said only "on_timeout only applies to wait_for steps", not what a wait takes instead
    ("on_timeout on a wait", ("  - id: value_check\n", "  - id: pause\n    wait: 1h\n    on_timeout: value_check\n"
     "  - id: value_check\n"), 21, "on_timeout only applies to wait_for steps (a wait step goes on by next: <step>)"),
    ("a key indented deeper than its neighbours", ("      channel: email", "     channel: email"), 13,
     "YAML syntax: mapping values are not allowed here: a line here or just above is indented deeper"),
    ("Liquid syntax in a one-line template", ("your cart\"", "your cart {{\""), 14, "template: expected '}}'"),
    # inside a `body: |` block: the line of the mistake, not the line of `body:` nor the one above it
    ("Liquid syntax in a block", ("{% endif %}", "{% endfi %}"), 17, "unexpected tag 'endfi'"),
    # "unknown filter 'upcse'" alone, for a filter mistyped (a walkthrough wrote `defualt`)
    ("unknown filter in a block", ("| upcase", "| upcse"), 18, "unknown filter 'upcse' (did you mean 'upcase'?)"),
    ("undefined variable in a block", ("{% if profile.traits.vip %}", "{% if user.vip %}"), 17,
     "unknown variable 'user'"),
    ("misspelt profile field in a block", ("profile.counters.product_viewed", "profile.counter.product_viewed"), 16,
     "profile has no field 'counter'"),
    # fails on constants whatever the data, beside outputs that read data: every send would be a render_error
    ("a constant divided by zero beside data", ("waiting.", "waiting {{ 5 | divided_by: 0 }}."), 25,
     "divided_by: can't divide by 0"),
    # the same in an echo tag (an output written as a tag), also inside a liquid tag, and in an assign
    ("a constant divided by zero in an echo tag", ("waiting.", "waiting {% echo 5 | divided_by: 0 %}."), 25,
     "divided_by: can't divide by 0"),
    ("a constant divided by zero in an echo in a liquid tag", ("{% endif %}", "{% endif %}{% liquid\n"
     "          echo 5 | divided_by: 0 %}"), 18, "divided_by: can't divide by 0"),
    ("a constant divided by zero in an assign", ("{% endif %}", "{% endif %}{% assign n = 5 | divided_by: 0 %}"),
     17, "divided_by: can't divide by 0"),
    # a bare number where text is meant: the reason says what to write (a bare `got int` did not)
    ("a duration without a unit", ("timeout: 2h", "timeout: 7200"), 7, "a duration needs a unit"),
    ("an unquoted true as a condition", ("when: event.properties.cart_value >= 30", "when: true"), 4,
     "put it in quotes"),
    # YAML 1.1 reads an unquoted 21:30 as a number (1290, base 60): wait_until said only `got int`
    ("an unquoted time of day in wait_until", ("  - id: value_check\n", "  - id: evening\n    wait_until: 21:30\n"
     "  - id: value_check\n"), 20, "wait_until: Expected `str | object | null`, got `int` (put it in quotes"),
    # there is no template loader: "template: footer" did not say why
    ("a partial template (render)", ("{% endif %}", "{% endif %}{% render 'footer' %}"), 17,
     "body: template: partial templates ({% render %}, {% include %}) are not supported in journey content"),
    ("a partial template (include) in a one-line template", ("waiting.", "waiting.{% include 'footer' %}"), 25,
     "text: template: partial templates ({% render %}, {% include %}) are not supported in journey content"),
    # a filter given the wrong number of arguments on data: it passed validate, and every send was a
    # render_error with Python's words ("prepend() missing 1 required positional argument")
    ("a filter given no argument it needs", ("| upcase", "| prepend"), 18, "filter 'prepend' needs 1 argument, given 0"),
    ("a filter given an argument it does not take", ("{{ event.properties.cart_value }} {{", "{{ event.properties.cart_value"
     " | json: 2 }} {{"), 18, "filter 'json' takes no arguments, given 1"),
    ("a date without its format", ("| upcase", "| date"), 18, "filter 'date' needs 1 argument, given 0"),
    ("a filter given a keyword it lacks", ("| default: 'Hi'", "| default: 'Hi', allowfalse: true"), 14,
     "filter 'default' has no argument 'allowfalse'"),
    ("an expression with brackets unquoted in a { } mapping", ("entry:\n  event: cart_item_added\n  when: "
     "event.properties.cart_value >= 30\n", "entry: {event: cart_item_added, when: event.properties['cart_value'] "
     ">= 30}\n#\n#\n"), 2, "YAML syntax: expected ',' or '}', but got '[' (inside { } or [ ], a value holding , "
     "[ ] { } is cut there: put it in quotes)"),
    # an event named where its mapping goes, as a Canvas names it: msgspec's "Expected `object`, got `str`" alone
    # said nothing of what to write (a walkthrough)
    ("an entry naming its event alone", ("entry:\n  event: cart_item_added\n  when: event.properties.cart_value >= 30\n",
     "entry: cart_item_added\n#\n#\n"), 2,
     "entry: Expected `object`, got `str` (an event is a mapping: entry: {event: cart_item_added})"),
    # `entry:` (or `content:`) with its keys written level with it: msgspec said only "Expected `object`, got `null`"
    ("an entry's keys level with it", ("entry:\n  event: cart_item_added\n  when:", "entry:\nevent: cart_item_added\n"
     "when:"), 2, "entry: Expected `object`, got `null` (`entry:` has nothing under it, and `event`, `when` are "
     "written level with it: indent them under `entry:`)"),
    ("a content's fields level with it", ("        subject: \"{{ profile.traits.first_name | default: 'Hi' }}, your "
     "cart\"\n        body:", "      subject: \"{{ profile.traits.first_name | default: 'Hi' }}, your cart\"\n      "
     "body:"), 13, "steps.1.send.content: Expected `object`, got `null` (`content:` has nothing under it, and "
     "`subject`, `body` are written level with it: indent them under `content:`)"),
    # a trait named alone, as Mailchimp's and Klaviyo's templates and a segment builder's conditions show it: "unknown
    # variable" / "unknown name" listed the roots, not where the trait is (a new user's walkthrough)
    ("a trait named alone in a template", ("{{ profile.traits.first_name | default: 'Hi' }}",
     "{{ first_name | default: 'Hi' }}"), 14, "subject: template: unknown variable 'first_name'; templates see event, "
     "profile, journey, now, today, catalogs; a trait is {{ profile.traits.first_name }}, an event's property "
     "{{ event.properties.first_name }}"),
    ("a property named alone in a condition", ("when: event.properties.cart_value >= 30", "when: cart_value >= 30"), 4,
     "unknown name 'cart_value' at column 1; a trait is profile.traits.cart_value, an event's property "
     "event.properties.cart_value"),
    ("text unquoted in a condition", ("when: event.properties.cart_value >= 30", "when: event.properties.currency == EUR"),
     4, "unknown name 'EUR' at column 30; text goes in quotes: 'EUR'"),
    # a step's keys each given a `-` of its own: msgspec said only "missing required key `id`" (a walkthrough)
    ("a step's key as a list item of its own", ("  - id: value_check\n    branch:", "  - id: value_check\n  - branch:"),
     20, "steps.3: missing required key `id` (`- branch:` begins a step of its own: a step's keys go under its "
     "`- id: value_check` without a `-`, level with `id:`)"),
    ("a goal naming its event alone", ("journey: cart_rescue\n", "journey: cart_rescue\ngoal: Order Completed\n"), 2,
     "goal: Expected `object | null`, got `str` (an event is a mapping: goal: {event: Order Completed})"),
    ("exit_on naming its event alone", ("journey: cart_rescue\n", "journey: cart_rescue\nexit_on: Unsubscribed\n"), 2,
     "exit_on: Expected `array`, got `str` (a list of events: exit_on: [{event: Unsubscribed}])"),
    # the goal's form (a mapping) for exit_on, and a version with a letter: msgspec named only the types
    ("exit_on written as a mapping", ("journey: cart_rescue\n", "journey: cart_rescue\nexit_on:\n  event: cart_emptied\n"),
     2, "exit_on: Expected `array`, got `object` (a list of events, even of one: exit_on: [{event: cart_emptied}])"),
    ("a version written v2", ("journey: cart_rescue\n", "journey: cart_rescue\nversion: v2\n"), 2,
     "version: Expected `int`, got `str` (a whole number: version: 2)"),
    ("an exit_on item naming its event alone", ("journey: cart_rescue\n", "journey: cart_rescue\nexit_on: [cart_emptied]\n"),
     2, "exit_on.0: Expected `object`, got `str` (each event is a mapping: - {event: cart_emptied})"),
    ("a wait_for naming its event alone", ("wait_for: {event: checkout_started, timeout: 2h}", "wait_for: checkout_started"),
     7, "steps.0.wait_for: Expected `object | null`, got `str` (an event is a mapping, with its timeout: wait_for: "
     "{event: checkout_started, timeout: 1d})"),
    # told to quote `re_entry: false`, an author wrote 'false', as invalid: both now say what re_entry takes
    ("re_entry written false", ("journey: cart_rescue\n", "journey: cart_rescue\nre_entry: false\n"), 2,
     "re_entry: Expected `str`, got `bool` (use once, always or after <duration>, e.g. after 7d; for no re-entry "
     "write once, the default)"),
    ("re_entry written 'false' in quotes", ("journey: cart_rescue\n", "journey: cart_rescue\nre_entry: 'false'\n"), 2,
     "bad re_entry 'false': use once, always or after <duration>, e.g. after 7d; for no re-entry write once"),
    ("re_entry written yes", ("journey: cart_rescue\n", "journey: cart_rescue\nre_entry: yes\n"), 2,
     "; to re-enter whenever not in the journey write always)"),
    ("re_entry written as a duration alone", ("journey: cart_rescue\n", "journey: cart_rescue\nre_entry: 30d\n"), 2,
     "bad re_entry '30d': use once, always or after <duration>, e.g. after 7d; write after 30d"),
    ("a holdout written as a percent", ("journey: cart_rescue\n", "journey: cart_rescue\nholdout: 10%\n"), 2,
     "holdout: Expected `float`, got `str` (a plain number: 10, not 10%)"),
    # a Braze Canvas's Liquid brought along (a walkthrough): python-liquid's reason, and what to write instead
    ("Braze's ${attribute} syntax", ("{{ profile.traits.first_name | default: 'Hi' }}, your cart",
     "{{${first_name} | default: 'Hi'}}, your cart"), 14, "unexpected '$'; Braze's ${attribute} syntax is not "
     "Liquid: {{${first_name} | default: 'Hi'}} is {{ profile.traits.first_name | default: 'Hi' }} here"),
    ("Braze's money filter", ("{{ event.properties.cart_value }} {{", "{{ event.properties.cart_value | money }} {{"),
     18, "unknown filter 'money'; Shopify's and Braze's money filters are not standard Liquid (and differ on "
     "cents); for two decimals: {% assign c = x | times: 100 | round %}"),
    ("Braze's connected_content", ("{% if profile.traits.vip %}Free shipping for you.{% endif %}",
     "{% connected_content https://api.example.com/offers :save offers %}"), 17,
     "unexpected tag 'connected_content'; Braze's connected_content is not supported"),
    ("unknown filter in a branch the empty render skips", ("Free shipping for you.", "{{ event.properties.x | upcse }}"),
     17, "unknown filter 'upcse' (did you mean 'upcase'?)"),
    # a template starting a value unquoted: YAML reads `{{ x }}` as a mapping in a mapping, and told an author
    # "mapping keys must be text, got {'profile.traits.first_name': None}", or that the line was indented unlike
    # the lines above it (a walkthrough)
    ("a template alone, unquoted", ("\"{{ profile.traits.first_name | default: 'Hi' }}, your cart\"",
     "{{ profile.traits.first_name }}"), 14, "YAML syntax: a template that starts a value must be in quotes "
     "(unquoted, YAML reads { as a mapping): subject: \"{{ profile.traits.first_name }}\""),
    ("a template and text, unquoted", ("\"{{ profile.traits.first_name | default: 'Hi' }}, your cart\"",
     "{{ profile.traits.first_name }} - your cart"), 14, "must be in quotes (unquoted, YAML reads { as a mapping): "
     "subject: \"{{ profile.traits.first_name }} - your cart\""),
    ("a tag starting a value, unquoted", ("\"{{ profile.traits.first_name | default: 'Hi' }}, your cart\"",
     "{% if profile.traits.vip %}VIP{% endif %}"), 14, "must be in quotes (unquoted, YAML reads { as a mapping): "
     "subject: \"{% if profile.traits.vip %}VIP{% endif %}\""),
    ("a template unquoted in a { } mapping", ("{text: \"Cart of {{ event.properties.cart_value }} waiting.\"}",
     "{text: {{ event.properties.cart_value }}}"), 25, "must be in quotes (unquoted, YAML reads { as a mapping): "
     "text: \"{{ ... }}\""),
    # a message written as one text, or its fields beside the channel: msgspec's "Expected `object`, got `str`" and
    # "unknown field `text` (known keys: channel, content, ...)" said not where they go (a walkthrough)
    ("a send's content as one text", ("{text: \"Cart of {{ event.properties.cart_value }} waiting.\"}",
     "\"Cart waiting.\""), 25, "steps.3.send.content: Expected `object`, got `str` (the message's fields, each a "
     "template: content: {subject: ..., body: ...})"),
    ("a message's field beside the channel", ("content: {text: \"Cart of {{ event.properties.cart_value }} waiting.\"}}",
                                               "text: \"Cart of {{ event.properties.cart_value }} waiting.\"}"), 25, "steps.3.send.text: Object contains "
     "unknown field `text` (a message's fields go under content: content: {subject: ..., body: ...})"),
    # PyYAML's "found character '\t' that cannot start any token" did not say that a tab is never indentation
    ("a tab indenting a line", ("    on_event: end", "\ton_event: end"), 8, "a tab; YAML indents with spaces only"),
    # texts YAML folds into one line (`>`, quoted or plain over several lines): the file's line of the mistake,
    # not the line the text starts on
    ("unknown filter in a folded body (>)", ("body: |\n          You viewed", "body: >\n          You saw\n"
     "          {{ event.properties.x | upcse }}, viewed"), 17, "unknown filter 'upcse'"),
    ("unknown filter in a quoted text over two lines", ("your cart\"", "your cart,\n"
     "          {{ event.properties.x | upcse }}\""), 15, "unknown filter 'upcse'"),
    ("misspelt field in a plain text over two lines", ("\"{{ profile.traits.first_name | default: 'Hi' }}, your cart\"",
     "Hi {{ profile.traits.first_name }},\n          your {{ profile.trait.x }} cart"), 15,
     "profile has no field 'trait'"),
    # a quoted text's closing quote left out: YAML reads on to the next quote of the file, and told of a line below,
    # "indented unlike the lines above it", or "found unexpected end of stream" (a walkthrough)
    ("a quoted text's closing quote missing", ("your cart\"", "your cart"), 14,
     "YAML syntax: the quoted value that starts on this line runs on to line 25, where the next \" closes it: add "
     "its closing quote on this line"),
    # a quote inside a value quoted with the same one ended it: told "indented unlike the lines above it"
    ("a double quote inside a double-quoted text", ("default: 'Hi'", 'default: "Hi"'), 14,
     'YAML syntax: the value quoted with " ends at the " before `Hi" }}, your cart"`: a " inside the value ends '
     "it; quote with ' inside it"),
    ("the last quoted text's closing quote missing", ("waiting.\"}}", "waiting.}}"), 25,
     "YAML syntax: the quoted value that starts on this line is never closed: add its closing quote"),
]


def topology(tmp: Path, journey: str, name: str = "cart_rescue.yaml") -> Path:
    (tmp / "journeys").mkdir(parents=True, exist_ok=True)
    (tmp / "journeys" / name).write_text(journey)
    return tmp


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def warnings_of(topo: Path) -> list[str]:
    """``validate``'s warning lines for a topology it accepts (a warning is no refusal)."""
    p = run("validate", str(topo))
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stdout + p.stderr
    return p.stderr.splitlines()


def one_problem(p: subprocess.CompletedProcess[str], file: Path, line: int, fragment: str) -> None:
    out = p.stdout + p.stderr
    assert "Traceback" not in out, out
    assert p.returncode == 1, out
    problems = [x for x in p.stderr.splitlines() if re.match(r"\S+:\d+: ", x)]
    assert len(problems) == 1, out
    assert problems[0].startswith(f"{file}:{line}: "), f"expected {file}:{line}:, got {problems[0]}"
    assert fragment in problems[0], problems[0]


def test_the_journey_itself_is_valid(tmp_path: Path) -> None:
    p = run("validate", str(topology(tmp_path, JOURNEY)))
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.parametrize(("what", "edit", "line", "fragment"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_a_mistake_is_one_line_at_its_line(tmp_path: Path, what: str, edit: tuple[str, str], line: int,
                                           fragment: str) -> None:
    old, new = edit
    assert JOURNEY.count(old) == 1, old
    topo = topology(tmp_path, JOURNEY.replace(old, new))
    one_problem(run("validate", str(topo)), topo / "journeys" / "cart_rescue.yaml", line, fragment)


def test_problems_in_one_file_are_listed_in_its_order(tmp_path: Path) -> None:
    """A bad `max_duration` (line 2) was listed after a bad wait below it: the steps were checked first."""
    bad = JOURNEY.replace("timeout: 2h", "timeout: soon").replace("next: nudge", "next: nudgee")
    bad = bad.replace("journey: cart_rescue\n", "journey: cart_rescue\nmax_duration: forever\n", 1)
    assert bad.count("max_duration: forever") == 1
    p = run("validate", str(topology(tmp_path, bad)))
    lines = [int(x.split(":")[1]) for x in p.stderr.splitlines() if re.match(r"\S+:\d+: ", x)]
    assert p.returncode == 1 and len(lines) == 3 and lines == sorted(lines) and lines[0] == 2, p.stderr


def test_two_journeys_in_one_file_say_so(tmp_path: Path) -> None:
    topo = topology(tmp_path, JOURNEY + "---\njourney: other\nentry: {event: go}\nsteps: [{id: s, wait: 1h}]\n")
    one_problem(run("validate", str(topo)), topo / "journeys" / "cart_rescue.yaml", 26,
                "expected a single document in the stream, but found another document (one journey per file")


def test_validate_does_not_tell_its_user_to_run_validate(tmp_path: Path) -> None:
    topo = topology(tmp_path, JOURNEY.replace("next: nudge", "next: nudgee"))
    p = run("validate", str(topo))
    assert p.stderr.strip().splitlines()[-1] == f"error: 1 problem(s) in {topo}", p.stderr
    p = run("simulate", "--topologies", str(topo), "--events", str(ROOT / "schemas" / "examples" / "touchpoints.jsonl"))
    assert p.returncode == 1 and f"(`cjo-stream validate {topo}` lists them)" in p.stderr, p.stderr


def test_a_journey_file_given_as_the_directory_names_the_directory_as_written(tmp_path: Path) -> None:
    topo = topology(tmp_path, JOURNEY)
    p = run("validate", str(topo / "journeys" / "cart_rescue.yaml"))  # absolute: the hint was ../../tmp/...
    assert p.returncode == 3 and p.stderr.strip().endswith(f"e.g. {topo}"), p.stderr


def test_a_copied_journey_that_kept_its_id_is_told_to_rename_it(tmp_path: Path) -> None:
    # copying a journey to start another and forgetting `journey:`: bumping `version` (the only advice
    # given before) would have made the copy replace the original for every new entry
    topo = topology(tmp_path, JOURNEY)
    topology(tmp_path, JOURNEY.replace("channel: sms", "channel: push"), "zz_copy.yaml")
    p = run("validate", str(topo))
    one_problem(p, topo / "journeys" / "zz_copy.yaml", 1, "journey 'cart_rescue' version 1 is also defined in")
    assert "its own `journey:` id" in p.stderr


def test_replay_html_with_compare_is_refused_not_ignored(tmp_path: Path) -> None:
    # the page was checked writable and then never written, with exit 0
    a = topology(tmp_path / "a", JOURNEY)
    b = topology(tmp_path / "b", JOURNEY.replace("2h", "3h"))
    events = tmp_path / "events.jsonl"
    events.write_text('{"messageId":"m1","timestamp":"2026-03-02T10:00:00Z","type":"track",'
                      '"event":"cart_item_added","userId":"u1","properties":{"cart_value":50}}\n')
    page = tmp_path / "page.html"
    p = run("replay", "--topologies", str(a), "--compare", str(b), "--events", str(events), "--html", str(page))
    out = p.stdout + p.stderr
    assert "Traceback" not in out, out
    assert p.returncode == 2, out
    assert p.stderr.strip().splitlines()[-1].startswith("error: --html and --compare"), out
    p = run("replay", "--topologies", str(a), "--events", str(events), "--html", str(page))
    assert p.returncode == 0, p.stdout + p.stderr
    assert page.read_text().startswith("<!doctype html") or "<html" in page.read_text()


DATES = """\
journey: order_anniversary
entry: {event: go}
steps:
  - id: note
    send:
      channel: in_app
      content:
        last_order: "{{ profile.last.order_completed | date: '%d %b %Y %H:%M' }}"
        decided: "{{ 'now' | date: '%Y-%m-%d %H:%M' }} {{ now | date: '%H:%M' }}"
        event_time: "{{ event.timestamp | date: '%H:%M' }}"
        now: "{{ now }}, {{ now | minus: profile.last.order_completed | divided_by: 3600 | round }} h after the order"
"""


def test_the_date_filter_reads_the_journeys_times_the_same_on_any_host(tmp_path: Path) -> None:
    # every time a journey sees is epoch seconds as a float: `date` refused a float (render_error for every
    # customer), read an int in the host's zone and 'now' on the wall clock (a replay wrote other text)
    topo = topology(tmp_path, DATES, "order_anniversary.yaml")
    events = tmp_path / "events.jsonl"
    events.write_text(
        '{"messageId":"m1","timestamp":"2026-03-02T09:15:00Z","type":"track","event":"order_completed","userId":"u1"}\n'
        '{"messageId":"m2","timestamp":"2026-03-05T18:30:00Z","type":"track","event":"go","userId":"u1"}\n')
    env = {**os.environ, "TZ": "America/New_York"}
    p = subprocess.run([CLI, "simulate", "--topologies", str(topo), "--events", str(events)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    (cmd,) = [json.loads(line) for line in p.stdout.splitlines()]
    assert cmd["content"] == {"last_order": "02 Mar 2026 09:15", "decided": "2026-03-05 18:30 18:30",
                              "event_time": "18:30", "now": "2026-03-05T18:30:00.000Z, 81 h after the order"}


def test_simulate_says_why_a_template_failed_on_the_data(tmp_path: Path) -> None:
    # `render_error=2` in the report was all an author saw: now one line per step and failure (no data)
    topo = topology(tmp_path, JOURNEY.replace("Cart of {{ event.properties.cart_value }} waiting.",
                                              "{{ event.properties.cart_value | divided_by: event.properties.n }}"))
    events = tmp_path / "events.jsonl"
    events.write_text("".join(
        f'{{"messageId":"i{i}","timestamp":"2026-03-02T09:00:00Z","type":"identify","userId":"u{i}",'
        f'"traits":{{"phone":"+4470000000{i}"}}}}\n'
        f'{{"messageId":"m{i}","timestamp":"2026-03-02T10:00:00Z","type":"track","event":"cart_item_added",'
        f'"userId":"u{i}","properties":{{"cart_value":150,"n":0}}}}\n' for i in range(2)))
    p = run("simulate", "--topologies", str(topo), "--events", str(events))
    assert p.returncode == 0, p.stdout + p.stderr
    # at the step's `send:`, as validate would place it
    assert (f"{topo / 'journeys' / 'cart_rescue.yaml'}:25: cart_rescue v1 step nudge: 2 send(s) skipped, the "
            "template failed on their data "
            "(render_error: liquid: divided_by: can't divide by 0)") in p.stderr.splitlines(), p.stderr


@pytest.mark.parametrize("name", ["policies", "stages"])
def test_a_policies_or_stages_file_named_yml_is_not_ignored_silently(tmp_path: Path, name: str) -> None:
    # journeys may be *.yml, so an author wrote policies.yml: its opt_in consent, caps and quiet hours
    # were dropped without a word (validate said ok)
    topo = topology(tmp_path, JOURNEY)
    body = ("consent: opt_in\n" if name == "policies" else "stages:\n  - {stage: new, when: 'true'}\n")
    (topo / f"{name}.yml").write_text(body)
    one_problem(run("validate", str(topo)), topo / f"{name}.yml", 1, f"read from {name}.yaml; rename it")


def test_a_handed_over_instance_sees_the_same_trigger_before_and_after_a_wait(tmp_path: Path) -> None:
    # README: a hand-over starts the target "with this instance's trigger event as the target's event";
    # after a wait the target saw an event named as its own entry event, stamped at the hand-over's time
    topology(tmp_path, "journey: a\nentry: {event: go}\nsteps:\n  - {id: w, wait: 1h}\n  - {id: h, enter: b}\n",
             "a.yaml")
    content = '{channel: in_app, content: {t: "{{ event.event }} {{ event.timestamp }} {{ event.properties.v }}"}}'
    topology(tmp_path, f"journey: b\nentry: {{event: handed_over}}\nsteps:\n  - {{id: first, send: {content}}}\n"
                       f"  - {{id: w, wait: 1h}}\n  - {{id: later, send: {content}}}\n", "b.yaml")
    events = tmp_path / "events.jsonl"
    events.write_text('{"messageId":"m1","timestamp":"2026-03-02T10:00:00Z","type":"track","event":"go",'
                      '"userId":"u1","properties":{"v":5}}\n')
    p = run("simulate", "--topologies", str(tmp_path), "--events", str(events))
    assert p.returncode == 0, p.stdout + p.stderr
    seen = {c["step"]: c["content"]["t"] for c in map(json.loads, p.stdout.splitlines())}
    assert seen == {"first": "go 2026-03-02T10:00:00.000Z 5", "later": "go 2026-03-02T10:00:00.000Z 5"}


def test_journeys_in_a_subfolder_are_not_loaded_and_it_says_so(tmp_path: Path) -> None:
    # docs: journeys/*.yaml; an author who filed journeys by team (journeys/marketing/x.yaml) saw them skipped
    # without a word. A warning, not a problem: an archive folder may be deliberate.
    topo = topology(tmp_path, JOURNEY)
    for rel in ("marketing/a.yaml", "marketing/b.yml", "marketing/old/c.yaml"):
        (topo / "journeys" / rel).parent.mkdir(parents=True, exist_ok=True)
        (topo / "journeys" / rel).write_text(JOURNEY.replace("cart_rescue", rel.replace("/", "_")[:-5]))
    (topo / "journeys" / "marketing" / "notes.txt").write_text("not a journey")
    p = run("validate", str(topo))
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stdout + p.stderr
    assert p.stdout.splitlines() == [f"ok  cart_rescue v1  (4 steps)  {topo / 'journeys' / 'cart_rescue.yaml'}"]
    assert p.stderr.splitlines() == [
        f"{topo / 'journeys' / 'marketing'}: warning: 2 journey file(s) in a subfolder are not loaded "
        "(journeys/*.yaml only)",
        f"{topo / 'journeys' / 'marketing' / 'old'}: warning: 1 journey file(s) in a subfolder are not loaded "
        "(journeys/*.yaml only)"], p.stderr
    # every command loading a topology says it, on stderr: what simulate writes to stdout is unchanged
    events = tmp_path / "events.jsonl"
    events.write_text('{"messageId":"i1","timestamp":"2026-03-02T09:00:00Z","type":"identify","userId":"u1",'
                      '"traits":{"email":"u1@example.com"}}\n'
                      '{"messageId":"m1","timestamp":"2026-03-02T10:00:00Z","type":"track",'
                      '"event":"cart_item_added","userId":"u1","properties":{"cart_value":50}}\n')
    p = run("simulate", "--topologies", str(topo), "--events", str(events))
    assert p.returncode == 0, p.stdout + p.stderr
    assert [json.loads(line)["step"] for line in p.stdout.splitlines()] == ["remind"]
    assert sum("in a subfolder are not loaded" in line for line in p.stderr.splitlines()) == 2, p.stderr


def test_a_topology_with_every_journey_in_subfolders_says_where_they_are(tmp_path: Path) -> None:
    """With none left in journeys/ itself, the refusal said only "no journey files found" (the warning above
    it named the folder, the error not why)."""
    topo = topology(tmp_path, JOURNEY)
    (topo / "journeys" / "marketing").mkdir()
    (topo / "journeys" / "cart_rescue.yaml").rename(topo / "journeys" / "marketing" / "cart_rescue.yaml")
    p = run("validate", str(topo))
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stdout + p.stderr
    assert (f"{topo / 'journeys'}:1: no journey files (*.yaml or *.yml) found; 1 journey file(s) sit in subfolders "
            f"of {topo / 'journeys'}/, which are not read: move them up into it") in p.stderr.splitlines(), p.stderr


LAPSED = """\
journey: lapsed
entry:
  schedule: {every: 1d, at: "09:00"}
  when: event.properties.cart_value > 30 and days_since(profile.last.order_completed) > 30
steps:
  - {id: nudge, send: {channel: in_app, content: {text: "We miss you"}}}
"""


def test_a_scheduled_when_reading_the_event_properties_is_warned_about(tmp_path: Path) -> None:
    # a scheduled entry's event (`scheduled`) has no properties: this `when` never held, and validate said ok.
    # Not refused: a hand-over into the journey does give it an event with properties.
    topo = topology(tmp_path, LAPSED, "lapsed.yaml")
    p = run("validate", str(topo))
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stdout + p.stderr
    assert p.stdout.splitlines() == [f"ok  lapsed v1  (1 step)  {topo / 'journeys' / 'lapsed.yaml'}"]
    assert p.stderr.splitlines() == [
        f"{topo / 'journeys' / 'lapsed.yaml'}:4: warning: entry.when reads event.properties.cart_value, always empty "
        "on a scheduled entry (its `scheduled` event has no properties; only a hand-over into this journey "
        "gives it an event): read the profile instead (profile.traits, profile.last, profile.counters)"], p.stderr
    # the target of a hand-over: its `when` reads the handing-over journey's trigger
    topology(tmp_path, "journey: cart\nentry: {event: cart_item_added}\nsteps:\n  - {id: w, wait: 1h}\n"
                       "  - {id: h, enter: lapsed}\n", "cart.yaml")
    p = run("validate", str(topo))
    assert p.returncode == 0 and p.stderr == "", p.stdout + p.stderr


def test_a_scheduled_journeys_template_reading_the_event_properties_is_warned_about(tmp_path: Path) -> None:
    """As its `when`: the template rendered empty text for every customer (a walkthrough found only the
    `when` warned about)."""
    text = LAPSED.replace("event.properties.cart_value > 30 and ", "").replace(
        '{text: "We miss you"}', '{text: "We miss you, {{ event.traits.first_name }}"}')
    topo = topology(tmp_path, text, "lapsed.yaml")
    p = run("validate", str(topo))
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stdout + p.stderr
    assert p.stderr.splitlines() == [
        f"{topo / 'journeys' / 'lapsed.yaml'}:6: warning: step nudge's text reads event.traits.first_name, always "
        "empty on a scheduled entry (its `scheduled` event has no traits): read the profile instead "
        "(profile.traits, profile.last, profile.counters)"], p.stderr
    fixed = text.replace("event.traits.first_name", "profile.traits.first_name")
    topology(tmp_path, fixed, "lapsed.yaml")
    p = run("validate", str(topo))
    assert p.returncode == 0 and p.stderr == "", p.stdout + p.stderr
    to = fixed.replace("channel: in_app,", 'channel: in_app, to: "{{ event.context.device_id }}",')
    topology(tmp_path, to, "lapsed.yaml")
    p = run("validate", str(topo))
    assert p.returncode == 0 and "step nudge's to reads event.context.device_id" in p.stderr, p.stdout + p.stderr


UNDELIVERABLE = """\
journey: pings
entry: {event: x}
steps:
  - id: mail
    send:
      channel: email
      content:
        subject: ping
        bdoy: hello
  - {id: text, send: {channel: sms, content: {msg: hi}}}
  - {id: team, send: {channel: slack, content: {subject: "a ping went out"}}}
  - {id: hook, send: {channel: webhook, content: {kind: ping}}}
"""


def test_a_send_its_adapter_would_refuse_is_warned_about_at_validate(tmp_path: Path) -> None:
    """An e-mail with a subject only (or a misspelt `body`) validated and counted as sent in simulate, while the
    e-mail adapter refuses every such message: the author learnt it from failed receipts in production. A
    warning, not a refusal: a deployment's own adapter for the topic may read other keys."""
    topo = topology(tmp_path, UNDELIVERABLE, "pings.yaml")
    f = topo / "journeys" / "pings.yaml"
    assert warnings_of(topo) == [
        f"{f}:7: warning: step mail's email content has none of 'body', 'text', 'html' (did you mean 'body'?): "
        "the email adapter refuses such a message (a failed receipt for every send)",
        f"{f}:10: warning: step text's sms content has none of 'body', 'text': the sms adapter refuses such a "
        "message (a failed receipt for every send)"]
    fixed = UNDELIVERABLE.replace("bdoy:", "body:").replace("{msg: hi}", "{text: hi}")
    p = run("validate", str(topology(tmp_path, fixed, "pings.yaml")))
    assert p.returncode == 0 and p.stderr == "", p.stdout + p.stderr


ACCOUNT = """\
journey: account
entry: {event: group, when: "event.properties.traits.plan == 'enterprise'"}
steps:
  - id: welcome
    send:
      channel: email
      content:
        subject: "Welcome"
        body: |
          Hello,
          your team {{ event.traits.name | default: 'there' }} is on board.
  - {id: later, wait: 1d}
  - id: tier
    branch:
      - {when: "event.traits.size > 100", next: big}
      - {else: end}
  - id: big
    wait_for: {event: identify, timeout: 1d}
    on_event: ask
    on_timeout: end
  - {id: ask, send: {channel: sms, content: {text: "Hi {{ event.traits.first_name }}"}}}
"""


def test_a_template_reading_event_traits_of_a_group_call_is_warned_about_at_its_line(tmp_path: Path) -> None:
    """A group call's traits are the group's, at event.properties.traits (README, Event model): a welcome
    reading ``event.traits.name`` rendered the default for every account, and validate said ok. After a
    wait the event is the group call again (its kept trigger); after the wait_for's identify it is that
    identify, whose traits are its own (no warning)."""
    topo = topology(tmp_path, ACCOUNT, "account.yaml")
    file = topo / "journeys" / "account.yaml"
    assert warnings_of(topo) == [
        f"{file}:11: warning: step welcome's body reads event.traits.name, empty when its event is a group call: "
        "the group's traits are event.properties.traits.name (README, Event model)",
        f"{file}:15: warning: step tier's branch reads event.traits.size, empty when its event is a group call: "
        "the group's traits are event.properties.traits.size (README, Event model)"]
    # without `on_timeout: end` the timeout goes on to `ask`, woken by a timer: its event the group call again
    topology(tmp_path, ACCOUNT.replace("    on_timeout: end\n", ""), "account.yaml")
    p = run("validate", str(topo))
    assert "account.yaml:20: warning: step ask's text reads event.traits.first_name" in p.stderr, p.stderr
    fixed = ACCOUNT.replace("event.traits.name", "event.properties.traits.name").replace(
        "event.traits.size", "event.properties.traits.size")
    topology(tmp_path, fixed, "account.yaml")
    p = run("validate", str(topo))
    assert p.returncode == 0 and p.stderr == "", p.stdout + p.stderr


def test_a_hand_over_target_reading_event_traits_of_a_group_trigger_is_warned_about(tmp_path: Path) -> None:
    """A hand-over gives its target the handing-over journey's event: a group call, here."""
    topology(tmp_path, "journey: account\nentry: {event: group}\nsteps:\n  - {id: h, enter: onboard}\n", "account.yaml")
    topo = topology(tmp_path, "journey: onboard\nentry: {event: signed_up}\nsteps:\n"
                              "  - {id: hi, send: {channel: sms, content: {text: \"Hi {{ event.traits.first_name }}\"}}}\n",
                    "onboard.yaml")
    p = run("validate", str(topo))
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stdout + p.stderr
    assert [w.split(": warning: ")[0] for w in p.stderr.splitlines()] == [f"{topo / 'journeys' / 'onboard.yaml'}:4"]


SUBJECT_TEST = """\
journey: browse
entry: {event: Product Viewed}
steps:
  - id: subject_test
    split:
      - {variant: a, weight: 1}
      - {variant: b, weight: 1}
  - id: mail
    send:
      channel: email
      content:
        subject: "{% if journey.variant == 'A' %}Still thinking?{% else %}It is waiting{% endif %}"
        body: |
          Hello,
          {% if 'c' != journey.variant %}see you soon{% endif %}
  - id: check
    branch:
      - {when: "journey.variant == 'b'", next: end}
      - {when: "journey.variant == 'control'", next: end}
"""


def test_a_comparison_with_a_variant_no_split_has_is_warned_about_at_its_line(tmp_path: Path) -> None:
    """A subject-line test compared ``journey.variant == 'A'`` for the arm ``a``: it never held, every customer
    got the other subject while the report showed both arms filling up, and validate said ok."""
    topo = topology(tmp_path, SUBJECT_TEST, "browse.yaml")
    p = run("validate", str(topo))
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stdout + p.stderr
    f = topo / "journeys" / "browse.yaml"
    assert sorted(p.stderr.splitlines()) == [
        f"{f}:12: warning: `journey.variant == 'A'` never holds: journey browse has no variant 'A' (its splits' "
        "variants are 'a', 'b'); did you mean 'a'?",
        f"{f}:15: warning: `'c' != journey.variant` always holds: journey browse has no variant 'c' (its splits' "
        "variants are 'a', 'b')",
        f"{f}:19: warning: `journey.variant == 'control'` never holds: journey browse has no variant 'control' "
        "(its splits' variants are 'a', 'b')"], p.stderr
    fixed = SUBJECT_TEST.replace("== 'A'", "== 'a'").replace("'c' !=", "'b' !=").replace("'control'", "'a'")
    p = run("validate", str(topology(tmp_path, fixed, "browse.yaml")))
    assert p.returncode == 0 and p.stderr == "", p.stdout + p.stderr
    no_split = SUBJECT_TEST.replace("subject_test\n    split:\n      - {variant: a, weight: 1}\n      - {variant: b, "
                                    "weight: 1}", "wait\n    wait: 1h")
    p = run("validate", str(topology(tmp_path, no_split, "browse.yaml")))
    assert "it has no split, so journey.variant is null" in p.stderr, p.stderr


def test_a_step_level_next_on_a_split_is_refused_at_its_line(tmp_path: Path) -> None:
    """It was never taken (each arm goes by its own `next`, else the following step) and validated silently."""
    split = ("  - id: value_check\n    next: nudge\n    split:\n      - {variant: a, weight: 1}\n"
             "      - {variant: b, weight: 1}\n")
    old = JOURNEY[JOURNEY.index("  - id: value_check\n"):JOURNEY.index("  - id: nudge\n")]
    topo = topology(tmp_path, JOURNEY.replace(old, split))
    one_problem(run("validate", str(topo)), topo / "journeys" / "cart_rescue.yaml", 20,
                "a split step continues by each variant's `next` (without one, the following step), not by a "
                "step-level next: give the variants theirs")
