// Ratings (filters) and 差评 cases: the list, and a case page to record 回访, 核实, 整改 and
// the closing feedback, with deadlines shown. Every step is a hall command, so it is logged,
// under the logged-in account. An account with the 回访 duty may open the rater's contact (or
// have the telephony platform ring it); each opening is logged and listed on the case.
"use strict";
(async () => {
  const { h } = HC;
  const { hall, session } = await HC.start("评价与差评");
  const main = document.getElementById("main");
  const LEVELS = { very_satisfied: "非常满意", satisfied: "满意", basically_satisfied: "基本满意",
    dissatisfied: "不满意", very_dissatisfied: "非常不满意" };
  const base = `/api/v1/halls/${hall.id}`;
  const sel = (id, options) => h("select", { id }, options.map(([v, t]) => h("option", { value: v }, t)));
  const level = HC.labelled(sel("f-level", [["", "全部等级"], ...Object.entries(LEVELS)]), "评价等级");
  const win = HC.labelled(h("input", { id: "f-window", size: 4, placeholder: "窗口" }), "窗口号");
  const staff = HC.labelled(h("input", { id: "f-staff", size: 6, placeholder: "工号" }), "工号");
  const badOnly = h("input", { type: "checkbox", id: "f-bad" });
  const ratingsBox = h("div", { id: "ratings" });
  const caseFilter = HC.labelled(sel("case-filter", [["open", "未办结"], ["overdue", "已超期"], ["all", "全部"]]), "案件范围");
  const casesBox = h("div", { id: "cases" });
  const caseBox = h("section", { class: "card", id: "case", style: "display:none" });
  main.append(caseBox,
    h("section", { class: "card" }, h("h2", {}, "差评案件 "), caseFilter, casesBox),
    h("section", { class: "card" }, h("h2", {}, "评价记录"), level, " ", win, " ", staff, " ",
      h("label", {}, badOnly, "只看差评"), " ", h("button", { onclick: loadRatings }, "查询"), ratingsBox));

  async function loadRatings() {
    const q = new URLSearchParams({ limit: "200" });
    if (level.value) q.set("level", level.value);
    if (win.value) q.set("window", win.value);
    if (staff.value) q.set("staff", staff.value);
    if (badOnly.checked) q.set("bad", "true");
    const rows = await HC.api(`${base}/ratings?${q}`);
    ratingsBox.replaceChildren(HC.table(["号码", "业务", "窗口", "人员", "评价", "时间"], rows.map(r =>
      h("tr", {}, h("td", {}, r.number), h("td", {}, r.service), h("td", {}, r.window ?? "-"),
        h("td", {}, r.staff_name ? `${r.staff_name}（${r.staff}）` : r.staff || "-"),
        h("td", { class: r.bad ? "bad" : "" }, r.label), h("td", {}, HC.time(r.at))))));
  }

  function due(ms, overdue) { return h("span", { class: overdue ? "bad" : "" }, HC.deadline(ms) + (overdue ? "（已超期）" : "")); }

  async function loadCases() {
    const rows = await HC.api(`${base}/cases?state=${caseFilter.value}`);
    casesBox.replaceChildren(rows.length ? HC.table(["案件", "号码", "窗口", "人员", "评价", "状态", "回访期限", "整改期限", ""],
      rows.map(c => h("tr", { "data-case": c.id }, h("td", {}, `#${c.id}`), h("td", {}, c.number), h("td", {}, c.window),
        h("td", {}, c.staff_name || c.staff), h("td", { class: "bad" }, c.label), h("td", {}, HC.CASE_LABELS[c.state] || c.state),
        h("td", {}, due(c.contact_due, c.contact_overdue)), h("td", {}, due(c.rectify_due, c.rectify_overdue)),
        h("td", {}, h("button", { onclick: () => openCase(c.id) }, "处理")))))
      : h("p", { class: "muted" }, "没有案件"));
  }

  async function step(body, text) {
    const ok = await HC.command(hall.id, body, text);
    if (ok) { await openCase(body.case); loadCases(); }
  }

  async function openCase(id, opened) {
    const c = await HC.api(`${base}/cases/${id}`);
    history.replaceState(null, "", `?hall=${hall.id}&case=${id}`);
    const note = HC.labelled(h("input", { id: "case-note", size: 50, placeholder: "说明" }), "说明");
    const reached = h("input", { type: "checkbox", id: "case-reached", checked: true });
    const actions = [];
    const by = session.user;
    if (c.state === "awaiting_contact") {
      actions.push(h("label", {}, reached, "已联系到群众 "), h("button", { class: "primary", id: "record-contact",
        onclick: () => step({ type: "contact_case", case: c.id, by, reached: reached.checked, note: note.value }, "回访已记录") }, "记录回访"));
    } else if (c.state === "awaiting_verification") {
      for (const [o, t] of [["upheld", "属实，需整改"], ["explained", "已解释，无需整改"], ["mistaken", "误评，申诉"], ["malicious", "恶意差评，申诉"]])
        actions.push(h("button", { onclick: () => step({ type: "verify_case", case: c.id, by, outcome: o, note: note.value }, "核实已记录") }, t), " ");
    } else if (c.state === "under_review") {
      actions.push(h("button", { onclick: () => step({ type: "review_case", case: c.id, by, granted: true, note: note.value }, "申诉通过") }, "申诉通过"), " ",
        h("button", { onclick: () => step({ type: "review_case", case: c.id, by, granted: false, note: note.value }, "申诉驳回") }, "驳回，整改"));
    } else if (c.state === "rectifying") {
      actions.push(h("button", { class: "primary", id: "record-rectify", onclick: () => step({ type: "rectify_case", case: c.id, by, note: note.value }, "整改已记录") }, "记录整改"));
    } else if (c.state === "awaiting_feedback") {
      actions.push(h("button", { class: "primary", onclick: () => step({ type: "close_case", case: c.id, by, note: note.value }, "已反馈办结") }, "反馈并办结"));
    }
    const duties = session.duties || [];
    const contactBox = h("p", { id: "contact" });
    if (c.has_contact && c.state !== "closed" && duties.includes("followup")) {
      const hcp = `${base}/haochaping/contacts/${c.id}`;
      contactBox.append(
        h("button", { id: "unseal-contact", onclick: async () => {
          const r = await HC.act(hcp, {}, "已查看联系方式（已记录）");
          if (r) await openCase(c.id, r);
        } }, "查看联系方式（回访）"), " ",
        h("button", { id: "call-contact", onclick: async () => {
          if (await HC.act(`${hcp}/call`, {}, "已发起代拨（号码不显示）")) await openCase(c.id);
        } }, "代拨电话"));
      if (opened) contactBox.append(" ", h("b", { id: "contact-text" }, `联系人：${opened.name || "-"}　电话：${opened.phone || "-"}`));
    } else if (c.has_contact) {
      contactBox.append(h("span", { class: "muted" }, "群众留有联系方式（仅回访人员可查看）"));
    }
    const unseals = c.unseals && c.unseals.length ? HC.table(["查看时间", "查看人", "用途"], c.unseals.map(u =>
      h("tr", {}, h("td", {}, HC.time(u.at)), h("td", {}, u.by), h("td", {}, u.purpose === "call" ? "代拨" : "查看")))) : "";
    caseBox.style.display = "block";
    caseBox.replaceChildren(h("h2", {}, `差评案件 #${c.id} · ${c.number} · ${HC.CASE_LABELS[c.state] || c.state}`),
      h("p", {}, `${c.window}号窗口 · ${c.staff_name || c.staff} · 业务 ${c.service} · `, h("span", { class: "bad" }, c.label),
        ` · 立案 ${HC.time(c.opened_at)}`),
      h("p", {}, "回访期限 ", due(c.contact_due, c.contact_overdue), " · 整改期限 ", due(c.rectify_due, c.rectify_overdue),
        c.deadlines_estimated ? h("span", { class: "bad", id: "deadlines-estimated" }, " · 期限按周一至周五估算（缺少官方节假日数据，请核对）") : ""),
      HC.table(["步骤", "时间", "经办人", "说明"], c.steps.map(s => h("tr", {}, h("td", {}, HC.STEP_LABELS[s.op] || s.op), h("td", {}, HC.time(s.at)),
        h("td", {}, s.by), h("td", {}, s.note)))),
      contactBox, unseals,
      actions.length ? h("p", {}, note, " ", actions) : h("p", { class: "muted" }, "案件已办结"),
      h("button", { onclick: () => { caseBox.style.display = "none"; history.replaceState(null, "", `?hall=${hall.id}`); } }, "关闭"));
  }

  caseFilter.addEventListener("change", loadCases);
  await Promise.all([loadRatings(), loadCases()]);
  const wanted = new URLSearchParams(location.search).get("case");
  if (wanted) openCase(wanted);
  HC.live(hall.id, { picture: () => {} });
  setInterval(loadCases, 10000);
})();
