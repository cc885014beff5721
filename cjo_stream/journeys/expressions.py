"""Journey expressions: a small, safe language compiled once into Python closures.

Why a compiled subset: the Common Expression Language bindings measured ~27 µs per evaluation on our
machines versus ~0.2 µs for a compiled closure, and conditions run on the hot path. Nothing here uses
eval/exec, and values are only reached through mapping keys and list indexes — never attributes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

Context = Mapping[str, Any]
Fn = Callable[[Context], Any]

ROOTS = frozenset({"event", "profile", "journey", "now"})
MAX_LENGTH = 2000
MAX_DEPTH = 50


class ExpressionError(ValueError):
    def __init__(self, reason: str, column: int) -> None:
        super().__init__(f"{reason} at column {column}")
        self.reason = reason
        self.column = column


def truthy(value: Any) -> bool:
    return bool(value) if value is not None else False


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>\d+\.\d*|\d*\.\d+|\d+)
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<op>==|!=|<=|>=|<|>|\+|-|\*|/|%|\(|\)|\[|\]|,|\.)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
""", re.VERBOSE)

_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}


def _tokenize(src: str) -> list[tuple[str, Any, int]]:
    out: list[tuple[str, Any, int]] = []
    pos = 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m:
            ch = src[pos]
            if ch in "'\"":
                raise ExpressionError("unterminated string", pos + 1)
            raise ExpressionError(f"unexpected character {ch!r}", pos + 1)
        kind = m.lastgroup or ""
        text = m.group()
        if kind == "num":
            out.append(("num", float(text) if "." in text else int(text), pos + 1))
        elif kind == "str":
            body = text[1:-1]
            out.append(("str", re.sub(r"\\(.)", r"\1", body), pos + 1))
        elif kind == "op":
            out.append(("op", text, pos + 1))
        elif kind == "name":
            out.append(("kw" if text in _KEYWORDS else "name", text, pos + 1))
        pos = m.end()
    out.append(("end", None, len(src) + 1))
    return out


# ---------------------------------------------------------------- null-safe operations
def _num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _cmp(op: str) -> Callable[[Any, Any], bool]:
    import operator

    f = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}[op]

    def compare(a: Any, b: Any) -> bool:
        if _num(a) and _num(b) or isinstance(a, str) and isinstance(b, str):
            return bool(f(a, b))
        return False

    return compare


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return bool(a == b)


def _contains(hay: Any, needle: Any) -> bool:
    if isinstance(hay, str):
        return isinstance(needle, str) and needle in hay
    if isinstance(hay, list | tuple | set | frozenset):
        return any(_eq(x, needle) for x in hay)
    if isinstance(hay, Mapping):
        try:
            return needle in hay
        except TypeError:
            return False
    return False


def _arith(op: str) -> Callable[[Any, Any], Any]:
    def apply(a: Any, b: Any) -> Any:
        if op == "+" and isinstance(a, str) and isinstance(b, str):
            return a + b
        if not (_num(a) and _num(b)):
            return None
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if b == 0:
            return None
        return a / b if op == "/" else a % b

    return apply


def _to_epoch(t: Any) -> float | None:
    if _num(t):
        return float(t)
    if isinstance(t, str):
        try:
            dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
        except ValueError:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.timestamp()
    return None


def _since(unit: float) -> Callable[[Context, Any], Any]:
    def since(ctx: Context, t: Any) -> Any:
        e = _to_epoch(t)
        now = ctx.get("now")
        if e is None or not _num(now):
            return None
        return (now - e) / unit

    return since


_FUNCS: dict[str, tuple[int, Callable[..., Any], bool]] = {
    # name: (arity, function, needs_ctx)
    "len": (1, lambda x: len(x) if isinstance(x, str | list | tuple | dict) else 0, False),
    "lower": (1, lambda s: s.lower() if isinstance(s, str) else None, False),
    "upper": (1, lambda s: s.upper() if isinstance(s, str) else None, False),
    "contains": (2, _contains, False),
    "starts_with": (2, lambda s, p: isinstance(s, str) and isinstance(p, str) and s.startswith(p), False),
    "exists": (1, lambda x: x is not None, False),
    "days_since": (1, _since(86400.0), True),
    "hours_since": (1, _since(3600.0), True),
}


class _Parser:
    def __init__(self, src: str) -> None:
        self.toks = _tokenize(src)
        self.i = 0
        self.depth = 0
        self.roots: set[str] = set()

    def peek(self) -> tuple[str, Any, int]:
        return self.toks[self.i]

    def take(self) -> tuple[str, Any, int]:
        t = self.toks[self.i]
        self.i += 1
        return t

    def expect(self, kind: str, value: Any) -> None:
        t = self.take()
        if t[0] != kind or t[1] != value:
            self.fail(t, f"expected {value!r}")

    @staticmethod
    def fail(t: tuple[str, Any, int], what: str = "") -> None:
        shown = "end of input" if t[0] == "end" else repr(t[1]) if t[0] != "str" else repr(f"'{t[1]}'")
        msg = f"unexpected {shown}" + (f" ({what})" if what else "")
        raise ExpressionError(msg, t[2])

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"expression nested deeper than {MAX_DEPTH}", self.peek()[2])

    # precedence climbing
    def parse(self) -> Fn:
        fn = self.or_()
        if self.peek()[0] != "end":
            self.fail(self.peek())
        return fn

    def or_(self) -> Fn:
        left = self.and_()
        while self.peek() == ("kw", "or", self.peek()[2]):
            self.take()
            right = self.and_()
            left = (lambda a, b: lambda c: truthy(a(c)) or truthy(b(c)))(left, right)
        return left

    def and_(self) -> Fn:
        left = self.not_()
        while self.peek()[:2] == ("kw", "and"):
            self.take()
            right = self.not_()
            left = (lambda a, b: lambda c: truthy(a(c)) and truthy(b(c)))(left, right)
        return left

    def not_(self) -> Fn:
        if self.peek()[:2] == ("kw", "not"):
            self.take()
            self.enter()
            inner = self.not_()
            self.depth -= 1
            return lambda c: not truthy(inner(c))
        return self.comparison()

    def comparison(self) -> Fn:
        left = self.additive()
        t = self.peek()
        if t[0] == "op" and t[1] in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            right = self.additive()
            op = t[1]
            if op == "==":
                return lambda c: _eq(left(c), right(c))
            if op == "!=":
                return lambda c: not _eq(left(c), right(c))
            f = _cmp(op)
            return lambda c: f(left(c), right(c))
        if t[:2] == ("kw", "in"):
            self.take()
            right = self.additive()
            return lambda c: _contains(right(c), left(c))
        if t[:2] == ("kw", "not") and self.toks[self.i + 1][:2] == ("kw", "in"):
            self.take()
            self.take()
            right = self.additive()
            return lambda c: not _contains(right(c), left(c))
        return left

    def additive(self) -> Fn:
        left = self.term()
        while self.peek()[0] == "op" and self.peek()[1] in ("+", "-"):
            f = _arith(self.take()[1])
            right = self.term()
            left = (lambda a, b, f: lambda c: f(a(c), b(c)))(left, right, f)
        return left

    def term(self) -> Fn:
        left = self.unary()
        while self.peek()[0] == "op" and self.peek()[1] in ("*", "/", "%"):
            f = _arith(self.take()[1])
            right = self.unary()
            left = (lambda a, b, f: lambda c: f(a(c), b(c)))(left, right, f)
        return left

    def unary(self) -> Fn:
        if self.peek()[:2] == ("op", "-"):
            self.take()
            self.enter()
            inner = self.unary()
            self.depth -= 1
            return lambda c: -v if _num(v := inner(c)) else None
        return self.postfix()

    def postfix(self) -> Fn:
        t = self.peek()
        if t[0] == "name":
            self.take()
            name = t[1]
            if self.peek()[:2] == ("op", "("):
                return self.call(name, t)
            if name not in ROOTS:
                raise ExpressionError(f"unknown name {name!r}; expressions can use event, profile, journey, now "
                                      f"and the functions {', '.join(sorted(_FUNCS))}", t[2])
            self.roots.add(name)
            path: list[str | int] = []
            while True:
                nt = self.peek()
                if nt[:2] == ("op", "."):
                    self.take()
                    key = self.take()
                    if key[0] not in ("name", "kw"):
                        self.fail(key, "expected a key after '.'")
                    path.append(key[1])
                elif nt[:2] == ("op", "["):
                    self.take()
                    key = self.take()
                    if key[0] not in ("str", "num") or isinstance(key[1], float):
                        raise ExpressionError("only a text or integer literal can go inside [ ]", key[2])
                    path.append(key[1])
                    self.expect("op", "]")
                else:
                    break
            return _path(name, tuple(path))
        return self.primary()

    def call(self, name: str, t: tuple[str, Any, int]) -> Fn:
        spec = _FUNCS.get(name)
        if spec is None:
            raise ExpressionError(f"unknown function {name!r}; allowed: {', '.join(sorted(_FUNCS))}", t[2])
        self.take()  # (
        args: list[Fn] = []
        self.enter()
        if self.peek()[:2] != ("op", ")"):
            args.append(self.or_())
            while self.peek()[:2] == ("op", ","):
                self.take()
                args.append(self.or_())
        self.expect("op", ")")
        self.depth -= 1
        arity, f, needs_ctx = spec
        if len(args) != arity:
            raise ExpressionError(f"{name}() takes {arity} argument{'s' if arity > 1 else ''}, got {len(args)}", t[2])
        if needs_ctx:
            self.roots.add("now")
            (a0,) = args
            return lambda c: f(c, a0(c))
        if arity == 1:
            (a1,) = args
            return lambda c: f(a1(c))
        a, b = args
        return lambda c: f(a(c), b(c))

    def primary(self) -> Fn:
        t = self.take()
        kind, value = t[0], t[1]
        if kind in ("num", "str"):
            return lambda c: value
        if kind == "kw" and value in ("true", "false", "null"):
            const = {"true": True, "false": False, "null": None}[value]
            return lambda c: const
        if t[:2] == ("op", "("):
            self.enter()
            inner = self.or_()
            self.expect("op", ")")
            self.depth -= 1
            return inner
        if t[:2] == ("op", "["):
            self.enter()
            items: list[Fn] = []
            if self.peek()[:2] != ("op", "]"):
                items.append(self.or_())
                while self.peek()[:2] == ("op", ","):
                    self.take()
                    items.append(self.or_())
            self.expect("op", "]")
            self.depth -= 1
            return lambda c: [f(c) for f in items]
        self.fail(t)
        raise AssertionError  # unreachable


def _path(root: str, path: tuple[str | int, ...]) -> Fn:
    if not path:
        return lambda c: c.get(root)

    def get(c: Context) -> Any:
        v = c.get(root)
        for k in path:
            if isinstance(v, Mapping):
                v = v.get(k)
            elif isinstance(v, list | tuple) and isinstance(k, int) and -len(v) <= k < len(v):
                v = v[k]
            else:
                return None
        return v

    return get


class Expression:
    __slots__ = ("source", "roots", "_fn")

    def __init__(self, source: str, fn: Fn, roots: frozenset[str]) -> None:
        self.source = source
        self._fn = fn
        self.roots = roots

    def __call__(self, ctx: Context) -> Any:
        return self._fn(ctx)

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


def compile_expression(source: str) -> Expression:
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters", MAX_LENGTH)
    if not source.strip():
        raise ExpressionError("empty expression", 1)
    p = _Parser(source)
    fn = p.parse()
    return Expression(source, fn, frozenset(p.roots))
