// raftmq console: reads this node's JSON API and /metrics and renders the
// cluster, the queues of one project, and their dead letters. Plain DOM, no
// library, no request outside this origin.
"use strict";

const REFRESH_MS = 2000;
const KEY_STORAGE = "raftmq.adminKey";

const state = {
  project: new URLSearchParams(location.search).get("project") || "default",
  selected: null,        // queue id shown in the detail section
  selectName: new URLSearchParams(location.search).get("queue"), // ?queue=NAME opens its detail
  prev: null,            // previous sample, for rates
  timer: null,
};

// ---- HTTP -----------------------------------------------------------------

class AuthError extends Error {}

// authHeaders signs a GET of path with the stored admin key, if any: the
// DMS door takes only signed requests, and the admin endpoints take them too.
function authHeaders(path, method) {
  const k = sessionStorage.getItem(KEY_STORAGE);
  if (!k) return {};
  const i = k.indexOf(":");
  return raftmqSign.headers(method || "GET", path, location.host, k.slice(0, i), k.slice(i + 1), new Date());
}

async function api(path, asText, method) {
  method = method || "GET";
  const resp = await fetch(path, { method, headers: authHeaders(path, method), cache: "no-store" });
  if (resp.status === 401 || resp.status === 403) {
    throw new AuthError(resp.status === 401 ? "this node needs an admin key" : "this key is not an admin key");
  }
  if (!resp.ok) {
    let msg = resp.status + " " + resp.statusText;
    try { const e = await resp.json(); if (e.error_msg) msg += ": " + e.error_msg; } catch (_) { /* not JSON */ }
    throw new Error(path + ": " + msg);
  }
  return asText ? resp.text() : resp.json();
}

function dms(path) {
  return "/v1.0/" + encodeURIComponent(state.project) + path;
}

// ---- /metrics --------------------------------------------------------------

// parseMetrics returns the samples of the families the console uses, as
// [{name, labels, value}].
function parseMetrics(text) {
  const out = [];
  const re = /^(raftmq_queue_messages|raftmq_queue_oldest_ready_age_seconds)\{([^}]*)\} (\S+)$/;
  for (const line of text.split("\n")) {
    const m = re.exec(line);
    if (!m) continue;
    const labels = {};
    for (const kv of m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[kv[1]] = kv[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

// groupFigures sums in-flight counts and takes the oldest age per
// "queue\u0000group" of the current project.
function groupFigures(samples) {
  const fig = new Map();
  for (const s of samples) {
    if (s.labels.project !== state.project) continue;
    const key = s.labels.queue + "\u0000" + s.labels.group;
    const f = fig.get(key) || { inflight: 0, oldest: 0 };
    if (s.name === "raftmq_queue_messages" && s.labels.state === "inflight") f.inflight += s.value;
    if (s.name === "raftmq_queue_oldest_ready_age_seconds") f.oldest = Math.max(f.oldest, s.value);
    fig.set(key, f);
  }
  return fig;
}

// ---- loading ---------------------------------------------------------------

async function load() {
  const cluster = await api("/v1/cluster");
  const list = await api(dms("/queues?include_deadletter=true"));
  const queues = list.queues || [];
  await Promise.all(queues.map(async (q) => {
    const g = await api(dms("/queues/" + encodeURIComponent(q.id) + "/groups?include_deadletter=true"));
    q.groups = g.groups || [];
  }));
  let samples = [];
  try {
    samples = parseMetrics(await api("/metrics", true));
  } catch (e) {
    if (e instanceof AuthError) throw e;
    // A node without metrics still has its JSON API.
  }
  return { at: Date.now(), cluster, queues, figures: groupFigures(samples) };
}

// rates computes per-second deltas against the previous sample.
function rates(snap) {
  const r = { queueIn: new Map(), queueOut: new Map(), groupOut: new Map() };
  const prev = state.prev;
  if (!prev || prev.project !== state.project) return r;
  const dt = (snap.at - prev.at) / 1000;
  if (dt <= 0) return r;
  for (const q of snap.queues) {
    const pq = prev.queues.find((x) => x.id === q.id);
    if (!pq) continue;
    r.queueIn.set(q.id, Math.max(0, (q.produced_messages - pq.produced_messages) / dt));
    let out = 0;
    for (const g of q.groups) {
      const pg = (pq.groups || []).find((x) => x.id === g.id);
      if (!pg) continue;
      const d = Math.max(0, (g.consumed_messages - pg.consumed_messages) / dt);
      r.groupOut.set(g.id, d);
      out += d;
    }
    r.queueOut.set(q.id, out);
  }
  return r;
}

// ---- rendering helpers ------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else if (k === "onclick") e.addEventListener("click", v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function num(v, cls) {
  return el("td", { class: "num " + (cls || "") }, v);
}

function fmtRate(v) {
  return v === undefined ? "–" : v < 10 ? v.toFixed(1) : Math.round(v).toString();
}

function fmtAge(s) {
  if (!s) return "–";
  if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + " s";
  if (s < 3600) return Math.floor(s / 60) + " min";
  return (s / 3600).toFixed(1) + " h";
}

function replaceRows(table, rows) {
  const tb = document.querySelector(table + " tbody");
  tb.replaceChildren(...rows);
}

// ---- sections ---------------------------------------------------------------

function renderCluster(c) {
  document.getElementById("node-line").textContent =
    "node " + c.node_id + " · metadata leader " + (c.meta_leader || "none");
  const parts = c.partitions || [];
  const cards = (c.nodes || []).map((n) => {
    const st = n.state || (n.alive ? "alive" : "dead");
    const replicas = parts.filter((p) => (p.replicas || []).includes(n.id)).length;
    const leads = parts.filter((p) => p.leader === n.id).length;
    return el("div", { class: "card " + st, "data-node": n.id },
      el("div", { class: "id" }, n.id, n.id === c.meta_leader ? " ★" : ""),
      el("div", { class: "state-" + st }, st),
      el("div", { class: "meta" }, n.http_addr),
      el("div", { class: "meta" }, replicas + " replicas · " + leads + " leaderships"));
  });
  document.getElementById("nodes").replaceChildren(...cards);
  const projects = new Set(["default", state.project]);
  for (const p of parts) if (p.project) projects.add(p.project);
  document.getElementById("projects").replaceChildren(...[...projects].sort().map((p) => el("option", { value: p })));
  const byQueue = new Map();
  for (const p of parts) {
    const name = p.queue_name ? (p.project ? p.project + "/" : "") + p.queue_name : p.queue_id;
    if (!byQueue.has(name)) byQueue.set(name, []);
    byQueue.get(name).push(p);
  }
  replaceRows("#partitions", [...byQueue.keys()].sort().map((name) => {
    const chips = byQueue.get(name).sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true })).map((p) => {
      const idx = p.id.slice(p.id.lastIndexOf("/") + 1);
      return el("span", { class: "chip" + (p.leader ? "" : " noleader"), "data-partition": p.id },
        idx + ": ", p.leader ? el("b", {}, p.leader) : "no leader",
        el("span", { class: "muted" }, " (" + (p.replicas || []).join(", ") + ")"));
    });
    return el("tr", { "data-partitions-of": name }, el("td", {}, name), el("td", {}, ...chips));
  }));
}

function groupRow(q, g, snap, r) {
  const f = snap.figures.get(q.name + "\u0000" + g.name) || { inflight: 0, oldest: 0 };
  return el("tr", { "data-group": g.name },
    el("td", {}, g.name),
    num(g.available_messages), num(f.inflight), num(g.consumed_messages), num(fmtRate(r.groupOut.get(g.id))),
    num(g.available_deadletters || 0, g.available_deadletters ? "warn" : ""), num(g.produced_deadletters || 0),
    num(fmtAge(f.oldest)), el("td", { class: "muted" }, g.id));
}

function renderQueues(snap, r) {
  document.getElementById("queues-project").textContent = "in project " + state.project;
  const parts = snap.cluster.partitions || [];
  const mine = parts.filter((p) => p.leader === snap.cluster.node_id).length;
  // Below full coverage, in flight counts only this node's partitions, so
  // ready (available minus in flight) is an upper bound.
  const partial = mine === parts.length ? "" : "≤ ";
  const rows = [];
  for (const q of snap.queues) {
    const select = () => { state.selected = q.id; render(snap, r); };
    const groups = q.groups.length ? q.groups : [null];
    groups.forEach((g, i) => {
      const cls = "clickable" + (state.selected === q.id ? " selected" : "");
      const head = i === 0
        ? [el("td", { class: "qname" }, q.name), el("td", {}, q.queue_mode), num(q.produced_messages), num(fmtRate(r.queueIn.get(q.id)))]
        : [el("td"), el("td"), el("td"), el("td")];
      if (!g) {
        rows.push(el("tr", { class: cls, "data-queue": q.name, onclick: select }, ...head,
          el("td", { class: "muted", colSpan: 6 }, "no consumer group")));
        return;
      }
      const f = snap.figures.get(q.name + "\u0000" + g.name) || { inflight: 0, oldest: 0 };
      const dead = g.available_deadletters || 0;
      rows.push(el("tr", { class: cls, "data-queue": q.name, "data-group": g.name, onclick: select }, ...head,
        el("td", {}, g.name),
        num(partial + Math.max(0, g.available_messages - f.inflight), "ready"), num((partial ? "≥ " : "") + f.inflight, "inflight"),
        num(dead, "deadletters" + (dead ? " warn" : "")), num(fmtAge(f.oldest)), num(fmtRate(r.groupOut.get(g.id)))));
    });
  }
  if (rows.length === 0) {
    rows.push(el("tr", {}, el("td", { colSpan: 10, class: "muted" }, "no queues in project " + state.project)));
  }
  replaceRows("#queues", rows);
  document.getElementById("coverage").textContent = mine === parts.length
    ? "In flight and oldest age cover every partition: this node leads them all."
    : "In flight and oldest age cover the " + mine + " of " + parts.length +
      " partitions this node leads (hence ≤ and ≥); the console of each node shows its own. Messages, dead letters and rates are cluster-wide.";
}

function renderDetail(snap, r) {
  const sec = document.getElementById("detail");
  const q = snap.queues.find((x) => x.id === state.selected);
  if (!q) { sec.hidden = true; return; }
  sec.hidden = false;
  document.getElementById("detail-name").textContent = q.name;
  document.getElementById("detail-meta").textContent = q.queue_mode + " · id " + q.id +
    " · redrive " + (q.redrive_policy === "enable" ? "after " + q.max_consume_count + " failed consumptions" : "off") +
    " · created " + new Date(q.created).toISOString();
  replaceRows("#groups", q.groups.map((g) => groupRow(q, g, snap, r)));
}

function renderDeadLetters(snap) {
  const parts = snap.cluster.partitions || [];
  const mine = parts.filter((p) => p.leader === snap.cluster.node_id).length;
  // Below full coverage, in flight counts only this node's partitions, so
  // ready (available minus in flight) is an upper bound.
  const partial = mine === parts.length ? "" : "≤ ";
  const rows = [];
  for (const q of snap.queues) {
    if (q.redrive_policy !== "enable") continue;
    for (const g of q.groups) {
      rows.push(el("tr", { "data-dl": q.name + "/" + g.name },
        el("td", {}, q.name), el("td", {}, g.name),
        num(g.available_deadletters || 0, g.available_deadletters ? "warn" : ""), num(g.produced_deadletters || 0),
        el("td", {}, String(q.max_consume_count)),
        el("td", {}, el("button", { type: "button", onclick: () => peek(q, g), disabled: !g.available_deadletters }, "peek"),
          " ", el("button", { type: "button", class: "redrive", onclick: () => redrive(q, g), disabled: !g.available_deadletters }, "redrive"))));
    }
  }
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { colSpan: 6, class: "muted" }, "no queue of this project has redrive enabled")));
  replaceRows("#deadletters", rows);
}

async function peek(q, g) {
  const box = document.getElementById("peek");
  box.hidden = false;
  document.getElementById("peek-title").textContent = q.name + " / " + g.name;
  const body = document.getElementById("peek-body");
  body.textContent = "loading…";
  try {
    const msgs = await api(dms("/queues/" + encodeURIComponent(q.id) + "/groups/" + encodeURIComponent(g.id) +
      "/deadletters?max_msgs=10&time_wait=1&ack_wait=15"));
    body.textContent = msgs.length === 0 ? "(none available right now)"
      : msgs.map((m) => JSON.stringify(m.message.body) + "  " + JSON.stringify(m.message.attributes || {})).join("\n");
  } catch (e) {
    body.textContent = String(e.message || e);
  }
}

// redrive moves every available dead letter of the group back to its
// normal lane (POST .../deadletters/redrive without a body: all of them).
async function redrive(q, g) {
  if (!confirm("Move the dead letters of " + q.name + " / " + g.name + " back to the queue?")) return;
  const box = document.getElementById("peek");
  box.hidden = false;
  document.getElementById("peek-title").textContent = q.name + " / " + g.name;
  const body = document.getElementById("peek-body");
  try {
    const out = await api(dms("/queues/" + encodeURIComponent(q.id) + "/groups/" + encodeURIComponent(g.id) +
      "/deadletters/redrive"), false, "POST");
    body.textContent = "redriven: " + out.redriven;
  } catch (e) {
    body.textContent = String(e.message || e);
  }
}

function render(snap, r) {
  if (!state.selected && state.selectName) {
    const named = snap.queues.find((x) => x.name === state.selectName);
    if (named) state.selected = named.id;
  }
  renderCluster(snap.cluster);
  renderQueues(snap, r);
  renderDetail(snap, r);
  renderDeadLetters(snap);
}

function setStatus(ok, text) {
  const s = document.getElementById("status");
  s.textContent = text;
  s.className = "pill " + (ok ? "ok" : "bad");
}

// ---- main loop --------------------------------------------------------------

async function tick() {
  try {
    const snap = await load();
    const r = rates(snap);
    render(snap, r);
    state.prev = { ...snap, project: state.project };
    setStatus(true, "live · " + new Date(snap.at).toLocaleTimeString());
    document.body.dataset.ready = "1";
  } catch (e) {
    setStatus(false, e instanceof AuthError ? "admin key needed" : "error");
    document.getElementById("node-line").textContent = String(e.message || e);
    if (e instanceof AuthError) askKey();
  }
  state.timer = setTimeout(tick, REFRESH_MS);
}

function askKey() {
  const d = document.getElementById("key-dialog");
  if (!d.open) d.showModal();
}

function setup() {
  const proj = document.getElementById("project");
  proj.value = state.project;
  proj.addEventListener("change", () => {
    state.project = proj.value.trim() || "default";
    state.selected = null;
    state.prev = null;
    clearTimeout(state.timer);
    tick();
  });
  document.getElementById("key-button").addEventListener("click", askKey);
  document.getElementById("key-cancel").addEventListener("click", () => document.getElementById("key-dialog").close());
  document.getElementById("key-form").addEventListener("submit", () => {
    const ak = document.getElementById("key-ak").value.trim();
    const sk = document.getElementById("key-sk").value;
    if (ak && sk) sessionStorage.setItem(KEY_STORAGE, ak + ":" + sk);
    clearTimeout(state.timer);
    tick();
  });
  tick();
}

document.addEventListener("DOMContentLoaded", setup);
