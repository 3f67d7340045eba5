// Accounts (role, 好差评 duties, departments, 工号), API tokens (with rating_source scopes)
// and the audit trail (admin only).
"use strict";
(async () => {
  const { h } = HC;
  await HC.start("账号与审计");
  const main = document.getElementById("main");
  const users = h("div", { id: "users" }), tokens = h("div", { id: "tokens" }), audit = h("div", { id: "audit" });
  const { labelled } = HC;
  const nu = labelled(h("input", { placeholder: "用户名", size: 10 }), "新账号用户名");
  const np = labelled(h("input", { placeholder: "密码（至少8位）", type: "password", size: 14, autocomplete: "new-password" }), "新账号密码");
  const nr = labelled(h("select", {}, ["viewer", "operator", "admin"].map(r => h("option", { value: r }, HC.roleLabel(r)))), "新账号角色");
  const tu = labelled(h("input", { placeholder: "用户名", size: 10 }), "令牌所属用户名");
  const tn = labelled(h("input", { placeholder: "用途", size: 12 }), "令牌用途");
  const ts = labelled(h("select", { id: "token-scope" }, [["", "无评价来源"], ["rating_source:pc", "评价来源：PC"], ["rating_source:mobile", "评价来源：移动端"],
    ["rating_source:phone", "评价来源：电话"], ["rating_source:sms", "评价来源：短信"]].map(([v, t]) => h("option", { value: v }, t))), "令牌范围");
  const DUTIES = { reviewer: "复核", followup: "回访", department: "部门经办" };
  function dutiesEditor(x) {
    const boxes = Object.entries(DUTIES).map(([d, t]) => [d, h("input", { type: "checkbox", "data-duty": d, checked: (x.duties || []).includes(d) }), t]);
    const depts = labelled(h("input", { size: 10, placeholder: "部门id，逗号分隔，*为全部", value: (x.departments || []).join(",") }), `${x.user} 的部门`);
    const staff = labelled(h("input", { size: 8, placeholder: "工号", value: x.staff_id || "" }), `${x.user} 的工号`);
    const save = h("button", { onclick: async () => {
      const body = { duties: boxes.filter(([, b]) => b.checked).map(([d]) => d),
        departments: depts.value.split(",").map(v => v.trim()).filter(Boolean), staff_id: staff.value.trim() };
      if (await HC.act(`/api/v1/users/${encodeURIComponent(x.user)}/duties`, body, "已保存职责")) load();
    } }, "保存");
    return h("span", { "data-user": x.user }, ...boxes.flatMap(([, b, t]) => [h("label", {}, b, t), " "]), depts, " ", staff, " ", save);
  }
  const secret = h("p", { class: "bad" });
  main.append(
    h("section", { class: "card" }, h("h2", {}, "账号"), nu, " ", np, " ", nr, " ",
      h("button", { onclick: async () => { if (await HC.act("/api/v1/users", { user: nu.value, password: np.value, role: nr.value }, "已添加")) load(); } }, "添加"), users),
    h("section", { class: "card" }, h("h2", {}, "API 令牌"), tu, " ", tn, " ",
      ts, " ", h("button", { onclick: async () => { const r = await HC.act("/api/v1/tokens", { user: tu.value, name: tn.value, scopes: ts.value ? [ts.value] : [] }, "已签发");
        if (r) { secret.textContent = `令牌（只显示一次）：${r.token}`; load(); } } }, "签发"), secret, tokens),
    h("section", { class: "card" }, h("h2", {}, "审计记录"), audit));
  async function load() {
    const [u, t, a] = await Promise.all([HC.api("/api/v1/users"), HC.api("/api/v1/tokens"), HC.api("/api/v1/audit?limit=200")]);
    users.replaceChildren(HC.table(["用户", "角色", "名称", "状态", "好差评职责（复核 / 回访 / 部门经办）、部门、工号", ""], u.map(x => h("tr", {}, h("td", {}, x.user), h("td", {}, HC.roleLabel(x.role)),
      h("td", {}, x.display_name), h("td", {}, x.enabled ? "启用" : "停用"), h("td", {}, dutiesEditor(x)),
      h("td", {}, x.enabled ? h("button", { onclick: async () => { if (await HC.act(`/api/v1/users/${x.user}/disable`, {}, "已停用")) load(); } }, "停用") : "")))));
    tokens.replaceChildren(HC.table(["令牌", "用户", "用途", "范围", "签发", ""], t.map(x => h("tr", {}, h("td", {}, x.token_id), h("td", {}, x.user),
      h("td", {}, x.name), h("td", {}, (x.scopes || []).join(", ") || "-"), h("td", {}, HC.time(x.issued_at)),
      h("td", {}, h("button", { onclick: async () => { try { await HC.api(`/api/v1/tokens/${x.token_id}`, { method: "DELETE" }); load(); } catch (e) { HC.toast(e.message, true); } } }, "吊销"))))));
    audit.replaceChildren(HC.table(["时间", "谁", "方式", "操作", "大厅", "详情", "结果"], a.map(x => h("tr", {},
      h("td", {}, HC.time(x.at)), h("td", {}, x.actor), h("td", {}, x.via), h("td", {}, x.action), h("td", {}, x.hall),
      h("td", {}, x.detail.slice(0, 80)), h("td", { class: x.status >= 400 ? "bad" : "" }, `${x.status} ${x.outcome}`)))));
  }
  load();
})();
