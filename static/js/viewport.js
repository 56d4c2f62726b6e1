// viewport.js — zoom and pan of the diagram: the SVG's viewBox is the only thing it changes.
//
// The layout's size (width × height) is the whole world at zoom 1.  Zooming keeps the point under
// the pointer (or the middle, for the buttons and keys) where it is; panning moves the view but
// never past the world's edges.  Input: the mouse wheel over the diagram, dragging (when zoomed
// in), the three buttons the diagram puts in its corner (+, −, the whole world), and keys when no
// field has the focus: + and − zoom, 0 shows the whole world, Shift + arrows pan (plain arrows stay
// the review's back and forward).  A drag is not a click: after one, the next click is swallowed,
// so panning never selects the node it started on.

const MAX_ZOOM = 8;
const STEP = 1.25;

export class Viewport {
  constructor(svg, {onChange} = {}) {
    this.svg = svg;
    this.onChange = onChange;
    this.w = 0; this.h = 0;
    this.k = 1; this.cx = 0; this.cy = 0;
    this.drag = null;
    this.dragged = false;
    svg.addEventListener("wheel", (ev) => this.wheel(ev), {passive: false});
    svg.addEventListener("pointerdown", (ev) => this.down(ev));
    svg.addEventListener("pointermove", (ev) => this.move(ev));
    svg.addEventListener("pointerup", (ev) => this.up(ev));
    svg.addEventListener("pointercancel", (ev) => this.up(ev));
    svg.addEventListener("click", (ev) => {
      if (this.dragged) { ev.stopPropagation(); ev.preventDefault(); this.dragged = false; }
    }, true);
    document.addEventListener("keydown", (ev) => this.key(ev), true);
  }

  // A new layout: keep the zoom, and the middle where it was (in proportion).
  setSize(w, h) {
    const fx = this.w ? this.cx / this.w : 0.5, fy = this.h ? this.cy / this.h : 0.5;
    this.w = w; this.h = h;
    this.cx = fx * w; this.cy = fy * h;
    this.apply();
  }

  get zoomed() { return this.k > 1.001; }

  // Where a client (screen) point lies in layout coordinates.
  toLayout(clientX, clientY) {
    const box = this.svg.getBoundingClientRect();
    const vb = this.box();
    const scale = Math.min(box.width / vb.w, box.height / vb.h) || 1;
    const ox = box.left + (box.width - vb.w * scale) / 2, oy = box.top + (box.height - vb.h * scale) / 2;
    return [vb.x + (clientX - ox) / scale, vb.y + (clientY - oy) / scale];
  }

  box() {
    const w = this.w / this.k, h = this.h / this.k;
    return {x: this.cx - w / 2, y: this.cy - h / 2, w, h};
  }

  clamp() {
    const w = this.w / this.k, h = this.h / this.k;
    this.cx = Math.min(Math.max(this.cx, w / 2), this.w - w / 2);
    this.cy = Math.min(Math.max(this.cy, h / 2), this.h - h / 2);
  }

  apply() {
    if (!this.w) return;
    this.clamp();
    const b = this.box();
    this.svg.setAttribute("viewBox", `${b.x.toFixed(1)} ${b.y.toFixed(1)} ${b.w.toFixed(1)} ${b.h.toFixed(1)}`);
    this.svg.dataset.zoom = this.k.toFixed(2);
    this.onChange?.(this);
  }

  zoomAt(factor, point = null) {
    const k = Math.min(MAX_ZOOM, Math.max(1, this.k * factor));
    if (Math.abs(k - this.k) < 1e-6) return;
    const [px, py] = point || [this.cx, this.cy];
    // keep (px, py) at the same place of the view
    this.cx = px - (px - this.cx) * this.k / k;
    this.cy = py - (py - this.cy) * this.k / k;
    this.k = k;
    this.apply();
  }

  zoomIn() { this.zoomAt(STEP); }
  zoomOut() { this.zoomAt(1 / STEP); }
  reset() { this.k = 1; this.cx = this.w / 2; this.cy = this.h / 2; this.apply(); }

  // Bring a box of the layout into view (zoom 1 shows everything: nothing to do then).
  show(box) {
    if (!this.zoomed || !box) return;
    const v = this.box();
    if (box.x >= v.x && box.y >= v.y && box.x + box.w <= v.x + v.w && box.y + box.h <= v.y + v.h) return;
    this.cx = box.x + box.w / 2; this.cy = box.y + box.h / 2;
    this.apply();
  }

  pan(dx, dy) {
    this.cx += dx; this.cy += dy;
    this.apply();
  }

  wheel(ev) {
    if (!this.w) return;
    ev.preventDefault();
    const factor = Math.pow(STEP, -Math.sign(ev.deltaY || 0) * Math.min(3, Math.abs(ev.deltaY || 0) / 100 || 1));
    this.zoomAt(factor, this.toLayout(ev.clientX, ev.clientY));
  }

  down(ev) {
    this.dragged = false;
    if (ev.button !== 0 || !this.zoomed) return;
    this.drag = {x: ev.clientX, y: ev.clientY, cx: this.cx, cy: this.cy, id: ev.pointerId, moved: false};
  }

  move(ev) {
    const d = this.drag;
    if (!d || ev.pointerId !== d.id) return;
    const dx = ev.clientX - d.x, dy = ev.clientY - d.y;
    if (!d.moved && Math.hypot(dx, dy) < 5) return;
    if (!d.moved) { d.moved = true; try { this.svg.setPointerCapture(d.id); } catch (_) { /* gone */ } }
    const box = this.svg.getBoundingClientRect();
    const vb = this.box();
    const scale = Math.min(box.width / vb.w, box.height / vb.h) || 1;
    this.cx = d.cx - dx / scale; this.cy = d.cy - dy / scale;
    this.svg.classList.add("panning");
    this.apply();
  }

  up(ev) {
    const d = this.drag;
    if (!d || ev.pointerId !== d.id) return;
    this.drag = null;
    this.svg.classList.remove("panning");
    if (d.moved) this.dragged = true;
  }

  key(ev) {
    const tag = ev.target?.tagName;
    if (["INPUT", "TEXTAREA", "SELECT"].includes(tag) || ev.ctrlKey || ev.metaKey || ev.altKey || !this.w) return;
    if (ev.target?.isContentEditable) return;
    const step = () => (this.w / this.k) * 0.15;
    let done = true;
    if (ev.key === "+" || ev.key === "=") this.zoomIn();
    else if (ev.key === "-" || ev.key === "_") this.zoomOut();
    else if (ev.key === "0") this.reset();
    else if (ev.shiftKey && ev.key === "ArrowLeft") this.pan(-step(), 0);
    else if (ev.shiftKey && ev.key === "ArrowRight") this.pan(step(), 0);
    else if (ev.shiftKey && ev.key === "ArrowUp") this.pan(0, -step());
    else if (ev.shiftKey && ev.key === "ArrowDown") this.pan(0, step());
    else done = false;
    if (done) { ev.preventDefault(); ev.stopPropagation(); }
  }
}
