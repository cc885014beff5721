"""The traits a content template reads *bare*: what it writes as they are, so a trait the customer lacks
renders as empty text (``Hi {{ profile.traits.frist_name }}`` wrote "Hi " in every e-mail, unsaid).

Not bare: a read under a ``default`` filter (``{{ profile.traits.first_name | default: 'there' }}``), one in
an ``if``/``elsif``/``unless``/``case``/``when`` condition, or in the block such a condition on the same trait
guards (``{% if profile.traits.nick %}Hi {{ profile.traits.nick }}{% endif %}``): the author handled the
missing value. Bare too: a filter's argument (``{{ 'Hi ' | append: profile.traits.name }}``, and
the value a ``default`` falls back to), a ``for`` loop over a trait without an ``{% else %}``, and a local an
``assign`` or a ``capture`` made of a bare trait wherever it is written bare (``{% capture n %}{{
profile.traits.nick }}{% endcapture %}{{ n | default: 'you' }}`` is handled). Other tags' expressions are not
counted.

Found on python-liquid's parsed template (its nodes and expressions), once after a run for the notes of
:mod:`cjo_stream.journeys.unset_traits`; never on the render path.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any, Final

from liquid import Environment, RenderContext
from liquid.ast import ConditionalBlockNode
from liquid.builtin.expressions import FilteredExpression, Path
from liquid.builtin.output import OutputNode
from liquid.builtin.tags.assign_tag import AssignNode
from liquid.builtin.tags.capture_tag import CaptureNode
from liquid.builtin.tags.case_tag import CaseNode, MultiExpressionBlockNode
from liquid.builtin.tags.for_tag import ForNode
from liquid.builtin.tags.if_tag import IfNode
from liquid.builtin.tags.unless_tag import UnlessNode
from liquid.exceptions import LiquidError

#: Parsing only (the tags are Liquid's standard ones, as journeys.templates' environment has them).
_env = Environment()
#: Tags whose conditions are tested, and the blocks below them that carry conditions of their own.
_TESTS = (IfNode, UnlessNode, CaseNode)
_BLOCKS = (ConditionalBlockNode, MultiExpressionBlockNode)


def _has_default(filters: Iterable[Any] | None) -> bool:
    return any(f.name == "default" for f in filters or ())


#: what a walk looks for: ``profile.traits.<name>`` (the default), or ``event.properties.<key>``
TRAITS: Final = ("profile", "traits")
PROPERTIES: Final = ("event", "properties")


class _Reads:
    """One walk of a template: the traits (or the properties: ``prefix``) read bare, in order, and what each
    ``assign``'d local holds."""

    def __init__(self, prefix: tuple[str, str] = TRAITS) -> None:
        self.prefix = prefix
        self.bare: dict[str, bool] = {}  # in order: True while read bare only as a `for` loop's list
        self.locals: dict[str, tuple[str, ...]] = {}  # an assign's name: the bare traits its value carries
        self.defaulted: dict[str, None] = {}  # ordered set: traits read under a `default` (its value when unset)
        self.fallback: dict[str, bool] = {}  # trait: True while every read of it was a `default`'s fallback

    def of_path(self, p: Path) -> tuple[str, ...]:
        segs = p.path
        if not segs or not isinstance(segs[0], str):
            return ()
        if segs[0] in self.locals:
            return self.locals[segs[0]]
        if len(segs) >= 3 and (segs[0], segs[1]) == self.prefix and isinstance(segs[2], str):
            return (segs[2],)
        return ()

    def written(self, e: Any, fallback: bool = False) -> Iterator[str]:
        """The traits an expression whose value is written reads bare (``fallback``: as a ``default``'s value,
        written only when what comes before it is missing)."""
        if isinstance(e, Path):
            for t in self.of_path(e):
                self.fallback[t] = self.fallback.get(t, True) and fallback
                yield t
        elif isinstance(e, FilteredExpression):
            if not _has_default(e.filters):
                yield from self.written(e.left, fallback)
            else:
                self.defaulted.update(dict.fromkeys(self.tested(e.left)))
            filters = list(e.filters or ())
            for i, f in enumerate(filters):
                for arg in f.children():  # `append: profile.traits.name`, a default's fallback
                    if f.name == "default" and _has_default(filters[i + 1:]):  # `| default: b | default: 'x'`
                        self.defaulted.update(dict.fromkeys(self.tested(arg)))
                    else:
                        yield from self.written(arg, fallback or f.name == "default")
        else:  # a range, a literal, ...: what it is made of
            for child in e.children():
                yield from self.written(child, fallback)

    def tested(self, e: Any) -> Iterator[str]:
        """The traits a condition reads, wherever in it."""
        if isinstance(e, Path):
            yield from self.of_path(e)
        for child in e.children():
            yield from self.tested(child)

    def walk(self, nodes: Iterable[Any], context: RenderContext, guarded: frozenset[str] = frozenset()) -> None:
        """The nodes in template order. A condition's expressions (``if``, ``elsif``, ``unless``, ``case``,
        ``when``) are not written, and the traits they test are not bare in their blocks (``{% if
        profile.traits.nickname %}{{ profile.traits.nickname }}{% endif %}`` is handled); other tags'
        (``cycle``, ``tablerow``, ...) are passed over, their blocks walked."""
        for node in nodes:
            if isinstance(node, OutputNode):  # `{{ }}` and `{% echo %}`
                self.write(self.written(node.expression), guarded)
            elif isinstance(node, AssignNode):
                self.locals[node.name] = tuple(t for t in dict.fromkeys(self.written(node.expression))
                                               if t not in guarded)
            elif isinstance(node, ForNode):
                if node.default is None:  # an `{% else %}` says what an empty loop writes
                    self.write(self.written(node.expression.iterable), guarded, loop=True)
                self.locals.pop(node.expression.identifier, None)  # the loop's item, not an assign's value
            elif isinstance(node, CaptureNode):  # what its block writes is the local's value, not output
                outer, self.bare = self.bare, {}
                self.walk(node.children(context, include_partials=False), context, guarded)
                self.locals[node.name], self.bare = tuple(self.bare), outer
                continue
            elif isinstance(node, _TESTS):  # its condition guards each block, an elsif's or when's its own
                base = guarded | {t for e in node.expressions() for t in self.tested(e)}
                for child in node.children(context, include_partials=False):
                    if isinstance(child, _BLOCKS):
                        self.walk(child.children(context, include_partials=False), context,
                                  base | {t for e in child.expressions() for t in self.tested(e)})
                    else:
                        self.walk((child,), context, base)
                continue
            self.walk(node.children(context, include_partials=False), context, guarded)

    def write(self, names: Iterable[str], guarded: frozenset[str], loop: bool = False) -> None:
        for t in names:
            if t not in guarded:
                self.bare[t] = self.bare.get(t, True) and loop


@lru_cache(maxsize=1024)
def _reads(source: str, prefix: tuple[str, str] = TRAITS) -> _Reads:
    reads = _Reads(prefix)
    if "{{" not in source and "{%" not in source:
        return reads
    try:
        tpl = _env.from_string(source)
    except LiquidError:  # none for a template that does not parse: the loader refused it already
        return reads
    reads.walk(tpl.nodes, RenderContext(tpl))
    return reads


def bare_trait_reads(source: str) -> dict[str, bool]:
    """The ``profile.traits`` names the template ``source`` writes bare, in the order first read, each with
    whether only a ``for`` loop reads it so (what to suggest differs: a loop takes no ``default``, it takes
    an ``{% else %}``)."""
    return dict(_reads(source).bare)


def defaulted_traits(source: str) -> list[str]:
    """The ``profile.traits`` names the template ``source`` reads under a ``default`` filter, in the order
    first read: a customer without one gets the default (``{{ profile.traits.frist_name | default: 'friend' }}``
    wrote "friend" to everyone)."""
    return list(_reads(source).defaulted)


def fallback_traits(source: str) -> set[str]:
    """The traits of :func:`bare_trait_reads` that the template reads only as a ``default``'s value (``{{
    profile.traits.nickname | default: profile.traits.frist_name }}``): empty only where the value before it is
    missing too, and given a default of its own by chaining another ``| default:``."""
    reads = _reads(source)
    return {t for t in reads.bare if reads.fallback.get(t)}


def bare_property_reads(source: str) -> set[str]:
    """The ``event.properties`` keys the template ``source`` writes bare (as :func:`bare_trait_reads` the traits):
    a key read only under a ``default``, or tested in an ``if``, is one the author handled when it is missing."""
    return set(_reads(source, PROPERTIES).bare)


def bare_traits(source: str) -> list[str]:
    """The ``profile.traits`` names the template ``source`` writes bare, in the order first read."""
    return list(bare_trait_reads(source))
