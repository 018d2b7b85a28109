"""report.html: one self-contained, offline page to review a call.

Two-lane timeline (customer / trainee) with waveforms, overtalk and dead-air bands, backchannel
marks, the customer's mood curve and the rubric's evidence as markers; the transcript with each
evidence phrase highlighted and its points; the scorecard by family; plain numbers; and the call
audio embedded (FLAC), so clicking a line or a marker seeks it and the current line follows.
No network, no CDN: everything is inline.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np

from ..audio.formats import RATE
from ..events import CUSTOMER_LINE_END, CUSTOMER_LINE_START, FINAL, MOOD, OVERTALK, SILENCE
from .session import Session, load_session

PEAK_BUCKETS = 1200


def _peaks(x: np.ndarray, n: int) -> list[float]:
    if x.size == 0:
        return []
    n = max(1, min(n, x.size))
    edges = np.linspace(0, x.size, n + 1).astype(int)
    peaks = np.maximum.reduceat(np.abs(x), edges[:-1]) if x.size else np.zeros(n)
    top = float(np.percentile(peaks, 99)) or 1.0
    return [round(float(min(1.0, p / top)), 3) for p in peaks]


def _audio_data_uri(customer: np.ndarray, trainee: np.ndarray) -> str:
    import soundfile as sf

    if customer.size == 0:
        return ""
    buf = io.BytesIO()
    sf.write(buf, np.stack([customer, trainee], axis=1), RATE, format="FLAC", subtype="PCM_16")
    return "data:audio/flac;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _backchannels(session: Session, trainee_finals: list[dict], lines: list[dict]) -> list[dict]:
    from ..rubric.rubric import load_rubric

    rubric_file = (session.meta.get("rubric") or {}).get("file")
    try:
        rubric = load_rubric(rubric_file if rubric_file and Path(rubric_file).exists() else None)
    except Exception:  # a broken rubric file must not stop the report
        return []
    lib, limit = rubric.library, rubric.thresholds.backchannel_max_words
    return [
        {"t": f["t"], "end": f["end"], "text": f["text"]}
        for f in trainee_finals
        if lib.is_backchannel(f["text"], limit) and any(c["t"] <= f["t"] < c["end"] for c in lines)
    ]


def report_data(session: Session) -> dict:
    ev = session.events
    customer, trainee = session.audio()
    card = session.scorecard
    ends = {e.get("line"): e for e in ev if e.type == CUSTOMER_LINE_END}
    lines = []
    for e in ev:
        if e.type == CUSTOMER_LINE_START:
            end = ends.get(e.get("line"))
            lines.append(
                {
                    "t": e.t,
                    "end": end.t if end else e.get("end", e.t),
                    "text": e.get("text", ""),
                    "reason": e.get("reason"),
                    "cut": bool(end and end.get("cut")),
                    "words": e.get("words") or [],
                }
            )
    finals = [
        {
            "t": e.t,
            "end": e.get("end", e.t),
            "text": e.get("text", ""),
            "words": e.get("words") or [],
        }
        for e in ev
        if e.type == FINAL and e.get("who", "trainee") == "trainee"
    ]
    evidence = []
    for fam in card.get("families", []):
        for c in fam.get("criteria", []):
            for x in c.get("evidence", []):
                evidence.append({**x, "family": fam["name"], "criterion": c["id"]})
    meta = session.meta
    persona = meta.get("persona") or {}
    return {
        "title": persona.get("name") or "Recorded call",
        "persona": persona.get("id"),
        "source": (meta.get("source") or {}).get("kind"),
        "created": meta.get("created"),
        "rubric": card.get("rubric", {}),
        "complete": session.complete,
        "duration": round(max(session.duration_s, customer.size / RATE), 3),
        "overall": card.get("overall"),
        "pass_mark": card.get("pass_mark"),
        "passed": card.get("passed"),
        "outcome": card.get("outcome", {}),
        "families": card.get("families", []),
        "stats": card.get("stats", {}),
        "peaks": {
            "customer": _peaks(customer, PEAK_BUCKETS),
            "trainee": _peaks(trainee, PEAK_BUCKETS),
        },
        "lines": lines,
        "trainee": finals,
        "overtalk": [
            {"t": e.t, "end": e["end"], "by": e.get("by"), "duration": e["duration"]}
            for e in ev
            if e.type == OVERTALK
        ],
        "silences": [
            {"t": e.t, "end": e["end"], "duration": e["duration"]} for e in ev if e.type == SILENCE
        ],
        "backchannels": _backchannels(session, finals, lines),
        "moods": [
            {"t": e.t, "mood": e["mood"], "reason": e.get("reason")} for e in ev if e.type == MOOD
        ],
        "evidence": evidence,
    }


def render_report(session: Session) -> str:
    data = report_data(session)
    customer, trainee = session.audio()
    blob = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    title = html.escape(f"voicesim report: {data['title']}")
    return (
        TEMPLATE.replace("__TITLE__", title)
        .replace("__AUDIO__", _audio_data_uri(customer, trainee))
        .replace("__DATA__", blob)
    )


def write_report(directory: str | Path, out: str | Path | None = None) -> Path:
    session = load_session(directory)
    path = Path(out) if out else session.dir / "report.html"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render_report(session), encoding="utf-8")
    tmp.replace(path)
    return path


TEMPLATE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
:root { --cust:#8e44ad; --tr:#1f8a9e; --pos:#1e8e3e; --neg:#c5221f; --ink:#202124; --mute:#5f6368; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 0; background: #f7f7f8; }
header { background: #fff; border-bottom: 1px solid #ddd; padding: 14px 24px; display: flex;
         gap: 24px; align-items: center; flex-wrap: wrap; }
header h1 { font-size: 20px; margin: 0; }
.badge { font-weight: 700; padding: 3px 10px; border-radius: 12px; color: #fff; }
.pass { background: var(--pos); } .fail { background: var(--neg); }
main { padding: 16px 24px; display: grid; grid-template-columns: minmax(0, 3fr) minmax(280px, 2fr); gap: 18px; }
section { background: #fff; border: 1px solid #e0e0e0; border-radius: 8px; padding: 12px 16px; }
section h2 { font-size: 15px; margin: 0 0 8px; text-transform: uppercase; letter-spacing: .04em; color: var(--mute); }
#timeline-box { grid-column: 1 / -1; }
#timeline { width: 100%; height: 250px; cursor: pointer; display: block; }
audio { width: 100%; margin-top: 8px; }
.legend span { margin-right: 14px; font-size: 13px; color: var(--mute); }
.legend i { display: inline-block; width: 12px; height: 12px; vertical-align: -1px; margin-right: 4px; border-radius: 2px; }
#transcript { max-height: 560px; overflow-y: auto; }
.line { padding: 6px 8px; border-left: 3px solid transparent; border-radius: 4px; cursor: pointer; }
.line:hover { background: #f1f3f4; }
.line.current { background: #e8f0fe; border-left-color: #1a73e8; }
.line .t { color: var(--mute); font-variant-numeric: tabular-nums; font-size: 12px; margin-right: 6px; }
.line .who { font-weight: 700; font-size: 12px; margin-right: 6px; }
.line.customer .who { color: var(--cust); } .line.trainee .who { color: var(--tr); }
.ev-pos { background: #e6f4ea; border-bottom: 2px solid var(--pos); }
.ev-neg { background: #fce8e6; border-bottom: 2px solid var(--neg); }
.pts { font-size: 11px; font-weight: 700; margin-left: 6px; padding: 0 5px; border-radius: 8px; white-space: nowrap; }
.pts.pos { color: var(--pos); border: 1px solid var(--pos); } .pts.neg { color: var(--neg); border: 1px solid var(--neg); }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
td, th { padding: 4px 6px; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
th { color: var(--mute); font-weight: 600; }
.fam { font-weight: 700; background: #fafafa; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.na { color: #aaa; }
.ev-list { color: var(--mute); font-size: 12px; }
.ev-list a { color: inherit; cursor: pointer; text-decoration: underline dotted; }
.warn { color: var(--neg); font-weight: 600; }
</style></head>
<body>
<header>
  <h1 id="title"></h1>
  <div id="verdict"></div>
  <div id="meta" style="color:var(--mute)"></div>
</header>
<main>
<section id="timeline-box">
  <h2>Timeline</h2>
  <div class="legend">
    <span><i style="background:var(--cust)"></i>customer</span>
    <span><i style="background:var(--tr)"></i>trainee</span>
    <span><i style="background:rgba(197,34,31,.28)"></i>overtalk</span>
    <span><i style="background:rgba(251,188,4,.35)"></i>dead air</span>
    <span><i style="background:#f29900;border-radius:50%"></i>backchannel</span>
    <span><i style="background:#444"></i>mood</span>
    <span><i style="background:var(--pos)"></i><i style="background:var(--neg)"></i>evidence</span>
  </div>
  <svg id="timeline" viewBox="0 0 1000 250" preserveAspectRatio="none" aria-label="call timeline"></svg>
  <audio id="player" controls preload="auto" src="__AUDIO__"></audio>
</section>
<section><h2>Transcript</h2><div id="transcript"></div></section>
<div>
<section><h2>Scorecard</h2><div id="scorecard"></div></section>
<section style="margin-top:18px"><h2>Numbers</h2><table id="stats"></table></section>
</div>
</main>
<script type="application/json" id="data">__DATA__</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const player = document.getElementById("player");
const svg = document.getElementById("timeline");
const W = 1000, DUR = Math.max(D.duration, 0.001);
const NS = "http://www.w3.org/2000/svg";
const X = t => (t / DUR) * W;
const fmt = t => { t = Math.max(0, t); const m = Math.floor(t / 60); const s = (t - 60 * m).toFixed(1);
                   return String(m).padStart(2, "0") + ":" + s.padStart(4, "0"); };
function el(name, attrs, parent) { const e = document.createElementNS(NS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]); (parent || svg).appendChild(e); return e; }
function seek(t) { player.currentTime = Math.max(0, t); }

// header
document.getElementById("title").textContent = D.title + (D.persona ? " (" + D.persona + ")" : "");
const v = document.getElementById("verdict");
if (D.overall !== undefined && D.overall !== null) {
  v.innerHTML = `<b style="font-size:22px">${Math.round(D.overall)}</b>/100 &nbsp;` +
    `<span class="badge ${D.passed ? "pass" : "fail"}">${D.passed ? "PASS" : "FAIL"}</span>` +
    ` <span style="color:var(--mute)">pass mark ${D.pass_mark}</span>`;
}
const end = (D.outcome || {}).end_state;
document.getElementById("meta").innerHTML = [
  end ? "ended: <b>" + end + "</b>" : "", D.created ? D.created.replace("T", " ") : "",
  D.rubric && D.rubric.name ? D.rubric.name + " v" + D.rubric.version : "",
  D.complete ? "" : '<span class="warn">recording cut short: replaying up to the last saved second</span>'
].filter(Boolean).join(" &middot; ");

// timeline
const LANES = { customer: [20, 70], trainee: [95, 145] };
el("text", { x: 4, y: 14, "font-size": 11, fill: "#8e44ad" }).textContent = "customer";
el("text", { x: 4, y: 89, "font-size": 11, fill: "#1f8a9e" }).textContent = "trainee";
el("text", { x: 4, y: 164, "font-size": 11, fill: "#444" }).textContent = "mood";
for (const c of D.lines) el("rect", { x: X(c.t), y: 18, width: Math.max(1, X(c.end) - X(c.t)), height: 54, fill: "rgba(142,68,173,.08)" });
for (const u of D.trainee) el("rect", { x: X(u.t), y: 93, width: Math.max(1, X(u.end) - X(u.t)), height: 54, fill: "rgba(31,138,158,.08)" });
function wave(peaks, lane, color) {
  if (!peaks.length) return; const [y0, y1] = lane, mid = (y0 + y1) / 2, h = (y1 - y0) / 2, step = W / peaks.length;
  let d = ""; peaks.forEach((p, i) => { const x = (i + 0.5) * step; d += `M${x.toFixed(1)} ${(mid - p * h).toFixed(1)}V${(mid + p * h + 0.3).toFixed(1)}`; });
  el("path", { d, stroke: color, "stroke-width": Math.max(0.6, step * 0.8), fill: "none" });
}
wave(D.peaks.customer, LANES.customer, "#8e44ad"); wave(D.peaks.trainee, LANES.trainee, "#1f8a9e");
for (const o of D.overtalk) { const r = el("rect", { x: X(o.t), y: 15, width: Math.max(2, X(o.end) - X(o.t)), height: 135,
  fill: "rgba(197,34,31,.28)", class: "overtalk", "data-t": o.t });
  el("title", {}, r).textContent = `overtalk ${fmt(o.t)}, ${o.duration.toFixed(1)} s, by ${o.by}`; }
for (const s of D.silences) { const r = el("rect", { x: X(s.t), y: 15, width: Math.max(2, X(s.end) - X(s.t)), height: 135,
  fill: "rgba(251,188,4,.35)", class: "deadair", "data-t": s.t });
  el("title", {}, r).textContent = `dead air ${fmt(s.t)}, ${s.duration.toFixed(1)} s`; }
for (const b of D.backchannels) { const c = el("circle", { cx: X(b.t), cy: 150, r: 4, fill: "#f29900", class: "backchannel" });
  el("title", {}, c).textContent = `backchannel "${b.text}" at ${fmt(b.t)}`; }
if (D.moods.length) {   // mood 0 (calm) at the bottom of its lane, 1 (furious) at the top
  const y = m => 210 - m * 45; let pts = "", last = D.moods[0];
  for (const m of D.moods) { pts += `${X(m.t).toFixed(1)},${y(last.mood).toFixed(1)} ${X(m.t).toFixed(1)},${y(m.mood).toFixed(1)} `; last = m; }
  pts += `${W},${y(last.mood).toFixed(1)}`;
  el("polyline", { points: pts, fill: "none", stroke: "#444", "stroke-width": 1.5, id: "mood" });
  for (const m of D.moods) { const c = el("circle", { cx: X(m.t), cy: y(m.mood), r: 2.5, fill: "#444" });
    el("title", {}, c).textContent = `mood ${m.mood.toFixed(2)} at ${fmt(m.t)} (${m.reason || ""})`; }
}
for (const e of D.evidence) { if (e.start === null || e.start === undefined || !e.points) continue;
  const x = X(e.start), pos = e.points > 0;
  const m = el("path", { d: pos ? `M${x - 5} 245L${x + 5} 245L${x} 235Z` : `M${x - 5} 225L${x + 5} 225L${x} 235Z`,
    fill: pos ? "#1e8e3e" : "#c5221f", class: "marker " + (pos ? "pos" : "neg"), "data-t": e.start });
  el("title", {}, m).textContent = `${e.criterion} ${e.points > 0 ? "+" : ""}${e.points}: "${e.words}" (${e.rule})`;
  m.addEventListener("click", ev => { ev.stopPropagation(); seek(e.start); }); }
const head = el("line", { x1: 0, x2: 0, y1: 0, y2: 250, stroke: "#1a73e8", "stroke-width": 1.5, id: "playhead" });
svg.addEventListener("click", ev => { const r = svg.getBoundingClientRect(); seek((ev.clientX - r.left) / r.width * DUR); });

// transcript with evidence highlighted
const rows = [];
const tr = document.getElementById("transcript");
const items = D.lines.map(c => ({ ...c, who: "customer" })).concat(D.trainee.map(u => ({ ...u, who: "trainee" })))
  .sort((a, b) => a.t - b.t);
for (const it of items) {
  const div = document.createElement("div"); div.className = "line " + it.who; div.dataset.t = it.t;
  div.innerHTML = `<span class="t">${fmt(it.t)}</span><span class="who">${it.who === "customer" ? "CUSTOMER" : "TRAINEE"}</span>`;
  const text = document.createElement("span"); text.className = "text"; div.appendChild(text);
  const mine = it.who === "trainee" ? D.evidence.filter(e => e.points && e.start !== null && e.start >= it.t - 0.05 && e.start <= it.end + 0.05) : [];
  if (it.words && it.words.length && it.who === "trainee") {
    it.words.forEach((w, i) => { const s = document.createElement("span"); s.textContent = (i ? " " : "") + w.w;
      const hit = mine.find(e => e.end !== null && w.start >= e.start - 0.02 && w.end <= e.end + 0.02 && e.words !== "(silence)");
      if (hit) { s.className = hit.points > 0 ? "ev-pos" : "ev-neg"; s.title = `${hit.criterion} ${hit.points > 0 ? "+" : ""}${hit.points}: ${hit.rule}`; }
      text.appendChild(s); });
  } else { text.textContent = it.text || "(no words)"; }
  if (it.cut) text.insertAdjacentHTML("beforeend", ' <em style="color:var(--neg)">(cut off)</em>');
  for (const e of mine) { const b = document.createElement("span"); b.className = "pts " + (e.points > 0 ? "pos" : "neg");
    b.textContent = (e.points > 0 ? "+" : "") + e.points + " " + e.criterion; b.title = e.rule; div.appendChild(b); }
  div.addEventListener("click", () => seek(it.t));
  tr.appendChild(div); rows.push(div);
}

// scorecard
const sc = document.getElementById("scorecard");
let h = "<table><tr><th>criterion</th><th class=num>points</th><th>evidence</th></tr>";
for (const f of D.families) {
  h += `<tr class="fam"><td>${f.name}</td><td class=num>${Math.round(f.score)}/100</td><td></td></tr>`;
  for (const c of f.criteria) {
    const ev = (c.evidence || []).filter(e => e.points).map(e =>
      `<a data-t="${e.start ?? 0}">${fmt(e.start ?? 0)}</a> "${escapeHtml(e.words)}" (${e.points > 0 ? "+" : ""}${e.points})`).join("<br>");
    h += `<tr title="${escapeHtml(c.description || "")}"><td>${c.id}</td>` +
      `<td class="num ${c.applies === false ? "na" : ""}">${c.applies === false ? "n/a" : c.earned + "/" + c.points}</td>` +
      `<td class="ev-list">${ev}</td></tr>`;
  }
}
sc.innerHTML = h + `</table><p>Overall <b>${D.overall}</b>, pass mark ${D.pass_mark}.</p>`;
sc.querySelectorAll("a[data-t]").forEach(a => a.addEventListener("click", () => seek(+a.dataset.t)));
function escapeHtml(s) { return String(s).replace(/[&<>"]/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c])); }

// plain numbers
const S = D.stats || {};
const rowsS = [["call length", fmt(S.duration_s || D.duration)],
  ["talk ratio (trainee)", S.talk_ratio !== undefined ? Math.round(100 * S.talk_ratio) + "%" : "-"],
  ["trainee talk / customer talk", `${(S.trainee_talk_s || 0).toFixed(1)} s / ${(S.customer_talk_s || 0).toFixed(1)} s`],
  ["words per minute", S.words_per_minute ?? "-"],
  ["overtalk", `${S.overtalk_count ?? 0} (${(S.overtalk_s || 0).toFixed(1)} s), ${S.overtalk_by_trainee ?? 0} by the trainee`],
  ["longest silence", (S.longest_silence_s || 0).toFixed(1) + " s"],
  ["response latency (median)", S.response_latency_median_s != null ? S.response_latency_median_s + " s" : "-"],
  ["customer mood", D.moods.length ? `${D.moods[0].mood.toFixed(2)} -> ${D.moods[D.moods.length - 1].mood.toFixed(2)}` : "-"]];
document.getElementById("stats").innerHTML = rowsS.map(([k, v]) => `<tr><th>${k}</th><td class=num>${v}</td></tr>`).join("");

// follow playback
let currentRow = null;
function follow() {
  const t = player.currentTime; head.setAttribute("x1", X(t)); head.setAttribute("x2", X(t));
  let row = null; for (const r of rows) { if (+r.dataset.t <= t + 0.01) row = r; else break; }
  if (row !== currentRow) { if (currentRow) currentRow.classList.remove("current");
    if (row) { row.classList.add("current"); if (!player.paused) row.scrollIntoView({ block: "nearest", behavior: "smooth" }); }
    currentRow = row; }
}
player.addEventListener("timeupdate", follow); player.addEventListener("seeked", follow);
(function loop() { if (!player.paused) follow(); requestAnimationFrame(loop); })();
</script>
</body></html>
"""
