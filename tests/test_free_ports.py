"""Free ports for the local broker, workers and adapters: bindable, and outside the range the kernel draws
outgoing connections' local ports from (one taken from there was lost to a client's connection before the
adapter bound it)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from cjo_stream.kafka import local_broker
from cjo_stream.kafka.local_broker import BrokerError, _bindable, free_port, free_port_block


def test_a_free_port_is_bindable_and_below_the_ephemeral_range() -> None:
    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range")
    low = int(ephemeral.read_text().split()[0]) if ephemeral.exists() else 32768
    for _ in range(50):
        port = free_port()
        assert local_broker.FREE_LOW <= port < min(local_broker.FREE_HIGH, low)
        assert _bindable(port)


def test_a_block_is_consecutive_ports_all_bindable() -> None:
    first = free_port_block(4)
    assert all(_bindable(first + i) for i in range(4))


def test_a_port_in_use_is_never_given(monkeypatch: pytest.MonkeyPatch) -> None:
    held = free_port_block(2)
    with socket.socket() as s:
        s.bind(("127.0.0.1", held))
        s.listen()
        monkeypatch.setattr(local_broker, "FREE_LOW", held)
        monkeypatch.setattr(local_broker, "FREE_HIGH", held + 2)  # two ports: the held one and the next
        assert {free_port() for _ in range(20)} == {held + 1}
        with pytest.raises(BrokerError, match="no 2 consecutive free ports"):
            free_port_block(2)
