// The public progress lookup page: asks /api/public/progress and shows the answer. No sign-in,
// no cookie; every value goes in with textContent.
const form = document.getElementById("lookup");
const error = document.getElementById("error");
const result = document.getElementById("result");

function show(id, text) {
  document.getElementById(id).textContent = text;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.classList.add("hidden");
  result.classList.add("hidden");
  const body = {
    ticket_no: document.getElementById("ticket-no").value.trim(),
    caller_number: document.getElementById("caller-number").value.trim() || null,
    code: document.getElementById("code").value.trim() || null,
  };
  if (!body.caller_number && !body.code) {
    error.textContent = "请填写来电号码或查询码。";
    error.classList.remove("hidden");
    return;
  }
  let answer;
  try {
    const response = await fetch("/api/public/progress", {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
      credentials: "omit",
    });
    answer = await response.json();
    if (!response.ok) {
      error.textContent = answer.message || "查询失败，请稍后再试。";
      error.classList.remove("hidden");
      return;
    }
  } catch {
    error.textContent = "网络异常，请稍后再试。";
    error.classList.remove("hidden");
    return;
  }
  const progress = answer.progress;
  show("r-ticket-no", progress.ticket_no);
  show("r-status", progress.status_title);
  show("r-unit", progress.unit_name || "尚未转交承办单位");
  show("r-result", progress.result || "暂无");
  result.classList.remove("hidden");
});
