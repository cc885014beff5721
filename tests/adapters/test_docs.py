"""docs/adapters.md stays true: every variable the code reads is documented, and the signature
verification snippet verifies a request the webhook channel really sent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from cjo_stream.adapters.webhook import WebhookChannel, WebhookConfig
from cjo_stream.journeys.loader import JourneyLoadError
from tests.adapters.conftest import Receiver, command

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "adapters.md").read_text()


def test_every_adapter_variable_is_documented() -> None:
    code = "\n".join(p.read_text() for p in (ROOT / "cjo_stream" / "adapters").glob("*.py"))
    names = set(re.findall(r'"(CJO_[A-Z_]+)"', code))
    names |= {f"{n}<CHANNEL>" for n in re.findall(r'f"(CJO_[A-Z_]+_)\{', code)}
    assert names, "no variables found: the pattern is stale"
    missing = sorted(n for n in names if f"`{n}`" not in DOC and f"`{n}_" not in DOC and n != "CJO_BROKER")
    assert not missing, f"document these in docs/adapters.md: {missing}"


def snippet(heading: str) -> str:
    section = DOC.split(heading, 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


async def test_documented_verification_accepts_our_signature(receiver: Receiver) -> None:
    ns: dict[str, Any] = {}
    exec(snippet("#### Verifying webhook signatures"), ns)  # noqa: S102 - our own documentation
    verify = ns["verify_cjo_signature"]
    ch = WebhookChannel(WebhookConfig(url=f"{receiver.url}/hook", signing_key=b"shared-secret"))
    await ch.start()
    try:
        assert (await ch.deliver(command())).outcome == "sent"
    finally:
        await ch.close()
    [req] = receiver.requests
    ts, sig = req.headers["X-CJO-Timestamp"], req.headers["X-CJO-Signature"]
    assert verify(b"shared-secret", req.body, ts, sig)
    assert not verify(b"other-secret", req.body, ts, sig)
    assert not verify(b"shared-secret", req.body.replace(b"remind", b"remine"), ts, sig)
    assert not verify(b"shared-secret", req.body, str(int(ts) - 3600), sig)


def test_own_channel_example_declares_and_sends(tmp_path: Path) -> None:
    """"Your own channel": its policies.yaml and journey blocks load as a topology, and the journey's send goes
    to the declared channel at the address trait it names (the class and the command: test_documented_commands)."""
    from cjo_stream.engine import Engine
    from cjo_stream.journeys.loader import load_topology
    from cjo_stream.simulator import Simulator
    from tests.conftest import T0, ev

    policies, journey = re.findall(r"```yaml\n(.*?)```", DOC.split("## Your own channel", 1)[1], re.S)[:2]
    (tmp_path / "journeys").mkdir()
    (tmp_path / "policies.yaml").write_text(policies)
    (tmp_path / "journeys" / "whatsapp_welcome.yaml").write_text(journey)
    topo = load_topology(str(tmp_path))
    sim = Simulator(Engine(topo.journeys, topo.policies))
    sim.handle(ev("identify", T0, type="identify", traits={"first_name": "Ada", "whatsapp": "+4915100000"}))
    sim.handle(ev("signed_up", T0 + 1))
    [cmd] = sim.commands
    assert (cmd.channel, cmd.to, cmd.content) == ("myco_whatsapp", "+4915100000", {"body": "Welcome, Ada!"})
    (tmp_path / "journeys" / "whatsapp_welcome.yaml").write_text(journey.replace("myco_whatsapp", "myco_whatsap"))
    with pytest.raises(JourneyLoadError, match="unknown channel 'myco_whatsap' \\(did you mean 'myco_whatsapp'\\?\\)"):
        load_topology(str(tmp_path))
