"""Outbound connections that may reach public addresses only: the guard of a URL rendered from event data.

A webhook ``to:`` rendered from event data reached 127.0.0.1 with the customer's data, and the internal
service's answer came back in the receipt for journeys to read (SSRF; a security review). The check sits in
the HTTP client's resolver, so the address checked is the address connected to: a DNS name whose answer
changes between a check and the connection (rebinding) cannot slip through, and the client's DNS cache
(aiohttp's, 10 s) spares a lookup per send. Addresses written as numbers never reach a resolver, so
:func:`refuse_literal` checks those before the request.
"""

from __future__ import annotations

import ipaddress
import re
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from cjo_stream.adapters.base import PermanentError

__all__ = ["PublicOnlyResolver", "refuse_literal"]

#: a host of digits, dots and hex digits (with 0x): a number, not a name; aiohttp refuses the legacy forms
_NUMERIC = re.compile(r"(?i)(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+))*\.?")


def _refusal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, setting: str) -> PermanentError:
    kind = "loopback" if ip.is_loopback else "non-public"
    return PermanentError(f"the send step's `to:` URL names a {kind} address: set {setting}=true if the journey "
                          "may call internal services")


def refuse_literal(host: str, setting: str) -> None:
    """Refuse a host written as a non-public IP address (``127.0.0.1``, ``[::1]``, ``10.1.2.3``)."""
    try:
        ip = ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        if _NUMERIC.fullmatch(host):  # 127.1, 0177.0.0.1, 2130706433, 127.0.0.1.: were "invalid URL"
            raise PermanentError("the send step's `to:` URL names a number that is not a canonical IP address "
                                 "(write addresses as four decimal numbers, or use a name)") from None
        return  # a name: the resolver checks what it resolves to
    if not ip.is_global:
        raise _refusal(ip, setting)


class PublicOnlyResolver(AbstractResolver):
    """aiohttp's default resolver, refusing a name if any address it resolves to is not public."""

    def __init__(self, setting: str, resolver: AbstractResolver | None = None) -> None:
        self.setting = setting
        self._resolver = resolver  # made in the running loop on first use (aiohttp's resolvers need one)

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if self._resolver is None:
            self._resolver = DefaultResolver()
        found = await self._resolver.resolve(host, port, family)
        for item in found:
            ip = ipaddress.ip_address(str(item["host"]).split("%")[0])
            if not ip.is_global:
                raise _refusal(ip, self.setting)
        return found

    async def close(self) -> None:
        resolver, self._resolver = self._resolver, None
        if resolver is not None:
            await resolver.close()
