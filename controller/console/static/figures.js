// Figures: charts drawn by the server as SVG, and the same figures as CSV / XLSX downloads.
"use strict";
(async () => {
  const { h } = HC;
  const { hall } = await HC.start("统计");
  const main = document.getElementById("main");
  const base = `/api/v1/halls/${hall.id}`;
  const data = await HC.api(`${base}/figures`);
  const day = HC.labelled(h("select", { id: "day" }, (data.days.length ? data.days : [""]).map(d => h("option", { value: d, selected: d === data.day }, d || "无数据"))), "营业日");
  const charts = h("div", { class: "figs", id: "charts" });
  const overall = h("p", { id: "overall" });
  const links = h("span", {});
  main.append(h("section", { class: "card" }, h("h2", {}, "营业日 "), day, " ", links, overall), h("section", { class: "card" }, charts));
  const NAMES = ["arrivals", "waits", "satisfaction-window", "satisfaction-service", "satisfaction-staff", "coverage-window"];
  async function draw() {
    const q = day.value ? `?day=${day.value}` : "";
    const f = await HC.api(`${base}/figures${q}`);
    const o = f.overall;
    overall.textContent = `办结 ${o.finished} · 评价 ${o.rated} · 差评 ${o.bad} · 满意率 ${o.satisfaction === null ? "-" : (o.satisfaction * 100).toFixed(1) + "%"} · 覆盖率 ${o.coverage === null ? "-" : (o.coverage * 100).toFixed(1) + "%"}`;
    const range = day.value ? `from=${day.value}&to=${day.value}&` : "";
    links.replaceChildren(h("a", { href: `${base}/figures.csv${q}` }, "下载 CSV"), " ", h("a", { href: `${base}/figures.xlsx${q}` }, "下载 XLSX"),
      " · 好差评统计 ", h("a", { href: `${base}/haochaping/statistics?${range}format=csv` }, "CSV"), " ",
      h("a", { href: `${base}/haochaping/statistics?${range}format=xlsx` }, "XLSX"));
    const stamp = Date.now();
    charts.replaceChildren(...NAMES.map(n => h("img", { alt: n, src: `${base}/figures/${n}.svg${q ? q + "&" : "?"}t=${stamp}` })));
  }
  day.addEventListener("change", draw);
  draw();
  setInterval(draw, 60000);
})();
