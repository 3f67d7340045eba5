// Hall screen for a TV: latest calls, waiting per service, scrolling notice, and the voice.
// Announcements are queued and played one after the other: a new call never cuts one off.
"use strict";
(async () => {
  const { h } = HC;
  const { hall } = await HC.start("大厅屏", true);
  const queue = [];
  let playing = false, soundOn = false;
  const played = [];  // finished announcements in order, with times (tests check no overlap)
  window.hallScreen = { queue, played, get playing() { return playing; } };
  const soundButton = document.getElementById("sound");

  function announce(call) {
    const q = new URLSearchParams({ number: call.number, window: String(call.window), recall: call.recall ? "1" : "0" });
    queue.push({ url: `/api/v1/halls/${hall.id}/voice.wav?${q}`, text: `${call.number} → ${call.window}` + (call.recall ? " 重呼" : "") });
    playNext();
  }

  function playNext() {
    if (playing || !queue.length || !soundOn) return;
    const item = queue.shift();
    playing = true;
    const audio = new Audio(item.url);
    const started = performance.now();
    const done = ev => {
      playing = false;
      played.push({ text: item.text, start: started, end: performance.now(), ok: ev.type === "ended" });
      setTimeout(playNext, 400);
    };
    audio.addEventListener("ended", done, { once: true });
    audio.addEventListener("error", done, { once: true });
    audio.play().catch(() => {  // autoplay refused: ask for one click, keep the queue
      playing = false; queue.unshift(item); soundOn = false; soundButton.hidden = false;
    });
  }

  soundButton.addEventListener("click", () => { soundOn = true; soundButton.hidden = true; playNext(); });
  // A TV browser started with --autoplay-policy=no-user-gesture-required needs no click.
  soundOn = true; soundButton.hidden = true;

  // Citizens look for the window's number; the configured name may not contain it.
  const where = c => (c.window_name.includes("号窗口") ? c.window_name : `${c.window}号窗口（${c.window_name}）`);

  function draw(p) {
    const [latest] = p.calls;
    document.getElementById("now-number").textContent = latest ? latest.number : "——";
    document.getElementById("now-window").textContent = latest ? `请到 ${where(latest)} 办理` + (latest.recall ? "（重呼）" : "") : "";
    document.getElementById("calls").replaceChildren(h("tr", {}, h("th", {}, "号码"), h("th", {}, "窗口")),
      ...p.calls.slice(0, 8).map(c => h("tr", { class: c.recall ? "recall" : "" }, h("td", {}, c.number), h("td", {}, where(c)))));
    document.getElementById("waiting").replaceChildren(h("tr", {}, h("th", {}, "业务"), h("th", {}, "等候人数")),
      ...p.hall.services.map(s => h("tr", {}, h("td", {}, s.name), h("td", {}, s.waiting))));
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
