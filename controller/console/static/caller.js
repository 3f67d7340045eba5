// Web caller: the keypad's operations for a clerk without one, on one window.
"use strict";
(async () => {
  const { h, STATE_LABELS } = HC;
  const { hall } = await HC.start("网页呼叫器");
  const main = document.getElementById("main");
  const view = await HC.api(`/api/v1/halls/${hall.id}`);
  const wanted = Number(new URLSearchParams(location.search).get("window")) || view.windows[0].number;
  const pick = HC.labelled(h("select", { id: "window" }, view.windows.map(w => h("option", { value: w.number, selected: w.number === wanted }, `${w.number} ${w.name}`))), "窗口");
  const staff = HC.labelled(h("input", { id: "staff", size: 8, placeholder: "工号", inputmode: "numeric" }), "工号");
  const number = HC.labelled(h("input", { id: "number", size: 6, placeholder: "号码" }), "指呼或回呼的号码");
  const toService = HC.labelled(h("select", { id: "to-service" }, view.services.map(s => h("option", { value: s.id }, `${s.prefix} ${s.name}`))), "转至业务");
  const status = h("div", { class: "win", id: "status" });
  const waiting = h("p", { id: "waiting", class: "muted" });
  const w = () => Number(pick.value);
  const send = (body, text) => HC.command(hall.id, { ...body, window: w() }, text);
  const btn = (label, type, extra) => h("button", { "data-op": type, onclick: () => send({ type, ...(extra ? extra() : {}) }, label) }, label);
  main.append(h("section", { class: "card" }, "窗口 ", pick, " ", staff, " ", btn("登录", "login", () => ({ staff: staff.value })), " ",
      btn("登出", "logout")),
    h("section", { class: "card" }, status, waiting),
    h("section", { class: "card" },
      h("p", {}, btn("呼叫下一位", "call_next"), " ", btn("重呼", "recall"), " ", btn("开始办理", "start"), " ",
        btn("办结", "finish"), " ", btn("过号", "no_show"), " ", btn("挂起", "suspend")),
      h("p", {}, number, " ", btn("指呼", "call_number", () => ({ number: number.value.trim().toUpperCase() })), " ",
        btn("回呼", "call_back", () => ({ number: number.value.trim().toUpperCase() }))),
      h("p", {}, toService, " ", btn("转移", "transfer", () => ({ to_service: toService.value }))),
      h("p", {}, btn("暂停服务", "pause", () => ({ after_current: true })), " ", btn("恢复服务", "resume"))));
  let last = null;
  function draw() {
    if (!last) return;
    const win = last.hall.windows.find(x => x.number === w());
    if (!win) return;
    status.className = `win ${win.state}`;
    status.replaceChildren(h("div", { class: "n" }, `${win.number} ${win.name}`),
      h("div", { class: "t" }, win.ticket || STATE_LABELS[win.state]),
      h("small", {}, `${STATE_LABELS[win.state]} · ${win.staff_name || "未登录"}` + (win.pause_pending ? " · 办完当前号后暂停" : "") + (win.suspended.length ? ` · 挂起：${win.suspended.join("、")}` : "")));
    const count = last.hall.services.filter(s => win.services.includes(s.id)).reduce((a, s) => a + s.waiting, 0);
    waiting.textContent = `本窗口可叫等候人数：${count}`;
  }
  pick.addEventListener("change", () => { history.replaceState(null, "", `?hall=${hall.id}&window=${pick.value}`); draw(); });
  HC.live(hall.id, { picture: p => { last = p; draw(); } });
})();
