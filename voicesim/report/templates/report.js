"use strict";
// Everything from the session goes into the page as text (textContent, setAttribute), never as
// HTML: a call's words, a rubric's names and an uploaded meta.json are data, not markup.
const D = JSON.parse(document.getElementById("data").textContent);
const player = document.getElementById("player");
const svg = document.getElementById("timeline");
const num = (x, d = 0) => (typeof x === "number" && isFinite(x) ? x : d);
const list = x => (Array.isArray(x) ? x : []);
const str = x => (x === null || x === undefined ? "" : String(x));
const W = 1000, DUR = Math.max(num(D.duration), 0.001);
const NS = "http://www.w3.org/2000/svg";
const X = t => (num(t) / DUR) * W;
const fmt = t => { t = Math.max(0, num(t)); const m = Math.floor(t / 60); const s = (t - 60 * m).toFixed(1);
                   return String(m).padStart(2, "0") + ":" + s.padStart(4, "0"); };
const signed = p => (num(p) > 0 ? "+" : "") + num(p);
function el(name, attrs, parent) { const e = document.createElementNS(NS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]); (parent || svg).appendChild(e); return e; }
// an HTML element: attributes set as attributes, children appended as text or nodes
function h(tag, attrs, ...kids) { const e = document.createElement(tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  for (const k of kids) if (k !== null && k !== undefined && k !== false) e.append(k instanceof Node ? k : String(k));
  return e; }
function seek(t) { player.currentTime = Math.max(0, num(t)); }
const lines = list(D.lines), finals = list(D.trainee), evidence = list(D.evidence), moods = list(D.moods);

// header
document.getElementById("title").textContent = str(D.title) + (D.persona ? " (" + str(D.persona) + ")" : "");
const v = document.getElementById("verdict");
if (D.scorable === false) {  // nothing to judge: no verdict, no scores
  v.append(h("b", { class: "big", id: "not-scorable" }, "Not scorable"), " \u00a0",
    h("span", { class: "mute" }, str(D.not_scorable || "too little trainee speech to judge")));
} else if (typeof D.overall === "number") {
  v.append(h("b", { class: "big" }, Math.round(D.overall)), "/100 \u00a0",
    h("span", { class: "badge " + (D.passed ? "pass" : "fail") }, D.passed ? "PASS" : "FAIL"), " ",
    h("span", { class: "mute" }, "pass mark " + str(D.pass_mark)));
  if (typeof D.machine_overall === "number" && D.machine_overall !== D.overall)
    v.append(" ", h("span", { class: "mute", id: "machine-overall" }, "(machine: " + Math.round(D.machine_overall) + ", before a trainer's changes)"));
}
const end = (D.outcome || {}).end_state;
const rubric = D.rubric || {};
const metaParts = [
  end ? [document.createTextNode("ended: "), h("b", {}, end)] : null,
  D.created ? [document.createTextNode(str(D.created).replace("T", " "))] : null,
  rubric.name ? [document.createTextNode(str(rubric.name) + " v" + str(rubric.version))] : null,
  D.complete ? null : [h("span", { class: "warn" }, "recording cut short: replaying up to the last saved second")],
].filter(Boolean);
const metaBox = document.getElementById("meta");
metaParts.forEach((nodes, i) => { if (i) metaBox.append(" \u00b7 "); metaBox.append(...nodes); });

// timeline
const LANES = { customer: [20, 70], trainee: [95, 145] };
el("text", { x: 4, y: 14, "font-size": 11, fill: "#8e44ad" }).textContent = "customer";
el("text", { x: 4, y: 89, "font-size": 11, fill: "#1f8a9e" }).textContent = "trainee";
el("text", { x: 4, y: 164, "font-size": 11, fill: "#444" }).textContent = "mood";
for (const c of lines) el("rect", { x: X(c.t), y: 18, width: Math.max(1, X(c.end) - X(c.t)), height: 54, fill: "rgba(142,68,173,.08)" });
for (const u of finals) el("rect", { x: X(u.t), y: 93, width: Math.max(1, X(u.end) - X(u.t)), height: 54, fill: "rgba(31,138,158,.08)" });
function wave(peaks, lane, color) {
  peaks = list(peaks); if (!peaks.length) return;
  const [y0, y1] = lane, mid = (y0 + y1) / 2, hh = (y1 - y0) / 2, step = W / peaks.length;
  let d = ""; peaks.forEach((p, i) => { const x = (i + 0.5) * step; p = num(p);
    d += `M${x.toFixed(1)} ${(mid - p * hh).toFixed(1)}V${(mid + p * hh + 0.3).toFixed(1)}`; });
  el("path", { d, stroke: color, "stroke-width": Math.max(0.6, step * 0.8), fill: "none" });
}
const peaks = D.peaks || {};
wave(peaks.customer, LANES.customer, "#8e44ad"); wave(peaks.trainee, LANES.trainee, "#1f8a9e");
for (const o of list(D.overtalk)) { const r = el("rect", { x: X(o.t), y: 15, width: Math.max(2, X(o.end) - X(o.t)), height: 135,
  fill: "rgba(197,34,31,.28)", class: "overtalk", "data-t": num(o.t) });
  el("title", {}, r).textContent = `overtalk ${fmt(o.t)}, ${num(o.duration).toFixed(1)} s, by ${str(o.by)}`; }
for (const s of list(D.silences)) { const r = el("rect", { x: X(s.t), y: 15, width: Math.max(2, X(s.end) - X(s.t)), height: 135,
  fill: "rgba(251,188,4,.35)", class: "deadair", "data-t": num(s.t) });
  el("title", {}, r).textContent = `dead air ${fmt(s.t)}, ${num(s.duration).toFixed(1)} s`; }
for (const g of list(D.guidance)) { const x = X(g.t);   // in-call cues, over the trainee's lane
  const c = el("path", { d: `M${x} 78L${x + 5} 84L${x} 90L${x - 5} 84Z`, fill: "#1a73e8", class: "cue", "data-t": num(g.t) });
  el("title", {}, c).textContent = `cue at ${fmt(g.t)}: ${str(g.text)} (${str(g.reason)})`; }
for (const b of list(D.backchannels)) { const c = el("circle", { cx: X(b.t), cy: 150, r: 4, fill: "#f29900", class: "backchannel" });
  el("title", {}, c).textContent = `backchannel "${str(b.text)}" at ${fmt(b.t)}`; }
if (moods.length) {   // mood 0 (calm) at the bottom of its lane, 1 (furious) at the top
  const y = m => 210 - num(m) * 45; let pts = "", last = moods[0];
  for (const m of moods) { pts += `${X(m.t).toFixed(1)},${y(last.mood).toFixed(1)} ${X(m.t).toFixed(1)},${y(m.mood).toFixed(1)} `; last = m; }
  pts += `${W},${y(last.mood).toFixed(1)}`;
  el("polyline", { points: pts, fill: "none", stroke: "#444", "stroke-width": 1.5, id: "mood" });
  for (const m of moods) { const c = el("circle", { cx: X(m.t), cy: y(m.mood), r: 2.5, fill: "#444" });
    el("title", {}, c).textContent = `mood ${num(m.mood).toFixed(2)} at ${fmt(m.t)} (${str(m.reason)})`; }
}
for (const e of evidence) { if (typeof e.start !== "number" || !num(e.points)) continue;
  const x = X(e.start), pos = e.points > 0;
  const m = el("path", { d: pos ? `M${x - 5} 245L${x + 5} 245L${x} 235Z` : `M${x - 5} 225L${x + 5} 225L${x} 235Z`,
    fill: pos ? "#1e8e3e" : "#c5221f", class: "marker " + (pos ? "pos" : "neg"), "data-t": e.start });
  el("title", {}, m).textContent = `${str(e.label || e.criterion)} ${signed(e.points)}: "${str(e.words)}" (${str(e.rule)})`;
  m.addEventListener("click", ev => { ev.stopPropagation(); seek(e.start); }); }
const head = el("line", { x1: 0, x2: 0, y1: 0, y2: 250, stroke: "#1a73e8", "stroke-width": 1.5, id: "playhead" });
svg.addEventListener("click", ev => { const r = svg.getBoundingClientRect(); seek((ev.clientX - r.left) / r.width * DUR); });

// transcript with evidence highlighted
const rows = [];
const tr = document.getElementById("transcript");
const items = lines.map(c => ({ ...c, who: "customer" })).concat(finals.map(u => ({ ...u, who: "trainee" })))
  .concat(list(D.guidance).map(g => ({ t: g.t, end: g.t, text: g.text, who: "cue" })))
  .sort((a, b) => num(a.t) - num(b.t));
for (const it of items) {
  const div = h("div", { class: "line " + it.who, "data-t": num(it.t) },
    h("span", { class: "t" }, fmt(it.t)), h("span", { class: "who" }, { customer: "CUSTOMER", trainee: "TRAINEE", cue: "CUE" }[it.who]));
  const text = h("span", { class: "text" }); div.appendChild(text);
  const mine = it.who === "trainee" ? evidence.filter(e => num(e.points) && typeof e.start === "number" && e.start >= num(it.t) - 0.05 && e.start <= num(it.end) + 0.05) : [];
  const words = list(it.words);
  if (words.length && it.who === "trainee") {
    words.forEach((w, i) => { const s = h("span", {}, (i ? " " : "") + str(w.w));
      const hit = mine.find(e => typeof e.end === "number" && num(w.start) >= e.start - 0.02 && num(w.end) <= e.end + 0.02 && e.words !== "(silence)");
      if (hit) { s.className = hit.points > 0 ? "ev-pos" : "ev-neg"; s.title = `${str(hit.label || hit.criterion)} ${signed(hit.points)}: ${str(hit.rule)}`; }
      text.appendChild(s); });
  } else { text.textContent = str(it.text) || "(no words)"; }
  if (it.cut) text.append(" ", h("em", { class: "cutoff" }, "(cut off)"));
  for (const e of mine) div.appendChild(h("span", { class: "pts " + (e.points > 0 ? "pos" : "neg"), title: str(e.rule) },
    signed(e.points) + " " + str(e.label || e.criterion)));
  div.addEventListener("click", () => seek(it.t));
  tr.appendChild(div); rows.push(div);
}

// coaching: the three things to work on first, each with its moment and better wording
const CO = D.coaching || {};
const coach = document.getElementById("coaching");
const STATUS = { missed: "Missed", partly: "Only partly", penalised: "Lost points" };
const quoted = s => (str(s).startsWith("(") ? str(s) : "\u201c" + str(s) + "\u201d");
const praise = list(CO.praise);
if (praise.length) {
  const ul = document.getElementById("praise-list");
  for (const p of praise) ul.append(h("li", { class: "praise", "data-criterion": str(p.criterion) },
    h("b", {}, str(p.label || p.criterion)), p.words ? ": " + quoted(p.words) : "",
    typeof p.t === "number" ? h("a", { "data-t": num(p.t) }, " " + fmt(p.t)) : null));
  document.getElementById("praise").hidden = false;
}
if (CO.near_perfect) document.getElementById("coaching-title").textContent = "One thing to refine";
for (const tip of list(CO.focus)) {
  const li = h("li", { class: "tip", "data-criterion": str(tip.criterion), "data-priority": str(tip.priority) },
    h("div", { class: "tip-head" }, str(tip.label || tip.criterion), " ",
      typeof tip.gain === "number" ? h("span", { class: "tip-gain" }, "up to +" + num(tip.gain) + " points") : null,
      tip.lesson ? h("span", { class: "lesson-tag", title: "what this call's customer is meant to teach" }, "lesson") : null),
    tip.first_because ? h("p", { class: "first-because mute" }, str(tip.first_because)) : null,
    h("p", { class: "why" }, (STATUS[tip.status] || "") + ": " + str(tip.why)));
  const m = tip.moment;
  if (m && typeof m.t === "number") {
    const box = h("div", { class: "moment" }, h("a", { "data-t": num(m.t) }, fmt(m.t)));
    if (m.customer) box.append(" ", h("b", {}, "Customer: "), quoted(m.customer));
    box.append(h("br", {}), h("b", {}, "You: "), quoted(m.trainee));
    if (m.reaction) box.append(h("br", {}), h("b", {}, "Customer then: "), quoted(m.reaction));
    li.append(box);
  }
  const ex = list(tip.examples);
  if (ex.length) li.append(h("p", { class: "try" }, h("b", {}, "Try: "), quoted(ex[0])));
  coach.append(li);
}
if (!list(CO.focus).length && D.scorable !== false) coach.append(h("li", {}, "Nothing lost: every criterion that applied scored in full."));
if (CO.lesson) document.getElementById("lesson").append(h("b", {}, "Lesson of this call: "), str(CO.lesson));
document.getElementById("coaching-box").querySelectorAll("a[data-t]").forEach(a => a.addEventListener("click", () => seek(+a.dataset.t)));

// the trainers' review: comments at their moments, overrides with the machine's points kept
const RV = D.review || {}, comments = list(RV.comments), overrides = list(RV.overrides);
const when = (by, at) => "by " + str(by) + (at ? " on " + str(at).slice(0, 16).replace("T", " ") : "");
if (comments.length || overrides.length) {
  const box = document.getElementById("review");
  if (comments.length) {
    const ul = h("ul", { id: "comments" });
    for (const c of comments) ul.append(h("li", { class: "comment" },
      typeof c.t === "number" ? h("a", { "data-t": num(c.t) }, fmt(c.t)) : "whole call", " ",
      h("span", { class: "mute" }, when(c.by, c.at) + ": "), str(c.text)));
    box.append(h("h3", {}, "Comments"), ul);
  }
  if (overrides.length) {
    const ul = h("ul", { id: "overrides" });
    for (const o of overrides) ul.append(h("li", { class: "override" }, h("b", {}, str(o.label || o.criterion)),
      ": machine " + str(o.machine) + " \u2192 " + str(o.earned) + " points, ", h("span", { class: "mute" }, when(o.by, o.at)),
      ": " + str(o.reason)));
    box.append(h("h3", {}, "Changed results (the machine's kept)"), ul);
  }
  box.querySelectorAll("a[data-t]").forEach(a => a.addEventListener("click", () => seek(+a.dataset.t)));
  document.getElementById("review-box").hidden = false;
  for (const c of comments) { if (typeof c.t !== "number") continue;
    const dot = el("circle", { cx: X(c.t), cy: 180, r: 5, fill: "#1a73e8", class: "comment-mark" });
    el("title", {}, dot).textContent = `${fmt(c.t)} ${str(c.by)}: ${str(c.text)}`;
    dot.addEventListener("click", ev => { ev.stopPropagation(); seek(c.t); }); }
}

// scorecard: one row per criterion (its readable name), its evidence with the rule in words below
const table = h("table", {}, h("tr", {}, h("th", {}, "criterion"), h("th", { class: "num" }, "points")));
for (const f of list(D.families)) {
  const left = f.applies === false;  // nothing in this call to judge: left out of the overall
  table.append(h("tr", { class: "fam" }, h("td", {}, str(f.name)), h("td", { class: "num" + (left ? " na" : "") }, left ? "n/a" : Math.round(num(f.score)) + "/100")));
  for (const c of list(f.criteria)) {
    const na = c.applies === false;
    const ov = c.override;
    table.append(h("tr", { class: "crit", title: str(c.description), "data-criterion": str(c.id) }, h("td", {}, str(c.label || c.id)),
      h("td", { class: "num " + (na ? "na" : "") + (ov ? " overridden" : "") }, na ? "n/a" : str(c.earned) + "/" + str(c.points))));
    if (ov) table.append(h("tr", { class: "ev-row" }, h("td", { class: "override-note", colspan: "2" },
      "Changed from " + str(ov.machine) + " (machine) to " + str(ov.earned) + " " + when(ov.by, ov.at) + ": " + str(ov.reason))));
    // a penalty's every hit (also past the points it could lose: the numbers count them all)
    const scored = list(c.evidence).filter(e => num(e.points) || c.kind === "penalty");
    if (!scored.length) continue;
    const ev = h("td", { class: "ev-list", colspan: "2" });
    scored.forEach((e, i) => {
      if (i) ev.append(h("br", {}));
      ev.append(h("a", { "data-t": num(e.start) }, fmt(e.start)), ` \u201c${str(e.words)}\u201d ${signed(e.points)}: ${str(e.rule)}`);
    });
    table.append(h("tr", { class: "ev-row" }, ev));
  }
}
const sc = document.getElementById("scorecard");
if (D.scorable === false)  // no family scores and no verdict for a call with nothing to judge
  sc.append(h("p", { id: "scorecard-not-scorable" }, h("b", {}, "Not scorable: "), str(D.not_scorable || "too little trainee speech to judge")));
else sc.append(table, h("p", {}, "Overall ", h("b", {}, str(D.overall)), ", pass mark " + str(D.pass_mark) + "."));
sc.querySelectorAll("a[data-t]").forEach(a => a.addEventListener("click", () => seek(+a.dataset.t)));

// plain numbers: the scorer's figures in words, as the terminal and the lab show them
const rowsS = [["call length", fmt(num((D.stats || {}).duration_s, D.duration))]]
  .concat(list(D.numbers).map(r => [str(r[0]), str(r[1])]));
document.getElementById("stats").append(...rowsS.map(([k, val]) => h("tr", {}, h("th", {}, k), h("td", {}, val))));

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
