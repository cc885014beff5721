"""The analytics page: journeys with headline numbers, the lifecycle stage flow, and per journey its map and tables.

Server-rendered HTML with inline CSS and SVG (no assets to serve, no Node build; one self-contained
file offline). The live page re-fetches its ``<main>`` every few seconds (``X-CJO-Fragment: 1``), so
counts fill up without a reload. Every number carries ``data-k`` naming the report field it shows,
which is how the browser test compares the page with the API.
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from cjo_stream.analytics import graph
from cjo_stream.analytics.report import ARM_RECEIPTS, EXPIRED_REASONS, Definitions, definition

REFRESH_MS = 5000

_CSS = """
:root{--fg:#1a202c;--mut:#5a6478;--line:#e2e8f0;--acc:#2b6cb0;--good:#2f855a;--bad:#c53030}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 "DejaVu Sans",system-ui,sans-serif;color:var(--fg);background:#f7f9fc}
header{display:flex;gap:16px;align-items:baseline;padding:12px 24px;background:#1f2a44;color:#fff}
header a{color:#fff;text-decoration:none;font-weight:600}header .upd{margin-left:auto;color:#cbd5e0;font-size:12px}
main{padding:16px 24px;max-width:1400px}h1{font-size:20px;margin:8px 0}h2{font-size:16px;margin:20px 0 8px}
.desc{color:var(--mut);margin:0 0 12px}.cards{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0 16px}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:120px}
.card .v{font-size:20px;font-weight:600}.card .l{color:var(--mut);font-size:12px}
table{border-collapse:collapse;background:#fff;border:1px solid var(--line);margin:4px 0 12px}
th,td{padding:5px 10px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th{background:#f1f4f9;font-weight:600;font-size:12px;color:var(--mut)}td:first-child,th:first-child{text-align:left}
.map{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px;overflow:auto}
.map svg{max-width:100%;height:auto}.win{color:var(--good);font-weight:600}.lose{color:var(--bad);font-weight:600}
.warn{background:#fff5f5;border:1px solid #feb2b2;color:var(--bad);padding:6px 10px;border-radius:6px}
td.t,th.t{text-align:left}.note{color:var(--mut);font-size:12px}.ranges a{margin-right:10px}.grid{display:flex;flex-wrap:wrap;gap:24px}
.paused{background:#fffbea;border:1px solid #f6e05e;color:#744210;font-size:12px;padding:1px 6px;border-radius:4px}
"""

_SCRIPT = """
(function(){var every=EVERY;function tick(){fetch(location.href,{headers:{'X-CJO-Fragment':'1'},credentials:'same-origin'})
.then(function(r){if(!r.ok)throw r.status;return r.text()}).then(function(t){document.getElementById('main').innerHTML=t;
document.getElementById('updated').textContent='updated '+new Date().toLocaleTimeString()}).catch(function(){
document.getElementById('updated').textContent='not updated (offline?)'}).then(function(){setTimeout(tick,every)})}
setTimeout(tick,every)})();
""".replace("EVERY", str(REFRESH_MS))

RANGES = {"24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "all": None}


def _e(x: Any) -> str:
    return html.escape(str(x))


def num(x: int | None) -> str:
    return "–" if x is None else f"{x:,}"


def pct(x: float | None, nd: int = 1) -> str:
    return "–" if x is None else f"{x * 100:.{nd}f}%"


def rate_text(figures: dict[str, Any]) -> str:
    """A journey's conversion rate, or "no goal" for a journey without one (``report._with_goal``)."""
    return "no goal" if figures.get("has_goal") is False else pct(figures["conversion_rate"])


def interval(iv: list[float] | None) -> str:
    return "" if not iv else f"[{iv[0] * 100:.1f}–{iv[1] * 100:.1f}%]"


def duration(s: float | None) -> str:
    if s is None:
        return "–"
    if s < 90:
        return f"{s:.0f}s"
    if s < 5400:
        return f"{s / 60:.1f}m"
    if s < 2 * 86400:
        return f"{s / 3600:.1f}h"
    return f"{s / 86400:.1f}d"


def pvalue(p: float | None) -> str:
    if p is None:
        return "–"
    return "<0.0001" if p < 0.0001 else f"{p:.4f}"


def _td(key: str, text: str, raw: Any = None) -> str:
    data = f' data-v="{_e(raw)}"' if raw is not None else ""
    return f'<td data-k="{_e(key)}"{data}>{_e(text)}</td>'


def page(title: str, body: str, live: bool, home: str = "/") -> str:
    stamp = time.strftime("%H:%M:%S")
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width,initial-scale=1'>"
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
            f"<header><a href='{_e(home)}'>cjo-stream · journey analytics</a>"
            f"<span class=upd id=updated>{'updated ' + stamp if live else 'offline report'}</span></header>"
            f"<main id=main>{body}</main>" + (f"<script>{_SCRIPT}</script>" if live else "") + "</body></html>")


#: the mark of a journey nobody enters, by its status, and what it means (README, "Pausing a journey", "Closing a
#: journey")
_SHUT = {"paused": "status: paused: nobody enters, sends held",
         "closed": "status: closed: nobody enters, those in it finish"}


def _paused(rep: dict[str, Any]) -> str:
    """A paused or closed journey's mark: its empty entries are no quiet day."""
    status = rep.get("status")
    title = _SHUT.get(status) if isinstance(status, str) else None
    return f" <span class=paused title='{title}'>{status}</span>" if title is not None else ""


def overview_html(rows: list[dict[str, Any]], link: str = "journeys/{id}", range_key: str = "all") -> str:
    out = ["<h1>Journeys</h1>", _ranges(range_key, ""),
           "<table id=journeys><tr><th>journey</th><th>version</th><th>entered</th><th>active now</th>"
           "<th>converted</th><th>conversion rate</th><th>95 % interval</th><th>median time to convert</th>"
           "<th>exited</th><th>expired</th><th>messages sent</th></tr>"]
    for r in rows:
        jid = r["journey"]
        href = link.format(id=quote(jid))
        k = f"journeys.{jid}."
        tc = r["time_to_convert"]
        out.append(f"<tr data-journey='{_e(jid)}'><td><a href='{_e(href)}'>{_e(jid)}</a></td>"
                   f"<td>{_e(r['version'])}{_paused(r)}</td>" + _td(k + "entered", num(r["entered"]), r["entered"])
                   + _td(k + "active", num(r["active"]), r["active"])
                   + _td(k + "converted", num(r["converted"]), r["converted"])
                   + _td(k + "conversion_rate", rate_text(r), r["conversion_rate"])
                   + f"<td>{interval(r['conversion_interval'])}</td>"
                   + _td(k + "time_to_convert.median_s", duration(tc["median_s"]), tc["median_s"])
                   + _td(k + "exited", num(r["exited"]), r["exited"])
                   + _td(k + "expired", num(r["expired"]), r["expired"])
                   + _td(k + "sent", num(r["sent"]), r["sent"]) + "</tr>")
    out.append("</table><p class=note>Counts are per cohort: the customers who entered a journey in the "
               "range. Rates are conversions per entry, with 95 % Wilson intervals.</p>")
    return "".join(out)


def stages_html(flow: dict[str, Any], range_key: str = "all", since: str | None = None) -> str:
    """The lifecycle stage flow: a table of stages (entered, left, net) and one of the moves between them.

    ``since``: the moves start there (a replay's ``--since``), so the net is the change since then, not
    the customers in each stage now (it read so, with a negative net)."""
    when = f"from {since} on" if since else "over all time" if range_key == "all" else f"in the last {range_key}"
    net = ("the change since then, not the customers in the stage (earlier moves are not counted)" if since else
           "over all time, the customers in the stage now")
    out = [f"<h2 id=lifecycle>Lifecycle stages</h2><p class=note>Stage moves made {_e(when)} (by when they "
           f"happened). Net = entered − left; {net}.</p>"
           "<table id=stages><tr><th>stage</th><th>entered</th><th>left</th><th>net</th><th class=t>came from</th>"
           "<th class=t>went to</th></tr>"]
    moves = flow["moves"]
    for r in flow["stages"]:
        n = r["stage"]
        k = f"stages.{n}."
        came = ", ".join(f"{m['from'] or 'new'} {m['count']:,}" for m in moves if m["to"] == n) or "–"
        went = ", ".join(f"{m['to'] or 'merged'} {m['count']:,}" for m in moves if m["from"] == n) or "–"
        out.append(f"<tr><td>{_e(n)}</td>" + "".join(_td(k + f, num(r[f]), r[f]) for f in ("entered", "left", "net"))
                   + f"<td class=t>{_e(came)}</td><td class=t>{_e(went)}</td></tr>")
    out.append("</table>")
    if not moves:
        return "".join(out) + "<p class=note>No stage moves in this range.</p>"
    left = {r["stage"]: r["left"] for r in flow["stages"]}
    out.append("<table id=stage-moves><tr><th>from</th><th class=t>to</th><th>customers</th>"
               "<th>share of those leaving</th></tr>")
    for m in moves:
        frm, to = m["from"], m["to"]
        share = pct(m["count"] / left[frm]) if frm and left.get(frm) else "–"
        out.append(f"<tr><td>{_e(frm or '(new customer)')}</td><td class=t>{_e(to or '(merged into another)')}</td>"
                   + _td(f"stage_moves.{frm or ''}.{to or ''}", num(m["count"]), m["count"])
                   + f"<td>{share}</td></tr>")
    return "".join(out) + "</table>"


def _ranges(current: str, base: str) -> str:
    links = [f"<b>{k}</b>" if k == current else f"<a href='{_e(base)}?range={k}'>{k}</a>" for k in RANGES]
    return "<p class=ranges>entered in the last: " + " ".join(links) + "</p>"


def _versions(rep: dict[str, Any], range_key: str) -> str:
    """Links to each version's numbers (all versions together by default) when there is more than one."""
    if len(rep["versions"]) < 2:
        return ""
    rng = f"&range={range_key}" if range_key != "all" else ""
    links = ["<b>all</b>" if rep["version"] is None else f"<a href='?{rng[1:]}'>all</a>"]
    links += [f"<b>{v}</b>" if v == rep["version"] else f"<a href='?version={v}{rng}'>{v}</a>" for v in rep["versions"]]
    return "<p class=ranges>versions: " + " ".join(links) + "</p>"


def _window(t: dict[str, Any]) -> str:
    """A goal's conversion window (``goal: {event, within}``): a goal event later than it is no conversion."""
    w = t.get("goal_within_s")
    return "" if w is None else f" · {t['goal']} within {duration(w)} of entry"


def _card(key: str, label: str, text: str, raw: Any, sub: str = "") -> str:
    data = f" data-v='{_e(raw)}'" if raw is not None else ""  # (no value: was data-v='None')
    return (f"<div class=card><div class=v data-k='{_e(key)}'{data}>{_e(text)}</div>"
            f"<div class=l>{_e(label)}{(' ' + _e(sub)) if sub else ''}</div></div>")


def journey_html(rep: dict[str, Any], defs: Definitions, range_key: str = "all", base: str = "") -> str:
    jid = rep["journey"]
    t = rep["totals"]
    tc = t["time_to_convert"]
    out = [f"<h1 id='j-{_e(jid)}'>{_e(jid)} <span class=note>version {_e(rep['drawn_version'])}</span>"
           f"{_paused(rep)}</h1>"
           f"<p class=desc>{_e(rep['description'])}</p>", _ranges(range_key, base), _versions(rep, range_key),
           "<div class=cards>",
           _card("totals.entered", "entered", num(t["entered"]), t["entered"]),
           _card("totals.active", "in the journey now", num(t["active"]), t["active"]),
           _card("totals.converted", "converted", num(t["converted"]), t["converted"]),
           _card("totals.conversion_rate", "conversion rate", rate_text(t), t["conversion_rate"],
                 interval(t["conversion_interval"]) + _window(t)),
           _card("totals.time_to_convert.median_s", "median time to convert", duration(tc["median_s"]),
                 tc["median_s"], f"p90 {duration(tc['p90_s'])}"),
           _card("totals.exited", "exited", num(t["exited"]), t["exited"]),
           _card("totals.expired", "expired", num(t["expired"]), t["expired"]),
           _card("totals.sent", "messages sent", num(t["sent"]), t["sent"]), "</div>"]
    j = definition(defs, jid, rep["drawn_version"])
    if j is not None:
        out.append("<h2>Journey map</h2><div class=map>" + _map(rep, j) + "</div>")
    out.append(_steps_table(rep))
    out.append(_exits_table(rep))
    out.append(_experiments(rep))
    out.append(_channels(rep))
    out.append(_topics(rep))
    return "".join(out)


def _map(rep: dict[str, Any], j: Any) -> str:
    steps = {s["id"]: s for s in rep["steps"]}
    edges = {f"{'' if e['from'] == 'entry' else e['from']}|{e['to']}": e["count"] for e in rep["edges"]}
    t = rep["totals"]

    def fill(kind: str, ref: str) -> str:
        if kind == "edge":
            n = edges.get(ref, 0)
            return f"{n:,}" if n else "0"
        if ref == graph.ENTRY:
            return f"{t['entered']:,} entered"
        if ref == graph.GOAL:
            return f"{t['converted']:,} converted"
        if ref == graph.EXIT:
            return f"{t['exited']:,} exited"
        if ref == graph.FINISH:
            return f"{t['ended']:,} ended · {t['expired']:,} expired"
        s = steps.get(ref)
        if s is None:
            return ""
        if s["kind"] == "send":
            skipped = sum(s["skipped"].values())
            return f"{s['sent']:,} sent · {skipped:,} skipped"
        if s["kind"] in ("wait", "wait_for", "wait_until"):
            return f"{s['reached']:,} in · {s['waiting']:,} now"
        return f"{s['reached']:,} reached"

    try:
        return graph.render(j, fill)
    except graph.GraphvizMissing as e:
        return f"<p class=warn>{_e(e)}</p>"


#: The receipts a channel's row shows (the page's table and the text report).
CHANNEL_RECEIPTS = ("delivered", "opened", "clicked", "bounced", "unsubscribed")
#: The receipts a step's row shows, in the order a message lives them.
STEP_RECEIPTS = ("delivered", "opened", "clicked", "bounced", "failed", "unsubscribed", "complained")


def step_receipts(s: dict[str, Any]) -> str:
    """A send step's receipts, each with its share of the step's sends ("opened 6 (33.3%)"): an e-mail A/B
    test's arms are two steps, and only the channels' totals were shown (a walkthrough)."""
    rc, sent = s["receipts"], s["sent"]
    return ", ".join(f"{r} {num(rc[r])}" + (f" ({pct(rc[r] / sent)})" if sent else "")
                     for r in STEP_RECEIPTS if rc.get(r))


def arm_engagement(ex: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """A split's engagement rows: (variant, the arm's figures for a channel, each receipt as shown: "4 (40.0%)",
    or "–" for one that no arm of the split heard of on that channel, as the channels table: a channel that
    reports no deliveries showed "0 (0.0%)" there)."""
    heard: dict[str, set[str]] = {}
    for a in ex["arms"]:
        for e in a["engagement"]:
            heard.setdefault(e["channel"], set()).update(s for s in ARM_RECEIPTS if e[s])
    out = []
    for a in ex["arms"]:
        for e in a["engagement"]:
            shown = {s: f"{num(e[s])} ({pct(e['rates'][s])})" if s in heard[e["channel"]] else "–"
                     for s in ARM_RECEIPTS}
            out.append((a["variant"], e, shown))
    return out


def _steps_table(rep: dict[str, Any]) -> str:
    out = [f"<h2>Steps</h2><table id='{_e(rep['journey'])}-steps'><tr><th>step</th><th>kind</th><th>reached</th><th>waiting now</th>"
           "<th>continued</th><th>drop-off</th><th>sent</th><th>deferred</th><th>skipped (reason)</th>"
           "<th>converted here</th><th>receipts (of sent)</th></tr>"]
    for s in rep["steps"]:
        k = f"steps.{s['id']}."
        skipped = ", ".join(f"{r} {n:,}" for r, n in s["skipped"].items()) or "–"
        kind = (s["kind"] or "?") + (f" {s['channel']}" if s["channel"] else "")
        if s.get("withdrew"):  # an update step's consent withdrawals (a sunset flow)
            kind += " (withdrew " + ", ".join(f"{c} {n:,}" for c, n in s["withdrew"].items()) + ")"
        out.append(f"<tr><td>{_e(s['id'])}</td><td>{_e(kind)}</td>"
                   + "".join(_td(k + f, num(s[f]), s[f]) for f in ("reached", "waiting", "continued", "drop_off",
                                                                    "sent"))
                   + _td(k + "deferred", num(s["deferred"]) + _why_deferred(s), s["deferred"])
                   + f"<td>{_e(skipped)}</td>" + _td(k + "converted_here", num(s["converted_here"]),
                                                       s["converted_here"])
                   + f"<td>{_e(step_receipts(s) or ('–' if s['sent'] else ''))}</td></tr>")
    return "".join(out) + "</table>"


def _why_deferred(s: dict[str, Any]) -> str:
    """Why a step's sends were deferred, when they were: a pause's holds (``journey_paused``) are customers
    waiting for the journey to be live again, a quiet night's go out in the morning."""
    return f" ({', '.join(f'{r} {n:,}' for r, n in s['deferred_by'].items())})" if s.get("deferred_by") else ""


def _exits_table(rep: dict[str, Any]) -> str:
    rows = rep["exit_points"]
    if not rows:
        return "<h2>Exit points</h2><p class=note>No instance has left without converting yet.</p>"
    total = sum(r["count"] for r in rows)
    out = ["<h2>Exit points</h2><p class=note>Where instances that did not convert left the journey.</p>"
           f"<table id='{_e(rep['journey'])}-exits'><tr><th>step</th><th>how</th><th>why</th><th>instances</th>"
           "<th>share</th></tr>"]
    for r in rows:
        why = r.get("reason")
        key = f"exits.{r['step']}.{r['kind']}" + (f".{why}" if why else "")
        out.append(f"<tr><td>{_e(r['step'] or '(before the first step)')}</td><td>{_e(r['kind'])}</td>"
                   f"<td>{_e(exit_reason(why) if why else '')}</td>"
                   + _td(key, num(r["count"]), r["count"]) + f"<td>{pct(r['count'] / total)}</td></tr>")
    return "".join(out) + "</table>"


def exit_reason(reason: str) -> str:
    """An exit point's reason as the page shows it: the code and what it means."""
    meaning = EXPIRED_REASONS.get(reason)
    return f"{reason}: {meaning}" if meaning else reason


def _verdict(p: float | None, lift: float | None) -> str:
    if p is None or lift is None:
        return "<td>–</td>"
    if p < 0.05:
        cls = "win" if lift > 0 else "lose"
        return f"<td class={cls}>{'better' if lift > 0 else 'worse'} ({(1 - p) * 100:.1f}% confidence)</td>"
    return "<td>not significant yet</td>"


def _experiments(rep: dict[str, Any]) -> str:
    out = []
    for ex in rep["experiments"]:
        sid = ex["split"]
        out.append(f"<h2>Experiment: split <code>{_e(sid)}</code></h2>")
        if ex["srm"] and ex["srm"]["mismatch"]:
            out.append(f"<p class=warn>Sample ratio mismatch: arm counts do not fit the weights "
                       f"(chi² {ex['srm']['chi2']:.1f}, p {pvalue(ex['srm']['p_value'])}); results are suspect.</p>")
        out.append(f"<table id='{_e(rep['journey'])}-split-{_e(sid)}'><tr><th>variant</th><th>weight</th><th>entered</th><th>converted</th>"
                   "<th>conversion rate</th><th>95 % interval</th><th>lift (abs)</th><th>lift (rel)</th>"
                   "<th>p-value</th><th>verdict vs control</th></tr>")
        rate = pct if ex.get("has_goal") is not False else (lambda _r, _nd=1: "no goal")
        for a in ex["arms"]:
            k = f"experiments.{sid}.{a['variant']}."
            name = a["variant"] + (" (control)" if a["control"] else "")
            out.append(f"<tr><td>{_e(name)}</td><td>{a['weight'] * 100:g}%</td>"
                       + _td(k + "entered", num(a["entered"]), a["entered"])
                       + _td(k + "converted", num(a["converted"]), a["converted"])
                       + _td(k + "rate", rate(a["rate"], 2), a["rate"]) + f"<td>{interval(a['interval'])}</td>"
                       + _td(k + "lift_abs", "–" if a["lift_abs"] is None else f"{a['lift_abs'] * 100:+.2f} pp",
                             a["lift_abs"])
                       + _td(k + "lift_rel", "–" if a["lift_rel"] is None else f"{a['lift_rel'] * 100:+.1f}%",
                             a["lift_rel"])
                       + _td(k + "p_value", pvalue(a["p_value"]), a["p_value"])
                       + _verdict(a["p_value"], a["lift_abs"]) + "</tr>")
        out.append("</table>")
        out.append(_arm_engagement_table(rep["journey"], ex))
        if ex.get("has_goal") is False:
            out.append("<p class=note>This journey has no goal: its arms convert on nothing. Compare what each "
                       "arm's sends got (opens, clicks): engagement by arm, and Steps.</p>")
        if ex["srm"]:
            out.append(f"<p class=note>Sample-ratio check: chi² {ex['srm']['chi2']:.2f}, "
                       f"p {pvalue(ex['srm']['p_value'])} (flagged below 0.001).</p>")
    h = rep["holdout"]
    if h:
        ref = h["reference"].replace("_", " ")
        out.append(f"<h2>Holdout ({_e(h['percent'])} % kept as control)</h2>" if h["holdout"] else
                   "<h2>Global control (no customer-facing send from any journey)</h2>")
        if h["srm"] and h["srm"]["mismatch"]:
            out.append("<p class=warn>Sample ratio mismatch between holdout and treatment.</p>")
        out.append(f"<table id='{_e(rep['journey'])}-holdout'><tr><th>group</th><th>entered</th><th>converted</th><th>conversion rate</th>"
                   "<th>95 % interval</th><th>lift (abs)</th><th>lift (rel)</th><th>p-value</th>"
                   f"<th>verdict vs {ref}</th></tr>")
        for name in ("treatment", "holdout", "global_control"):
            g = h[name]
            if g is None:
                continue
            k = f"holdout.{name}."
            out.append(f"<tr><td>{name.replace('_', ' ')}</td>" + _td(k + "entered", num(g["entered"]), g["entered"])
                       + _td(k + "converted", num(g["converted"]), g["converted"])
                       + _td(k + "rate", pct(g["rate"], 2) if h.get("has_goal") is not False else "no goal",
                             g["rate"]) + f"<td>{interval(g['interval'])}</td>")
            if name == "treatment":
                out.append(_td(k + "lift_abs", "–" if g["lift_abs"] is None else f"{g['lift_abs'] * 100:+.2f} pp",
                               g["lift_abs"])
                           + _td(k + "lift_rel", "–" if g["lift_rel"] is None else f"{g['lift_rel'] * 100:+.1f}%",
                                 g["lift_rel"])
                           + _td(k + "p_value", pvalue(g["p_value"]), g["p_value"])
                           + _verdict(g["p_value"], g["lift_abs"]) + "</tr>")
            else:
                out.append("<td></td><td></td><td></td>"
                           + ("<td>(reference)</td></tr>" if name == h["reference"] else "<td></td></tr>"))
        out.append("</table>")
    return "".join(out)


def _arm_engagement_table(jid: str, ex: dict[str, Any]) -> str:
    """Per arm and channel: the sends its instances got after the split, and their receipts (of those sends)."""
    rows = arm_engagement(ex)
    if not rows:
        return ""
    sid = ex["split"]
    out = ["<p class=note><b>Engagement by arm</b>: the messages each arm's customers were sent after the split (on "
           "any step, one both arms reach too) and their receipts, as shares of the arm's sends on that channel "
           "(– : no arm had such a receipt on that channel).</p>"
           f"<table id='{_e(jid)}-split-{_e(sid)}-engagement'><tr><th>variant</th><th class=t>channel</th><th>sent</th>"
           + "".join(f"<th>{s}</th>" for s in ARM_RECEIPTS) + "</tr>"]
    for variant, e, shown in rows:
        k = f"arms.{sid}.{variant}.{e['channel']}."
        out.append(f"<tr><td>{_e(variant)}</td><td class=t>{_e(e['channel'])}</td>"
                   + _td(k + "sent", num(e["sent"]), e["sent"])
                   + "".join(_td(k + s, shown[s], e[s]) for s in ARM_RECEIPTS) + "</tr>")
    out.append("</table>")
    return "".join(out)


EMPTY_NOTE = ("no opens recorded yet:", "receipts come from the channel adapters")
# 30 px of margin, then the longer line at 11 px: at most ~0.6 em a character in the page's sans-serif
EMPTY_NOTE_WIDTH = 30 + round(max(len(s) for s in EMPTY_NOTE) * 11 * 0.6) + 10


def _bars(points: list[tuple[str, float | None, int]], title: str) -> str:
    """A small bar chart (inline SVG): one bar per point, height = rate; label under, sends in the tooltip."""
    w, h, pad = 22, 120, 20
    empty = not any(r for _, r, _ in points)
    # the empty chart's note, two lines of 11 px text, must fit: the 11 bars of sends per week alone were
    # 282 px wide and cut it at "receipts come fro" (a walkthrough)
    width = max(len(points) * w + 40, EMPTY_NOTE_WIDTH if empty else 0)
    top = max([r for _, r, _ in points if r is not None] + [0.01])
    out = [f"<svg width='{width}' height='{h + 2 * pad}' role=img aria-label='{_e(title)}'>"]
    for i, (label, rate, n) in enumerate(points):
        x = 30 + i * w
        bh = 0 if rate is None else rate / top * h
        out.append(f"<rect x='{x}' y='{pad + h - bh:.1f}' width='{w - 4}' height='{bh:.1f}' fill='#2b6cb0'>"
                   f"<title>{_e(label)}: {pct(rate)} of {n:,} sends</title></rect>"
                   f"<text x='{x + (w - 4) / 2}' y='{pad + h + 13}' font-size='9' text-anchor='middle'>{_e(label)}</text>")
    if empty:  # (a blank chart under "max 1.0%" looked broken)
        out.append(f"<text x='30' y='{pad + h / 2}' font-size='11' fill='#5a6478'>{EMPTY_NOTE[0]}"
                   f"<tspan x='30' dy='14'>{EMPTY_NOTE[1]}</tspan></text></svg>")
    else:
        out.append(f"<text x='0' y='{pad - 6}' font-size='10' fill='#5a6478'>max {pct(top)}</text></svg>")
    return "".join(out)


def _channels(rep: dict[str, Any]) -> str:
    chans = rep["channels"]
    if not chans:
        return ""
    out = [f"<h2>Channels</h2><table id='{_e(rep['journey'])}-channels'><tr><th>channel</th><th>sent</th><th>skipped</th>"
           "<th>delivered</th><th>opened</th><th>clicked</th><th>bounced</th><th>unsubscribed</th></tr>"]
    kinds = CHANNEL_RECEIPTS  # (– in a row: no receipt has come for that channel yet)
    for c in chans:
        k = f"channels.{c['channel']}."
        heard = any(c[s] for s in kinds)  # no receipt at all (crm, slack): "–", not a 0.0 % delivery rate
        # opened or clicked with no delivered at all: the channel does not report deliveries (the SMTP adapter
        # says `sent`; only a provider's callback says `delivered`), and "0 (0.0%)" beside 100 % opened read
        # as nothing delivered (a walkthrough)
        unreported = {"delivered"} if not c["delivered"] and (c["opened"] or c["clicked"]) else set()
        out.append(f"<tr><td>{_e(c['channel'])}</td>" + _td(k + "sent", num(c["sent"]), c["sent"])
                   + _td(k + "skipped", num(c["skipped"]), c["skipped"])
                   + "".join(_td(k + s, f"{num(c[s])} ({pct(c['rates'][s])})" if heard and s not in unreported
                                 else "–", c[s]) for s in kinds) + "</tr>")
    out.append("</table><div class=grid>")
    for c in chans:
        if c["by_local_hour"]:
            pts = [(str(x["hour"]), x["open_rate"], x["sent"]) for x in c["by_local_hour"]]
            out.append(f"<div><h2>{_e(c['channel'])}: open rate by the customer's local hour of sending</h2>"
                       + _bars(pts, "open rate by local hour") + "</div>")
        if c["by_sends_per_week"]:
            pts = [(str(x["sends_per_week"]) + ("+" if x["sends_per_week"] == 10 else ""), x["open_rate"], x["sent"])
                   for x in c["by_sends_per_week"]]
            out.append(f"<div><h2>{_e(c['channel'])}: open rate by sends per customer per week</h2>"
                       + _bars(pts, "open rate by sends per week") + "</div>")
    return "".join(out) + "</div>"


def _topics(rep: dict[str, Any]) -> str:
    """Per subscription topic: its steps' sends, skips by reason (no_consent: customers who left the topic, or
    never joined an opt_in one) and unsubscribes."""
    if not rep.get("topics"):
        return ""
    out = [f"<h2>Subscription topics</h2><table id='{_e(rep['journey'])}-topics'><tr><th class=t>topic</th>"
           "<th class=t>steps</th><th>sent</th><th>skipped (reason)</th><th>unsubscribed</th></tr>"]
    for t in rep["topics"]:
        k = f"topics.{t['topic']}."
        skipped = ", ".join(f"{r} {n:,}" for r, n in t["skipped"].items()) or "–"
        out.append(f"<tr><td class=t>{_e(t['topic'])}</td><td class=t>{_e(', '.join(t['steps']))}</td>"
                   + _td(k + "sent", num(t["sent"]), t["sent"]) + f"<td>{_e(skipped)}</td>"
                   + _td(k + "unsubscribed", num(t["unsubscribed"]), t["unsubscribed"]) + "</tr>")
    return "".join(out) + "</table>"


def offline_html(overview_rows: list[dict[str, Any]], reports: Mapping[str, dict[str, Any]], defs: Definitions,
                 flow: dict[str, Any] | None = None, since: str | None = None, note: str | None = None) -> str:
    """Everything in one self-contained file (``simulate --html``): the overview, the stage flow, each journey;
    ``note``: what the figures cover (a replay's range), said first."""
    body = [f"<p class=note id=range-note>{_e(note)}</p>" if note else ""]
    body.append(overview_html(overview_rows, link="#j-{id}").replace(_ranges("all", ""), ""))
    if flow is not None:
        body.append(stages_html(flow, since=since))
    for jid in sorted(reports):
        body.append("<hr>" + journey_html(reports[jid], defs).replace(_ranges("all", ""), ""))
    return page("cjo-stream journey analytics", "".join(body), live=False, home="#")
