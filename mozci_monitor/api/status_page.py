"""The status page: one self-contained HTML document (inline CSS and JS, no external assets).

The script reads the JSON API every few seconds and rebuilds the page with DOM calls and
`textContent` only (labels and reasons come from users and from Taskcluster: never HTML).
Colours are the ones sheriffs know from Treeherder: green completed, orange test failure,
red failed by the monitor (budget, action failed), purple infrastructure exception, grey
coalesced, pink canceled, purple blocked, blue scheduled/pending/running.
"""

from __future__ import annotations

import base64
import hashlib

REFRESH_SECONDS = 5

# The state colours, also used by the browser test to find them in a screenshot.
COLOURS: dict[str, str] = {
    "green": "#2e7d32",
    "orange": "#e8710a",
    "red": "#c62828",
    "purple": "#7b1fa2",
    "grey": "#8a8a8a",
    "pink": "#d81b60",
    "blue": "#1565c0",
}

_STYLE = """
:root { font-family: system-ui, sans-serif; font-size: 14px; color: #1d1d1d; }
body { margin: 0; background: #f4f5f7; }
header { background: #20232a; color: #fff; padding: 10px 18px; display: flex; gap: 18px;
  align-items: center; }
header h1 { font-size: 17px; margin: 0; }
header a { color: #fff; }
#health { padding: 2px 10px; border-radius: 10px; font-weight: 600; background: var(--c, #555); }
#updated, #error { font-size: 12px; opacity: .85; }
#error { color: #ffb4b4; }
main { padding: 12px 18px; }
.campaign { background: #fff; border-radius: 6px; margin: 0 0 12px; padding: 10px 14px;
  border-left: 8px solid var(--c, #999); box-shadow: 0 1px 2px rgba(0,0,0,.12); }
.campaign h2 { font-size: 15px; margin: 0 0 4px; display: flex; gap: 10px; align-items: center; }
.meta { color: #555; font-size: 12px; margin-bottom: 6px; }
.badge { display: inline-block; color: #fff; background: var(--c, #999); border-radius: 4px;
  padding: 1px 8px; font-size: 12px; font-weight: 600; }
table { border-collapse: collapse; width: 100%; }
td { padding: 3px 6px; vertical-align: top; border-top: 1px solid #eee; }
td.label { font-family: ui-monospace, monospace; font-size: 12px; word-break: break-all;
  width: 34%; }
.chip { display: inline-block; min-width: 14px; height: 18px; line-height: 18px; color: #fff;
  background: var(--c, #999); border-radius: 3px; margin: 1px; padding: 0 5px;
  font-size: 11px; }
.chip.neutral { background: #e3e5e8; color: #333; }
.actions { font-size: 12px; color: #333; margin-top: 6px; }
.actions li { margin: 1px 0; }
.empty { color: #666; padding: 30px; text-align: center; }
"""

_COLOUR_CSS = "\n".join(f".c-{name} {{ --c: {value}; }}" for name, value in COLOURS.items())

_SCRIPT = r"""
"use strict";
const REFRESH = Number(new URLSearchParams(location.search).get("refresh")) || %REFRESH%;
const RUNNING = {scheduled: 1, pending: 1, running: 1, retrying: 1};

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function requestColour(r) {
  if (r.state === "completed") return "green";
  if (r.state === "coalesced") return "grey";
  if (r.state === "canceled") return "pink";
  if (r.state === "blocked") return "purple";  // a task it depends on failed
  if (r.state === "failed") {
    if (r.failure === "orange") return "orange";
    if (r.failure === "exception") return "purple";
    return "red";
  }
  return "blue";
}

function campaignColour(c) {
  return {finished: "green", running: "blue", failed: "red", "gave-up": "red",
          canceled: "pink"}[c.state] || "grey";
}

function phaseColour(phase) {
  if (phase in RUNNING) return "blue";
  return {completed: "green", orange: "orange", exception: "purple", coalesced: "grey",
          canceled: "pink"}[phase] || "grey";
}

// Each change once: a request state that repeats its task's phase (the store records
// both) is left out, as on the campaign pages.
const SAME = {pending: "pending", running: "running", completed: "completed",
              orange: "failed/orange", exception: "failed/exception", coalesced: "coalesced",
              canceled: "canceled"};

function compact(entries) {
  const kept = [];
  let phase = null, state = null;
  for (const entry of entries) {
    const d = entry.detail || {};
    if (entry.kind === "task-phase") phase = d.phase;
    if (entry.kind === "state") {
      const said = d.state + (d.failure ? "/" + d.failure : "");
      const repeated = said === state || SAME[phase] === said;
      state = said;
      if (repeated) continue;
    }
    kept.push(entry);
  }
  return kept;
}

function chip(entry) {
  const d = entry.detail || {};
  let colour = null, text = entry.kind;
  if (entry.kind === "task-phase") { colour = phaseColour(d.phase); text = d.phase; }
  else if (entry.kind === "state") {
    colour = requestColour({state: d.state, failure: d.failure}); text = d.state;
  }
  else if (entry.kind === "gave-up" || entry.kind === "action-failed") { colour = "red"; }
  else if (entry.kind === "action") { text = d.action || "action"; }
  const node = el("span", colour ? "chip c-" + colour : "chip neutral", text);
  const parts = [entry.at, entry.kind];
  if (entry.task_id) parts.push(entry.task_id);
  for (const [k, v] of Object.entries(d)) parts.push(k + "=" + v);
  node.title = parts.join("  ");
  node.dataset.kind = entry.kind;
  return node;
}

function renderCampaign(c) {
  const section = el("section", "campaign c-" + campaignColour(c));
  section.dataset.campaignId = c.id;
  section.dataset.state = c.state;
  const h = el("h2");
  const page = el("a", "cid", c.id);
  page.href = "/campaigns/" + encodeURIComponent(c.id);
  h.append(el("span", "badge c-" + campaignColour(c), c.state), page,
           el("span", "kind", c.kind), el("span", "clabel", c.label || ""));
  section.append(h);
  const meta = [c.repo + "@" + c.revision.slice(0, 12), "tasks " + c.tasks +
                (c.max_actions === null ? "" : "/" + c.max_actions)];
  if (c.dry_run) meta.push("dry run");
  if (c.outcome) meta.push(c.outcome);
  section.append(el("div", "meta", meta.join(" · ")));
  const table = el("table");
  for (const r of c.requests || []) {
    const row = el("tr", "request rs-" + requestColour(r));
    row.dataset.requestId = r.id;
    const state = r.state + (r.failure ? " (" + r.failure + ")" : "");
    const stateCell = el("td");
    stateCell.append(el("span", "badge c-" + requestColour(r), state));
    const timeline = el("td", "timeline");
    for (const entry of compact(r.timeline || [])) timeline.append(chip(entry));
    row.append(el("td", "label", r.label + (r.wanted > 1 ? " x" + r.wanted : "")), stateCell,
               timeline);
    if (r.reason) row.title = r.reason;
    table.append(row);
  }
  section.append(table);
  if ((c.action_log || []).length) {
    const list = el("ul", "actions");
    for (const a of c.action_log) {
      const dry = a.state === "done" && String(a.result || "").startsWith("dry-run");
      const line = (dry ? "would " + a.kind : a.kind + " " + a.state) + ": " + a.why +
                   (a.error ? " — " + a.error : "");
      list.append(el("li", "action a-" + a.state, line));
    }
    section.append(list);
  }
  return section;
}

async function getJSON(path) {
  const response = await fetch(path, {headers: {Accept: "application/json"}});
  if (!response.ok && response.status !== 503) throw new Error(path + ": " + response.status);
  return response.json();
}

async function refresh() {
  try {
    const [health, campaigns] = await Promise.all([getJSON("/readyz"),
                                                   getJSON("/api/campaigns?limit=25")]);
    const details = await Promise.all(campaigns.map(c => getJSON("/api/campaigns/" +
                                                                 encodeURIComponent(c.id))));
    const badge = document.getElementById("health");
    badge.textContent = health.ready ? "ready" : "not ready: " + health.reasons.join("; ");
    badge.className = "c-" + (health.ready ? "green" : "red");
    const main = document.getElementById("campaigns");
    main.replaceChildren();
    if (!details.length) main.append(el("p", "empty", "no campaigns yet"));
    for (const c of details) {
      main.append(renderCampaign(c));
    }
    document.getElementById("updated").textContent = "updated " +
      new Date().toLocaleTimeString();
    document.getElementById("error").textContent = "";
    document.body.dataset.loaded = "true";
  } catch (error) {
    document.getElementById("error").textContent = String(error);
  }
}

refresh();
setInterval(refresh, REFRESH * 1000);
""".replace("%REFRESH%", str(REFRESH_SECONDS))

STYLE = _STYLE + _COLOUR_CSS


def _csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


# Only this exact script and style may run: nothing injected into the page could.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; "
    f"script-src {_csp_hash(_SCRIPT)}; "
    f"style-src {_csp_hash(STYLE)}; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mozci-monitor</title>
<style>{STYLE}</style>
</head>
<body>
<header><h1>mozci-monitor</h1><a href="/campaigns">all campaigns</a><span id="health">…</span>
<span id="updated"></span>
<span id="error"></span></header>
<main id="campaigns"><p class="empty">loading…</p></main>
<script>{_SCRIPT}</script>
</body>
</html>
"""
