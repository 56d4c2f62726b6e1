// lesson.js — the lesson on the page: the narration panel above the diagram (the current step's
// words, "next step" beside "next hop", where the lesson stands) and the Lessons drawer (the library,
// reset, a teacher's own scenario file, export).
//
// The lesson's state comes from the server (GET /api/state, then the "lesson" socket message):
//   {name, state: idle|running|waiting|finished|failed, current,
//    steps: [{index, action, line, say: {en, ru}|null, pause, status, detail}]}
// Nothing here decides what the lesson does; the panel only shows it and sends the teacher's clicks.

import {h, clear, rich} from "./dom.js";
import {t, pick, lang} from "./i18n.js";
import * as api from "./api.js";
import {words} from "./labels.js";

const LEVELS = ["intro", "core", "advanced"];
const STEP_ICON = {pending: "", running: "…", waiting: "❚❚", passed: "✓", failed: "✗", done: "✓", skipped: "–"};
const FINAL = new Set(["finished", "failed", "stopped"]);
const WAITS = new Set(["ready", "waiting"]);      // the lesson waits for the teacher's "next step"

// A detail of a step (what an expectation wanted, what happened) as short lines of text.
function detailLines(detail) {
  if (!detail || typeof detail !== "object") return [];
  const out = [];
  for (const [key, value] of Object.entries(detail)) {
    if (value === null || value === undefined || value === "") continue;
    let text;
    if (typeof value === "object" && !Array.isArray(value) && ("en" in value || "ru" in value)) text = pick(value);
    else if (Array.isArray(value)) text = value.map((v) => (typeof v === "object" ? JSON.stringify(v) : String(v))).join(", ");
    else if (typeof value === "object") text = JSON.stringify(value);
    else text = String(value);
    out.push([key, text]);
  }
  return out;
}

// Which step the narration shows: the current one, or the last one before it that says something.
export function narratedStep(lesson) {
  const steps = lesson?.steps || [];
  if (!steps.length) return null;
  const current = Math.min(Math.max(0, Number(lesson.current) || 0), steps.length - 1);
  for (let i = current; i >= 0; i--) if (steps[i].say) return steps[i];
  return steps[current];
}

export class LessonPanel {
  constructor({root, pos, chips, state, text, result, nextStep, nextHop}, {teacher, onNextStep, onNextHop, onView}) {
    Object.assign(this, {root, pos, chips, stateEl: state, text, result, nextStep, nextHop});
    this.teacher = teacher;
    this.onView = onView;            // (index|null) the step looked at changed (the teacher leads with it)
    this.lesson = null;
    this.scenario = null;
    this.viewed = null;              // a step the user clicked (null: follow the lesson)
    nextStep.addEventListener("click", (ev) => { ev.currentTarget.blur(); onNextStep(); });
    nextHop.addEventListener("click", (ev) => { ev.currentTarget.blur(); onNextHop(); });
    chips.addEventListener("click", (ev) => {
      const chip = ev.target.closest?.("[data-step]");
      if (!chip) return;
      const index = Number(chip.dataset.step);
      this.view(this.viewed === index ? null : index, true);
    });
  }

  set(lesson, scenario = this.scenario) {
    const previous = this.lesson;
    this.lesson = lesson && Array.isArray(lesson.steps) ? lesson : null;
    this.scenario = scenario;
    // a new world, or the lesson moved on: show the current step again
    if (!previous || !this.lesson || previous.name !== this.lesson.name || previous.current !== this.lesson.current) {
      this.viewed = null;
    }
    this.render();
  }

  // Look at one step's narration (index), or follow the lesson again (null).
  view(index, byUser = false) {
    const steps = this.lesson?.steps || [];
    this.viewed = Number.isInteger(index) && index >= 0 && index < steps.length ? index : null;
    this.render();
    if (byUser) this.onView?.(this.viewed);
  }

  get shown() {
    if (!this.lesson) return null;
    if (this.viewed !== null) return this.lesson.steps[this.viewed] || null;
    return narratedStep(this.lesson);
  }

  render() {
    const lesson = this.lesson;
    const steps = lesson?.steps || [];
    this.root.hidden = !steps.length;
    document.body.dataset.lesson = lesson ? lesson.state : "none";
    document.body.dataset.lessonStep = lesson ? String(lesson.current) : "";
    if (!steps.length) return;
    const n = steps.length;
    const current = Math.min(Math.max(0, Number(lesson.current) || 0), n - 1);
    const shown = this.shown;
    this.pos.textContent = this.viewed !== null
      ? t("lesson.viewing", {k: this.viewed + 1, n})
      : t("lesson.position", {k: current + 1, n});
    this.root.dataset.state = lesson.state;
    this.root.dataset.current = String(current);
    this.root.dataset.shown = shown ? String(shown.index) : "";
    this.stateEl.textContent = t(`lesson.state.${lesson.state}`);
    this.stateEl.className = `narration-state state-${lesson.state}`;
    clear(this.chips);
    for (const step of steps) {
      const status = step.status || "pending";
      const cls = ["step-chip", `step-${status}`];
      if (step.index === current && !FINAL.has(lesson.state)) cls.push("current");
      if (shown && step.index === shown.index) cls.push("shown");
      const title = `${step.index + 1}. ${t(`lesson.action.${step.action}`)} — ${t(`lesson.status.${status}`)}` +
        (step.line ? ` (${t("lesson.line", {line: step.line})})` : "");
      this.chips.append(h("li", {},
        h("button", {type: "button", class: cls.join(" "), "data-step": step.index, "data-status": status,
          title, "aria-label": title}, STEP_ICON[status] || String(step.index + 1))));
    }
    clear(this.text);
    const words = shown?.say ? pick(shown.say) : "";
    this.text.dataset.lang = lang();
    if (words) this.text.append(...rich(words, {terms: true}));
    else if (shown) this.text.append(h("span", {class: "muted"}, t(`lesson.action.${shown.action}`)));
    this.renderResult(shown);
    const waiting = WAITS.has(lesson.state);
    this.nextStep.disabled = !waiting;
    this.nextStep.classList.toggle("ready", waiting);
  }

  // Under the narration: a failed step (what was expected, what happened: the narrator's words of
  // the fact that judged it), a passed check, or the outcome of the lesson.
  renderResult(shown) {
    clear(this.result);
    const lesson = this.lesson;
    const failed = lesson.steps.filter((s) => s.status === "failed");
    const target = shown?.status === "failed" ? shown : (lesson.state === "failed" ? failed[0] : null);
    if (target) {
      this.result.dataset.status = "failed";
      this.result.append(h("p", {class: "result-head status-failed"},
        t("lesson.failedAt", {k: target.index + 1, action: t(`lesson.action.${target.action}`), line: target.line})));
      this.result.append(...this.judged(target));
    } else if (shown?.status === "passed" && shown.action === "expect") {
      this.result.dataset.status = "passed";
      this.result.append(h("p", {class: "result-head status-ok"}, t("lesson.passed")), ...this.judged(shown));
    } else if (lesson.state === "finished") {
      this.result.dataset.status = "finished";
      const checks = lesson.steps.filter((s) => s.action === "expect");
      this.result.append(h("p", {class: "result-head status-ok"}, checks.length
        ? t("lesson.finished", {passed: checks.filter((s) => s.status === "passed").length, n: checks.length})
        : t("lesson.finished.plain")));
    }
    this.result.hidden = !this.result.childNodes.length;
  }

  // What the judging fact says (its words), or, without words, the step's raw detail.
  // (A passed check: its summary; a failed step: the explanation too.)
  judged(step) {
    if (step.text) {
      const said = words(step);
      const explain = step.status === "failed" && said.explain && said.explain !== said.summary;
      return [h("p", {class: "result-words"}, ...rich(said.summary)),
        explain ? h("p", {class: "result-explain"}, ...rich(said.explain, {terms: true})) : null].filter(Boolean);
    }
    const list = h("dl", {class: "result-detail"});
    for (const [key, text] of detailLines(step.detail)) {
      const label = t(`lesson.detail.${key}`);
      list.append(h("dt", {}, label.startsWith("lesson.detail.") ? key : label), h("dd", {}, text));
    }
    return list.childNodes.length ? [list] : [];
  }
}

// -- the Lessons drawer -------------------------------------------------------------------------------
export class LessonDrawer {
  constructor({drawer, toggle, close, body, current, library, file, fileButton, problems, reset}, {teacher, notify, onOpen}) {
    Object.assign(this, {drawer, toggleButton: toggle, body, currentEl: current, libraryEl: library,
      fileInput: file, problemsEl: problems, resetButton: reset});
    this.teacher = teacher;
    this.notify = notify;
    this.onOpen = onOpen;
    this.lessons = null;
    this.scenario = null;
    this.problems = null;        // the last scenario file's problems {file, problems: [...]}
    this.busy = false;
    toggle.addEventListener("click", () => this.setOpen(drawer.hidden));
    close.addEventListener("click", () => this.setOpen(false));
    fileButton.addEventListener("click", () => file.click());
    file.addEventListener("change", () => this.openFile());
    reset.addEventListener("click", () => this.reset());
    library.addEventListener("click", (ev) => {
      const button = ev.target.closest?.("button[data-load]");
      if (button) this.load(button.dataset.load);
    });
  }

  get open() { return !this.drawer.hidden; }

  async setOpen(open) {
    this.drawer.hidden = !open;
    this.toggleButton.setAttribute("aria-expanded", String(open));
    if (!open) return;
    this.onOpen?.();
    this.render();
    await this.refresh();
  }

  async refresh() {
    try {
      const data = await api.get("/api/lessons");
      this.lessons = data.lessons || [];
      this.currentName = data.current;
    } catch (err) {
      this.lessons = [];
      this.unavailable = err.message;
    }
    this.render();
  }

  setScenario(scenario) {
    this.scenario = scenario;
    if (this.open) this.render();
  }

  render() {
    if (!this.open) return;
    this.renderCurrent();
    this.renderProblems();
    this.renderLibrary();
  }

  renderCurrent() {
    clear(this.currentEl);
    const s = this.scenario;
    if (!s) return;
    this.currentEl.append(...[
      h("div", {class: "lesson-card-head"}, h("h3", {}, pick(s.title)), levelBadge(s.level)),
      h("p", {class: "lesson-summary"}, ...rich(pick(s.summary), {terms: true})),
      goalsList(s.goals)].filter(Boolean));
  }

  renderProblems() {
    clear(this.problemsEl);
    const p = this.problems;
    this.problemsEl.hidden = !p;
    if (!p) return;
    this.problemsEl.append(h("p", {class: "problems-head"}, t("lesson.file.problems", {file: p.file, n: p.problems.length})));
    const list = h("ol", {class: "problem-list"});
    for (const item of p.problems) {
      list.append(h("li", {"data-line": item.line, "data-field": item.field},
        h("code", {class: "where"}, `${item.file}:${item.line}`), " ",
        item.field ? h("code", {class: "field"}, item.field) : null, " ",
        h("span", {class: "message"}, item.message)));
    }
    this.problemsEl.append(list, h("p", {class: "hint"}, t("lesson.file.untouched")));
  }

  renderLibrary() {
    clear(this.libraryEl);
    if (this.lessons === null) { this.libraryEl.append(h("p", {class: "hint"}, t("mailbox.loading"))); return; }
    if (!this.lessons.length) {
      this.libraryEl.append(h("p", {class: "hint"}, this.unavailable || t("lesson.library.empty")));
      return;
    }
    const groups = new Map(LEVELS.map((level) => [level, []]));
    for (const lesson of this.lessons) {
      const level = LEVELS.includes(lesson.level) ? lesson.level : "other";
      if (!groups.has(level)) groups.set(level, []);
      groups.get(level).push(lesson);
    }
    for (const [level, lessons] of groups) {
      if (!lessons.length) continue;
      const section = h("section", {class: "lesson-group", "data-level": level}, h("h3", {}, t(`lesson.level.${level}`)));
      const list = h("ul", {class: "lesson-list"});
      for (const lesson of lessons) list.append(this.card(lesson));
      section.append(list);
      this.libraryEl.append(section);
    }
  }

  card(lesson) {
    const current = lesson.name === this.scenario?.name;
    const load = this.teacher
      ? h("button", {type: "button", class: current ? "btn btn-small" : "btn btn-small btn-primary", "data-load": lesson.name,
        disabled: this.busy}, current ? t("lesson.reload") : t("lesson.load"))
      : null;
    return h("li", {class: current ? "lesson-card current" : "lesson-card", "data-lesson": lesson.name},
      h("div", {class: "lesson-card-head"}, h("h4", {}, pick(lesson.title)), levelBadge(lesson.level),
        h("span", {class: "muted steps-count"}, t("lesson.steps", {n: lesson.steps || 0})), load),
      h("p", {class: "lesson-summary"}, ...rich(pick(lesson.summary))),
      goalsList(lesson.goals));
  }

  async run(what, fn) {
    if (this.busy) return null;
    this.busy = true;
    document.body.dataset.swapping = "yes";
    this.render();
    try {
      return await fn();
    } catch (err) {
      if (err.data?.problems) {
        this.problems = {file: err.data.problems[0]?.file || "", problems: err.data.problems};
        this.renderProblems();
      }
      this.notify(err.message, true);
      return null;
    } finally {
      this.busy = false;
      delete document.body.dataset.swapping;
      this.render();
    }
  }

  async load(name) {
    const reply = await this.run("load", () => api.call("POST", "/api/lesson", {name}));
    if (reply) {
      this.problems = null;
      this.notify(() => t("lesson.loaded", {title: pick(reply.scenario?.title) || name}), false);
      this.setOpen(false);
    }
  }

  async reset() {
    const reply = await this.run("reset", () => api.call("POST", "/api/reset", {}));
    if (reply) this.notify(() => t("lesson.resetDone"), false);
  }

  async openFile() {
    const file = this.fileInput.files?.[0];
    this.fileInput.value = "";
    if (!file) return;
    let text;
    try {
      text = await file.text();
    } catch (err) {
      this.notify(err.message, true);
      return;
    }
    this.problems = null;
    const reply = await this.run("file", () => api.call("POST", "/api/scenario", {text, filename: file.name}));
    if (reply) {
      this.notify(() => t("lesson.loaded", {title: pick(reply.scenario?.title) || file.name}), false);
      this.renderProblems();
      this.setOpen(false);
    }
  }
}

function levelBadge(level) {
  if (!level) return null;
  return h("span", {class: `level-badge level-${level}`}, t(`lesson.level.${level}`));
}

function goalsList(goals) {
  const items = goals ? (goals[lang()] || goals.en || []) : [];
  if (!items.length) return null;
  return h("div", {class: "lesson-goals"}, h("span", {class: "goals-head"}, t("lesson.goals")),
    h("ul", {}, ...items.map((g) => h("li", {}, ...rich(g)))));
}
