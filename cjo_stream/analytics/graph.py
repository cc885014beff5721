"""The journey map: the journey's graph laid out by Graphviz (``dot -Tsvg``), live counts filled in.

The layout depends only on the journey's definition, never on the counts: every label carries a
fixed-width placeholder where its numbers go, Graphviz lays the graph out once per definition (tens
of milliseconds for 50 steps) and each page render replaces the placeholders in the cached SVG
(microseconds). So nodes do not jump around while counts change, and a page load stays cheap.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from collections.abc import Callable
from functools import lru_cache
from typing import Final

from cjo_stream.journeys.model import END, Journey

_SLOT = re.compile(r"@@(\d{4})n+")
_SLOT_WIDTH = {"node": 27, "edge": 9}  # "12,345 in · 1,234 now" / "123,456" fit (an "n" is an average glyph)
ENTRY, GOAL, EXIT, FINISH = "__entry", "__converted", "__exited", "__end"


class GraphvizMissing(RuntimeError):
    """``dot`` is not installed (Debian package ``graphviz``)."""


def _slot(i: int, kind: str) -> str:
    token = f"@@{i:04d}"
    return token + "n" * (_SLOT_WIDTH[kind] - len(token))


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def waiting_steps(j: Journey) -> list[str]:
    """Steps where an instance can stand when an event arrives (goal, exit_on and expiry reach it there)."""
    return [s.id for s in j.steps.values() if s.waits or s.kind == "send"]


#: longest branch condition written on its edge; a longer one is cut with "…"
CONDITION_CHARS = 40


def _condition(source: str) -> str:
    """A branch case's edge label: its condition, as written (it said "case 1", "case 2": which case was the
    push fallback could only be told from the YAML; a walkthrough)."""
    text = " ".join(source.split()).replace("@@", "@\u200b@")  # never a count slot's marker (_SLOT)
    return text if len(text) <= CONDITION_CHARS else text[:CONDITION_CHARS - 1].rstrip() + "…"


def edges(j: Journey) -> list[tuple[str, str, str, str]]:
    """Every edge the map draws: (from node, to node, label, counter key suffix ``from|to``)."""
    out: list[tuple[str, str, str, str]] = [(ENTRY, j.first, "", f"|{j.first}")]

    def target(src: str, dst: str, label: str) -> None:
        if dst == END:
            out.append((src, FINISH, label, f"{src}|!ended"))
        else:
            out.append((src, dst, label, f"{src}|{dst}"))

    for s in j.steps.values():
        if s.kind == "branch":
            for cond, t in s.branch:
                target(s.id, t, "else" if cond is None else _condition(cond.source))
            if all(cond is not None for cond, _ in s.branch):
                target(s.id, s.next, "no match")
        elif s.kind == "split":
            lower = 0.0
            for a in s.split:
                target(s.id, a.next, f"{a.variant} {round((a.upper - lower) * 100, 1):g}%")
                lower = a.upper
        elif s.kind == "wait_for":
            for m, t in s.ways:
                target(s.id, t, m.event)
            if s.condition is not None:
                target(s.id, s.next, "condition holds")
            target(s.id, s.on_timeout, "timeout")
        elif s.kind == "wait_until" and s.time is not None:
            target(s.id, s.next, "")
            target(s.id, s.on_missing, "no time")
        else:
            target(s.id, s.next, "")
    # Goal and exit_on can end an instance at any waiting step: one edge from each would tangle the map
    # (and a 50-step journey's layout took Graphviz seconds); the steps table has them per step.
    # Arms or cases of one step that lead to the same place are one edge: the fold counts instances per
    # (from, to), so drawn apart each showed the count of all of them (four arms of 400 for 400 reached)
    merged: dict[str, tuple[str, str, str, str]] = {}
    for src, dst, label, key in out:
        had = merged.get(key)
        merged[key] = (src, dst, label, key) if had is None else (src, dst, "\n".join(x for x in (had[2], label) if x), key)
    return list(merged.values())


def _zone(j: Journey) -> str:
    """A journey's own zone after a time of day (`` Europe/Berlin``): without it, 09:00 reads as each customer's."""
    return f" {j.timezone.key}" if j.timezone is not None else ""


def _kind_line(j: Journey, sid: str) -> str:
    s = j.steps[sid]
    if s.kind == "send" and s.send is not None:
        return f"send {s.send.channel}"
    if s.kind == "update" and s.update is not None:
        names = [n for n, _ in (*s.update.traits, *s.update.increment)]
        line = f"update {', '.join(names[:3])}{', …' if len(names) > 3 else ''}" if names else ""
        if s.update.consent:  # what the map must not hide: this step takes customers off a channel or a topic
            line += f"{'; ' if line else ''}unsubscribe {', '.join(s.update.consent)}"
        return line
    if s.kind == "wait":
        return f"wait {_dur(s.seconds)}"
    if s.kind == "wait_for" and s.condition is not None:
        every = f", tested every {_dur(s.recheck)}" if s.recheck else ""
        return f"wait until {_condition(s.condition.source)} ({_dur(s.seconds)}{every})"
    if s.kind == "wait_for" and s.ways:
        return f"wait for {' or '.join(dict.fromkeys(m.event for m, _ in s.ways))} ({_dur(s.seconds)})"
    if s.kind == "wait_until" and s.time is not None:  # `wait until event.properties.starts_at − 1d, at 09:00`
        shift = "" if not s.shift else f" {'−' if s.shift < 0 else '+'} {_dur(abs(s.shift))}"
        at = f", at {s.time_of_day[0]:02d}:{s.time_of_day[1]:02d}{_zone(j)}" if s.time_of_day is not None else ""
        return f"wait until {_condition(s.time.source)}{shift}{at}"
    if s.kind == "wait_until" and s.best_time is not None:
        h, m = s.best_time.default
        return f"wait for best {s.best_time.channel} hour (else {h:02d}:{m:02d})"
    if s.kind == "wait_until" and s.time_of_day is not None and s.window_end >= 0:
        end = f"{s.window_end // 60:02d}:{s.window_end % 60:02d}"
        return f"time window {s.time_of_day[0]:02d}:{s.time_of_day[1]:02d}–{end}{_days(s.days)}{_zone(j)}"
    if s.kind == "wait_until" and s.time_of_day is not None:
        return f"wait until {s.time_of_day[0]:02d}:{s.time_of_day[1]:02d}{_days(s.days)}{_zone(j)}"
    return s.kind


_DAY_ABBR: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _days(mask: int) -> str:
    """A ``wait_until``'s days as the map shows them (``" mon–fri"``, ``" mon, wed"``; empty for any day): the
    map said "wait until 09:00" for a Friday sign-up that waited until Monday."""
    if (mask & 0x7F) in (0, 0x7F):
        return ""
    if mask == 0x1F:
        return " mon–fri"
    if mask == 0x60:
        return " sat, sun"
    return " " + ", ".join(d for i, d in enumerate(_DAY_ABBR) if mask >> i & 1)


def _dur(sec: float) -> str:
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if sec >= n and sec % n == 0:
            return f"{int(sec // n)}{unit}"
    return f"{sec:g}s"


def _entry_line(j: Journey) -> str:
    """The entry node's text: a paused or closed journey's says so, where the map's counts would read as a quiet
    day."""
    shut = " (paused: nobody enters)" if j.paused else " (closed: nobody enters)" if j.closed else ""
    return f"entry: {j.entry.event}{shut}"


def dot_source(j: Journey) -> tuple[str, list[tuple[str, str]]]:
    """The DOT text and the slots in order: (``node``, step id) or (``edge``, counter key suffix)."""
    slots: list[tuple[str, str]] = []

    def slot(kind: str, ref: str) -> str:
        slots.append((kind, ref))
        return _slot(len(slots) - 1, kind)

    # the graph's id prefixes Graphviz's own ids (node1, edge1): a page with several maps repeats none
    lines = ["digraph journey {", f'  graph [id={_q("map-" + j.id)}, rankdir=TB, nodesep=0.35, ranksep=0.45, '
             'bgcolor="transparent", fontname="DejaVu Sans"];',
             '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", color="#8a94a6", '
             'fontname="DejaVu Sans", fontsize=11];',
             '  edge [color="#8a94a6", fontname="DejaVu Sans", fontsize=9, fontcolor="#4a5568"];',
             f'  {ENTRY} [label={_q(_entry_line(j) + chr(10) + slot("node", ENTRY))}, shape=oval, '
             + ('fillcolor="#eef2f7", style="dashed,filled"];' if j.paused or j.closed else 'fillcolor="#e6f0ff"];')]
    for sid, s in j.steps.items():
        fill = {"send": "#fff4e0", "split": "#f1e8ff", "branch": "#eef2f7"}.get(s.kind, "#ffffff")
        held = "\n(held: journey paused)" if j.paused and s.kind == "send" else ""
        label = f"{sid}\n{_kind_line(j, sid)}{held}\n{slot('node', sid)}"
        lines.append(f"  {_q(sid)} [id={_q(j.id + '-step-' + sid)}, label={_q(label)}, fillcolor={_q(fill)}];")
    if j.goal is not None:
        within = f" (within {_dur(j.goal_within)})" if j.goal_within != float("inf") else ""
        lines.append(f'  {GOAL} [label={_q("goal: " + j.goal.event + within + chr(10) + slot("node", GOAL))}, '
                     'shape=oval, fillcolor="#e3f6e8", color="#2f855a"];')
    if j.exit_on or j.exit_when:
        ev = ", ".join([m.event for m in j.exit_on] + [_condition(c.source) for _, c in j.exit_when])
        lines.append(f'  {EXIT} [label={_q("exit: " + ev + chr(10) + slot("node", EXIT))}, shape=oval, '
                     'fillcolor="#fdecec", color="#c53030"];')
    lines.append(f'  {FINISH} [label={_q("end" + chr(10) + slot("node", FINISH))}, shape=oval, fillcolor="#eef2f7"];')
    for src, dst, label, key in edges(j):
        text = (label + "\n" if label else "") + slot("edge", key)
        style = ", style=dashed" if dst in (GOAL, EXIT) else ""
        lines.append(f"  {_q(src)} -> {_q(dst)} [label={_q(text)}{style}];")
    sinks = [GOAL] * (j.goal is not None) + [EXIT] * bool(j.exit_on or j.exit_when) + [FINISH]
    lines.append("  { rank=sink; " + "; ".join(sinks) + "; }")  # outcomes at the bottom, side by side
    lines.append("}")
    return "\n".join(lines), slots


@lru_cache(maxsize=256)
def _layout(dot: str) -> str:
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizMissing("Graphviz `dot` is not installed (Debian: apt-get install graphviz)")
    svg = subprocess.run([exe, "-Tsvg"], input=dot.encode(), capture_output=True, check=True, timeout=60).stdout
    text = svg.decode()
    return text[text.index("<svg"):]  # without the XML prolog and doctype: it is inlined into the page


def layout(j: Journey) -> tuple[str, list[tuple[str, str]]]:
    """The SVG with placeholders (cached per definition) and its slots."""
    dot, slots = dot_source(j)
    return _layout(dot), slots


def render(j: Journey, fill: Callable[[str, str], str]) -> str:
    """The map's SVG with each slot replaced by ``fill(kind, ref)`` (escaped here)."""
    svg, slots = layout(j)
    return _SLOT.sub(lambda m: html.escape(fill(*slots[int(m.group(1))]), quote=False), svg)
