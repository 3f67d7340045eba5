"use strict";
document.getElementById("login").addEventListener("submit", async ev => {
  ev.preventDefault();
  const user = document.getElementById("user").value, password = document.getElementById("password").value;
  try {
    await HC.api("/api/v1/session", { method: "POST", body: { user, password }, noRedirect: true });
    const next = new URLSearchParams(location.search).get("next");
    location.href = next && next.startsWith("/console/") ? next : "/console/hall.html";
  } catch (e) {
    document.getElementById("error").textContent =
      e.code === "login_throttled" ? "失败次数过多，请一分钟后再试" : "用户名或密码错误";
  }
});
