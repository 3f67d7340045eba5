// 评价信息公开: reads /api/v1/public/halls/{hall}/ratings and shows it; refreshes every 30 s.
"use strict";

const params = new URLSearchParams(location.search);
let period = params.get("period") || "month";
let hall = params.get("hall") || "";

function pct(v) {
  return v === null || v === undefined ? "—" : (v * 100).toFixed(1) + "%";
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

function card(label, value, wide) {
  return el("div", { class: wide ? "card wide" : "card" },
    el("div", { class: "v" }, value), el("div", { class: "k" }, label));
}

function row(f) {
  const bar = el("div", { class: "bar" }, el("span", { style: `width:${(f.satisfaction || 0) * 100}%` }));
  return el("li", {},
    el("div", { class: "name" }, el("span", {}, f.name), el("span", {}, "满意率 " + pct(f.satisfaction))),
    bar,
    el("div", { class: "meta" },
      `办件 ${f.served} 件 · 评价 ${f.ratings} 条 · 覆盖率 ${pct(f.coverage)} · 差评 ${f.bad_ratings} 条`));
}

function fill(id, figures) {
  const section = document.getElementById(id);
  const list = section.querySelector("ol");
  list.replaceChildren(...(figures || []).map(row));
  section.hidden = !figures || figures.length === 0;
}

async function firstHall() {
  const r = await fetch("/api/v1/public/halls");
  const halls = await r.json();
  return halls.length ? halls[0].id : "";
}

async function load() {
  const status = document.getElementById("status");
  for (const b of document.querySelectorAll("#periods button")) {
    b.classList.toggle("here", b.dataset.period === period);
  }
  try {
    if (!hall) hall = await firstHall();
    const r = await fetch(`/api/v1/public/halls/${encodeURIComponent(hall)}/ratings?period=${period}`);
    if (!r.ok) throw new Error(r.status);
    const d = await r.json();
    document.getElementById("hall").textContent = d.hall_name;
    document.title = `${d.hall_name} · 评价信息公开`;
    const o = d.overall;
    document.getElementById("overall").replaceChildren(
      card(`${d.period_label}满意率`, pct(o.satisfaction), true),
      card("评价覆盖率", pct(o.coverage)),
      card("办件量", String(o.served)),
      card("评价数", String(o.ratings)),
      card("差评数", String(o.bad_ratings)));
    document.getElementById("overall").hidden = false;
    fill("departments", d.departments);
    fill("windows", d.windows);
    fill("staff", d.staff);
    status.textContent = o.served ? "" : `${d.period_label}暂无办结办件`;
    status.hidden = !status.textContent;
    const at = new Date(d.generated_at);
    document.getElementById("updated").textContent =
      `统计区间：${d.from_day} 至 ${d.to_day}；更新于 ${at.toLocaleString("zh-CN", { hour12: false })}`;
  } catch (e) {
    status.textContent = "暂时无法获取评价数据，请稍后再试";
    status.hidden = false;
  }
}

for (const b of document.querySelectorAll("#periods button")) {
  b.addEventListener("click", () => { period = b.dataset.period; load(); });
}
load();
setInterval(load, 30000);
