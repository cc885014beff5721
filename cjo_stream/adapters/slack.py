"""``slack``: a Slack incoming-webhook message ``{"text": ...}``, for internal alerts (e.g. a hot lead).

The webhook URL is the credential (anyone holding it can post), so it is a secret:
``CJO_SLACK_WEBHOOK_URL`` or ``CJO_SLACK_WEBHOOK_URL_FILE``. The text is the content's ``text``, else
``body``, else ``subject``. Slack answers 200 ``ok``; 400 ``invalid_payload``/``no_text``, 403 and 404
(revoked or wrong webhook) are permanent; 429 comes with ``Retry-After``. Slack has no idempotency
key, so the one crash window in the runner can repeat an alert (see ``docs/adapters.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cjo_stream.adapters import config
from cjo_stream.adapters.base import DeliveryResult, PermanentError, content_text
from cjo_stream.adapters.http_client import HttpChannel, HttpReply, classify, safe_code, timeout_from_env
from cjo_stream.commands import CONTENT_NEEDS, DeliveryCommand


@dataclass(frozen=True)
class SlackConfig:
    webhook_url: str = field(default="", repr=False)
    timeout: float = 10.0

    @classmethod
    def from_env(cls, env: config.Env | None = None) -> SlackConfig:
        e = config.env_of(env)
        url = config.secret(e, "CJO_SLACK_WEBHOOK_URL", required=True,
                            what="the Slack incoming-webhook URL (Slack app → Incoming Webhooks)")
        return cls(webhook_url=config.http_url(url, "CJO_SLACK_WEBHOOK_URL", is_secret=True),
                   timeout=timeout_from_env(e, "CJO_SLACK_TIMEOUT"))


class SlackChannel(HttpChannel):
    name = "slack"

    def __init__(self, cfg: SlackConfig) -> None:
        super().__init__(cfg.timeout)
        self.cfg = cfg

    async def deliver(self, cmd: DeliveryCommand) -> DeliveryResult:
        text = content_text(cmd, *CONTENT_NEEDS["slack"])  # the keys validate warns about
        if not text:
            raise PermanentError("content has no text, body or subject")
        resp = await self.request("POST", self.cfg.webhook_url, json={"text": text})
        return classify(resp, _slack_error(resp)) or DeliveryResult.sent()


def _slack_error(resp: HttpReply) -> str | None:
    if resp.status < 400:
        return None
    return safe_code(resp.text.strip()[:40])
