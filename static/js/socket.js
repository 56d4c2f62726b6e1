// socket.js — the wire: connects, hands batches over, asks for what it missed.  Nothing else.
export function connect(handlers) {
  const io = window.io;
  if (typeof io !== "function") throw new Error("socket.io client missing");
  const socket = io({transports: ["websocket", "polling"], reconnectionDelayMax: 4000});
  socket.on("connect", () => handlers.onConnect?.());
  socket.on("disconnect", (reason) => handlers.onDisconnect?.(reason));
  // Refused by the server (too many connections): the client does not retry by itself then.
  socket.on("connect_error", (err) => { if (!socket.active) handlers.onRefused?.(err?.message || ""); });
  socket.on("hello", (data) => handlers.onHello?.(data));
  socket.on("events", (batch) => handlers.onEvents?.(batch));
  socket.on("gate", (state) => handlers.onGate?.(state));
  socket.on("world", (data) => handlers.onWorld?.(data));       // the world was swapped: reload
  socket.on("lesson", (state) => handlers.onLesson?.(state));
  socket.on("class", (info) => handlers.onClass?.(info));     // the teacher opened or closed joining
  socket.on("follow", (view) => handlers.onFollow?.(view));     // the teacher moved
  return {
    // Resolves with {events, last_seq, first_seq, more}, {throttled: true, retry_after} when asked
    // again within a second, or null on timeout.
    sync(since) {
      return new Promise((resolve) => {
        socket.timeout(15000).emit("sync", {since}, (err, reply) => resolve(err ? null : reply));
      });
    },
    // The teacher's page tells the others where it is (the server ignores a viewer's).
    follow(view) { if (socket.connected) socket.emit("follow", view); },
    get connected() { return socket.connected; },
  };
}
