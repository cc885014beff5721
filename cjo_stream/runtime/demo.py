"""``make demo``: broker + worker + load generator, delivery commands printed live; Ctrl-C stops all.

Every child is SIGKILLed by the kernel if the demo itself dies (:mod:`cjo_stream.lifetime`):
the demo's broker keeps its data in memory and everything else lives in a temporary directory, so
there is nothing a graceful stop would save.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import httpx
import msgspec
import orjson

from cjo_stream.config import Settings
from cjo_stream.kafka.local_broker import LocalBroker, free_port
from cjo_stream.lifetime import popen

CHANNELS = ["email", "sms", "push", "in_app", "webhook", "slack", "crm"]


def _spawn(args: list[str], env: dict[str, str], log: Any) -> subprocess.Popen[Any]:
    return popen([sys.executable, "-m", "cjo_stream.cli", *args], sig=signal.SIGKILL, env=env, stdout=log,
                 stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[Any] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def _line(cmd: dict[str, Any]) -> str:
    content = cmd.get("content") or {}
    text = content.get("subject") or content.get("title") or content.get("text") or content.get("body") or ""
    text = text.replace("\n", " ")[:60]
    route = f"{cmd['journey']}/{cmd['step']}"  # padded as a whole: the columns after it line up
    return f"{time.strftime('%H:%M:%S')}  {cmd['channel']:<7} {route:<28} customer={cmd['customer_id']:<10} {text}"


def engagement(cmd: dict[str, Any]) -> list[str]:
    """What the demo's simulated customer does with a message (deterministic per delivery id): the receipt
    statuses a provider would report. Shows the analytics page's engagement rates and charts filling up."""
    if cmd.get("channel") not in ("email", "push", "sms", "in_app"):
        return []
    h = int(hashlib.blake2b(cmd["delivery_id"].encode(), digest_size=4).hexdigest(), 16) / 2**32
    if h < 0.03:
        return ["bounced"]
    out = ["delivered"]
    if h < 0.45:
        out.append("opened")
        if h < 0.15:
            out.append("clicked")
        if h < 0.04:
            out.append("unsubscribed")
    return out


async def _follow(settings: Settings, until: float, shown: list[int], channels: list[str]) -> None:
    """Print delivery commands as they arrive, counting them in ``shown[0]`` (kept when Ctrl-C cuts this short)."""
    from aiokafka import AIOKafkaConsumer

    from cjo_stream.commands import Receipt
    from cjo_stream.kafka.guard import FetchGuard
    from cjo_stream.kafka.producer import make_producer

    c = AIOKafkaConsumer(*[settings.delivery_topic(ch) for ch in channels], **settings.kafka_kwargs(),
                         auto_offset_reset="earliest", enable_auto_commit=False, group_id=None)
    guard = FetchGuard(c, settings, "demo")  # an unreadable batch: logged, that partition stops, the rest shows
    producer = make_producer(settings)
    await c.start()
    await producer.start()
    try:
        while time.monotonic() < until:
            for recs in (await guard.getmany(timeout_ms=250)).values():
                for r in recs:
                    shown[0] += 1
                    cmd = orjson.loads(r.value or b"{}")
                    print(_line(cmd), flush=True)
                    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                    for status in engagement(cmd):  # the customers, simulated: receipts as a provider sends them
                        rc = Receipt(delivery_id=cmd["delivery_id"], customer_id=cmd["customer_id"],
                                     channel=cmd["channel"], status=status, at=at,  # type: ignore[arg-type]
                                     journey=cmd.get("journey"), step=cmd.get("step"))
                        await producer.send(settings.receipts_topic, msgspec.json.encode(rc),
                                            key=cmd["customer_id"].encode())
    finally:
        await c.stop()
        await producer.stop()


#: Settings that keep the local broker healthy longer (measured with ``make soak``; README).
LOCAL_BROKER_SETTINGS = {"CJO_INGEST_INTERVAL_MS": "200", "CJO_COMMIT_INTERVAL_MS": "1000", "CJO_LINGER_MS": "50"}


def _watch_envelope(url: str, started: float, until: float, every: float = 30.0) -> None:
    """Say once when decisions fall behind on the local broker (runtime.envelope), scraping the worker."""
    from cjo_stream.runtime.envelope import Watch

    watch = Watch()
    while time.monotonic() + every < until and not watch.warned:
        time.sleep(every)
        with contextlib.suppress(httpx.HTTPError):
            line = watch.check(httpx.get(f"{url}/metrics", timeout=5).text, (time.monotonic() - started) / 60)
            if line:
                print(line, flush=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _channels(topologies: str) -> list[str]:
    """The channels whose commands the demo prints: the built-in ones and those the topologies' policies.yaml
    declares (a journey's send on a declared channel was delivered by the console adapter and not shown)."""
    from cjo_stream.errors import UsageError
    from cjo_stream.journeys.policies import topology_policies
    from cjo_stream.journeys.source import SourceError

    try:
        declared = topology_policies(topologies).channel_names - set(CHANNELS)
    except SourceError as e:
        raise UsageError(str(e)) from None
    return [*CHANNELS, *sorted(declared)]


#: the topologies ``make demo`` runs unless told (their delays are the ones the demo's banner names)
DEMO_TOPOLOGIES = "topologies/demo"


def _own_topologies(topologies: str) -> bool:
    """Whether ``topologies`` is the demo's own directory, whose reminder delays the banner names."""
    try:
        return os.path.samefile(topologies, DEMO_TOPOLOGIES)
    except OSError:
        return False


def unheard(journeys: Any) -> list[str]:
    """A line per journey and event name it waits for (entry, goal, ``exit_on``, ``wait_for``) that the
    demo's traffic never has: the generator's events, the receipts the demo plays, ``stage_changed``. With
    journeys of one's own (``Signed Up`` where the generator sends ``signed_up``) the demo ran a minute and
    showed 0 delivery commands without a word on why (a walkthrough)."""
    from cjo_stream.event import RECEIPT_PREFIX
    from cjo_stream.generator import event_names
    from cjo_stream.journeys.unseen import unseen

    played = {"sent", "delivered", "bounced", "opened", "clicked", "unsubscribed"}  # engagement() and the adapter
    names = event_names() | {RECEIPT_PREFIX + s for s in played} | {"stage_changed"}
    return unseen(journeys, names, where="the demo's traffic")


def run(duration: float, customers: int, rate: float, topologies: str) -> int:
    from cjo_stream.errors import UsageError
    from cjo_stream.generator import MAX_CUSTOMERS

    if customers > MAX_CUSTOMERS:  # its generator never produced an event (cjo_stream.generator)
        raise UsageError(f"--customers {customers}: at most {MAX_CUSTOMERS:,}")
    channels = _channels(topologies)
    # SIGTERM stops it as Ctrl-C does (the README's exit 0 after a clean stop): it ended with 143 and left its
    # processes to the parent-death SIGKILL, so the worker never left its groups
    signal.signal(signal.SIGTERM, _interrupt)
    data = tempfile.mkdtemp(prefix="cjo-demo-")
    broker = LocalBroker()
    worker = generator = adapter = analytics = None
    web_port = free_port()
    analytics_port = free_port()
    env = {**os.environ, "CJO_DATA_DIR": data, "CJO_TOPOLOGIES": topologies, "CJO_WEB_PORT": str(web_port),
           "CJO_PARTITIONS": "4", "PYTHONUNBUFFERED": "1"}
    # fewer, bigger record batches: the local broker slows down with every batch it holds, and a person
    # watching the demo does not see 200 ms (README, "The local broker's limits"); yours win if set
    for k, v in LOCAL_BROKER_SETTINGS.items():
        env.setdefault(k, v)
    token_file = os.path.join(data, "api-token")
    if not (env.get("CJO_API_TOKENS") or env.get("CJO_API_TOKENS_FILE")):
        # a throw-away token for this run, in a file only the user can read (never printed or logged)
        token = secrets.token_hex(24)
        with open(os.open(token_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(token)
        with open(os.open(os.path.join(data, "api-tokens"), os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(f"demo:read,erase:{token}\n")
        env["CJO_API_TOKENS_FILE"] = os.path.join(data, "api-tokens")
    auth = f'-H "Authorization: Bearer $(cat {token_file})" ' if env.get("CJO_API_TOKENS_FILE", "").startswith(data) \
        else '-H "Authorization: Bearer <your token>" '
    # the demo journeys' delays, said of other journeys too, promised reminders that never came (a walkthrough)
    delays = " (abandoned carts remind after 10 s, welcome reminders after 20 s)" if _own_topologies(topologies) else ""
    started = time.monotonic()
    shown = [0]  # delivery commands printed so far
    try:
        print("starting the local Kafka-protocol broker (Tansu) ...", flush=True)
        broker.start()
        env["CJO_BROKER"] = broker.bootstrap
        settings = Settings(bootstrap=broker.bootstrap, partitions=4)
        wlog = open(os.path.join(data, "worker.log"), "ab")  # noqa: SIM115
        worker = _spawn(["worker"], env, wlog)
        url = f"http://127.0.0.1:{web_port}"
        print(f"starting a worker (journeys from {topologies}, logs in {data}/worker.log) ...", flush=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                print(f"the worker exited; see {data}/worker.log", file=sys.stderr)
                return 1
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.3)
        # journey analytics (the page fills up live); with the demo's own token it serves loopback only
        # without one, so the printed URL opens as is
        aenv = dict(env)
        if env.get("CJO_API_TOKENS_FILE", "").startswith(data):
            aenv.pop("CJO_API_TOKENS_FILE")
        anlog = open(os.path.join(data, "analytics.log"), "ab")  # noqa: SIM115
        analytics = _spawn(["analytics", "--web-port", str(analytics_port)], aenv, anlog)
        alog = open(os.path.join(data, "adapter.log"), "ab")  # noqa: SIM115
        # the console adapter "delivers" every channel into its log and sends receipts back, so
        # journeys waiting for message_sent/opened move on as they would with real providers
        adapter = _spawn(["adapter", "--channel", "console", "--web-port", "-1"], env, alog)
        glog = open(os.path.join(data, "generator.log"), "ab")  # noqa: SIM115
        generator = _spawn(["generate", "--customers", str(customers), "--rate", str(rate),
                            "--duration", str(max(duration, 1.0) if duration else 3600)], env, glog)
        print(f"\nbroker   {broker.bootstrap}\nworker   {url}  (state API: {url}/customers/<id>, "
              f"{url}/journeys, {url}/metrics)\n         curl {auth}{url}/customers/<id>"
              f"\nanalytics http://127.0.0.1:{analytics_port}/  (journey maps, exit points, A/B results; "
              f"refreshes itself{'' if 'CJO_API_TOKENS_FILE' not in aenv else '; sign in with your token'})"
              f"\nadapter  console (deliveries and receipts in {data}/adapter.log); the demo plays the customers: "
              f"deliveries, bounces, opens and clicks are simulated receipts"
              f"\ngenerator {rate:.0f} events/s ({customers} customers arriving per simulated month)\n"
              f"delivery commands as they are decided{delays}"
              f"{'; Ctrl-C stops everything' if not duration else ''}:\n", flush=True)
        until = time.monotonic() + (duration or 10 ** 9)
        threading.Thread(target=_watch_envelope, args=(url, started, until), daemon=True).start()
        asyncio.run(_follow(settings, until, shown, channels))
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
    finally:
        _stop(generator)
        _stop(adapter)
        _stop(analytics)
        _stop(worker)
        broker.stop()
    print(f"demo done after {time.monotonic() - started:.0f} s: {shown[0]} delivery commands shown. Logs: {data}")
    return 0
