// core.js: the API client, the session, DOM building and formatting.
// The files of web/js/ share one function scope (see src/web.rs).

const TOKEN_KEY = "ticketing.session";
const USER_KEY = "ticketing.user";

/** The signed-in user, or null. */
function currentUser() {
  try {
    return JSON.parse(localStorage.getItem(USER_KEY) || "null");
  } catch {
    return null;
  }
}

function sessionToken() {
  return localStorage.getItem(TOKEN_KEY);
}

function saveSession(token, user) {
  localStorage.setItem(TOKEN_KEY, token);
  localStorage.setItem(USER_KEY, JSON.stringify(user));
}

function clearSession() {
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(USER_KEY);
}

/** An API error: the problem document's fields (RFC 9457). */
class ApiError extends Error {
  constructor(status, problem, headers) {
    const p = problem || {};
    super(p.detail || p.reason || p.title || `HTTP ${status}`);
    this.status = status;
    this.code = p.code || "";
    this.title = p.title || "";
    this.problem = p;
    this.retryAfter = Number(headers && headers.get("Retry-After")) || 0;
  }
}

/** Goes to the sign-in page, coming back here afterwards. */
function toLogin() {
  const next = location.pathname + location.search;
  location.assign(`/login?next=${encodeURIComponent(next)}`);
}

/**
 * Calls the API: JSON in, JSON out. Throws ApiError on a non-2xx answer;
 * a 401 on a signed-in call ends the session and goes to the sign-in page.
 */
async function api(method, path, { body, headers = {}, auth = true } = {}) {
  const h = { Accept: "application/json", ...headers };
  const token = sessionToken();
  if (auth && token) h.Authorization = `Bearer ${token}`;
  if (body !== undefined) h["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers: h,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: text };
    }
  }
  if (!res.ok) {
    if (res.status === 401 && auth && token && !path.startsWith("/api/login")) {
      clearSession();
      toLogin();
    }
    throw new ApiError(res.status, data, res.headers);
  }
  return data;
}

/**
 * Builds an element: `el("a", {href, class: "x", dataset: {testid: "y"}}, "text", child)`.
 * Text is always set as text, never parsed as HTML.
 */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "dataset") Object.assign(e.dataset, v);
    else if (k === "testid") e.dataset.testid = v;
    else if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else if (v === true) e.setAttribute(k, "");
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/** Replaces the page's content with `nodes` and moves focus to it. */
function render(...nodes) {
  const main = document.getElementById("main");
  main.replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined && n !== false));
}

/** An error box for `err` (ApiError or any Error). */
function errorBox(err, testid = "error") {
  let msg = err.message || String(err);
  if (err instanceof ApiError && err.status === 429) {
    msg = `Too many requests: try again${err.retryAfter ? ` in ${err.retryAfter} s` : " shortly"}.`;
  } else if (!(err instanceof ApiError)) {
    msg = `Could not reach the server (${msg}).`;
  }
  return el("div", { class: "error", role: "alert", testid }, msg);
}

/** Shows a short message at the bottom of the screen. */
function toast(msg) {
  const t = document.getElementById("toast");
  t.textContent = msg;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 4000);
}

/**
 * Money as the API gives it: `{minor, currency, formatted}`, a number of
 * minor units, or a ready string. Shown in the reader's locale.
 */
function money(m) {
  if (m === null || m === undefined) return "";
  if (typeof m === "string") return m;
  let minor = m;
  let currency = "EUR";
  if (typeof m === "object") {
    minor = m.minor ?? m.amount_minor ?? m.amount ?? 0;
    currency = m.currency || currency;
  }
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(Number(minor) / 100);
  } catch {
    if (typeof m === "object" && m.formatted) return m.formatted;
    return `${(Number(minor) / 100).toFixed(2)} ${currency}`;
  }
}

/** A date and time in the reader's words. */
function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(undefined, { weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });
}

/** Seconds as `m:ss`. */
function clock(secs) {
  const s = Math.max(0, Math.floor(secs));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** The path's segment after `prefix` (`/shows/abc` -> `abc`). */
function pathId() {
  const parts = location.pathname.split("/").filter(Boolean);
  return decodeURIComponent(parts[1] || "");
}

/** A random idempotency key. */
function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A show's document, fetched once per page. */
function showDoc(showId) {
  showDoc.cache = showDoc.cache || new Map();
  if (!showDoc.cache.has(showId)) {
    showDoc.cache.set(showId, api("GET", `/api/shows/${encodeURIComponent(showId)}`).catch(() => null));
  }
  return showDoc.cache.get(showId);
}

/** A machine word as words: `already_checked_in`, `CardDeclined` -> "already checked in", "card declined". */
function words(s) {
  return String(s ?? "").replace(/_/g, " ").replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
}

/** Waits `ms` milliseconds. */
function pause(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Sets the document title. */
function title(t) {
  document.title = `${t} · Tickets`;
}
