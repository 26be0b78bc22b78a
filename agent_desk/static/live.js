// Signed in with the session cookie (/signin/session.js): the websocket carries it, nothing
// goes in the address; a session that ends sends the person to the sign-in page.
import {afterSocketClose, showSessionBar, socketUrl} from "/signin/session.js";

const SPEAKERS = { caller: "来电人", agent: "坐席", unit: "承办单位", mixed: "通话" };
const calls = document.getElementById("calls");
const status = document.getElementById("status");

function callBox(callId) {
  let box = document.getElementById("call-" + callId);
  if (!box) {
    box = document.createElement("div");
    box.className = "call"; box.id = "call-" + callId;
    box.innerHTML = "<h2></h2><div class='lines'></div>";
    box.querySelector("h2").textContent = "通话 " + callId.slice(0, 8);
    calls.prepend(box);
  }
  return box.querySelector(".lines");
}

function show(event) {
  if (!event.call_id) return;
  const lines = callBox(event.call_id);
  if (event.type === "asr.partial" || event.type === "asr.final") {
    const key = "partial-" + event.speaker;
    let line = lines.querySelector("[data-partial='" + key + "']");
    if (!line) {
      line = document.createElement("div");
      line.innerHTML = "<span class='speaker'></span><span class='text'></span>";
      line.querySelector(".speaker").textContent = (SPEAKERS[event.speaker] || event.speaker) + "：";
      lines.appendChild(line);
    }
    line.className = "line " + event.speaker + (event.type === "asr.partial" ? " partial" : "");
    line.querySelector(".text").textContent = event.text;
    if (event.type === "asr.final") { line.removeAttribute("data-partial"); line.dataset.final = "1"; }
    else { line.dataset.partial = key; }
  } else if (event.type === "asr.deferred") {
    const note = document.createElement("div");
    note.className = "line notice";
    note.textContent = "实时转写繁忙，本段通话将在挂机后转写。";
    lines.appendChild(note);
  }
}

function connect() {
  const ws = new WebSocket(socketUrl("/ws/live"));
  ws.onmessage = (m) => {
    const event = JSON.parse(m.data);
    if (event.type === "desk.ready") { status.textContent = "已连接，等待来电…"; return; }
    show(event);
  };
  ws.onclose = (event) => {
    status.textContent = "连接中断，正在重连…";
    afterSocketClose(event, () => setTimeout(connect, 1000));
  };
}
showSessionBar(document.getElementById("session-bar"));
connect();
