/* The incident list and incident page. Reads the JSON API only; builds the DOM with
 * createElement/textContent (never innerHTML) because names, log templates and messages are
 * telemetry, i.e. untrusted text. */
(() => {
  "use strict";

  const { drawTopology, drawSeries, fmtTime, fmtNumber } = window.RcaSvg;
  const BODY = document.body;
  const API = BODY.dataset.api || "/api/v1";
  const TOKEN_KEY = "rca.apiToken";
  const PLOT_SERVICES = 3;
  const PLOT_SIGNALS = 4;
  // Remediation states in which a person still has to approve or reject.
  const PENDING = new Set(["proposed", "pending", "awaiting_approval", "pending_approval", "partially_approved"]);

  // ---------------------------------------------------------------- small DOM helpers
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "width%") node.style.width = `${v}%`; // CSSOM, allowed by the page's CSP (attributes are not)
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      node.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return node;
  }

  function section(id, title, ...children) {
    return el("section", { id, class: "card" }, el("h2", {}, title), ...children);
  }

  function setStatus(text, isError) {
    let s = document.getElementById("status");
    if (!s) {
      s = el("p", { id: "status" });
      document.getElementById("main").prepend(s);
    }
    s.className = isError ? "error" : "muted";
    s.textContent = text;
    s.hidden = !text;
  }

  function pct(x) {
    return x === null || x === undefined || !isFinite(x) ? "–" : `${Math.round(x * 100)}%`;
  }

  // ---------------------------------------------------------------- API access
  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  }

  function errorMessage(status, body) {
    if (body && typeof body === "object") {
      const d = body.detail !== undefined ? body.detail : body;
      if (typeof d === "string") return d;
      if (d && typeof d === "object") {
        const msg = d.message || d.error || d.reason || d.msg;
        const rule = d.rule ? ` (rule: ${d.rule})` : "";
        if (msg) return String(msg) + rule;
        if (Array.isArray(d)) return d.map((x) => x.msg || JSON.stringify(x)).join("; ");
      }
      return JSON.stringify(body);
    }
    return body ? String(body) : `HTTP ${status}`;
  }

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path, options) {
    const opts = Object.assign({ method: "GET" }, options || {});
    const headers = { Accept: "application/json" };
    if (token()) headers.Authorization = `Bearer ${token()}`;
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    const resp = await fetch(API + path, { method: opts.method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
    const text = await resp.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch (_) {
      body = text;
    }
    if (!resp.ok) throw new ApiError(resp.status, `${resp.status}: ${errorMessage(resp.status, body)}`);
    return body;
  }

  /* Like api() but a failure becomes {error} so one missing part does not blank the page. */
  async function apiSoft(path) {
    try {
      return await api(path);
    } catch (e) {
      return { error: e.message, status: e.status };
    }
  }

  function listOf(body, ...keys) {
    if (Array.isArray(body)) return body;
    for (const k of keys) if (body && Array.isArray(body[k])) return body[k];
    return [];
  }

  // ---------------------------------------------------------------- token form
  function setupToken() {
    const form = document.getElementById("token-form");
    const input = document.getElementById("token-input");
    const state = document.getElementById("token-state");
    const show = () => (state.textContent = token() ? "token set for this tab" : "no token (read-only)");
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (input.value.trim()) sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      input.value = "";
      show();
      refresh();
    });
    document.getElementById("token-clear").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      show();
      refresh();
    });
    show();
  }

  // ---------------------------------------------------------------- incident list
  function topServices(inc, n) {
    return Object.values(inc.services || {})
      .sort((a, b) => (b.peak_score || 0) - (a.peak_score || 0))
      .slice(0, n);
  }

  async function renderList() {
    const main = document.getElementById("main");
    const body = await api("/incidents");
    const incidents = listOf(body, "incidents", "items");
    const table = el("table", { class: "incidents", id: "incident-table" },
      el("thead", {}, el("tr", {}, ["Incident", "Status", "Started", "Ended", "Most anomalous services"].map((h) => el("th", {}, h)))));
    const tbody = el("tbody");
    for (const inc of incidents) {
      tbody.appendChild(el("tr", { "data-incident": inc.id },
        el("td", {}, el("a", { href: `/ui/incidents/${encodeURIComponent(inc.id)}` }, inc.title || inc.id), el("div", { class: "muted mono" }, inc.id)),
        el("td", {}, el("span", { class: `badge ${inc.status}` }, inc.status || "?")),
        el("td", {}, fmtTime(inc.start)),
        el("td", {}, inc.end ? fmtTime(inc.end) : "ongoing"),
        el("td", {}, topServices(inc, 3).map((s) => el("span", { class: "chip" }, `${s.service} ×${fmtNumber(s.peak_score)}`)))));
    }
    table.appendChild(tbody);
    main.replaceChildren(el("h1", {}, "Incidents"),
      incidents.length ? table : el("p", { class: "muted", id: "empty" }, "No incidents yet. They appear here as soon as the detector opens one."));
  }

  // ---------------------------------------------------------------- incident page
  function rolesFor(inc, rca) {
    const roles = new Map();
    const ranks = new Map();
    const scores = new Map();
    for (const s of Object.values(inc.services || {})) {
      roles.set(s.service, "anomalous");
      scores.set(s.service, `anomaly ×${fmtNumber(s.peak_score)} (${s.detector})`);
    }
    const rcs = (rca && rca.root_causes) || [];
    rcs.slice(0, 5).forEach((rc, i) => {
      ranks.set(rc.service, ranks.get(rc.service) || i + 1);
      if (!roles.has(rc.service)) roles.set(rc.service, "candidate");
    });
    // The top cause is highlighted even when inconclusive; the header says how sure we are.
    if (rcs.length) roles.set(rcs[0].service, "root");
    return { roles, ranks, scores };
  }

  function headerCard(inc, rca) {
    const rcs = (rca && rca.root_causes) || [];
    let verdict;
    if (!rca || rca.error) verdict = el("p", { class: "error" }, `Root causes unavailable: ${(rca && rca.error) || "not ranked yet"}`);
    else if (!rcs.length) verdict = el("p", { class: "muted" }, "No candidate root cause.");
    else {
      const top = rcs[0];
      verdict = el("p", { class: rca.inconclusive ? "verdict inconclusive" : "verdict", id: "verdict" },
        rca.inconclusive ? "Inconclusive — most likely " : "Root cause: ",
        el("strong", {}, top.service), ` (${top.kind}${top.signal ? ", " + top.signal : ""}), confidence ${pct(top.confidence)}`);
    }
    return el("section", { class: "card head", id: "incident-head" },
      el("h1", {}, inc.title || inc.id),
      el("p", { class: "mono muted" }, inc.id),
      el("p", {}, el("span", { class: `badge ${inc.status}` }, inc.status), ` ${fmtTime(inc.start)} → ${inc.end ? fmtTime(inc.end) : "ongoing"}`),
      verdict,
      rca && rca.explanation ? el("p", { class: "explanation" }, rca.explanation) : null,
      relatedLinks(inc.related || []),
      updatesLine(inc.updates || []));
  }

  /* What the incident gained after it opened (a fault landing in it shows here; ranked again). */
  function updatesLine(updates) {
    if (!updates.length) return null;
    const items = updates.slice(-8).map((u) =>
      `${u.service} ${u.kind === "joined" ? "joined" : "new symptom"} ${fmtTime(u.time)}`);
    const more = updates.length > 8 ? ` (and ${updates.length - 8} earlier)` : "";
    return el("p", { id: "updates", class: "muted" }, `Grew after it opened: ${items.join(", ")}${more}`);
  }

  /* Incidents still open when this one began: a second problem is its own incident, linked. */
  function relatedLinks(ids) {
    if (!ids.length) return null;
    const links = [];
    ids.forEach((id, i) => {
      if (i) links.push(", ");
      links.push(el("a", { href: `/ui/incidents/${encodeURIComponent(id)}`, class: "mono" }, id));
    });
    return el("p", { id: "related", class: "muted" }, "Began while these were open: ", ...links);
  }

  function evidenceItem(ev) {
    const data = ev.data || {};
    const li = el("li", { class: `evidence ${ev.kind}`, "data-kind": ev.kind }, el("span", { class: "ev-kind" }, ev.kind), " ", ev.summary || "");
    const template = data.template || data.log_template;
    if (template) li.appendChild(el("pre", { class: "template" }, String(template)));
    const ids = [].concat(data.trace_ids || [], data.trace_id ? [data.trace_id] : []);
    if (ids.length) li.appendChild(el("div", { class: "traces" }, "traces: ", ids.slice(0, 8).map((t) => el("code", { class: "trace-id" }, String(t)))));
    return li;
  }

  function rootCauseCard(rca) {
    if (!rca || rca.error) return section("root-causes", "Ranked root causes", el("p", { class: "error" }, (rca && rca.error) || "not ranked yet"));
    const rows = (rca.root_causes || []).map((rc, i) => el("li", { class: i === 0 ? "rc top" : "rc", "data-service": rc.service },
      el("div", { class: "rc-head" },
        el("span", { class: "rank-no" }, `#${i + 1}`),
        el("strong", {}, rc.service),
        el("span", { class: "chip" }, rc.kind),
        rc.signal ? el("span", { class: "mono muted" }, rc.signal) : null,
        el("span", { class: "conf" },
          el("span", { class: "bar" }, el("span", { class: "fill", "width%": Math.round((rc.confidence || 0) * 100) })),
          ` ${pct(rc.confidence)}`),
        el("span", { class: "muted" }, ` score ${fmtNumber(rc.score)}`)),
      (rc.evidence || []).length ? el("ul", { class: "evidence-list" }, rc.evidence.map(evidenceItem)) : null));
    const model = rca.model && rca.model.name ? `${rca.model.name} ${rca.model.version || ""}` : "";
    return section("root-causes", "Ranked root causes",
      rows.length ? el("ol", { class: "rcs" }, rows) : el("p", { class: "muted" }, "none"),
      model ? el("p", { class: "muted" }, `model ${model}; ranked ${fmtTime(rca.created_at)}`) : null);
  }

  function topologyCard(inc, rca, topo) {
    const card = section("topology", "Service topology");
    if (topo.error) {
      card.appendChild(el("p", { class: "error" }, `Topology unavailable: ${topo.error}`));
      return card;
    }
    const edges = listOf(topo, "edges");
    const names = new Set(listOf(topo, "nodes").map((n) => (typeof n === "string" ? n : n.service || n.id)));
    for (const e of edges) { names.add(e.source); names.add(e.target); }
    for (const s of Object.keys(inc.services || {})) names.add(s);
    for (const rc of (rca && rca.root_causes) || []) names.add(rc.service);
    const { roles, ranks, scores } = rolesFor(inc, rca);
    const wrap = el("div", { class: "scroll" });
    card.appendChild(wrap);
    drawTopology(wrap, { nodes: [...names].filter(Boolean).sort(), edges, roles, ranks, scores });
    card.appendChild(el("p", { class: "legend" },
      el("span", { class: "key root" }), "root cause ", el("span", { class: "key candidate" }), "other candidates ",
      el("span", { class: "key anomalous" }), "anomalous ", el("span", { class: "key normal" }), "normal ",
      el("span", { class: "key err-edge" }), "calls failing > 5%"));
    return card;
  }

  /* Which services and signals to plot: the ranked causes first, then the most anomalous
   * services; for each, the signal the ranker named, metric evidence, then the detector's top signals. */
  function plotPlan(inc, rca) {
    const plan = new Map();
    const add = (service, signal) => {
      if (!service) return;
      if (!plan.has(service)) {
        if (plan.size >= PLOT_SERVICES) return;
        plan.set(service, []);
      }
      const list = plan.get(service);
      if (signal && !list.includes(signal) && list.length < PLOT_SIGNALS) list.push(signal);
    };
    for (const rc of (rca && rca.root_causes) || []) {
      add(rc.service, rc.signal);
      for (const ev of rc.evidence || []) if (ev.data && ev.data.signal) add(rc.service, ev.data.signal);
    }
    for (const s of topServices(inc, PLOT_SERVICES)) add(s.service);
    for (const [service, list] of plan) {
      const anomaly = (inc.services || {})[service];
      const sigs = anomaly ? [...(anomaly.signals || [])].sort((a, b) => (b.score || 0) - (a.score || 0)) : [];
      for (const s of sigs) if (list.length < PLOT_SIGNALS && !list.includes(s.signal)) list.push(s.signal);
    }
    return plan;
  }

  async function plotsCard(inc, rca) {
    const card = section("plots", "Signals that drove the ranking");
    const windowEnd = inc.end || Date.now() / 1000;
    for (const [service, signals] of plotPlan(inc, rca)) {
      const q = new URLSearchParams({ service });
      if (signals.length) q.set("signals", signals.join(","));
      const ts = await apiSoft(`/incidents/${encodeURIComponent(inc.id)}/timeseries?${q}`);
      const group = el("div", { class: "plot-group", "data-service": service }, el("h3", {}, service));
      card.appendChild(group);
      if (ts.error) {
        group.appendChild(el("p", { class: "error" }, ts.error));
        continue;
      }
      const series = ts.series || {};
      const names = signals.length ? signals.filter((s) => s in series) : Object.keys(series).slice(0, PLOT_SIGNALS);
      if (!names.length) names.push(...Object.keys(series).slice(0, PLOT_SIGNALS));
      const grid = el("div", { class: "plot-grid" });
      group.appendChild(grid);
      // The API's own window when it sends one; an open incident's window runs to now.
      const win = Array.isArray(ts.window) ? [ts.window[0], ts.window[1] || windowEnd] : [inc.start, windowEnd];
      for (const name of names) drawSeries(grid, { title: name, times: ts.times, values: series[name], step: ts.step, window: win });
      if (!names.length) group.appendChild(el("p", { class: "muted" }, "no series for this service"));
    }
    card.appendChild(el("p", { class: "legend" }, el("span", { class: "key window" }), "incident window"));
    return card;
  }

  function evidenceCard(rca) {
    const templates = new Map();
    const traces = new Map();
    const changes = [];
    for (const rc of (rca && rca.root_causes) || []) {
      for (const ev of rc.evidence || []) {
        const d = ev.data || {};
        if (ev.kind === "log_template") templates.set(d.template || ev.summary, { service: rc.service, count: d.count, summary: ev.summary });
        for (const t of [].concat(d.trace_ids || [], d.trace_id ? [d.trace_id] : [])) if (!traces.has(t)) traces.set(t, rc.service);
        if (ev.kind === "change") changes.push({ service: rc.service, summary: ev.summary });
      }
    }
    return section("evidence", "Evidence",
      el("h3", {}, "Log templates"),
      templates.size
        ? el("ul", { class: "templates" }, [...templates].map(([t, v]) => el("li", {}, el("span", { class: "chip" }, v.service),
          v.count !== undefined ? el("span", { class: "muted" }, ` ×${v.count} `) : " ", el("code", {}, String(t)))))
        : el("p", { class: "muted" }, "none"),
      el("h3", {}, "Trace ids"),
      traces.size
        ? el("ul", { class: "trace-list" }, [...traces].map(([t, s]) => el("li", {}, el("code", { class: "trace-id" }, String(t)), " ", el("span", { class: "muted" }, s))))
        : el("p", { class: "muted" }, "none"),
      changes.length ? el("h3", {}, "Changes") : null,
      changes.length ? el("ul", {}, changes.map((c) => el("li", {}, el("span", { class: "chip" }, c.service), " ", c.summary))) : null);
  }

  function actionText(rem) {
    const a = rem.action;
    if (a && typeof a === "object") return a.kind || a.name || a.type || JSON.stringify(a);
    return a || "action";
  }

  function paramsOf(rem) {
    const p = rem.params || (rem.action && typeof rem.action === "object" ? rem.action.params : null) || {};
    return Object.entries(p).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ");
  }

  // Last approve/reject outcome per remediation, kept across redraws of the card.
  const decisions = new Map();

  async function decide(rem, verb, reasonInput, out) {
    out.className = "decision muted";
    const done = { approve: "Approved", reject: "Rejected", apply: "Applied" }[verb];
    out.textContent = `${verb}…`;
    try {
      const body = verb === "reject" ? { reason: reasonInput.value || "" } : {};
      const res = await api(`/remediations/${encodeURIComponent(rem.id)}/${verb}`, { method: "POST", body });
      const status = res && (res.status || (res.remediation && res.remediation.status));
      decisions.set(rem.id, { cls: "decision ok", text: `${done}${status ? ` — now ${status}` : ""}.` });
    } catch (e) {
      // Show the API's refusal as it said it (role, policy rule, missing token...).
      decisions.set(rem.id, { cls: "decision error", text: `Refused — ${e.message}` });
    }
    await refreshRemediation(rem.incident_id || BODY.dataset.incidentId);
  }

  function executorLine(label, result) {
    if (!result || typeof result !== "object") return null;
    const mark = result.ok === false ? "✗" : "✓";
    return el("p", { class: result.ok === false ? "error" : "muted" }, `${label}: ${mark} ${result.message || ""}`);
  }

  function verificationLine(v) {
    if (!v || typeof v !== "object") return null;
    return el("p", { class: v.recovered ? "ok" : "error" },
      v.recovered ? `SLO recovered (checked ${fmtTime(v.time)})` : `SLO not recovered yet (checked ${fmtTime(v.time)})`);
  }

  /* A readable line for a history entry whose `detail` may be text or an object. */
  function historyLine(h) {
    if (!h || typeof h !== "object") return String(h);
    let detail = h.detail !== undefined ? h.detail : h.message || h.note || "";
    if (detail && typeof detail === "object") {
      detail = detail.message || detail.reason || Object.entries(detail)
        .filter(([, v]) => v !== null && typeof v !== "object").map(([k, v]) => `${k}=${v}`).join(", ");
    }
    return [fmtTime(h.time || h.at), h.event || h.status || h.kind || "", h.user || h.actor || "", detail || ""]
      .filter(Boolean).join(" · ");
  }

  function remediationItem(rem) {
    const last = decisions.get(rem.id);
    const out = el("p", { class: last ? last.cls : "decision", role: "status" }, last ? last.text : "");
    const status = String(rem.status);
    const pending = PENDING.has(status);
    const reason = el("input", { type: "text", class: "reason", placeholder: "reason (for reject)" });
    const history = [].concat(rem.history || []);
    const approvals = [].concat(rem.approvals || []);
    const target = rem.target_label || (rem.root_cause && rem.root_cause.service) || rem.service;
    return el("li", { class: "remediation", "data-remediation": rem.id, "data-status": status },
      el("div", { class: "rc-head" },
        el("strong", {}, actionText(rem)),
        target ? el("span", { class: "chip" }, target) : null,
        el("span", { class: `badge ${status}` }, status),
        rem.executor ? el("span", { class: "muted" }, `via ${rem.executor}`) : null),
      paramsOf(rem) ? el("p", { class: "mono" }, paramsOf(rem)) : null,
      rem.reason ? el("p", {}, String(rem.reason)) : null,
      rem.refusal ? el("p", { class: "error" }, `Refused by policy rule '${rem.refusal.rule}': ${rem.refusal.message}`) : null,
      executorLine("dry run", rem.dry_run),
      executorLine("applied", rem.apply_result),
      verificationLine(rem.verification),
      executorLine("rolled back", rem.rollback_result),
      approvals.length ? el("p", { class: "muted" }, "approved by ", approvals.map((a) => (typeof a === "object" ? `${a.user || a.name} (${a.role || "?"})` : String(a))).join(", ")) : null,
      history.length ? el("ol", { class: "history" }, history.map((h) => el("li", {}, historyLine(h)))) : null,
      pending ? el("div", { class: "actions" },
        el("button", { class: "approve", type: "button", onclick: () => decide(rem, "approve", reason, out) }, "Approve"),
        el("button", { class: "reject", type: "button", onclick: () => decide(rem, "reject", reason, out) }, "Reject"),
        reason,
        token() ? null : el("span", { class: "muted" }, " paste an operator token above first")) : null,
      status === "approved" ? el("div", { class: "actions" },
        el("button", { class: "apply", type: "button", onclick: () => decide(rem, "apply", reason, out) }, "Apply")) : null,
      out);
  }

  function remediationCard(rems) {
    const card = section("remediation", "Remediation");
    if (rems.error) card.appendChild(el("p", { class: "error" }, rems.error));
    else {
      const list = listOf(rems, "remediations", "items");
      card.appendChild(list.length ? el("ul", { class: "remediations" }, list.map(remediationItem))
        : el("p", { class: "muted" }, "No remediation proposed (an inconclusive or low-confidence root cause gets none)."));
    }
    return card;
  }

  function auditCard(audit, verify) {
    const card = section("audit", "Audit trail");
    if (verify && !verify.error) {
      card.appendChild(el("p", { class: verify.ok ? "ok" : "error", id: "audit-verify" },
        verify.ok ? `Chain intact (${verify.records} records).` : `Chain broken at record ${verify.first_bad}: ${verify.reason}`));
    }
    if (audit.error) {
      card.appendChild(el("p", { class: "error" }, audit.error));
      return card;
    }
    const records = listOf(audit, "records", "items");
    const table = el("table", { class: "audit" },
      el("thead", {}, el("tr", {}, ["#", "Time", "Record", "Actor", "Hash", "Previous"].map((h) => el("th", {}, h)))),
      el("tbody", {}, records.map((r) => el("tr", { "data-kind": r.kind },
        el("td", {}, String(r.index !== undefined ? r.index : "")),
        el("td", { class: "nowrap", title: fmtTime(r.time) }, fmtTime(r.time).slice(11, 19)),
        el("td", {}, el("details", {}, el("summary", {}, r.kind), el("pre", {}, JSON.stringify(r.body || {}, null, 2)))),
        el("td", {}, r.actor || ""),
        el("td", { class: "mono", title: r.hash || "" }, (r.hash || "").slice(0, 12)),
        el("td", { class: "mono muted", title: r.prev_hash || "" }, (r.prev_hash || "").slice(0, 12))))));
    card.appendChild(records.length ? el("div", { class: "scroll" }, table) : el("p", { class: "muted" }, "No records for this incident."));
    return card;
  }

  async function refreshRemediation(incidentId) {
    const id = encodeURIComponent(incidentId);
    const [rems, audit, verify] = await Promise.all([
      apiSoft(`/remediations?incident=${id}`), apiSoft(`/audit?incident=${id}`), apiSoft("/audit/verify")]);
    const old = document.getElementById("remediation");
    const oldAudit = document.getElementById("audit");
    if (old) old.replaceWith(remediationCard(rems));
    if (oldAudit) oldAudit.replaceWith(auditCard(audit, verify));
  }

  async function renderIncident(id) {
    const main = document.getElementById("main");
    const enc = encodeURIComponent(id);
    const incBody = await api(`/incidents/${enc}`);
    const inc = incBody.incident || incBody;
    const pad = 15 * 60;
    const end = (inc.end || Date.now() / 1000) + 60;
    const [rca, topo, rems, audit, verify] = await Promise.all([
      apiSoft(`/incidents/${enc}/rca`),
      apiSoft(`/topology?start=${Math.floor(inc.start - pad)}&end=${Math.ceil(end)}`),
      apiSoft(`/remediations?incident=${enc}`),
      apiSoft(`/audit?incident=${enc}`),
      apiSoft("/audit/verify"),
    ]);
    const rcaResult = rca.error ? rca : rca.rca || rca;
    const layout = el("div", { class: "grid" },
      el("div", { class: "col" }, topologyCard(inc, rcaResult, topo), rootCauseCard(rcaResult), evidenceCard(rcaResult)),
      el("div", { class: "col" }, remediationCard(rems), auditCard(audit, verify)));
    main.replaceChildren(headerCard(inc, rcaResult), layout);
    const plots = await plotsCard(inc, rcaResult);
    layout.after(plots);
    BODY.dataset.rendered = "true";
  }

  // ---------------------------------------------------------------- boot
  let busy = false;

  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const page = BODY.dataset.page;
      if (page === "list") await renderList();
      else if (page === "incident") {
        if (BODY.dataset.rendered === "true") await refreshRemediation(BODY.dataset.incidentId);
        else await renderIncident(BODY.dataset.incidentId);
      } else if (page === "missing") {
        document.getElementById("main").replaceChildren(el("h1", {}, "Incident not found"),
          el("p", {}, "No incident with id ", el("code", {}, BODY.dataset.incidentId), ". ", el("a", { href: "/ui" }, "All incidents")));
      }
      BODY.dataset.rendered = page === "incident" ? BODY.dataset.rendered : "true";
      setStatus("");
    } catch (e) {
      const hint = e.status === 401 || e.status === 403 ? " — paste a viewer token above." : "";
      setStatus(`Could not load: ${e.message}${hint}`, true);
    } finally {
      busy = false;
    }
  }

  setupToken();
  refresh();
  const every = Number(BODY.dataset.refresh || 0);
  if (every > 0) {
    setInterval(() => {
      // Do not redraw under someone typing a reject reason.
      const active = document.activeElement;
      if (active && active.tagName === "INPUT") return;
      refresh();
    }, every * 1000);
  }
})();
