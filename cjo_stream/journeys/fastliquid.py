"""A quicker way through python-liquid for the templates most content fields are: text and ``{{ }}`` outputs.

Why: python-liquid renders a two-output template in ~30 µs here, almost all of it its general render
loop (a render context per call, a scope chain, an output stream, a filter lookup per call); the
engine renders two or three templates per send, which made Liquid the largest part of a send
(``python -m cjo_stream.bench.sends``). This module changes no Liquid semantics and parses nothing:
it takes a template python-liquid has parsed, and if every node is literal text or an output whose
expression is a plain path (string and integer segments) with filters given literal arguments, it
keeps the pieces and renders them itself, calling python-liquid's own path step
(``RenderContext.get_item``: ``first``/``last``/``size`` included), undefined value, filter functions
and stringification, in the order python-liquid calls them.

An ``if``/``elsif``/``else`` whose tests are a plain path's truth or its (in)equality with a literal, holding
text, outputs and such ``if``s, is rendered here too (python-liquid's ``is_truthy`` and ``_eq`` for the
values data holds; anything else asks Liquid). Other conditional blocks (``unless``, ``case``, other
tests, comments) are rendered by python-liquid's own nodes, in one render context per render set up as
python-liquid sets it up; they change no state a later node reads. Anything else is left to
python-liquid: a template with other tags (``for``, ``assign``, ``capture``, ``increment``, ...), a
root the data lacks (its scope chain decides; :class:`~cjo_stream.journeys.templates.Template` always
gives ``now`` and ``today`` to the templates naming them, so no render reaches python-liquid's
wall-clock built-ins), a filter that wants the render context, a nested path, and any render that
raises or comes near the output limit (python-liquid renders it again: filters are pure, so the second
render raises exactly what python-liquid raises).
An update step's lone ``{{ }}`` is evaluated the same way, its value kept as it is before it is made text
(:meth:`FastTemplate.value`). ``tests/journeys/test_fastliquid.py`` checks the outputs and the values are
python-liquid's on awkward data.
"""

from __future__ import annotations

from collections.abc import Callable
from io import StringIO
from typing import Any, Final, cast

from liquid import BoundTemplate, Environment, RenderContext, Token, Undefined
from liquid.ast import BlockNode, ConditionalBlockNode, Node
from liquid.builtin.content import ContentNode
from liquid.builtin.expressions import FilteredExpression, Path
from liquid.builtin.expressions.arguments import KeywordArgument, PositionalArgument
from liquid.builtin.expressions.logical import BooleanExpression, EqExpression, NeExpression
from liquid.builtin.expressions.primitive import (
    FalseLiteral,
    FloatLiteral,
    IntegerLiteral,
    Nil,
    StringLiteral,
    TrueLiteral,
)
from liquid.builtin.filters.misc import default as _liquid_default
from liquid.builtin.output import OutputNode
from liquid.builtin.tags.case_tag import CaseNode, MultiExpressionBlockNode
from liquid.builtin.tags.comment_tag import CommentNode
from liquid.builtin.tags.if_tag import IfNode
from liquid.builtin.tags.inline_comment_tag import InlineCommentNode
from liquid.builtin.tags.unless_tag import UnlessNode
from liquid.context import _segments_str
from liquid.output import LimitedStringIO
from liquid.stringify import to_liquid_string

from cjo_stream.journeys.snapshot import LIQUID_PROPS

_LITERALS: Final = (StringLiteral, IntegerLiteral, FloatLiteral, TrueLiteral, FalseLiteral, Nil)


_MISSING: Final = object()
#: what :meth:`FastTemplate.value` answers to mean "ask Liquid"
ASK_LIQUID: Final = object()
#: in place of python-liquid's ``default`` filter given one literal: done here for text, nil and an undefined
#: path (the commonest filter in content: python-liquid's call was ~7,000 instructions, and the undefined it
#: makes for a missing trait ~4,000; callgrind of the send-heavy journeys, 2026-12-02); other values are
#: handed to python-liquid's own
_DEFAULT: Final = object()
#: an undefined path whose first filter is ``default``: the filter's value, no undefined made
_GONE: Final = object()
#: the keys RenderContext.get_item gives a meaning of its own (``a.size`` of a list, ...), bound here once:
#: compiled, a module's own Final is a C static
_SPECIAL: Final = LIQUID_PROPS


def _step(obj: Any, seg: Any, get_item: Callable[[Any, Any], Any]) -> Any:
    """One step of a path, as python-liquid's ``RenderContext.get_item`` takes it, without its call where
    the answer is plain: a text key other than size/first/last is ``obj[seg]``, and so are a list's
    ``size``/``first``/``last`` (``len``, ``[0]``, ``[-1]``). ``get_item`` tries ``obj["first"]`` first, whose
    exception for a list cost ~13,000 instructions, a third of a send's render in post_purchase (callgrind,
    2026-12-02). Raises what ``get_item`` raises for these (an empty list's IndexError).
    """
    if type(seg) is str:
        if seg not in _SPECIAL:
            return obj[seg]
        if type(obj) is list:
            return len(obj) if seg == "size" else obj[0] if seg == "first" else obj[-1]
    return get_item(obj, seg)


#: tags that only choose what to output (no assignment, counter, cycle, loop or partial), and what they hold
_CONDITIONALS: Final = (IfNode, UnlessNode, CaseNode)
_INSIDE: Final = (*_CONDITIONALS, BlockNode, ConditionalBlockNode, MultiExpressionBlockNode, ContentNode, OutputNode,
                  CommentNode, InlineCommentNode)

#: one ``{{ root.seg... | filter: args ... }}``: (root, segments, filters as (function, args, kwargs), the
#: path's token, and RenderContext.get's hint for a failure at each step, made once: only errors read it)
_Output = tuple[str, tuple[str | int, ...], tuple[tuple[Any, tuple[Any, ...], dict[str, Any]], ...], Token | None,
                tuple[str, ...]]


def _output(root: str, segments: tuple[str | int, ...],
            filters: tuple[tuple[Any, tuple[Any, ...], dict[str, Any]], ...], token: Token | None) -> _Output:
    path: list[object] = [root, *segments]
    hints = tuple(f"{_segments_str(path[: i + 2])} is undefined" for i in range(len(segments)))
    return (root, segments, filters, token, hints)


#: an ``if`` test: (:data:`_TRUTHY`, :data:`_EQ` or :data:`_NE`, root, segments, the literal compared with)
_Test = tuple[int, str, tuple[str | int, ...], Any]
_TRUTHY: Final = 0
_EQ: Final = 1
_NE: Final = 2


class _If:
    """An ``if`` rendered here: the first block whose test holds, else the ``else`` block (or nothing)."""

    __slots__ = ("tests", "blocks", "default")

    def __init__(self, tests: list[_Test], blocks: list[list[_Part]], default: list[_Part] | None) -> None:
        self.tests = tests
        self.blocks = blocks
        self.default = default


#: a piece of a quick template: text, an output, an ``if`` done here, or a conditional python-liquid renders
_Part = str | _Output | _If | Node


class FastTemplate:
    """The text-and-output form of a parsed template; :meth:`render` returns None to mean "ask Liquid"."""

    __slots__ = ("_parts", "_get_item", "_undefined", "_plain_undefined", "_autoescape", "_limit", "_tpl")

    def __init__(self, parts: list[_Part], tpl: BoundTemplate) -> None:
        self._parts = parts
        self._tpl = tpl
        ctx = RenderContext(tpl)  # only its path step is used, which reads nothing but the environment
        self._get_item = ctx.get_item
        self._undefined = tpl.env.undefined
        # python-liquid's ``default`` gives its argument for this undefined (a strict one would raise instead)
        self._plain_undefined = tpl.env.undefined is Undefined
        self._autoescape = tpl.env.autoescape
        self._limit = tpl.env.output_stream_limit

    def render(self, data: dict[str, Any]) -> str | None:
        out: list[str] = []
        try:
            if not self._emit(self._parts, data, out, []):
                return None
        except Exception:  # noqa: BLE001 - python-liquid renders it again and raises (or not) as it does
            return None
        text = "".join(out)
        limit = self._limit
        if limit is not None and len(text) * 4 > limit and len(text.encode("utf-8")) > limit:
            return None  # over python-liquid's output limit: it raises the error
        return text

    def value(self, data: dict[str, Any]) -> Any:
        """The value of a template that is one output alone, before it is made text (an update
        step stores it with its type: :meth:`Template.value`); :data:`ASK_LIQUID` to ask Liquid."""
        part = self._parts[0]
        if type(part) is not tuple:
            return ASK_LIQUID
        try:
            return self._evaluate(cast(_Output, part), data)
        except Exception:  # noqa: BLE001 - python-liquid evaluates it again and raises (or not) as it does
            return ASK_LIQUID

    def _emit(self, parts: list[_Part], data: dict[str, Any], out: list[str], context: list[RenderContext]) -> bool:
        """Append the text of ``parts`` to ``out``; False to mean "ask Liquid". ``context`` holds the render's
        python-liquid context once a block needs one (one per render, as python-liquid's own)."""
        autoescape = self._autoescape
        for part in parts:
            # (exact type tests: ``isinstance(part, Node)`` is an ABC check, a few µs per output)
            if type(part) is str:
                out.append(part)
                continue
            if type(part) is _If:
                branch = cast(_If, part)
                chosen = branch.default
                for test, block in zip(branch.tests, branch.blocks, strict=True):
                    holds = self._holds(test, data)
                    if holds < 0:
                        return False
                    if holds:
                        chosen = block
                        break
                if chosen is not None and not self._emit(chosen, data, out, context):
                    return False
                continue
            if type(part) is not tuple:  # another conditional block: python-liquid renders it as in render()
                out.append(self._liquid_block(cast(Node, part), data, context))
                continue
            obj = self._evaluate(cast(_Output, part), data)
            if obj is ASK_LIQUID:
                return False
            # to_liquid_string gives text back as it is unless autoescaping
            out.append(obj if type(obj) is str and not autoescape else to_liquid_string(obj, autoescape))
        return True

    def _evaluate(self, part: _Output, data: dict[str, Any]) -> Any:
        """The value of one output, before it is made text; :data:`ASK_LIQUID` to ask Liquid. Raises what a
        filter raises (the callers ask Liquid then)."""
        get_item = self._get_item
        root, segments, filters, token, hints = part
        obj = data.get(root, _MISSING)
        if obj is _MISSING:
            return ASK_LIQUID  # python-liquid's built-ins, or undefined: its scope chain decides
        # as RenderContext.get: the first step that fails gives an undefined named after the root
        for i, seg in enumerate(segments):
            try:
                obj = _step(obj, seg, get_item)
            except (KeyError, TypeError):
                obj = _GONE if filters and filters[0][0] is _DEFAULT and self._plain_undefined else \
                    self._undefined(root, hint=hints[i], token=token)
                break
            except IndexError:
                obj = _GONE if filters and filters[0][0] is _DEFAULT and self._plain_undefined else \
                    self._undefined(root, hint="index out of range", token=token)
                break
        for func, args, kwargs in filters:
            if func is _DEFAULT:  # python-liquid's default(obj, args[0]), for the values it is given most
                if obj is _GONE or obj is None or type(obj) is str and not obj:
                    obj = args[0]
                    continue
                if type(obj) is str:
                    continue
                func = _liquid_default
            if type(obj) is range:
                return ASK_LIQUID  # python-liquid's range-guarded filters decide
            obj = func(obj, *args, **kwargs)
        return obj

    def _holds(self, test: _Test, data: dict[str, Any]) -> int:
        """1 or 0: whether an ``if``'s test holds, as python-liquid's ``is_truthy``/``_eq`` decide for the
        values data holds; -1 to ask Liquid (a built-in or undefined root, another undefined, another type)."""
        op, root, segments, literal = test
        obj = data.get(root, _MISSING)
        if obj is _MISSING:
            return -1
        get_item = self._get_item
        for seg in segments:
            try:
                obj = _step(obj, seg, get_item)
            except (KeyError, TypeError, IndexError):
                obj = _GONE
                break
        if obj is _GONE:
            if not self._plain_undefined:
                return -1
            if op == _TRUTHY:
                return 0  # an undefined is not truthy
            eq = literal is None  # an undefined equals nil only
        else:
            t = type(obj)
            if not (t is str or t is int or t is float or t is bool or obj is None or t is list or t is dict):
                return -1  # (no ``__liquid__`` among these: python-liquid takes them as they are)
            if op == _TRUTHY:
                return 0 if obj is False or obj is None else 1
            if t is bool or type(literal) is bool:  # a boolean equals only the same boolean (not 1 or 0)
                eq = t is bool and type(literal) is bool and obj == literal
            else:
                eq = bool(obj == literal)
        return 1 if eq == (op == _EQ) else 0

    def _liquid_block(self, node: Node, data: dict[str, Any], context: list[RenderContext]) -> str:
        """A conditional block rendered by python-liquid's own node, in a render context set up as render()
        sets it up."""
        tpl = self._tpl
        if not context:
            context.append(tpl.context_class(tpl, globals=tpl.make_globals(data)))
        buf = LimitedStringIO(self._limit) if self._limit is not None else StringIO()
        with context[0].extend(namespace=tpl.make_partial_namespace(False, {})):
            node.render(context[0], buf)
        return buf.getvalue()


def fast_form(tpl: BoundTemplate) -> FastTemplate | None:
    """The text-and-output form of ``tpl``, or None when python-liquid must render it."""
    env = tpl.env
    if env.globals or tpl.globals or tpl.matter:
        return None  # a root could then come from them: python-liquid's scope chain decides
    ctx = RenderContext(tpl)
    parts: list[_Part] = []
    for node in tpl.nodes:
        if type(node) is ContentNode:
            parts.append(node.text)
            continue
        if type(node) in _CONDITIONALS:
            branch = _fast_if(node, env, ctx)
            if branch is not None:
                parts.append(branch)
                continue
            if _only_conditionals(node, ctx):
                parts.append(node)
                continue
            return None
        output = _fast_output(node, env, ctx) if type(node) is OutputNode else None
        if output is None:
            return None
        parts.append(output)
    return FastTemplate(parts, tpl)


def _simple_path(expr: object) -> tuple[str, tuple[str | int, ...]] | None:
    """A path's root and segments if it is a plain one (text and integer segments, not ``partial``)."""
    if type(expr) is not Path:
        return None
    path = expr.path
    if not path or type(path[0]) is not str or any(type(s) not in (str, int) for s in path[1:]):
        return None
    if path[0] == "partial":
        return None  # python-liquid's render puts ``partial`` in front of the data
    return path[0], cast(tuple[str | int, ...], tuple(path[1:]))


def _fast_output(node: OutputNode, env: Environment, ctx: RenderContext) -> _Output | None:
    """``{{ path | filter: literal ... }}`` in its quick form, or None."""
    expr = node.expression
    if type(expr) is not FilteredExpression:
        return None
    path = _simple_path(expr.left)
    if path is None:
        return None
    filters = []
    for f in expr.filters or ():
        func = env.filters.get(f.name)
        if func is None or getattr(func, "with_context", False) or getattr(func, "with_environment", False):
            return None
        # a filter the environment wraps in a range guard (templates._Guarded), called without the
        # wrapper: a literal argument is never a range and render() leaves a range in the data to Liquid
        func = getattr(func, "unguarded", func)
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for arg in f.args:
            if type(arg) not in (PositionalArgument, KeywordArgument) or type(arg.value) not in _LITERALS:
                return None
            name, value = arg.evaluate(ctx)
            if name:
                kwargs[name] = value
            else:
                args.append(value)
        filters.append((_DEFAULT if func is _liquid_default and len(args) == 1 and not kwargs else func,
                        tuple(args), kwargs))
    return _output(path[0], path[1], tuple(filters), expr.left.token)


def _fast_if(node: Node, env: Environment, ctx: RenderContext) -> _If | None:
    """An ``if``/``elsif``/``else`` of plain tests over text, outputs and such blocks, or None.

    Why: python-liquid's render context for one block was ~12,000 instructions of a send (the send-heavy
    journeys' welcome e-mail, callgrind 2026-12-02). A block python-liquid would output as blank
    (whitespace only) is left to it.
    """
    if type(node) is not IfNode or node.blank:
        return None
    branches = [(node.condition, node.consequence)]
    for alt in node.alternatives:
        if alt.block.blank:
            return None  # python-liquid suppresses it (its own ``blank``, not the tag's)
        branches.append((alt.expression, alt.block))
    tests: list[_Test] = []
    blocks: list[list[_Part]] = []
    for cond, block in branches:
        test = _fast_test(cond, ctx)
        parts = _block_parts(block, env, ctx)
        if test is None or parts is None:
            return None
        tests.append(test)
        blocks.append(parts)
    default = None
    if node.default is not None:
        default = _block_parts(node.default, env, ctx)
        if default is None:
            return None
    return _If(tests, blocks, default)


def _fast_test(cond: object, ctx: RenderContext) -> _Test | None:
    """``path``, ``path == literal`` or ``path != literal`` (either side), or None."""
    if type(cond) is not BooleanExpression:
        return None
    expr = cond.expression
    if type(expr) is Path:
        path = _simple_path(expr)
        return None if path is None else (_TRUTHY, path[0], path[1], None)
    if type(expr) is not EqExpression and type(expr) is not NeExpression:
        return None
    left, right = expr.left, expr.right  # equality is symmetric for these values: the path first
    if type(left) is not Path:
        left, right = right, left
    path = _simple_path(left)
    if path is None or type(right) not in _LITERALS:
        return None
    return (_EQ if type(expr) is EqExpression else _NE), path[0], path[1], right.evaluate(ctx)


def _block_parts(block: BlockNode, env: Environment, ctx: RenderContext) -> list[_Part] | None:
    parts: list[_Part] = []
    for node in block.nodes:
        if type(node) is ContentNode:
            parts.append(node.text)
            continue
        part: _Part | None = _fast_output(node, env, ctx) if type(node) is OutputNode else _fast_if(node, env, ctx)
        if part is None:
            return None
        parts.append(part)
    return parts


def _only_conditionals(node: Node, ctx: RenderContext) -> bool:
    """Whether ``node`` and everything in it is a conditional block, text, an output or a comment."""
    return type(node) in _INSIDE and all(_only_conditionals(c, ctx) for c in node.children(ctx, include_partials=False))
