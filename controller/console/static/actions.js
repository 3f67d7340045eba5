// Actions: windows (open, close, pause now or after the current ticket, services), tickets
// (search, transfer, cancel with confirmation, reprint), and the notice on LED strips, hall
// screens and kiosks. Every button is one API call.
"use strict";
(async () => {
  const { h, STATE_LABELS, labelled } = HC;
  const { hall } = await HC.start("操作");
  const main = document.getElementById("main");
  const config = await HC.api(`/api/v1/halls/${hall.id}`);
  const services = config.services;
  const devices = await HC.api(`/api/v1/halls/${hall.id}/devices`);
  const kiosks = devices.filter(d => d.kind === "kiosk");
  const LIMIT = 100;
  const PAUSE_REASONS = ["午休", "临时离开", "业务培训", "系统故障", "其他"];
  const windowsBox = h("div", { id: "windows" });
  const ticketsBox = h("div", { id: "tickets" });
  const ticketsNote = h("p", { id: "tickets-note", class: "muted", role: "status" });
  const search = h("input", { id: "ticket-search", type: "search", size: 10, maxlength: 20, placeholder: "如 A02" });
  const noticeInput = h("input", { id: "notice-text", size: 60, maxlength: 200, placeholder: "滚动通知内容（留空恢复默认）" });
  main.append(
    h("section", { class: "card" }, h("h2", {}, h("label", { for: "notice-text" }, "通知（LED 条屏、大厅屏、取号机）")), noticeInput, " ",
      h("button", { class: "primary", id: "notice-send", onclick: () => HC.act(`/api/v1/halls/${hall.id}/notice`,
        { text: noticeInput.value }, "通知已推送") }, "推送")),
    h("section", { class: "card" }, h("h2", {}, "窗口"), windowsBox),
    h("section", { class: "card" }, h("h2", {}, "等候中的号票"),
      h("p", {}, h("label", { for: "ticket-search" }, "查找号码 "), search), ticketsNote, ticketsBox));
  const cmd = (body, text) => HC.command(hall.id, body, text);

  function pauseControls(w) {
    const where = `${w.number}号窗口`;
    if (w.state === "paused")
      return [h("span", { class: "muted" }, w.pause_reason ? `暂停：${w.pause_reason} ` : ""),
        h("button", { "data-action": "resume", onclick: () => cmd({ type: "resume", window: w.number }, `${where}：已恢复`) }, "恢复")];
    if (w.pause_pending)
      return [h("span", { class: "pending" }, `办完当前号后暂停${w.pause_reason ? "（" + w.pause_reason + "）" : ""} `),
        h("button", { "data-action": "withdraw", onclick: () => cmd({ type: "resume", window: w.number }, `${where}：已取消暂停`) }, "取消暂停")];
    const reason = labelled(h("select", { "data-field": "reason" }, PAUSE_REASONS.map(r => h("option", { value: r }, r))), `${where}暂停原因`);
    const busy = w.state === "calling" || w.state === "serving";
    return [reason, h("button", { "data-action": "pause", onclick: () => cmd({ type: "pause", window: w.number,
      after_current: busy, reason: reason.value }, busy ? `${where}：办完当前号后暂停` : `${where}：已暂停`) },
      busy ? "办完当前号后暂停" : "暂停")];
  }

  function windowRow(w) {
    const where = `${w.number}号窗口`;
    const staff = labelled(h("input", { size: 6, placeholder: "工号", inputmode: "numeric" }), `${where}登录工号`);
    const serviceBoxes = services.map(s => h("label", { title: s.name }, h("input", { type: "checkbox", value: s.id,
      checked: w.services.includes(s.id) }), s.prefix));
    return h("tr", { "data-window": w.number },
      h("td", {}, `${w.number} ${w.name}`), h("td", { class: "state" }, STATE_LABELS[w.state]),
      h("td", {}, w.staff_name ? `${w.staff_name}（${w.staff}）` : "-"), h("td", {}, w.ticket || "-"),
      h("td", {},
        w.state === "logged_out"
          ? [staff, h("button", { "data-action": "open", onclick: () => cmd({ type: "login", window: w.number, staff: staff.value }, `${where}：已开窗`) }, "开窗")]
          : [...pauseControls(w), " ",
             h("button", { "data-action": "logout", onclick: () => cmd({ type: "logout", window: w.number }, `${where}：已签退`) }, "关窗/签退")]),
      h("td", {}, h("span", { role: "group", "aria-label": `${where}办理业务` }, serviceBoxes),
        h("button", { "data-action": "services", onclick: () => {
          const chosen = serviceBoxes.map(l => l.firstChild).filter(c => c.checked).map(c => ({ service: c.value, weight: 1 }));
          cmd({ type: "set_window_services", window: w.number, services: chosen }, `${where}：业务已调整`);
        } }, "保存业务")));
  }

  function ticketRow(t) {
    const to = labelled(h("select", { "data-field": "transfer" }, h("option", { value: "" }, "转至…"),
      services.map(s => h("option", { value: "s:" + s.id }, `业务 ${s.prefix} ${s.name}`)),
      config.windows.map(w => h("option", { value: "w:" + w.number }, `窗口 ${w.number}`))), `${t.number} 转至`);
    const kiosk = labelled(h("select", {}, kiosks.map(k => h("option", { value: k.id }, k.id))), `${t.number} 重打用取号机`);
    return h("tr", { "data-ticket": t.number },
      h("td", {}, t.number), h("td", {}, t.service), h("td", {}, HC.time(t.issued_at)),
      h("td", {}, to, h("button", { onclick: () => {
        if (!to.value) return;
        const [k, v] = to.value.split(":");
        cmd(k === "s" ? { type: "transfer_ticket", ticket: t.id, to_service: v }
                      : { type: "transfer_ticket", ticket: t.id, to_window: Number(v) }, `${t.number} 已转移`).then(() => load(true));
      } }, "转移")),
      h("td", {}, h("button", { "data-action": "cancel", onclick: () => {
        if (!confirm(`确定取消号票 ${t.number}？取消后群众需要重新取号。`)) return;
        cmd({ type: "cancel_ticket", ticket: t.id, reason: "控制台取消" }, `${t.number} 已取消`).then(() => load(true));
      } }, "取消")),
      h("td", {}, kiosks.length ? [kiosk, h("button", { onclick: () =>
        HC.act(`/api/v1/halls/${hall.id}/tickets/${t.id}/reprint`, { kiosk: kiosk.value }, `${t.number} 已重打`) }, "重打")] : "-"));
  }

  // The list is redrawn only when it changed, and never under someone choosing a transfer target.
  let lastTickets = "", waitingTotal = null;
  function busyWithTickets() {
    const focus = document.activeElement;
    return (ticketsBox.contains(focus) && ["INPUT", "SELECT", "BUTTON"].includes(focus.tagName))
      || [...ticketsBox.querySelectorAll("select[data-field=transfer]")].some(s => s.value);
  }
  async function load(force) {
    const q = search.value.trim();
    const tickets = await HC.api(`/api/v1/halls/${hall.id}/tickets?state=waiting&limit=${LIMIT}` + (q ? `&q=${encodeURIComponent(q)}` : ""));
    const key = JSON.stringify(tickets.map(t => t.id));
    if (!force && (key === lastTickets || busyWithTickets())) { note(tickets.length, q); return; }
    lastTickets = key;
    ticketsBox.replaceChildren(HC.table(["号码", "业务", "取号时间", "转移", "取消", "重打"], tickets.map(ticketRow)));
    note(tickets.length, q);
  }
  function note(shown, q) {
    if (q) ticketsNote.textContent = shown >= LIMIT ? `找到 ${LIMIT} 张以上，只显示最早的 ${LIMIT} 张，请输入更多号码` : `找到 ${shown} 张`;
    else if (waitingTotal !== null && waitingTotal > shown)
      ticketsNote.textContent = `共 ${waitingTotal} 张等候，显示最早的 ${shown} 张（另有 ${waitingTotal - shown} 张未显示，可按号码查找）`;
    else ticketsNote.textContent = `共 ${shown} 张等候`;
  }
  let typingTimer;
  search.addEventListener("input", () => { clearTimeout(typingTimer); typingTimer = setTimeout(() => load(true), 250); });

  let lastWindows = "";
  HC.live(hall.id, { picture: p => {
    waitingTotal = p.hall.services.reduce((a, s) => a + s.waiting, 0);
    const key = JSON.stringify(p.hall.windows.map(w => [w.number, w.state, w.staff, w.ticket, w.services, w.pause_pending, w.pause_reason]));
    const focus = document.activeElement;  // don't redraw under someone typing a 工号
    const typing = windowsBox.contains(focus) && ["INPUT", "SELECT"].includes(focus.tagName);
    if (key !== lastWindows && !typing) {
      lastWindows = key;
      windowsBox.replaceChildren(HC.table(["窗口", "状态", "人员", "当前号", "操作", "办理业务"], p.hall.windows.map(windowRow)));
    }
    if (noticeInput.value === "" && document.activeElement !== noticeInput) noticeInput.placeholder = `当前：${p.notice}`;
  } });
  load(true);
  setInterval(load, 5000);
})();
