// eipgw status page: polls /api/status every second and renders the
// role's view. Everything is built with DOM calls and textContent: no
// value from the gateway is ever parsed as HTML.
"use strict";

const POLL_MS = 1000;
let failures = 0;

// Script errors are counted on the page (data-errors on <body>) as well as
// in the console, so that a browser test reading the DOM sees them.
function noteError(msg) {
  document.body.dataset.errors = String(Number(document.body.dataset.errors || 0) + 1);
  document.body.dataset.lastError = String(msg);
}
window.addEventListener("error", e => noteError(e.message));
window.addEventListener("unhandledrejection", e => noteError(e.reason));

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function ago(iso, now) {
  if (!iso) return "—";
  const s = (now - Date.parse(iso)) / 1000;
  if (s < 0) return "in " + dur(-s);
  return dur(s) + " ago";
}

function dur(s) {
  if (s < 0.001) return Math.round(s * 1e6) + " µs";
  if (s < 1) return (s < 0.01 ? (s * 1000).toFixed(1) : Math.round(s * 1000)) + " ms";
  if (s < 120) return s.toFixed(1) + " s";
  if (s < 7200) return Math.round(s / 60) + " min";
  return (s / 3600).toFixed(1) + " h";
}

function clock(iso) {
  return iso ? new Date(iso).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z") : "—";
}

function badge(state, text) {
  return el("span", { class: "badge " + state }, text || state);
}

function fmtValue(v) {
  if (typeof v === "number" && !Number.isInteger(v)) {
    return Math.abs(v) >= 1000 ? v.toFixed(1) : v.toPrecision(4);
  }
  return String(v);
}

function card(title, rows) {
  const dl = el("dl");
  for (const [k, v] of rows) dl.append(el("dt", {}, k), el("dd", {}, v));
  return el("div", { class: "card" }, el("h2", {}, title), dl);
}

function renderEdge(v, now) {
  document.getElementById("title").textContent = `eipgw edge ${v.gateway} · ${v.park} / ${v.site}`;
  const out = [];
  const w = v.wal;
  out.push(el("section", { id: "overview" }, el("div", { class: "cards" },
    card("Broker", [
      ["connection", badge(v.broker.ok ? "ok" : "bad", v.broker.ok ? "connected" : "not connected")],
      ["detail", v.broker.detail],
      ["since", ago(v.broker.since, now)],
    ]),
    card("Write-ahead log", [
      ["last append", badge(w.ok ? "ok" : "bad", w.ok ? "ok" : "failing")],
      ["backlog", `${w.pending_batches} batches, ${(w.bytes / 1048576).toFixed(2)} MiB`],
      ["oldest unacknowledged", w.oldest_age_seconds > 0 ? dur(w.oldest_age_seconds) : "none"],
      ["dropped", String(w.dropped_batches)],
    ]),
    card("Batches", [
      ["polled", String(v.counts.polled)],
      ["acknowledged", String(v.counts.acked)],
      ["replayed", String(v.counts.replayed)],
      ["dropped", String(v.counts.dropped)],
    ]),
  )));
  for (const b of v.buses) {
    const tbody = el("tbody");
    for (const d of b.devices) {
      const readings = el("div", { class: "readings" });
      for (const r of d.readings) {
        const good = r.q === "good";
        readings.append(el("span", { class: "reading" + (good ? "" : " nongood"), "data-point": r.n },
          el("span", { class: "n" }, r.n + " "),
          el("span", { class: "v" }, r.v !== undefined ? fmtValue(r.v) : r.q),
          r.u && r.u !== "1" && r.v !== undefined ? " " + r.u : "",
          !good && r.v !== undefined ? ` (${r.q})` : ""));
      }
      let state = d.state;
      if (d.state === "backoff") state = "backing off";
      const stateCell = el("td", { class: "when" }, badge(d.state, state), el("div", {}, "since " + ago(d.since, now)));
      if (d.state === "backoff") {
        stateCell.append(el("div", { class: "retry" }, "retrying " + ago(d.backoff_until, now)));
      }
      tbody.append(el("tr", { "data-device": d.name, "data-state": d.state },
        el("td", {}, el("strong", {}, d.name), el("div", {}, d.kind + (d.tenant ? " · " + d.tenant : ""))),
        stateCell,
        el("td", { class: "when" }, ago(d.read_at, now), el("div", {}, d.read_at ? "poll " + dur(d.poll_seconds) : "")),
        el("td", { class: "when" }, `${d.answered} / ${d.polls}`, el("div", {}, d.failures ? d.failures + " failing" : "")),
        el("td", { class: "err" }, d.last_error || ""),
        el("td", {}, readings)));
    }
    out.push(el("section", { "data-bus": b.name },
      el("h2", {}, "Bus ", b.name, " ", badge(b.owner.ok ? "ok" : "bad", b.owner.ok ? "polling" : b.owner.detail)),
      el("table", {},
        el("thead", {}, el("tr", {}, ...["device", "state", "last poll", "answered / polls", "last error", "last values"].map(h => el("th", {}, h)))),
        tbody)));
  }
  return out;
}

function renderOther(role, v) {
  document.getElementById("title").textContent = "eipgw " + role;
  return [el("section", {}, el("h2", {}, role), el("pre", {}, JSON.stringify(v, null, 1)))];
}

async function tick() {
  const live = document.getElementById("live");
  const banner = document.getElementById("banner");
  try {
    const res = await fetch("/api/status", { cache: "no-store" });
    if (!res.ok) throw new Error("HTTP " + res.status);
    const data = await res.json();
    const now = Date.parse(data.view.now || new Date().toISOString());
    const main = document.getElementById("main");
    main.replaceChildren(...(data.role === "edge" ? renderEdge(data.view, now) : renderOther(data.role, data.view)));
    document.body.dataset.role = data.role;
    document.body.dataset.updated = String(Number(document.body.dataset.updated || 0) + 1);
    document.getElementById("updated").textContent = "updated " + clock(data.view.now);
    live.className = "badge ok";
    live.textContent = "live";
    banner.hidden = true;
    failures = 0;
  } catch (e) {
    failures++;
    live.className = "badge bad";
    live.textContent = "no answer";
    banner.hidden = false;
    banner.textContent = `The gateway does not answer (${e.message}); retrying every second. Values below are from the last answer.`;
  }
  setTimeout(tick, POLL_MS);
}

tick();
