// Actions: windows (open, close, pause, log staff out, services), tickets (transfer, cancel,
// reprint), and the notice on LED strips, hall screens and kiosks. Every button is one API call.
"use strict";
(async () => {
  const { h, STATE_LABELS } = HC;
  const { hall } = await HC.start("操作");
  const main = document.getElementById("main");
  const config = await HC.api(`/api/v1/halls/${hall.id}`);
  const services = config.services;
  const devices = await HC.api(`/api/v1/halls/${hall.id}/devices`);
  const kiosks = devices.filter(d => d.kind === "kiosk");
  const windowsBox = h("div", { id: "windows" });
  const ticketsBox = h("div", { id: "tickets" });
  const noticeInput = h("input", { id: "notice-text", size: 60, maxlength: 200, placeholder: "滚动通知内容（留空恢复默认）" });
  main.append(
    h("section", { class: "card" }, h("h2", {}, "通知（LED 条屏、大厅屏、取号机）"), noticeInput, " ",
      h("button", { class: "primary", id: "notice-send", onclick: () => HC.act(`/api/v1/halls/${hall.id}/notice`,
        { text: noticeInput.value }, "通知已推送") }, "推送")),
    h("section", { class: "card" }, h("h2", {}, "窗口"), windowsBox),
    h("section", { class: "card" }, h("h2", {}, "等候中的号票"), ticketsBox));
  const cmd = (body, text) => HC.command(hall.id, body, text);

  function staffPicker() {
    return h("input", { size: 6, placeholder: "工号" });
  }

  function windowRow(w) {
    const staff = staffPicker();
    const serviceBoxes = services.map(s => h("label", {}, h("input", { type: "checkbox", value: s.id,
      checked: w.services.includes(s.id) }), s.prefix));
    const b = (label, body, id) => h("button", { "data-action": id, onclick: () => cmd(body, `${w.number}号窗口：${label}`) }, label);
    return h("tr", { "data-window": w.number },
      h("td", {}, `${w.number} ${w.name}`), h("td", { class: "state" }, STATE_LABELS[w.state]),
      h("td", {}, w.staff_name ? `${w.staff_name}（${w.staff}）` : "-"), h("td", {}, w.ticket || "-"),
      h("td", {},
        w.state === "logged_out"
          ? [staff, h("button", { "data-action": "open", onclick: () => cmd({ type: "login", window: w.number, staff: staff.value }, "已开窗") }, "开窗")]
          : [w.state === "paused" ? b("恢复", { type: "resume", window: w.number }, "resume") : b("暂停", { type: "pause", window: w.number }, "pause"),
             b("关窗/签退", { type: "logout", window: w.number }, "logout")]),
      h("td", {}, serviceBoxes, h("button", { "data-action": "services", onclick: () => {
        const chosen = serviceBoxes.map(l => l.firstChild).filter(c => c.checked).map(c => ({ service: c.value, weight: 1 }));
        cmd({ type: "set_window_services", window: w.number, services: chosen }, "业务已调整");
      } }, "保存业务")));
  }

  function ticketRow(t) {
    const to = h("select", {}, h("option", { value: "" }, "转至…"),
      services.map(s => h("option", { value: "s:" + s.id }, `业务 ${s.prefix} ${s.name}`)),
      config.windows.map(w => h("option", { value: "w:" + w.number }, `窗口 ${w.number}`)));
    const kiosk = h("select", {}, kiosks.map(k => h("option", { value: k.id }, k.id)));
    return h("tr", { "data-ticket": t.number },
      h("td", {}, t.number), h("td", {}, t.service), h("td", {}, HC.time(t.issued_at)),
      h("td", {}, to, h("button", { onclick: () => {
        if (!to.value) return;
        const [k, v] = to.value.split(":");
        cmd(k === "s" ? { type: "transfer_ticket", ticket: t.id, to_service: v }
                      : { type: "transfer_ticket", ticket: t.id, to_window: Number(v) }, `${t.number} 已转移`).then(load);
      } }, "转移")),
      h("td", {}, h("button", { onclick: () => cmd({ type: "cancel_ticket", ticket: t.id, reason: "控制台取消" }, `${t.number} 已取消`).then(load) }, "取消")),
      h("td", {}, kiosks.length ? [kiosk, h("button", { onclick: () =>
        HC.act(`/api/v1/halls/${hall.id}/tickets/${t.id}/reprint`, { kiosk: kiosk.value }, `${t.number} 已重打`) }, "重打")] : "-"));
  }

  async function load() {
    const tickets = await HC.api(`/api/v1/halls/${hall.id}/tickets?state=waiting&limit=100`);
    ticketsBox.replaceChildren(HC.table(["号码", "业务", "取号时间", "转移", "取消", "重打"], tickets.map(ticketRow)));
  }

  let lastWindows = "";
  HC.live(hall.id, { picture: p => {
    const key = JSON.stringify(p.hall.windows.map(w => [w.number, w.state, w.staff, w.ticket, w.services]));
    const focus = document.activeElement;  // don't redraw under someone typing a 工号
    const typing = windowsBox.contains(focus) && ["INPUT", "SELECT"].includes(focus.tagName);
    if (key !== lastWindows && !typing) {
      lastWindows = key;
      windowsBox.replaceChildren(HC.table(["窗口", "状态", "人员", "当前号", "操作", "办理业务"], p.hall.windows.map(windowRow)));
    }
    if (noticeInput.value === "" && document.activeElement !== noticeInput) noticeInput.placeholder = `当前：${p.notice}`;
  } });
  load();
  setInterval(load, 5000);
})();
