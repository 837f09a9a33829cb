// The grid centre's page: plain DOM, no framework, no CDN, no tile server. Every piece of data
// is written with textContent, never as HTML.
"use strict";
const state = { token: sessionStorage.getItem("gridrisk-token"), me: null, task: null };
const $ = (id) => document.getElementById(id);

async function api(path, options = {}) {
  const headers = { "Authorization": "Bearer " + state.token, ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const problems = (body.problems || []).join("; ");
    throw new Error((body.error || response.statusText) + (problems ? " — " + problems : ""));
  }
  return body;
}

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function when(iso) { return iso ? iso.replace("T", " ").slice(0, 16) : "—"; }

async function login(event) {
  if (event) event.preventDefault();
  if (!state.token) state.token = $("token").value.trim();
  try {
    state.me = await api("/api/v1/me");
  } catch (err) {
    $("login-error").textContent = "登录失败: " + err.message;
    sessionStorage.removeItem("gridrisk-token");
    state.token = null;
    return;
  }
  sessionStorage.setItem("gridrisk-token", state.token);
  $("login").hidden = true;
  $("main").hidden = false;
  $("who").textContent = `${state.me.display_name} · ${state.me.role} · ${state.me.unit}`;
  await Promise.all([loadTasks(), loadMap()]);
}

async function loadTasks() {
  const rows = await api("/open311/v2/requests.json?status=open&page_size=200");
  const body = $("tasks").querySelector("tbody");
  body.replaceChildren();
  const now = Date.now();
  for (const r of rows) {
    const x = r.extended_attributes;
    const tr = el("tr", null, "task" + (Date.parse(r.expected_datetime) < now ? " overdue" : ""));
    tr.dataset.id = r.service_request_id;
    tr.append(el("td", "P" + x.priority, "p" + x.priority), el("td", r.service_name + " · " + r.description),
              el("td", r.address || r.address_id || "—"), el("td", when(r.expected_datetime)),
              el("td", x.lifecycle_label + " " + x.lifecycle_status));
    tr.addEventListener("click", () => openTask(r.service_request_id));
    body.append(tr);
  }
  $("list-note").textContent = `${rows.length} 个待办任务`;
}

async function loadMap() {
  const fc = await api("/api/v1/map");
  const svg = $("map");
  svg.replaceChildren();
  const points = fc.features.flatMap((f) => f.geometry.coordinates.flat());
  if (!points.length) { svg.append(svgEl("text", { x: 10, y: 20 }, "无网格图层 (gridrisk tasks load-grids)")); return; }
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const scale = Math.min(380 / (x1 - x0 || 1), 280 / (y1 - y0 || 1));
  const project = ([lon, lat]) => [10 + (lon - x0) * scale, 290 - (lat - y0) * scale];
  const most = Math.max(1, ...fc.features.map((f) => f.properties.open_tasks));
  for (const f of fc.features) {
    const ring = f.geometry.coordinates[0].map(project).map((p) => p.join(",")).join(" ");
    const share = f.properties.open_tasks / most;
    const polygon = svgEl("polygon", { points: ring, fill: `rgba(176,0,32,${0.1 + 0.6 * share})`,
                                       "data-grid": f.properties.grid_code });
    polygon.append(svgEl("title", {}, `${f.properties.name || ""} ${f.properties.grid_code}: ${f.properties.open_tasks}`));
    svg.append(polygon);
  }
}

function svgEl(tag, attrs, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

async function openTask(id) {
  const detail = await api(`/api/v1/tasks/${encodeURIComponent(id)}`);
  state.task = detail;
  const r = detail.request, x = r.extended_attributes;
  $("detail").hidden = false;
  $("detail-title").textContent = `${r.service_name} · ${r.service_request_id}`;
  const fields = $("detail-fields");
  fields.replaceChildren();
  const map = x.map_url ? el("a", "地图", null) : el("span", "—");
  if (x.map_url) { map.href = x.map_url; map.target = "_blank"; map.rel = "noopener"; }
  for (const [k, v] of [["说明", r.description], ["地址", r.address || r.address_id || "—"],
                        ["状态", `${x.lifecycle_label} ${x.lifecycle_status}`], ["期限", when(r.expected_datetime)],
                        ["优先级", "P" + x.priority], ["接收单位", `${r.agency_responsible}`]]) {
    fields.append(el("dt", k), el("dd", v));
  }
  fields.append(el("dt", "位置"), Object.assign(el("dd"), { }));
  fields.lastChild.append(map);
  $("evidence").hidden = true;
  const list = $("timeline");
  list.replaceChildren();
  for (const e of detail.events) {
    list.append(el("li", `${when(e.at)} ${e.label} (${e.action}) · ${e.actor}` + (e.result ? ` · ${e.result}` : "")
                         + (e.note ? ` · ${e.note}` : "")));
  }
  const actions = $("actions");
  actions.replaceChildren();
  for (const a of detail.actions) {
    const button = el("button", a, "action");
    button.type = "button";
    button.dataset.action = a;
    button.addEventListener("click", () => act(a));
    actions.append(button);
  }
  if (!detail.actions.length) actions.append(el("span", "（你的角色在此状态下无可办理操作）"));
}

async function act(action) {
  const body = { expected_version: state.task.version };
  const note = $("note").value.trim(), result = $("result").value, photo = $("photo").value.trim();
  const deadline = $("new-deadline").value, rating = $("rating").value;
  if (note) body.note = note;
  if (result && action === "handle") body.result = result;
  if (photo && action === "handle") body.photo_url = photo;
  if (deadline && action.endsWith("extension")) body.new_deadline = deadline + ":00+08:00";
  if (rating && action === "follow_up") body.rating = rating;
  try {
    const out = await api(`/api/v1/tasks/${encodeURIComponent(state.task.request.service_request_id)}/actions/${action}`,
                          { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
    $("action-message").textContent = `已办理: ${out.event.label} → ${out.status}`;
    $("action-message").className = "";
    await openTask(state.task.request.service_request_id);
    await loadTasks();
  } catch (err) {
    $("action-message").textContent = "未能办理: " + err.message;
    $("action-message").className = "error";
  }
}

$("show-evidence").addEventListener("click", async () => {
  const out = await api(`/api/v1/tasks/${encodeURIComponent(state.task.request.service_request_id)}/evidence`);
  $("evidence").textContent = JSON.stringify(out.evidence, null, 2);
  $("evidence").hidden = false;
});
$("login-form").addEventListener("submit", login);
if (state.token) login();
