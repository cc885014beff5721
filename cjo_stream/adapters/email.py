"""``email``: SMTP with aiosmtplib — STARTTLS or implicit TLS, optional auth, multipart text + HTML.

Every message carries ``Message-ID: <delivery_id@domain>`` (deterministic, so a message repeated by the
runner's one crash window has the same id, which receiving systems and our bounce matching can use),
``List-Unsubscribe`` (+ ``List-Unsubscribe-Post`` for RFC 8058 one-click) when configured, and
``X-CJO-Delivery-Id``; the same link goes where the body writes ``{unsubscribe_url}``. The HTML part is the
content's ``html`` if given, else the text body escaped into paragraphs. Connections are pooled
(``CJO_SMTP_POOL``) because an SMTP handshake with TLS and auth costs several round trips.

SMTP answers map to outcomes: 5xx for a recipient is a hard bounce (permanent, receipt ``bounced``);
other 5xx are permanent; 4xx, timeouts and dropped connections are transient; an authentication
failure is transient (a configuration problem: messages wait in retries and the DLQ, not marked failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
import re
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formataddr, formatdate, getaddresses, parseaddr
from typing import Literal

import aiosmtplib

from cjo_stream.adapters import config
from cjo_stream.adapters.base import DeliveryResult, PermanentError, url_part
from cjo_stream.commands import DeliveryCommand

Security = Literal["starttls", "tls", "none"]
#: How a message is written on the wire: SMTP's, with header lines up to RFC 5322's 998 characters. At the
#: default 78, a List-Unsubscribe URL longer than a line (one carrying a delivery id mostly is) was written as
#: an RFC 2047 encoded word, which mail clients do not decode there: one-click unsubscribe broke (a walkthrough).
WIRE_POLICY = SMTP_POLICY.clone(max_line_length=998)
_WIRE_7BIT = WIRE_POLICY.clone(cte_type="7bit")  # for a server without 8BITMIME
DEFAULT_PORTS: dict[str, int] = {"starttls": 587, "tls": 465, "none": 25}
_URL_FIELDS = re.compile(r"\{(customer_id|delivery_id|journey|step|topic)\}")
#: where the content wants the unsubscribe link in its body (Klaviyo's ``{% unsubscribe %}``): single braces, which
#: the journey's Liquid leaves as they are; the adapter alone knows the URL (it names the delivery)
UNSUBSCRIBE_PLACEHOLDER = "{unsubscribe_url}"
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class EmailConfig:
    sender: str  # "Shop <news@shop.example>"
    host: str = "localhost"
    port: int = 587
    security: Security = "starttls"
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 30.0
    validate_certs: bool = True
    ca_file: str = ""
    pool_size: int = 4
    reply_to: str = ""
    return_path: str = ""
    unsubscribe_url: str = ""  # template over {customer_id} {delivery_id} {journey} {step} {topic}
    unsubscribe_mailto: str = ""
    message_id_domain: str = ""

    @classmethod
    def from_env(cls, env: config.Env | None = None) -> EmailConfig:
        e = config.env_of(env)
        security = config.get(e, "CJO_SMTP_SECURITY", "starttls").lower()
        if security not in DEFAULT_PORTS:
            raise config.ConfigError(f"CJO_SMTP_SECURITY={security!r}: use starttls, tls or none")
        sender = config.require(e, "CJO_EMAIL_FROM", "the From address, e.g. 'Shop <news@shop.example>'")
        if "@" not in parseaddr(sender)[1]:
            raise config.ConfigError("CJO_EMAIL_FROM has no e-mail address; use e.g. 'Shop <news@shop.example>'")
        username = config.get(e, "CJO_SMTP_USERNAME")
        password = config.secret(e, "CJO_SMTP_PASSWORD", required=bool(username),
                                 what="CJO_SMTP_USERNAME is set, so the SMTP password is needed")
        unsubscribe_url = config.get(e, "CJO_EMAIL_LIST_UNSUBSCRIBE_URL")
        # a mistyped {customerid} went out as text in every message's unsubscribe link (a walkthrough)
        unknown = sorted(set(re.findall(r"\{([^{}]*)\}", unsubscribe_url)) - {"customer_id", "delivery_id", "journey",
                                                                              "step", "topic"})
        if unknown:
            raise config.ConfigError(f"CJO_EMAIL_LIST_UNSUBSCRIBE_URL: unknown placeholder {{{unknown[0]}}}; use "
                                     "{customer_id}, {delivery_id}, {journey}, {step} or {topic} (the send's subscription topic, "
                                     "empty for none)")
        return cls(sender=sender, host=config.get(e, "CJO_SMTP_HOST", "localhost"),
                   port=config.integer(e, "CJO_SMTP_PORT", DEFAULT_PORTS[security], minimum=1, maximum=65535),
                   security=security,  # type: ignore[arg-type]
                   username=username, password=password,
                   timeout=config.duration(e, "CJO_SMTP_TIMEOUT", 30.0, low=config.MIN_TIMEOUT),
                   validate_certs=config.boolean(e, "CJO_SMTP_VALIDATE_CERTS", True),
                   ca_file=config.get(e, "CJO_SMTP_CA_FILE"),
                   pool_size=config.integer(e, "CJO_SMTP_POOL", 4, minimum=1),
                   reply_to=config.get(e, "CJO_EMAIL_REPLY_TO"), return_path=config.get(e, "CJO_EMAIL_RETURN_PATH"),
                   unsubscribe_url=unsubscribe_url,
                   unsubscribe_mailto=config.get(e, "CJO_EMAIL_LIST_UNSUBSCRIBE_MAILTO"),
                   message_id_domain=config.get(e, "CJO_EMAIL_MESSAGE_ID_DOMAIN"))

    @property
    def domain(self) -> str:
        return self.message_id_domain or parseaddr(self.sender)[1].rpartition("@")[2]


def text_to_html(text: str) -> str:
    """Escaped paragraphs (blank-line separated) with line breaks kept: safe HTML from a text body."""
    paras = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    body = "\n".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paras)
    return f'<!doctype html>\n<html><body>\n{body}\n</body></html>\n'


def html_to_text(markup: str) -> str:
    """A rough text alternative when only HTML was given (tags dropped, entities decoded)."""
    return html.unescape(_TAG.sub("", markup)).strip()


def message_id(delivery_id: str, domain: str) -> str:
    return f"<{delivery_id}@{domain}>"


def build_message(cfg: EmailConfig, cmd: DeliveryCommand) -> EmailMessage:
    """The MIME message for ``cmd`` (multipart/alternative: text/plain then text/html)."""
    to = (cmd.to or "").strip()
    # exactly one address: "victim@example.com, attacker@evil.test" in an `email` trait sent the message to
    # both (the recipients come from the To header), and a list of 200 made one command a mass mailing
    pairs = getaddresses([to])
    if len(pairs) > 1 or ";" in to:
        raise PermanentError("the address holds more than one recipient (profile trait `email` or `to:`)",
                             bounced=True)
    if not pairs or pairs[0][1].count("@") != 1 or any(ch.isspace() for ch in pairs[0][1]):
        raise PermanentError("no valid e-mail address (profile trait `email` or `to:`)", bounced=True)
    to = _ascii_address(*pairs[0])
    c = cmd.content
    text = c.get("body") or c.get("text") or ""
    markup = c.get("html") or ""
    if not text and not markup:
        raise PermanentError("content has neither body nor html")
    url = _URL_FIELDS.sub(lambda m: _quote(getattr(cmd, m.group(1)) or ""), cfg.unsubscribe_url)
    if UNSUBSCRIBE_PLACEHOLDER in text or UNSUBSCRIBE_PLACEHOLDER in markup:
        # a marketing mail must carry the link it asked for: sent without it, or with the placeholder, it is not
        if not cfg.unsubscribe_url:
            raise PermanentError(f"content writes {UNSUBSCRIBE_PLACEHOLDER} but CJO_EMAIL_LIST_UNSUBSCRIBE_URL is "
                                 "unset: there is no link to put there")
        text = text.replace(UNSUBSCRIBE_PLACEHOLDER, url)
        markup = markup.replace(UNSUBSCRIBE_PLACEHOLDER, html.escape(url))
    msg = EmailMessage(policy=SMTP_POLICY)
    try:
        msg["From"] = cfg.sender
        msg["To"] = to
        msg["Subject"] = c.get("subject", "")
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = message_id(cmd.delivery_id, cfg.domain)
        msg["X-CJO-Delivery-Id"] = cmd.delivery_id
        if cfg.reply_to:
            msg["Reply-To"] = cfg.reply_to
        unsubscribe = []
        if cfg.unsubscribe_url:
            unsubscribe.append(f"<{url}>")
        if cfg.unsubscribe_mailto:
            unsubscribe.append(f"<mailto:{cfg.unsubscribe_mailto}?subject=unsubscribe%20{cmd.delivery_id}>")
        if unsubscribe:
            msg["List-Unsubscribe"] = ", ".join(unsubscribe)
            if cfg.unsubscribe_url:
                msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    except ValueError:  # CR/LF in a header value: never let content inject headers
        raise PermanentError("a header value (subject or address) contains a line break") from None
    msg.set_content(text or html_to_text(markup))
    msg.add_alternative(markup or text_to_html(text), subtype="html")
    return msg


def _ascii_address(name: str, address: str) -> str:
    """The To header's value, an internationalised domain in its ASCII form (``exämple.com`` is
    ``xn--exmple-cua.com``). A non-ASCII local part needs SMTPUTF8, which this adapter does not use: a bounce,
    not a retry (a ``UnicodeEncodeError`` here was retried as transient, 6 attempts over minutes)."""
    local, _, domain = address.rpartition("@")
    if not local.isascii():
        raise PermanentError("the address's local part is not ASCII (it would need SMTPUTF8, which this adapter "
                             "does not use)", bounced=True)
    try:
        domain = domain if domain.isascii() else domain.encode("idna").decode("ascii")
        return formataddr((name, f"{local}@{domain}"))
    except UnicodeError:
        raise PermanentError("the address's domain is not a valid internationalised domain name",
                             bounced=True) from None


async def _transfer(client: aiosmtplib.SMTP, sender: str, recipient: str, msg: EmailMessage) -> None:
    """Send ``msg`` as :data:`WIRE_POLICY` writes it (aiosmtplib's ``send_message`` writes it again with lines
    of 78), in 8 bits where the server takes 8BITMIME and in 7 otherwise, as ``send_message`` does."""
    if client.is_ehlo_or_helo_needed:
        try:
            await client.ehlo()
        except aiosmtplib.SMTPHeloError:
            await client.helo()
    eight = client.supports_extension("8BITMIME")
    data = msg.as_bytes(policy=WIRE_POLICY if eight else _WIRE_7BIT)
    await client.sendmail(sender, [recipient], data, mail_options=["BODY=8BITMIME"] if eight else [])


def _quote(value: str) -> str:
    return url_part(value)


def _ssl_context(cfg: EmailConfig) -> ssl.SSLContext | None:
    """The relay's TLS context; a ``CJO_SMTP_CA_FILE`` that is missing or holds no certificate is a setting
    to fix (it ended the adapter with a traceback, exit 70)."""
    if cfg.security == "none":
        return None
    if cfg.ca_file and not os.path.exists(cfg.ca_file):
        raise config.ConfigError(f"CJO_SMTP_CA_FILE={cfg.ca_file!r}: no such file (the CA bundle of the relay's "
                                 "certificate)")
    try:
        ctx = ssl.create_default_context(cafile=cfg.ca_file or None)
    except (ssl.SSLError, OSError) as e:
        raise config.ConfigError(f"CJO_SMTP_CA_FILE={cfg.ca_file!r}: cannot load the CA bundle "
                                 f"({type(e).__name__}: {getattr(e, 'reason', None) or e})") from None
    if not cfg.validate_certs:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def classify_smtp(e: Exception) -> DeliveryResult:
    """An aiosmtplib error as an outcome; reasons carry the SMTP code only (replies may quote the address)."""
    if isinstance(e, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in e.recipients]
        if codes and all(c >= 500 for c in codes):
            return DeliveryResult.permanent(f"SMTP {codes[0]}: recipient refused", bounced=True)
        return DeliveryResult.transient(f"SMTP {codes[0] if codes else '?'}: recipient deferred")
    if isinstance(e, aiosmtplib.SMTPAuthenticationError):
        return DeliveryResult.transient(f"SMTP {e.code}: authentication failed; check CJO_SMTP_USERNAME and "
                                        "CJO_SMTP_PASSWORD")
    if isinstance(e, aiosmtplib.SMTPSenderRefused):
        reason = f"SMTP {e.code}: sender refused; check CJO_EMAIL_FROM / CJO_EMAIL_RETURN_PATH"
        return DeliveryResult.permanent(reason) if e.code >= 500 else DeliveryResult.transient(reason)
    if isinstance(e, aiosmtplib.SMTPResponseException):
        if e.code >= 500:
            return DeliveryResult.permanent(f"SMTP {e.code}: message refused")
        return DeliveryResult.transient(f"SMTP {e.code}: temporarily refused")
    if isinstance(e, TimeoutError):
        return DeliveryResult.transient("SMTP timeout")
    if isinstance(e, aiosmtplib.SMTPNotSupported):
        return DeliveryResult.transient("SMTP server lacks a required extension (STARTTLS or AUTH?); "
                                        "check CJO_SMTP_SECURITY")
    return DeliveryResult.transient(f"SMTP connection error ({type(e).__name__})")


class EmailChannel:
    name = "email"

    def __init__(self, cfg: EmailConfig) -> None:
        self.cfg = cfg
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(cfg.pool_size)
        self._tls = _ssl_context(cfg)

    async def start(self) -> None:
        pass  # connections are opened on first use and kept in the pool

    async def _connect(self) -> aiosmtplib.SMTP:
        cfg = self.cfg
        client = aiosmtplib.SMTP(hostname=cfg.host, port=cfg.port, timeout=cfg.timeout,
                                 use_tls=cfg.security == "tls", start_tls=cfg.security == "starttls",
                                 tls_context=self._tls, validate_certs=cfg.validate_certs,
                                 username=cfg.username or None, password=cfg.password or None)
        await client.connect()
        return client

    async def _send(self, msg: EmailMessage) -> None:
        envelope_from = self.cfg.return_path or parseaddr(self.cfg.sender)[1]
        recipient = parseaddr(str(msg["To"]))[1]
        async with self._slots:
            reused = bool(self._idle)
            client = self._idle.pop() if reused else await self._connect()
            try:
                try:
                    await _transfer(client, envelope_from, recipient, msg)
                except aiosmtplib.SMTPServerDisconnected:
                    if not reused:
                        raise
                    # the server closed an idle pooled connection: one fresh attempt right away
                    await _close(client)
                    client = await self._connect()
                    await _transfer(client, envelope_from, recipient, msg)
            except BaseException:
                await _close(client)
                raise
            self._idle.append(client)

    async def deliver(self, cmd: DeliveryCommand) -> DeliveryResult:
        msg = build_message(self.cfg, cmd)
        try:
            await self._send(msg)
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as e:
            return classify_smtp(e)
        return DeliveryResult.sent(message_id(cmd.delivery_id, self.cfg.domain).strip("<>"))

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            with contextlib.suppress(Exception):
                await client.quit()
            await _close(client)


async def _close(client: aiosmtplib.SMTP) -> None:
    with contextlib.suppress(Exception):
        client.close()


__all__ = ["EmailChannel", "EmailConfig", "build_message", "classify_smtp", "text_to_html"]
