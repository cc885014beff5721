"""What to write instead, for the Liquid of other tools that journey content refuses at load.

Teams moving campaigns from Braze (or Shopify, Customer.io, Klaviyo, Dittofeed) bring their templates along:
``{{${first_name}}}``, ``{% connected_content %}``, ``| money``, ``| add_day: 3``, Klaviyo's Django filters and tags
(``|lookup:'$value'``, ``{% if x|length > 0 %}``, ``{% unsubscribe %}``). python-liquid refuses them with its own
words (``unexpected '$'``, ``unknown filter 'money'``), which say what is wrong but not what cjo-stream offers
instead (walkthroughs migrating Braze Canvases and Klaviyo flows). :func:`hint` adds that to the load error, on
the same line.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Final

from cjo_stream.journeys.foreign_names import AJO, foreign_path

#: Braze's attribute syntax, ``{{${first_name}}}`` or ``{{custom_attribute.${vip}}}``
_BRAZE_ATTRIBUTE: Final = (
    "Braze's ${attribute} syntax is not Liquid: name the profile field, "
    "e.g. {{ profile.traits.first_name }} (README, Templates)"
)

#: one Braze personalisation output: ``{{${first_name} | default: 'x'}}``, ``{{custom_attribute.${vip}}}``,
#: ``{{event_properties.${sku}}}``, ``{{canvas_entry_properties.${sku}}}`` (scope, name, the rest up to ``}}``)
_BRAZE_OUTPUT: Final = re.compile(r"\{\{-?\s*(?:([a-z_]+)\.)?\$\{([^}]*)\}(.*?)-?\}\}", re.S)

#: Braze's scopes with a cjo-stream counterpart (README, Templates, "Coming from Braze")
_BRAZE_SCOPES: Final = {"custom_attribute": "profile.traits", "event_properties": "event.properties",
                        "canvas_entry_properties": "event.properties"}

#: Braze's default attributes whose counterpart is not ``profile.traits.<the same name>``
_BRAZE_DEFAULTS: Final = {"user_id": "profile.customer_id", "email_address": "profile.traits.email",
                          "phone_number": "profile.traits.phone", "time_zone": "profile.timezone"}

_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _braze_output(source: str, index: int) -> str | None:
    """What to write for the Braze output at (or first after the ``{{`` before) ``index`` of ``source``: the
    error named only ``{{ profile.traits.first_name }}``, which for ``{{event_properties.${sku}}}`` is the wrong
    root (a walkthrough migrating Canvases); None for a scope cjo-stream has no counterpart of."""
    start = source.rfind("{{", 0, index + 1)
    m = _BRAZE_OUTPUT.search(source, max(start, 0))
    if m is None or not m.start() <= index < m.end():  # (a `$` in a tag: not this output)
        return None
    scope, name, rest = m.group(1), m.group(2).strip(), m.group(3).strip()
    if scope is None and name in _BRAZE_DEFAULTS:
        path = _BRAZE_DEFAULTS[name]
    else:
        root = "profile.traits" if scope is None else _BRAZE_SCOPES.get(scope)
        if root is None:
            return None
        path = f"{root}.{name}" if _NAME.fullmatch(name) else f"{root}[{name!r}]"
    return f"{m.group(0)} is {{{{ {path}{' ' + rest if rest else ''} }}}}"


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
    "format_number": "Customer.io's format_number is not standard Liquid; there is no thousands separator filter "
                     "(README, \"Coming from Customer.io\")",
    "currency": "Customer.io's currency filter is not standard Liquid; "
                f"for two decimals: {TWO_DECIMALS} (README, \"Coming from Customer.io\")",
    "timezone": "Customer.io's timezone filter is time_zone here: {{ now | time_zone: profile.timezone | date: "
                "'%H:%M' }} (README, Templates)",
    # Shopify's own filters, which a theme's or a Shopify Email template brings (a new user's walkthrough)
    "handleize": "Shopify's handleize is not standard Liquid: {{ x | downcase | strip | replace: ' ', '-' }}",
    "handle": "Shopify's handle is not standard Liquid: {{ x | downcase | strip | replace: ' ', '-' }}",
    "pluralize": "Shopify's pluralize is not standard Liquid: {% if n == 1 %}item{% else %}items{% endif %}",
}
for _name in ("img_url", "image_url", "asset_url", "file_url", "product_img_url", "link_to", "url_for_type",
              "within", "t", "weight_with_unit", "img_tag", "stylesheet_tag", "script_tag"):
    _FILTERS[_name] = (f"Shopify's {_name} is a storefront filter, not standard Liquid: a journey's content has no "
                       "store behind it; send the URL or text in an event property or trait")

#: Klaviyo's template language is Django's: its filters with a Liquid counterpart, and what that is
_KLAVIYO: Final = '(README, "Coming from Klaviyo")'
_KLAVIYO_FILTERS: Final = {
    "lookup": "a subscript here: {{ event.properties['$value'] }}, {{ profile.traits['First Name'] }}",
    "length": "size here: {{ x | size }}, and in a condition {% if x.size > 0 %}",
    "title": "capitalize here (the first letter up, the rest down): {{ x | capitalize }}",
    "capfirst": "capitalize here: {{ x | capitalize }}",
    "upper": "upcase here",
    "lower": "downcase here",
    "floatformat": f"round here ({{{{ x | round: 2 }}}} writes 7.5 for 7.50); for two decimals: {TWO_DECIMALS}",
    "truncatechars": "truncate here: {{ x | truncate: 20 }}",
    "truncatewords_html": "truncatewords here, on text: {{ x | strip_html | truncatewords: 20 }}",
    "striptags": "strip_html here",
    "urlencode": "url_encode here",
    "linebreaksbr": "newline_to_br here",
    "default_if_none": "default here: {{ x | default: 'there' }}",
    "add": "plus here (numbers; append for text)",
    "multiply": "times here",
    "divide": "divided_by here",
    "yesno": "an {% if %} here: {% if x %}yes{% else %}no{% endif %}",
    "format_date_string": "not needed here: date reads a date's text (2023-05-01, RFC 3339) as it is, "
                          "{{ x | date: '%d %B %Y' }}",
}
for _name, _ours in _KLAVIYO_FILTERS.items():
    _FILTERS[_name] = f"Klaviyo's (Django's) {_name} filter is {_ours} {_KLAVIYO}"

#: Customer.io's date arithmetic (``| add_day: 3``): our times are epoch seconds, so ``plus`` does it
_DATE_STEPS: Final = {"minute": 60, "hour": 3600, "day": 86400, "week": 604800}
for _unit, _seconds in _DATE_STEPS.items():
    for _verb, _op in (("add", "plus"), ("subtract", "minus")):
        _FILTERS[f"{_verb}_{_unit}"] = (
            f"Customer.io's {_verb}_{_unit} is not standard Liquid: on epoch seconds (now, profile.last.<event>) "
            f"write | {_op}: {_seconds} per {_unit}, e.g. {{{{ now | {_op}: {_seconds} | date: "
            f"'%d %b' }}}} (README, \"Coming from Customer.io\")")

_TAGS: Final = {
    "connected_content": "Braze's connected_content is not supported: a journey's content renders from the "
                         "event and the profile only; fetch the data upstream into traits or event properties",
    "abort_message": "Braze's abort_message is not supported: decide whether to send with a branch step "
                     "before the send (README, Steps)",
}

#: the unsubscribe link a body writes: the e-mail adapter fills it in, as it fills the List-Unsubscribe header
_LINK: Final = ("is not a tag here: write {unsubscribe_url} (single braces) where the link goes, and the email "
                "adapter puts its CJO_EMAIL_LIST_UNSUBSCRIBE_URL there, the link of the List-Unsubscribe header it "
                "adds; your page's unsubscribe comes back as a receipt (docs/adapters.md, \"email\", \"Engagement "
                "callbacks\")")
_TAGS["unsubscribe_url"] = f"Customer.io's and Dittofeed's unsubscribe_url {_LINK}"
#: Dittofeed's tags and filter (its docs' "Liquid Presets") with no counterpart, and what to write instead
_DITTOFEED: Final = '(README, "Coming from Dittofeed")'
_TAGS["unsubscribe_link"] = (f"Klaviyo's unsubscribe_link (the URL alone) and Dittofeed's (a whole <a> link) {_LINK} "
                             '(README, "Coming from Klaviyo", "Coming from Dittofeed")')
for _name in ("subscription_management_link", "subscription_management_url"):
    _TAGS[_name] = (f"Dittofeed's {_name} is not supported: no subscription page is hosted here; the unsubscribe "
                    "link, {unsubscribe_url} in single braces, goes to your own page ({topic} in "
                    f"CJO_EMAIL_LIST_UNSUBSCRIBE_URL names the send's topic), which can offer the others {_DITTOFEED}")
_TAGS["view_in_browser_url"] = f"Dittofeed's view_in_browser_url is not supported: a journey's mail has no hosted copy {_DITTOFEED}"
_TAGS["layout"] = (f"Dittofeed's layout tag (its Markdown e-mail layout) is not supported: a journey's content has no "
                  f"layouts; write the mail's html field {_DITTOFEED}")
_FILTERS["markdown"] = f"Dittofeed's markdown filter is not standard Liquid: write the mail's html field {_DITTOFEED}"
for _name in ("unsubscribe", "manage_preferences"):
    _TAGS[_name] = f"Klaviyo's {_name} {_LINK} {_KLAVIYO}"
_TAGS.update({
    "web_view": f"Klaviyo's web_view is not supported: a journey's mail has no hosted copy {_KLAVIYO}",
    "currency_format": f"Klaviyo's currency_format is not supported; for two decimals: {TWO_DECIMALS} {_KLAVIYO}",
    "catalog": "Klaviyo's catalog tag is not supported: a catalog here is a file, topologies/catalogs/products.jsonl, read as "
               f"{{{{ catalogs.products[event.properties.sku].title }}}} (README, Catalogs) {_KLAVIYO}",
    "now": "Django's now tag is a filter here: {{ 'now' | date: '%Y' }} (the decision time, as the journey's "
           f"clock) {_KLAVIYO}",
    "coupon_code": "Klaviyo's coupon_code is not supported: generate the code upstream and send it in an event "
                   f"property or trait, {{{{ event.properties.coupon }}}} {_KLAVIYO}",
})

#: Django's filter in an ``{% if %}`` (``{% if event.Items|length > 0 %}``): Liquid's conditions take no filters
_IF_FILTER: Final = (
    "Liquid's {% if %} takes no filters (Klaviyo's Django does): compare a property, {% if x.size > 0 %}, or "
    f"{{% assign n = x | size %}} first {_KLAVIYO}"
)
_IF_TAG: Final = re.compile(r"\{%-?\s*(?:if|elsif|unless)\b")

#: Django's list index ``event.Items.0.ProductName``, which python-liquid reads as a float ``0.``
_DOT_INDEX: Final = re.compile(r"\.(\d+)")
_PATH_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")


def _indexed(source: str, index: int) -> str:
    """The hint for Django's ``.0`` at ``index`` of ``source``: the path around it written with ``[0]``."""
    start, end = index - 1, index
    while start > 0 and source[start - 1] in _PATH_CHARS:
        start -= 1
    while end < len(source) and source[end] in _PATH_CHARS:
        end += 1
    root, *keys = source[start:end].split(".")
    found = foreign_path(root, tuple(int(k) if k.isdigit() else k for k in keys))  # `event.Items.0`: its properties
    if found is not None and found[0] == AJO:  # `context.journey.events.1234.x`: an event's id, not an index
        return f"{AJO}'s {{{{ {source[start:end]} }}}} (the journey's event) is {{{{ {found[1]} }}}} here {_AJO}"
    ours = found[1] if found else re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", source[start:end])
    return (f"Liquid indexes a list with [0] (Klaviyo's Django writes .0): {{{{ {source[start:end]} }}}} is "
            f"{{{{ {ours} }}}} here (.first for the first) {_KLAVIYO}")

#: Django's date format letters (Klaviyo's ``|date:'F j, Y'``) and strftime's for them: Liquid's ``date`` takes
#: strftime's, and writes a format without ``%`` as it is ("F j, Y" in every mail), which loads without a word
_DJANGO_DATE: Final = {"d": "%d", "j": "%-d", "D": "%a", "l": "%A", "m": "%m", "n": "%-m", "M": "%b", "F": "%B",
                       "y": "%y", "Y": "%Y", "H": "%H", "G": "%-H", "h": "%I", "g": "%-I", "i": "%M", "s": "%S",
                       "A": "%p", "w": "%w", "z": "%j", "U": "%s", "o": "%G"}


def django_date(fmt: str) -> str | None:
    """Why ``| date: fmt`` writes the format's letters instead of a date, with the strftime format to write, when
    ``fmt`` is a Django (Klaviyo) format: no ``%``, and a Django date letter; None otherwise."""
    if "%" in fmt or not any(ch in _DJANGO_DATE for ch in fmt):
        return None
    ours, escaped = [], False
    for ch in fmt:
        ours.append(ch if escaped or ch not in _DJANGO_DATE else _DJANGO_DATE[ch])
        escaped = ch == "\\" and not escaped
        if escaped:
            ours.pop()
    return (f"date format {fmt!r} has no %: Liquid's date takes strftime's, and writes these letters as they are; "
            f"Klaviyo's (Django's) {fmt!r} is {''.join(ours)!r} here {_KLAVIYO}")


#: Django's filter on a loop's list (``{% for item in x|slice:':3' %}``): Liquid's ``for`` takes its own words
_FOR_FILTER: Final = ("Liquid's {% for %} takes no filters (Klaviyo's Django does): the first three are "
                      f"{{% for item in x limit: 3 %}}, or {{% assign items = x | sort %}} first {_KLAVIYO}")


def _for_default(source: str, index: int) -> str:
    """The hint for Dittofeed's documented ``{% for product in user.recommendations | default: empty %}`` (the
    ``|`` at ``index``): the loop without its filter, as a missing list loops no time here."""
    loop = source[source.rfind("{%", 0, index):index].rstrip()
    m = re.match(r"(\{%-?\s*for\s+\w+\s+in\s+)([A-Za-z_][\w.]*)\Z", loop)
    if m is not None:  # `user.recommendations`, written as here
        root, *keys = m.group(2).split(".")
        found = foreign_path(root, tuple(keys))
        loop = m.group(1) + found[1] if found else loop
    return ("Liquid's {% for %} takes no filters, and a missing list loops no time here: Dittofeed's | default: "
            f"empty is not needed, {loop} %}} {_DITTOFEED}")


def _dollar_key(source: str, index: int) -> str:
    """The hint for a Klaviyo key with a ``$`` (``event.$value``) at ``index``: a subscript, the path as here."""
    start, end = index - 1, index + 1
    while start > 0 and source[start - 1] in _PATH_CHARS:
        start -= 1
    while end < len(source) and source[end] in _PATH_CHARS and source[end] != ".":
        end += 1
    root, *keys = source[start:index - 1].split(".")
    # Klaviyo's built-in profile properties are `$`-named (`person.$phone_number`): here, the traits' own names
    keys.append(source[index + 1:end] if root == "person" and not keys else source[index:end])
    found = foreign_path(root, tuple(keys))
    ours = found[1] if found else source[start:index - 1] + f"[{source[index:end]!r}]"
    return (f"a key with a $ is named in brackets: {{{{ {source[start:end]} }}}} is {{{{ {ours} }}}} here "
            f"(Klaviyo's {{{{ event|lookup:'$value' }}}}) {_KLAVIYO}")


#: Adobe Journey Optimizer's personalization (Handlebars with its own ``{%...%}`` helpers): its blocks and Liquid's
_AJO: Final = '(README, "Coming from Adobe Journey Optimizer")'
_AJO_IF: Final = (f"{AJO}'s {{%#if cond%}}...{{%else if cond%}}...{{%else%}}...{{%/if%}} (Handlebars' {{{{#if}}}}"
                  "...{{/if}}) is Liquid's {% if cond %}...{% elsif cond %}...{% else %}...{% endif %} here, its = "
                  f"written == {_AJO}")
_AJO_EACH: Final = (f"{AJO}'s {{{{#each list as |item|}}}}...{{{{/each}}}} is Liquid's {{% for item in list %}}..."
                    f"{{% endfor %}} here {_AJO}")
_AJO_OUTPUT: Final = (f"{AJO}'s {{%= expression %}} is an output here: {{{{ x | default: 'there' }}}} for its "
                      f"x ?: \"there\", Liquid's filters for its functions ({{{{ x | upcase }}}}) {_AJO}")
_AJO_TRIPLE: Final = (f"Handlebars' {{{{{{x}}}}}} (unescaped, as {AJO} writes HTML) is {{{{ x }}}} here: Liquid "
                      f"escapes nothing {_AJO}")
#: ``{%#if``, ``{%/if%}``, ``{{#each``, ``{%=``: the helper's name after its mark (or the mark alone)
_AJO_BLOCK: Final = re.compile(r"\{([{%])-?\s*([#/=^]|else\b)\s*([a-z]*)")


def _adobe(source: str, index: int) -> str | None:
    """The hint for Adobe Journey Optimizer's (Handlebars') block or output at (or just before) ``index``, or
    None when none is there: python-liquid reads ``{%#if x%}`` as a comment and then stops at the ``{%/if%}``
    with "missing tag name", or at ``{{#if`` with "unexpected '#'"."""
    start = max(source.rfind("{{", 0, index + 2), source.rfind("{%", 0, index + 2))
    m = _AJO_BLOCK.match(source, start) if start >= 0 else None
    if m is None:
        return None
    mark, name = m.group(2), m.group(3)
    if mark == "else" and not re.search(r"\{[{%]-?\s*#", source):  # a stray {% else %} of Liquid's own
        return None
    if mark == "=":
        return _AJO_OUTPUT
    return _AJO_EACH if name == "each" else _AJO_IF


#: Adobe Journey Optimizer's helper functions (``{%= upperCase(x) %}``, ``{{upperCase(x)}}``) and the Liquid filter
#: doing it here, with its arguments
_AJO_FUNCTIONS: Final = {"upperCase": "upcase", "lowerCase": "downcase", "capitalize": "capitalize", "trim": "strip",
                         "length": "size", "round": "round: 2", "formatDate": "date: '%Y-%m-%d'",
                         "concat": "append: ' '", "replaceAll": "replace: 'a', 'b'", "replace": "replace: 'a', 'b'",
                         "substr": "slice: 0, 10", "split": "split: ','"}
_CALL: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\($")


def _ajo_function(source: str, index: int) -> str | None:
    """The hint for Adobe Journey Optimizer's function call ``upperCase(x)`` whose ``(`` is at ``index``."""
    m = _CALL.search(source[max(0, index - 40):index + 1])
    if m is None or m.group(1) not in _AJO_FUNCTIONS:
        return None
    name, ours = m.group(1), _AJO_FUNCTIONS[m.group(1)]
    return (f"{AJO}'s function {name}(x) is Liquid's filter here, {{{{ x | {ours} }}}} (in a tag, assign it first: "
            f"{{% assign v = x | {ours} %}}) {_AJO}")


_UNKNOWN_FILTER = re.compile(r"unknown filter '([^']+)'")
_UNEXPECTED_TAG = re.compile(r"unexpected tag '([^']+)'")


def hint(reason: str, filters: Iterable[str] = (), source: str = "", index: int = 0) -> str:
    """``reason`` with what to write instead appended (``; ...``) when it names another tool's Liquid (for a Braze
    output, the one at ``index`` of the template ``source`` written as here), or `` (did you mean ...?)`` with
    the closest of ``filters`` (those the templates have) for a mistyped filter (``defualt`` was told no more
    than "unknown filter", a walkthrough); ``reason`` unchanged otherwise."""
    extra: str | None = None
    if ("missing tag name" in reason or re.search(r"unexpected '[#/^]'|unexpected tag 'else'", reason)) \
            and (extra := _adobe(source, index)) is not None:
        pass
    elif "unexpected '{'" in reason and source[index - 2:index + 1] == "{{{":
        extra = _AJO_TRIPLE
    elif "found '('" in reason and (extra := _ajo_function(source, index)) is not None:
        pass
    elif "found '='" in reason and source and _IF_TAG.match(source, max(source.rfind("{%", 0, index + 1), 0)):
        extra = f"equality is == in Liquid ({AJO}'s and SQL's = is an error) {_AJO}"
    elif "unexpected '$'" in reason and source[index - 1:index + 1] == ".$" and source[index + 1:index + 2] != "{":
        extra = _dollar_key(source, index)
    elif "unexpected '$'" in reason:
        exact = _braze_output(source, index) if source else None
        extra = _BRAZE_ATTRIBUTE if exact is None else \
            f"Braze's ${{attribute}} syntax is not Liquid: {exact} here (README, Templates)"
    elif (m := _UNKNOWN_FILTER.search(reason)) is not None:
        extra = _FILTERS.get(m.group(1))
        if extra is None and m.group(1) in _AJO_FUNCTIONS:  # `| upperCase`: the function's name as a filter
            extra = f"{AJO}'s {m.group(1)} is Liquid's filter {_AJO_FUNCTIONS[m.group(1)].split(':')[0]} here {_AJO}"
        if extra is None:
            close = difflib.get_close_matches(m.group(1), sorted(filters), n=1, cutoff=0.75)
            return f"{reason} (did you mean {close[0]!r}?)" if close else reason
    elif (m := _UNEXPECTED_TAG.search(reason)) is not None:
        extra = _TAGS.get(m.group(1))
    elif "found '|'" in reason and source and _IF_TAG.match(source, max(source.rfind("{%", 0, index + 1), 0)):
        extra = _IF_FILTER
    elif "expected 'reversed', 'offset' or 'limit'" in reason and source[index:index + 1] == "|":
        extra = _for_default(source, index) if re.match(r"\|\s*default\b", source[index:]) else _FOR_FILTER
    elif "expected an identifier, found" in reason and source and _DOT_INDEX.match(source, index - 1):
        extra = _indexed(source, index)
    return reason if extra is None else f"{reason}; {extra}"
