// Devices: kind, link, window, online/offline since, last message, firmware, errors; offline filter.
"use strict";
(async () => {
  const { h } = HC;
  const { hall } = await HC.start("设备");
  const main = document.getElementById("main");
  const filter = h("input", { type: "checkbox", id: "offline-only" });
  const summary = h("span", { class: "muted" });
  const body = h("div", { id: "devices" });
  main.append(h("section", { class: "card" }, h("label", {}, filter, " 只看离线设备 "), summary, body));
  let last = null;
  function draw() {
    if (!last) return;
    const all = last.devices || [];
    const shown = filter.checked ? all.filter(d => !d.online) : all;
    summary.textContent = `在线 ${all.filter(d => d.online).length} / ${all.length}`;
    body.replaceChildren(HC.table(["设备", "类型", "链路", "窗口", "状态", "自", "最后消息", "固件", "错误", "打印机"],
      shown.map(d => h("tr", { class: d.online ? "" : "offline", "data-device": d.id },
        h("td", {}, d.id), h("td", {}, HC.KIND_LABELS[d.kind] || d.kind), h("td", {}, d.link),
        h("td", {}, d.window ?? "-"), h("td", {}, d.online ? "在线" : "离线"),
        h("td", {}, d.since_ms ? HC.time(d.since_ms) : "-"), h("td", {}, HC.time(d.last_message_ms)),
        h("td", {}, [d.firmware, d.model].filter(Boolean).join(" ") || "-"),
        h("td", { title: d.last_error }, d.errors + d.failed_commands ? `${d.errors} / 未确认 ${d.failed_commands} ${d.last_error}` : "0"),
        h("td", {}, d.printer || "-")))));
  }
  filter.addEventListener("change", draw);
  HC.live(hall.id, { picture: p => { last = p; draw(); } }, true);
})();
