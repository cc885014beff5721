"""The abandoned-cart peer in Quix Streams: a stateful ``apply`` (RocksDB state per message key).

Written as its docs would: one ``Application``, the touchpoint topic as JSON, ``apply(stateful=True)``
with the journey step (cjo_stream/bench/cart.py), the messages it decides sent to an output topic.
What it takes on the local broker (docs/benchmarks.md, "Peers"): an input topic created with
``retention.ms`` (Quix derives its changelog topic's config from the input's and stops with
``KeyError: 'retention.ms'`` where DescribeConfigs reports none, as Tansu does for a topic created
without it); ``auto_offset_reset="earliest"`` (the default ``latest`` skips the pre-produced input);
a 10 s session timeout like the Faust peer's (Tansu held the first JoinGroup ~23 s with librdkafka's
default 45 s; with 10 s the first event is processed ~8 s after start).

Run by ``python -m cjo_stream.bench``; progress lines to ``$BENCH_PROGRESS`` (cart.Progress).
"""

from __future__ import annotations

import os
from typing import Any

from quixstreams import Application, State

from cjo_stream.bench.cart import Progress, step

APP_ID = os.environ.get("BENCH_APP_ID", "bench-quix")
progress = Progress()


def journey(ev: dict[str, Any], state: State) -> list[dict[str, Any]]:
    cart, out = step(state.get("cart"), ev)
    state.set("cart", cart)
    progress.tick()
    return out


def main() -> None:
    app = Application(broker_address=os.environ.get("BENCH_BROKER", "127.0.0.1:9092"), consumer_group=APP_ID,
                      auto_offset_reset="earliest", state_dir=os.environ.get("BENCH_DATA_DIR", "/tmp/cjo-bench-quix"),
                      consumer_extra_config={"session.timeout.ms": 10_000})
    touchpoints = app.topic(os.environ.get("BENCH_TOPIC", "bench.touchpoints"), key_deserializer="str",
                            value_deserializer="json")
    reminders = app.topic(f"{APP_ID}.email", value_serializer="json")
    app.dataframe(touchpoints).apply(journey, stateful=True, expand=True).to_topic(reminders)
    app.run()


if __name__ == "__main__":
    main()
