"""What to write instead, for the Liquid of other tools that journey content refuses at load.

Teams moving campaigns from Braze (or Shopify) bring their templates along: ``{{${first_name}}}``,
``{% connected_content %}``, ``| money``. python-liquid refuses them with its own words (``unexpected '$'``,
``unknown filter 'money'``), which say what is wrong but not what cjo-stream offers instead (a walkthrough
migrating three Braze Canvases). :func:`hint` adds that to the load error, on the same line.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Final

#: Braze's attribute syntax, ``{{${first_name}}}`` or ``{{custom_attribute.${vip}}}``
_BRAZE_ATTRIBUTE: Final = (
    "Braze's ${attribute} syntax is not Liquid: name the profile field, "
    "e.g. {{ profile.traits.first_name }} (README, Templates)"
)

#: two decimals with Liquid's standard filters (README, Templates)
TWO_DECIMALS: Final = (
    "{% assign c = x | times: 100 | round %}{{ c | divided_by: 100 }}.{{ c | modulo: 100 | prepend: '0' "
    "| slice: -2, 2 }}"
)

_MONEY: Final = (
    "Shopify's and Braze's money filters are not standard Liquid (and differ on cents); "
    f"for two decimals: {TWO_DECIMALS} (README, Templates)"
)

_FILTERS: Final = {
    "money": _MONEY,
    "money_with_currency": _MONEY,
    "money_without_currency": _MONEY,
    "money_without_trailing_zeros": _MONEY,
    "number_with_delimiter": "Braze's number_with_delimiter is not standard Liquid; there is no thousands "
                             "separator filter (README, Templates)",
}

_TAGS: Final = {
    "connected_content": "Braze's connected_content is not supported: a journey's content renders from the "
                         "event and the profile only; fetch the data upstream into traits or event properties",
    "abort_message": "Braze's abort_message is not supported: decide whether to send with a branch step "
                     "before the send (README, Steps)",
}

_UNKNOWN_FILTER = re.compile(r"unknown filter '([^']+)'")
_UNEXPECTED_TAG = re.compile(r"unexpected tag '([^']+)'")


def hint(reason: str, filters: Iterable[str] = ()) -> str:
    """``reason`` with what to write instead appended (``; ...``) when it names another tool's Liquid, or
    `` (did you mean ...?)`` with the closest of ``filters`` (those the templates have) for a mistyped filter
    (``defualt`` was told no more than "unknown filter", a walkthrough); ``reason`` unchanged otherwise."""
    extra: str | None = None
    if "unexpected '$'" in reason:
        extra = _BRAZE_ATTRIBUTE
    elif (m := _UNKNOWN_FILTER.search(reason)) is not None:
        extra = _FILTERS.get(m.group(1))
        if extra is None:
            close = difflib.get_close_matches(m.group(1), sorted(filters), n=1, cutoff=0.75)
            return f"{reason} (did you mean {close[0]!r}?)" if close else reason
    elif (m := _UNEXPECTED_TAG.search(reason)) is not None:
        extra = _TAGS.get(m.group(1))
    return reason if extra is None else f"{reason}; {extra}"
