// offline/socket.js — socket.js for the exported page: it never connects.  The replay (replay.js)
// plays the server's part: it hands the saved events over through the same handlers, one by one.
// Whatever else the live wire can do (tell the others where the teacher is ...) does nothing here.
import {replay} from "./replay.js";

export function connect(handlers) {
  replay.attach(handlers);
  const wire = {
    // What the page missed: the events already handed over (the page asks after a gap).
    sync(since) { return Promise.resolve(replay.sync(since)); },
    follow() {},
    get connected() { return false; },
  };
  // A method the live wire gains later is a no-op here rather than an error.
  return new Proxy(wire, {
    get(target, name) {
      if (name in target || typeof name !== "string" || name === "then") return target[name];
      return () => undefined;
    },
  });
}
