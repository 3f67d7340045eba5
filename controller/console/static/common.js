// hallctl console: shared helpers. No framework, no CDN; every page loads this file first.
"use strict";

const HC = (() => {
  const STATE_LABELS = { logged_out: "未登录", idle: "空闲", calling: "呼叫中", serving: "办理中", paused: "暂停" };
  const TICKET_LABELS = { waiting: "等候", called: "已呼叫", serving: "办理中", suspended: "挂起", done: "办结",
    no_show: "过号", cancelled: "取消", expired: "过期" };
  const CASE_LABELS = { awaiting_contact: "待回访", awaiting_verification: "待核实", under_review: "申诉复核",
    rectifying: "整改中", awaiting_feedback: "待反馈", closed: "已办结" };
  const KIND_LABELS = { kiosk: "取号机", caller: "呼叫器", window_display: "窗口条屏", hall_screen: "综合屏",
    evaluator: "评价器" };
  const STEP_LABELS = { contact: "回访", uphold: "核实：属实", explain: "核实：已解释", appeal: "申诉",
    grant_appeal: "申诉通过", refuse_appeal: "申诉驳回", rectify: "整改", close: "反馈办结", escalate: "超期督办" };
  const ROLE_LABELS = { viewer: "查看", operator: "值班员", admin: "管理员" };
  let session = null;
  let zone;  // the hall's time zone (IANA); every time on the console is shown in it

  // h("div", {class: "x", onclick: f}, "text", child...) — builds DOM without innerHTML.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function toast(text, isError) {
    let el = document.getElementById("toast");
    if (!el) { el = h("div", { id: "toast", role: "status", "aria-live": "polite" }); document.body.append(el); }
    el.textContent = text;
    el.className = isError ? "err" : "";
    el.style.display = "block";
    clearTimeout(el._t);
    el._t = setTimeout(() => { el.style.display = "none"; }, isError ? 6000 : 2500);
  }

  async function api(path, options = {}) {
    const opts = { method: options.method || "GET", headers: { "Accept": "application/json" },
      credentials: "same-origin" };
    if (options.body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(options.body);
    }
    if (opts.method !== "GET" && session && session.csrf) opts.headers["X-CSRF-Token"] = session.csrf;
    const response = await fetch(path, opts);
    if (response.status === 401 && !options.noRedirect) { toLogin(); throw new Error("not logged in"); }
    const type = response.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await response.json() : await response.text();
    if (!response.ok) {
      const err = new Error((data && data.message) || response.statusText);
      err.code = data && data.code; err.status = response.status;
      throw err;
    }
    return data;
  }

  // A state change: shows the refusal's reason instead of failing silently.
  async function act(path, body, okText) {
    try {
      const result = await api(path, { method: "POST", body });
      if (okText) toast(okText);
      return result;
    } catch (e) {
      toast(`操作失败：${e.message}`, true);  // the API's Chinese sentence; e.code stays for machines
      return null;
    }
  }

  function command(hall, body, okText) {
    return act(`/api/v1/halls/${encodeURIComponent(hall)}/commands`, body, okText);
  }

  function toLogin() {
    const next = encodeURIComponent(location.pathname + location.search);
    location.href = `/console/login.html?next=${next}`;
  }

  async function currentHall() {
    const wanted = new URLSearchParams(location.search).get("hall");
    const halls = await api("/api/v1/halls");
    const hall = halls.find(x => x.id === wanted) || halls[0];
    zone = hall.timezone;
    return hall;
  }

  const PAGES = [["hall.html", "实时大厅"], ["devices.html", "设备"], ["actions.html", "操作"],
    ["ratings.html", "评价与差评"], ["figures.html", "统计"], ["caller.html", "网页呼叫器"],
    ["screen.html", "大厅屏"], ["admin.html", "账号与审计"]];

  // Session check, header bar; resolves to {hall, session}.
  async function start(title, bare) {
    try {
      session = await api("/api/v1/session");
    } catch (e) { return new Promise(() => {}); }
    const hall = await currentHall();
    if (bare) return { hall, session };
    const here = location.pathname.split("/").pop();
    const nav = h("nav", {}, PAGES.filter(([p]) => p !== "admin.html" || session.role === "admin")
      .map(([p, label]) => h("a", { href: `${p}?hall=${hall.id}`, class: p === here ? "here" : "" }, label)));
    // The live badge is added by live(): pages without a live feed show none (no red 连接中).
    const bar = h("header", { class: "bar" }, h("h1", {}, `${hall.name} · ${title}`), nav,
      h("span", { class: "who" }, `${session.display_name || session.user}（${roleLabel(session.role)}）`,
        h("button", { id: "logout", onclick: logout }, "退出")));
    document.body.prepend(bar);
    return { hall, session };
  }

  function roleLabel(role) { return ROLE_LABELS[role] || role; }

  async function logout() {
    try { await api("/api/v1/session", { method: "DELETE" }); } finally { toLogin(); }
  }

  // Live pictures over SSE; reconnects by itself (the browser's retry, then ours with back-off).
  function live(hallId, handlers, withDevices) {
    let source = null, delay = 500;
    const bar = document.querySelector("header.bar .who");
    if (bar && !document.getElementById("conn"))
      bar.before(h("span", { id: "conn", class: "down", role: "status" }, "连接中"));
    const conn = () => document.getElementById("conn");
    function mark(up) {
      const el = conn(); if (!el) return;
      el.textContent = up ? "实时" : "重连中"; el.className = up ? "" : "down";
    }
    function open() {
      const url = `/api/v1/halls/${encodeURIComponent(hallId)}/live${withDevices ? "?devices=1" : ""}`;
      source = new EventSource(url);
      source.addEventListener("picture", ev => {
        delay = 500; mark(true);
        handlers.picture && handlers.picture(JSON.parse(ev.data));
      });
      source.addEventListener("call", ev => handlers.call && handlers.call(JSON.parse(ev.data)));
      source.onerror = () => {
        mark(false);
        if (source.readyState === EventSource.CLOSED) {  // the browser gave up (e.g. a 502 or 401)
          setTimeout(async () => {
            try { await api("/api/v1/session", { noRedirect: true }); } catch (e) {
              if (e.status === 401) { toLogin(); return; }
            }
            open();
          }, delay);
          delay = Math.min(delay * 2, 5000);
        }
      };
    }
    open();
  }

  // The one way durations are written: 45秒, 12分30秒, 1小时5分.
  function duration(ms) {
    if (!(ms > 0)) ms = 0;
    const s = Math.floor(ms / 1000), m = Math.floor(s / 60), hh = Math.floor(m / 60);
    if (hh) return `${hh}小时${m % 60}分`;
    if (m) return `${m}分${s % 60}秒`;
    return `${s}秒`;
  }

  // An estimated wait for a service (from the live picture): minutes as duration() writes
  // them; "not today" instead of a figure past closing time; nothing to estimate without a window.
  function estimate(service) {
    if (!service.waiting) return "无需等候";
    if (!service.open_windows) return "暂无开放窗口";
    if (service.beyond_closing) return "超过今日剩余营业时间";
    return "约" + duration(service.estimated_wait_minutes * 60000).replace(/分0秒$/, "分");
  }

  function parts(ms) {
    const f = new Intl.DateTimeFormat("zh-CN", { timeZone: zone, hourCycle: "h23", month: "2-digit",
      day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
    return Object.fromEntries(f.formatToParts(new Date(ms)).map(p => [p.type, p.value]));
  }

  // A moment, in the hall's time zone (as the charts are), never the browser's.
  function time(ms) {
    if (!ms) return "-";
    const p = parts(ms);
    return `${p.month}/${p.day} ${p.hour}:${p.minute}:${p.second}`;
  }

  // A deadline: midnight means the end of the day before (11/30 24:00, not 12/01 00:00).
  function deadline(ms) {
    if (!ms) return "-";
    const p = parts(ms);
    if (p.hour === "00" && p.minute === "00" && p.second === "00") {
      const q = parts(ms - 1);
      return `${q.month}/${q.day} 24:00`;
    }
    return `${p.month}/${p.day} ${p.hour}:${p.minute}`;
  }

  // Every input needs a name a screen reader can say; placeholders vanish when typing.
  function labelled(el, label) { el.setAttribute("aria-label", label); return el; }

  // A table in a box that scrolls sideways on a phone (focusable, so keyboards can scroll it).
  function table(head, rows) {
    return h("div", { class: "scroll", tabindex: "0" },
      h("table", {}, h("thead", {}, h("tr", {}, head.map(x => h("th", {}, x)))), h("tbody", {}, rows)));
  }

  return { h, api, act, command, toast, start, live, duration, estimate, time, deadline, labelled, table,
    roleLabel, STATE_LABELS, TICKET_LABELS, CASE_LABELS, KIND_LABELS, STEP_LABELS, ROLE_LABELS,
    get session() { return session; } };
})();
