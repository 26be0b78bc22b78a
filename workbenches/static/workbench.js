// What the workbench pages share (served as /workbench/workbench.js): the signed-in person and
// the API (from /signin/session.js), the zh-CN names of the workflow's values (from the server,
// GET /api/workbench/titles, so that a page and the CSV export never disagree), building
// elements as text only, times in Asia/Shanghai, errors worded in Chinese next to the field
// they concern, evidence uploads, and the ticket view a dispatcher and a unit both read.
//
// Everything that came from a caller, a unit or the database goes into the page as text
// (textContent), never as HTML: a ticket's words cannot become markup.

import {api, chinese, person, showSessionBar, socketUrl, afterSocketClose} from '/signin/session.js';

export {chinese};

export {api, person, showSessionBar, socketUrl, afterSocketClose};

/** The zh-CN names: {status, ticket_type, urgency, mark, satisfaction, ground, event, request, unit}.
 *  The same for everyone and until a deploy: from the browser's cache while the server allows. */
export const titles = await api('GET', '/api/workbench/titles', undefined, {cache: 'default'});

export const $ = (id) => document.getElementById(id);

/** An element with properties (`text` for textContent, `class`, `data` for dataset, any
 *  attribute) and children (elements or strings, added as text). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'text') node.textContent = value;
    else if (key === 'class') node.className = value;
    else if (key === 'data') Object.assign(node.dataset, value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

const TIME = {timeZone: 'Asia/Shanghai', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false};

/** A moment as 12/07 14:30 (Beijing time); '' for none. */
export function when(iso) {
  return iso ? new Date(iso).toLocaleString('zh-CN', TIME) : '';
}

/** A duration as 3天2小时, 2小时5分 or 7分. */
export function duration(seconds) {
  const minutes = Math.floor(seconds / 60);
  const hours = Math.floor(minutes / 60);
  const days = Math.floor(hours / 24);
  if (days) return `${days}天${hours % 24}小时`;
  if (hours) return `${hours}小时${minutes % 60}分`;
  return `${minutes}分`;
}

/** What a deadline leaves (剩 2天3小时) or how far it is past (超期 5小时). */
export function left(iso) {
  if (!iso) return '';
  const seconds = (new Date(iso) - Date.now()) / 1000;
  return seconds >= 0 ? `剩 ${duration(seconds)}` : `超期 ${duration(-seconds)}`;
}

/** Show `error` (or a text) in the form's message line: next to the field it concerns when the
 *  form has one of that name with a `.field-error` beside it. */
export function showError(form, error, field) {
  for (const box of form.querySelectorAll('.field-error, .form-error')) box.textContent = '';
  const text = typeof error === 'string' ? error : chinese(error);
  const target = (field && form.querySelector(`[data-error-for="${field}"]`)) || form.querySelector('.form-error');
  if (target) target.textContent = text;
  return text;
}

/** A short line in the page's message list (the newest first). */
export function say(text, error = false) {
  const box = $('messages');
  if (!box) return;
  box.prepend(el('div', {class: error ? 'error' : '', text: `${new Date().toLocaleTimeString('zh-CN')} ${text}`}));
  while (box.childElementCount > 8) box.lastElementChild.remove();
}

/** Upload one evidence file (multipart, with the session's CSRF token); its attachment. */
export async function upload(file) {
  const form = new FormData();
  form.append('file', file, file.name);
  const response = await fetch('/api/evidence', {method: 'POST', body: form, credentials: 'same-origin',
                                                  headers: {'X-CSRF-Token': person.csrf_token || ''}});
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(data.message || `${response.status}`);
    Object.assign(error, {status: response.status, code: data.error});
    throw error;
  }
  return data.attachment;
}

/** Upload every file chosen in a file input; their attachments. */
export async function uploadAll(input) {
  const attachments = [];
  for (const file of input.files) attachments.push(await upload(file));
  return attachments;
}

/** A ticket and its events (GET /api/tickets/{no}), or null after saying why it could not be read. */
export async function readTicket(no) {
  try {
    return await api('GET', `/api/tickets/${encodeURIComponent(no)}`);
  } catch (error) {
    say(`打开工单失败：${chinese(error)}`, true);
    return null;
  }
}

/** Run a workflow command on a ticket at the version the page shows. */
export function command(ticket, name, body = {}) {
  return api('POST', `/api/tickets/${encodeURIComponent(ticket.ticket_no)}/commands/${name}`,
             {expected_version: ticket.version, ...body});
}

/** A unit's name from the dispatch catalogue (its code when unknown). */
export function unitName(code) {
  return titles.unit[code] || code || '';
}

/** The caller as this person may see them: a unit sees a masked or hidden caller. */
function callerText(caller) {
  const noReply = caller.no_reply ? '（要求不回复）' : '';
  if (caller.confidential) return `保密来电人${caller.number ? `（${caller.number}）` : ''}${noReply}`;
  if (caller.anonymous) return `匿名来电人${noReply}`;
  return ([caller.name, caller.number].filter(Boolean).join(' ') || '未留') + noReply;
}

/** 济南条例: the lead unit contacts the caller within the working days after dispatch. */
function firstContactText(ticket) {
  if (ticket.first_contacted_at) return `已于 ${when(ticket.first_contacted_at)} 联系`;
  if (ticket.first_contact_deadline) return `${when(ticket.first_contact_deadline)}（${left(ticket.first_contact_deadline)}）`;
  return ticket.caller.no_reply ? '诉求人要求不回复，无需联系' : null;
}

/** Links to a request's or a feedback's evidence files (opened with the session cookie). */
export function evidenceLinks(attachments) {
  return el('span', {class: 'evidence'}, attachments.map((a) =>
    el('a', {href: `/api/evidence/${a.sha256}`, target: '_blank', rel: 'noopener', text: `[附件] ${a.title || a.name}`})));
}

// Automated jobs (Role.SYSTEM) by their account, in Chinese.
const SYSTEM_ACTORS = {'supervision-scanner': '督办扫描（系统）'};

/** Who acted ({id, role}): a person by their account, an automated job by what it is. */
export function actorName(actor) {
  if (actor.role === 'system') return SYSTEM_ACTORS[actor.id] || titles.role.system || actor.id;
  return actor.id;
}

/** One line of a ticket's history: when, what, who, and the words and evidence it carried. */
function historyLine(event) {
  const data = event.data || {};
  const words = [event.data.reason, data.note, data.result, data.answer].filter(Boolean).join('；');
  const extra = [];
  if (data.lead_unit) extra.push(`牵头 ${unitName(data.lead_unit)}`);
  if (data.requested_deadline) extra.push(`申请延至 ${when(data.requested_deadline)}`);
  if (data.new_deadline) extra.push(`新时限 ${when(data.new_deadline)}`);
  if (data.ground) extra.push(titles.ground[data.ground] || titles.escalation_ground[data.ground] || data.ground);
  if (data.kind && titles.flag[data.kind]) extra.push(titles.flag[data.kind]);
  if (data.method) extra.push(titles.contact_method[data.method] || data.method);
  if (data.reached === false) extra.push('未联系上');
  if (data.satisfaction) extra.push(titles.satisfaction[data.satisfaction] || data.satisfaction);
  const who = event.actor.unit ? `${unitName(event.actor.unit)} ${event.actor.id}` : actorName(event.actor);
  return el('li', {},
    el('span', {class: 'who', text: `${when(event.at)} ${titles.event[event.type] || event.type} · ${who}`}),
    [extra.join('，'), words].filter(Boolean).join('：'),
    (data.attachments || []).length ? evidenceLinks(data.attachments) : null);
}

/** The ticket as a dispatcher or a unit reads it: facts, the request, deadlines, history. */
export function ticketView(ticket, events) {
  const facts = [
    ['工单号', ticket.ticket_no], ['状态', titles.status[ticket.status] || ticket.status],
    ['类型', titles.ticket_type[ticket.ticket_type] || '未分类'], ['紧急程度', titles.urgency[ticket.urgency]],
    ['来电人', callerText(ticket.caller)], ['地点', [ticket.district, ticket.location].filter(Boolean).join(' ')],
    ['受理时间', when(ticket.created_at)],
  ];
  if (ticket.lead_unit) facts.push(['承办单位', [unitName(ticket.lead_unit), ...ticket.cooperating_units.map((u) => `${unitName(u)}（配合）`)].join('、')]);
  if (ticket.sign_deadline && ticket.status === 'dispatched') facts.push(['签收时限', `${when(ticket.sign_deadline)}（${left(ticket.sign_deadline)}）`]);
  if (ticket.deadline) facts.push(['办理时限', `${when(ticket.deadline)}（${left(ticket.deadline)}）`]);
  if (ticket.requested_deadline) facts.push(['申请延至', when(ticket.requested_deadline)]);
  const contact = ticket.lead_unit ? firstContactText(ticket) : null;
  if (contact) facts.push([ticket.first_contacted_at ? '联系诉求人' : '联系诉求人时限', contact]);
  if (ticket.deadline_callback_at) {
    facts.push(['时限届满回访', `${when(ticket.deadline_callback_at)} ${titles.satisfaction[ticket.deadline_callback_view] || '未评价'}`]);
  }
  if (ticket.about_staff) facts.push(['被投诉工作人员', `${ticket.about_staff}（质检组处理，不派单）`]);
  if (ticket.quality_finding) facts.push(['质检结论', titles.quality_finding?.[ticket.quality_finding] || ticket.quality_finding]);
  return el('div', {class: 'ticket'},
    el('h3', {class: 'ticket-summary', text: ticket.summary || '（无摘要）'}),
    el('dl', {class: 'facts'}, facts.map(([k, v]) => [el('dt', {text: k}), el('dd', {text: v || '—'})])),
    el('div', {class: 'content ticket-content', text: ticket.content || '（无诉求内容）'}),
    el('h4', {class: 'muted', text: '办理记录'}),
    el('ol', {class: 'history'}, events.slice().reverse().map(historyLine)));
}

/** Arrow keys (and j/k) move through a table's rows, Enter opens one; `open(row)` on a click too. */
export function keyboardRows(tbody, open) {
  tbody.addEventListener('click', (event) => {
    const row = event.target.closest('tr');
    if (row && row.parentElement === tbody) open(row);
  });
  tbody.addEventListener('keydown', (event) => {
    const row = event.target.closest('tr');
    if (!row) return;
    const step = {ArrowDown: 1, j: 1, ArrowUp: -1, k: -1}[event.key];
    if (step) {
      event.preventDefault();
      (step > 0 ? row.nextElementSibling : row.previousElementSibling)?.focus();
    } else if (event.key === 'Enter') {
      event.preventDefault();
      open(row);
    }
  });
}

/** Put fresh rows in a table, keeping the keyboard where it was: the row that had the focus
 *  (the same ticket or task) has it again, so a pushed reload never moves a person's place. */
export function replaceRows(tbody, rows) {
  const focused = tbody.contains(document.activeElement) ? document.activeElement.closest('tr') : null;
  const key = focused ? (focused.dataset.taskId || focused.dataset.ticketNo) : null;
  tbody.replaceChildren(...rows);
  if (key) rows.find((row) => (row.dataset.taskId || row.dataset.ticketNo) === key)?.focus();
}

/** Mark `row` as the open one in its table. */
export function select(row) {
  for (const other of row.parentElement.querySelectorAll('tr.selected')) other.classList.remove('selected');
  row.classList.add('selected');
}

/** A table row for a list entry: focusable, named by its ticket number. */
export function ticketRow(entry, cells) {
  return el('tr', {tabindex: '0', data: {ticketNo: entry.ticket_no}, class: entry.mark || ''},
    cells.map((c) => (c instanceof Node ? c : el('td', {text: c ?? ''}))));
}

/** Listen to one of the workbenches' sockets: `onMessage(message)` for each notice,
 *  `onOpen()` once subscribed (again after a reconnect: reload what may have been missed);
 *  the state in `status`. A session that ended goes to the sign-in page. */
export function listen(path, status, {onMessage, onOpen}) {
  const ws = new WebSocket(socketUrl(path));
  ws.addEventListener('message', (event) => {
    const message = JSON.parse(event.data);
    if (message.type !== 'ready') onMessage(message);  // a notice (a ticket, a callback call)
    else {  // subscribed: from now on nothing is missed
      status.textContent = '实时推送已连接';
      onOpen?.();
    }
  });
  ws.addEventListener('close', (event) => {
    status.textContent = '实时推送已断开，正在重连…';
    afterSocketClose(event, () => setTimeout(() => listen(path, status, {onMessage, onOpen}), 2000));
  });
}

/** Whether a key press is typed into a field (page shortcuts stay out of the way then). */
export function typing(event) {
  const target = event.target;
  return target instanceof HTMLElement && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));
}
