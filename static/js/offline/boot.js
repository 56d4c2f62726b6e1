// offline/boot.js — runs first in the exported page, before main.js.
//
// No network: fetch() is answered from the saved run (data.js) for the page's own /api/... reads
// (i18n.js fetches its words directly) and refused for everything else; the file's
// Content-Security-Policy (connect-src 'none') refuses it a second time.  Then the replay's
// controls go into the top bar (bar.js); the page itself (main.js) starts as it always does.
import {answer} from "./data.js";
import {t} from "../i18n.js";
import {mountBar} from "./bar.js";

const offlineFetch = async (input, init = {}) => {
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  const method = init.method || (typeof input === "object" && input.method) || "GET";
  const path = new URL(url, "http://offline.invalid/");
  if (!String(url).startsWith("/api/") || path.origin !== "http://offline.invalid") {
    throw new TypeError(t("offline.nonetwork"));
  }
  const reply = answer(method, url, t);
  return new Response(JSON.stringify(reply.body), {status: reply.status,
    headers: {"Content-Type": "application/json"}});
};

Object.defineProperty(window, "fetch", {value: offlineFetch, writable: false, configurable: false});
document.documentElement.dataset.offline = "yes";
document.body.classList.add("offline");
mountBar();
