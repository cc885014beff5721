"""docs/adapters.md stays true: every variable the code reads is documented, and the signature
verification snippet verifies a request the webhook channel really sent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cjo_stream.adapters.webhook import WebhookChannel, WebhookConfig
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
