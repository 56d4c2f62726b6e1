// diagram_geo.js — geometry for the diagram: polylines, a point along one, and the routes the page
// draws itself (edges the server's layout leaves to it: between two cards of a grid or a fold, to
// the DNS server from a card; see simulator/web/layout.py, "demand" edges).  No DOM here.

export function geometry(points) {
  const segs = [];
  let total = 0;
  for (let i = 1; i < points.length; i++) {
    const len = Math.hypot(points[i][0] - points[i - 1][0], points[i][1] - points[i - 1][1]);
    segs.push(len);
    total += len;
  }
  return {points, segs, total};
}

export function pointAt(geo, f) {
  const pts = geo.points;
  if (pts.length === 1 || geo.total === 0) return pts[0];
  let d = Math.max(0, Math.min(1, f)) * geo.total;
  for (let i = 0; i < geo.segs.length; i++) {
    if (d <= geo.segs[i] || i === geo.segs.length - 1) {
      const r = geo.segs[i] ? Math.min(1, d / geo.segs[i]) : 0;
      return [pts[i][0] + (pts[i + 1][0] - pts[i][0]) * r, pts[i][1] + (pts[i + 1][1] - pts[i][1]) * r];
    }
    d -= geo.segs[i];
  }
  return pts[pts.length - 1];
}

export const pathD = (points) => points.map((p, i) => `${i ? "L" : "M"}${p[0]},${p[1]}`).join(" ");
export const center = (n) => [n.x + n.w / 2, n.y + n.h / 2];
const mid = (n, side) => [n.x + (side === "right" ? n.w : side === "left" ? 0 : n.w / 2),
  n.y + (side === "top" ? 0 : side === "bottom" ? n.h : n.h / 2)];

// A small stable number for a pair of ids, so two page-drawn edges rarely share a gutter line.
function spread(key, span) {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) >>> 0;
  return ((h % 5) - 2) * span;
}

// An edge between two nodes of different cards (or a card and the strip), drawn by the page:
// out of the node's right side into the channel beside it, up that channel to the street above
// its card, along the gutters between the cards to the street above the target's card, down the
// channel left of the target and into its left side.  Channels and gutters hold no node, so the
// line crosses other lines but never a box.
//   a, b: node boxes; ra, rb: the boxes of their cards (null for a node of the strip);
//   street: {gutter, stripBottom, inset}.
export function gutterRoute(a, b, ra, rb, street, key = "") {
  const g = street.gutter, inset = street.inset ?? g / 2.5, off = spread(key, Math.max(1.5, g / 9));
  if (!ra && !rb) return [center(a), center(b)];
  const above = (r) => r.y - g / 2 + off;                      // the street above a card
  const up = street.stripBottom + g / 2 + off;                  // the street under the strip
  // the gutter beside card r on the side of x
  const beside = (r, x) => (x > r.x + r.w / 2 + 1 ? r.x + r.w + g / 2 : r.x - g / 2) + off;
  if (!rb) {                                                    // up to the strip (DNS, the front door)
    const start = mid(a, "right"), end = mid(b, "bottom");
    const xa = a.x + a.w + inset + off, ya = above(ra);
    if (Math.abs(ra.y - g - street.stripBottom) < g * 0.75 + 1 || ya <= up) {
      return [start, [xa, start[1]], [xa, ya], [end[0], ya], end];
    }
    const xg = beside(ra, end[0]);
    return [start, [xa, start[1]], [xa, ya], [xg, ya], [xg, up], [end[0], up], end];
  }
  const end = mid(b, "left");
  const xb = b.x - inset + off, yb = above(rb);
  if (!ra) {                                                    // from the strip down into a card
    const start = mid(a, "bottom");
    const xg = beside(rb, start[0]);
    return [start, [start[0], up], [xg, up], [xg, yb], [xb, yb], [xb, end[1]], end];
  }
  const start = mid(a, "right");
  const xa = a.x + a.w + inset + off, ya = above(ra);
  if (ra === rb || Math.abs(ya - yb) < 1) {
    return [start, [xa, start[1]], [xa, ya], [xb, ya], [xb, end[1]], end];
  }
  const xg = beside(ra, rb.x + rb.w / 2 > ra.x + ra.w / 2 + 1 ? rb.x + rb.w : ra.x - 1);
  return [start, [xa, start[1]], [xa, ya], [xg, ya], [xg, yb], [xb, yb], [xb, end[1]], end];
}

// The nearest distance from a point to a polyline (tests and the token's "on its edge" check).
export function distanceTo(points, p) {
  let best = Infinity;
  for (let i = 1; i < points.length; i++) {
    const [x1, y1] = points[i - 1], [x2, y2] = points[i];
    const dx = x2 - x1, dy = y2 - y1, len = dx * dx + dy * dy;
    const r = len ? Math.max(0, Math.min(1, ((p[0] - x1) * dx + (p[1] - y1) * dy) / len)) : 0;
    best = Math.min(best, Math.hypot(p[0] - x1 - r * dx, p[1] - y1 - r * dy));
  }
  return best;
}
