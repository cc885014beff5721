"""``time_zone``: a time written on the customer's clock (Braze's filter of that name). ``date`` alone writes UTC,
so "your slot at 14:00" was the customer's 15:00 in Berlin; with ``| time_zone: profile.timezone`` it is theirs,
across daylight-saving changes, and the same on any host and in a replay."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cjo_stream.events import parse_ts
from cjo_stream.journeys.templates import RenderError, Template, TemplateError

SLOT = "{{ event.properties.slot | time_zone: profile.timezone | date: '%a %d %b %H:%M' }}"


def _render(source: str, slot: object, zone: object, now: float = 0.0) -> str:
    return Template(source).render({"event": {"properties": {"slot": slot}}, "profile": {"timezone": zone},
                                    "now": now})


@pytest.mark.parametrize(("slot", "zone", "shown"), [
    (parse_ts("2026-03-28T13:00:00Z"), "Europe/Berlin", "Sat 28 Mar 14:00"),  # CET, +1
    (parse_ts("2026-03-29T13:00:00Z"), "Europe/Berlin", "Sun 29 Mar 15:00"),  # CEST from that night, +2
    ("2026-03-29T13:00:00Z", "America/New_York", "Sun 29 Mar 09:00"),  # RFC 3339 text, EDT
    ("2026-03-29T15:00:00+02:00", "Asia/Tokyo", "Sun 29 Mar 22:00"),  # an offset of its own
    (1774789200, "Australia/Lord_Howe", "Mon 30 Mar 00:00"),  # epoch seconds; Lord Howe in summer time (+11)
    (1775961000, "Australia/Lord_Howe", "Sun 12 Apr 13:00"),  # in winter, +10:30: a half-hour zone
])
def test_a_time_is_written_on_the_zones_clock(slot: object, zone: str, shown: str) -> None:
    assert _render(SLOT, slot, zone) == shown


def test_now_on_the_customers_clock_is_the_decision_time_there() -> None:
    now = parse_ts("2026-07-01T23:30:00Z")
    assert _render("{{ 'now' | time_zone: profile.timezone | date: '%d %H:%M' }}", None, "Asia/Kolkata", now) \
        == "02 05:00"
    assert _render("{{ now | time_zone: 'UTC' | date: '%H:%M' }}", None, None, now) == "23:30"


def test_a_customer_without_a_zone_fails_the_send_saying_so() -> None:
    # nil: the customer has no zone (profile.timezone); the author gives a default, as the README shows
    with pytest.raises(RenderError, match="time_zone: no zone") as told:
        _render(SLOT, 1774789200, None)
    # the README quotes the skip's detail as it is (it named `render_error: time_zone: no zone`, not the detail)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert f"detail `{told.value.reason}`" in readme, told.value.reason
    with pytest.raises(RenderError, match="time_zone: unknown zone 'Mars/Olympus'"):
        _render(SLOT, 1774789200, "Mars/Olympus")
    with_default = ("{% assign tz = profile.timezone | default: 'Europe/Berlin' %}"
                    "{{ event.properties.slot | time_zone: tz | date: '%H:%M' }}")
    assert _render(with_default, 1774789200, None) == "15:00"


def test_it_takes_one_zone() -> None:
    with pytest.raises(TemplateError, match="time_zone"):
        Template("{{ now | time_zone | date: '%H:%M' }}")


def test_the_same_on_any_host() -> None:
    # (the reference: the zone's clock as datetime gives it)
    from zoneinfo import ZoneInfo

    ts = parse_ts("2026-10-25T00:30:00Z")  # the fall-back night in Europe
    want = datetime.fromtimestamp(ts, UTC).astimezone(ZoneInfo("Europe/London")).strftime("%H:%M")
    assert _render("{{ event.properties.slot | time_zone: profile.timezone | date: '%H:%M' }}", ts,
                   "Europe/London") == want == "01:30"


def test_one_instant_written_in_two_offsets_keeps_each() -> None:
    # python-liquid's date caches its input by value, and two aware times of one instant are equal: the second
    # came out on the first one's clock (22:00 in Tokyo written as Lord Howe's 00:00)
    hm = "{{ event.properties.slot | date: '%H:%M %z' }}"
    assert _render(hm, "2026-03-29T15:00:00+02:00", None) == "15:00 +0200"
    assert _render(hm, "2026-03-29T22:00:00+09:00", None) == "22:00 +0900"
    tz = "{{ event.properties.slot | time_zone: profile.timezone | date: '%H:%M' }}"
    assert [_render(tz, 1774789200, z) for z in ("Australia/Lord_Howe", "Asia/Tokyo")] == ["00:00", "22:00"]
