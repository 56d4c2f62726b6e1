// offline/api.js — api.js for the exported page: the same functions, answered from the saved run.
//
// Everything api.js exports is exported here too (a function added there later still works: its
// fetch() is answered by the offline fetch of boot.js); get and call never reach a network, the
// role is always a viewer's, and every change is refused: a saved copy is read only.
import {answer} from "./data.js";
import {t} from "../i18n.js";
import {ApiError} from "../api.js";

export * from "../api.js";

export async function get(url) {
  const reply = answer("GET", url, t);
  if (reply.status >= 400) throw new ApiError(reply.status, reply.body.error);
  return structuredClone(reply.body);
}

export async function call(method, url, body = {}) {
  const reply = answer(method, url, t);
  throw new ApiError(reply.status >= 400 ? reply.status : 403, reply.body.error || t("offline.readonly"));
}

export const role = () => "viewer";
export const hasWorld = () => true;
export const shared = () => false;
export const offline = () => true;
