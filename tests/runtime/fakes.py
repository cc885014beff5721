"""Stand-ins for what stage-2 partitions read and write, for tests that drive them without a broker."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass
class Rec:
    """An internal-topic record as the batch step reads it (runtime.customers.InternalRecord)."""

    key: bytes | None
    value: bytes | None
    offset: int
    headers: list[tuple[str, bytes]] = field(default_factory=list)


class Commands:
    """What partitions write (kafka.outbox.Outbox.add): delivery commands on topics starting with
    ``prefix`` kept, the rest dropped."""

    def __init__(self, prefix: str = "cjo.delivery.") -> None:
        self.prefix = prefix
        self.commands: list[dict[str, Any]] = []

    def add(self, topic: str, key: bytes | None, value: bytes | None, *, partition: int | None = None,
            headers: Any = ()) -> None:
        if topic.startswith(self.prefix):
            self.commands.append(orjson.loads(value or b"{}"))

    def add_many(self, topic: str, partition: int, items: Any) -> None:  # (kafka.outbox.Outbox.add_many)
        for key, value, headers in items:
            self.add(topic, key, value, partition=partition, headers=headers)
