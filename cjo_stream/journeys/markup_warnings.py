"""Customer data written as markup: an e-mail's ``html`` or a Slack message that outputs a trait or an event's property
without escaping it.

Liquid does not escape (README, Security): ``<p>Hi {{ profile.traits.first_name }}</p>`` sends whatever the customer
typed into a sign-up form as HTML of your mail, from your domain (a link, an image, a fake "reset your password"
box), and a lead's ``<!channel>`` in a Slack alert pings the whole channel. The README said so under "Left to the
deployment"; nothing said so at the line. ``validate`` now warns, ``file:line: warning: ...``, at each such output,
with the filter that makes it text: ``| escape`` (HTML) or ``| slack_escape`` (Slack's ``&``, ``<``, ``>``).

What counts as the customer's (or a producer's) text: ``profile.traits``, and an event's ``properties``, ``traits``,
``context`` and ``previous``, also through a ``for`` loop's variable or an ``assign`` of them. An output is text once
its last filter makes it so (an escape, ``url_encode``, or a number filter: ``round``, ``plus``, ``size`` ...);
``default``, ``upcase`` or ``date`` (which passes what is no date through as it is) do not, though after an escape
``default: 'there'`` or ``upcase`` leave it text. Not followed: a value
``capture``d (its own outputs are checked where they stand) and the values of ``catalogs`` (the company's rows).
"""

from __future__ import annotations

from typing import Any, Final

from liquid.builtin.expressions.loop import LoopExpression
from liquid.builtin.output import OutputNode
from liquid.builtin.tags.assign_tag import AssignNode

from cjo_stream.journeys.liquid_paths import paths_of, segments
from cjo_stream.journeys.model import Journey
from cjo_stream.journeys.source import Located
from cjo_stream.journeys.step_templates import step_templates
from cjo_stream.journeys.templates import Template

#: the data a customer (or an upstream system on their behalf) writes: (root, first key)
_THEIRS: Final = frozenset({("profile", "traits"), ("event", "properties"), ("event", "traits"),
                            ("event", "context"), ("event", "previous")})
#: filters whose result is text that cannot carry markup, whatever they are given
_TEXT: Final = frozenset({"url_encode", "size", "plus", "minus", "times", "divided_by", "modulo", "round", "ceil",
                          "floor", "abs", "at_least", "at_most", "days_until", "days_until_anniversary", "days_since",
                          "hours_since"})
#: filters that leave text that holds no markup without any (``| escape | default: 'there'``, ``| escape | upcase``)
#: when their arguments are not the customer's data; a decoding filter (``url_decode``) is not one of them
_KEEPS_TEXT: Final = frozenset({"default", "upcase", "downcase", "capitalize", "strip", "lstrip", "rstrip",
                                "strip_newlines", "truncate", "truncatewords", "append", "prepend", "replace",
                                "replace_first", "replace_last", "remove", "remove_first", "remove_last",
                                "newline_to_br", "slice"})
#: per channel: the content keys written as markup, and the filter that makes a value text there
_MARKUP: Final = {"email": (("html",), "escape", "HTML", "the mail"),
                  "slack": (("text", "body", "subject"), "slack_escape", "Slack markup", "the message")}


def _theirs(expression: Any, tainted: dict[str, str]) -> str | None:
    """The first path of the customer's data ``expression`` reads (dotted, as written; a local's followed by what
    it holds: ``item.name (event.properties.items)``), or None."""
    for segs in (segments(p) for p in paths_of(expression, keys=False)):
        head = str(segs[0]) if segs else ""
        written = ".".join(str(s) for s in segs if isinstance(s, (str, int)))
        if head in tainted:
            return f"{written} ({tainted[head]})"
        if len(segs) > 1 and (head, str(segs[1])) in _THEIRS:
            return written
    return None


def _unescaped(expression: Any, safe: frozenset[str], tainted: dict[str, str]) -> str | None:
    """The customer's data the expression writes as markup (as :func:`_theirs` says it), or None: none when its
    last filter is one of ``safe``, or one of them is followed only by filters that keep text text
    (:data:`_KEEPS_TEXT`; ``| escape | default: 'there'``: a missing name renders 'there', a given one escaped);
    after the escape, such a filter given their data writes that (``| escape | default: profile.traits.nick``)."""
    for f in reversed(list(getattr(expression, "filters", None) or ())):
        if str(f.name) in safe:
            return None
        if str(f.name) not in _KEEPS_TEXT:
            break
        for a in f.args:
            if (given := _theirs(a.value, tainted)) is not None:
                return given
    return _theirs(expression, tainted)


def unescaped_outputs(tpl: Template, escapes: frozenset[str]) -> list[tuple[int, str]]:
    """(index in the text, the data path) of each output writing the customer's data that none of ``escapes`` nor
    :data:`_TEXT` makes text (:func:`_unescaped`)."""
    safe = escapes | _TEXT
    tainted: dict[str, str] = {}  # a loop's or an assign's variable holding their data: what it holds
    out: list[tuple[int, str]] = []
    for node in tpl.nodes():
        for expression in node.expressions():
            if isinstance(expression, LoopExpression):
                if (held := _theirs(expression.iterable, tainted)) is not None:
                    tainted[str(expression.identifier)] = held.split(" ")[0]
        if isinstance(node, AssignNode):
            if (held := _unescaped(node.expression, safe, tainted)) is not None:
                tainted[str(node.name)] = held.split(" ")[0]
        elif isinstance(node, OutputNode):
            if (path := _unescaped(node.expression, safe, tainted)) is not None:
                out.append((int(node.token.start_index), path))
    return out


def markup_warnings(loaded: list[tuple[Journey, Located]]) -> list[str]:
    """A send's ``html`` (e-mail) or Slack text writing the customer's data unescaped: one warning per output."""
    out = []
    for j, src in loaded:
        for i, step in enumerate(j.steps.values()):
            if step.send is None or step.send.channel not in _MARKUP:
                continue
            keys, escape, markup, message = _MARKUP[step.send.channel]
            for where, key, tpl in step_templates(step):
                if key not in keys:
                    continue
                for index, path in unescaped_outputs(tpl, frozenset({escape, "escape", "escape_once"})):
                    line = src.text_line(("steps", i, *where), tpl.source, index)
                    written = path.split(" ")[0]
                    out.append(f"{j.source}:{line}: warning: step {step.id}'s {key} writes {path} as {markup}: "
                               f"what the customer typed there goes into {message} as markup; write it as text "
                               f"with {{{{ {written} | {escape} }}}} (README, Security)")
    return out
