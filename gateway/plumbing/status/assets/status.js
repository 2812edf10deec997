// eipgw status page: polls /api/status every second and renders the
// role's view. Everything is built with DOM calls and textContent: no
// value from the gateway is ever parsed as HTML.
"use strict";

const POLL_MS = 1000;
// ANSWER_MS bounds the wait for an answer: then the page says the gateway does
// not answer and keeps the last values.
const ANSWER_MS = 5000;
let failures = 0;
let pollMs = POLL_MS;

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
      b.line ? lineSummary(b.line) : null,
      b.pipeline ? pipelineSummary(b.pipeline) : null,
      el("table", {},
        el("thead", {}, el("tr", {}, ...["device", "state", "last poll", "answered / polls", "last error", "last values"].map(h => el("th", {}, h)))),
        tbody)));
  }
  return out;
}

function pct(x) {
  return (x * 100).toFixed(x < 0.1 ? 1 : 0) + " %";
}

// A serial bus's line: its use over the recent window (utilisation, and
// line / busy: how near the exchanges come to the line's limit), then
// its totals since start.
function lineSummary(l) {
  const recent = l.window_seconds > 0;
  const p = el("p", { class: "line", "data-baud": String(l.baud),
    "data-utilisation": recent ? String(l.utilisation) : null,
    "data-efficiency": recent && l.efficiency !== undefined ? String(l.efficiency) : null },
  `Serial line at ${l.baud} baud`);
  if (recent) {
    p.append(" · utilisation ", badge(l.utilisation >= 0.8 ? "warn" : "ok", pct(l.utilisation)),
      " · line / busy " + (l.efficiency !== undefined ? pct(l.efficiency) : "—"),
      ` · ${l.recent_requests} requests, ${l.recent_timeouts} timeouts in the last ${dur(l.window_seconds)}`);
  }
  p.append(el("span", { class: "sub" }, ` (since start: ${l.requests} requests, ${l.timeouts} timeouts)`));
  return p;
}

// A Modbus TCP bus's reads: how many of a device's go out before their
// answers, and whether the configuration or pipeline auto decided it.
function pipelineSummary(p) {
  const reads = p.in_flight > 1 ? `${p.in_flight} reads of a device sent together` : "one read at a time";
  const why = {
    "fixed": "as configured",
    "auto-untried": "pipeline auto: until a device answers every read of a poll",
    "auto-pipelined": "pipeline auto: the server answers reads sent together",
    "auto-one-at-a-time": "pipeline auto: the server did not answer reads sent together",
  }[p.mode] || p.mode;
  return el("p", { class: "pipeline", "data-in-flight": String(p.in_flight), "data-mode": p.mode },
    "Modbus TCP · " + reads, el("span", { class: "sub" }, ` (${why})`));
}

function fmtRate(x) {
  return x >= 100 ? Math.round(x).toString() : x.toFixed(1);
}

function latencyRows(l) {
  return [
    ["observed", String(l.count)],
    ["mean", l.count ? dur(l.mean_seconds) : "—"],
    ["p50 / p99", l.count ? dur(l.p50_seconds) + " / " + dur(l.p99_seconds) : "—"],
    ["recent mean / p99", l.recent_count ? dur(l.recent_mean_seconds) + " / " + dur(l.recent_p99_seconds) : "none recently"],
  ];
}

function countTable(id, title, counts, empty) {
  const keys = Object.keys(counts || {}).sort();
  const rows = keys.filter(k => counts[k] > 0);
  const tbody = el("tbody");
  for (const k of rows) tbody.append(el("tr", { "data-key": k }, el("td", {}, k), el("td", {}, String(counts[k]))));
  return el("section", { id: id }, el("h2", {}, title),
    rows.length ? el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "reason"), el("th", {}, "count"))), tbody)
      : el("p", {}, empty));
}

function renderIngest(v, now) {
  document.getElementById("title").textContent = `eipgw ingest · ${v.park}`;
  const s = v.subscription, db = v.influxdb, r = v.rate;
  const out = [];
  out.push(el("section", { id: "overview" }, el("div", { class: "cards" },
    card("Subscription", [
      ["state", badge(s.ok ? "ok" : "bad", s.ok ? "subscribed" : "not subscribed")],
      ["filter", s.filter],
      ["broker", s.broker],
      ["detail", s.detail],
      ["since", ago(s.since, now)],
    ]),
    card("InfluxDB", [
      ["state", badge(db.ok ? "ok" : "bad", db.ok ? "reachable" : "unreachable")],
      ["database", db.url + " · " + db.bucket],
      ["detail", db.detail],
      ["last success", db.last_ok_age_seconds < 0 ? "none yet" : dur(db.last_ok_age_seconds) + " ago"],
    ]),
    card("Write rate", [
      ["points", r.window_seconds ? fmtRate(r.points_per_second) + " /s" : "measuring…"],
      ["batches", r.window_seconds ? fmtRate(r.batches_per_second) + " /s" : "—"],
      ["write requests", r.window_seconds ? fmtRate(r.writes_per_second) + " /s" : "—"],
      ["over", r.window_seconds ? dur(r.window_seconds) : "—"],
    ]),
    card("Queue", [
      ["unacknowledged", `${v.queue.unacknowledged} of ${v.queue.capacity}`],
      ["received", String(v.counts.received)],
      ["acknowledged", String(v.counts.acked)],
      ["points written", String(v.counts.points)],
    ]),
  )));
  out.push(el("section", { id: "latency" }, el("div", { class: "cards" },
    card("Write request latency", latencyRows(v.write)),
    card("Poll to stored", latencyRows(v.poll_to_stored)),
    card("Retries", [
      ["failed write attempts", badge(v.retries.failed_attempts ? "backoff" : "ok", String(v.retries.failed_attempts))],
      ["by HTTP status", Object.entries(v.retries.by_status || {}).map(([k, n]) => `${k === "0" ? "no response" : k}: ${n}`).join(", ") || "none"],
      ["dead-lettered after", v.retries.max_attempts + " attempts"],
    ]),
    card("Completeness", [
      ["check", v.completeness.enabled ? "every " + dur(v.completeness.interval_seconds) : "disabled"],
      ["gaps", badge(v.completeness.gaps ? "bad" : "ok", String(v.completeness.gaps))],
      ["batches missing", String(v.completeness.missing_batches)],
      ["implausible gaps", String(v.completeness.implausible_gaps)],
      ["sequence conflicts", String(v.completeness.seq_conflicts)],
    ]),
  )));
  out.push(countTable("dead-letters", `Dead letters: ${v.dead_letters.total}`, v.dead_letters.by_reason, "None: every message was stored."));
  if (v.evidence) {
    const breaks = Object.values(v.evidence.breaks || {}).reduce((a, b) => a + b, 0);
    out.push(countTable("evidence", `Evidence: ${v.evidence.checked} batches checked, ${breaks} breaks`, v.evidence.breaks, "No break: every signature and chain held."));
  } else {
    out.push(el("section", { id: "evidence" }, el("h2", {}, "Evidence"), el("p", {}, "Not checked (no ingest.evidence).")));
  }
  return out;
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

const FLOW_COLOURS = { fuel: "#8d6e63", power: "#f2b705", steam: "#3d85c6", loss: "#9aa0a6", cascade: "#2e9e6b" };

function mw(x) {
  return (Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2)) + " MW";
}

// sankey draws the flows as an SVG Sankey diagram: nodes in columns, each
// as tall as the larger of what flows in and out, links as bands as wide
// as their power. Invalid flows are dashed lines with their reason as a
// tooltip.
function sankey(flows, width) {
  const nodeW = 14, pad = 8, top = 10, left = 8, labelRoom = 190;
  const nodes = new Map(flows.nodes.map(n => [n.id, { ...n, in: 0, out: 0 }]));
  for (const l of flows.links) {
    if (!l.valid) continue;
    nodes.get(l.from).out += l.mw;
    nodes.get(l.to).in += l.mw;
  }
  const cols = [...new Set(flows.nodes.map(n => n.column))].sort((a, b) => a - b);
  const byCol = cols.map(c => flows.nodes.filter(n => n.column === c).map(n => nodes.get(n.id)));
  // At least 360 px of the height carry flows, however many nodes a column has.
  const height = Math.max(440, 360 + top * 2 + pad * Math.max(0, ...byCol.map(l => l.length - 1)));
  for (const n of nodes.values()) n.value = Math.max(n.in, n.out);
  let k = Infinity;
  for (const list of byCol) {
    const total = list.reduce((a, n) => a + n.value, 0);
    if (total > 0) k = Math.min(k, (height - top * 2 - pad * (list.length - 1)) / total);
  }
  if (!isFinite(k)) k = 0;
  const span = width - left - labelRoom - nodeW;
  byCol.forEach((list, ci) => {
    const x = left + (cols.length > 1 ? span * ci / (cols.length - 1) : 0);
    const used = list.reduce((a, n) => a + Math.max(n.value * k, 3), 0) + pad * (list.length - 1);
    let y = top + Math.max(0, (height - top * 2 - used) / 2);
    for (const n of list) {
      n.x = x; n.y = y; n.h = Math.max(n.value * k, 3); n.inY = y; n.outY = y;
      y += n.h + pad;
    }
  });
  const root = svg("svg", { id: "sankey", viewBox: `0 0 ${width} ${height}`, width: width, height: height, role: "img",
    "aria-label": "energy flows of the park" });
  const links = svg("g", { class: "links" });
  const dashed = svg("g", { class: "invalid-links" });
  for (const l of flows.links) {
    const a = nodes.get(l.from), b = nodes.get(l.to);
    const x0 = a.x + nodeW, x1 = b.x, xm = (x0 + x1) / 2;
    const title = svg("title", {}, `${a.label} → ${b.label}: ` + (l.valid ? mw(l.mw) : "not valid: " + l.reason) + ` (${l.metric})`);
    if (!l.valid || l.mw * k < 0.5) {
      const y0 = a.outY + 1, y1 = b.inY + 1;
      dashed.append(svg("path", { d: `M${x0},${y0} C${xm},${y0} ${xm},${y1} ${x1},${y1}`, fill: "none", stroke: "#9aa0a6",
        "stroke-width": 1.5, "stroke-dasharray": l.valid ? null : "4 3", "data-link": `${l.from}>${l.to}`, "data-valid": l.valid }, title));
      continue;
    }
    const h = l.mw * k;
    const y0 = a.outY, y1 = b.inY;
    a.outY += h; b.inY += h;
    const colour = l.alarm ? "#b3261e" : FLOW_COLOURS[l.kind] || "#9aa0a6";
    links.append(svg("path", {
      d: `M${x0},${y0} C${xm},${y0} ${xm},${y1} ${x1},${y1} L${x1},${y1 + h} C${xm},${y1 + h} ${xm},${y0 + h} ${x0},${y0 + h} Z`,
      fill: colour, "fill-opacity": l.alarm ? 0.75 : 0.45, stroke: colour, "stroke-opacity": 0.6, "stroke-width": 0.5,
      "data-link": `${l.from}>${l.to}`, "data-valid": "true", "data-mw": l.mw.toFixed(3) }, title));
  }
  root.append(links, dashed);
  const boxes = svg("g", { class: "nodes" });
  for (const n of nodes.values()) {
    const colour = n.kind === "loss" ? "#9aa0a6" : n.kind === "tenant" ? "#24292f" : n.kind === "fuel" ? FLOW_COLOURS.fuel
      : n.kind === "cascade" ? FLOW_COLOURS.cascade : n.id === "power" ? FLOW_COLOURS.power : n.id === "steam" ? FLOW_COLOURS.steam : "#57606a";
    const last = n.column === cols[cols.length - 1];
    const tx = n.x + nodeW + 5;
    boxes.append(svg("g", { "data-node": n.id },
      svg("rect", { x: n.x, y: n.y, width: nodeW, height: n.h, fill: colour, rx: 2 },
        svg("title", {}, `${n.label}: in ${mw(n.in)}, out ${mw(n.out)}`)),
      svg("text", { x: tx, y: n.y + n.h / 2, "dominant-baseline": "middle", "font-size": 12, fill: "#1f2328",
        "font-weight": last || n.kind !== "tenant" ? 600 : 400 }, n.label + " ",
      svg("tspan", { fill: "#57606a", "font-weight": 400 }, n.value > 0 ? mw(n.value) : "—"))));
  }
  root.append(boxes);
  return root;
}

function num(x, digits) {
  return x === null || x === undefined ? "—" : x.toFixed(digits);
}

function renderPark(v, now) {
  document.getElementById("title").textContent = `eipgw park · ${v.park}`;
  const out = [];
  const b = v.balance, h = v.hour;
  const live = v.live ? `${clock(v.live.start)} – ${clock(v.live.end).slice(11)}` : "waiting for the first interval";
  out.push(el("section", { id: "overview" }, el("div", { class: "cards" },
    card("Subscription", [
      ["state", badge(v.subscription.ok ? "ok" : "bad", v.subscription.ok ? "subscribed" : "not subscribed")],
      ["detail", v.subscription.detail],
      ["InfluxDB writes", badge(v.influxdb.ok ? "ok" : "bad", v.influxdb.detail)],
    ]),
    card("Live interval", [
      ["latest", live],
      ["batches counted", `${v.counts.accepted} (${v.counts.late} late, ${v.counts.duplicate} duplicate, ${v.counts.unknown_device} unknown)`],
      ["forged or unverified", v.counts.unverified ? badge("bad", `${v.counts.unverified} batches left out: evidence does not verify`) : "none"],
      ["over the hourly bound", v.counts.excess ? badge("bad", `${v.counts.excess} batches left out: more of one device in an hour than max_batches_per_device_hour`) : "none"],
      ["intervals / hours closed", `${v.counts.intervals} / ${v.counts.hours}`],
      ["records stored", `${v.counts.records} (${v.counts.write_errors} write errors, ${v.counts.dead_letters} dead-lettered)`],
    ]),
    card("Steam balance", [
      ["alarm", b.valid ? badge(b.alarm ? "bad" : "ok", b.alarm ? "ALARM: loss beyond the meters' uncertainty" : "balanced") : badge("waiting", "not valid")],
      ["supplier → tenants", b.valid ? `${num(b.supplier_t_h, 2)} → ${num(b.tenants_t_h, 2)} t/h` : b.reason || "—"],
      ["loss", b.valid ? `${num(b.loss_t_h, 2)} t/h (${(b.loss_fraction * 100).toFixed(1)} %, expected ${(b.expected_loss_fraction * 100).toFixed(1)} %)` : "—"],
      ["unexplained / uncertainty", b.valid ? `${num(b.unexplained_t_h, 2)} / ${num(b.uncertainty_t_h, 2)} t/h` : "—"],
    ]),
    card("This hour", [
      ["hour", `${clock(h.start).slice(0, 16)} · ${h.elapsed_minutes} min in`],
      ["rule", h.rule === "quadrants" ? "a valid sample in every 15-minute quadrant" : `${h.min_minutes} of 60 minutes valid`],
      ["inputs", el("span", {}, badge("ok", `${h.counts.valid} valid`), " ", badge("waiting", `${h.counts.pending} pending`), " ",
        badge(h.counts.lost ? "bad" : "ok", `${h.counts.lost} lost`))],
    ]),
  )));
  const flows = el("section", { id: "flows", "data-alarm": String(b.valid && b.alarm) },
    el("h2", {}, "Energy flows ", el("span", { class: "sub" }, v.live ? "latest live interval, MW" : "no live interval yet")));
  if (b.valid && b.alarm) flows.append(el("p", { class: "alarm" }, "Balance alarm: the network loses more steam than the meters' uncertainty explains; the loss is drawn in red."));
  flows.append(sankey(v.flows, Math.max(700, Math.min(1340, document.documentElement.clientWidth - 60))));
  flows.append(el("p", { class: "legend" }, ...Object.entries(FLOW_COLOURS).map(([k, c]) =>
    el("span", { class: "key", "data-kind": k }, el("span", { class: "swatch " + k }), k)), el("span", { class: "key" }, "dashed: not valid (hover for why)")));
  out.push(flows);

  const tbody = el("tbody");
  for (const t of v.tenants) {
    const today = t.today ? `${num(t.today.steam_gj, 1)} GJ, ${num(t.today.steam_t, 1)} t` + (t.has_power_meter ? `, ${num(t.today.electric_mwh, 2)} MWh` : "")
      + ` (${t.today.valid_hours}/${t.today.hours} h valid)` : "no hour closed yet";
    tbody.append(el("tr", { "data-tenant": t.name },
      el("td", {}, el("strong", {}, t.name), el("div", {}, t.header || "")),
      el("td", {}, num(t.steam_t_h, 2)),
      el("td", {}, num(t.steam_mw, 3)),
      el("td", {}, t.has_power_meter ? num(t.electric_mw, 3) : "no meter"),
      el("td", {}, badge(t.hour_ok ? "ok" : "bad", t.hour_ok ? "can be valid" : "hour lost")),
      el("td", {}, today),
      el("td", { class: "err" }, t.reason || "")));
  }
  out.push(el("section", { id: "tenants" }, el("h2", {}, "Tenants"),
    el("table", {}, el("thead", {}, el("tr", {}, ...["tenant", "steam t/h", "steam MW", "power MW", "this hour", "today", "why not valid"].map(x => el("th", {}, x)))), tbody)));

  const hb = el("tbody");
  for (const c of h.channels) {
    const reasons = Object.entries(c.reasons || {}).map(([k, n]) => `${n}× ${k}`).join(", ");
    hb.append(el("tr", { "data-channel": c.name, "data-status": c.status },
      el("td", {}, c.name),
      el("td", {}, badge(c.status === "valid" ? "ok" : c.status === "lost" ? "bad" : "waiting", c.status)),
      el("td", {}, `${c.valid_minutes} min`),
      el("td", {}, `${c.samples} valid, ${c.invalid_samples} not`),
      el("td", { class: "err" }, reasons)));
  }
  out.push(el("section", { id: "hour" }, el("h2", {}, "This hour's inputs"),
    el("table", {}, el("thead", {}, el("tr", {}, ...["input", "status", "valid minutes", "samples", "why not"].map(x => el("th", {}, x)))), hb)));
  return out;
}

function renderOther(role, v) {
  document.getElementById("title").textContent = "eipgw " + role;
  return [el("section", {}, el("h2", {}, role), el("pre", {}, JSON.stringify(v, null, 1)))];
}

async function tick() {
  const live = document.getElementById("live");
  const banner = document.getElementById("banner");
  // A gateway that stopped (a hung process, a path that drops packets)
  // never answers: without a bound the page would wait, still "live".
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new Error(`no answer within ${ANSWER_MS / 1000} s`)), ANSWER_MS);
  try {
    const res = await fetch("/api/status", { cache: "no-store", signal: ctl.signal });
    if (!res.ok) throw new Error("HTTP " + res.status);
    const data = await res.json();
    clearTimeout(timer);
    const now = Date.parse(data.view.now || new Date().toISOString());
    const main = document.getElementById("main");
    const render = { edge: renderEdge, ingest: renderIngest, park: renderPark }[data.role];
    const t0 = performance.now();
    main.replaceChildren(...(render ? render(data.view, now) : renderOther(data.role, data.view)));
    void main.offsetHeight; // lay it out now, so that the time counts it
    // A site of a thousand devices takes the browser a good part of a
    // second to draw: the page then polls less often, so that drawing
    // takes at most a fifth of the time and the tab stays usable.
    pollMs = Math.min(Math.max(POLL_MS, 5 * (performance.now() - t0)), 30000);
    document.body.dataset.role = data.role;
    document.body.dataset.updated = String(Number(document.body.dataset.updated || 0) + 1);
    document.getElementById("updated").textContent = "updated " + clock(data.view.now) +
      (pollMs > 1.5 * POLL_MS ? ` (every ${Math.round(pollMs / 1000)} s: a large page)` : "");
    live.className = "badge ok";
    live.textContent = "live";
    banner.hidden = true;
    failures = 0;
  } catch (e) {
    clearTimeout(timer);
    pollMs = POLL_MS;
    failures++;
    live.className = "badge bad";
    live.textContent = "no answer";
    banner.hidden = false;
    banner.textContent = `The gateway does not answer (${e.message}); retrying every second. Values below are from the last answer.`;
  }
  setTimeout(tick, pollMs);
}

tick();
