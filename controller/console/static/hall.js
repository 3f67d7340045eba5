// Live hall: windows (with the clerk's photo: 亮牌), queues, alerts, latest calls; redrawn from
// each live picture.
"use strict";
(async () => {
  const { h, STATE_LABELS } = HC;
  const { hall } = await HC.start("实时大厅");
  const main = document.getElementById("main");
  const stats = h("div", { class: "stats", id: "stats" });
  const windows = h("div", { class: "windows", id: "windows" });
  const queues = h("div", { id: "queues" });
  const alerts = h("ul", { class: "alerts", id: "alerts" });
  const calls = h("div", { id: "calls" });
  main.append(h("section", { class: "card" }, stats),
    h("div", { class: "cols" },
      h("div", {}, h("section", { class: "card" }, h("h2", {}, "窗口"), windows),
        h("section", { class: "card" }, h("h2", {}, "排队"), queues)),
      h("div", {}, h("section", { class: "card" }, h("h2", {}, "告警"), alerts),
        h("section", { class: "card" }, h("h2", {}, "最近叫号"), calls))));
  let last = null;

  function stat(value, label) { return h("div", { class: "stat" }, h("b", {}, value), h("span", {}, label)); }

  function draw() {
    if (!last) return;
    const v = last.hall, t = v.totals, now = Date.now();
    stats.replaceChildren(stat(t.issued, "取号"), stat(t.finished, "办结"),
      stat(v.services.reduce((a, s) => a + s.waiting, 0), "等候中"),
      stat(v.windows.filter(w => ["idle", "calling", "serving"].includes(w.state)).length + "/" + v.windows.length, "开放窗口"),
      stat(v.coverage === null ? "-" : Math.round(v.coverage * 100) + "%", "评价覆盖率"),
      stat(t.bad_ratings, "差评"), stat(`${last.devices_online}/${last.devices_total}`, "设备在线"));
    windows.replaceChildren(...v.windows.map(w => h("div", { class: `win ${w.state}`, "data-window": w.number },
      w.staff && w.staff_photo ? h("img", { class: "photo", alt: w.staff_name || w.staff,
        src: `/api/v1/halls/${encodeURIComponent(hall.id)}/staff/${encodeURIComponent(w.staff)}/photo` }) : "",
      h("div", { class: "n" }, `${w.number} ${w.name}`),
      h("div", { class: "t" }, w.ticket || STATE_LABELS[w.state]),
      h("small", {}, `${STATE_LABELS[w.state]} · ${w.since_ms ? HC.duration(now - w.since_ms) : "-"}`),
      h("small", {}, w.staff_name ? `${w.staff_name}（${w.staff}）` : "—"),
      w.pause_pending ? h("small", {}, "办完当前号后暂停") : w.pause_reason ? h("small", {}, `暂停原因：${w.pause_reason}`) : null)));
    queues.replaceChildren(HC.table(["业务", "等候", "最长等候", "预计等候", "开放窗口"],
      v.services.map(s => h("tr", { "data-service": s.id }, h("td", {}, `${s.prefix} ${s.name}`), h("td", {}, s.waiting),
        h("td", {}, s.waiting ? HC.duration(s.longest_wait_ms) : "-"), h("td", {}, HC.estimate(s)),
        h("td", {}, s.open_windows)))));
    alerts.replaceChildren(...(last.alerts.length ? last.alerts.map(a => h("li", { class: a.kind }, a.text))
      : [h("li", { class: "none" }, "无告警")]));
    calls.replaceChildren(HC.table(["号码", "窗口", "时间"], last.calls.map(c =>
      h("tr", {}, h("td", {}, c.number + (c.recall ? "（重呼）" : "")), h("td", {}, c.window_name), h("td", {}, HC.time(c.at))))));
  }

  HC.live(hall.id, { picture: p => { last = p; draw(); } });
  setInterval(draw, 1000);  // times in state tick between pictures
})();
