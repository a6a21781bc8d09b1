// infoprop explore: the page. No build step; the whole state lives in the URL query.
//
// A view is loaded level by level (coarse to fine) from /api/view; every request carries this page's client id
// and an increasing sequence number, so the server cancels whatever this page asked for before. Zooming pushes
// a history entry: the browser's back/forward (and the page's buttons) walk the zoom history, and reloading or
// sharing the URL gives the same view.
"use strict";

const VIEW_KEYS = ["arch", "width", "depth", "activation", "metric", "seed", "dtype", "inputs", "eps",
  "kernel_size", "sw0", "sw1", "sb0", "sb1", "res", "threshold", "estimator"];
const WINDOW_KEYS = ["sw0", "sw1", "sb0", "sb1"];

const state = {
  options: null,
  client: Math.random().toString(36).slice(2) + Date.now().toString(36),
  seq: 0,
  controller: null,
  response: null,
  values: null,
  status: "idle",
  wheel: null,
};
window.explorer = state; // for the console and the browser tests

const $ = (id) => document.getElementById(id);
const form = $("controls");
const plot = $("plot");

// ----------------------------------------------------------------------------------------------- helpers
function setStatus(status) {
  state.status = status;
  document.body.dataset.status = status;
}

function showError(message) {
  $("error").textContent = message || "";
}

function queryFromLocation() {
  const params = new URLSearchParams(location.search);
  const out = {};
  for (const key of VIEW_KEYS) if (params.has(key) && params.get(key) !== "") out[key] = params.get(key);
  return out;
}

function toSearch(query) {
  const params = new URLSearchParams();
  for (const key of VIEW_KEYS) if (query[key] !== undefined && query[key] !== null && query[key] !== "") params.set(key, query[key]);
  return "?" + params.toString();
}

function currentQuery() {
  return state.response ? { ...state.response.query } : queryFromLocation();
}

function niceTicks(lo, hi, count) {
  const span = hi - lo;
  if (!(span > 0)) return { ticks: [lo], decimals: 2 };
  const raw = span / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const norm = raw / mag;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  const ticks = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) ticks.push(k * step);
  return { ticks, decimals: Math.max(0, -Math.floor(Math.log10(step) + 1e-9)) };
}

// A bound rounded to a tenth of the new grid's spacing: readable URLs, still sub-pixel exact.
function roundBound(x, span, res) {
  const step = Math.pow(10, Math.floor(Math.log10(span / res)) - 1);
  const decimals = Math.max(0, -Math.round(Math.log10(step)));
  return Number((Math.round(x / step) * step).toFixed(Math.min(decimals, 17)));
}

function formatValue(v) {
  if (!Number.isFinite(v)) return v > 0 ? "inf" : v < 0 ? "-inf" : "not computed";
  if (v === 0) return "0 (states merged)";
  const a = Math.abs(v);
  return a >= 1e-3 && a < 1e4 ? v.toPrecision(4) : v.toExponential(3);
}

// ----------------------------------------------------------------------------------------------- loading
async function load(query) {
  if (state.controller) state.controller.abort(); // the server cancels it too (newer seq, closed connection)
  const controller = new AbortController();
  state.controller = controller;
  setStatus("loading");
  showError("");
  let level = 0;
  for (;;) {
    state.seq += 1;
    const params = new URLSearchParams(toSearch(query).slice(1));
    params.set("level", level);
    params.set("client", state.client);
    params.set("seq", state.seq);
    let response, body;
    try {
      response = await fetch("/api/view?" + params.toString(), { signal: controller.signal });
      body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
    } catch (err) {
      if (controller.signal.aborted) return;
      showError("server unreachable: " + err.message);
      setStatus("error");
      return;
    }
    if (controller.signal.aborted) return;
    if (response.status === 409 && /superseded/.test(body.error || "")) return; // a newer request took over
    if (!response.ok) {
      showError(body.error || `HTTP ${response.status}`);
      setStatus("error");
      $("progress").textContent = "\u00a0";
      return;
    }
    render(body);
    if (body.final) break;
    level = body.level + 1;
  }
  if (state.controller === controller) setStatus("done");
}

async function pollStatus() {
  if (state.status === "loading") {
    try {
      const s = await (await fetch("/api/status")).json();
      const r = s.running;
      if (r && r.total > 0 && state.status === "loading") {
        const what = r.export ? `exporting ${r.export}` : `computing level ${r.level + 1}/${r.levels}`;
        $("progress").textContent = `${what}: ${Math.round((100 * r.done) / r.total)}% of ${r.total.toLocaleString()} points`;
      }
    } catch (err) {
      /* the next poll will tell */
    }
  }
  setTimeout(pollStatus, 400);
}

function navigate(query, push) {
  const search = toSearch(query);
  if (push) history.pushState(null, "", search);
  else history.replaceState(null, "", search);
  fillForm(query);
  load(query);
}

// ----------------------------------------------------------------------------------------------- drawing
function fillForm(query) {
  for (const key of VIEW_KEYS) {
    const field = form.elements[key];
    if (field) field.value = query[key] !== undefined ? query[key] : "";
  }
}

function placeTicks(container, ticks, decimals, position) {
  container.replaceChildren();
  for (const v of ticks) {
    const pos = position(v);
    if (pos < -0.5 || pos > plot.clientWidth + 0.5) continue;
    const el = document.createElement("div");
    el.className = "tick";
    el.textContent = v.toFixed(decimals);
    if (container.id === "xticks") el.style.left = pos + "px";
    else el.style.top = pos + "px";
    container.appendChild(el);
  }
}

function render(r) {
  state.response = r;
  const q = r.query;
  const search = toSearch(q);
  if (location.search !== search) history.replaceState(null, "", search); // canonical form of this entry
  fillForm(q);
  const W = plot.clientWidth, H = plot.clientHeight, n = r.res;
  const sw0 = +q.sw0, sw1 = +q.sw1, sb0 = +q.sb0, sb1 = +q.sb1;
  // pixel centres sit on the grid points: the image reaches half a pixel beyond the window on each side
  const px = W / (n - 1), py = H / (n - 1);
  const img = $("landscape");
  Object.assign(img.style, { left: -px / 2 + "px", top: -py / 2 + "px", width: n * px + "px", height: n * py + "px" });
  img.src = r.image;
  const bimg = $("boundary");
  if (r.boundary) bimg.src = r.boundary;
  bimg.style.display = r.boundary && $("show-boundary").checked ? "block" : "none";
  const raw = atob(r.values);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  state.values = new Float32Array(bytes.buffer);

  const x = (v) => ((v - sw0) / (sw1 - sw0)) * W;
  const y = (v) => ((sb1 - v) / (sb1 - sb0)) * H;
  const xt = niceTicks(sw0, sw1, 6), yt = niceTicks(sb0, sb1, 6);
  placeTicks($("xticks"), xt.ticks, xt.decimals, x);
  placeTicks($("yticks"), yt.ticks, yt.decimals, y);
  const c = r.colour;
  $("colourbar-img").src = c.colourbar;
  const ct = niceTicks(c.vmin, c.vmax, 6);
  placeTicks($("cticks"), ct.ticks, ct.decimals, (v) => ((c.vmax - v) / (c.vmax - c.vmin)) * H);
  $("clabel").textContent = c.label;

  const line = r.critical_line;
  const points = [];
  if (line) {
    line.sigma_w.forEach((w, i) => {
      if (w !== null) points.push(`${x(w).toFixed(1)},${y(line.sigma_b[i]).toFixed(1)}`);
    });
  }
  $("critical").setAttribute("points", points.join(" "));
  $("critical").style.display = $("show-critical").checked ? "" : "none";

  $("title").textContent = `${q.arch} N=${q.width} D=${q.depth} ${q.activation} seed=${q.seed} ${q.dtype}, ` +
    `metric ${q.metric}, ${n} x ${n} points`;
  const f = r.frontier;
  if (f) {
    const where = `boundary of {${q.metric} \u2264 ${f.threshold}}, ${f.boundary_cells.toLocaleString()} cells`;
    $("frontier").textContent = f.dimension !== null
      ? `box-counting dimension ${f.dimension.toFixed(3)} \u00b1 ${f.stderr.toFixed(3)} (${f.estimator} estimator, ${where})`
      : `box-counting dimension: \u2014 (${f.note}; ${f.estimator} estimator, ${where})`;
  } else {
    $("frontier").textContent = "box-counting dimension: at full resolution\u2026";
  }
  const t = r.timing;
  const levels = r.levels.length;
  const stage = r.final ? "full resolution" : `preview ${r.level + 1}/${levels} (every ${r.levels[r.level]}th point)`;
  $("progress").textContent = r.cached
    ? `${stage}, from the cache in ${(1000 * t.total_s).toFixed(0)} ms`
    : `${stage}: ${r.computed_points.toLocaleString()} new points in ${t.compute_s.toFixed(2)} s, drawn in ${(1000 * t.render_s).toFixed(0)} ms`;
  document.body.dataset.query = search;
  document.body.dataset.level = r.level;
  document.body.dataset.final = r.final ? "1" : "0";
}

// ----------------------------------------------------------------------------------------------- interaction
function sigmaAt(px, py) {
  const q = currentQuery();
  const W = plot.clientWidth, H = plot.clientHeight;
  return [+q.sw0 + (px / W) * (q.sw1 - q.sw0), +q.sb1 - (py / H) * (q.sb1 - q.sb0)];
}

function zoomTo(w0, w1, b0, b1) {
  const q = currentQuery();
  const res = +q.res;
  const max = state.options ? state.options.limits.sigma_max : 100;
  const clamp = (v) => Math.min(max, Math.max(0, v));
  w0 = clamp(w0); w1 = clamp(w1); b0 = clamp(b0); b1 = clamp(b1);
  const next = { ...q, sw0: roundBound(w0, w1 - w0, res), sw1: roundBound(w1, w1 - w0, res),
    sb0: roundBound(b0, b1 - b0, res), sb1: roundBound(b1, b1 - b0, res) };
  if (!(next.sw0 < next.sw1 && next.sb0 < next.sb1)) return;
  navigate(next, true);
}

let drag = null;
plot.addEventListener("mousedown", (ev) => {
  if (ev.button !== 0 || !state.response) return;
  const rect = plot.getBoundingClientRect();
  drag = { x0: ev.clientX - rect.left, y0: ev.clientY - rect.top, rect };
  ev.preventDefault();
});
window.addEventListener("mousemove", (ev) => {
  const rect = plot.getBoundingClientRect();
  const px = ev.clientX - rect.left, py = ev.clientY - rect.top;
  if (drag) {
    const sel = $("selection");
    const x = Math.max(0, Math.min(px, rect.width)), y = Math.max(0, Math.min(py, rect.height));
    Object.assign(sel.style, { display: "block", left: Math.min(x, drag.x0) + "px", top: Math.min(y, drag.y0) + "px",
      width: Math.abs(x - drag.x0) + "px", height: Math.abs(y - drag.y0) + "px" });
  }
  if (px >= 0 && py >= 0 && px <= rect.width && py <= rect.height && state.response) {
    const [w, b] = sigmaAt(px, py);
    const n = state.response.res;
    const i = Math.round((px / rect.width) * (n - 1)), j = Math.round((py / rect.height) * (n - 1));
    const v = state.values ? state.values[j * n + i] : NaN;
    const name = state.response.query.metric === "lyapunov" ? "lambda" : "L";
    $("cursor").textContent = `sigma_w = ${w.toFixed(5)}, sigma_b = ${b.toFixed(5)}: ${name} = ${formatValue(v)}`;
  }
});
window.addEventListener("mouseup", (ev) => {
  if (!drag) return;
  const { x0, y0, rect } = drag;
  drag = null;
  $("selection").style.display = "none";
  const x1 = Math.max(0, Math.min(ev.clientX - rect.left, rect.width));
  const y1 = Math.max(0, Math.min(ev.clientY - rect.top, rect.height));
  if (Math.abs(x1 - x0) < 5 || Math.abs(y1 - y0) < 5) return; // a click, not a box
  const [wa, ba] = sigmaAt(Math.min(x0, x1), Math.max(y0, y1));
  const [wb, bb] = sigmaAt(Math.max(x0, x1), Math.min(y0, y1));
  zoomTo(wa, wb, ba, bb);
});
plot.addEventListener("wheel", (ev) => {
  if (!state.response) return;
  ev.preventDefault();
  const rect = plot.getBoundingClientRect();
  const centre = sigmaAt(ev.clientX - rect.left, ev.clientY - rect.top);
  const factor = Math.pow(1.25, Math.sign(ev.deltaY));
  state.wheel = state.wheel ? { centre, factor: state.wheel.factor * factor, timer: state.wheel.timer } : { centre, factor };
  clearTimeout(state.wheel.timer);
  state.wheel.timer = setTimeout(() => {
    const { centre: [cw, cb], factor: f } = state.wheel;
    state.wheel = null;
    const q = currentQuery();
    zoomTo(cw - (cw - q.sw0) * f, cw + (q.sw1 - cw) * f, cb - (cb - q.sb0) * f, cb + (q.sb1 - cb) * f);
  }, 250);
}, { passive: false });

form.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const query = {};
  for (const key of VIEW_KEYS) {
    const field = form.elements[key];
    if (field && field.value !== "") query[key] = field.value.trim();
  }
  navigate(query, true);
});
$("back").addEventListener("click", () => history.back());
$("forward").addEventListener("click", () => history.forward());
$("reset").addEventListener("click", () => {
  const d = state.options.defaults;
  navigate({ ...currentQuery(), sw0: d.sw0, sw1: d.sw1, sb0: d.sb0, sb1: d.sb1 }, true);
});
$("show-boundary").addEventListener("change", () => state.response && render(state.response));
$("show-critical").addEventListener("change", () => state.response && render(state.response));
window.addEventListener("popstate", () => {
  const query = queryFromLocation();
  fillForm(query);
  load(query);
});

$("export").addEventListener("click", async () => {
  const out = $("export-result");
  if (!state.response) return;
  const params = new URLSearchParams(toSearch(state.response.query).slice(1));
  params.set("name", $("export-name").value.trim());
  out.textContent = "exporting\u2026";
  const previous = state.status;
  setStatus("loading");
  try {
    const response = await fetch("/api/export?" + params.toString(), { method: "POST", headers: { "X-Infoprop-Request": "1" } });
    const body = await response.json();
    out.textContent = response.ok ? `wrote ${body.store} and ${body.figure} (= ${body.command})` : body.error;
  } catch (err) {
    out.textContent = "server unreachable: " + err.message;
  } finally {
    setStatus(previous === "loading" ? "loading" : "done");
  }
});

// ----------------------------------------------------------------------------------------------- start
async function start() {
  try {
    state.options = await (await fetch("/api/options")).json();
  } catch (err) {
    showError("server unreachable: " + err.message);
    return;
  }
  for (const [key, values] of Object.entries(state.options.choices)) {
    const select = form.elements[key];
    if (!select) continue;
    select.replaceChildren(...values.map((v) => new Option(v, v)));
  }
  $("version").textContent = `infoprop ${state.options.infoprop_version} \u00b7 exports go to ${state.options.export_dir}`;
  const query = queryFromLocation();
  fillForm({ ...state.options.defaults, ...query });
  pollStatus();
  load(query);
}
start();
