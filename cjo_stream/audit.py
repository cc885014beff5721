"""Audit trail of state-API access: who (token name) read or asked to erase which customer, and when.

Each profile read and each erase request is one log record on the ``cjo_stream.audit`` logger (always
at INFO, whatever the process's log level) and one increment of ``cjo_audit_events_total{action,
token}``. The customer is named by a keyed hash, never by the raw id: HMAC-SHA256 with
``CJO_AUDIT_KEY`` (or ``_FILE``) when set, plain SHA-256 otherwise. With the key an auditor can find a
given customer's records (hash the id the same way, :func:`customer_hash`) but a reader of the logs
cannot turn the hashes back into ids by hashing guesses (e-mail addresses are easy to guess).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time

from cjo_stream import metrics

log = logging.getLogger("cjo_stream.audit")
log.setLevel(logging.INFO)  # audit records are kept at any configured log level


def customer_hash(customer_id: str, key: str = "") -> str:
    """``hmac-sha256:<32 hex>`` with a key, ``sha256:<32 hex>`` without (first 128 bits)."""
    data = customer_id.encode("utf-8", "surrogatepass")
    if key:
        return "hmac-sha256:" + hmac.new(key.encode(), data, hashlib.sha256).hexdigest()[:32]
    return "sha256:" + hashlib.sha256(data).hexdigest()[:32]


class Audit:
    """Writes audit records with one key for the life of the process."""

    def __init__(self, key: str = "") -> None:
        self._key = key

    def record(self, action: str, token: str, customer_id: str, outcome: str) -> None:
        h = customer_hash(customer_id, self._key)
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        log.info("audit %s customer=%s by=%s outcome=%s at=%s", action, h, token, outcome, at,
                 extra={"action": action, "token": token, "customer_hash": h, "outcome": outcome, "at": at})
        metrics.AUDIT_EVENTS.labels(action, token).inc()
