"""``simulate --journey-events FILE``: the journey events a simulation decided, one JSON line each.

The report's figures are folded from these (entered, holdout, step, variant, sent, skipped, converted, ..., and a
``receipt`` for each receipt line of the input that names its ``delivery_id``: the opens and clicks the report
counted, which the file lacked, and a ``linked`` record for each login that merged an anonymous id, whose sends
then count with the customer's for sends a week), as the analytics service folds the records workers write to ``cjo.journey-events``; the delivery commands on stdout
alone did not let an analyst count a funnel, an arm's conversions or where customers left by hand (a
walkthrough). Schema: ``schemas/journey_event.schema.json`` (offline records have no ``src``).
"""

from __future__ import annotations

from typing import BinaryIO

from cjo_stream.analytics.records import encode, journey_events, linked_event, receipt_event, stage_events
from cjo_stream.engine import Engine, Result
from cjo_stream.errors import write_problem
from cjo_stream.events import Event


class JourneyEventFile:
    """Writes each counted engine call's journey events (``Simulator.on_result``) to ``path``."""

    def __init__(self, path: str, engine: Engine) -> None:
        self.path = path
        self._zone = engine.policies.default_timezone
        self._channels = engine.customer_channels
        try:
            self._f: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed by close(), after the run
        except OSError as e:
            raise write_problem(f"the journey events file {path}", e) from None

    def write(self, res: Result) -> None:
        cid = res.profile.customer_id
        lines = [encode(e) for e in (*journey_events(res, cid, self._zone, None, self._channels),
                                     *stage_events(res, cid))]
        if res.absorbed:  # a login merged an id into the customer: last, as a worker writes its ``linked``
            lines.append(encode(linked_event(res, cid)))
        try:
            self._f.write(b"\n".join(lines) + b"\n" if lines else b"")
        except OSError as e:
            raise write_problem(f"the journey events file {self.path}", e) from None

    def receipt(self, ev: Event, customer_id: str) -> None:
        """A receipt of the input (``Simulator.on_receipt``): its ``receipt`` record, if it names a delivery."""
        r = receipt_event(ev, customer_id)
        if r is None:
            return
        try:
            self._f.write(encode(r) + b"\n")
        except OSError as e:
            raise write_problem(f"the journey events file {self.path}", e) from None

    def close(self) -> None:
        try:
            self._f.close()
        except OSError as e:
            raise write_problem(f"the journey events file {self.path}", e) from None
