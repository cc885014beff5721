"""Just enough PromQL reading for the tests: which metric names and label matchers an expression uses.

Not a parser: it strips strings, ranges and grouping clauses and takes the remaining identifiers that
are not functions or keywords. Good for the expressions we write (tests/deploy checks them with
promtool too, which does parse them).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
            "offset", "inf", "nan", "atan2"}
GRAFANA_VARS = {"$__rate_interval": "5m", "$__range": "1h", "$__interval": "1m"}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_SELECTOR = re.compile(r"([a-zA-Z_:][\w:]*)?\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([a-zA-Z_]\w*)\s*(=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_TOKEN = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[a-zA-Z_:][\w:]*")


def substitute_grafana(expr: str, regex_value: str = ".*") -> str:
    for k, v in GRAFANA_VARS.items():
        expr = expr.replace(k, v)
    return re.sub(r"\$\{?(\w+)\}?", regex_value, expr)


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """``(metric name, label names matched)`` for every selector with a name."""
    out = []
    for m in _SELECTOR.finditer(_STRING.sub('""', substitute_grafana(expr))):
        if m.group(1) and m.group(1) not in KEYWORDS:
            out.append((m.group(1), {lm.group(1) for lm in _MATCHER.finditer(m.group(2))}))
    return out


def metric_names(expr: str) -> set[str]:
    e = substitute_grafana(expr)
    e = _STRING.sub('""', e)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\boffset\s+-?[0-9][0-9a-z]*", " ", e, flags=re.I)  # `offset 1h`: its duration is no name
    e = _GROUPING.sub(" ", e)
    names = set()
    for m in _TOKEN.finditer(e):
        tok = m.group(0)
        if tok[0].isdigit() or tok.lower() in KEYWORDS:
            continue
        if re.match(r"\s*\(", e[m.end():]):
            continue  # a function or aggregation
        names.add(tok)
    return names


def output_labels(expr: str) -> set[str] | None:
    """Labels a recording rule's result keeps: those of its first ``by (...)`` (minus ``le``); None if
    it has none (then the test does not check label matchers against it)."""
    for m in _GROUPING.finditer(_STRING.sub('""', expr)):
        if m.group(1) == "by":
            return {x.strip() for x in m.group(2).split(",") if x.strip()} - {"le"}
    return None


# ---------------------------------------------------------------- the metric registry
def _sample_names(name: str, kind: str) -> list[str]:
    if kind == "counter":
        base = name[: -len("_total")] if name.endswith("_total") else name
        return [base + "_total"]
    if kind == "histogram":
        return [name + s for s in ("_bucket", "_sum", "_count")]
    return [name]


def registry_metrics() -> dict[str, set[str]]:
    """Sample name -> label names, from ``cjo_stream.metrics.REGISTRY`` (the real registry)."""
    from prometheus_client.metrics import MetricWrapperBase

    from cjo_stream import metrics

    out: dict[str, set[str]] = {}
    # process_* come from prometheus_client's standard ProcessCollector (CPU, RSS, fds): not ours to document
    families = {f.name: f.type for f in metrics.REGISTRY.collect() if not f.name.startswith("process_")}
    wrappers: dict[str, Any] = {obj._name: obj for obj in vars(metrics).values() if isinstance(obj, MetricWrapperBase)}
    # collectors of our own (a histogram counted a batch at a time): no labels
    wrappers.update({obj.name: obj for obj in vars(metrics).values() if isinstance(obj, metrics.SizeHistogram)})
    assert set(families) == set(wrappers), \
        f"registry and module attributes of cjo_stream.metrics differ: {set(families) ^ set(wrappers)}"
    for fam, kind in families.items():  # family names as registered (counters without _total)
        labels = set(getattr(wrappers[fam], "_labelnames", ()))
        for s in _sample_names(fam, kind):
            out[s] = labels | ({"le"} if s.endswith("_bucket") else set())
    return out


def source_metrics(path: Path) -> dict[str, set[str]]:
    """The same map, read from metrics.py's source (used when the package cannot be imported)."""
    kinds = {"Counter": "counter", "Gauge": "gauge", "Histogram": "histogram", "SizeHistogram": "histogram"}
    out: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in kinds:
            args: list[Any] = [ast.literal_eval(a) if isinstance(a, (ast.Constant, ast.List, ast.Tuple)) else None
                               for a in node.args]
            name = args[0]
            labels = set(args[2]) if len(args) > 2 and args[2] and node.func.id != "SizeHistogram" else set()
            for kw in node.keywords:
                if kw.arg == "labelnames":
                    labels = set(ast.literal_eval(kw.value))
            for s in _sample_names(name, kinds[node.func.id]):
                out[s] = labels | ({"le"} if s.endswith("_bucket") else set())
    return out
