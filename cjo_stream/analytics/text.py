"""The report as plain text (``cjo-stream simulate --report``): the same figures as the page and the API."""

from __future__ import annotations

from typing import Any

from cjo_stream.analytics.page import (
    CHANNEL_RECEIPTS,
    arm_engagement,
    duration,
    interval,
    num,
    pct,
    pvalue,
    rate_text,
    step_receipts,
)
from cjo_stream.analytics.report import ARM_RECEIPTS


def _no_goal(rate: float | None, nd: int = 1) -> str:
    """A split arm's rate in a journey without a goal: none, as its totals say (``report._NO_RATE``)."""
    return "no goal"


def stages(flow: dict[str, Any], since: str | None = None) -> list[str]:
    """The lifecycle stage flow: per stage who entered, left and the net; then every move with its count."""
    lines = ["", "== lifecycle stages" + (f" (moves from {since} on: net is the change since then, not the "
                                          "customers in each stage)" if since else ""), "  stage".ljust(24) + "entered".rjust(9) + "left".rjust(9) + "net".rjust(9)]
    for r in flow["stages"]:
        lines.append(("  " + r["stage"]).ljust(24) + num(r["entered"]).rjust(9) + num(r["left"]).rjust(9)
                     + num(r["net"]).rjust(9))
    moves = ", ".join(f"{m['from'] or '(new)'} -> {m['to'] or '(merged)'} {num(m['count'])}" for m in flow["moves"])
    lines.append(f"  moves: {moves or 'none'}")
    return lines


def _why(reasons: dict[str, int] | None) -> str:
    """`` (step_unavailable 3, max_duration 2)``: why the instances ending a way at a step did (``expired``)."""
    if not reasons:
        return ""
    if len(reasons) == 1:
        return f" ({next(iter(reasons))})"
    return " (" + ", ".join(f"{r} {num(n)}" for r, n in reasons.items()) + ")"


def render(overview: list[dict[str, Any]], reports: dict[str, dict[str, Any]],
           flow: dict[str, Any] | None = None, since: str | None = None) -> str:
    lines = ["journey".ljust(22) + "entered".rjust(9) + "active".rjust(8) + "converted".rjust(11) + "rate".rjust(8)
             + "  95% interval".ljust(17) + "median ttc".rjust(11) + "p90 ttc".rjust(9) + "exited".rjust(8)
             + "expired".rjust(9)]
    for r in overview:
        tc = r["time_to_convert"]
        lines.append(r["journey"].ljust(22) + num(r["entered"]).rjust(9) + num(r["active"]).rjust(8)
                     + num(r["converted"]).rjust(11) + rate_text(r).rjust(8)
                     + ("  " + interval(r["conversion_interval"])).ljust(17) + duration(tc["median_s"]).rjust(11)
                     + duration(tc["p90_s"]).rjust(9) + num(r["exited"]).rjust(8) + num(r["expired"]).rjust(9))
    if flow is not None:
        lines += stages(flow, since)
    for jid in sorted(reports):
        rep = reports[jid]
        if not rep["totals"]["entered"] and not rep["steps"]:
            continue
        t = rep["totals"]  # a goal's window: a goal event later than it is no conversion
        window = ("" if t.get("goal_within_s") is None else
                  f"  (goal: {t['goal']} within {duration(t['goal_within_s'])} of entry)")
        lines += ["", f"== {jid}{window}", "  step".ljust(24) + "reached".rjust(9) + "waiting".rjust(9) + "continued".rjust(11)
                  + "drop-off".rjust(10)
                  + "sent".rjust(7) + "deferred".rjust(10) + "  skipped / endings / receipts"]
        for s in rep["steps"]:
            # the drop-off counts conversions too: named, or the endings listed fell short of it
            conv = [f"converted:{s['converted_here']}"] if s["converted_here"] else []
            extra = ", ".join([f"deferred:{k}={v}" for k, v in s["deferred_by"].items()]
                              + [f"withdrew:{k}={v}" for k, v in s.get("withdrew", {}).items()]
                              + [f"{k}={v}" for k, v in s["skipped"].items()] + conv
                              + [f"{k}:{v}" + _why(s["exit_reasons"].get(k)) for k, v in s["exits"].items()]
                              + ([receipts] if (receipts := step_receipts(s)) else [])) or "-"
            lines.append(("  " + s["id"]).ljust(24) + num(s["reached"]).rjust(9) + num(s["waiting"]).rjust(9)
                         + num(s["continued"]).rjust(11) + num(s["drop_off"]).rjust(10) + num(s["sent"]).rjust(7) + num(s["deferred"]).rjust(10)
                         + "  " + extra)
        for ex in rep["experiments"]:
            srm = ex["srm"]
            lines.append(f"  split {ex['split']}" + (f"  (sample ratio p={pvalue(srm['p_value'])}"
                                                     f"{', MISMATCH' if srm['mismatch'] else ''})" if srm else ""))
            rate = pct if ex.get("has_goal") is not False else _no_goal
            for a in ex["arms"]:
                lift = "" if a["lift_abs"] is None else (f"  lift {a['lift_abs'] * 100:+.2f} pp"
                                                         + ("" if a["lift_rel"] is None else
                                                            f" ({a['lift_rel'] * 100:+.1f}%)")
                                                         + f"  p={pvalue(a['p_value'])}")
                lines.append(f"    {a['variant'] + (' (control)' if a['control'] else '')}".ljust(26)
                             + f"{a['weight'] * 100:g}%".rjust(5) + num(a["entered"]).rjust(8)
                             + num(a["converted"]).rjust(8) + rate(a["rate"], 2).rjust(9) + "  "
                             + interval(a["interval"]) + lift)
            engaged = arm_engagement(ex)
            if engaged:
                lines.append("    engagement by arm (receipts of the arm's sends after the split):")
            for variant, e, shown in engaged:
                figures = ", ".join(f"{s} {shown[s]}" for s in ARM_RECEIPTS if shown[s] != "–")
                lines.append(f"    {variant}".ljust(26) + f"{e['channel']}: sent {num(e['sent'])}"
                             + (f", {figures}" if figures else ""))
        h = rep["holdout"]
        if h:
            t = h["treatment"]
            groups = [f"{name.replace('_', ' ')} {num(g['converted'])}/{num(g['entered'])} {pct(g['rate'], 2)} "
                      f"{interval(g['interval'])}" if h.get("has_goal") is not False else
                      f"{name.replace('_', ' ')} {num(g['entered'])} (no goal)"
                      for name in ("treatment", "holdout", "global_control") if (g := h[name]) is not None]
            lines.append((f"  holdout {h['percent']}%: " if h["holdout"] else "  global control: ")
                         + ", ".join(groups)
                         + ("" if t["lift_abs"] is None else
                            f", lift vs {h['reference'].replace('_', ' ')} {t['lift_abs'] * 100:+.2f} pp "
                            f"p={pvalue(t['p_value'])}")
                         # as the split's: a holdout that does not fit its percentage was flagged on the page only
                         + ("" if not h["srm"] else f"  (sample ratio p={pvalue(h['srm']['p_value'])}"
                                                      f"{', MISMATCH' if h['srm']['mismatch'] else ''})"))
        for c in rep["channels"]:
            rates = ", ".join(f"{s} {num(c[s])} ({pct(c['rates'][s])})" for s in
                              CHANNEL_RECEIPTS if c[s])
            lines.append(f"  channel {c['channel']}: sent {num(c['sent'])}, skipped {num(c['skipped'])}"
                         + (f"; {rates}" if rates else ""))
        for t in rep["topics"]:  # a topic's sends, and the consent its customers gave it (no_consent)
            skipped = "".join(f", skipped {r}={num(n)}" for r, n in t["skipped"].items())
            lines.append(f"  topic {t['topic']} ({', '.join(t['steps'])}): sent {num(t['sent'])}{skipped}"
                         + (f", unsubscribed {num(t['unsubscribed'])}" if t["unsubscribed"] else ""))
    return "\n".join(lines)
