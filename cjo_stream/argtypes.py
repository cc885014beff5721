"""Value types for command-line flags: a bad value is refused by argparse (usage line, exit 2)."""

from __future__ import annotations

import argparse


def _number(text: str, kind: type[int] | type[float]) -> float:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None


def positive_int(text: str) -> int:
    n = int(_number(text, int))
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be 1 or more")
    return n


def non_negative_int(text: str) -> int:
    n = int(_number(text, int))
    if n < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be 0 or more")
    return n


def positive_float(text: str) -> float:
    x = float(_number(text, float))
    if not x > 0 or x == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a number above 0")
    return x


def non_negative_float(text: str) -> float:
    x = float(_number(text, float))
    if not x >= 0 or x == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a number, 0 or more")
    return x


def seconds(text: str) -> float:
    """``--duration`` of generate and demo: seconds (``90``) or a duration as journeys write it (``90s``,
    ``5m``, ``1h``), since a user who read ``30s``/``7d`` everywhere else types those here too."""
    from cjo_stream.journeys.durations import parse_duration

    try:
        return positive_float(text)
    except argparse.ArgumentTypeError:
        pass
    try:
        return parse_duration(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: seconds above 0 (90) or a number "
                                         "with a unit s, m, h, d or w (90s, 5m, 1h)") from None


def customer_count(text: str) -> int:
    """``--customers`` of generate and demo: 1 to :data:`cjo_stream.generator.MAX_CUSTOMERS`."""
    from cjo_stream.generator import MAX_CUSTOMERS

    n = positive_int(text)
    if n > MAX_CUSTOMERS:
        raise argparse.ArgumentTypeError(f"{text!r}: at most {MAX_CUSTOMERS:,} customers")
    return n


def topic(text: str) -> str:
    """A Kafka topic name (its rule: 1-249 of ``A-Z a-z 0-9 . _ -``): the local broker takes others, so a
    typo such as ``--topic 'cjo touchpoints'`` only failed on a real cluster."""
    from cjo_stream.config import kafka_name

    if not kafka_name(text):
        raise argparse.ArgumentTypeError(f"{text!r}: a Kafka topic name is 1 to 249 characters of A-Z, a-z, "
                                         "0-9, '.', '_' and '-'")
    return text


def port(text: str) -> int:
    """A TCP port to listen on, 1-65535."""
    n = int(_number(text, int))
    if not 1 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: a port is 1-65535")
    return n


def port_or_auto(text: str) -> int:
    """A port, or 0 (any free port), or -1 (none): the adapter's ``--web-port``."""
    n = int(_number(text, int))
    if not -1 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: a port is 1-65535 (0 = any free port, -1 = none)")
    return n


def when(text: str, now: float) -> float:
    """RFC 3339 time, or a duration ago (``7d``, ``12h``, ``30m``): ``replay --since/--until``, ``dlq --since``."""
    from cjo_stream.errors import UsageError
    from cjo_stream.events import parse_ts
    from cjo_stream.journeys.durations import parse_duration

    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        return parse_ts(text)
    except ValueError:
        pass
    if text[:1].isdigit() and text.rstrip("smhdw").replace(".", "").strip("0") == "":
        raise UsageError(f"{text!r}: a duration ago must be above 0 (7d, 12h, 30m)")  # (said "neither ... nor")
    raise UsageError(f"{text!r} is neither an RFC 3339 time (2026-11-01T00:00:00Z) nor a duration "
                     "ago (7d, 12h, 30m)")


__all__ = ["customer_count", "non_negative_int", "port", "port_or_auto", "positive_float", "positive_int", "seconds",
           "topic", "when"]


def channel_name(text: str) -> str:
    """A built-in channel or one of the deployment's own (declared in policies.yaml): a topic name's last part."""
    import re

    from cjo_stream.commands import CHANNEL_NAME_PATTERN

    if not re.match(CHANNEL_NAME_PATTERN, text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a channel name: lower-case letters, digits and "
                                         "underscores, starting with a letter (e.g. email, myco_whatsapp)")
    return text
