// tokenturn refresh-proxy demo. Plain JavaScript, no build step.
//
// The refresh token never reaches this script: /login and /refresh put it in an HttpOnly cookie
// scoped to the proxy, and answer with the access token and its lifetime only. The script keeps the
// access token in memory, renews it through the proxy shortly before it runs out, and calls the API
// (tokenturn's /v1/me/) with it.
"use strict";

const API = document.body.dataset.api.replace(/\/+$/, "");
const CSRF = { "Content-Type": "application/json", "X-Tokenturn-CSRF": "1" };
const $ = (id) => document.getElementById(id);

const state = {
  token: null, expiresAt: 0, lifetime: 0, refreshAt: 0, timer: null, inFlight: null, count: 0, failures: 0,
};

class Problem extends Error {
  constructor(message, { code = "", status = 0, retryAfter = null } = {}) {
    super(message);
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
  }
  get transient() {
    return this.status === 0 || this.status === 502 || this.status === 503 || this.status === 504;
  }
}

// -- talking to the proxy ------------------------------------------------------------------------
async function proxy(path, body, context) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST", credentials: "same-origin", headers: CSRF, body: body ? JSON.stringify(body) : "",
    });
  } catch (e) {
    throw new Problem("The proxy can't be reached. Check your connection, or that `tokenturn proxy` is running.");
  }
  let data = {};
  try { data = await response.json(); } catch (e) { /* an empty or non-JSON answer */ }
  if (!response.ok) {
    throw explain(response.status, data.error || "", context, response.headers.get("Retry-After"));
  }
  return data;
}

// Turn a status and an OAuth error code into a sentence a person can act on.
function explain(status, code, context, retryAfter) {
  const meta = { code, status, retryAfter };
  if (status === 429) {
    const wait = retryAfter ? `${retryAfter} seconds` : "a little while";
    return new Problem(`Too many attempts from this browser. Please wait ${wait} and try again.`, meta);
  }
  if (status === 504) return new Problem("The sign-in service is taking too long to answer. We'll keep trying.", meta);
  if (status === 502 || status === 503) {
    return new Problem("The sign-in service can't be reached right now. We'll keep trying.", meta);
  }
  if (code === "invalid_grant") {
    return new Problem(context === "login"
      ? "That username and password don't match. Check them and try again."
      : "Your session has ended (it expired, or you signed out elsewhere). Please sign in again.", meta);
  }
  if (code === "invalid_client" || code === "unauthorized_client") {
    return new Problem("This site's sign-in is misconfigured: the token service refused the proxy's client. " +
      "Please tell the site's operator.", meta);
  }
  if (status === 403) {
    return new Problem("The proxy refused this page (origin or CSRF check). Operator: check --allow-origin.", meta);
  }
  return new Problem(`Something went wrong (${code || "HTTP " + status}). Please try again.`, meta);
}

// -- the access token and its automatic renewal --------------------------------------------------
function adopt(answer, how) {
  state.token = answer.access_token;
  state.lifetime = Math.max(1, Number(answer.expires_in) || 1);
  state.expiresAt = Date.now() + state.lifetime * 1000;
  // Renew with a margin: a quarter of the lifetime, at least 1 s, at most 30 s before expiry.
  const margin = Math.min(30, Math.max(1, state.lifetime * 0.25));
  state.refreshAt = state.expiresAt - margin * 1000;
  clearTimeout(state.timer);
  state.timer = setTimeout(() => refresh("automatic"), state.refreshAt - Date.now());
  $("token-id").textContent = state.token.slice(0, 10) + "…";
  show("session");
  if (how) log(how);
}

async function refresh(how) {
  // One refresh at a time in this tab; other tabs are de-duplicated by the proxy.
  if (state.inFlight) return state.inFlight;
  state.inFlight = (async () => {
    try {
      const answer = await proxy("refresh", null, "refresh");
      if (state.failures) clearNotice();  // the outage notice is over; leave other notices alone
      state.failures = 0;
      state.count += how === "automatic" ? 1 : 0;
      $("refresh-count").textContent = String(state.count);
      adopt(answer, how === "automatic" ? "Access token renewed automatically before it expired."
        : how === "resume" ? "Welcome back: your session was resumed from the cookie." : "Access token renewed.");
      return true;
    } catch (problem) {
      if (how === "resume" && problem.code === "invalid_grant") { signedOut(); return false; }
      if (problem.transient && state.token) {
        // Keep the session: before the planned renewal, keep the plan; past it, back off 2, 4, 8 ... 30 s.
        notice(problem.message, "error");
        log(problem.message, true);
        state.failures += 1;
        const planned = state.refreshAt - Date.now();
        const wait = planned > 0 ? planned : Math.min(30_000, 1000 * 2 ** state.failures);
        clearTimeout(state.timer);
        state.timer = setTimeout(() => refresh("automatic"), wait);
        return false;
      }
      signedOut(problem.message);
      return false;
    } finally {
      state.inFlight = null;
    }
  })();
  return state.inFlight;
}

// -- the API --------------------------------------------------------------------------------------
async function callApi(retried) {
  if (!state.token) return;
  let response;
  try {
    response = await fetch(API + "/v1/me/", { headers: { Authorization: "Bearer " + state.token } });
  } catch (e) {
    const problem = `The API at ${API} can't be reached from this page. If it is running, it must allow this ` +
      `page's origin (TOKENTURN_CORS_ORIGINS=${location.origin}).`;
    $("me-result").hidden = true;
    notice(problem, "error");
    log(problem, true);
    return;
  }
  if (response.status === 401 && !retried) {
    log("The API refused the access token; renewing it and trying once more.");
    if (await refresh("manual")) await callApi(true);
    return;
  }
  let data = {};
  try { data = await response.json(); } catch (e) { /* not JSON */ }
  if (!response.ok) {
    $("me-result").hidden = true;
    const problem = `The API answered ${response.status} (${data.error || "no details"}).`;
    notice(problem, "error");
    log(problem, true);
    return;
  }
  clearNotice();
  $("who").textContent = data.username ? ` as ${data.username}` : "";
  $("me-result").textContent = JSON.stringify(data, null, 2);
  $("me-result").hidden = false;
  log(`The API answered: you are ${data.username || data.client_id}, scope "${data.scope}".`);
}

// -- signing in and out ----------------------------------------------------------------------------
async function signIn(event) {
  event.preventDefault();
  const button = $("signin-button");
  button.disabled = true;
  try {
    const answer = await proxy("login", { username: $("username").value, password: $("password").value }, "login");
    $("password").value = "";
    clearNotice();
    state.count = 0;
    $("refresh-count").textContent = "0";
    adopt(answer, `Signed in. The access token lasts ${answer.expires_in} s.`);
    await callApi(false);
  } catch (problem) {
    notice(problem.message, "error");
    log(problem.message, true);
  } finally {
    button.disabled = false;
  }
}

async function signOut() {
  try {
    await proxy("logout", null, "logout");
    signedOut();
    notice("You are signed out. The session was revoked at the token service.", "info");
    log("Signed out; the refresh token's whole family was revoked.");
  } catch (problem) {
    notice(problem.message, "error");
    log(problem.message, true);
  }
}

function signedOut(message) {
  clearTimeout(state.timer);
  Object.assign(state, { token: null, expiresAt: 0, lifetime: 0, timer: null });
  $("who").textContent = "";
  $("me-result").hidden = true;
  show("signin");
  if (message) { notice(message, "error"); log(message, true); }
}

// -- the page --------------------------------------------------------------------------------------
function show(which) {
  $("signin").hidden = which !== "signin";
  $("session").hidden = which !== "session";
}

function notice(text, kind) {
  const box = $("notice");
  box.textContent = text;
  box.className = "notice " + kind;
  box.hidden = false;
}

function clearNotice() { $("notice").hidden = true; }

function log(text, isError) {
  const item = document.createElement("li");
  const time = document.createElement("time");
  time.textContent = new Date().toLocaleTimeString([], { hour12: false });
  item.append(time, document.createTextNode(text));
  if (isError) item.className = "error";
  const list = $("events");
  list.prepend(item);
  while (list.children.length > 12) list.lastChild.remove();
}

function tick() {
  if (!state.token) return;
  const now = Date.now();
  const left = Math.max(0, (state.expiresAt - now) / 1000);
  $("remaining").textContent = left >= 10 ? String(Math.floor(left)) : left.toFixed(1);
  const bar = $("lifetime-bar");
  bar.style.width = `${Math.min(100, (left / state.lifetime) * 100)}%`;
  bar.className = left === 0 ? "out" : left < state.lifetime * 0.25 ? "low" : "";
  const next = Math.max(0, (state.refreshAt - now) / 1000);
  $("next-refresh").textContent = state.inFlight ? "now…" : `${next.toFixed(1)} s`;
}

$("signin-form").addEventListener("submit", signIn);
$("me-button").addEventListener("click", () => callApi(false));
$("refresh-button").addEventListener("click", () => refresh("manual"));
$("signout-button").addEventListener("click", signOut);
$("api-url").textContent = API;
$("proxy-url").textContent = location.origin;
setInterval(tick, 100);
refresh("resume");
