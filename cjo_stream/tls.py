"""TLS for the web ports (``CJO_WEB_TLS_CERT``/``CJO_WEB_TLS_KEY``) and for worker-to-worker forwarding.

The server side uses Python's defaults for a server context (TLS 1.2 or newer, the interpreter's
secure cipher list); the client side that forwards state queries to another worker verifies that
worker's certificate against ``CJO_WEB_TLS_CA`` (or the system CAs) and its host name.
"""

from __future__ import annotations

import os
import ssl

from cjo_stream.config import Settings


class TLSConfigError(ValueError):
    """A certificate or key that cannot be loaded; the message names the variable."""


def server_context(settings: Settings) -> ssl.SSLContext | None:
    """The SSL context to serve HTTPS with, or None when no certificate is configured."""
    if not settings.web_tls_cert:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    for var, path in (("CJO_WEB_TLS_CERT", settings.web_tls_cert), ("CJO_WEB_TLS_KEY", settings.web_tls_key)):
        if not os.path.exists(path):  # OpenSSL said 'None does not exist', or 'PEM lib' for a missing key
            raise TLSConfigError(f"{var}={path!r}: the file does not exist")
    try:
        ctx.load_cert_chain(settings.web_tls_cert, settings.web_tls_key)
    except (ssl.SSLError, OSError) as e:
        raise TLSConfigError(f"CJO_WEB_TLS_CERT={settings.web_tls_cert!r} / CJO_WEB_TLS_KEY: cannot load the "
                             f"certificate and key ({type(e).__name__}: {getattr(e, 'reason', None) or e})") from None
    return ctx


def client_verify(settings: Settings) -> ssl.SSLContext | bool:
    """What to verify another worker's HTTPS certificate with: the CA bundle, or the system CAs (True)."""
    if not settings.web_tls_ca:
        return True
    if not os.path.exists(settings.web_tls_ca):
        raise TLSConfigError(f"CJO_WEB_TLS_CA={settings.web_tls_ca!r}: the file does not exist")
    try:
        return ssl.create_default_context(cafile=settings.web_tls_ca)
    except (ssl.SSLError, OSError) as e:
        raise TLSConfigError(f"CJO_WEB_TLS_CA={settings.web_tls_ca!r}: cannot load the CA bundle "
                             f"({type(e).__name__}: {getattr(e, 'reason', None) or e})") from None
