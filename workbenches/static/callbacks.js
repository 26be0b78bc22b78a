// The callback agent's page (回访员): the surveys due now (the unit gave its feedback, or the
// automatic dialer gave up, or a spoken answer waits to be confirmed), and those waiting for a
// retry; a ticket with the unit's feedback; the citizen's answer (1 满意, 2 基本满意, 3 不满意),
// the reason when unsatisfied and the hotline's judgement (reasonable: 重办; unreasonable:
// closed; or left to the review list); not
// reached: try again later, or the final outcome.
//
// Reads GET /api/callbacks and GET /api/tickets/{no}; writes POST /api/workbench/callbacks/{id}/
// answer and /not-reached, which put the result on the ticket and finish the task together.
//
// 拨打回访 (C): the agent's browser softphone (the desk's one, /static/softphone.js, its account
// from POST /api/workbench/softphone) is rung first and answers itself (the agent asked for the
// call), then the backend rings the citizen with the hotline's number and bridges the two
// (POST /api/workbench/callbacks/{id}/call, outbound/desk_callback.py). The call's progress comes
// over /ws/workbench/callbacks: 呼叫中, 通话中 (with its timer), 已挂断; 挂断 (H) hangs up.
// Reached: the answer is recorded; not reached (busy, no answer): the 未联系上 form, preset.
//
// 时限届满回访 (北京条例第二十三条, tasks of reason `deadline`): the unit's deadline expired without
// its feedback and the supervision job listed the task here (never for the automatic dialer).
// The agent asks how the handling stands: the answer is the caller's view so far, with no
// judgement (the unit has not finished; unsatisfied puts it under 督办), and a final 未联系上 is
// recorded without closing the ticket.

import {Softphone} from '/static/softphone.js';
import {
  $, api, chinese, el, keyboardRows, listen, readTicket, replaceRows, say, select, showError, showSessionBar, ticketView,
  titles, typing, when,
} from '/workbench/workbench.js';

// `call`: the survey call placed from this page ({taskId, ticketNo, id, phase, since}), or null.
const state = {task: null, tasks: new Map(), phone: null, registered: false, call: null};
window.callbacksDebug = state;  // for people (and tests) inspecting the page (its phone: state.phone)
const RESULTS = {no_answer: '无人接听', busy: '占线', switched_off: '关机/停机', wrong_number: '号码错误',
                 declined: '拒绝回访', spoken: '口头回答待确认', no_key: '未按键',
                 agent_reached: '已接通，待记录评价', agent_no_answer: '坐席未接听', agent_unreachable: '无法呼叫坐席话机',
                 invalid_number: '号码无效', failed: '呼叫失败'};
const KEYS = {1: 'satisfied', 2: 'basically_satisfied', 3: 'unsatisfied'};

function resultText(task) {
  if (task.answer_transcript) return `口头回答：“${task.answer_transcript}”`;
  const result = task.result || '';
  // `placed:<why>`: a call placed by a person that did not reach the citizen (counted once).
  if (result.startsWith('placed:')) return `已拨打未接通：${RESULTS[result.slice(7)] || result.slice(7)}`;
  if (result.startsWith('agent:')) return '回访员拨打中';
  return RESULTS[result] || result;
}

function row(task, cells) {
  return el('tr', {tabindex: '0', data: {taskId: task.id, ticketNo: task.ticket_no}}, cells.map((c) => el('td', {text: c})));
}

// Each load is numbered: loads overlap (the 30 s refresh, a call placed, a call ended), and only
// the last one asked for is shown, so an older answer never undoes a newer one.
let loads = 0;

/** The lists, again. Besides the 30 s refresh, a call placed from this page (its attempt was
 *  counted when the server took the task) and its end (the result) reload them at once. */
async function loadTasks() {
  const load = ++loads;
  let lists;
  try {
    lists = await Promise.all(['agent', 'agent_calling', 'due'].map((status) => api('GET', `/api/callbacks?status=${status}`)));
  } catch (error) {
    if (load === loads) say(`刷新失败：${chinese(error)}`, true);
    return;
  }
  if (load !== loads) return;
  const now = Date.now();
  const surveys = lists.flatMap((l) => l.callbacks).filter((t) => t.reason === 'survey' || t.reason === 'deadline');
  state.tasks = new Map(surveys.map((t) => [t.id, t]));
  const due = surveys.filter((t) => t.status !== 'due' || new Date(t.due_at) <= now)
    .sort((a, b) => new Date(a.due_at) - new Date(b.due_at));
  const waiting = surveys.filter((t) => !due.includes(t));
  const kind = (t) => (t.reason === 'survey' ? (t.status === 'due' ? '回访' : '人工回访') : titles.callback_reason[t.reason]);
  replaceRows($('tasks'), due.map((t) => row(t, [t.ticket_no, t.caller_number, kind(t),
                                                        when(t.due_at), String(t.attempts), resultText(t)])));
  replaceRows($('robot'), waiting.map((t) => row(t, [t.ticket_no, t.caller_number, when(t.due_at), String(t.attempts), resultText(t)])));
  $('due-count').textContent = String(due.length);
  $('robot-count').textContent = String(waiting.length);
  $('tasks-empty').classList.toggle('hidden', due.length > 0);
  const open = state.task && document.querySelector(`tr[data-task-id="${state.task.id}"]`);
  if (open) open.classList.add('selected');
  if (state.task && state.tasks.has(state.task.id)) {  // the open task: its count too
    state.task = state.tasks.get(state.task.id);
    const shown = $('task-attempts');
    if (shown) shown.textContent = attemptsText(state.task);
  }
}

function attemptsText(task) {
  return `　已拨 ${task.attempts} 次`;
}

// ---- the softphone and the call -----------------------------------------------------------
const NOT_REACHED = {busy: '占线', no_answer: '无人接听', rejected: '拒接', failed: '呼叫失败',
                     invalid_number: '号码无效', agent_no_answer: '您的话机未接听', agent_unreachable: '无法呼叫您的话机'};
//: The 未联系上 form's outcome for a call that did not reach the citizen.
const OUTCOME_OF = {busy: 'busy', no_answer: 'no_answer', rejected: 'no_answer', invalid_number: 'wrong_number'};

function phoneState(text, ok) {
  $('phone-status').textContent = text;
  $('phone-status').className = `badge ${ok ? 'ok' : 'bad'}`;
}

async function startPhone() {
  let account;
  try {
    account = await api('POST', '/api/workbench/softphone');
  } catch (error) {
    phoneState(`话机不可用：${chinese(error)}`, false);
    return;
  }
  const phone = new Softphone({wsUrl: account.ws_url, sipUri: account.sip_uri, password: account.password,
                               displayName: account.username, audioElement: $('remote-audio')});
  state.phone = phone;
  phone.addEventListener('registered', () => { state.registered = true; phoneState('话机已注册', true); showCall(); });
  phone.addEventListener('unregistered', () => { state.registered = false; phoneState('话机未注册', false); showCall(); });
  phone.addEventListener('registrationFailed', (e) => {
    state.registered = false;
    phoneState(`话机注册失败 ${e.detail.status || ''}`.trim(), false);
    showCall();
  });
  // Only the call this page asked for is answered by itself; anything else is refused.
  phone.addEventListener('incoming', (e) => {
    if (state.call && !state.call.over) phone.answer();
    else e.detail.session.terminate({status_code: 486, reason_phrase: 'Busy Here'});
  });
  // The backend's `callback.ended` says how the call ended; should its word never come (the
  // push was down), the phone's own end closes the call after a moment all the same.
  for (const type of ['ended', 'failed']) {
    phone.addEventListener(type, () => {
      const call = state.call;
      setTimeout(() => { if (state.call === call && call && !call.over) callOver(call.phase === 'talking', 'failed'); }, 5000);
    });
  }
  phone.start();
}

let ticking = null;
function clock() {
  const since = state.call?.since;
  const seconds = since ? Math.max(0, Math.floor(((state.call.until || Date.now()) - since) / 1000)) : 0;
  $('call-timer').textContent = `${String(Math.floor(seconds / 60)).padStart(2, '0')}:${String(seconds % 60).padStart(2, '0')}`;
}

/** The call panel from `state.call`: its state in words, the timer, which buttons work. */
function showCall() {
  const call = state.call;
  const phase = call ? call.phase : 'idle';
  const words = {idle: '未拨打', calling: '呼叫中', talking: '通话中', ended: '已挂断'}[phase];
  $('call-state').textContent = call?.detail ? `${words}（${call.detail}）` : words;
  $('call-state').className = `call-state ${phase === 'ended' && !call.reached ? 'failed' : phase}`;
  const busy = Boolean(call && !call.over);
  $('place-call').disabled = busy || !state.task || !state.registered || Boolean(call?.reached);
  $('hang-up').disabled = !busy;
  clock();
  clearInterval(ticking);
  ticking = busy && call.since ? setInterval(clock, 1000) : null;
}

async function placeCall() {
  const task = state.task;
  if (!task || (state.call && !state.call.over)) return;
  if (!state.registered) { say('浏览器话机未注册，暂时不能拨打回访', true); return; }
  // Before the request: the backend may ring this page's phone before its answer arrives.
  state.call = {taskId: task.id, ticketNo: task.ticket_no, id: null, phase: 'calling', detail: '正在呼叫您的话机'};
  showCall();
  try {
    const {call_id: id} = await api('POST', `/api/workbench/callbacks/${encodeURIComponent(task.id)}/call`);
    if (state.call && state.call.taskId === task.id) state.call.id = id;
    loadTasks();  // the attempt is counted: 已拨 goes up now, not at the next refresh
  } catch (error) {
    state.call = {taskId: task.id, phase: 'ended', over: true, detail: chinese(error)};
    showCall();
    say(`${task.ticket_no} 未能拨打：${chinese(error)}`, true);
  }
}

function hangUp() {
  if (!state.call || state.call.over) return;
  if (state.phone?.session) state.phone.hangup();
}

function callOver(reached, reason) {
  const call = state.call;
  if (!call || call.over) return;
  Object.assign(call, {over: true, phase: 'ended', reached, until: call.since ? Date.now() : null,
                       detail: reached ? '请记录诉求人的评价' : (NOT_REACHED[reason] || reason || '')});
  if (state.phone?.session) state.phone.hangup();
  showCall();
  if (reached) {
    say(`${call.ticketNo} 回访通话已结束，请记录评价`);
    document.querySelector('input[name=satisfaction]')?.focus();
  } else if (state.task && state.task.id === call.taskId) {
    if (OUTCOME_OF[reason]) $('outcome').value = OUTCOME_OF[reason];
    say(`${call.ticketNo} 未接通（${NOT_REACHED[reason] || reason}）：可稍后重拨，或记录未联系上`, true);
    $('outcome').focus();
  }
}

/** The backend's word on the call placed from this page (`callback.*`, the person's own). */
function onCallEvent(m) {
  const call = state.call;
  if (!call || call.over || !m.type?.startsWith('callback.') || m.task_id !== call.taskId) return;
  if (m.type === 'callback.ringing') {
    call.phase = 'calling';
    call.detail = '正在以热线号码呼叫诉求人';
  } else if (m.type === 'callback.answered') {
    Object.assign(call, {phase: 'talking', detail: '诉求人已接听', since: Date.now()});
    say(`${call.ticketNo} 诉求人已接通：请询问对办理结果是否满意`);
  } else if (m.type === 'callback.not_reached') {
    call.notReached = m.reason;
  } else if (m.type === 'callback.ended') {
    callOver(Boolean(m.reached), call.notReached || m.reason);
    loadTasks();  // the task's result (上次结果) changed with the end
    return;
  }
  showCall();
}

async function open(tr) {
  if (state.call && !state.call.over && state.call.taskId !== tr.dataset.taskId) {
    say('回访通话中：请先挂断再打开其他回访', true);
    return;
  }
  select(tr);
  const task = state.tasks.get(tr.dataset.taskId);
  if (!task) return;
  const data = await readTicket(task.ticket_no);
  if (!data) return;
  state.task = task;
  $('detail-hint').classList.add('hidden');
  $('ticket').replaceChildren(el('p', {}, el('strong', {text: `诉求人电话 ${task.caller_number}`}),
                                   el('span', {class: 'muted', id: 'task-attempts', text: attemptsText(task)})),
                              ticketView(data.ticket, data.events));
  for (const input of document.querySelectorAll('input[name=satisfaction]')) input.checked = false;
  $('answer-reason').value = '';
  $('judgement').value = '';
  $('unreached-note').value = '';
  $('unsatisfied-box').classList.add('hidden');
  const atDeadline = task.reason === 'deadline';
  $('answer-title').textContent = atDeadline ? '诉求人对目前办理情况的评价' : '诉求人的评价';
  $('deadline-hint').classList.toggle('hidden', !atDeadline);
  $('judgement-box').classList.toggle('hidden', atDeadline);
  $('final').textContent = atDeadline ? '不再回访（记录未联系上，工单继续办理）' : '不再回访（记录最终结果并办结）';
  for (const form of [$('answer-form'), $('unreached-form')]) {
    showError(form, '');
    form.classList.remove('hidden');
  }
  if (state.call?.over && state.call.taskId !== task.id) state.call = null;
  $('call-panel').classList.remove('hidden');
  showCall();
}

function chosen() {
  return document.querySelector('input[name=satisfaction]:checked')?.value || null;
}

function finished(text) {
  say(text);
  state.task = null;
  state.call = null;
  showCall();
  $('ticket').replaceChildren();
  for (const form of [$('answer-form'), $('unreached-form'), $('call-panel')]) form.classList.add('hidden');
  $('detail-hint').classList.remove('hidden');
  loadTasks().then(() => $('tasks').querySelector('tr')?.focus());
}

/** The agent's judgement of an unsatisfied answer (临沂条例第二十条): true, false, or null to
 *  leave it to the review list. Never a judgement for any other answer. */
function judged(satisfaction) {
  const value = satisfaction === 'unsatisfied' && state.task?.reason !== 'deadline' ? $('judgement').value : '';
  return value ? value === 'reasonable' : null;
}

async function answer() {
  const form = $('answer-form');
  const satisfaction = chosen();
  if (!state.task) return;
  if (!satisfaction) return showError(form, '请选择诉求人的评价。', 'satisfaction');
  const reason = $('answer-reason').value.trim();
  if (satisfaction === 'unsatisfied' && !reason) {
    $('answer-reason').focus();
    return showError(form, '请填写不满意的原因。', 'reason');
  }
  $('answer-submit').disabled = true;
  try {
    const result = await api('POST', `/api/workbench/callbacks/${encodeURIComponent(state.task.id)}/answer`,
                             {satisfaction, reason, reasonable: judged(satisfaction)});
    finished(`${result.ticket_no} 回访已记录：${result.status_title}`);
  } catch (error) {
    showError(form, error, error.code === 'invalid_input' ? 'reason' : null);
  } finally {
    $('answer-submit').disabled = false;
  }
}

async function notReached(retry) {
  const form = $('unreached-form');
  if (!state.task) return;
  const body = {outcome: $('outcome').value, reason: $('unreached-note').value.trim()};
  if (retry) body.retry_minutes = Number($('retry-minutes').value);
  try {
    const result = await api('POST', `/api/workbench/callbacks/${encodeURIComponent(state.task.id)}/not-reached`, body);
    finished(retry ? `${state.task.ticket_no} 将于 ${when(result.retry_at)} 重拨` : `${result.ticket_no} 未能回访，已记录最终结果：${result.status_title}`);
  } catch (error) {
    showError(form, error);
  }
}

keyboardRows($('tasks'), open);
keyboardRows($('robot'), open);
$('satisfaction').addEventListener('change', () => {
  $('unsatisfied-box').classList.toggle('hidden', chosen() !== 'unsatisfied');
});
$('answer-form').addEventListener('submit', (event) => { event.preventDefault(); answer(); });
$('retry').addEventListener('click', () => notReached(true));
$('final').addEventListener('click', () => notReached(false));
$('place-call').addEventListener('click', placeCall);
$('hang-up').addEventListener('click', hangUp);
document.addEventListener('keydown', (event) => {
  const target = event.target;
  if (!state.task || event.ctrlKey || event.altKey || event.metaKey) return;
  if (typing(event) && target.type !== 'radio') return;
  const call = {c: placeCall, h: hangUp}[event.key.toLowerCase()];
  if (call) {
    event.preventDefault();
    call();
    return;
  }
  const value = KEYS[event.key];
  if (!value) return;
  event.preventDefault();
  const input = document.querySelector(`input[name=satisfaction][value=${value}]`);
  input.checked = true;
  input.focus();
  input.dispatchEvent(new Event('change', {bubbles: true}));
  if (value === 'unsatisfied') $('answer-reason').focus();
});
$('refresh').addEventListener('click', loadTasks);

showSessionBar($('session-bar'), {
  beforeSignOut() {  // never in the middle of a call: stopping the phone would hang up on the citizen
    if (state.call && !state.call.over) {
      say('回访通话中不能退出登录：请先挂断', true);
      return false;
    }
    state.phone?.stop();
    return true;
  },
});
listen('/ws/workbench/callbacks', $('feed-status'), {onMessage: onCallEvent});
startPhone();
await loadTasks();
$('tasks').querySelector('tr')?.focus();
setInterval(loadTasks, 30000);
