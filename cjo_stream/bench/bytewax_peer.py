"""The abandoned-cart peer in Bytewax: ``stateful_map`` over its Kafka input (state per key).

Written as its docs would: a ``Dataflow`` with the Kafka connector's ``input`` (reads every partition
from the beginning; no consumer group), the JSON decoded and keyed by the record key (the customer),
``stateful_map`` running the journey step (cjo_stream/bench/cart.py), the decided messages to an
output topic. Run as ``python -m bytewax.run cjo_stream.bench.bytewax_peer:flow`` by the bench, which
adds ``-r DIR -s 5`` (Bytewax's recovery: state snapshots to SQLite every 5 s) so its state is durable
like every other contender's. Progress lines to ``$BENCH_PROGRESS`` (cart.Progress).
"""

from __future__ import annotations

import os
from typing import Any

import bytewax.connectors.kafka.operators as kop
import bytewax.operators as op
import orjson
from bytewax.connectors.kafka import KafkaSinkMessage, KafkaSourceMessage
from bytewax.dataflow import Dataflow

from cjo_stream.bench.cart import Progress, State, step

BROKERS = [os.environ.get("BENCH_BROKER", "127.0.0.1:9092")]
APP_ID = os.environ.get("BENCH_APP_ID", "bench-bytewax")
progress = Progress()


def decode(msg: KafkaSourceMessage[bytes | None, bytes | None]) -> tuple[str, dict[str, Any]]:
    return (msg.key or b"").decode(), orjson.loads(msg.value or b"{}")


def journey(state: State | None, ev: dict[str, Any]) -> tuple[State, list[State]]:
    progress.tick()
    return step(state, ev)


def encode(item: tuple[str, list[State]]) -> list[KafkaSinkMessage[bytes, bytes]]:
    return [KafkaSinkMessage(item[0].encode(), orjson.dumps(m)) for m in item[1]]


flow = Dataflow("abandoned_cart")
touchpoints = kop.input("touchpoints", flow, brokers=BROKERS,
                        topics=[os.environ.get("BENCH_TOPIC", "bench.touchpoints")])
decisions = op.stateful_map("journey", op.map("decode", touchpoints.oks, decode), journey)
kop.output("reminders", op.flat_map("encode", decisions, encode), brokers=BROKERS, topic=f"{APP_ID}.email")
