"""The throughput benchmark runs end to end (its number is for `make bench`, not asserted here)."""

from __future__ import annotations

from cjo_stream.bench.adapter import adapter_throughput
from cjo_stream.kafka.local_broker import LocalBroker


async def test_adapter_throughput_runs(broker: LocalBroker) -> None:
    result = await adapter_throughput(broker.bootstrap, 200)
    assert result["commands"] == 200 and result["http_requests"] == 200
    assert result["seconds"] > 0 and result["commands_per_s"] > 0
