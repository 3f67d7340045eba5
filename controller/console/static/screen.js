// Hall screen for a TV: latest calls, waiting per service, scrolling notice, and the voice.
// Announcements are queued and played one after the other: a new call never cuts one off.
// The queue stays short and current: a newer call of the same number (a recall) replaces the
// pending one; a call whose window has moved on (started, finished, 过号, next call) is dropped;
// anything older than MAX_AGE is dropped. Dropped items are kept in `dropped` (tests read it).
"use strict";
(async () => {
  const { h } = HC;
  const { hall } = await HC.start("大厅屏", true);
  const params = new URLSearchParams(location.search);
  const MAX_AGE_MS = 1000 * (Number(params.get("voice_max_age")) || 60);
  const queue = [];
  let playing = null, soundOn = false, windows = new Map(), clock = 0;
  const played = [];  // finished announcements in order, with times (tests check no overlap)
  const dropped = [];  // {text, why}: replaced, moved_on, too_old
  window.hallScreen = { queue, played, dropped, get playing() { return playing; }, maxAgeMs: MAX_AGE_MS };
  const soundButton = document.getElementById("sound");

  function drop(i, why) { dropped.push({ text: queue[i].text, why }); queue.splice(i, 1); }

  // Still worth saying: young enough, and its window is still calling that number.
  function prune() {
    const now = Date.now();
    for (let i = queue.length - 1; i >= 0; i--) {
      const item = queue[i], w = windows.get(item.window);
      if (now - item.received > MAX_AGE_MS) drop(i, "too_old");
      else if (w && clock >= item.at && !(w.state === "calling" && w.ticket === item.number)) drop(i, "moved_on");
    }
  }

  function announce(call) {
    for (let i = queue.length - 1; i >= 0; i--) if (queue[i].number === call.number) drop(i, "replaced");
    const q = new URLSearchParams({ number: call.number, window: String(call.window), recall: call.recall ? "1" : "0" });
    queue.push({ number: call.number, window: call.window, at: call.at, received: Date.now(),
      url: `/api/v1/halls/${hall.id}/voice.wav?${q}`, text: `${call.number} → ${call.window}` + (call.recall ? " 重呼" : "") });
    playNext();
  }

  function playNext() {
    prune();
    if (playing || !queue.length || !soundOn) return;
    const item = queue.shift();
    playing = item;
    const audio = new Audio(item.url);
    const started = performance.now();
    const done = ev => {
      playing = null;
      played.push({ text: item.text, number: item.number, start: started, end: performance.now(), ok: ev.type === "ended" });
      setTimeout(playNext, 400);
    };
    audio.addEventListener("ended", done, { once: true });
    audio.addEventListener("error", done, { once: true });
    audio.play().catch(() => {  // autoplay refused: ask for one click, keep the queue
      playing = null; queue.unshift(item); soundOn = false; soundButton.hidden = false;
    });
  }

  soundButton.addEventListener("click", () => { soundOn = true; soundButton.hidden = true; playNext(); });
  // A TV browser started with --autoplay-policy=no-user-gesture-required needs no click.
  soundOn = true; soundButton.hidden = true;
  setInterval(prune, 1000);

  // Citizens look for the window's number; the configured name may not contain it.
  const where = c => (c.window_name.includes("号窗口") ? c.window_name : `${c.window}号窗口（${c.window_name}）`);
  const cell = (text, cls) => h("td", { class: cls, title: text }, text);

  function draw(p) {
    windows = new Map(p.hall.windows.map(w => [w.number, w]));
    clock = p.hall.clock_ms;
    prune();
    const [latest] = p.calls;
    document.getElementById("now-number").textContent = latest ? latest.number : "——";
    document.getElementById("now-window").textContent = latest ? `请到 ${where(latest)} 办理` + (latest.recall ? "（重呼）" : "") : "";
    document.getElementById("calls").replaceChildren(
      h("thead", {}, h("tr", {}, h("th", { class: "num" }, "号码"), h("th", {}, "窗口"))),
      h("tbody", {}, p.calls.slice(0, 8).map(c => h("tr", { class: c.recall ? "recall" : "" }, cell(c.number, "num"), cell(where(c))))));
    document.getElementById("waiting").replaceChildren(
      h("thead", {}, h("tr", {}, h("th", {}, "业务"), h("th", { class: "num" }, "等候"))),
      h("tbody", {}, p.hall.services.map(s => h("tr", {}, cell(s.name), cell(String(s.waiting), "num")))));
    showStaff(latest && p.hall.windows.find(w => w.number === latest.window));
    const notice = document.getElementById("notice");
    if (notice.textContent !== p.notice) notice.textContent = p.notice;
  }

  // 亮牌: the clerk of the window just called, photo, name and 工号.
  function showStaff(w) {
    const card = document.getElementById("now-staff"), photo = document.getElementById("now-photo");
    card.hidden = !(w && w.staff);
    if (card.hidden) return;
    document.getElementById("now-staff-name").textContent = `${w.staff_name || ""}（工号 ${w.staff}）`;
    const src = `/api/v1/halls/${encodeURIComponent(hall.id)}/staff/${encodeURIComponent(w.staff)}/photo`;
    photo.hidden = !w.staff_photo;
    if (w.staff_photo && photo.getAttribute("src") !== src) photo.setAttribute("src", src);
  }

  HC.live(hall.id, { picture: draw, call: announce });
})();
