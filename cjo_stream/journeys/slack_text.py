"""``| slack_escape``: customer data written into a Slack message as text, not as Slack's markup.

Slack reads ``<...>`` in a message as a link, a user or channel mention or ``<!channel>`` (which notifies
everyone in it), and ``&`` as the start of an escape. A lead alert writing a customer's name into a sales
channel could then post a disguised link or ping the whole channel with whatever the customer typed into a
form. Slack's own rule is to escape exactly ``&``, ``<`` and ``>``; Liquid's ``escape`` (HTML) also escapes
quotes, which Slack shows as written (``O&#39;Brien``).
"""

from __future__ import annotations

from liquid.filter import string_filter


@string_filter
def slack_escape(val: str) -> str:
    """``{{ profile.traits.company | slack_escape }}``: ``&``, ``<`` and ``>`` as ``&amp;``, ``&lt;``, ``&gt;``."""
    return val.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
