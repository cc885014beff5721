"""The journey expression language: values, operators, functions, errors and escape attempts."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cjo_stream.journeys.expressions import (
    FUNCTIONS,
    MAX_DEPTH,
    MAX_LENGTH,
    Expression,
    ExpressionError,
    compile_expression,
    truthy,
)

NOW = 1_772_445_600.0  # 2026-03-02T10:00:00Z

CTX: dict[str, Any] = {
    "event": {
        "event": "order_completed",
        "timestamp": "2026-03-01T10:00:00.000Z",
        "properties": {"cart_value": 25, "price": 9.5, "sku": "SKU-1", "items": ["a", "b", 3], "coupon": None,
                       "tags": {"x": 1}, "empty": [], "zero": 0},
    },
    "profile": {"traits": {"vip": True, "first name": "Ada", "email": "ada@example.com", "score": 1},
                "counters": {"order_completed": 4}, "last": {"order_completed": int(NOW) - 2 * 86400}},
    "journey": {"id": "welcome", "version": 3},
    "now": NOW,
}


def ev(source: str, ctx: Mapping[str, Any] | None = None) -> Any:
    return compile_expression(source)(CTX if ctx is None else ctx)


def error(source: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        compile_expression(source)
    return info.value


# --------------------------------------------------------------------------------------------- literals
@pytest.mark.parametrize(("source", "expected"), [
    ("0", 0),
    ("42", 42),
    ("1.5", 1.5),
    ("2e3", 2000.0),
    ("1.5E-1", 0.15),
    ("'text'", "text"),
    ('"text"', "text"),
    ("''", ""),
    (r"'it\'s'", "it's"),
    (r'"say \"hi\""', 'say "hi"'),
    (r"'back\\slash'", "back\\slash"),
    (r"'tab\there'", "tab\there"),
    ("'a \"mixed\" one'", 'a "mixed" one'),
    ("true", True),
    ("false", False),
    ("null", None),
    ("[]", []),
    ("[1, 'a', null, true]", [1, "a", None, True]),
    ("[[1, 2], [3]]", [[1, 2], [3]]),
    ("[1, 2,]", [1, 2]),
    ("[event.properties.cart_value, 1 + 1]", [25, 2]),
    ("  7  ", 7),
])
def test_literals(source: str, expected: Any) -> None:
    value = ev(source)
    assert value == expected
    assert type(value) is type(expected)


def test_constant_lists_are_fresh_each_time() -> None:
    e = compile_expression("[[1], 2]")
    first = e(CTX)
    first[0].append("mutated")
    first.append("mutated")
    assert e(CTX) == [[1], 2]


@pytest.mark.parametrize("source", ["True", "False", "None", "NULL"])
def test_only_lowercase_constants(source: str) -> None:
    err = error(source)
    assert err.column == 1
    assert f"unknown name {source!r}" in err.reason
    assert "did you mean" in err.reason


# ------------------------------------------------------------------------------------------- precedence
@pytest.mark.parametrize(("source", "expected"), [
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("10 - 2 - 3", 5),
    ("12 / 2 / 3", 2.0),
    ("2 * 3 % 4", 2),
    ("-2 * 3", -6),
    ("-(2 + 3)", -5),
    ("- -4", 4),
    ("1 + 2 == 3", True),
    ("1 + 1 in [2]", True),
    ("not 1 == 2", True),
    ("not true and false", False),
    ("not (true and false)", True),
    ("true or false and false", True),
    ("(true or false) and false", False),
    ("false and true or true", True),
    ("not not 1", True),
    ("-event.properties.cart_value", -25),
    ("event.properties.cart_value * 2 >= 50 and profile.traits.vip", True),
    ("1 < 2 == true", None),  # chained comparisons are refused, see test_compile_errors
])
def test_precedence(source: str, expected: Any) -> None:
    if expected is None:
        assert error(source).reason.startswith("comparisons cannot be chained")
        return
    value = ev(source)
    assert value == expected
    assert type(value) is type(expected)


# -------------------------------------------------------------------------------------------- operators
@pytest.mark.parametrize(("source", "expected"), [
    ("1 == 1", True), ("1 == 1.0", True), ("1 == 2", False), ("'a' == 'a'", True), ("'a' == 'b'", False),
    ("null == null", True), ("null == false", False), ("0 == false", False), ("1 == true", False),
    ("true == 1", False), ("true == true", True), ("[1, 'a'] == [1, 'a']", True), ("[1] == [true]", False),
    ("[1] == [1.0]", True), ("'1' == 1", False), ("event.properties.tags == event.properties.tags", True),
    ("1 != 2", True), ("1 != 1.0", False), ("null != 0", True), ("true != 1", True), ("'a' != 'a'", False),
    ("1 < 2", True), ("2 < 1", False), ("1 <= 1", True), ("2 <= 1", False),
    ("2 > 1", True), ("1 > 2", False), ("1 >= 1", True), ("0.5 >= 1", False),
    ("'a' < 'b'", True), ("'b' <= 'a'", False), ("1.5 > 1", True),
    ("1 + 2", 3), ("1.5 + 1", 2.5), ("'ab' + 'cd'", "abcd"), ("5 - 7", -2), ("3 * 4", 12), ("2.5 * 2", 5.0),
    ("7 / 2", 3.5), ("6 / 3", 2.0), ("7 % 3", 1), ("-7 % 3", 2), ("7.5 % 2", 1.5), ("-(3)", -3), ("-1.5", -1.5),
    ("true and true", True), ("true and 0", False), ("1 and 'x'", True), ("false or 0", False),
    ("0 or 'x'", True), ("not 0", True), ("not 'x'", False), ("not []", True), ("not null", True),
    ("event.properties.sku", "SKU-1"), ("profile.traits['first name']", "Ada"), ("event.properties.items[0]", "a"),
    ("event.properties.items[-1]", 3), ("event['properties']['cart_value']", 25),
    ("[10, 20, 30][1]", 20), ("(event.properties).sku", "SKU-1"), ("journey.version", 3), ("now", NOW),
])
def test_operators(source: str, expected: Any) -> None:
    value = ev(source)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize("source", [
    "event.properties.cart_value > 10 and event.properties.cart_value",
    "event.properties.zero or event.properties.sku",
    "profile.traits.vip and profile.traits.email and profile.traits.score and journey.id",
    "event.properties.zero or event.properties.empty or event.properties.coupon or journey.version",
])
def test_and_or_return_booleans(source: str) -> None:
    assert ev(source) is True


@pytest.mark.parametrize(("source", "expected"), [
    ("'ell' in 'hello'", True), ("'z' in 'hello'", False), ("1 in 'hello'", False), ("'' in 'x'", True),
    ("'a' in ['a', 'b']", True), ("'c' in ['a', 'b']", False), ("3 in event.properties.items", True),
    ("3.0 in [1, 2, 3]", True), ("true in [1]", False), ("1 in [true]", False), ("null in [null]", True),
    ("[1] in [[1], [2]]", True), ("'x' in event.properties.tags", True), ("'y' in event.properties.tags", False),
    ("1 in event.properties.tags", False), ("[1] in event.properties.tags", False), ("'a' in null", False),
    ("'a' in 5", False), ("'a' in event.missing", False), ("event.event in ['order_completed', 'x']", True),
    ("'b' in event.properties.items", True),
    ("'a' not in ['a', 'b']", False), ("'c' not in ['a', 'b']", True), ("'z' not in 'hello'", True),
    ("'x' not in event.properties.tags", False), ("'a' not in null", True), ("not 'a' in ['a']", False),
])
def test_in_and_not_in(source: str, expected: bool) -> None:
    assert ev(source) is expected


def test_in_over_tuples_sets_and_mappings_from_the_context() -> None:
    ctx = {"event": {"t": ("a", 1), "s": {"a", 2}, "f": frozenset({"b"}), "m": {"k": None}}}
    assert ev("'a' in event.t and 1 in event.t and 'a' in event.s and 2 in event.s", ctx) is True
    assert ev("'b' in event.f and 'k' in event.m and not ('z' in event.m)", ctx) is True
    assert ev("true in event.s or [1] in event.s or [1] in event.m", ctx) is False


# -------------------------------------------------------------------------------------------- functions
@pytest.mark.parametrize(("source", "expected"), [
    ("len('abc')", 3), ("len([1, 2])", 2), ("len(event.properties.tags)", 1), ("len(null)", 0),
    ("len(event.missing)", 0), ("len(event.properties.cart_value)", None), ("len(event.properties.items)", 3),
    ("lower('AbC')", "abc"), ("lower(null)", None), ("lower(5)", None), ("upper('AbC')", "ABC"), ("upper([])", None),
    ("lower(event.properties.sku) == 'sku-1'", True),
    ("contains('hello', 'ell')", True), ("contains(['a'], 'a')", True), ("contains(event.properties.tags, 'x')", True),
    ("contains(null, 'x')", False), ("contains(event.properties.items, 'z')", False),
    ("starts_with('hello', 'he')", True), ("starts_with('hello', 'lo')", False), ("starts_with(null, 'a')", False),
    ("starts_with('a', null)", False), ("starts_with(event.properties.sku, 'SKU-')", True),
    ("exists(event.properties.sku)", True), ("exists(event.properties.coupon)", False),
    ("exists(event.nope.deeper)", False), ("exists(0)", True), ("exists(false)", True), ("exists(null)", False),
    ("not exists(event.properties.coupon)", True), ("not exists(event.properties.sku)", False),
    ("days_since(profile.last.order_completed)", 2.0), ("hours_since(profile.last.order_completed)", 48.0),
    ("days_since(event.timestamp)", 1.0), ("hours_since('2026-03-02T09:30:00Z')", 0.5),
    ("hours_since('2026-03-02T11:00:00+02:00')", 1.0), ("hours_since('2026-03-02T09:00:00')", 1.0),
    ("days_since('2026-03-01')", 1 + 10 / 24), ("hours_since(now)", 0.0), ("days_since(now - 43200)", 0.5),
    ("days_since('not a date')", None), ("days_since(null)", None), ("days_since(event.missing)", None),
    ("days_since(true)", None), ("days_since([1])", None), ("days_since(profile.last.order_completed) > 1", True),
])
def test_functions(source: str, expected: Any) -> None:
    value = ev(source)
    if isinstance(expected, float):
        assert value == pytest.approx(expected)
    else:
        assert value == expected
        assert type(value) is type(expected)


def test_time_functions_need_a_numeric_now() -> None:
    for now in (None, "2026-03-02T10:00:00Z", True):
        ctx = {**CTX, "now": now}
        assert ev("days_since(0)", ctx) is None
        assert ev("hours_since('2026-03-01T00:00:00Z')", ctx) is None
    assert ev("days_since(0)", {"now": 86400}) == 1.0


def test_every_function_is_known_and_checks_its_arity() -> None:
    assert set(FUNCTIONS) == {"len", "lower", "upper", "contains", "starts_with", "exists", "days_since",
                              "hours_since", "days_until", "days_until_anniversary", "day_of_week", "hour_of_day"}
    for name, (arity, _, _) in FUNCTIONS.items():
        args = ", ".join(["1"] * arity)
        compile_expression(f"{name}({args})")
        too_many = ", ".join(["1"] * (arity + 1))
        err = error(f"  {name}({too_many})")
        assert err.column == 3
        assert err.reason == f"{name}() takes {arity} argument{'' if arity == 1 else 's'}, got {arity + 1}"
        if arity:
            assert error(f"{name}()").reason.endswith("got 0")


# ------------------------------------------------------------------------------- missing data is None
@pytest.mark.parametrize("source", [
    "event.nope", "event.properties.nope", "event.nope.deeper.still", "event.properties.sku.deeper",
    "event.properties.items[3]", "event.properties.items[-4]", "event.properties.items['0']",
    "event.properties.items.first", "event.properties.cart_value[0]", "event.properties.sku[0]",
    "event.properties.tags[0]", "profile.traits['last name']", "journey.instance_id", "[1, 2][2]", "'abc'.x",
    "'abc'[0]", "lower('A').x", "event.properties.coupon.code", "event['__class__']", "event.__class__",
    "event.__class__.__mro__", "profile.__dict__", "event.properties.get", "event.properties.keys",
])
def test_missing_keys_are_none(source: str) -> None:
    assert ev(source) is None


def test_missing_roots_are_none() -> None:
    assert ev("event.a.b", {}) is None
    assert ev("profile", {}) is None
    assert ev("now", {}) is None
    assert ev("event.in.not", {"event": {"in": {"not": 1}}}) == 1  # keywords may be keys after a dot


# -------------------------------------------------------------------------------------- None-safety
@pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
@pytest.mark.parametrize(("left", "right"), [
    ("null", "20"), ("20", "null"), ("null", "null"), ("'a'", "3"), ("3", "'a'"), ("true", "0"), ("1", "false"),
    ("[1]", "[0]"), ("event.properties.tags", "1"), ("event.missing", "event.properties.cart_value"),
    ("event.properties.cart_value", "event.missing"), ("event.properties.sku", "event.properties.cart_value"),
])
def test_comparisons_with_none_or_mismatched_types_are_false(op: str, left: str, right: str) -> None:
    assert ev(f"{left} {op} {right}") is False


@pytest.mark.parametrize("op", ["+", "-", "*", "/", "%"])
@pytest.mark.parametrize(("left", "right"), [
    ("null", "1"), ("1", "null"), ("event.missing", "2"), ("'a'", "1"), ("1", "'a'"), ("true", "1"), ("1", "false"),
    ("[1]", "[2]"), ("event.properties.tags", "1"), ("event.properties.sku", "event.properties.cart_value"),
])
def test_arithmetic_with_none_or_mismatched_types_is_none(op: str, left: str, right: str) -> None:
    assert ev(f"{left} {op} {right}") is None


@pytest.mark.parametrize("source", [
    "1 / 0", "1 % 0", "1.5 / 0.0", "event.properties.cart_value / event.properties.zero",
    "event.properties.cart_value % (1 - 1)", "'a' - 'b'", "'a' * 3", "-'a'", "-null", "-true", "-event.missing",
    "event.properties.missing + 1 > 0", "(1 / 0) + 1",
])
def test_arithmetic_never_raises(source: str) -> None:
    assert ev(source) in (None, False)


def test_huge_numbers_do_not_raise() -> None:
    ctx = {"event": {"big": 10 ** 400}, "now": NOW}
    assert ev("event.big / 3", ctx) is None
    assert ev("event.big + 0.5", ctx) is None
    assert ev("event.big * 2 > 1.5", ctx) is True
    assert ev("days_since(event.big)", ctx) is None
    assert ev("event.big == 1e308", ctx) is False


# ------------------------------------------------------------------------------------ short-circuiting
class Recording(Mapping[str, Any]):
    """A context that remembers which roots were read."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.read: list[str] = []

    def __getitem__(self, key: str) -> Any:
        self.read.append(key)
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


@pytest.mark.parametrize(("source", "expected", "read"), [
    ("profile.traits.vip and event.properties.sku", True, ["profile", "event"]),
    ("profile.traits.missing and event.properties.sku", False, ["profile"]),
    ("profile.traits.vip or event.properties.sku", True, ["profile"]),
    ("profile.traits.missing or event.properties.sku", True, ["profile", "event"]),
    ("journey.version > 1 and profile.traits.missing and event.properties.sku", False, ["journey", "profile"]),
    ("journey.version < 1 or profile.traits.vip or event.properties.sku", True, ["journey", "profile"]),
    ("false and event.properties.sku", False, []),
    ("true or event.properties.sku", True, []),
])
def test_short_circuit(source: str, expected: bool, read: list[str]) -> None:
    ctx = Recording(CTX)
    assert compile_expression(source)(ctx) is expected
    assert ctx.read == read


# ---------------------------------------------------------------------------------------------- roots
@pytest.mark.parametrize(("source", "roots"), [
    ("1 + 2", set()),
    ("event.properties.x", {"event"}),
    ("event.a == profile.b", {"event", "profile"}),
    ("journey.id == 'x' or now > 5", {"journey", "now"}),
    ("days_since(profile.last.x) > 3", {"profile", "now"}),
    ("hours_since(1)", {"now"}),
    ("false and event.x", {"event"}),
    ("len(event['a']) + len(profile.b) > journey.c", {"event", "profile", "journey"}),
])
def test_roots(source: str, roots: set[str]) -> None:
    e = compile_expression(source)
    assert e.roots == frozenset(roots)
    assert isinstance(e.roots, frozenset)


def test_expression_object() -> None:
    e = compile_expression("event.x == 1")
    assert isinstance(e, Expression)
    assert e.source == "event.x == 1"
    assert e == compile_expression("event.x == 1")
    assert hash(e) == hash(compile_expression("event.x == 1"))
    assert e != compile_expression("event.x == 2")
    assert "event.x == 1" in repr(e)
    assert e({"event": {"x": 1}}) is True


@pytest.mark.parametrize(("value", "expected"), [
    (None, False), (False, False), (0, False), (0.0, False), ("", False), ([], False), ({}, False), ((), False),
    (set(), False), (True, True), (1, True), (-1, True), ("0", True), ([0], True), ({"a": None}, True),
])
def test_truthy(value: Any, expected: bool) -> None:
    assert truthy(value) is expected


def test_truthy_survives_objects_that_refuse_bool() -> None:
    class NoBool:
        def __bool__(self) -> bool:
            raise RuntimeError("no")

    assert truthy(NoBool()) is False
    assert compile_expression("event.x and true")({"event": {"x": NoBool()}}) is None


# ------------------------------------------------------------------------------------- compile errors
@pytest.mark.parametrize(("source", "column", "reason"), [
    # unexpected character
    ("1 + @", 5, "unexpected character '@'"),
    ("event.x = 1", 9, "unexpected character '='; use '=='"),
    ("a && b", 3, "unexpected character '&'; use 'and'"),
    ("!event.x", 1, "unexpected character '!'"),
    ("event.x ; 1", 9, "unexpected character ';'"),
    ("lambda: 1", 7, "unexpected character ':'"),
    # unterminated string, bad escapes and numbers
    ("'abc", 1, "unterminated string"),
    ("event.x == \"abc", 12, "unterminated string"),
    ("'abc\\", 1, "unterminated string"),
    ("'a\\qb'", 3, "unknown escape '\\q' in string"),
    ("12abc", 1, "invalid number '12abc'"),
    # unexpected token / end of input
    ("(1 + 2))", 8, "unexpected ')'; expected an operator or the end of the expression"),
    ("1 +", 4, "unexpected end of input; expected a value"),
    ("(1", 3, "unexpected end of input; expected ')'"),
    ("[1, 2", 6, "unexpected end of input; expected ',' or ']'"),
    ("event.", 7, "unexpected end of input; expected a key name after '.'"),
    ("event.1", 7, "unexpected '1'; expected a key name"),
    ("not", 4, "unexpected end of input; expected a value"),
    ("1 + * 2", 5, "unexpected '*'; expected a value"),
    ("and true", 1, "unexpected 'and'; expected a value"),
    ("len(1,, 2)", 7, "unexpected ','"),
    ("event[1", 8, "unexpected end of input; expected ']'"),
    ("1 in", 5, "unexpected end of input"),
    ("(1 + 2) 'x'", 9, "unexpected string 'x'"),
    # unknown name / function
    ("foo", 1, "unknown name 'foo'; a trait is profile.traits.foo, an event's property event.properties.foo; "
               "expressions can use event, profile, journey, now, catalogs and the functions len, lower"),
    ("customer.plan == 1", 1, "unknown name 'customer'; expressions can use"),  # a path: no trait of that name
    ("event.x == bar", 12, "unknown name 'bar'; text goes in quotes: 'bar'; expressions can use"),
    ("event.x in ['a', bar]", 18, "unknown name 'bar'; text goes in quotes: 'bar'"),
    # words and forms from SQL or Python (a new user's walkthrough)
    ("event.x is 'a'", 9, "unexpected 'is'; expected an operator or the end of the expression; use '==' to compare"),
    ("event.x contains 'a'", 9, "unexpected 'contains'; expected an operator or the end of the expression; call it as "
                                "contains(x, 'a')"),
    ("event.x in ('a', 'b')", 16, "unexpected ','; expected ')'; a list is written in [ ]: in ['pro', 'max']"),
    ("[x for x in y]", 2, "unknown name 'x'"),
    ("lambda", 1, "unknown name 'lambda'"),
    ("len", 1, "'len' is a function; call it as len(...)"),
    ("nope(1)", 1, "unknown function 'nope'; the functions are len, lower, upper, contains, starts_with, exists"),
    ("1 + __import__('os')", 5, "unknown function '__import__'"),
    ("open('x')", 1, "unknown function 'open'"),
    ("eval('1')", 1, "unknown function 'eval'"),
    ("event('x')", 1, "unknown function 'event'"),
    # wrong arity
    ("len()", 1, "len() takes 1 argument, got 0"),
    ("x == 1 or starts_with('a')", 1, "unknown name 'x'"),
    ("true or starts_with('a')", 9, "starts_with() takes 2 arguments, got 1"),
    ("exists(1, 2)", 1, "exists() takes 1 argument, got 2"),
    # bracket with a non-literal index
    ("event[event.x]", 7, "only a text or integer literal can go inside [ ]"),
    ("event.items[1.5]", 13, "only a text or integer literal can go inside [ ]"),
    ("event.items[1 + 1]", 15, "unexpected '+'; expected ']'"),
    ("event[]", 7, "only a text or integer literal can go inside [ ]"),
    # calling something that is not a function
    ("event.x(1)", 8, "only the functions len, lower"),
    ("lower('a')('b')", 11, "only the functions"),
    ("().__class__", 2, "unexpected ')'; expected a value"),
    # trailing garbage and chained comparisons
    ("1 2", 3, "unexpected '2'; expected an operator or the end of the expression"),
    ("event.x event.y", 9, "unexpected 'event'"),
    ("true false", 6, "unexpected 'false'"),
    ("1 not 2", 3, "unexpected 'not'"),
    ("1 < 2 < 3", 7, "comparisons cannot be chained; combine them with 'and'"),
    ("1 == 1 in [true]", 8, "comparisons cannot be chained"),
    # empty
    ("", 1, "empty expression"),
    ("   ", 1, "empty expression"),
])
def test_compile_errors(source: str, column: int, reason: str) -> None:
    err = error(source)
    assert isinstance(err, ValueError)
    assert err.reason.startswith(reason), err.reason
    assert err.column == column, str(err)
    assert f" at column {column}" in str(err)


def test_error_message_format() -> None:
    err = error("(1 + 2))")
    assert str(err).startswith("unexpected ')' at column 8")
    assert "at column" not in err.reason
    assert str(error("1 @ 2")) == "unexpected character '@' at column 3"


def test_non_text_source_is_refused() -> None:
    with pytest.raises(ExpressionError):
        compile_expression(12)


# -------------------------------------------------------------------------------- escape attempts
@pytest.mark.parametrize("source", [
    "__import__('os')",
    "__import__('os').system('true')",
    "().__class__",
    "().__class__.__bases__[0].__subclasses__()",
    "open('x')",
    "eval('1')",
    "exec('1')",
    "compile('1', 'x', 'eval')",
    "getattr(event, '__class__')",
    "lambda: 1",
    "[x for x in y]",
    "event.__class__()",
    "event.get('x')",
    "len.__call__",
    "event.x if true else 1",
    "globals()",
    "f'{event}'",
    "b'x'",
    "event @ 1",
    "import os",
    "event; 1",
    "a := 1",
    "print(1)",
    "type(event)",
    "`event`",
])
def test_escape_attempts_do_not_compile(source: str) -> None:
    error(source)


@pytest.mark.parametrize("source", [
    "event.__class__",
    "event.__class__.__mro__",
    "event['__class__']",
    "event['__class__']['__mro__'][1]",
    "event.__dict__",
    "event.__init__.__globals__",
    "profile.traits.__len__",
    "event.properties.items.__getitem__",
    "event.properties.keys",
    "''.join",
    "[].append",
    "event.properties.sku.upper",
])
def test_escape_attempts_evaluate_harmlessly(source: str) -> None:
    assert ev(source) is None


class Secretive:
    """Not a mapping, however much it looks like one: nothing on it may be reached."""

    secret = "attribute"
    properties = {"x": "attribute"}

    def get(self, key: str) -> str:
        return "get() was called"

    def __getitem__(self, key: Any) -> str:
        return "__getitem__ was called"

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[str]:
        return iter(["secret"])

    def __contains__(self, key: object) -> bool:
        return True


@pytest.mark.parametrize("source", [
    "event.secret", "event['secret']", "event.properties.x", "event.get", "event[0]", "event.__class__",
    "len(event)", "lower(event)", "days_since(event)", "-event", "event + 1", "event * 2", "event.secret.x",
])
def test_attributes_of_non_mapping_objects_are_not_reachable(source: str) -> None:
    assert ev(source, {"event": Secretive(), "now": NOW}) is None


@pytest.mark.parametrize("source", ["'secret' in event", "event == 'secret'", "event < 1", "starts_with(event, 's')"])
def test_non_mapping_objects_compare_false(source: str) -> None:
    assert ev(source, {"event": Secretive(), "now": NOW}) is False


def test_broken_mappings_in_the_context_do_not_raise() -> None:
    class Broken(Mapping[str, Any]):
        def __getitem__(self, key: str) -> Any:
            raise RuntimeError("boom")

        def __iter__(self) -> Iterator[str]:
            raise RuntimeError("boom")

        def __len__(self) -> int:
            raise RuntimeError("boom")

    ctx = {"event": {"m": Broken()}, "profile": Broken()}
    for source in ("event.m.x", "event.m.x.y", "len(event.m)", "'x' in event.m", "event.m == event.m",
                   "profile.x", "exists(profile.a.b.c)"):
        assert compile_expression(source)(ctx) in (None, False, True)
    assert compile_expression("profile.x")(Broken()) is None


# -------------------------------------------------------------------------------- size and nesting
def test_too_long() -> None:
    ok = "1" + " + 1" * ((MAX_LENGTH - 1) // 4)
    assert len(ok) <= MAX_LENGTH
    assert ev(ok) == (MAX_LENGTH - 1) // 4 + 1
    err = error("1" + " " * MAX_LENGTH)
    assert err.column == MAX_LENGTH + 1
    assert f"limit is {MAX_LENGTH}" in err.reason


@pytest.mark.parametrize(("opener", "closer"), [("(", ")"), ("[", "]"), ("len(", ")"), ("not ", ""), ("-", ""),
                                                ("- ", "")])
def test_nesting_limit(opener: str, closer: str) -> None:
    ok = opener * MAX_DEPTH + "1" + closer * MAX_DEPTH
    compile_expression(ok)(CTX)
    err = error(opener * (MAX_DEPTH + 1) + "1" + closer * (MAX_DEPTH + 1))
    assert err.reason == f"expression nested deeper than {MAX_DEPTH} levels"
    assert err.column > 1


@pytest.mark.parametrize("source", [
    "(" * 999 + "1" + ")" * 999,
    "[" * 999 + "]" * 999,
    "not " * 499 + "1",
    "-" * 1999 + "1",
    "len(" * 400,
    "(" * 2000,
])
def test_deep_input_is_refused_without_recursion_error(source: str) -> None:
    assert "nested deeper" in error(source).reason


@pytest.mark.parametrize("source", [
    " and ".join(["event.properties.cart_value > 1"] * 55),
    " or ".join(["event.missing"] * 110),
    " + ".join(["event.properties.cart_value"] * 60),
    " * ".join(["1"] * 450),
    " - ".join(["1.5"] * 300),
    "event" + ".a" * 900,
    "[" + ", ".join(["1"] * 600) + "]",
])
def test_long_flat_input_evaluates(source: str) -> None:
    assert len(source) <= MAX_LENGTH
    compile_expression(source)(CTX)


def test_deepest_mixed_nesting_evaluates() -> None:
    # Each nesting level goes through every precedence level: the closures it compiles into stay shallow.
    level = "(event.a or event.b and event.c == -event.d + event.e * "
    source = level * (MAX_DEPTH // 2) + "1" + ")" * (MAX_DEPTH // 2)
    assert len(source) <= MAX_LENGTH
    assert compile_expression(source)({"event": {"a": 0, "b": 1, "c": 2, "d": 3, "e": 4}}) is False


# --------------------------------------------------------------------------------------- the example
def test_readme_examples() -> None:
    ctx = {**CTX, "event": {**CTX["event"], "context": {"channel": "Web"}}}
    assert ev("event.properties.cart_value >= 20 and not exists(event.properties.coupon)", ctx) is True
    assert ev("profile.counters.order_completed >= 3 or profile.traits.vip == true", ctx) is True
    assert ev("days_since(profile.last.order_completed) > 30", ctx) is False
    assert ev("lower(event.context.channel) in ['web', 'app']", ctx) is True
    hot = compile_expression("event.properties.cart_value >= 20 and profile.traits.vip == true "
                             "and not exists(event.properties.coupon)")
    assert hot(ctx) is True
    assert hot({**ctx, "profile": {"traits": {"vip": 1}}}) is False
    assert hot({**ctx, "event": {"properties": {"cart_value": 19.99}}}) is False
    assert hot({**ctx, "event": {"properties": {"cart_value": 20, "coupon": "X"}}}) is False
    assert hot({}) is False


# ------------------------------------------------------------------------------------------ property
KEYS = ["a", "b", "in", "not", "x y", "__class__", "properties"]

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10 ** 20), max_value=10 ** 20),
    st.floats(allow_nan=False), st.text(max_size=5), st.sampled_from(["2026-03-01T00:00:00Z", "2026-03-01", "x"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)),
    max_leaves=12,
)
contexts = st.fixed_dictionaries(
    {"event": json_values, "profile": json_values, "journey": json_values},
    optional={"now": st.one_of(st.floats(allow_nan=False), st.integers(), st.none(), st.text(max_size=3))},
)


def _quote(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _literal(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return _quote(v)
    return repr(v)


literal_values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=0, max_value=10 ** 6),
    st.floats(min_value=0, max_value=1e6, allow_nan=False), st.text(max_size=4),
)
keys = st.one_of(
    st.sampled_from(["a", "b", "in", "not", "__class__", "properties"]).map(lambda k: "." + k),
    st.sampled_from(KEYS).map(lambda k: f"[{_quote(k)}]"),
    st.integers(min_value=-3, max_value=3).map(lambda i: f"[{i}]"),
)
paths = st.builds(lambda root, ks: root + "".join(ks), st.sampled_from(["event", "profile", "journey", "now"]),
                  st.lists(keys, max_size=3))

# An expression tree: ("lit", value) | ("path", text) | (operator, *children). Rendered fully
# parenthesised; literals can be rendered inline or read from the context (see test_constant_folding).
leaves = st.one_of(literal_values.map(lambda v: ("lit", v)), paths.map(lambda p: ("path", p)))
BINARY = ["or", "and", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "+", "-", "*", "/", "%"]


def _extend(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.tuples(st.sampled_from(BINARY), inner, inner),
        st.tuples(st.sampled_from(["not", "neg"]), inner),
        st.tuples(st.sampled_from(["len", "lower", "upper", "exists", "days_since", "hours_since"]), inner),
        st.tuples(st.sampled_from(["contains", "starts_with"]), inner, inner),
        st.tuples(st.just("list"), inner, inner),
        st.tuples(st.just("index"), inner, keys),
    )


trees = st.recursive(leaves, _extend, max_leaves=10)


def render(tree: Any, literals: list[Any] | None = None) -> str:
    kind = tree[0]
    if kind == "lit":
        if literals is None:
            return _literal(tree[1])
        literals.append(tree[1])
        return f"journey['lit{len(literals) - 1}']"
    if kind == "path":
        return str(tree[1])
    args = [render(t, literals) for t in tree[1:] if isinstance(t, tuple)]
    if kind in BINARY:
        return f"({args[0]} {kind} {args[1]})"
    if kind == "not":
        return f"(not {args[0]})"
    if kind == "neg":
        return f"(-{args[0]})"
    if kind == "list":
        return f"[{args[0]}, {args[1]}]"
    if kind == "index":
        return f"({args[0]}){tree[2]}"
    return f"{kind}({', '.join(args)})"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees, ctx=contexts)
def test_generated_expressions_never_raise(tree: Any, ctx: dict[str, Any]) -> None:
    source = render(tree)
    try:
        expr = compile_expression(source)
    except ExpressionError as e:
        assert 1 <= e.column <= len(source) + 1
        return
    expr._fn(ctx)  # the raw closures, without the safety net of Expression.__call__
    expr(ctx)


@settings(max_examples=300, deadline=None)
@given(tree=trees, ctx=contexts)
def test_constant_folding_matches_evaluation(tree: Any, ctx: dict[str, Any]) -> None:
    """Literals compiled inline (folded, specialised) behave like the same values read from the context."""
    literals: list[Any] = []
    dynamic_source = render(tree, literals)
    try:
        inline = compile_expression(render(tree))
        dynamic = compile_expression(dynamic_source)
    except ExpressionError:
        return
    ctx = {**ctx, "now": NOW, "journey": {f"lit{i}": v for i, v in enumerate(literals)}}
    assert _same(inline._fn(ctx), dynamic._fn(ctx)), (render(tree), dynamic_source)


TOKENS = ["event", "profile", "journey", "now", "x", ".", "a", "[", "]", "(", ")", ",", "'s'", '"t"', "1", "2.5",
          "-", "+", "*", "/", "%", "==", "!=", "<", ">=", "in", "not", "and", "or", "true", "null", "len", "exists",
          "days_since", "starts_with", "'", "@", "=", "\\", "1e", "__class__"]


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(st.sampled_from(TOKENS), max_size=14), sep=st.sampled_from(["", " "]), ctx=contexts)
def test_token_soup_fails_only_with_expression_error(parts: list[str], sep: str, ctx: dict[str, Any]) -> None:
    source = sep.join(parts)
    try:
        expr = compile_expression(source)
    except ExpressionError as e:
        assert 1 <= e.column <= len(source) + 1
        return
    expr._fn(ctx)


@settings(max_examples=300, deadline=None)
@given(source=st.text(max_size=40))
def test_arbitrary_text_fails_only_with_expression_error(source: str) -> None:
    try:
        expr = compile_expression(source)
    except ExpressionError as e:
        assert 1 <= e.column <= len(source) + 1
        return
    expr._fn(CTX)


@pytest.mark.parametrize(("source", "absence"), [
    ("event.properties.cart_value >= 20 and not exists(event.properties.coupon)", {("event", ("properties", "coupon"))}),
    ("event.x == null", {("event", ("x",))}),
    ("null == event.x or event.y > 1", {("event", ("x",))}),
    ("exists(event.x)", set()),  # a value required: none having one is worth telling
    ("event.x != null", set()),
    ("event.x == null or event.x == 1", set()),  # read as a value too
    ("not exists(event.x) == false", set()),
])
def test_absence_lists_the_paths_only_tested_for_having_none(source: str, absence: set[object]) -> None:
    assert compile_expression(source).absence == absence
