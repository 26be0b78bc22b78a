// The callback agent's page (回访员): the surveys due now (the unit gave its feedback, or the
// automatic dialer gave up, or a spoken answer waits to be confirmed), and those waiting for a
// retry; a ticket with the unit's feedback; the citizen's answer (1 满意, 2 基本满意, 3 不满意),
// the reason when unsatisfied and the hotline's judgement (reasonable: 重办; unreasonable:
// closed; or left to the review list); not
// reached: try again later, or the final outcome.
//
// Reads GET /api/callbacks and GET /api/tickets/{no}; writes POST /api/workbench/callbacks/{id}/
// answer and /not-reached, which put the result on the ticket and finish the task together.

import {
  $, api, chinese, el, keyboardRows, readTicket, replaceRows, say, select, showError, showSessionBar, ticketView, when,
} from '/workbench/workbench.js';

const state = {task: null, tasks: new Map()};
window.callbacksDebug = state;  // for people (and tests) inspecting the page
const RESULTS = {no_answer: '无人接听', busy: '占线', switched_off: '关机/停机', wrong_number: '号码错误',
                 declined: '拒绝回访', spoken: '口头回答待确认', no_key: '未按键'};
const KEYS = {1: 'satisfied', 2: 'basically_satisfied', 3: 'unsatisfied'};

function resultText(task) {
  if (task.answer_transcript) return `口头回答：“${task.answer_transcript}”`;
  return RESULTS[task.result] || task.result || '';
}

function row(task, cells) {
  return el('tr', {tabindex: '0', data: {taskId: task.id, ticketNo: task.ticket_no}}, cells.map((c) => el('td', {text: c})));
}

async function loadTasks() {
  let lists;
  try {
    lists = await Promise.all(['agent', 'agent_calling', 'due'].map((status) => api('GET', `/api/callbacks?status=${status}`)));
  } catch (error) {
    say(`刷新失败：${chinese(error)}`, true);
    return;
  }
  const now = Date.now();
  const surveys = lists.flatMap((l) => l.callbacks).filter((t) => t.reason === 'survey');
  state.tasks = new Map(surveys.map((t) => [t.id, t]));
  const due = surveys.filter((t) => t.status !== 'due' || new Date(t.due_at) <= now)
    .sort((a, b) => new Date(a.due_at) - new Date(b.due_at));
  const waiting = surveys.filter((t) => !due.includes(t));
  replaceRows($('tasks'), due.map((t) => row(t, [t.ticket_no, t.caller_number, t.status === 'due' ? '回访' : '人工回访',
                                                        when(t.due_at), String(t.attempts), resultText(t)])));
  replaceRows($('robot'), waiting.map((t) => row(t, [t.ticket_no, t.caller_number, when(t.due_at), String(t.attempts), resultText(t)])));
  $('due-count').textContent = String(due.length);
  $('robot-count').textContent = String(waiting.length);
  $('tasks-empty').classList.toggle('hidden', due.length > 0);
  const open = state.task && document.querySelector(`tr[data-task-id="${state.task.id}"]`);
  if (open) open.classList.add('selected');
}

async function open(tr) {
  select(tr);
  const task = state.tasks.get(tr.dataset.taskId);
  if (!task) return;
  const data = await readTicket(task.ticket_no);
  if (!data) return;
  state.task = task;
  $('detail-hint').classList.add('hidden');
  $('ticket').replaceChildren(el('p', {}, el('strong', {text: `诉求人电话 ${task.caller_number}`}),
                                   el('span', {class: 'muted', text: `　已拨 ${task.attempts} 次`})),
                              ticketView(data.ticket, data.events));
  for (const input of document.querySelectorAll('input[name=satisfaction]')) input.checked = false;
  $('answer-reason').value = '';
  $('judgement').value = '';
  $('unreached-note').value = '';
  $('unsatisfied-box').classList.add('hidden');
  for (const form of [$('answer-form'), $('unreached-form')]) {
    showError(form, '');
    form.classList.remove('hidden');
  }
}

function chosen() {
  return document.querySelector('input[name=satisfaction]:checked')?.value || null;
}

function finished(text) {
  say(text);
  state.task = null;
  $('ticket').replaceChildren();
  for (const form of [$('answer-form'), $('unreached-form')]) form.classList.add('hidden');
  $('detail-hint').classList.remove('hidden');
  loadTasks().then(() => $('tasks').querySelector('tr')?.focus());
}

/** The agent's judgement of an unsatisfied answer (临沂条例第二十条): true, false, or null to
 *  leave it to the review list. Never a judgement for any other answer. */
function judged(satisfaction) {
  const value = satisfaction === 'unsatisfied' ? $('judgement').value : '';
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
document.addEventListener('keydown', (event) => {
  const target = event.target;
  if (!state.task || event.ctrlKey || event.altKey || event.metaKey) return;
  if (target instanceof HTMLElement && ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName) && target.type !== 'radio') return;
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

showSessionBar($('session-bar'));
await loadTasks();
$('tasks').querySelector('tr')?.focus();
setInterval(loadTasks, 30000);
