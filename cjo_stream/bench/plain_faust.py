"""The peer a user would write instead of cjo-stream: abandoned cart as one plain Faust agent.

Written "the obvious way" on purpose (this is the benchmark's comparison point, not our design):
one agent over the touchpoint topic, one RocksDB ``Table`` write per event (the customer's small
state), one output ``send`` per trigger, and a periodic timer that sends the reminder for carts left
for longer than the wait. No identity resolution, no dedupe, no templates.

Run by ``python -m cjo_stream.bench``; appends one JSON progress line per 0.5 s to ``$BENCH_PROGRESS``
(Faust redirects stdout into its log): ``{"n": events handled, "t": wall time, "cpu": process CPU s}``.
"""

from __future__ import annotations

import os
import sys
import time

import faust
import orjson

APP_ID = os.environ.get("BENCH_APP_ID", "bench-plain")
BOOTSTRAP = os.environ.get("BENCH_BROKER", "127.0.0.1:9092")
TOPIC = os.environ.get("BENCH_TOPIC", "bench.touchpoints")
PARTITIONS = int(os.environ.get("BENCH_PARTITIONS", "8"))
WAIT_S = 3600.0
PROGRESS = os.environ.get("BENCH_PROGRESS", "/tmp/cjo-bench-plain.progress")

app = faust.App(APP_ID, broker=f"kafka://{BOOTSTRAP}", store="rocksdb://",
                datadir=os.environ.get("BENCH_DATA_DIR", "/tmp/cjo-bench-plain"), topic_partitions=PARTITIONS,
                web_enabled=False, autodiscover=False, broker_session_timeout=10.0,
                broker_heartbeat_interval=1.0, broker_rebalance_timeout=10.0)
touchpoints = app.topic(TOPIC, key_serializer="raw", value_serializer="raw", partitions=PARTITIONS)
reminders = app.topic(f"{APP_ID}.email", key_serializer="raw", value_serializer="raw", partitions=PARTITIONS)
carts = app.Table("carts", default=dict, partitions=PARTITIONS)

handled = 0


@app.agent(touchpoints)
async def abandoned_cart(stream: faust.StreamT[bytes]) -> None:
    global handled
    async for raw in stream:
        ev = orjson.loads(raw)
        cid = ev.get("userId") or ev.get("anonymousId") or ""
        name = ev.get("event") or ev.get("type")
        state = carts[cid]
        state["seen"] = ev.get("timestamp")
        if ev.get("type") == "identify":
            state["email"] = (ev.get("traits") or {}).get("email", state.get("email"))
        if name == "cart_item_added":
            state["cart_at"] = time.time()
            state["product"] = (ev.get("properties") or {}).get("product_name")
        elif name in ("checkout_started", "order_completed", "cart_emptied"):
            state.pop("cart_at", None)
            if name == "order_completed" and state.pop("reminded", None):
                await reminders.send(key=cid.encode(), value=orjson.dumps({"customer": cid, "converted": True}))
        carts[cid] = state  # the one table write per event (and its changelog record)
        handled += 1


@app.timer(0.5)
async def progress() -> None:
    with open(PROGRESS, "ab") as f:
        f.write(orjson.dumps({"n": handled, "t": time.time(), "cpu": time.process_time()}) + b"\n")


@app.timer(5.0)
async def remind() -> None:
    """Send reminders for carts left longer than the wait (local partitions only)."""
    now = time.time()
    for cid, state in list(carts.items()):
        if state.get("cart_at") and now - state["cart_at"] > WAIT_S and state.get("email"):
            await reminders.send(key=cid.encode(), value=orjson.dumps({"customer": cid, "to": state["email"]}))


if __name__ == "__main__":
    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn", "--without-web"]
    app.main()
