// hero-bench labelling page: mark each image good/bad, pick one best among the good, submit.
// The server validates again; this script only makes mistakes hard and the page live (progress, chart).
"use strict";

const body = document.body;
const token = body.dataset.token;
const batchId = body.dataset.batchId;
const n = Number(body.dataset.n);
const labels = new Array(n).fill(null); // null = unlabelled, true = good, false = bad
let best = null;
let cursor = 0;
let submitting = false;
let failures = 0;

const $ = (sel) => document.querySelector(sel);
const api = (path) => `${path}?token=${encodeURIComponent(token)}`;

function setStatus(text, kind) {
  const el = $("#status");
  if (!el) return;
  el.textContent = text;
  el.className = kind || "";
}

function render() {
  for (let i = 0; i < n; i++) {
    const card = document.getElementById(`card-${i}`);
    card.classList.toggle("good", labels[i] === true);
    card.classList.toggle("bad", labels[i] === false);
    card.classList.toggle("best", best === i);
    card.classList.toggle("focused", cursor === i);
    card.querySelector(".verdict").textContent =
      best === i ? "best" : labels[i] === true ? "good" : labels[i] === false ? "bad" : "unlabelled";
  }
  const done = labels.filter((l) => l !== null).length;
  const nGood = labels.filter((l) => l === true).length;
  const problem = problems();
  setStatus(`${done} of ${n} labelled · ${nGood} good · best: ${best === null ? "none" : "#" + (best + 1)}` +
            (problem ? "" : " · ready to submit"), problem ? "" : "ready");
}

function problems() {
  const missing = [];
  labels.forEach((l, i) => { if (l === null) missing.push(`#${i + 1}`); });
  if (missing.length) return `Label every image first (unlabelled: ${missing.join(", ")}).`;
  if (labels.some((l) => l) && best === null) return "Pick one best image among the good ones (s or ★ Best).";
  if (best !== null && labels[best] !== true) return "The best image must be one of the good ones.";
  return null;
}

function moveTo(i) {
  cursor = Math.max(0, Math.min(n - 1, i));
  document.getElementById(`card-${cursor}`).focus({ preventScroll: false });
  render();
}

function mark(i, good) {
  labels[i] = good;
  if (!good && best === i) best = null; // a bad image cannot stay the best
  render();
}

function markBest(i) {
  labels[i] = true; // the best is good by definition
  best = i;
  render();
}

function columns() {
  const cards = document.querySelectorAll(".card");
  if (cards.length < 2) return 1;
  const top = cards[0].offsetTop;
  let cols = 0;
  for (const c of cards) { if (c.offsetTop === top) cols++; else break; }
  return Math.max(1, cols);
}

async function submit() {
  if (submitting || !n) return;
  const problem = problems();
  if (problem) { setStatus(problem, "error"); return; }
  submitting = true;
  $("#submit").disabled = true;
  setStatus("Saving…", "");
  try {
    const resp = await fetch(api("/api/labels"), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ batch_id: batchId, good: labels, best: best }),
    });
    const data = await resp.json().catch(() => ({ error: `HTTP ${resp.status}` }));
    if (resp.ok && data.ok) {
      body.classList.add("submitted");
      setStatus("Saved. Waiting for the next batch…", "saved");
      return;
    }
    setStatus(data.error || `the server answered HTTP ${resp.status}`, "error");
  } catch (err) {
    setStatus("Could not reach the run; your labels were not saved. Try again in a moment.", "error");
  }
  submitting = false;
  $("#submit").disabled = false;
}

function onKey(e) {
  if (!n || e.altKey || e.ctrlKey || e.metaKey || body.classList.contains("submitted")) return;
  const cols = columns();
  const key = e.key;
  const actions = {
    ArrowRight: () => moveTo(cursor + 1), l: () => moveTo(cursor + 1),
    ArrowLeft: () => moveTo(cursor - 1), h: () => moveTo(cursor - 1),
    ArrowDown: () => moveTo(cursor + cols), j: () => moveTo(cursor + cols),
    ArrowUp: () => moveTo(cursor - cols), k: () => moveTo(cursor - cols),
    g: () => { mark(cursor, true); if (cursor < n - 1) moveTo(cursor + 1); },
    b: () => { mark(cursor, false); if (cursor < n - 1) moveTo(cursor + 1); },
    s: () => markBest(cursor), "*": () => markBest(cursor),
    Enter: () => submit(),
  };
  const action = actions[key] || actions[key.toLowerCase && key.length === 1 ? key.toLowerCase() : key];
  if (!action) return;
  e.preventDefault();
  action();
}

// ------------------------------------------------------------------------------ progress and chart

function drawChart(history, budget) {
  const svg = $("#chart");
  if (!svg) return;
  const W = 300, H = 110, L = 30, R = 8, T = 8, B = 20;
  const pts = history.filter((h) => h.success_rate !== null && h.success_rate !== undefined);
  const maxX = Math.max(budget || 0, ...history.map((h) => h.feedback_used), 1);
  const x = (v) => L + (W - L - R) * (v / maxX);
  const y = (v) => T + (H - T - B) * (1 - v);
  const ns = "http://www.w3.org/2000/svg";
  const el = (name, attrs, text) => {
    const e = document.createElementNS(ns, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.appendChild(e);
    return e;
  };
  svg.replaceChildren();
  for (const v of [0, 0.5, 1]) {
    el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" });
    el("text", { x: L - 4, y: y(v) + 4, class: "tick", "text-anchor": "end" }, `${Math.round(v * 100)}%`);
  }
  el("text", { x: L, y: H - 4, class: "tick" }, "0");
  el("text", { x: W - R, y: H - 4, class: "tick", "text-anchor": "end" }, String(maxX));
  if (pts.length) {
    el("polyline", { points: pts.map((p) => `${x(p.feedback_used)},${y(p.success_rate)}`).join(" "), class: "line" });
    for (const p of pts) {
      const c = el("circle", { cx: x(p.feedback_used), cy: y(p.success_rate), r: 3, class: "point" });
      const t = document.createElementNS(ns, "title");
      t.textContent = `epoch ${p.epoch}: ${(p.success_rate * 100).toFixed(1)}% at ${p.feedback_used} feedback`;
      c.appendChild(t);
    }
  } else {
    el("text", { x: (W + L) / 2, y: H / 2, class: "tick", "text-anchor": "middle" }, "no evaluation yet");
  }
  svg.dataset.points = String(pts.length);
}

function showProgress(state) {
  const p = state.progress;
  const used = $("#feedback-used");
  if (used) used.textContent = p.feedback_used;
  const budget = $("#feedback-budget");
  if (budget && p.budget) budget.textContent = p.budget;
  drawChart(state.history, p.budget);
}

async function poll() {
  try {
    const resp = await fetch(api("/api/state"), { cache: "no-store" });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    const state = await resp.json();
    failures = 0;
    $("#connection").hidden = true;
    showProgress(state);
    if (state.finished && !state.batch) {
      const waiting = $("#waiting");
      if (waiting) waiting.textContent = "The run has finished. Thank you! You can close this page.";
      else setStatus("The run has finished. You can close this page.", "saved");
      return; // stop polling: the server is going away
    }
    const offered = state.batch ? state.batch.batch_id : "";
    if (offered !== batchId) { window.location.reload(); return; }
  } catch (err) {
    failures++;
    $("#connection").hidden = false;
  }
  setTimeout(poll, failures ? Math.min(3000, 1000 * failures) : 1000);
}

// ------------------------------------------------------------------------------------------ wiring

document.addEventListener("keydown", onKey);
document.querySelectorAll(".mark-good").forEach((b) =>
  b.addEventListener("click", () => { cursor = Number(b.dataset.index); mark(cursor, true); }));
document.querySelectorAll(".mark-bad").forEach((b) =>
  b.addEventListener("click", () => { cursor = Number(b.dataset.index); mark(cursor, false); }));
document.querySelectorAll(".mark-best").forEach((b) =>
  b.addEventListener("click", () => { cursor = Number(b.dataset.index); markBest(cursor); }));
document.querySelectorAll(".card img").forEach((img) =>
  img.addEventListener("click", () => moveTo(Number(img.closest(".card").dataset.index))));
const form = $("#label-form");
if (form) form.addEventListener("submit", (e) => { e.preventDefault(); submit(); });
const restBad = $("#rest-bad");
if (restBad) restBad.addEventListener("click", () => { labels.forEach((l, i) => { if (l === null) labels[i] = false; }); render(); });
if (n) moveTo(0);
if (body.dataset.finished !== "true") poll(); // a finished run's server is going away: nothing to poll
