"""``push``: Firebase Cloud Messaging HTTP v1 (``POST {base}/v1/projects/{project}/messages:send``).

Authentication is an OAuth2 bearer token. Minting it from a service account needs Google's auth
library, so we do not: give the token in ``CJO_FCM_ACCESS_TOKEN`` or, better for hour-long tokens, in
the file ``CJO_FCM_ACCESS_TOKEN_FILE``, which is re-read whenever it changes (a sidecar or cron job such
as ``gcloud auth print-access-token`` refreshes it). A 401 is therefore transient: the next attempt
reads the refreshed token.

The message is ``{"message": {"token": <to>, "notification": {"title", "body"}, "data": {...}}}``;
``data`` carries ``delivery_id``, ``journey``, ``step`` and every other content field (FCM data values
are strings). The answer's ``name`` is the provider message id. FCM's ``UNREGISTERED`` (404) means the
app was uninstalled: receipt ``bounced``. FCM has no idempotency key (``docs/adapters.md``).

A command for a customer with several devices names the earlier ones' tokens in ``also_to``: the same message
goes to each, one request a token (FCM v1 has no multicast), at once. One device accepting it is the send
(its ``name`` the provider id): the command is not tried again, which would repeat it on the devices that took it.
Only when none did, the first transient failure is retried (for all of them), else the answer for the device used
last (``bounced`` when its app was uninstalled) is the outcome. Either way the receipt names the devices whose app
was uninstalled (attribute ``unregistered``, by :func:`~cjo_stream.commands.device_digest`): their customer's
profile drops them, as Braze, Customer.io and OneSignal drop a token FCM calls unregistered.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field, replace
from typing import Any

from cjo_stream.adapters import config
from cjo_stream.adapters.base import DeliveryResult, PermanentError, TransientError, provider_id
from cjo_stream.adapters.http_client import (
    HttpChannel,
    HttpReply,
    classify,
    json_field,
    safe_code,
    timeout_from_env,
)
from cjo_stream.commands import DeliveryCommand, device_digest

NOTIFICATION_KEYS = ("title", "subject", "body", "text")


@dataclass(frozen=True)
class PushConfig:
    project_id: str
    access_token: str = field(default="", repr=False)
    token_file: str = ""
    base_url: str = "https://fcm.googleapis.com"
    timeout: float = 10.0

    @classmethod
    def from_env(cls, env: config.Env | None = None) -> PushConfig:
        e = config.env_of(env)
        token_file = config.get(e, "CJO_FCM_ACCESS_TOKEN_FILE")
        token = "" if token_file else config.get(e, "CJO_FCM_ACCESS_TOKEN")
        if not token and not token_file:
            raise config.ConfigError("set CJO_FCM_ACCESS_TOKEN_FILE (refreshed by a sidecar) or CJO_FCM_ACCESS_TOKEN "
                                     "to an OAuth2 access token with the firebase.messaging scope")
        return cls(project_id=config.require(e, "CJO_FCM_PROJECT_ID", "your Firebase project id"),
                   access_token=token, token_file=token_file,
                   base_url=config.http_url(config.get(e, "CJO_FCM_BASE_URL", "https://fcm.googleapis.com").rstrip("/"),
                                            "CJO_FCM_BASE_URL"),
                   timeout=timeout_from_env(e, "CJO_PUSH_TIMEOUT"))


class _TokenSource:
    """The bearer token, re-read from its file when the file's mtime changes."""

    def __init__(self, cfg: PushConfig) -> None:
        self.cfg = cfg
        self._token = cfg.access_token
        self._mtime: float | None = None

    def get(self) -> str:
        if not self.cfg.token_file:
            return self._token
        try:
            mtime = os.stat(self.cfg.token_file).st_mtime
            if mtime != self._mtime:
                with open(self.cfg.token_file, encoding="utf-8") as f:
                    self._token = f.read().strip()
                self._mtime = mtime
        except OSError:
            raise TransientError("CJO_FCM_ACCESS_TOKEN_FILE cannot be read; check the token refresher") from None
        if not self._token:
            raise TransientError("CJO_FCM_ACCESS_TOKEN_FILE is empty; check the token refresher")
        return self._token


def fcm_error_code(resp: HttpReply) -> str | None:
    """FCM's specific error code (``UNREGISTERED``…), else the generic status (``INVALID_ARGUMENT``…)."""
    details = json_field(resp, "error", "details")
    if isinstance(details, list):
        for d in details:
            if isinstance(d, dict) and d.get("errorCode"):
                return safe_code(d["errorCode"])
    return safe_code(json_field(resp, "error", "status"))


class PushChannel(HttpChannel):
    name = "push"

    def __init__(self, cfg: PushConfig) -> None:
        super().__init__(cfg.timeout)
        self.cfg = cfg
        self.url = f"{cfg.base_url}/v1/projects/{cfg.project_id}/messages:send"
        self.tokens = _TokenSource(cfg)

    def message(self, cmd: DeliveryCommand, to: str | None = None) -> dict[str, Any]:
        """The FCM message of ``cmd`` for the device ``to`` (default: ``cmd.to``, the device used last)."""
        to = to or cmd.to
        if not to:
            raise PermanentError("no device token (profile trait `push_token` or `to:`)", bounced=True)
        c = cmd.content
        notification = {k: v for k, v in (("title", c.get("title") or c.get("subject")),
                                          ("body", c.get("body") or c.get("text"))) if v}
        data = {k: v for k, v in c.items() if k not in NOTIFICATION_KEYS}
        data.update(delivery_id=cmd.delivery_id, journey=cmd.journey, step=cmd.step)
        msg: dict[str, Any] = {"token": to, "data": data}
        if notification:
            msg["notification"] = notification
        return {"message": msg}

    async def deliver(self, cmd: DeliveryCommand) -> DeliveryResult:
        others = [t for t in dict.fromkeys(cmd.also_to or ()) if t and t != cmd.to]
        if not others or not cmd.to:
            return await self._one(cmd, cmd.to)
        got = await asyncio.gather(*(self._one(cmd, t) for t in (cmd.to, *others)), return_exceptions=True)
        results = [r for r in got if isinstance(r, DeliveryResult)]
        gone = tuple(g for r in results for g in r.unregistered)  # whatever the others answered
        took = [r for r in results if r.outcome == "sent"]
        if took:  # each device's message has its own name: a callback may give any of them
            names = tuple(r.provider_message_id for r in took[1:] if r.provider_message_id)
            return replace(took[0], other_ids=names, unregistered=gone) if names or gone else took[0]
        failed = next((r for r in got if isinstance(r, BaseException)), None)
        if failed is not None:
            raise failed  # (the runner folds it into a transient result)
        return replace(next((r for r in results if r.outcome == "transient"), results[0]), unregistered=gone)

    async def _one(self, cmd: DeliveryCommand, to: str | None) -> DeliveryResult:
        body = self.message(cmd, to)
        resp = await self.request("POST", self.url, json=body,
                                  headers={"Authorization": f"Bearer {self.tokens.get()}"})
        if resp.status == 401:
            return DeliveryResult.transient("HTTP 401: FCM refused the access token; refresh CJO_FCM_ACCESS_TOKEN_FILE")
        if resp.status >= 400:
            code = fcm_error_code(resp)
            result = classify(resp, code, bounced=code == "UNREGISTERED") or DeliveryResult.sent()
            if code == "UNREGISTERED" and result.outcome == "permanent":  # the receipt names it: the profile drops it
                result = replace(result, unregistered=(device_digest(to or cmd.to or ""),))
            return result
        return DeliveryResult.sent(provider_id(json_field(resp, "name")))
