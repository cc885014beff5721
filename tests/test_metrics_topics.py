"""``cjo_skips_total`` says the subscription topic a skipped send names: the ``no_consent`` skips of the newsletter
and of the order mail on one channel were one series, so an on-call engineer could not see a topic's customers
leaving it (or the opt_in topic nobody joined) apart from a channel's withdrawals."""

from __future__ import annotations

from pathlib import Path

from cjo_stream import metrics
from cjo_stream.engine import Engine
from cjo_stream.engine.transition import Transition
from cjo_stream.journeys.loader import load_topology
from cjo_stream.metrics import SKIPS, BatchCounts
from cjo_stream.simulator import Simulator
from tests.analytics.test_topics import JOURNEY, POLICIES
from tests.conftest import T0, ev


def test_a_skip_is_counted_under_the_topic_its_step_names(tmp_path: Path) -> None:
    (tmp_path / "journeys").mkdir()
    (tmp_path / "policies.yaml").write_text(POLICIES)
    (tmp_path / "journeys" / "news.yaml").write_text(JOURNEY)
    topo = load_topology(str(tmp_path))
    seen: list[Transition] = []
    sim = Simulator(Engine(topo.journeys, topo.policies), on_result=lambda r: seen.extend(r.transitions))
    sim.handle(ev("identify", T0, type="identify", traits={"email": "a@example.com"}))
    sim.handle(ev("unsubscribed", T0 + 1, props={"topic": "newsletter"}))
    sim.handle(ev("unsubscribed", T0 + 2, props={"channel": "email"}))  # and then the whole channel
    sim.handle(ev("signed_up", T0 + 3))
    metrics.set_step_topics(topo.journeys)
    b = BatchCounts()
    b.add(seen)
    skips = {labels: n for (metric, labels), n in b.series().items() if metric is SKIPS}
    assert skips == {("news", "letter", "email", "no_consent", "newsletter"): 1,
                     ("news", "offer", "email", "no_consent", "offers"): 1,
                     ("news", "order_mail", "email", "no_consent", ""): 1,  # a send of no topic
                     ("news", "letter_again", "email", "no_consent", "newsletter"): 1}
    b.publish()
    page = metrics.exposition("worker").decode()
    assert ('cjo_skips_total{channel="email",journey="news",reason="no_consent",step="letter",'
            'topic="newsletter"} 1.0') in page
