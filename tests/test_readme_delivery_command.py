"""README "Delivery commands" names each field a command carries only sometimes: a consumer of ``cjo.delivery.*``
(an adapter of one's own) reads that section for what to expect. ``transactional: true`` was added to the commands
of a transactional send without a word there (a new user's walkthrough of the README)."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from cjo_stream.commands import DeliveryCommand

README = Path(__file__).resolve().parents[1] / "README.md"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"^## Delivery commands\n(.*?)^## ", text, re.S | re.M)
    assert found, "README has no 'Delivery commands' section"
    return found.group(1)


def test_every_field_a_command_carries_only_sometimes_is_named() -> None:
    section = _section()
    optional = [f.encode_name for f in msgspec.structs.fields(DeliveryCommand)
                if f.default is not msgspec.NODEFAULT or f.default_factory is not msgspec.NODEFAULT]
    assert "transactional" in optional
    missing = [name for name in optional if f"`{name}" not in section]
    assert not missing, f"README 'Delivery commands' does not name {missing}"
