"""An update's value written as a YAML ``>`` or ``|`` block ends with a line break, unseen: ``total: >`` over a
lone ``{{ event.properties.total }}`` stored ``"150\\n"`` (text) where the author meant the number. ``validate``
warns at the trait's line; ``>-``/``|-`` and quoted values are not told."""

from __future__ import annotations

from pathlib import Path

from cjo_stream.journeys.loader import load_topology
from tests.journeys.test_language2 import write

VIP = """\
journey: vip
entry: {event: order_completed}
steps:
  - id: remember
    update:
      traits:
        total: >
          {{ event.properties.total }}
        note: |
          big order
        fine: >-
          {{ event.properties.total }}
        quoted: "{{ event.properties.total }}"
        spaced: "{{ event.properties.total }} "
"""


def test_a_value_ending_with_a_blocks_line_break_is_warned_at_its_line(tmp_path: Path) -> None:
    warnings = load_topology(write(tmp_path, {"vip": VIP})).warnings
    told = [w.split("/")[-1] for w in warnings if "ends with a line break" in w]
    assert told == [
        "vip.yaml:7: warning: trait 'total' of step remember ends with a line break (a YAML > or | block keeps one): "
        "it stores text ending in a line break, not the value of its {{ }} (a lone {{ }} keeps a number's type); "
        "write >- or |- to drop it",
        "vip.yaml:9: warning: trait 'note' of step remember ends with a line break (a YAML > or | block keeps one): "
        "it stores text ending in a line break; write >- or |- to drop it"], warnings
