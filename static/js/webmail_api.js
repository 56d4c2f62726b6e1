// webmail_api.js — the webmail's side of the JSON API (README "JSON API", /api/webmail/...).
//
// The web server is the mail client: every call here makes it log in to the front door over IMAP
// or POP3 (or submit over SMTP), do the one thing asked, and log out — each click shows as real
// hops on the projected diagram.  This module only builds URLs and calls api.js (which sends the
// CSRF token); it keeps no state.  Folder names and message ids are the server's strings and are
// always passed through encodeURIComponent.

import {get, call, ApiError} from "./api.js";
import {t, has} from "./i18n.js";

const BASE = "/api/webmail";

const query = (params) => Object.entries(params)
  .filter(([, v]) => v !== undefined && v !== null && v !== "")
  .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join("&");

export const session = () => get(`${BASE}/session`);
export const login = (form) => call("POST", `${BASE}/login`, form);
export const logout = () => call("POST", `${BASE}/logout`, {});
export const settings = (changes) => call("POST", `${BASE}/settings`, changes);
export const folders = () => get(`${BASE}/folders`);
export const messages = (folder) => get(`${BASE}/messages?${query({folder})}`);
export const message = (folder, id) => get(`${BASE}/message?${query({folder, id})}`);
export const draft = (mode, folder, id) => get(`${BASE}/draft?${query({mode, folder, id})}`);
export const send = (form) => call("POST", `${BASE}/send`, form);
export const flags = (folder, id, changes) => call("POST", `${BASE}/flags`, {folder, id, ...changes});
export const move = (folder, id, to) => call("POST", `${BASE}/move`, {folder, id, to});
export const remove = (folder, id) => call("POST", `${BASE}/delete`, {folder, id});

// Same-origin paths (dom.js accepts nothing else for src and href).
export const htmlUrl = (folder, id, images = false) => `${BASE}/message/html?${query({folder, id, images: images ? 1 : ""})}`;
export const rawUrl = (folder, id) => `${BASE}/message/raw?${query({folder, id})}`;
export const partUrl = (folder, id, index) => `${BASE}/message/part?${query({folder, id, index})}`;

// The raw source is text/plain, not JSON.
export async function raw(folder, id) {
  const response = await fetch(rawUrl(folder, id), {credentials: "same-origin", headers: {Accept: "text/plain"}});
  if (!response.ok) {
    let text = `HTTP ${response.status}`;
    try { const data = await response.json(); if (typeof data?.error === "string") text = data.error; } catch (_) { /* not JSON */ }
    throw new ApiError(response.status, text);
  }
  return response.text();
}

// An error in the learner's language: the mail client's error code (simulator/webmail/errors.py:
// "login_failed", "bad_field", "too_large", "refused" ...) worded by the catalogue, with the form
// field or the server's own reply line where there is one; the server's English as the fallback.
const FIELD_LABELS = {to: "webmail.c.to", cc: "webmail.c.cc", bcc: "webmail.c.bcc", subject: "webmail.c.subject",
  body: "webmail.c.body", attachments: "webmail.c.files"};

export function errorText(err) {
  const data = (err && err.data) || {};
  const code = typeof data.code === "string" ? data.code : "";
  if (code && has(`webmail.error.${code}`)) {
    const field = FIELD_LABELS[data.field] ? t(FIELD_LABELS[data.field]) : String(data.field || "");
    return t(`webmail.error.${code}`, {field, reply: String(data.reply || "")});
  }
  if (err && err.status === 413) return t("webmail.error.too_large");
  return String(err?.message || err || "");
}

export {ApiError};
