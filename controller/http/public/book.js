// 线上预约: choose hall, service, date and slot; name and phone; the answer is a code and a QR.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { hall: "", service: "", day: "", slot: null };

async function getJson(url) {
  const r = await fetch(url);
  const body = await r.json();
  if (!r.ok) throw new Error(body.message || "加载失败，请稍后再试");
  return body;
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
}

function choice(container, label, note, checked, disabled, onPick) {
  const b = document.createElement("button");
  b.type = "button";
  b.setAttribute("role", "radio");
  b.setAttribute("aria-checked", checked ? "true" : "false");
  b.textContent = label;
  if (note) {
    const s = document.createElement("small");
    s.textContent = note;
    b.appendChild(s);
  }
  b.disabled = disabled;
  b.addEventListener("click", onPick);
  container.appendChild(b);
}

const WEEKDAYS = "日一二三四五六";
function dayLabel(iso) {
  const d = new Date(iso + "T00:00:00");
  return `${d.getMonth() + 1}月${d.getDate()}日 周${WEEKDAYS[d.getDay()]}`;
}

function refreshSubmit() {
  $("submit").disabled = !(state.service && state.day && state.slot);
}

async function loadHalls() {
  const halls = await getJson("/api/v1/public/booking/halls");
  const wanted = new URLSearchParams(location.search).get("hall");
  const select = $("hall");
  select.replaceChildren();
  for (const h of halls) {
    const o = document.createElement("option");
    o.value = h.id;
    o.textContent = h.name;
    select.appendChild(o);
  }
  $("step-hall").hidden = halls.length < 2;
  if (!halls.length) throw new Error("暂无可预约的大厅");
  state.hall = halls.some((h) => h.id === wanted) ? wanted : halls[0].id;
  select.value = state.hall;
  select.onchange = () => { state.hall = select.value; loadHall(); };
  await loadHall();
}

let services = [];
async function loadHall() {
  const info = await getJson(`/api/v1/public/halls/${encodeURIComponent(state.hall)}/booking`);
  $("hall-name").textContent = info.name;
  services = info.services;
  state.service = services.length ? services[0].id : "";
  renderServices();
}

function renderServices() {
  const box = $("services");
  box.replaceChildren();
  for (const s of services) {
    choice(box, s.name, "", s.id === state.service, false, () => { state.service = s.id; renderServices(); });
  }
  const service = services.find((s) => s.id === state.service);
  const days = service ? service.days : [];
  if (!days.includes(state.day)) state.day = days[0] || "";
  renderDays(days);
}

function renderDays(days) {
  const box = $("days");
  box.replaceChildren();
  for (const d of days) {
    choice(box, dayLabel(d), "", d === state.day, false, () => { state.day = d; renderDays(days); });
  }
  loadSlots();
}

async function loadSlots() {
  state.slot = null;
  refreshSubmit();
  const box = $("slots");
  box.replaceChildren();
  if (!state.service || !state.day) { $("no-slots").hidden = false; return; }
  const q = `service=${encodeURIComponent(state.service)}&date=${state.day}`;
  const slots = await getJson(`/api/v1/public/halls/${encodeURIComponent(state.hall)}/booking/slots?${q}`);
  const open = slots.filter((s) => s.bookable);
  $("no-slots").hidden = open.length > 0;
  for (const s of open) {
    const full = s.left <= 0;
    choice(box, `${s.start}-${s.end}`, full ? "已约满" : `余 ${s.left}`, false, full, (ev) => {
      state.slot = s.start_ms;
      for (const b of box.children) b.setAttribute("aria-checked", "false");
      ev.currentTarget.setAttribute("aria-checked", "true");
      refreshSubmit();
    });
  }
}

async function submit(ev) {
  ev.preventDefault();
  showError("");
  const name = $("name").value.trim();
  const phone = $("phone").value.trim();
  if (!name) return showError("请填写姓名");
  if (!/^1[3-9][0-9]{9}$/.test(phone)) return showError("请填写 11 位手机号码");
  $("submit").disabled = true;
  try {
    const r = await fetch(`/api/v1/public/halls/${encodeURIComponent(state.hall)}/bookings`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ service: state.service, slot_start_ms: state.slot, name, phone }),
    });
    const body = await r.json();
    if (!r.ok) {
      showError(body.message || "预约失败，请稍后再试");
      if (body.code === "slot_full") loadSlots();
      return;
    }
    showDone(body);
  } catch (e) {
    showError("网络异常，请稍后再试");
  } finally {
    refreshSubmit();
  }
}

function showDone(b) {
  $("book").hidden = true;
  $("done").hidden = false;
  $("code").textContent = b.code;
  $("qr").src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(b.qr_svg);
  $("done-service").textContent = `${b.hall_name} · ${b.service_name}`;
  $("done-when").textContent = `${dayLabel(b.date)} ${b.start}-${b.end}`;
  $("done-who").textContent = `${b.name} ${b.phone}`;
  $("done-from").textContent = `${dayLabel(b.date)} ${b.check_in_from}`;
  window.scrollTo(0, 0);
}

$("book").addEventListener("submit", submit);
$("again").addEventListener("click", () => { $("done").hidden = true; $("book").hidden = false; loadSlots(); });
loadHalls().catch((e) => showError(e.message));
