"""``sms``: a Twilio-compatible REST client (Messages API).

``POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`` with HTTP basic auth (account SID and
auth token) and a form body ``To``, ``Body`` and ``From`` (or ``MessagingServiceSid``). The answer's
``sid`` becomes the receipt's provider message id. ``CJO_TWILIO_BASE_URL`` points the client at any
compatible API (tests use a local server implementing this endpoint).

Twilio refuses invalid or unreachable numbers with 400 and an error code (21211 invalid ``To``, 21610
unsubscribed recipient, 21614 not a mobile number): permanent, receipt ``bounced``. The Messages API has
no idempotency key, so the runner's single crash window can repeat a message (``docs/adapters.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cjo_stream.adapters import config
from cjo_stream.adapters.base import DeliveryResult, PermanentError, content_text, provider_id
from cjo_stream.adapters.http_client import HttpChannel, classify, json_field, safe_code, timeout_from_env
from cjo_stream.commands import CONTENT_NEEDS, DeliveryCommand

#: Twilio error codes that mean "this recipient cannot get SMS from us" (a hard bounce).
BOUNCE_CODES = frozenset({"21211", "21214", "21408", "21610", "21612", "21614", "30003", "30005", "30006"})


@dataclass(frozen=True)
class SmsConfig:
    account_sid: str
    auth_token: str = field(repr=False)
    sender: str = ""
    messaging_service_sid: str = ""
    base_url: str = "https://api.twilio.com"
    status_callback: str = ""
    timeout: float = 10.0

    @classmethod
    def from_env(cls, env: config.Env | None = None) -> SmsConfig:
        e = config.env_of(env)
        cfg = cls(account_sid=config.require(e, "CJO_TWILIO_ACCOUNT_SID", "your Twilio account SID (AC…)"),
                  auth_token=config.secret(e, "CJO_TWILIO_AUTH_TOKEN", required=True, what="your Twilio auth token"),
                  sender=config.get(e, "CJO_SMS_FROM"),
                  messaging_service_sid=config.get(e, "CJO_TWILIO_MESSAGING_SERVICE_SID"),
                  base_url=config.http_url(config.get(e, "CJO_TWILIO_BASE_URL", "https://api.twilio.com").rstrip("/"),
                                           "CJO_TWILIO_BASE_URL"),
                  status_callback=config.get(e, "CJO_TWILIO_STATUS_CALLBACK"),
                  timeout=timeout_from_env(e, "CJO_SMS_TIMEOUT"))
        if not cfg.sender and not cfg.messaging_service_sid:
            raise config.ConfigError("set CJO_SMS_FROM (a sender number, E.164) or CJO_TWILIO_MESSAGING_SERVICE_SID")
        return cfg


class SmsChannel(HttpChannel):
    name = "sms"

    def __init__(self, cfg: SmsConfig) -> None:
        super().__init__(cfg.timeout)
        self.cfg = cfg
        self.url = f"{cfg.base_url}/2010-04-01/Accounts/{cfg.account_sid}/Messages.json"

    def form(self, cmd: DeliveryCommand) -> dict[str, str]:
        if not cmd.to:
            raise PermanentError("no phone number (profile trait `phone` or `to:`)", bounced=True)
        body = content_text(cmd, *CONTENT_NEEDS["sms"])  # the keys validate warns about
        if not body:
            raise PermanentError("content has no body")
        data = {"To": cmd.to, "Body": body}
        if self.cfg.messaging_service_sid:
            data["MessagingServiceSid"] = self.cfg.messaging_service_sid
        else:
            data["From"] = self.cfg.sender
        if self.cfg.status_callback:
            data["StatusCallback"] = self.cfg.status_callback
        return data

    async def deliver(self, cmd: DeliveryCommand) -> DeliveryResult:
        resp = await self.request("POST", self.url, form=self.form(cmd),
                                  auth=(self.cfg.account_sid, self.cfg.auth_token))
        if resp.status >= 400:
            code = safe_code(json_field(resp, "code"))
            return classify(resp, code, bounced=code in BOUNCE_CODES) or DeliveryResult.sent()
        return classify(resp) or DeliveryResult.sent(provider_id(json_field(resp, "sid")))
