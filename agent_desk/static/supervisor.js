// The supervisor's live calls: listen (监听), whisper (耳语) or barge (强插) in the browser.
//
// The audio comes to this page's own softphone (softphone.js, the one the agent desk uses):
// the backend rings it and bridges it to an ARI snoop of the call. The page answers that ring
// by itself, since the supervisor has just asked for it. The page works with the person's
// session cookie (session.js): the API, the wallboard's websocket and the softphone's
// provisioning; no token in any address. Everything shown that came from a caller or the
// backend is put in the page as text (textContent), never as HTML.

import {Softphone} from './softphone.js';
import {$, afterSocketClose, api, chinese, say as log, showSessionBar, socketUrl} from './session.js';

const say = (text, error = false) => log(text, error, 20);

const STATES = {waiting: '排队等待', answered: '通话中', message: '留言中'};
const MODES = {listen: '监听', whisper: '耳语', barge: '强插'};
// The list follows the wallboard's pushes (the queue or an agent changed); the timer only
// keeps the durations moving.
const REFRESH_MS = 5000;


const state = {softphone: null, registered: false, monitoring: null, calls: [], wallboard: null, leaving: false};
window.supervisorDebug = state;  // for people (and tests) inspecting the page

// Signing out ends a monitor first (the softphone hangs up and unregisters).
showSessionBar($('session-bar'), {
  beforeSignOut() {
    state.leaving = true;
    state.softphone?.stop();
    return true;
  },
});

function pill(id, text, cls = '') {
  $(id).textContent = text;
  $(id).className = `pill ${cls}`;
}

async function startPhone() {
  const account = await api('POST', '/api/live/softphone');
  const phone = new Softphone({
    wsUrl: account.ws_url, sipUri: account.sip_uri, password: account.password,
    displayName: account.username, audioElement: $('remote-audio'),
  });
  state.softphone = phone;
  phone.addEventListener('registered', () => { state.registered = true; pill('phone-status', '已注册', 'ok'); render(); });
  phone.addEventListener('registrationFailed', (e) => pill('phone-status', `注册失败 ${e.detail.status || ''}`));
  phone.addEventListener('unregistered', () => { state.registered = false; pill('phone-status', '未注册'); render(); });
  // Only the backend rings this endpoint, right after the supervisor asked it to.
  phone.addEventListener('incoming', () => { if (state.monitoring) phone.answer(); else phone.hangup(); });
  phone.addEventListener('confirmed', () => {
    pill('monitor-status', `${MODES[state.monitoring.mode]}中`, 'busy');
    $('hangup').disabled = false;
    refresh();
  });
  const over = () => { state.monitoring = null; pill('monitor-status', '空闲'); $('hangup').disabled = true; refresh(); };
  phone.addEventListener('ended', over);
  phone.addEventListener('failed', over);
  phone.start();
}

async function monitor(call, mode) {
  try {
    state.monitoring = {call_id: call.call_id, mode};
    pill('monitor-status', '振铃中…');
    const started = await api('POST', `/api/live/calls/${encodeURIComponent(call.call_id)}/monitor`, {mode});
    state.monitoring = started;
    render();
  } catch (error) {
    state.monitoring = null;
    pill('monitor-status', '空闲');
    say(`${MODES[mode]}失败：${chinese(error)}`, true);
  }
}

function cell(row, text) {
  const td = document.createElement('td');
  td.textContent = text ?? '';
  row.append(td);
  return td;
}

function render() {
  const body = $('calls');
  body.replaceChildren();
  for (const call of state.calls) {
    const row = document.createElement('tr');
    row.dataset.callId = call.call_id;
    cell(row, new Date(call.started_at).toLocaleTimeString('zh-CN', {timeZone: 'Asia/Shanghai'}));
    cell(row, call.caller_number);
    cell(row, STATES[call.state] || call.state);
    cell(row, call.agent_id || '—');
    cell(row, `${Math.round(call.seconds)} 秒`);
    cell(row, call.monitors.map((m) => `${m.supervisor}（${MODES[m.mode] || m.mode}）`).join('、'));
    const actions = cell(row, '');
    for (const mode of ['listen', 'whisper', 'barge']) {
      const button = document.createElement('button');
      button.className = mode;
      button.textContent = MODES[mode];
      button.disabled = !state.registered || state.monitoring !== null || (mode === 'whisper' && call.state !== 'answered');
      button.addEventListener('click', () => monitor(call, mode));
      actions.append(button, ' ');
    }
    body.append(row);
  }
}

async function refresh() {
  try {
    state.calls = (await api('GET', '/api/live/calls')).calls;
    render();
  } catch (error) {
    say(`刷新失败：${chinese(error)}`, true);
  }
}

// ---- the wallboard: pushed by the backend on every change (no polling); the longest wait
// ticks here between pushes from the oldest waiting caller's time.
const percent = (v) => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(1)}%`);
const duration = (v) => (v === null || v === undefined ? '—' : `${Math.floor(v / 60)}分${String(Math.round(v % 60)).padStart(2, '0')}秒`);

function showBoard(figures) {
  state.wallboard = figures;
  for (const name of ['calls_waiting', 'answered_today', 'abandoned_today']) $(`wb-${name}`).textContent = String(figures[name]);
  for (const [status, count] of Object.entries(figures.agents)) {
    const cell = $(`wb-agents-${status}`);
    if (cell) cell.textContent = String(count);
  }
  $('wb-service_level').textContent = percent(figures.service_level);
  $('wb-transcription_coverage').textContent = percent(figures.transcription_coverage);
  $('wb-average_handle_seconds').textContent = duration(figures.average_handle_seconds);
  tickWait();
}

function tickWait() {
  const since = state.wallboard?.oldest_waiting_since;
  $('wb-longest_wait').textContent = since ? duration(Math.max(0, (Date.now() - Date.parse(since)) / 1000)) : '0分00秒';
}

let boardRetry = 500;
function connectBoard() {
  const socket = new WebSocket(socketUrl('/ws/wallboard'));
  socket.onopen = () => { boardRetry = 500; $('board-status').textContent = '已连接'; };
  socket.onmessage = (event) => {
    try {
      const message = JSON.parse(event.data);
      if (message.type === 'wallboard') { showBoard(message.figures); refresh(); }
    } catch (error) { console.error(error); }
  };
  socket.onclose = (event) => {
    if (state.leaving) return;
    $('board-status').textContent = '已断开，正在重连…';
    afterSocketClose(event, () => {
      setTimeout(connectBoard, boardRetry);
      boardRetry = Math.min(boardRetry * 2, 10000);
    });
  };
}

$('hangup').addEventListener('click', () => state.softphone?.hangup());

startPhone().catch((error) => say(`话机开通失败：${chinese(error)}`, true));
refresh();
setInterval(refresh, REFRESH_MS);
connectBoard();
setInterval(tickWait, 1000);
