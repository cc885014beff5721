"""Side by side: what two topologies decided over the same history, and who would be messaged differently.

Rows are per journey (entered, converted, conversion rate, exited, expired), per step and channel
(reached, sent, deferred, each skip reason) and per split arm (entered, converted); a row is *changed*
when any count differs. With a ``--warmup``, the instances it entered are followed after it: their later
steps, sends and endings count (as in the funnel), their entries do not, so the conversion rate is of the
instances entered from ``--since`` on, and a row says how many conversions were the warm-up's.

Customers who get at least one message from a journey under one topology and none under the other are
counted, with a few example ids, and so are those messaged under both whose messages differ in what is
sent (step, channel, recipient, content, variant, trigger) or when: ``--fail-on-change`` missed a
changed subject or wait while only counts and who was messaged were compared.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar

from cjo_stream.engine.funnel import Funnel
from cjo_stream.journeys.fingerprint import file_fingerprint
from cjo_stream.journeys.model import status_of
from cjo_stream.replay.run import Side

K = TypeVar("K")
_JOURNEY_KINDS = ("entered", "converted", "exited", "ended", "expired", "merged", "holdout")
#: the row of the conversions (counted in "converted") of instances a ``--warmup`` entered
WARM_CONVERTED = "of them entered in warm-up"


@dataclass(frozen=True)
class Row:
    scope: str  # "journey" | "step" | "variant"
    journey: str
    what: str  # step (with channel) or variant; "" for the journey itself
    metric: str
    a: float
    b: float

    @property
    def changed(self) -> bool:
        return self.a != self.b


@dataclass(frozen=True)
class CustomerDiff:
    journey: str
    only_a: int
    only_b: int
    examples_a: tuple[str, ...]
    examples_b: tuple[str, ...]
    differ: int = 0  # messaged under both, but not the same messages at the same times
    examples_differ: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.only_a or self.only_b or self.differ)


@dataclass(frozen=True)
class CatalogDiff:
    name: str
    changed: int  # rows of the same id, not the same
    only_a: int  # ids A's catalog has and B's has not (a catalog only one side has: all its rows)
    only_b: int
    examples: tuple[str, ...]  # ids, changed first


@dataclass
class Comparison:
    a: str
    b: str
    rows: list[Row]
    customers: list[CustomerDiff]
    #: journey versions defined differently under A and B (see :func:`edited_in_place`)
    edited: tuple[tuple[str, int], ...] = ()
    #: (journey, A's current version, B's) where they differ: the rows are by journey id, so a comparison of
    #: version 1 against version 2 showed no version anywhere (a walkthrough)
    versions: tuple[tuple[str, int, int], ...] = ()
    #: (journey, A's status, B's) where the current versions' ``status`` differ (live, paused, closed)
    statuses: tuple[tuple[str, str, str], ...] = ()
    #: catalogs whose rows differ under A and B (see :func:`catalog_changes`)
    catalogs: tuple[CatalogDiff, ...] = ()

    @property
    def changed(self) -> bool:
        return any(r.changed for r in self.rows) or any(c.changed for c in self.customers)


def _rate(c: dict[str, int], warm: dict[str, int]) -> float:
    """Converted over entered, of the instances entered from ``--since`` on: ``warm`` holds the counts of
    those a warm-up entered (their conversions count in ``converted``, their entries nowhere)."""
    return round((c.get("converted", 0) - warm.get("converted", 0)) / c["entered"], 4) if c.get("entered") else 0.0


def _counts(table: Mapping[K, Mapping[str, int]], key: K) -> dict[str, int]:
    """A copy of one row of a funnel table (empty if absent; reading a defaultdict would add it)."""
    return dict(table[key]) if key in table else {}


def _rows(fa: Funnel, fb: Funnel, wa: Funnel, wb: Funnel, channel_of: dict[tuple[str, str], str],
          goals: set[str]) -> Iterator[Row]:
    """``goals``: the journeys with a goal on either side; the others have no conversions to compare (a
    journey without one showed "conversion rate 0.0 % 0.0 %" where the report says "no goal")."""
    ja, jb, sa_, sb_, va_, vb_ = fa.journeys, fb.journeys, fa.steps, fb.steps, fa.variants, fb.variants  # made once
    wja, wjb, wva, wvb = wa.journeys, wb.journeys, wa.variants, wb.variants
    for j in sorted(set(ja) | set(jb)):
        ca, cb = _counts(ja, j), _counts(jb, j)
        goal = j in goals
        for k in _JOURNEY_KINDS:
            if ca.get(k, 0) or cb.get(k, 0) or k == "entered" or (k == "converted" and goal):
                yield Row("journey", j, "", k, ca.get(k, 0), cb.get(k, 0))
        wca, wcb = _counts(wja, j), _counts(wjb, j)
        if wca.get("converted", 0) or wcb.get("converted", 0):  # of "converted": entered in the warm-up
            yield Row("journey", j, "", WARM_CONVERTED, wca.get("converted", 0), wcb.get("converted", 0))
        if goal:
            yield Row("journey", j, "", "conversion rate", _rate(ca, wca), _rate(cb, wcb))
        for (jj, step) in sorted({k for k in (*sa_, *sb_) if k[0] == j}):
            sa, sb = _counts(sa_, (jj, step)), _counts(sb_, (jj, step))
            label = f"{step} ({channel_of[(j, step)]})" if (j, step) in channel_of else step
            for k in sorted(set(sa) | set(sb), key=lambda k: (k.startswith("skipped:"), k)):
                yield Row("step", j, label, k, sa.get(k, 0), sb.get(k, 0))
        for (jj, v) in sorted({k for k in (*va_, *vb_) if k[0] == j}):
            va, vb = _counts(va_, (jj, v)), _counts(vb_, (jj, v))
            wa_v, wb_v = _counts(wva, (jj, v)), _counts(wvb, (jj, v))
            for k in ("entered", "converted") if goal else ("entered",):
                yield Row("variant", j, v, k, va.get(k, 0), vb.get(k, 0))
            if wa_v.get("converted", 0) or wb_v.get("converted", 0):
                yield Row("variant", j, v, WARM_CONVERTED, wa_v.get("converted", 0), wb_v.get("converted", 0))
            if goal:
                yield Row("variant", j, v, "conversion rate", _rate(va, wa_v), _rate(vb, wb_v))


def edited_in_place(a: Side, b: Side) -> list[tuple[str, int]]:
    """Journey versions both topologies load from files that say different things. Both sides run from an
    empty state, so the table cannot show what such an edit does to customers already in the journey
    (deployed, they switch to B's definition where they stand: README, "Versions"); it is named instead."""
    va, vb = a.sim.engine.versions, b.sim.engine.versions
    out = []
    for key in sorted(va.keys() & vb.keys()):
        ja, jb = va[key], vb[key]
        if ja.source and jb.source and ja.source != jb.source \
                and file_fingerprint(ja.source) != file_fingerprint(jb.source):
            out.append(key)
    return out


def _fields(row: Mapping[str, object]) -> dict[str, object]:
    """A row but its id: `2` and `"2"` find the same row."""
    return {k: v for k, v in row.items() if k != "id"}


def _catalogs(side: Side) -> Mapping[str, Mapping[object, Mapping[str, object]]]:
    return next((j.catalogs for j in side.sim.engine.versions.values() if j.catalogs), {})


def catalog_changes(a: Side, b: Side, examples: int = 5) -> list[CatalogDiff]:
    """The catalogs whose rows differ under A and B. The table shows what B's rows decide, but not that a
    customer already in a journey reads them too once the workers load them (catalogs are not versioned,
    README "Catalogs"): named, as a journey edited in place is."""
    ca, cb = _catalogs(a), _catalogs(b)
    out = []
    for name in sorted(ca.keys() | cb.keys()):
        ra = {str(k): v for k, v in ca.get(name, {}).items()}
        rb = {str(k): v for k, v in cb.get(name, {}).items()}
        changed = sorted(k for k in ra.keys() & rb.keys() if _fields(ra[k]) != _fields(rb[k]))
        only_a, only_b = sorted(ra.keys() - rb.keys()), sorted(rb.keys() - ra.keys())
        if changed or only_a or only_b:
            out.append(CatalogDiff(name, len(changed), len(only_a), len(only_b),
                                   tuple((changed + only_a + only_b)[:examples])))
    return out


def compare(a: Side, b: Side, examples: int = 5) -> Comparison:
    channel_of: dict[tuple[str, str], str] = {}
    goals: set[str] = set()
    for side in (a, b):
        for journey in side.sim.engine.versions.values():
            if journey.goal is not None:
                goals.add(journey.id)
            for step in journey.steps.values():
                if step.send is not None:
                    channel_of.setdefault((journey.id, step.id), step.send.channel)
    rows = list(_rows(a.sim.funnel, b.sim.funnel, a.sim.warm_funnel, b.sim.warm_funnel, channel_of, goals))
    customers = []
    for j in sorted(set(a.messaged) | set(b.messaged)):
        ma, mb = a.messaged.get(j, {}), b.messaged.get(j, {})
        only_a, only_b = sorted(ma.keys() - mb.keys()), sorted(mb.keys() - ma.keys())
        differ = sorted(c for c in ma.keys() & mb.keys() if ma[c] != mb[c])
        customers.append(CustomerDiff(j, len(only_a), len(only_b), tuple(only_a[:examples]), tuple(only_b[:examples]),
                                      len(differ), tuple(differ[:examples])))
    ca, cb = a.sim.engine.current, b.sim.engine.current
    versions = tuple((j, ca[j].version, cb[j].version) for j in sorted(ca.keys() & cb.keys())
                     if ca[j].version != cb[j].version)
    statuses = tuple((j, status_of(ca[j]), status_of(cb[j])) for j in sorted(ca.keys() & cb.keys())
                     if status_of(ca[j]) != status_of(cb[j]))
    return Comparison(a.name, b.name, rows, customers, tuple(edited_in_place(a, b)), versions, statuses,
                      tuple(catalog_changes(a, b, examples)))


#: what ``replay`` does with a status from ``--since`` on, told beside a difference of status
_FROM_SINCE = {"paused": "paused from --since on: customers the warm-up entered are held at their next send",
               "closed": "closed from --since on: nobody enters, customers the warm-up entered go on and are sent to"}


def render(cmp: Comparison, only_changed: bool = False) -> str:
    """A plain-text table: A, B and the difference per row; changed rows marked with ``*``."""
    lines = [f"A = {cmp.a}", f"B = {cmp.b}", ""]
    for jid, version_a, version_b in cmp.versions:
        lines.append(f"journey {jid}: A enters version {version_a}, B version {version_b}")
    for jid, status_a, status_b in cmp.statuses:
        told = "; ".join(_FROM_SINCE[s] for s in dict.fromkeys((status_a, status_b)) if s in _FROM_SINCE)
        lines.append(f"journey {jid}: {status_a} under A, {status_b} under B ({told})")
    for cat in cmp.catalogs:
        lines.append(f"catalog {cat.name}: {cat.changed:,} row(s) differ under B, {cat.only_a:,} only under A, "
                     f"{cat.only_b:,} only under B (e.g. {', '.join(cat.examples)}): deployed, customers already in "
                     "a journey read "
                     "B's rows too (catalogs have no versions)")
    if cmp.versions or cmp.statuses or cmp.catalogs:
        lines.append("")
    for jid, version in cmp.edited:
        lines += [f"note: journey {jid} version {version} is defined differently under A and B: deployed, the customers "
                  f"already in it switch to B's definition where they stand, which this table (both sides from the "
                  f"start) does not show; bump `version` in B and keep A's file to keep them on A's", ""]
    head = f"  {'journey':<20} {'step / variant':<26} {'metric':<22} {'A':>10} {'B':>10} {'B - A':>10}"
    shown = [r for r in cmp.rows if r.changed or not only_changed]
    # a header over no rows read as a table that failed to print
    lines.append(head if shown else "  no row differs")
    for r in shown:
        rate = r.metric == "conversion rate"
        fa, fb = (f"{r.a:.1%}", f"{r.b:.1%}") if rate else (f"{r.a:g}", f"{r.b:g}")
        delta = f"{(r.b - r.a) * 100:+.1f} pt" if rate else f"{r.b - r.a:+g}"
        mark = "*" if r.changed else " "
        lines.append(f"{mark} {r.journey:<20} {r.what:<26} {r.metric:<22} {fa:>10} {fb:>10} {delta if r.changed else '':>10}")
    lines.append("")
    lines.append("Customers messaged by a journey under one topology and not the other:")
    any_diff = False
    for c in cmp.customers:
        if not (c.only_a or c.only_b):
            continue
        any_diff = True
        lines.append(f"  {c.journey}: {c.only_a} only under A" + (f" (e.g. {', '.join(c.examples_a)})" if c.examples_a else "")
                     + f"; {c.only_b} only under B" + (f" (e.g. {', '.join(c.examples_b)})" if c.examples_b else ""))
    if not any_diff:
        lines.append("  none")
    lines.append("")
    # the same customers messaged, but a subject, a wait or a recipient changed: counts alone missed it
    lines.append("Customers messaged by a journey under both, but not the same messages at the same times:")
    differ = [c for c in cmp.customers if c.differ]
    for c in differ:
        lines.append(f"  {c.journey}: {c.differ}" + (f" (e.g. {', '.join(c.examples_differ)})" if c.examples_differ else ""))
    if not differ:
        lines.append("  none")
    lines.append("")
    lines.append("differences found" if cmp.changed else "no differences")
    return "\n".join(lines)
