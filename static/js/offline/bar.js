// offline/bar.js — the replay's controls in the exported page's top bar: what this file is, from
// the start, play / pause, show all, speed, and how far the replay has got.  Static words carry
// data-i18n (the page's i18n.applyStatic() translates them with everything else); the rest is
// drawn again on every replay change and language change.  Text only, never HTML (dom.js).
import {h} from "../dom.js";
import {t, lang, pick, onLangChange} from "../i18n.js";
import {DATA} from "./data.js";
import {replay, SPEEDS} from "./replay.js";

const label = (key, fallback) => h("span", {class: "label", "data-i18n": key}, fallback);

export function mountBar() {
  const play = h("button", {type: "button", id: "offline-play", class: "btn"});
  const restart = h("button", {type: "button", id: "offline-restart", class: "btn", "data-i18n-title": "offline.restart.hint",
    "data-i18n-aria": "offline.restart"},
    h("span", {"aria-hidden": "true"}, "⟲"), " ", label("offline.restart", "From the start"));
  const all = h("button", {type: "button", id: "offline-all", class: "btn", "data-i18n-title": "offline.all.hint",
    "data-i18n-aria": "offline.all"},
    h("span", {"aria-hidden": "true"}, "»"), " ", label("offline.all", "Show all"));
  const speed = h("select", {id: "offline-speed", "data-i18n-title": "offline.speed"},
    ...Object.keys(SPEEDS).map((name) => h("option", {value: name, "data-i18n": `offline.speed.${name}`}, name)));
  speed.value = replay.speed;
  const progress = h("span", {id: "offline-progress", class: "offline-progress", "aria-live": "off"});
  const badge = h("span", {id: "offline-badge", class: "offline-badge", "data-i18n": "offline.badge"}, "Saved copy");
  const what = h("span", {id: "offline-what", class: "offline-what"});
  const bar = h("div", {id: "offline-bar", class: "group offline-bar", role: "group", "data-i18n-aria": "offline.controls"},
    badge, restart, play, all, speed, progress, what);

  play.addEventListener("click", () => (replay.playing ? replay.pause() : replay.play()));
  restart.addEventListener("click", () => replay.restart());
  all.addEventListener("click", () => replay.showAll());
  speed.addEventListener("change", () => replay.setSpeed(speed.value));

  const brand = document.querySelector(".topbar .brand");
  if (brand) brand.after(bar);
  else document.body.prepend(bar);

  const render = () => {
    const playing = replay.playing;
    const word = t(playing ? "offline.pause" : "offline.play");
    play.replaceChildren(h("span", {"aria-hidden": "true"}, playing ? "❚❚" : "▶"), " ", h("span", {class: "label"}, word));
    play.setAttribute("aria-label", word);
    play.title = word;
    play.setAttribute("aria-pressed", String(playing));
    play.disabled = replay.finished;
    progress.textContent = t("offline.progress", {shown: replay.shown, total: replay.total});
    bar.dataset.state = replay.finished ? "finished" : playing ? "playing" : "paused";
    const saved = DATA ? new Date(DATA.saved_at).toLocaleString(lang() === "ru" ? "ru-RU" : "en-GB") : "";
    badge.title = DATA ? t("offline.saved", {date: saved, title: pick(DATA.scenario.title)}) : t("offline.broken");
    what.textContent = DATA && DATA.trace ? t("offline.trace", {label: DATA.trace.label}) : "";
    what.hidden = !(DATA && DATA.trace);
  };
  replay.onChange(render);
  onLangChange(render);
  render();
  return bar;
}
