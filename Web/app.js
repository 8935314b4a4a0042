// The web view of the session manager: plain DOM, no dependencies. Every request goes to /ui/api/…, which the
// daemon answers as its own API for the signed-in keypair (the cookie is HttpOnly; the CSRF token lives only in
// this script's memory). Views follow the daemon's server-sent events; nothing polls.
"use strict";

const state = { me: null, stream: null, extra: [], timer: null, view: "", gen: 0 };
const PAGE = 50;

// ---- DOM helpers: text only through textContent, never markup from data ----
function h(tag, attrs, ...children) {
  const svg = ["svg", "g", "rect", "line", "text", "path", "marker", "defs", "title", "a", "polyline"].includes(tag) && attrs && attrs.svg;
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "svg" || value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}
const s = (tag, attrs, ...children) => h(tag, Object.assign({ svg: true }, attrs), ...children);
const main = () => document.getElementById("main");
// A view paints only while it is the current one (a slow answer for the previous view must not cover this one).
function paint(gen, ...children) { if (gen === state.gen) main().replaceChildren(...children); }
function setStatus(text) { document.getElementById("status").textContent = text || ""; }
function fmtTime(text) {
  if (!text) return "";
  const d = new Date(text.includes("T") || text.includes("Z") ? text : text.replace(" ", "T") + "Z");
  return isNaN(d) ? text : d.toLocaleString();
}
const json = (value) => (typeof value === "string" ? (() => { try { return JSON.parse(value); } catch { return {}; } })() : value || {});
const plainStatus = (value) => String(value || "").replace(/^KernelStatus\./, "");

// ---- API ----
class APIError extends Error {
  constructor(status, body) { super((body && (body.msg || body.title)) || "HTTP " + status); this.status = status; this.body = body; }
}
async function api(path, options = {}) {
  const headers = { Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (state.me && options.method && options.method !== "GET") headers["X-CSRF-Token"] = state.me.csrf_token;
  const response = await fetch(path.startsWith("/ui/") ? path : "/ui/api" + path, {
    method: options.method || "GET", headers, credentials: "same-origin",
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = { msg: text.slice(0, 200) }; }
  if (response.status === 401 && state.me) { signedOut("Your sign-in has ended; sign in again."); }
  if (!response.ok) throw new APIError(response.status, body);
  return body;
}
async function gql(query, variables) {
  const body = await api("/admin/gql", { method: "POST", body: { query, variables } });
  if (body && body.errors && body.errors.length) throw new APIError(400, { msg: body.errors[0].message });
  return body.data;
}

// ---- live updates: one stream per view; each event schedules one refresh (at most every 500 ms) ----
function follow(url, onEvent, names) {
  stopFollowing();
  const source = new EventSource(url, { withCredentials: true });
  state.stream = source;
  const handler = (event) => { if (state.stream === source) onEvent(event); };
  for (const name of names) source.addEventListener(name, handler);
  source.onerror = () => setStatus(source.readyState === EventSource.CLOSED ? "Live updates stopped." : "Reconnecting live updates…");
  source.onopen = () => setStatus("");
  return source;
}
function stopFollowing() {
  if (state.stream) state.stream.close();
  state.stream = null;
  for (const source of state.extra) source.close();
  state.extra = [];
  clearTimeout(state.timer);
}
function debounce(fn) {
  let pending = false, last = 0;
  const gen = state.gen;
  return () => {
    if (pending) return;
    pending = true;
    const wait = Math.max(0, 500 - (Date.now() - last));
    state.timer = setTimeout(async () => { pending = false; last = Date.now(); if (gen !== state.gen) return; try { await fn(); } catch (e) { setStatus(e.message); } }, wait);
  };
}
const SESSION_EVENTS = ["session_enqueued", "session_scheduled", "session_preparing", "session_started", "session_success",
  "session_failure", "session_cancelled", "session_terminating", "session_terminated", "session_restarting",
  "kernel_pulling", "kernel_creating", "kernel_started", "kernel_terminating", "kernel_terminated", "kernel_cancelled"];
function ownerStream() {
  const everyone = state.me.is_admin ? "&owner_access_key=*" : "";
  return "/ui/api/events/session?since=now" + everyone;
}

// ---- sign-in ----
function signedOut(message) {
  stopFollowing();
  state.me = null;
  document.getElementById("nav").hidden = true;
  document.getElementById("sign-out").hidden = true;
  document.getElementById("who").textContent = "";
  renderSignIn(message);
}
function renderSignIn(message) {
  const error = h("p", { class: "error", role: "alert", id: "sign-in-error", text: message || "" });
  const byKey = h("fieldset", {},
    h("legend", { text: "Keypair" }),
    h("label", { for: "access-key", text: "Access key" }), h("input", { id: "access-key", name: "access_key", autocomplete: "username" }),
    h("label", { for: "secret-key", text: "Secret key" }), h("input", { id: "secret-key", name: "secret_key", type: "password", autocomplete: "current-password" }));
  const byPassword = h("fieldset", {},
    h("legend", { text: "or email and password" }),
    h("label", { for: "email", text: "Email" }), h("input", { id: "email", name: "email", type: "email" }),
    h("label", { for: "password", text: "Password" }), h("input", { id: "password", name: "password", type: "password" }));
  const form = h("form", { id: "sign-in", class: "card narrow" }, h("h2", { text: "Sign in" }), byKey, byPassword,
    h("button", { type: "submit", id: "sign-in-button", text: "Sign in" }), error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const email = form.querySelector("#email").value.trim();
    const body = email
      ? { email, password: form.querySelector("#password").value }
      : { access_key: form.querySelector("#access-key").value.trim(), secret_key: form.querySelector("#secret-key").value };
    try {
      state.me = await api("/ui/sign-in", { method: "POST", body });
      signedIn();
    } catch (e) {
      error.textContent = e.message;
    }
  });
  main().replaceChildren(form);
  form.querySelector("#access-key").focus();
}
function signedIn() {
  document.getElementById("nav").hidden = false;
  for (const link of document.querySelectorAll("[data-admin]")) link.hidden = !state.me.is_admin;
  document.getElementById("sign-out").hidden = false;
  document.getElementById("who").textContent = state.me.email + (state.me.is_admin ? " (admin)" : "");
  route();
}

// ---- views ----
const views = { queues: viewQueues, sessions: viewSessions, session: viewSession, tasks: viewTasks, agents: viewAgents, webhooks: viewWebhooks };

function route() {
  if (!state.me) return;
  stopFollowing();
  const hash = location.hash.replace(/^#\/?/, "") || "queues";
  const [path, query] = hash.split("?");
  const [name, ...rest] = path.split("/");
  const view = views[name] || viewQueues;
  state.view = name;
  const gen = ++state.gen;
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  main().replaceChildren(h("p", { class: "muted", text: "Loading…" }));
  view(decodeURIComponent(rest.join("/")), new URLSearchParams(query || ""), gen).catch((e) => {
    if (!state.me || gen !== state.gen) return;
    main().replaceChildren(h("p", { class: "error", role: "alert", text: e.status === 404 ? "Not found: " + e.message : e.message }));
  });
}

function slotText(value) {
  const n = Number(value);
  return isNaN(n) ? String(value) : (n >= 1 << 30 ? (n / (1 << 30)).toFixed(1) + " GiB" : String(+n.toFixed(2)));
}
function slotBars(total, used, label) {
  const names = Object.keys(json(total)).sort((a, b) => (a === "cpu" ? -1 : b === "cpu" ? 1 : a.localeCompare(b)));
  return h("ul", { class: "bars", "aria-label": label }, names.map((name) => {
    const max = Number(json(total)[name]) || 0, value = Number(json(used)[name]) || 0;
    const text = `${name}: ${slotText(value)} of ${slotText(max)} used`;
    return h("li", {}, h("span", { class: "slot", text: name }),
      h("progress", { max: max || 1, value: Math.min(value, max || 1), "aria-label": text, title: text }),
      h("span", { class: "muted", text: `${slotText(value)} / ${slotText(max)}` }));
  }));
}

async function viewQueues(_, __, gen) {
  const render = async () => {
    const data = await api("/scheduler/queues");
    const cards = data.scaling_groups.map((group) => {
      const waiting = group.reasons.map((r) => `${r.count} ${r.reason}`).join(", ");
      const card = h("section", { class: "card group", "data-group": group.name, "aria-labelledby": "group-" + group.name },
        h("h2", { id: "group-" + group.name, text: group.name }),
        h("p", { class: "counts" },
          h("span", { class: "count", "data-count": "pending", text: `${group.pending} pending` }), " · ",
          h("span", { class: "count", "data-count": "running", text: `${group.running} running` })),
        h("p", { class: "reasons", "data-reasons": "" }, group.pending ? `${group.pending} waiting: ${waiting || "not tried yet"}` : "Nothing waiting."),
        h("h3", { text: "Capacity (alive agents)" }), slotBars(group.capacity.total, group.capacity.used, "Capacity of " + group.name));
      if (group.agents) {
        card.append(h("h3", { text: "Agents" }), h("table", {},
          h("thead", {}, h("tr", {}, ["Agent", "Status", "Sessions", "Slots used"].map((t) => h("th", { scope: "col", text: t })))),
          h("tbody", {}, group.agents.map((agent) => h("tr", {},
            h("td", { text: agent.id }), h("td", {}, h("span", { class: "st st-" + agent.status, text: agent.status + (agent.schedulable ? "" : " (not schedulable)") })),
            h("td", { text: agent.sessions }), h("td", {}, slotBars(agent.available_slots, agent.occupied_slots, "Slots of " + agent.id)))))));
      }
      return card;
    });
    paint(gen, h("h2", { class: "view-title", text: "Queues" }),
      cards.length ? h("div", { class: "grid" }, cards) : h("p", { class: "muted", text: "No scaling groups with sessions." }));
  };
  await render();
  if (gen === state.gen) follow(ownerStream(), debounce(render), SESSION_EVENTS);
}

const STATUSES = ["", "PENDING", "SCHEDULED", "PREPARING", "RUNNING", "RESTARTING", "TERMINATING", "TERMINATED", "ERROR", "CANCELLED"];
const LIST_QUERY = `query($limit: Int!, $offset: Int!, $status: String, $filter: String, $access_key: String) {
  compute_session_list(limit: $limit, offset: $offset, status: $status, filter: $filter, access_key: $access_key) {
    items { id name type status status_info result scaling_group access_key created_at }
    total_count
  }
}`;
function quote(text) { return '"' + text.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"'; }

async function viewSessions(_, params, gen) {
  const status = params.get("status") || "", type = params.get("type") || "", group = params.get("group") || "";
  const owner = params.get("owner") || "", page = Math.max(0, parseInt(params.get("page") || "0", 10) || 0);
  const select = (id, label, options, value) => [h("label", { for: id, text: label }),
    h("select", { id, name: id }, options.map((o) => h("option", { value: o, selected: o === value, text: o || "any" })))];
  const form = h("form", { class: "filters", id: "filters", role: "search" },
    select("status", "Status", STATUSES, status), select("type", "Type", ["", "interactive", "batch", "inference"], type),
    h("label", { for: "group", text: "Scaling group" }), h("input", { id: "group", name: "group", value: group, size: 12 }),
    state.me.is_admin ? [h("label", { for: "owner", text: "Owner (access key)" }), h("input", { id: "owner", name: "owner", value: owner, size: 22 })] : null,
    h("button", { type: "submit", text: "Apply" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const key of ["status", "type", "group", "owner"]) { const el = form.querySelector("#" + key); if (el && el.value) next.set(key, el.value); }
    location.hash = "#/sessions?" + next.toString();
  });
  const table = h("div", { id: "session-table" });
  paint(gen, h("h2", { class: "view-title", text: "Sessions" }), form, table);
  const filters = [];
  if (type) filters.push("type == " + quote(type));
  if (group) filters.push("scaling_group == " + quote(group));
  const render = async () => {
    const data = await gql(LIST_QUERY, { limit: PAGE, offset: page * PAGE, status: status || null,
      filter: filters.length ? filters.join(" & ") : null, access_key: owner || null });
    const list = data.compute_session_list, total = list.total_count;
    const link = (p) => { const next = new URLSearchParams(params); next.set("page", p); return "#/sessions?" + next.toString(); };
    const from = total ? page * PAGE + 1 : 0, to = Math.min(total, page * PAGE + list.items.length);
    table.replaceChildren(
      h("p", { id: "session-count", text: `${from.toLocaleString()}–${to.toLocaleString()} of ${total.toLocaleString()}` }),
      h("table", { id: "sessions" },
        h("thead", {}, h("tr", {}, ["Name", "Status", "Type", "Scaling group", state.me.is_admin ? "Owner" : null, "Created"]
          .filter(Boolean).map((t) => h("th", { scope: "col", text: t })))),
        h("tbody", {}, list.items.map((item) => h("tr", { "data-session": item.id },
          h("td", {}, h("a", { href: "#/session/" + item.id, text: item.name })),
          h("td", {}, statusBadge(item.status, item.result), item.status_info ? h("span", { class: "muted", text: " " + item.status_info }) : null),
          h("td", { text: String(item.type || "").toLowerCase() }), h("td", { text: item.scaling_group || "" }),
          state.me.is_admin ? h("td", { text: item.access_key }) : null, h("td", { text: fmtTime(item.created_at) }))))),
      h("nav", { class: "pager", "aria-label": "Pages" },
        page > 0 ? h("a", { href: link(page - 1), rel: "prev", text: "← Previous" }) : null,
        to < total ? h("a", { href: link(page + 1), rel: "next", text: "Next →" }) : null));
    // Time from navigation to the first painted page of the list (Benchmarks/web_first_load.sh reads it).
    if (!performance.getEntriesByName("sessions-rendered").length) performance.mark("sessions-rendered");
  };
  await render();
  if (gen === state.gen) follow(ownerStream(), debounce(render), SESSION_EVENTS);
}

function statusBadge(status, result) {
  const plain = plainStatus(status);
  const ok = plain === "TERMINATED" && result === "SUCCESS", bad = plain === "ERROR" || result === "FAILURE" || plain === "CANCELLED";
  const cls = ok ? "st st-done" : bad ? "st st-failed" : "st st-" + plain;
  return h("span", { class: cls, "data-status": plain, text: plain + (result && result !== "UNDEFINED" ? " · " + result : "") });
}

const SESSION_QUERY = `query($id: UUID!) {
  compute_session(id: $id) {
    id name type status status_info status_data status_history result scaling_group access_key image created_at terminated_at starts_at
  }
}`;

async function viewSession(id, _, gen) {
  if (!/^[0-9a-f-]{36}$/i.test(id)) throw new APIError(404, { msg: "no such session" });
  const data = await gql(SESSION_QUERY, { id });
  const session = data.compute_session;
  if (!session) throw new APIError(404, { msg: "no session " + id });
  const ownerQuery = session.access_key !== state.me.access_key ? "?owner_access_key=" + encodeURIComponent(session.access_key) : "";
  const head = h("div", { id: "session-head" }), why = h("section", { class: "card", id: "why" }),
    timeline = h("section", { class: "card", id: "timeline" }), graph = h("section", { class: "card wide", id: "graph" }),
    events = h("ol", { id: "events", class: "events", "aria-live": "polite", "aria-label": "Events since this page opened" }), logs = h("pre", { id: "logs", tabindex: 0 });
  paint(gen, head, h("div", { class: "grid" }, why, timeline), graph,
    h("div", { class: "grid" }, h("section", { class: "card" }, h("h3", { text: "Live events" }), events),
      h("section", { class: "card" }, h("h3", { text: "Log (tail)" }), logs)));

  const render = async () => {
    const current = (await gql(SESSION_QUERY, { id })).compute_session || session;
    head.replaceChildren(h("h2", { class: "view-title" }, current.name, " ", statusBadge(current.status, current.result)),
      h("p", { class: "muted" }, `${String(current.type).toLowerCase()} · ${current.image} · ${current.scaling_group || "no scaling group yet"}`,
        current.status_info ? " · " + current.status_info : ""),
      plainStatus(current.status) === "PENDING" || plainStatus(current.status) === "RUNNING"
        ? h("button", { type: "button", id: "terminate", onclick: () => terminate(current) , text: "Terminate" }) : null);
    const scheduler = json(current.status_data).scheduler || {};
    const failed = scheduler.failed_predicates || [];
    why.replaceChildren(h("h3", { text: "Why it waits" }),
      plainStatus(current.status) !== "PENDING" ? h("p", { class: "muted", text: "It is not waiting (" + plainStatus(current.status) + ")." })
        : failed.length || scheduler.msg
          ? h("ul", { id: "failed-predicates" }, failed.map((p) => h("li", { "data-predicate": p.name }, h("strong", { text: p.name }), ": " + (p.msg || ""))),
              scheduler.msg ? h("li", { "data-predicate": "agents" }, h("strong", { text: "placement" }), ": " + scheduler.msg) : null)
          : h("p", { text: "No scheduling pass has looked at it yet." }),
      scheduler.retries !== undefined ? h("p", { class: "muted", text: `Tried ${scheduler.retries} time(s), last ${fmtTime(scheduler.last_try)}.` }) : null);
    const history = Object.entries(json(current.status_history)).sort((a, b) => String(a[1]).localeCompare(String(b[1])));
    timeline.replaceChildren(h("h3", { text: "Status timeline" }),
      h("ol", { class: "timeline" }, history.map(([st, at]) => h("li", {}, h("span", { class: "st st-" + st, text: st }), " " + fmtTime(at)))));
    await drawGraph(graph, id, ownerQuery);
    const log = await api("/session/" + id + "/logs" + ownerQuery).catch(() => null);
    const text = (log && log.result && log.result.logs) || "";
    logs.textContent = text.split("\n").slice(-200).join("\n") || "(no output yet)";
  };
  await render();
  if (gen !== state.gen) return;
  // One stream: the owner's events (a browser holds few connections per host). This session's own events are
  // listed; any event (this session or another of the graph) schedules one redraw.
  const refresh = debounce(render);
  follow("/ui/api/events/session?since=now&owner_access_key=" + encodeURIComponent(session.access_key), (event) => {
    let info = {};
    try { info = JSON.parse(event.data); } catch { /* not ours to show */ }
    if (info.sessionId === id) events.append(h("li", {}, h("strong", { text: event.type }), info.reason ? " — " + info.reason : ""));
    refresh();
  }, SESSION_EVENTS);
}

async function terminate(session) {
  if (!confirm(`Terminate ${session.name}?`)) return;
  const owner = session.access_key !== state.me.access_key ? "?owner_access_key=" + encodeURIComponent(session.access_key) : "";
  await api("/session/" + session.id + owner, { method: "DELETE" }).catch((e) => setStatus(e.message));
}

// The dependency graph as a layered DAG: a session's dependencies to its left, edges pointing to what waits on them.
async function drawGraph(container, id, ownerQuery) {
  const root = await api("/session/" + id + "/dependency-graph" + ownerQuery);
  const nodes = new Map(), edges = [];
  const visit = (node) => {
    if (!nodes.has(node.session_id)) nodes.set(node.session_id, { id: node.session_id, name: node.session_name, status: plainStatus(node.status), truncated: !!node.truncated, deps: [] });
    const entry = nodes.get(node.session_id);
    for (const dep of node.depends_on || []) {
      if (!entry.deps.includes(dep.session_id)) { entry.deps.push(dep.session_id); edges.push([dep.session_id, node.session_id]); }
      visit(dep);
    }
  };
  visit(root);
  if (nodes.size > 1) {
    const ids = [...nodes.keys()].map(quote).join(", ");
    const results = await gql(`query($filter: String) { compute_session_list(limit: 100, offset: 0, filter: $filter) { items { id result status } } }`,
      { filter: "id in [" + ids + "]" }).catch(() => null);
    for (const item of (results && results.compute_session_list.items) || []) if (nodes.has(item.id)) nodes.get(item.id).result = item.result;
  }
  const layer = new Map();
  const depth = (nodeID, seen = new Set()) => {
    if (layer.has(nodeID)) return layer.get(nodeID);
    if (seen.has(nodeID)) return 0;
    seen.add(nodeID);
    const deps = nodes.get(nodeID).deps;
    const value = deps.length ? 1 + Math.max(...deps.map((d) => depth(d, seen))) : 0;
    layer.set(nodeID, value);
    return value;
  };
  for (const nodeID of nodes.keys()) depth(nodeID);
  const columns = [];
  for (const [nodeID, l] of layer) (columns[l] = columns[l] || []).push(nodeID);
  const W = 190, H = 64, BW = 160, BH = 44, position = new Map();
  columns.forEach((column, x) => column.sort().forEach((nodeID, y) => position.set(nodeID, { x: 10 + x * W, y: 10 + y * H })));
  const width = 20 + columns.length * W - (W - BW), height = 20 + Math.max(...columns.map((c) => c.length)) * H - (H - BH);
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", id: "dag", "aria-label": `Dependency graph of ${nodes.get(id).name}: ${nodes.size} sessions` },
    s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto" },
      s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow" }))));
  for (const [from, to] of edges) {
    const a = position.get(from), b = position.get(to);
    svg.append(s("line", { x1: a.x + BW, y1: a.y + BH / 2, x2: b.x, y2: b.y + BH / 2, class: "edge", "marker-end": "url(#arrow)" }));
  }
  for (const node of nodes.values()) {
    const p = position.get(node.id);
    const ok = node.status === "TERMINATED" && node.result !== "FAILURE", bad = node.status === "ERROR" || node.status === "CANCELLED" || node.result === "FAILURE";
    const cls = "node " + (ok ? "st-done" : bad ? "st-failed" : "st-" + node.status) + (node.id === id ? " current" : "");
    const label = `${node.name}: ${node.status}${node.result && node.result !== "UNDEFINED" ? " " + node.result : ""}`;
    svg.append(s("a", { href: "#/session/" + node.id, class: cls, "data-node": node.id, "data-status": node.status, tabindex: 0, "aria-label": label },
      s("title", { text: label }),
      s("rect", { x: p.x, y: p.y, width: BW, height: BH, rx: 6 }),
      s("text", { x: p.x + 8, y: p.y + 18, class: "name", text: node.name.length > 20 ? node.name.slice(0, 19) + "…" : node.name }),
      s("text", { x: p.x + 8, y: p.y + 35, class: "state", text: (ok ? "✓ " : bad ? "✗ " : "") + node.status + (node.truncated ? " …" : "") })));
  }
  container.replaceChildren(h("h3", { text: "Dependency graph" }), h("div", { class: "scroll" }, svg),
    h("p", { class: "muted", text: "Arrows point from a session to the sessions that wait for it. ✓ finished, ✗ failed." }));
}

async function viewTasks(_, __, gen) {
  const data = await api("/bgtasks?limit=50");
  if (gen !== state.gen) return;
  const rows = data.items.map((task) => {
    const bar = h("progress", { max: task.total_progress || 1, value: task.current_progress || 0, "aria-label": "Progress of task " + task.task_id });
    const text = h("span", { class: "progress-text" });
    const outcome = h("span", { class: "outcome", "data-outcome": task.status, text: task.status });
    const show = (current, total, status, message) => {
      bar.max = total || 1; bar.value = Math.min(current || 0, total || 1);
      const pct = total ? Math.floor((100 * current) / total) : status === "done" ? 100 : 0;
      text.textContent = ` ${pct} %`;
      text.dataset.percent = String(status === "done" ? 100 : pct);
      outcome.textContent = status + (message ? " — " + message : "");
      outcome.dataset.outcome = status;
      if (status === "done") { bar.max = 1; bar.value = 1; text.textContent = " 100 %"; }
    };
    show(task.current_progress, task.total_progress, task.status, task.status === "running" ? "" : task.message);
    // At most four live streams (a browser holds six connections per host); the others show where they were.
    if (task.status === "running" && state.extra.length < 4) {
      const source = new EventSource("/ui/api/events/background-task?task_id=" + task.task_id, { withCredentials: true });
      source.addEventListener("bgtask_updated", (e) => { const d = JSON.parse(e.data); show(d.current_progress, d.total_progress, "running", d.message); });
      for (const [name, status] of [["bgtask_done", "done"], ["bgtask_failed", "failed"], ["bgtask_cancelled", "cancelled"]]) {
        source.addEventListener(name, (e) => { const d = JSON.parse(e.data); show(bar.value, bar.max, status, d.message); source.close(); });
      }
      state.extra.push(source);
    }
    return h("tr", { "data-task": task.task_id },
      h("td", { text: task.kind }), h("td", {}, h("code", { title: task.task_id, text: task.task_id.slice(0, 8) })),
      h("td", {}, bar, text), h("td", {}, outcome), h("td", { text: fmtTime(task.created_at) }));
  });
  paint(gen, h("h2", { class: "view-title", text: "Background tasks" }),
    h("button", { type: "button", onclick: route, text: "Refresh list" }),
    rows.length ? h("table", { id: "tasks" }, h("thead", {}, h("tr", {}, ["Kind", "Task", "Progress", "Result", "Started"].map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, rows)) : h("p", { class: "muted", text: "No background tasks yet (a vfolder clone starts one)." }));
}

async function viewAgents(_, __, gen) {
  const render = async () => {
    const data = await api("/scheduler/queues");
    const rows = data.scaling_groups.flatMap((group) => (group.agents || []).map((agent) => h("tr", { "data-agent": agent.id },
      h("td", { text: agent.id }), h("td", { text: group.name }),
      h("td", {}, h("span", { class: "st st-" + agent.status, text: agent.status })), h("td", { text: agent.schedulable ? "yes" : "no" }),
      h("td", { text: agent.sessions }), h("td", {}, slotBars(agent.available_slots, agent.occupied_slots, "Slots of " + agent.id)))));
    paint(gen, h("h2", { class: "view-title", text: "Agents" }),
      h("table", { id: "agents" }, h("thead", {}, h("tr", {}, ["Agent", "Scaling group", "Status", "Schedulable", "Sessions", "Slots used"].map((t) => h("th", { scope: "col", text: t })))),
        h("tbody", {}, rows)));
  };
  await render();
  if (gen === state.gen) follow(ownerStream(), debounce(render), SESSION_EVENTS);
}

async function viewWebhooks(_, params, gen) {
  const status = params.get("status") || "";
  const data = await api("/webhooks/deliveries?limit=100" + (status ? "&status=" + encodeURIComponent(status) : ""));
  const choose = h("nav", { class: "filters", "aria-label": "Delivery status" }, ["", "pending", "delivered", "dead", "refused"].map((st) =>
    h("a", { href: "#/webhooks" + (st ? "?status=" + st : ""), "aria-current": st === status ? "page" : null, text: st || "all" })));
  const rows = data.items.map((d) => h("tr", { "data-delivery": d.delivery_id },
    h("td", { text: d.target }), h("td", { text: d.event }), h("td", {}, h("span", { class: "st st-" + d.status, text: d.status })),
    h("td", { text: d.attempts }), h("td", { text: d.last_error || (d.last_status_code ? "HTTP " + d.last_status_code : "") }),
    h("td", { text: fmtTime(d.created_at) }),
    h("td", {}, d.status === "delivered" ? null : h("button", { type: "button", onclick: async () => {
      await api("/webhooks/deliveries/" + d.delivery_id + "/redeliver", { method: "POST", body: {} }).then(() => route()).catch((e) => setStatus(e.message));
    }, text: "Redeliver" }))));
  paint(gen, h("h2", { class: "view-title", text: "Webhook deliveries" }), choose,
    rows.length ? h("table", { id: "deliveries" }, h("thead", {}, h("tr", {}, ["Target", "Event", "Status", "Attempts", "Last error", "Created", ""].map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, rows)) : h("p", { class: "muted", text: "No deliveries." }));
}

// ---- start ----
document.getElementById("sign-out").addEventListener("click", async () => {
  try { await api("/ui/sign-out", { method: "POST", body: {} }); } catch (e) { /* signed out either way */ }
  signedOut("Signed out.");
});
window.addEventListener("hashchange", route);
(async () => {
  try {
    state.me = await api("/ui/me");
    signedIn();
  } catch {
    renderSignIn("");
  }
})();
