"""An ordering comparison with a number in quotes is warned about at load: ``event.properties.price >= '20'``
compares with text, which never holds for a number (and orders text by its characters: ``'100' < '20'``); a
walkthrough's win-back entered nobody, and ``validate`` said ``ok``."""

from __future__ import annotations

from pathlib import Path

from cjo_stream.journeys.loader import load_topology
from tests.journeys.test_language2 import write

J = """\
journey: wb
entry: {event: product_viewed, when: "event.properties.price >= 'PRICE'"}
steps:
  - id: pick
    branch:
      - {when: "'3' > profile.counters.order_completed", next: mail}
      - {when: "event.properties.sku == '1003'", next: mail}
      - {else: end}
  - id: mail
    send: {channel: email, content: {subject: hi, body: hi}}
"""


def test_a_number_in_quotes_compared_in_order_is_warned_about_at_its_line(tmp_path: Path) -> None:
    topo = load_topology(write(tmp_path, {"wb": J.replace("PRICE", "20")}))
    warnings = [w.split(": warning: ", 1) for w in topo.warnings]
    assert [(where.rsplit(":", 1)[1], w.split(" compares")[0]) for where, w in warnings] == [
        ("2", "`>= '20'`"), ("6", "`'3' >`")]  # an equality with text (an id as text) is no mistake
    assert all("it never holds for a number" in w for _, w in warnings)
    fixed = J.replace("PRICE", "b").replace("'3' > profile.counters.order_completed",
                                            "profile.counters.order_completed >= 3")  # text with text: meant
    (tmp_path / "fixed").mkdir()
    assert load_topology(write(tmp_path / "fixed", {"wb": fixed})).warnings == []
