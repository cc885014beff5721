"""A paused journey (``status: paused``) on the analytics page, its API and its map: without a mark its empty
entries read as a quiet day, and its held sends as customers who stopped at the mail."""

from __future__ import annotations

import shutil

import pytest

from cjo_stream.analytics import graph, page, report
from cjo_stream.analytics.fold import Analytics
from cjo_stream.analytics.offline import definitions
from tests.conftest import journey

CART = """
journey: cart
{status}
entry: {{event: added}}
steps:
  - id: wait_a_bit
    wait: 1h
  - id: mail
    send: {{channel: email, content: {{subject: hi, body: hi}}}}
"""


@pytest.mark.parametrize("paused", [True, False])
def test_the_api_the_page_and_the_map_say_a_journey_is_paused(paused: bool) -> None:
    j = journey(CART.format(status="status: paused" if paused else ""))
    defs = definitions([j])
    buckets = Analytics().buckets
    (row,) = report.overview(buckets, defs)
    one = report.journey_report(buckets, defs, "cart")
    assert row["status"] == one["status"] == ("paused" if paused else "live")
    assert ("class=paused" in page.overview_html([row])) is paused
    dot, _ = graph.dot_source(j)
    assert ("entry: added (paused: nobody enters)" in dot) is paused
    assert ("(held: journey paused)" in dot) is paused
    if shutil.which("dot") is not None:  # the journey page draws the map
        assert ("class=paused" in page.journey_html(one, defs)) is paused


@pytest.mark.parametrize("closed", [True, False])
def test_the_api_the_page_and_the_map_say_a_journey_is_closed(closed: bool) -> None:
    """Closed (``status: closed``): nobody enters, but its sends go out, so no send is marked held."""
    j = journey(CART.format(status="status: closed" if closed else ""))
    defs = definitions([j])
    buckets = Analytics().buckets
    (row,) = report.overview(buckets, defs)
    one = report.journey_report(buckets, defs, "cart")
    assert row["status"] == one["status"] == ("closed" if closed else "live")
    assert (">closed</span>" in page.overview_html([row])) is closed
    dot, _ = graph.dot_source(j)
    assert ("entry: added (closed: nobody enters)" in dot) is closed
    assert "held" not in dot
    if shutil.which("dot") is not None:
        assert (">closed</span>" in page.journey_html(one, defs)) is closed
