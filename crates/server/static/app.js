// clearhouse dashboard: signs its requests in the browser (WebCrypto Ed25519) with the key given
// in the URL fragment (#name=alice&secret=HEX) or the form; the secret never leaves the page.
// Charts are plain SVG and HTML bars drawn here: no library, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const hex = (bytes) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
const unhex = (text) => new Uint8Array(text.match(/../g).map((h) => parseInt(h, 16)));
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const usd = (x) => (x === null || x === undefined || Number.isNaN(Number(x)) ? "-" : Number(x).toFixed(2));

let signer = null;
let lastNonce = 0;

async function makeSigner(name, secretHex) {
  // PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410): a fixed 16-byte prefix and the 32 bytes.
  const pkcs8 = new Uint8Array([...unhex("302e020100300506032b657004220420"), ...unhex(secretHex)]);
  const key = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, false, ["sign"]);
  return { name, key };
}

async function signedFetch(method, path, body) {
  const text = body === undefined ? "" : JSON.stringify(body);
  const digest = hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  lastNonce = Math.max(lastNonce + 1, Date.now() * 1000);
  const expiry = Date.now() + 30000;
  const message = `clearhouse-v1\n${method}\n${path}\n${digest}\n${lastNonce}\n${expiry}`;
  const signature = hex(await crypto.subtle.sign({ name: "Ed25519" }, signer.key, new TextEncoder().encode(message)));
  const headers = { "x-ch-key": signer.name, "x-ch-nonce": String(lastNonce), "x-ch-expiry": String(expiry), "x-ch-signature": signature };
  if (text) headers["content-type"] = "application/json";
  const response = await fetch(path, { method, headers, body: text || undefined });
  const json = await response.json();
  if (!response.ok) throw new Error(`${path}: ${json.error ? json.error.code + ": " + json.error.message : response.status}`);
  return json;
}

function rows(table, list, cells, key) {
  const t = $(table);
  while (t.rows.length > 1) t.deleteRow(1);
  for (const item of list) {
    const tr = t.insertRow();
    if (key) tr.dataset.key = key(item);
    tr.innerHTML = cells(item).map((c) => `<td>${esc(c)}</td>`).join("");
  }
}

function bars(target, items) {
  const max = Math.max(1e-9, ...items.map(([, v]) => Math.abs(v)));
  $(target).innerHTML = items
    .map(([name, v]) => `<div data-name="${esc(name)}"><span class="bar${v < 0 ? " neg" : ""}" style="width:${(220 * Math.abs(v)) / max}px"></span> ${esc(name)}: <span class="v">${usd(v)}</span></div>`)
    .join("");
}

function lineChart(target, points) {
  if (points.length === 0) { $(target).innerHTML = '<span class="muted">no samples yet</span>'; return; }
  const w = 420, h = 120, xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = (x) => (x1 === x0 ? w / 2 : ((x - x0) / (x1 - x0)) * w), sy = (y) => (y1 === y0 ? h / 2 : h - ((y - y0) / (y1 - y0)) * h);
  const path = points.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ");
  $(target).innerHTML = `<svg width="${w}" height="${h}" style="border:1px solid #dde"><polyline fill="none" stroke="#4a72c4" stroke-width="2" points="${path}"/></svg>`;
}

async function loadPrices() {
  const p = await (await fetch("/v1/prices")).json();
  rows("prices", Object.entries(p.prices), ([s, v]) => [s, v.price_usd], ([s]) => s);
}

async function loadTrader() {
  const account = `${signer.name}/main`;
  const base = `/v1/accounts/${account}`;
  $("account").textContent = account;
  const b = await signedFetch("GET", `${base}/balances`);
  const values = Object.fromEntries(((b.valuation || {}).balances || []).map((v) => [v.asset, v.value_usd]));
  rows("balances", b.balances, (r) => [r.asset, r.posted, r.reserved, values[r.asset] || "-"], (r) => r.asset);
  $("total-usd").textContent = b.valuation ? b.valuation.total_usd : "-";
  const orders = await signedFetch("GET", `${base}/orders`);
  rows("orders", orders, (o) => [o.market, o.side, o.price, o.qty]);
  const fills = await signedFetch("GET", `${base}/fills`);
  rows("fills", fills, (f) => [f.market, f.side, f.liquidity, f.price, f.qty, f.fee]);
  try {
    const report = await signedFetch("GET", `${base}/margin`);
    const g = report.gating;
    $("gating").textContent = g.state === "ok"
      ? `equity ${g.margin.equity_usd}, IM ${g.margin.initial_usd}, MM ${g.margin.maintenance_usd}, free ${g.margin.free_collateral_usd} (${g.margin.health})`
      : `${g.state}: ${g.why}`;
    const positions = await signedFetch("GET", `${base}/positions`);
    rows("positions", positions.positions, (p) => [p.market, p.qty, p.entry_price || "-", p.mark || "-", p.unrealised_pnl || "-", p.funding], (p) => p.market);
    if (report.detail.error) throw new Error(report.detail.error);
    const m = report.detail.summary;
    $("margin-asof").textContent = `as of ${m.as_of} (${m.data})`;
    $("nlv").textContent = usd(m.net_liquidation_value);
    $("im").textContent = usd(m.initial_margin);
    $("mm").textContent = usd(m.maintenance_margin);
    $("health").textContent = usd(m.health_usd);
    $("binding").textContent = m.binding;
    bars("charges", m.charges);
    bars("contributions", m.contributions);
  } catch (e) {
    $("margin-asof").textContent = e.message;
  }
}

async function loadOperator() {
  const o = await signedFetch("GET", "/v1/operator/overview");
  const price = (asset) => (o.prices[asset] ? Number(o.prices[asset].price_usd) : NaN);
  rows("exposure", Object.entries(o.net_exposure), ([a, u]) => [a, u, usd(Number(u) * price(a))], ([a]) => a);
  const custody = Object.entries(o.custody).flatMap(([c, assets]) => Object.entries(assets).map(([a, v]) => [c, a, v]));
  rows("custody", custody, (r) => r, (r) => `${r[0]}/${r[1]}`);
  lineChart("insurance-chart", o.insurance_series.map((s) => [s.time_ms, Number(s.value_usd)]));
  const last = o.insurance_series[o.insurance_series.length - 1];
  $("insurance-now").textContent = last ? last.value_usd : "-";
  const l = await signedFetch("GET", "/v1/liquidations");
  $("insurance-state").textContent = l.insurance_fund;
  rows("flagged", l.flagged_accounts, (f) => [f.account, f.health], (f) => f.account);
  rows("liquidations", l.events, (e) => [e.seq, e.kind, JSON.stringify(e.event)]);
  rows("nearest", o.nearest_liquidation, (n) => [n.account, usd(n.health_usd), usd(n.initial_margin), usd(n.net_liquidation_value)], (n) => n.account);
}

async function whatIf(event) {
  event.preventDefault();
  const trade = { market: $("wi-market").value, side: $("wi-side").value, qty: $("wi-qty").value };
  try {
    const r = await signedFetch("POST", "/v1/margin/simulate", { account: `${signer.name}/main`, trades: [trade] });
    const g = r.gating;
    $("wi-result").textContent = g.after.state === "ok"
      ? `initial margin (engine, gates orders) ${g.before.margin.initial_usd} -> ${g.after.margin.initial_usd} USD`
      : `initial margin (f64 estimate) ${usd(r.detail.before.initial_margin)} -> ${usd(r.detail.after.initial_margin)} USD`;
  } catch (e) {
    $("wi-result").textContent = e.message;
  }
}

async function refresh() {
  try {
    await loadPrices();
    if (signer && signer.name === "operator") await loadOperator();
    else if (signer) await loadTrader();
    $("error").textContent = "";
  } catch (e) {
    $("error").textContent = e.message;
  }
  document.body.dataset.ready = "1";
}

async function main() {
  const params = new URLSearchParams(location.hash.slice(1));
  $("whatif").addEventListener("submit", whatIf);
  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = `name=${encodeURIComponent($("login-name").value)}&secret=${$("login-secret").value}`;
    location.reload();
  });
  if (params.get("name") && params.get("secret")) {
    try {
      signer = await makeSigner(params.get("name"), params.get("secret"));
      $("who").textContent = `signed in as ${signer.name}`;
      $(signer.name === "operator" ? "operator" : "trader").hidden = false;
    } catch (e) {
      $("error").textContent = `key: ${e.message}`;
    }
  } else {
    $("login").hidden = false;
  }
  await refresh();
  setInterval(refresh, 5000);
}

main();
