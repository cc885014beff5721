"""The report model: bucket counters of a journey over a time range -> the JSON the API and page show.

One function per view, all pure; the live service, ``simulate --report/--html`` and replays call the
same ones over the same buckets, so they show the same numbers. See the README ("Journey analytics")
for what each figure means.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cjo_stream.analytics.fold import (
    ENDINGS,
    FREQ_MAX,
    HOUR,
    RECEIPTS,
    STAGES,
    TTC_BOUNDS,
    BucketKey,
    Counters,
    merge,
)
from cjo_stream.analytics.stats import srm, two_proportion, wilson
from cjo_stream.journeys.model import Journey, status_of

SRM_ALPHA = 0.001  # a split whose arm counts are this unlikely under its weights is flagged
RECEIPT_RATES = ("delivered", "opened", "clicked", "bounced", "unsubscribed", "failed", "complained")

Definitions = Mapping[tuple[str, int], Journey]


def _r(x: float | None, nd: int = 6) -> float | None:
    return None if x is None else round(x, nd)


def _interval(x: int, n: int) -> list[float] | None:
    w = wilson(x, n)
    return None if w is None else [round(w[0], 6), round(w[1], 6)]


def select(buckets: Mapping[BucketKey, Counters], journey: str | None = None, version: int | None = None,
           since: float | None = None, until: float | None = None) -> list[tuple[BucketKey, Counters]]:
    """Buckets of a journey (all if None), one version (all if None), cohorts entered in [since, until)."""
    lo = math.floor(since / HOUR) if since is not None else None
    hi = math.ceil(until / HOUR) if until is not None else None
    return [(k, b) for k, b in buckets.items()
            if (journey is None or k[0] == journey) and (version is None or k[1] == version)
            and (lo is None or k[2] >= lo) and (hi is None or k[2] < hi)]


def counters(buckets: Mapping[BucketKey, Counters], journey: str | None, version: int | None = None,
             since: float | None = None, until: float | None = None,
             totals: Mapping[tuple[str, int], Counters] | None = None) -> tuple[Counters, list[tuple[BucketKey, Counters]]]:
    """The summed counters of the selected buckets (and the selection).

    With ``totals`` (per journey version, kept by the fold) a range covering most buckets is computed as
    totals minus the buckets outside it: a month of hourly buckets then costs a few dozen subtractions
    instead of adding up 720 buckets (the page's 200 ms budget, ``make bench``).
    """
    sel = select(buckets, journey, version, since, until)
    if totals is None or journey is None:
        return merge(b for _, b in sel), sel
    mine = [(k, b) for k, b in buckets.items() if k[0] == journey and (version is None or k[1] == version)]
    if len(sel) * 2 <= len(mine):
        return merge(b for _, b in sel), sel
    chosen = {k for k, _ in sel}
    out = merge(t for (j, v), t in totals.items() if j == journey and (version is None or v == version))
    for k, b in mine:
        if k not in chosen:
            for name, n in b.items():
                out[name] -= n
    return out, sel


def definition(defs: Definitions, journey: str, version: int | None) -> Journey | None:
    """The definition to draw: that version, else the newest loaded one."""
    if version is not None and (journey, version) in defs:
        return defs[(journey, version)]
    found = [j for (jid, _), j in defs.items() if jid == journey]
    return max(found, key=lambda j: j.version) if found else None


def quantile(hist: Mapping[int, int], q: float, sums: Mapping[int, int] | None = None) -> float | None:
    """A quantile of the time-to-convert histogram (seconds), interpolated inside its bin.

    ``sums``: each bin's sum of times in milliseconds. The bin's values are taken as spread evenly over the
    widest span inside the bin that is centred on their mean: a bin whose conversions all took the same
    time (a journey's wait is a round 6 h, on a bin's edge) gives that time exactly, where spreading them
    over the whole bin (the estimate without sums: counters folded before they were kept) put a median
    of 6 h at 4.5 h, and values evenly spread give the whole bin, as without sums.
    """
    n = sum(hist.values())
    if n == 0:
        return None
    target = q * n
    cum = 0
    for i in range(len(TTC_BOUNDS) + 1):
        c = hist.get(i, 0)
        if c and cum + c >= target:
            lo = float(TTC_BOUNDS[i - 1]) if i > 0 else 0.0
            hi = float(TTC_BOUNDS[i]) if i < len(TTC_BOUNDS) else lo * 2
            total = sums.get(i) if sums is not None else None
            if total is not None:
                mean = min(max(total / 1000 / c, lo), hi)  # within the bin (a sum short of old counts)
                half = min(mean - lo, hi - mean)
                lo, hi = mean - half, mean + half
            return round(lo + (hi - lo) * (target - cum) / c, 3)
        cum += c
    return float(TTC_BOUNDS[-1])


def headline(c: Counters) -> dict[str, Any]:
    """The journey-level numbers of merged counters."""
    entered = c.get("entered", 0)
    ended = sum(c.get(k, 0) for k in ENDINGS)
    conv = c.get("converted", 0)
    hist = {int(k[4:]): v for k, v in c.items() if k.startswith("ttc|")}
    sums = {int(k[6:]): v for k, v in c.items() if k.startswith("ttcms|")}
    return {"entered": entered, "active": max(0, entered - ended), "converted": conv,
            "exited": c.get("exited", 0), "expired": c.get("expired", 0), "ended": c.get("ended", 0),
            "merged": c.get("merged", 0), "holdout": c.get("holdout", 0),
            "conversion_rate": _r(conv / entered) if entered else None,
            "conversion_interval": _interval(conv, entered),
            "time_to_convert": {"median_s": quantile(hist, 0.5, sums), "p90_s": quantile(hist, 0.9, sums),
                                "converted": sum(hist.values())},
            "sent": sum(v for k, v in c.items() if k.startswith("c|") and k.endswith("|sent") and k.count("|") == 2)}


def _steps(c: Counters, j: Journey | None) -> list[dict[str, Any]]:
    per: dict[str, dict[str, int]] = {}
    for k, v in c.items():  # one pass: "s|<step>|<what>"
        if k.startswith("s|"):
            _, sid, what = k.split("|", 2)
            per.setdefault(sid, {})[what] = v
    ids: list[str] = list(j.steps) if j is not None else []
    ids += sorted(sid for sid in per if sid and sid not in ids)  # steps of another version in the selection
    out = []
    for sid in ids:
        m = per.get(sid, {})
        reached, cont = m.get("reached", 0), m.get("continued", 0)
        ends = {k[4:]: v for k, v in m.items() if k.startswith("end|")}
        skips = {k[5:]: v for k, v in m.items() if k.startswith("skip|") and v}
        held = {k[6:]: v for k, v in m.items() if k.startswith("defer|") and v}
        withdrew = {k[9:]: v for k, v in m.items() if k.startswith("withdrew|") and v}
        rc = {k[5:]: v for k, v in m.items() if k.startswith("rcpt|") and v}
        step = j.steps.get(sid) if j is not None else None
        exits = {k: v for k, v in ends.items() if k != "converted" and v}
        why = _exit_reasons(m, exits)
        out.append({
            "id": sid, "kind": step.kind if step else None,
            "channel": step.send.channel if step is not None and step.send is not None else None,
            "topic": step.send.topic if step is not None and step.send is not None else None,
            "reached": reached, "continued": cont, "waiting": max(0, reached - cont - sum(ends.values())),
            "sent": m.get("sent", 0), "deferred": m.get("deferred", 0), "deferred_by": dict(sorted(held.items())),
            "skipped": dict(sorted(skips.items())),
            # an update step's consent withdrawals (a sunset flow): per channel or topic, how many it withdrew
            "withdrew": dict(sorted(withdrew.items())),
            "converted_here": ends.get("converted", 0),
            "drop_off": sum(ends.values()),  # reached, never reached a next step, no longer waiting
            "exits": dict(sorted(exits.items())), "exit_reasons": why, "receipts": dict(sorted(rc.items())),
        })
    return out


#: Why an instance ended ``expired`` (``exit_reasons``): the engine's reason, or none for ``max_duration``.
EXPIRED_REASONS = {
    "max_duration": "the journey's max_duration passed",
    "step_unavailable": "its step was removed or renamed by an edit without a new version",
    "version_unavailable": "its version is no longer loaded and the current one lacks its step",
    "erased": "the customer was erased (DELETE /customers/{id}) while in the journey",
}


def _exit_reasons(m: Mapping[str, int], exits: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """Per way of ending with reasons (``expired``), how many ended at this step for each: those the fold counted
    with a reason (``why|expired|<reason>``), the rest ``max_duration`` (the engine gives none for it)."""
    expired = exits.get("expired", 0)
    if not expired:
        return {}
    told = {k[12:]: v for k, v in m.items() if k.startswith("why|expired|") and v}
    rest = expired - sum(told.values())
    if rest > 0:
        told["max_duration"] = rest
    return {"expired": dict(sorted(told.items(), key=lambda x: (-x[1], x[0])))}


def _edges(c: Counters) -> list[dict[str, Any]]:
    out = []
    for k, v in sorted(c.items()):
        if k.startswith("e|"):
            _, src, dst = k.split("|", 2)
            out.append({"from": src or "entry", "to": dst, "count": v})
    return out


def _group(entered: int, converted: int) -> dict[str, Any]:
    return {"entered": entered, "converted": converted, "rate": _r(converted / entered) if entered else None,
            "interval": _interval(converted, entered)}


def _compare(g: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    cmp = two_proportion(g["converted"], g["entered"], ref["converted"], ref["entered"])
    if cmp is None:
        return {"lift_abs": None, "lift_rel": None, "p_value": None}
    return {"lift_abs": _r(cmp.lift_abs), "lift_rel": _r(cmp.lift_rel), "p_value": _r(cmp.p_value, 8)}


#: what a group of a journey without a goal has in place of its conversion figures
_NO_RATE: dict[str, Any] = {"rate": None, "interval": None, "lift_abs": None, "lift_rel": None, "p_value": None}


def _experiments(c: Counters, j: Journey | None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    # without a goal nothing converts: arms and holdout showed 0.00 % [0.0–3.9 %] and "lift +0.00 pp", as if
    # the subject lines of a test had both failed (a walkthrough); their counts and sample ratios stay
    no_goal = j is not None and j.goal is None
    splits: dict[str, list[tuple[str, float]]] = {}
    if j is not None:
        for s in j.steps.values():
            if s.kind == "split":
                lower, arms = 0.0, []
                for a in s.split:
                    arms.append((a.variant, round(a.upper - lower, 6)))
                    lower = a.upper
                splits[s.id] = arms
    for k in sorted(c):
        if k.startswith("a|"):
            _, sid, v = k.split("|", 2)
            arms = splits.setdefault(sid, [])
            if all(v != a for a, _ in arms):
                arms.append((v, 0.0))
    engaged = _arm_engagement(c)
    tables = []
    for sid, arms in splits.items():
        # conversions per split and arm, plus those counted by arm name alone before (``v|...``: none since)
        rows = [{"variant": v, "weight": w, **_group(c.get(f"a|{sid}|{v}", 0),
                                                     c.get(f"ac|{sid}|{v}", 0) + c.get(f"v|{v}|converted", 0))}
                for v, w in arms]
        for r in rows:
            r["engagement"] = engaged.get((sid, r["variant"]), [])
        ctrl = next((r for r in rows if r["variant"] == "control"), rows[0] if rows else None)
        for r in rows:
            r["control"] = r is ctrl
            r.update(_compare(r, ctrl) if ctrl is not None and r is not ctrl else
                     {"lift_abs": None, "lift_rel": None, "p_value": None})
        if no_goal:
            for r in rows:
                r.update(_NO_RATE)
        weighted = [r for r in rows if r["weight"] > 0]
        check = srm([r["entered"] for r in weighted], [r["weight"] for r in weighted])
        tables.append({"split": sid, "arms": rows, "has_goal": None if j is None else not no_goal,
                       "srm": None if check is None else {"chi2": _r(check[0]), "p_value": _r(check[1], 8),
                                                          "mismatch": check[1] < SRM_ALPHA}})
    hold = None
    # Global-control customers (policies) get no customer-facing send from any journey: they are neither
    # treatment nor the journey's own holdout, so they form a group of their own (taken out of both, which
    # keeps the holdout's share of the rest at its percent for the sample-ratio check).
    gc_in, gc_conv = c.get("gc|entered", 0), c.get("gc|converted", 0)
    h_all = c.get("holdout", 0)
    h_in, h_conv = h_all - c.get("gc|holdout", 0), c.get("h|converted", 0) - c.get("gc|h|converted", 0)
    has_holdout = h_all > 0 or (j is not None and j.holdout > 0)
    if has_holdout or gc_in:
        h = _group(h_in, h_conv) if has_holdout else None
        g = _group(gc_in, gc_conv) if gc_in else None
        t = _group(c.get("entered", 0) - h_in - gc_in, c.get("converted", 0) - h_conv - gc_conv)
        ref = h if h is not None else g
        assert ref is not None
        t.update(_compare(t, ref))
        if no_goal:
            for grp in (h, g, t):
                if grp is not None:
                    grp.update(_NO_RATE)
        pct = j.holdout if j is not None else None
        check = srm([t["entered"], h["entered"]], [100 - pct, pct]) if pct and h is not None else None
        hold = {"percent": pct, "holdout": h, "treatment": t, "global_control": g,
                "has_goal": None if j is None else not no_goal,
                "reference": "holdout" if h is not None else "global_control",
                "srm": None if check is None else {"chi2": _r(check[0]), "p_value": _r(check[1], 8),
                                                   "mismatch": check[1] < SRM_ALPHA}}
    return tables, hold


#: What a split arm's engagement counts, per channel: its instances' sends and their receipts.
ARM_RECEIPTS = ("delivered", "opened", "clicked", "bounced", "unsubscribed")


def _arm_engagement(c: Counters) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Per (split, variant): per channel, the sends made to the arm's instances after its split and their receipts,
    each with its share of those sends (``ar|<split>|<variant>|<channel>|...``, see the fold's ``_sent``): the
    same send step reached from both arms showed one open rate for the two."""
    per: dict[tuple[str, str, str], dict[str, int]] = {}
    for k, v in c.items():
        if k.startswith("ar|"):
            _, sid, variant, ch, what = k.split("|", 4)
            per.setdefault((sid, variant, ch), {})[what] = v
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for (sid, variant, ch), m in sorted(per.items()):
        sent = m.get("sent", 0)
        row: dict[str, Any] = {"channel": ch, "sent": sent}
        for s in ARM_RECEIPTS:
            row[s] = m.get(f"rcpt|{s}", 0)
        row["rates"] = {s: (_r(row[s] / sent) if sent else None) for s in ARM_RECEIPTS}
        out.setdefault((sid, variant), []).append(row)
    return out


def _channels(c: Counters) -> list[dict[str, Any]]:
    chans = sorted({k.split("|")[1] for k in c if k.startswith("c|")})
    out = []
    for ch in chans:
        sent = c.get(f"c|{ch}|sent", 0)
        row: dict[str, Any] = {"channel": ch, "sent": sent, "skipped": c.get(f"c|{ch}|skipped", 0)}
        for s in RECEIPTS:  # the adapter's own "sent" (accepted by the provider) must not shadow ours
            row["accepted" if s == "sent" else s] = c.get(f"c|{ch}|rcpt|{s}", 0)
        row["rates"] = {s: (_r(row[s] / sent) if sent else None) for s in RECEIPT_RATES}
        hours = []
        for h in range(24):
            n, o = c.get(f"lh|{ch}|{h}|sent", 0), c.get(f"lh|{ch}|{h}|opened", 0)
            hours.append({"hour": h, "sent": n, "opened": o, "open_rate": _r(o / n) if n else None})
        freq = []
        for f in range(1, FREQ_MAX + 1):
            n, o = c.get(f"fq|{ch}|{f}|sent", 0), c.get(f"fq|{ch}|{f}|opened", 0)
            freq.append({"sends_per_week": f, "sent": n, "opened": o, "open_rate": _r(o / n) if n else None})
        row["by_local_hour"] = hours if any(x["sent"] for x in hours) else []
        row["by_sends_per_week"] = freq if any(x["sent"] for x in freq) else []
        out.append(row)
    return out


def _topics(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per subscription topic (``policies.yaml`` ``topics:``) the sends of the steps that name it, their skips
    by reason (``no_consent``: the customers who left the topic, or never joined an ``opt_in`` one) and their
    unsubscribes. The channels' rows put a newsletter and the order mails together, and a step's row does not
    say its topic (a walkthrough). By the steps' topics in the drawn definition: a step whose topic an edit
    without a new version changed counts under the topic it names now."""
    per: dict[str, dict[str, Any]] = {}
    for st in steps:
        if st["topic"] is None:
            continue
        row = per.setdefault(st["topic"], {"topic": st["topic"], "steps": [], "sent": 0, "skipped": {},
                                           "unsubscribed": 0})
        row["steps"].append(st["id"])
        row["sent"] += st["sent"]
        for reason, n in st["skipped"].items():
            row["skipped"][reason] = row["skipped"].get(reason, 0) + n
        row["unsubscribed"] += st["receipts"].get("unsubscribed", 0)
    return [dict(r, skipped=dict(sorted(r["skipped"].items()))) for _, r in sorted(per.items())]


def _series(sel: Iterable[tuple[BucketKey, Counters]]) -> list[dict[str, Any]]:
    per: dict[int, list[int]] = {}
    for (_, _, h), b in sel:
        e = per.setdefault(h, [0, 0])
        e[0] += b.get("entered", 0)
        e[1] += b.get("converted", 0)
    return [{"hour": h * HOUR, "entered": e[0], "converted": e[1]} for h, e in sorted(per.items())]


def _with_goal(figures: dict[str, Any], j: Journey | None) -> dict[str, Any]:
    """``goal``: the event a journey converts on, ``has_goal`` whether it has one (None: no definition
    loaded). A journey without one has no conversion rate: it showed 0.0 % [0.0–25.9 %], as if nobody
    converted."""
    if j is None:
        figures.update(goal=None, has_goal=None, goal_within_s=None)
    elif j.goal is None:
        figures.update(goal=None, has_goal=False, goal_within_s=None, conversion_rate=None, conversion_interval=None)
    else:  # goal_within_s: its window from the entry (`goal: {event, within}`), None for none
        figures.update(goal=j.goal.event, has_goal=True,
                       goal_within_s=None if math.isinf(j.goal_within) else j.goal_within)
    return figures


def journey_report(buckets: Mapping[BucketKey, Counters], defs: Definitions, journey: str,
                   version: int | None = None, since: float | None = None, until: float | None = None,
                   totals: Mapping[tuple[str, int], Counters] | None = None) -> dict[str, Any]:
    """Everything about one journey for the cohorts that entered in [since, until) (the API's answer)."""
    c, sel = counters(buckets, journey, version, since, until, totals)
    j = definition(defs, journey, version)
    variants, hold = _experiments(c, j)
    steps = _steps(c, j)
    versions = sorted({k[1] for k, _ in select(buckets, journey)} | {v for (jid, v) in defs if jid == journey})
    return {"journey": journey, "version": version, "versions": versions,
            "drawn_version": j.version if j is not None else None,
            "description": j.description.strip() if j is not None else "",
            "status": _status(j), "since": since, "until": until, "totals": _with_goal(headline(c), j), "steps": steps, "edges": _edges(c),
            "exit_points": _exit_points(steps),
            "experiments": variants, "holdout": hold, "channels": _channels(c), "topics": _topics(steps),
            "series": _series(sel)}


def _exit_points(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Where instances ended without converting, and how: a row per step, way and reason (``expired`` ones apart
    by why: max_duration, or the journey edited under them), most first."""
    rows = []
    for s in steps:
        for kind, n in s["exits"].items():
            reasons = s["exit_reasons"].get(kind)
            if reasons:
                rows += [{"step": s["id"], "kind": kind, "reason": r, "count": c} for r, c in reasons.items()]
            elif n:
                rows.append({"step": s["id"], "kind": kind, "reason": None, "count": n})
    return sorted(rows, key=lambda x: (-x["count"], x["step"]))


def _status(j: Journey | None) -> str | None:
    """The loaded definition's ``status`` (``live``, ``paused``, ``closed``), None for a journey no longer loaded."""
    return None if j is None else status_of(j)


def overview(buckets: Mapping[BucketKey, Counters], defs: Definitions, since: float | None = None,
             until: float | None = None, totals: Mapping[tuple[str, int], Counters] | None = None) -> list[dict[str, Any]]:
    """Every journey (loaded or seen) with its headline numbers (``GET /analytics/journeys``)."""
    ids = sorted({jid for jid, _ in defs} | {k[0] for k in buckets if k[0] != STAGES})
    out = []
    for jid in ids:
        c, _ = counters(buckets, jid, None, since, until, totals)
        j = definition(defs, jid, None)
        out.append({"journey": jid, "version": j.version if j is not None else None,
                    "versions": sorted({k[1] for k in buckets if k[0] == jid} | {v for (i, v) in defs if i == jid}),
                    "description": j.description.strip() if j is not None else "",
                    "status": _status(j), "steps": len(j.steps) if j is not None else None, **_with_goal(headline(c), j)})
    return out


def has_stages(buckets: Mapping[BucketKey, Counters], stages: Sequence[str]) -> bool:
    """Whether there is a stage flow to show: the topology has stages, or stage moves were counted."""
    return bool(stages) or any(k[0] == STAGES for k in buckets)


def stage_flow(buckets: Mapping[BucketKey, Counters], stages: Sequence[str], since: float | None = None,
               until: float | None = None,
               totals: Mapping[tuple[str, int], Counters] | None = None) -> dict[str, Any]:
    """Lifecycle stage moves that happened in [since, until) (``GET /analytics/stages``).

    Per stage (in the topology's order, then any other stage seen): customers who entered it, who left
    it, and the net (over all time: the customers in it now). Per move ``from`` -> ``to`` its count;
    ``from`` null is a new customer placed in the first stage, ``to`` null a profile merged into another.
    """
    c, _ = counters(buckets, STAGES, 0, since, until, totals)
    moves: dict[tuple[str, str], int] = {}
    for k, v in c.items():
        if k.startswith("m|") and v:
            _, frm, to = k.split("|")
            moves[(frm, to)] = v
    names = list(stages)
    names += sorted({x for m in moves for x in m if x and x not in names})
    order = {n: i for i, n in enumerate(names)}
    rows = []
    for n in names:
        entered = sum(v for (_, to), v in moves.items() if to == n)
        left = sum(v for (frm, _), v in moves.items() if frm == n)
        rows.append({"stage": n, "entered": entered, "left": left, "net": entered - left})

    def rank(x: str) -> int:  # "" (a new customer) first
        return order[x] if x else -1

    flow = [{"from": frm or None, "to": to or None, "count": v}
            for (frm, to), v in sorted(moves.items(), key=lambda m: (rank(m[0][0]), m[0][1] == "", rank(m[0][1])))]
    return {"since": since, "until": until, "stages": rows, "moves": flow,
            "new_customers": sum(v for (frm, _), v in moves.items() if not frm),
            "merged_away": sum(v for (_, to), v in moves.items() if not to)}
