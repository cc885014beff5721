"""Message content templates: Liquid (python-liquid), compiled once at load, rendered at decision time.

Liquid is sandboxed by design (no attribute access on Python objects, no code), which is what a
journey author's templates need; a missing variable renders as empty text.

Templates also get hostile data (event properties, traits) and may be written carelessly, so a render
has resource limits: at most :data:`MAX_LOOP_ITERATIONS` loop iterations, :data:`MAX_OUTPUT_CHARS` of
output (and as much in ``assign``/``capture`` variables), and no filter applied to a range longer than
the loop limit (``(1..1000000000) | join`` would otherwise build a gigabyte string before any output
limit could see it). A render that breaks a limit, or fails in any other way, raises
:class:`RenderError`: the engine records that one send as skipped (``render_error``) and carries on.

A render never reads the wall clock: python-liquid resolves ``now`` and ``today`` through its built-ins
(``datetime.now()``, ``date.today()``) when the data lacks them, so a simulation, a replay and a live
worker would write other text on other days. ``now`` is the decision time the engine passes; ``today``
is its UTC date (:func:`_with_clock`, only for templates that name either).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from io import StringIO
from typing import Any, Final

import orjson
from dateutil.parser import parse as _parse_date
from liquid import Environment, RenderContext, Undefined
from liquid.builtin.expressions import Path as _LiquidPath
from liquid.builtin.expressions import StringLiteral
from liquid.builtin.expressions.arguments import PositionalArgument
from liquid.builtin.filters.misc import date as _liquid_date
from liquid.builtin.output import OutputNode
from liquid.builtin.tags.assign_tag import AssignNode
from liquid.builtin.tags.include_tag import IncludeNode
from liquid.builtin.tags.render_tag import RenderNode
from liquid.exceptions import FilterArgumentError, LiquidError, ResourceLimitError, UnknownFilterError
from liquid.stringify import to_liquid_string

from cjo_stream.journeys.date_filters import date_filter_problem
from cjo_stream.journeys.decision_time import DecisionTime
from cjo_stream.journeys.expressions import FUNCTIONS, ZONE
from cjo_stream.journeys.fastliquid import ASK_LIQUID, FastTemplate, fast_form
from cjo_stream.journeys.filter_arity import argument_problem, arity_problem
from cjo_stream.journeys.liquid_hints import django_date, hint
from cjo_stream.journeys.slack_text import slack_escape
from cjo_stream.zones import zone

#: Loop iterations per render (all loops together), and the longest range a filter may take.
MAX_LOOP_ITERATIONS: Final = 10_000
#: Characters one template may render (and keep in its local variables). A content field is a subject
#: line or an e-mail body; 128 Ki characters keeps a whole command well under Kafka's 1 MiB record.
MAX_OUTPUT_CHARS: Final = 128 * 1024
#: Characters all content fields of one send may render together.
MAX_CONTENT_CHARS: Final = 256 * 1024


class RangeLimitError(ResourceLimitError):
    """A filter was given a range longer than :data:`MAX_LOOP_ITERATIONS`."""


class _Guarded:
    """A filter that refuses over-long ranges (as input or argument); everything else is delegated."""

    __slots__ = ("_f", "with_context", "with_environment", "unguarded")

    def __init__(self, f: Any) -> None:
        self._f = f
        # the filter itself, for fastliquid's outputs: a plain path over data and literal arguments, they
        # can hold no range (it falls back to python-liquid for a range in the data)
        self.unguarded = f
        # read on every filter call by python-liquid: answered here, not by a failed lookup on ``f``
        self.with_context = getattr(f, "with_context", False)
        self.with_environment = getattr(f, "with_environment", False)

    def __getattr__(self, name: str) -> Any:  # validate, filter_async
        return getattr(self._f, name)

    def __call__(self, left: Any, *args: Any, **kwargs: Any) -> Any:
        # (called per filter per render: the arguments, mostly none or literals, are only walked if any)
        if type(left) is range:
            self._check(left)
        if args:
            for v in args:
                if type(v) is range:
                    self._check(v)
        return self._f(left, *args, **kwargs)

    @staticmethod
    def _check(v: range) -> None:
        if len(v) > MAX_LOOP_ITERATIONS:
            raise RangeLimitError(f"a range of {len(v)} items is longer than {MAX_LOOP_ITERATIONS}", token=None)


class OutputLimitError(ResourceLimitError):
    """A filter's result would be longer than :data:`MAX_OUTPUT_CHARS` (refused before it is built)."""


class _Replace:
    """``replace``, refusing a result over :data:`MAX_OUTPUT_CHARS` before building it: the output limit is
    checked on what a template writes, after a filter made its value, and ``{{ event.properties.s | replace:
    'a', event.properties.s }}`` grows with the square of the data (60 KB of it took 3.5 GB and a
    MemoryError: a worker OOM-killed on the same record again and again; a security review)."""

    __slots__ = ("_f",)

    def __init__(self, f: Any) -> None:
        self._f = f

    def __call__(self, left: Any, seq: Any = "", sub: Any = "", *args: Any, **kwargs: Any) -> Any:
        if isinstance(left, str) and isinstance(sub, str) and len(sub) > 1:
            old = seq if isinstance(seq, str) else str(seq)
            n = left.count(old) if old else len(left) + 1
            if len(left) + n * (len(sub) - len(old)) > MAX_OUTPUT_CHARS:
                raise OutputLimitError(f"replace would make more than {MAX_OUTPUT_CHARS} characters", token=None)
        return self._f(left, seq, sub, *args, **kwargs)


def _json(value: Any) -> str:
    """``{{ profile.traits | json }}``: compact JSON (e.g. a webhook body). Ours, not python-liquid's extra
    ``json``, whose ``indent`` argument could come from data and build a huge string before any limit."""
    if isinstance(value, Undefined):
        return "null"
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


class _Numeric:
    """``plus``, ``minus``, ``times``, ``modulo`` given ``now`` (:class:`DecisionTime`) as the number it
    is: python-liquid computes them on ``Decimal(str(x))``, and ``str`` of ``now`` is its RFC 3339 text."""

    __slots__ = ("_f",)

    def __init__(self, f: Any) -> None:
        self._f = f

    def __call__(self, left: Any, *args: Any, **kwargs: Any) -> Any:
        if type(left) is DecisionTime:
            left = float(left)
        if args and any(type(v) is DecisionTime for v in args):
            args = tuple(float(v) if type(v) is DecisionTime else v for v in args)
        return self._f(left, *args, **kwargs)


class _Date:
    """``{{ profile.last.order_completed | date: '%d %b' }}``: Liquid's ``date``, made deterministic. Its own
    refused a float (every time a journey sees is epoch seconds as a float: ``now``, ``profile.first_seen``,
    ``profile.last.*``: a render_error for every customer), read an epoch in the host's time zone and
    ``'now'`` on the wall clock, so a replay or a worker in another zone wrote other text. Here epoch
    seconds (int, float or digits) are UTC and ``'now'``/``'today'`` is the decision time (``now``);
    other text (``event.timestamp``) is parsed as python-liquid parses it."""

    with_context = True
    arity = (1, 1)  # the format (compiled, its signature cannot be read: journeys.filter_arity)

    def __call__(self, value: Any, fmt: Any, *, context: Any) -> Any:
        value = _moment(value, context, "date")
        if type(value) is datetime and type(fmt) is str:
            # written here: python-liquid's date reads its input through an lru_cache keyed by the value, and
            # two aware datetimes of one instant are equal, so 22:00 in Tokyo came out as a cached 00:00 in
            # Lord Howe (time_zone's results, or RFC 3339 texts with other offsets)
            with contextlib.suppress(ValueError):  # (a directive strftime refuses: python-liquid's answer)
                return value.strftime(fmt)
        return _liquid_date(value, fmt, environment=_env)


def _moment(value: Any, context: Any, name: str) -> Any:
    """A time as ``date`` reads it: epoch seconds (int, float or digits) in UTC, ``'now'``/``'today'`` the decision
    time, other text parsed as python-liquid parses it (a datetime when it can; else the value as it was)."""
    if isinstance(value, str) and value in ("now", "today"):
        now = context.globals.get("now")
        value = now if isinstance(now, (int, float)) and not isinstance(now, bool) else None
    elif isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            value = datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return str(value)  # as python-liquid answers an epoch it cannot read
    elif value is None:
        value = Undefined(name)
    elif isinstance(value, str):
        # what the text leaves out (a bare "10:00") comes from the decision time, not the wall clock:
        # dateutil filled in today's date, so a replay of 2020 wrote 2026 (a security review)
        now = context.globals.get("now")
        if isinstance(now, (int, float)) and not isinstance(now, bool):
            with contextlib.suppress(ValueError, OverflowError, OSError):
                day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
                value = _parse_date(value, default=day.replace(tzinfo=None))
    return value


class _TimeZone:
    """``{{ now | time_zone: profile.timezone | date: '%H:%M' }}``: a time on a zone's clock, as Braze's
    ``time_zone`` filter (``date`` alone writes UTC, so "your slot at 14:00" was the customer's 15:00): the
    times ``date`` reads, made a time in ``zone`` (an IANA name), which ``date`` then writes there. A customer
    without a zone (``profile.timezone`` nil) or a name no zone has fails the render, saying so: give a
    default (``{% assign tz = profile.timezone | default: 'Europe/Berlin' %}``)."""

    with_context = True
    arity = (1, 1)  # the zone (compiled, its signature cannot be read: journeys.filter_arity)

    def __call__(self, value: Any, name: Any, *, context: Any) -> Any:
        tz = zone(name) if isinstance(name, str) and name else None
        if tz is None:
            why = "no zone (nil: the customer has none; give a default)" if not isinstance(name, str) or not name \
                else f"unknown zone {name[:40]!r}: use an IANA name, e.g. 'Europe/Berlin'"
            raise FilterArgumentError(f"time_zone: {why}", token=None)
        moment = _moment(value, context, "time_zone")
        if not isinstance(moment, datetime):
            return moment
        return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).astimezone(tz)


class _Calendar:
    """``{{ profile.traits.trial_ends_at | days_until }}``: the expression functions of the same names
    (``days_until``, ``days_until_anniversary``, ``days_since``, ``hours_since``: README, Date-based journeys) as
    filters, so a mail says "your trial ends in 3 days" on the day the journey's condition counted 3, in the
    customer's calendar (the engine gives a template using one the customer's zone, as it gives a condition:
    :attr:`Template.calendar`). What is no time renders as nil (empty; ``| default: 'soon'``)."""

    with_context = True
    arity = (0, 0)  # (compiled, its signature cannot be read: journeys.filter_arity)

    def __init__(self, name: str) -> None:
        self.function = FUNCTIONS[name][1]

    def __call__(self, value: Any, *, context: Any) -> Any:
        return self.function({"now": context.globals.get("now"), ZONE: context.globals.get(ZONE)}, value)


#: the filters that read the customer's calendar or clock (:class:`_Calendar`)
CALENDAR_FILTERS: Final = ("days_until", "days_until_anniversary", "days_since", "hours_since")


def _utc_date(now: Any) -> Any:
    """``today``: the UTC date of the decision time ``now`` (undefined without one)."""
    if isinstance(now, (int, float)) and not isinstance(now, bool):
        try:
            return datetime.fromtimestamp(now, UTC).date()
        except (OverflowError, OSError, ValueError):
            pass
    return _env.undefined("today")


#: what :attr:`Template._clock` says a template names
_NOW: Final = 1
_TODAY: Final = 2
_NOTHING: Final = object()


def _with_clock(data: dict[str, Any], clock: int) -> dict[str, Any]:
    """``data`` with what a template naming ``now``/``today`` (``clock``) needs so that python-liquid never
    answers them from the wall clock: ``today`` from ``now``, and an undefined ``now`` when it is absent.
    The data's own values win."""
    now = data.get("now", _NOTHING)
    today = bool(clock & _TODAY) and "today" not in data
    if now is not _NOTHING and not today:
        return data  # (a send's `{{ now }}`: nothing to add, nothing copied)
    out = dict(data)
    if now is _NOTHING:
        out["now"] = _env.undefined("now")
    if today:
        out["today"] = _utc_date(now)
    return out


class _LimitedEnvironment(Environment):
    loop_iteration_limit = MAX_LOOP_ITERATIONS
    output_stream_limit = MAX_OUTPUT_CHARS
    local_namespace_limit = MAX_OUTPUT_CHARS

    def setup_tags_and_filters(self, *, extra: bool = False) -> None:
        super().setup_tags_and_filters(extra=extra)
        self.filters["json"] = _json
        self.filters["slack_escape"] = slack_escape  # (journeys.slack_text: Slack's markup, not HTML's)
        self.filters["date"] = _Date()
        self.filters["time_zone"] = _TimeZone()
        for name in CALENDAR_FILTERS:
            self.filters[name] = _Calendar(name)
        for name in ("plus", "minus", "times", "modulo"):
            self.filters[name] = _Numeric(self.filters[name])
        self.filters["replace"] = _Replace(self.filters["replace"])
        self.filters = {name: _Guarded(f) for name, f in self.filters.items()}


_env = _LimitedEnvironment()


class TemplateError(ValueError):
    """A template that does not compile; ``index`` is where in the template text (0 when unknown), which the
    loader turns into a line of the journey file."""

    def __init__(self, reason: str, index: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.index = index


class RenderError(ValueError):
    """A render that failed (a resource limit, a filter given unusable data); ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _first_line(e: BaseException) -> str:
    text = str(e)
    return text.splitlines()[0] if text else type(e).__name__


def _refused(e: LiquidError) -> TemplateError:
    token = getattr(e, "token", None)
    index = token.start_index if token is not None and hasattr(token, "start_index") else 0
    source = getattr(token, "source", None) if token is not None else None
    return TemplateError(hint(f"template: {_first_line(e)}", _env.filters,
                              source if isinstance(source, str) else "", index), index)


def _reads_data(tpl: Any) -> bool:
    """Whether the template names any variable (False too when it cannot be analysed: an include)."""
    try:
        return any(tpl.global_variable_segments())
    except LiquidError:
        return False


def _reads_path(expression: Any) -> bool:
    """Whether an expression names any variable (data, or a loop's or ``assign``'s local)."""
    if isinstance(expression, _LiquidPath):
        return True
    return any(_reads_path(c) for c in expression.children())


def _filter_problem(expression: Any, context: Any) -> str | None:
    """The first filter an expression names that the environment lacks, or gives arguments it cannot take
    (too many, too few, or constants it refuses whatever the data), wherever it sits."""
    if (problem := date_filter_problem(expression)) is not None:  # `profile.counters.x | days_since`
        return problem
    for attr in ("filters", "tail_filters"):
        for f in getattr(expression, attr, None) or ():
            func = _env.filters.get(f.name)
            if func is None:
                return f"unknown filter {f.name!r}"
            if (problem := arity_problem(str(f.name), func, list(f.args))) is not None:
                return problem
            if (problem := argument_problem(str(f.name), list(f.args), context)) is not None:
                return problem
            if f.name == "date" and (problem := _date_format_problem(list(f.args))) is not None:
                return problem
    for child in expression.children():
        if (problem := _filter_problem(child, context)) is not None:
            return problem
    return None


def _date_format_problem(args: list[Any]) -> str | None:
    """:func:`django_date` for a ``date`` filter's constant format (one from data is the render's)."""
    if len(args) != 1 or type(args[0]) is not PositionalArgument or type(args[0].value) is not StringLiteral:
        return None
    return django_date(str(args[0].value.value))


def _walk(tpl: Any) -> Any:
    """Every node of a template, nested ones too (not into partials)."""
    context = RenderContext(tpl)

    def walk(nodes: Any) -> Any:
        for node in nodes:
            yield node
            yield from walk(node.children(context, include_partials=False))

    return walk(tpl.nodes)


def _refuse_partials(tpl: Any) -> None:
    """Refuse ``{% render %}`` and ``{% include %}`` at their line: journeys have no template loader, and the
    render then failed with the partial's bare name ("template: footer")."""
    for node in _walk(tpl):
        if isinstance(node, (RenderNode, IncludeNode)):
            raise TemplateError("template: partial templates ({% render %}, {% include %}) are not supported in "
                                "journey content (there is no template loader): write the text in place",
                                node.token.start_index)


def _check_nodes(tpl: Any) -> None:
    """Refuse, at their line, what fails whatever the data: an unknown filter, or one given arguments it
    cannot take, anywhere (also in a branch
    the empty-data render above does not take, or an ``assign``), and an output, ``echo`` or ``assign`` that
    fails on constants alone (``{{ 5 | divided_by: 0 }}``) where the rest of the template reads data. The whole-template
    render misses both, and the send then failed for every customer (``render_error``) instead of at load."""
    context = RenderContext(tpl)
    for node in _walk(tpl):
        at = node.token.start_index
        for expression in node.expressions():
            if (problem := _filter_problem(expression, context)) is not None:
                raise TemplateError(hint(f"template: {problem}", _env.filters), at)
        # an output, `{% echo %}` (an OutputNode too: its token is the tag's name, rendering that said
        # nothing) or an `assign`: rendered alone, on a context of its own
        if not isinstance(node, (OutputNode, AssignNode)) or _reads_path(node.expression):
            continue
        try:
            node.render(RenderContext(tpl), StringIO())
        except LiquidError as e:
            raise TemplateError(f"template: {_first_line(e)}", at) from None


def _filter_names(expression: Any) -> Any:
    """The names of the filters an expression applies, wherever they sit."""
    for attr in ("filters", "tail_filters"):
        for f in getattr(expression, attr, None) or ():
            yield str(f.name)
    for child in expression.children():
        yield from _filter_names(child)


def _reads_calendar(tpl: Any) -> bool:
    """Whether any of the template's filters is one of :data:`CALENDAR_FILTERS`."""
    return any(name in CALENDAR_FILTERS for node in _walk(tpl) for e in node.expressions()
               for name in _filter_names(e))


def _lone_output(tpl: Any) -> Any:
    """The expression of a template that is one ``{{ }}`` output and nothing else, or None. Text around it, even
    a space or a line break, is text the author wrote (``" {{ x }}"`` renders `` 150``); Liquid's whitespace
    control (``{{- x -}}``) removes it, and what is left is the output alone. A tag is not an output (``{% echo
    %}`` neither: the lone form is the one everyone writes)."""
    nodes = tpl.nodes
    if len(nodes) == 1 and type(nodes[0]) is OutputNode:
        return nodes[0].expression
    return None


def _render_error(e: Exception) -> RenderError:
    """A failed render's :class:`RenderError`: a resource limit, Liquid's first line, else only the error's type
    (its message may quote data)."""
    if isinstance(e, ResourceLimitError):
        return RenderError(f"limit: {_first_line(e)}")
    if isinstance(e, LiquidError):
        return RenderError(f"liquid: {_first_line(e)[:160]}")
    return RenderError(f"error: {type(e).__name__}")


class Template:
    """A compiled content template. Plain text without ``{{``/``{%`` skips Liquid at render time; text
    with outputs only renders through :mod:`cjo_stream.journeys.fastliquid` (the same result, quicker)."""

    __slots__ = ("source", "_tpl", "_fast", "_clock", "_lone", "calendar")

    def __init__(self, source: str) -> None:
        self.source = source
        self._tpl = None
        self._fast: FastTemplate | None = None
        self._lone: Any = None  # the expression of a lone output (:meth:`value`)
        self._clock = 0  # _NOW | _TODAY: the clock names it reads (both when it cannot be told)
        #: whether a filter reads the customer's calendar (``| days_until``): the engine then gives it their zone
        self.calendar = False
        if "{{" in source or "{%" in source:
            try:
                tpl = _env.from_string(source)
            except LiquidError as e:
                raise _refused(e) from None
            _refuse_partials(tpl)
            _check_nodes(tpl)  # first: its reasons are ours, the render's below python-liquid's
            # Unknown filters, and limits a constant breaks, are only found when rendering: render once with
            # empty data to catch them. Another failure there is refused only when the template reads no data:
            # `divided_by: event.properties.count` fails on empty data yet is right (decided on real data, a
            # failing render skips that one send, `render_error`).
            try:
                tpl.render(event={}, profile={}, journey={})
            except (UnknownFilterError, ResourceLimitError) as e:
                raise _refused(e) from None
            except LiquidError as e:
                if not _reads_data(tpl):
                    raise _refused(e) from None
            self._tpl = tpl
            self._fast = fast_form(tpl)
            self._lone = _lone_output(tpl)
            self.calendar = _reads_calendar(tpl)
            roots = self.roots()
            if roots is None:
                self._clock = _NOW | _TODAY
            else:
                self._clock = (_NOW if "now" in roots else 0) | (_TODAY if "today" in roots else 0)

    def paths(self, root: str) -> list[tuple[Any, ...]]:
        """The paths below ``root`` this template reads (a non-text key, e.g. ``x[y]``, as ``None``)."""
        if self._tpl is None:
            return []
        out: list[tuple[Any, ...]] = []
        for segs in self._tpl.global_variable_segments():
            if segs and segs[0] == root:
                out.append(tuple(k if isinstance(k, (str, int)) else None for k in segs[1:]))
        return out

    def index_of(self, root: str, keys: tuple[Any, ...] | None = None) -> int:
        """Where in the template text ``root`` is first read, followed by ``keys`` when given (as :meth:`paths`
        gives them; 0 when unknown): a refused name is reported where it is, not where the field starts."""
        if self._tpl is None:
            return 0
        try:
            found = self._tpl.analyze().globals.get(root, [])
        except LiquidError:
            return 0
        for var in found:
            segs = var.segments
            if keys is None or tuple(k if isinstance(k, (str, int)) else None for k in segs[1:]) == keys:
                return int(var.span.index)
        return 0

    def nodes(self) -> list[Any]:
        """Every parsed Liquid node of the template, nested ones too, in order (none for plain text): for checks
        of how data is written (:mod:`cjo_stream.journeys.markup_warnings`)."""
        return [] if self._tpl is None else list(_walk(self._tpl))

    def roots(self) -> frozenset[str] | None:
        """The context keys this template reads (``event``, ``profile``, ...), or None when a path starts
        with a computed key (``{{ [x].y }}``): then it may read any."""
        if self._tpl is None:
            return frozenset()
        out: set[str] = set()
        for segs in self._tpl.global_variable_segments():
            if not segs or type(segs[0]) is not str:
                return None
            out.add(segs[0])
        return frozenset(out)

    def render(self, data: dict[str, Any]) -> str:
        """The rendered text, or :class:`RenderError` (never another exception) when it cannot be made."""
        if self._tpl is None:
            return self.source
        if self._clock:
            data = _with_clock(data, self._clock)
        if self._fast is not None:
            text = self._fast.render(data)
            if text is not None:
                return text
        try:
            return str(self._tpl.render(**data))
        except Exception as e:  # noqa: BLE001 - a template on hostile data must fail its send, not the partition
            raise _render_error(e) from None

    @property
    def lone(self) -> bool:
        """Whether the template is one ``{{ }}`` output and nothing else, whose :meth:`value` keeps its type."""
        return self._lone is not None

    def value(self, data: dict[str, Any]) -> Any:
        """What an ``update`` step stores: for a lone output (``"{{ event.properties.total }}"``), its value with
        its type, as Jinja2's NativeEnvironment gives it: an int, a float, a boolean or text as it is, and None
        for nil or undefined (the trait is removed, as ``null`` does); another value (a list, a mapping, ``now``)
        as the text it renders, and any other template's rendered text. The range of a number is the caller's
        to check (a filter can make any: ``times``). :class:`RenderError` as :meth:`render`."""
        expr = self._lone
        if expr is None:
            return self.render(data)
        if self._clock:
            data = _with_clock(data, self._clock)
        got: Any = ASK_LIQUID
        if self._fast is not None:
            got = self._fast.value(data)
        if got is ASK_LIQUID:
            tpl = self._tpl
            assert tpl is not None
            try:  # as python-liquid's render evaluates an output (BoundTemplate.render, OutputNode)
                context = tpl.context_class(tpl, globals=tpl.make_globals(data))
                with context.extend(namespace=tpl.make_partial_namespace(False, {})):
                    got = expr.evaluate(context)
            except Exception as e:  # noqa: BLE001 - as render's
                raise _render_error(e) from None
        t = type(got)
        if t is int or t is float or t is bool:
            return got
        if got is None or isinstance(got, Undefined):
            return None
        text = got if t is str else to_liquid_string(got, _env.autoescape)
        if len(text) * 4 > MAX_OUTPUT_CHARS and len(text.encode("utf-8")) > MAX_OUTPUT_CHARS:
            raise RenderError("limit: output stream limit reached")  # as render's output
        return text


def render_content(fields: tuple[tuple[str, Template], ...], data: dict[str, Any]) -> dict[str, str]:
    """Render every content field of one send; :class:`RenderError` if one fails or all are too long."""
    out = {k: t.render(data) for k, t in fields}
    total = sum(len(v) for v in out.values())
    if total > MAX_CONTENT_CHARS:
        raise RenderError(f"limit: content renders to {total} characters; at most {MAX_CONTENT_CHARS} per send")
    return out
