
"use strict";
const $ = (s) => document.querySelector(s);
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls; return e; };
async function gunzip(b64) {
  const bin = atob(b64.trim()); const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return JSON.parse(await new Response(stream).text());
}
document.querySelectorAll("table.sortable th").forEach((th) => th.addEventListener("click", () => {
  const table = th.closest("table"), col = +th.dataset.col, body = table.tBodies[0];
  const dir = th.dataset.dir === "asc" ? -1 : 1; th.dataset.dir = dir === 1 ? "asc" : "desc";
  const key = (tr) => tr.cells[col].dataset.sort;
  const rows = Array.from(body.rows).sort((a, b) => { const x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
    return dir * (isNaN(nx) || isNaN(ny) ? x.localeCompare(y) : nx - ny); });
  rows.forEach((r) => body.appendChild(r));
}));
const PAGE = 25; let IDX = null, matches = [], page = 0; const chunks = new Map();
async function chunk(i) {
  if (!chunks.has(i)) chunks.set(i, gunzip(document.querySelector(`script.chunk[data-chunk="${i}"]`).textContent));
  return chunks.get(i);
}
function options(select, values) { values.forEach((v, i) => { const o = el("option", v === "" ? "(none)" : v);
  o.value = String(i); select.appendChild(o); }); }
function applyFilters() {
  const f = (id) => $(id).value; const pmin = parseFloat(f("#f-pmin")), pmax = parseFloat(f("#f-pmax"));
  const run = f("#f-run"), method = f("#f-method"), cat = f("#f-category"), verdict = f("#f-verdict");
  const refused = f("#f-refused"), abl = f("#f-ablation"), text = f("#f-text").toLowerCase();
  matches = [];
  for (let i = 0; i < IDX.run.length; i++) {
    if (run !== "" && IDX.run[i] !== +run) continue;
    if (method !== "" && IDX.method[i] !== +method) continue;
    if (cat !== "" && IDX.category[i] !== +cat) continue;
    if (abl !== "" && IDX.ablation[i] !== +abl) continue;
    if (verdict !== "" && IDX.verdict[i] !== +verdict) continue;
    if (refused === "yes" && IDX.refused[i] !== 1) continue;
    if (refused === "no" && IDX.refused[i] !== 0) continue;
    if (refused === "unknown" && IDX.refused[i] !== null) continue;
    const p = IDX.p[i];
    if (!isNaN(pmin) && (p === null || p < pmin)) continue;
    if (!isNaN(pmax) && (p === null || p > pmax)) continue;
    if (text && !IDX.prompt[i].toLowerCase().includes(text)) continue;
    matches.push(i);
  }
  page = 0; render();
}
function field(dl, name, value) { dl.appendChild(el("dt", name)); dl.appendChild(el("dd", value)); }
async function fill(details, i) {
  const s = (await chunk(IDX.chunk[i]))[IDX.pos[i]];
  const body = el("div"); const dl = el("dl");
  field(dl, "sample key", s.key); field(dl, "prompt id", s.prompt_id);
  if (s.subcategory) field(dl, "subcategory", s.subcategory);
  if (s.mode) field(dl, "read by", s.mode);
  if (IDX.p[i] !== null) field(dl, "P(bail)", String(IDX.p[i]));
  if (s.mass !== null && s.mass !== undefined) field(dl, "symbol mass p(🔄)+p(🟢)", s.mass.toFixed(4));
  if (IDX.refused[i] !== null) field(dl, "rollout refused", IDX.refused[i] ? "yes" : "no");
  field(dl, "seed", String(s.seed)); if (s.finish_reason) field(dl, "finish", s.finish_reason);
  if (s.skipped) field(dl, "skipped", s.skipped);
  body.appendChild(dl);
  body.appendChild(el("h4", "Exactly what the model was given"));
  body.appendChild(el("pre", s.rendered));
  body.appendChild(el("h4", s.mode === "logprob" ? "Reply (scored, not generated)" : "Reply (journal, for the bail prompt)"));
  body.appendChild(el("pre", s.reply));
  details.appendChild(body);
}
function render() {
  const rows = $("#rows"); rows.replaceChildren();
  const total = IDX.run.length, pages = Math.max(1, Math.ceil(matches.length / PAGE));
  $("#count").textContent = `${matches.length} of ${total} samples`;
  $("#page").textContent = `page ${page + 1} of ${pages}`;
  for (const i of matches.slice(page * PAGE, (page + 1) * PAGE)) {
    const d = el("details"); d.dataset.index = String(i); const sm = el("summary");
    const v = IDX.verdicts[IDX.verdict[i]];
    sm.appendChild(el("span", IDX.runs[IDX.run[i]], "tag"));
    sm.appendChild(el("span", IDX.methods[IDX.method[i]], "tag"));
    sm.appendChild(el("span", IDX.categories[IDX.category[i]] || "-", "tag"));
    sm.appendChild(el("span", v || "rollout", "v-" + (v || "none")));
    if (IDX.p[i] !== null) sm.appendChild(el("span", ` P(bail)=${IDX.p[i].toFixed(3)}`));
    sm.appendChild(el("span", "  " + IDX.prompt[i]));
    d.appendChild(sm);
    d.addEventListener("toggle", () => { if (d.open && d.childElementCount === 1) fill(d, i); });
    rows.appendChild(d);
  }
}
let KEYS = null; const members = new Map();
function keyIndex() {
  if (!KEYS) { KEYS = new Map(); for (let i = 0; i < IDX.key.length; i++) KEYS.set(IDX.run[i] + "|" + IDX.key[i], i); }
  return KEYS;
}
async function taxMembers(tax) {
  if (!members.has(tax)) members.set(tax, gunzip(document.querySelector(`script.tx-members[data-tax="${tax}"]`).textContent));
  return members.get(tax);
}
async function showCases(node, label) {
  const tax = node.closest("[data-tax]").dataset.tax, all = await taxMembers(tax), keys = keyIndex();
  const leaves = node.dataset.leaf !== undefined ? [node] : Array.from(node.querySelectorAll("[data-leaf]"));
  const found = [];
  for (const leaf of leaves) for (const [run, key] of (all[leaf.dataset.leaf] || [])) {
    const i = keys.get(run + "|" + key); if (i !== undefined) found.push(i); }
  matches = found.sort((a, b) => a - b); page = 0; render();
  $("#tx-active").textContent = `taxonomy: ${label} (${found.length} cases; change a filter to leave)`;
  $("#browser").scrollIntoView(); return found;
}
function taxonomyClicks() {
  document.querySelectorAll("button.tx-show").forEach((b) => b.addEventListener("click", () =>
    showCases(b.closest(".tx-node"), b.dataset.name)));
  document.querySelectorAll("button.tx-case").forEach((b) => b.addEventListener("click", async () => {
    const i = keyIndex().get(b.dataset.run + "|" + b.dataset.key); if (i === undefined) return;
    matches = [i]; page = 0; render(); $("#tx-active").textContent = `taxonomy example: ${b.dataset.key}`;
    const d = document.querySelector("#rows details"); d.open = true; $("#browser").scrollIntoView(); }));
}
(async () => {
  IDX = await gunzip($("#index").textContent);
  options($("#f-run"), IDX.runs); options($("#f-method"), IDX.methods); options($("#f-category"), IDX.categories);
  options($("#f-ablation"), IDX.ablations); options($("#f-verdict"), IDX.verdicts.map((v) => v || "rollout"));
  document.querySelectorAll("#filters select, #filters input").forEach((x) => x.addEventListener("input", applyFilters));
  $("#prev").addEventListener("click", () => { if (page > 0) { page--; render(); } });
  $("#next").addEventListener("click", () => { if ((page + 1) * PAGE < matches.length) { page++; render(); } });
  document.querySelectorAll("#filters select, #filters input").forEach((x) => x.addEventListener("input", () => {
    const a = $("#tx-active"); if (a) a.textContent = ""; }));
  taxonomyClicks();
  applyFilters();
  document.body.dataset.ready = "1";
})();
