// api.js — the JSON API.  Control requests carry the CSRF token from the page's meta tag.
const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.getAttribute("content") || "";
const CSRF = meta("csrf-token");

export class ApiError extends Error {
  // data: the whole answer (a broken scenario's {"error", "problems": [...]})
  constructor(status, message, data = null) { super(message); this.status = status; this.data = data; }
}

async function parse(response) {
  let data = null;
  try { data = await response.json(); } catch (_) { data = null; }
  if (!response.ok) {
    throw new ApiError(response.status, (data && typeof data.error === "string") ? data.error : `HTTP ${response.status}`, data);
  }
  return data;
}

export async function get(url) {
  return parse(await fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}}));
}

export async function call(method, url, body = {}) {
  return parse(await fetch(url, {
    method, credentials: "same-origin",
    headers: {"Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": CSRF},
    body: JSON.stringify(body),
  }));
}

export const role = () => meta("mailflow-role");
export const hasWorld = () => meta("mailflow-world") === "yes";
export const shared = () => meta("mailflow-shared") === "yes";
