"""``crm``: a generic HTTP upsert (e.g. set a lead's status) with a configurable URL, method and body.

``CJO_CRM_URL`` and ``CJO_CRM_BODY`` are templates over the command: ``{customer_id}``, ``{delivery_id}``,
``{journey}``, ``{journey_version}``, ``{step}``, ``{variant}``, ``{channel}``, ``{to}``, ``{decided_at}``,
``{content}`` (the whole content object) and ``{content.<key>}``. In the JSON body a string that is
exactly one placeholder is replaced by the value itself (an object stays an object); elsewhere the
value is interpolated as text (URL-encoded in the URL). Example::

    CJO_CRM_URL=https://crm.example.com/api/leads/{customer_id}
    CJO_CRM_METHOD=PATCH
    CJO_CRM_BODY={"status": "{content.status}", "source": "cjo:{journey}"}

The request carries ``Idempotency-Key: <delivery_id>`` and, if ``CJO_CRM_TOKEN`` (or ``_FILE``) is set,
``<CJO_CRM_AUTH_HEADER>: <CJO_CRM_AUTH_SCHEME> <token>`` (default ``Authorization: Bearer …``).
Templates are checked at start-up, so a typo fails fast rather than on the first lead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson
import yarl

from cjo_stream.adapters import config
from cjo_stream.adapters.base import DeliveryResult, PermanentError, provider_id, url_part
from cjo_stream.adapters.http_client import HttpChannel, classify, json_field, timeout_from_env
from cjo_stream.commands import DeliveryCommand

_PLACEHOLDER = re.compile(r"\{([a-z_]+(?:\.[A-Za-z0-9_-]+)?)\}")
FIELDS = frozenset({"customer_id", "delivery_id", "journey", "journey_version", "step", "variant", "channel", "to",
                    "decided_at", "content"})
DEFAULT_BODY = ('{"customer_id": "{customer_id}", "fields": "{content}", "journey": "{journey}", '
                '"step": "{step}", "delivery_id": "{delivery_id}"}')


def placeholders(text: str) -> list[str]:
    return _PLACEHOLDER.findall(text)


def check_template(text: str, name: str) -> None:
    for p in placeholders(text):
        root = p.split(".", 1)[0]
        if root not in FIELDS or (root != "content" and "." in p):
            raise config.ConfigError(f"{name}: unknown placeholder {{{p}}}; use one of "
                                     f"{', '.join(sorted(FIELDS))} or content.<key>")


def check_braces(text: str, name: str) -> None:
    """A brace left once the placeholders are taken out: ``{content.status`` or ``{Customer_Id}`` was sent to the
    CRM as it is, for every customer, and nothing said so."""
    rest = _PLACEHOLDER.sub("", text)
    if "{" in rest or "}" in rest:
        at = rest.find("{") if "{" in rest else rest.find("}")
        raise config.ConfigError(f"{name}: {rest[max(0, at - 10):at + 20]!r} holds a brace that is no placeholder: "
                                 f"write {{name}}, lower case, with a name of {', '.join(sorted(FIELDS))} or "
                                 "content.<key>")


def _strings(node: Any) -> list[str]:
    """The text values of a parsed JSON body template, where its placeholders are (not its keys or structure)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def lookup(cmd: DeliveryCommand, name: str) -> Any:
    if name.startswith("content."):
        key = name[len("content."):]
        if key not in cmd.content:
            raise PermanentError(f"content has no {key!r}, which the CRM template needs")
        return cmd.content[key]
    return getattr(cmd, name)


def _text(cmd: DeliveryCommand, template: str, escape: bool) -> str:
    def sub(m: re.Match[str]) -> str:
        v = lookup(cmd, m.group(1))
        s = "" if v is None else (orjson.dumps(v).decode() if isinstance(v, dict) else str(v))
        return url_part(s) if escape else s

    return _PLACEHOLDER.sub(sub, template)


def render(cmd: DeliveryCommand, node: Any) -> Any:
    """Fill a parsed JSON body template for ``cmd``."""
    if isinstance(node, str):
        m = _PLACEHOLDER.fullmatch(node)
        return lookup(cmd, m.group(1)) if m else _text(cmd, node, escape=False)
    if isinstance(node, dict):
        return {k: render(cmd, v) for k, v in node.items()}
    if isinstance(node, list):
        return [render(cmd, v) for v in node]
    return node


@dataclass(frozen=True)
class CrmConfig:
    url: str
    method: str = "PUT"
    body: Any = None
    token: str = field(default="", repr=False)
    auth_header: str = "Authorization"
    auth_scheme: str = "Bearer"
    timeout: float = 10.0

    @classmethod
    def from_env(cls, env: config.Env | None = None) -> CrmConfig:
        e = config.env_of(env)
        url = config.require(e, "CJO_CRM_URL", "the upsert endpoint, e.g. https://crm.example.com/api/leads/{customer_id}")
        check_template(url, "CJO_CRM_URL")
        check_braces(url, "CJO_CRM_URL")
        config.http_url(url, "CJO_CRM_URL")
        method = config.get(e, "CJO_CRM_METHOD", "PUT").upper()
        if method not in ("POST", "PUT", "PATCH"):
            raise config.ConfigError(f"CJO_CRM_METHOD={method!r}: use POST, PUT or PATCH")
        raw_body = config.get(e, "CJO_CRM_BODY", DEFAULT_BODY)
        try:
            body = orjson.loads(raw_body)
        except orjson.JSONDecodeError as err:
            raise config.ConfigError(f"CJO_CRM_BODY is not valid JSON ({err})") from None
        check_template(raw_body, "CJO_CRM_BODY")
        for text in _strings(body):
            check_braces(text, "CJO_CRM_BODY")
        return cls(url=url, method=method, body=body, token=config.secret(e, "CJO_CRM_TOKEN"),
                   auth_header=config.get(e, "CJO_CRM_AUTH_HEADER", "Authorization"),
                   auth_scheme=config.get(e, "CJO_CRM_AUTH_SCHEME", "Bearer"),
                   timeout=timeout_from_env(e, "CJO_CRM_TIMEOUT"))


class CrmChannel(HttpChannel):
    name = "crm"

    def __init__(self, cfg: CrmConfig) -> None:
        super().__init__(cfg.timeout)
        self.cfg = cfg

    async def deliver(self, cmd: DeliveryCommand) -> DeliveryResult:
        cfg = self.cfg
        url = _text(cmd, cfg.url, escape=True)
        headers = {"Content-Type": "application/json", "Idempotency-Key": cmd.delivery_id}
        if cfg.token:
            headers[cfg.auth_header] = f"{cfg.auth_scheme} {cfg.token}".strip()
        body = orjson.dumps(render(cmd, cfg.body))
        # as built: parsed again, the client would decode an escaped `..` and normalise it to the parent path
        resp = await self.request(cfg.method, yarl.URL(url, encoded=True), content=body, headers=headers)
        return classify(resp) or DeliveryResult.sent(provider_id(json_field(resp, "id")))
