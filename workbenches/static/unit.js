// A handling unit's page (承办单位): the unit's open tickets, nearest deadline first (overdue and
// due within a day marked), new tickets pushed live with a count (/ws/workbench/unit); a ticket
// with its masked caller, request, history and deadlines; sign, return with evidence, ask for
// an extension, ask to terminate, progress notes, feedback with evidence; a confidential
// caller reached through the relay; the list as CSV. 联系诉求人 (L): the lead unit records that it
// contacted the caller (phone, SMS, visit), due within the working days after dispatch
// (济南条例, the first-contact deadline shown with the ticket) unless the caller wants no reply.
//
// Only what this person may do is offered: the lead unit signs, returns, asks and gives
// feedback; a cooperating unit adds its progress notes. The server decides again on every
// command (the ticket workflow), and a unit never sees another unit's ticket.

import {
  $, api, chinese, command, el, keyboardRows, left, listen, person, readTicket, replaceRows, say, select, showError,
  showSessionBar, ticketRow, ticketView, titles, typing, uploadAll, when,
} from '/workbench/workbench.js';

const state = {ticket: null, events: [], action: null, fresh: new Set()};
window.unitDebug = state;  // for people (and tests) inspecting the page

//: What a unit may do, and when (the workflow's FROM_STATUSES and gates, as a page offers them).
const ACTIONS = {
  sign: {title: '签收', lead: true, from: ['dispatched'], direct: true, main: true},
  // The workflow's UNIT_UNFINISHED_STATUSES: dispatched, and not yet fed back.
  'record-contact': {title: '联系诉求人', lead: true, key: 'L', text: '联系情况（与诉求人沟通的内容）', field: 'note', needText: true,
                     method: true, from: ['dispatched', 'in_progress', 'return_requested', 'extension_requested',
                                          'termination_requested', 'suspension_requested', 'suspended']},
  'progress-note': {title: '办理进展', lead: false, from: ['dispatched', 'in_progress'], text: '进展情况', field: 'note', needText: true},
  feedback: {title: '反馈办理结果', lead: true, from: ['in_progress'], text: '办理结果', field: 'result', needText: true,
             files: true, contacted: true, main: true},
  'request-extension': {title: '申请延期', lead: true, from: ['in_progress'], text: '延期理由', needText: true, deadline: true,
                        informed: true},
  'request-suspension': {title: '申请中止办理', lead: true, from: ['in_progress'], text: '中止理由', needText: true,
                         files: true, needFiles: true},
  resume: {title: '恢复办理', lead: true, from: ['suspended'], text: '恢复办理的情况', needText: true},
  'request-return': {title: '申请退回', lead: true, from: ['dispatched', 'in_progress'], text: '退回理由（非本单位职责的依据）',
                     needText: true, files: true, needFiles: true},
  'request-termination': {title: '申请终止办理', lead: true, from: ['in_progress'], text: '终止理由', needText: true,
                          files: true, needFiles: true, ground: true},
};

function deadlineCell(t) {
  const text = t.deadline ? `${when(t.deadline)} ${t.mark_title || left(t.deadline)}` : (t.status === 'dispatched' && t.sign_deadline ? `签收 ${when(t.sign_deadline)}` : '—');
  return el('td', {class: 'deadline', text});
}

async function loadInbox() {
  let data;
  try {
    data = await api('GET', '/api/workbench/unit-inbox');
  } catch (error) {
    say(`刷新失败：${chinese(error)}`, true);
    return;
  }
  const rows = data.tickets.map((t) => {
    const row = ticketRow(t, [t.ticket_no, t.status_title, el('td', {class: 'summary', text: t.summary, title: t.summary}),
                              t.role_title, deadlineCell(t)]);
    if (state.fresh.has(t.ticket_no)) row.classList.add('fresh');
    if (state.ticket?.ticket_no === t.ticket_no) row.classList.add('selected');
    return row;
  });
  replaceRows($('inbox'), rows);
  $('inbox-empty').classList.toggle('hidden', rows.length > 0);
  $('inbox-more').classList.toggle('hidden', !data.more);
  $('overdue-count').textContent = String(data.counts.overdue);
  $('soon-count').textContent = String(data.counts.due_soon);
}

function showNewCount() {
  const box = $('new-count');
  box.textContent = `新到 ${state.fresh.size}`;
  box.classList.toggle('hidden', state.fresh.size === 0);
  document.title = state.fresh.size ? `(${state.fresh.size}) 12345 热线 · 承办工作台` : '12345 热线 · 承办工作台';
}

async function open(row) {
  select(row);
  const no = row.dataset.ticketNo;
  const data = await readTicket(no);
  if (!data) return;
  if (state.fresh.delete(no)) {
    row.classList.remove('fresh');
    showNewCount();
  }
  state.ticket = data.ticket;
  state.events = data.events;
  $('detail-hint').classList.add('hidden');
  $('ticket').replaceChildren(ticketView(data.ticket, data.events));
  closeForm();
  showActions();
  showRelay(data.ticket);
}

function isLead(ticket) {
  return ticket.lead_unit === person.unit;
}

function showActions() {
  const ticket = state.ticket;
  const buttons = Object.entries(ACTIONS)
    .filter(([, a]) => a.from.includes(ticket.status) && (!a.lead || isLead(ticket)))
    .map(([name, a]) => el('button', {type: 'button', class: a.main ? 'primary' : '', data: {action: name},
                                      onclick: () => start(name)}, a.title, a.key ? [' ', el('kbd', {text: a.key})] : null));
  $('actions').replaceChildren(...(buttons.length ? buttons : [el('span', {class: 'muted', text: '此工单当前无需本单位操作。'})]));
  // The keyboard goes on with the ticket's main action (Enter does it; Esc goes back to the list).
  ($('actions').querySelector('button.primary') || $('actions').querySelector('button'))?.focus();
}

async function showRelay(ticket) {
  const box = $('relay');
  box.classList.add('hidden');
  if (!ticket.caller.confidential) return;
  try {
    const data = await api('GET', `/api/tickets/${encodeURIComponent(ticket.ticket_no)}/relay-code`);
    box.replaceChildren(el('strong', {text: '保密来电人：'}),
      `请拨打 ${data.relay_number}，按提示输入联络码 ${data.relay_code.code}，由热线转接诉求人（号码不显示）。联络码有效至 ${when(data.relay_code.expires_at)}。`);
    box.classList.remove('hidden');
  } catch (error) {
    box.textContent = `保密来电人：暂无联络码（${chinese(error)}）。`;
    box.classList.remove('hidden');
  }
}

async function start(name) {
  const action = ACTIONS[name];
  if (action.direct) {
    await run(name, {});
    return;
  }
  state.action = name;
  $('action-title').textContent = action.title;
  $('text-label').textContent = action.text;
  $('text').value = '';
  $('files').value = '';
  $('deadline-box').classList.toggle('hidden', !action.deadline);
  $('ground-box').classList.toggle('hidden', !action.ground);
  $('explained-box').classList.toggle('hidden', !action.ground);
  $('contacted-box').classList.toggle('hidden', !action.contacted);
  $('method-box').classList.toggle('hidden', !action.method);
  $('informed-box').classList.toggle('hidden', !action.informed);
  $('informed').checked = false;
  $('files-box').classList.toggle('hidden', !action.files);
  showError($('action-form'), '');
  $('action-form').classList.remove('hidden');
  $('text').focus();
}

function closeForm() {
  state.action = null;
  $('action-form').classList.add('hidden');
}

async function run(name, body) {
  try {
    await command(state.ticket, name, body);
    say(`${state.ticket.ticket_no}：${ACTIONS[name].title}完成`);
  } catch (error) {
    if (!$('action-form').classList.contains('hidden')) showError($('action-form'), error);
    else say(`${ACTIONS[name].title}失败：${chinese(error)}`, true);
    if (error.code !== 'conflict') return false;
  }
  await loadInbox();
  const row = $('inbox').querySelector(`tr[data-ticket-no="${state.ticket.ticket_no}"]`);
  if (row) await open(row);
  else {
    state.ticket = null;
    $('ticket').replaceChildren();
    $('actions').replaceChildren();
    closeForm();
  }
  return true;
}

async function submit() {
  const name = state.action;
  const action = ACTIONS[name];
  const form = $('action-form');
  const text = $('text').value.trim();
  if (action.needText && !text) return showError(form, `请填写${action.text}。`, 'text');
  if (action.needFiles && !$('files').files.length) return showError(form, '请上传证明材料。', 'attachments');
  const body = {};
  if (action.field) body[action.field] = text;
  if (action.field !== 'note' && action.field !== 'result') body.reason = text;
  if (action.deadline) {
    if (!$('requested-deadline').value) return showError(form, '请填写申请延至的时间。', 'requested_deadline');
    body.requested_deadline = new Date(`${$('requested-deadline').value}:00+08:00`).toISOString();
  }
  if (action.ground) {
    body.ground = $('ground').value;
    body.explained_to_caller = $('explained').checked;
  }
  if (action.contacted) body.contacted_caller = $('contacted').checked;
  if (action.method) body.method = $('method').value;
  if (action.informed) {
    if (!$('informed').checked) return showError(form, '申请延期前须向诉求人说明理由。', 'caller_informed');
    body.caller_informed = true;
  }
  $('action-submit').disabled = true;
  try {
    if (action.files && $('files').files.length) body.attachments = await uploadAll($('files'));
    await run(name, body);
  } catch (error) {
    showError(form, error, 'attachments');
  } finally {
    $('action-submit').disabled = false;
  }
}

// ---- pushed: new tickets of this unit ----------------------------------------------------

function notified(message) {
  if (message.event === 'ticket.Dispatched') {
    state.fresh.add(message.ticket_no);
    showNewCount();
    say(`新工单 ${message.ticket_no}（${message.lead ? '牵头' : '配合'}）`);
  }
  loadInbox();
}

$('ground').append(...Object.entries(titles.ground).map(([value, text]) => el('option', {value, text})));
$('method').append(...Object.entries(titles.contact_method).map(([value, text]) => el('option', {value, text})));
keyboardRows($('inbox'), open);
$('action-form').addEventListener('submit', (event) => { event.preventDefault(); submit(); });
$('action-cancel').addEventListener('click', closeForm);
$('action-form').addEventListener('keydown', (event) => {
  if (event.key === 'Escape') {
    event.stopPropagation();
    closeForm();
    $('actions').querySelector('button')?.focus();
  }
  if (event.key === 'Enter' && event.ctrlKey) { event.preventDefault(); submit(); }
});
$('detail').addEventListener('keydown', (event) => {
  if (event.key === 'Escape') $('inbox').querySelector('tr.selected')?.focus();
});
// A letter starts the action it names on the open ticket (L 联系诉求人), when it is offered.
document.addEventListener('keydown', (event) => {
  if (!state.ticket || typing(event) || event.ctrlKey || event.altKey || event.metaKey) return;
  const name = Object.keys(ACTIONS).find((n) => ACTIONS[n].key?.toLowerCase() === event.key.toLowerCase());
  if (!name || !$('actions').querySelector(`button[data-action="${name}"]`)) return;
  event.preventDefault();
  start(name);
});

showSessionBar($('session-bar'));
listen('/ws/workbench/unit', $('feed-status'), {onMessage: notified, onOpen: loadInbox});
await loadInbox();
$('inbox').querySelector('tr')?.focus();
