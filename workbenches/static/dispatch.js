// The dispatcher's page (派单员): the queue of tickets waiting for dispatch (the longest wait
// first), a ticket with its transcript excerpt, the units the dispatch catalogue suggests with
// the deadline a dispatch would set now, dispatch with one key (D); and the review queue of
// units' return, extension and termination requests with their evidence, approved or refused
// with a reason. A complaint about hotline staff is marked here (S: the staff member's account,
// 工号) and goes to the quality team instead of a unit; supervisors (班长, the quality team) see
// those waiting for their finding in a third list and record the finding and its result here.
//
// Reads GET /api/workbench/dispatch-queue, /review-queue, /quality-queue (supervisors), /tickets/{no}/deadline-preview,
// GET /api/tickets/{no} (+ suggested-units) and /api/workbench/tickets/{no}/transcript (the
// call's first lines, audited); writes only through the ticket workflow's commands.

import {
  $, api, chinese, command, duration, el, evidenceLinks, keyboardRows, left, listen, readTicket, replaceRows, say, select, showError, showSessionBar, ticketRow,
  ticketView, titles, typing, unitName, when,
} from '/workbench/workbench.js';
import {closureBody, closureLabel, offerClosureCases} from '/static/intake_closure.js';

const state = {ticket: null, kind: null, units: [], lead: null, previewFor: null};
window.dispatchDebug = state;  // for people (and tests) inspecting the page

async function loadQueues() {
  try {
    const [queue, reviews] = await Promise.all([api('GET', '/api/workbench/dispatch-queue'),
                                                api('GET', '/api/workbench/review-queue')]);
    // A reload (the socket's first connect, a pushed change) replaces the rows: the row that had
    // the keyboard's focus keeps it, so Enter still opens what the person was on.
    const focused = document.activeElement?.closest?.('tr[data-ticket-no]');
    const focusedIn = focused?.parentElement;
    const focusedNo = focused?.dataset.ticketNo;
    replaceRows($('queue'), queue.tickets.map((t) => ticketRow(t, [
      t.ticket_no, t.ticket_type_title, el('td', {class: 'summary', text: t.summary, title: t.summary}),
      t.status_title, duration(t.waited_seconds)])));
    replaceRows($('reviews'), reviews.tickets.map((t) => ticketRow(t, [
      t.ticket_no, t.request_title, unitName(t.lead_unit), el('td', {class: 'summary', text: t.summary, title: t.summary}),
      duration(t.waited_seconds)])));
    if (focusedNo && focusedIn) focusedIn.querySelector(`tr[data-ticket-no="${focusedNo}"]`)?.focus();
    $('queue-count').textContent = String(queue.tickets.length);
    $('review-count').textContent = String(reviews.tickets.length);
    $('queue-empty').classList.toggle('hidden', queue.tickets.length > 0);
    $('review-empty').classList.toggle('hidden', reviews.tickets.length > 0);
    for (const [body, kind] of [[$('queue'), 'dispatch'], [$('reviews'), 'review']]) {
      const open = state.ticket && state.kind === kind && body.querySelector(`tr[data-ticket-no="${state.ticket.ticket_no}"]`);
      if (open) open.classList.add('selected');
    }
  } catch (error) {
    say(`刷新失败：${chinese(error)}`, true);
  }
  await loadQuality();
}

// The quality team's list: supervisors only (a dispatcher is refused, and the list stays hidden).
async function loadQuality() {
  let quality;
  try {
    quality = await api('GET', '/api/workbench/quality-queue');
  } catch (error) {
    $('quality-section').classList.add('hidden');
    if (error.code !== 'permission_denied') say(`待质检列表读取失败：${chinese(error)}`, true);
    return;
  }
  replaceRows($('quality'), quality.tickets.map((t) => ticketRow(t, [
    t.ticket_no, t.about_staff, el('td', {class: 'summary', text: t.summary, title: t.summary}),
    duration(t.waited_seconds)])));
  $('quality-section').classList.remove('hidden');
  $('quality-count').textContent = String(quality.tickets.length);
  $('quality-empty').classList.toggle('hidden', quality.tickets.length > 0);
  const open = state.ticket && state.kind === 'quality' && $('quality').querySelector(`tr[data-ticket-no="${state.ticket.ticket_no}"]`);
  if (open) open.classList.add('selected');
}

async function loadUnits() {
  try {
    state.units = (await api('GET', '/api/units')).units;
  } catch (error) {
    say(`无法读取派单目录：${chinese(error)}`, true);
  }
  $('other-unit').append(...state.units.map((u) => el('option', {value: u.code, text: u.name})));
}

async function showTranscript(ticket) {
  $('transcript-box').classList.add('hidden');
  $('transcript').replaceChildren();
  if (!ticket.call_ids.length) return;
  let data;
  try {
    data = await api('GET', `/api/workbench/tickets/${encodeURIComponent(ticket.ticket_no)}/transcript`);
  } catch (error) {
    return;  // not one this person may read now: the ticket's own text stands
  }
  const lines = data.calls.flatMap((call) => call.lines).map((line) => el('li', {class: line.speaker},
    el('span', {class: 'who', text: line.speaker === 'caller' ? '来电人' : '坐席'}), line.text));
  $('transcript').replaceChildren(...lines);
  $('transcript-box').classList.toggle('hidden', lines.length === 0);
}

async function open(row, kind) {
  select(row);
  for (const other of document.querySelectorAll(`main tbody:not(#${LISTS[kind]}) tr.selected`)) other.classList.remove('selected');
  const no = row.dataset.ticketNo;
  const data = await readTicket(no);
  if (!data) return;
  state.ticket = data.ticket;
  state.kind = kind;
  $('detail-hint').classList.add('hidden');
  $('ticket').replaceChildren(ticketView(data.ticket, data.events));
  $('dispatch-form').classList.toggle('hidden', kind !== 'dispatch');
  $('review-form').classList.toggle('hidden', kind !== 'review');
  $('staff-form').classList.toggle('hidden', kind !== 'dispatch');
  $('quality-form').classList.toggle('hidden', kind !== 'quality');
  $('about-staff').value = '';
  $('quality-result').value = '';
  // 不予受理 only for a draft (a returned ticket was accepted once already).
  $('closure-form').classList.toggle('hidden', !(kind === 'dispatch' && data.ticket.status === 'draft'));
  $('closure-note').value = '';
  for (const form of FORMS()) showError(form, '');
  showTranscript(data.ticket);
  if (kind === 'dispatch') await showSuggestions(data.ticket);
  else if (kind === 'review') showRequest(data.ticket, data.events);
}

const LISTS = {dispatch: 'queue', review: 'reviews', quality: 'quality'};
const FORMS = () => ['dispatch-form', 'review-form', 'closure-form', 'staff-form', 'quality-form'].map($);

// ---- complaints about hotline staff (北京条例第三十三条第一项; 济南条例: the hotline's own checks) ----

async function markStaff() {
  const form = $('staff-form');
  const ticket = state.ticket;
  if (!ticket || state.kind !== 'dispatch') return;
  const staff = $('about-staff').value.trim();
  if (!staff) {
    showError(form, '请填写被投诉工作人员的工号。', 'about_staff');
    $('about-staff').focus();
    return;
  }
  if (!ticket.summary) {
    showError(form, '工单尚无摘要：请先由话务员补充工单。');
    return;
  }
  try {
    // A complaint about staff is a complaint (投诉); the rest of the ticket stays as it is.
    await command(ticket, 'classify', {ticket_type: 'complaint', summary: ticket.summary, urgency: ticket.urgency,
                                       district: ticket.district, about_staff: staff});
    say(`${ticket.ticket_no} 已转质检组处理（投诉热线工作人员 ${staff}）`);
    done();
  } catch (error) {
    showError(form, error, error.code === 'invalid_input' ? 'about_staff' : null);
  }
}

async function recordFinding() {
  const form = $('quality-form');
  const ticket = state.ticket;
  if (!ticket || state.kind !== 'quality') return;
  const result = $('quality-result').value.trim();
  if (!result) {
    showError(form, '请填写处理结果。', 'result');
    $('quality-result').focus();
    return;
  }
  try {
    await command(ticket, 'quality-finding', {finding: $('quality-finding').value, result});
    say(`${ticket.ticket_no} 质检结论已记录：${titles.quality_finding?.[$('quality-finding').value] || ''}，待回访`);
    done();
  } catch (error) {
    showError(form, error, error.code === 'invalid_input' ? 'result' : null);
  }
}

// ---- dispatch ------------------------------------------------------------------------------

async function showSuggestions(ticket) {
  let suggestions = [];
  try {
    suggestions = (await api('GET', `/api/tickets/${encodeURIComponent(ticket.ticket_no)}/suggested-units`)).suggestions;
  } catch (error) {
    say(`无法取得推荐单位：${chinese(error)}`, true);
  }
  const choices = suggestions.map((s, index) => el('label', {},
    el('input', {type: 'radio', name: 'lead', value: s.unit, checked: index === 0}),
    el('span', {text: s.unit_name}),
    el('span', {class: 'muted', text: `${s.matter || ''} ${s.term.working_days ? `${s.term.working_days}个工作日` : `${s.term.hours}小时`}`}),
    el('label', {class: 'muted'}, el('input', {type: 'checkbox', name: 'cooperating', value: s.unit}), '配合')));
  $('units').replaceChildren(choices.length ? el('p', {class: 'muted', text: '推荐单位（按派单目录匹配）：牵头选一个，可勾选配合单位'}) : el('p', {class: 'muted', text: '派单目录没有匹配的单位，请在下方选择。'}), ...choices);
  $('other-unit').value = '';
  state.lead = suggestions[0]?.unit || null;
  await preview();
}

function chosenLead() {
  return $('other-unit').value || document.querySelector('#units input[name=lead]:checked')?.value || null;
}

async function preview() {
  const unit = chosenLead();
  state.lead = unit;
  $('dispatch').disabled = !unit;
  if (!unit || !state.ticket) {
    $('preview').textContent = '请选择牵头单位。';
    return;
  }
  try {
    const p = await api('GET', `/api/workbench/tickets/${encodeURIComponent(state.ticket.ticket_no)}/deadline-preview?unit=${encodeURIComponent(unit)}`);
    const term = p.working_days ? `${p.working_days}个工作日` : `${p.hours}小时`;
    $('preview').textContent = `派给 ${p.unit_name}：签收时限 ${when(p.sign_deadline)}，办理时限 ${term}，至 ${when(p.deadline)}（${left(p.deadline)}）`;
  } catch (error) {
    $('preview').textContent = chinese(error);
  }
}

async function dispatch() {
  const form = $('dispatch-form');
  const lead = chosenLead();
  if (!state.ticket || state.kind !== 'dispatch') return;
  if (!lead) {
    showError(form, '请选择牵头单位。', 'lead_unit');
    return;
  }
  const cooperating = [...document.querySelectorAll('#units input[name=cooperating]:checked')]
    .map((box) => box.value).filter((code) => code !== lead);
  $('dispatch').disabled = true;
  try {
    await command(state.ticket, 'dispatch', {lead_unit: lead, cooperating_units: cooperating, reason: $('dispatch-reason').value.trim()});
    say(`${state.ticket.ticket_no} 已派给 ${unitName(lead)}`);
    done();
  } catch (error) {
    showError(form, error, 'lead_unit');
    $('dispatch').disabled = false;
  }
}

// ---- 不予受理 ---------------------------------------------------------------------------------

async function closeAtIntake() {
  const ticket = state.ticket;
  if (!ticket || $('closure-form').classList.contains('hidden')) return;
  const scope = $('closure-scope').value;
  try {
    await api('POST', `/api/tickets/${encodeURIComponent(ticket.ticket_no)}/commands/close-out-of-scope`,
              closureBody(ticket.version, scope, $('closure-note').value.trim()));
    say(`${ticket.ticket_no} 已不予受理办结（${closureLabel(scope)}）`);
    done();
  } catch (error) {
    showError($('closure-form'), error);
    $('closure-note').focus();
  }
}

// ---- review --------------------------------------------------------------------------------

const REQUEST_EVENTS = {return_requested: 'ReturnRequested', extension_requested: 'ExtensionRequested',
                        termination_requested: 'TerminationRequested', suspension_requested: 'SuspensionRequested',
                        reopen_requested: 'CallbackRecorded'};
const VERBS = {return_requested: ['approve-return', 'reject-return'], extension_requested: ['approve-extension', 'deny-extension'],
               termination_requested: ['approve-termination', 'reject-termination'],
               suspension_requested: ['approve-suspension', 'reject-suspension'],
               // 回访不满意: agree = the request is reasonable (重办), disagree = closed with the reason.
               reopen_requested: ['review-reopen', 'review-reopen']};

function localInput(iso) {
  const d = new Date(new Date(iso).getTime() + 8 * 3600 * 1000);  // Beijing wall time
  return d.toISOString().slice(0, 16);
}

function showRequest(ticket, events) {
  const type = REQUEST_EVENTS[ticket.status];
  const request = events.filter((e) => e.type === type).pop();
  const data = request?.data || {};
  $('review-title').textContent = `审核${titles.request[ticket.status] || ''}申请`;
  const parts = [el('dl', {class: 'facts'},
    el('dt', {text: '申请单位'}), el('dd', {text: request ? `${unitName(request.actor.unit)} ${request.actor.id}` : ''}),
    el('dt', {text: '申请时间'}), el('dd', {text: request ? when(request.at) : ''}),
    el('dt', {text: '理由'}), el('dd', {class: 'request-reason', text: data.reason || '（未填写）'}),
    data.ground ? [el('dt', {text: '终止依据'}), el('dd', {text: titles.ground[data.ground] || data.ground})] : null,
    data.requested_deadline ? [el('dt', {text: '申请延至'}), el('dd', {text: when(data.requested_deadline)})] : null,
    'explained_to_caller' in data ? [el('dt', {text: '已向诉求人解释'}), el('dd', {text: data.explained_to_caller ? '是' : '否'})] : null)];
  const attachments = data.attachments || [];
  parts.push(el('p', {class: 'evidence'}, el('span', {class: 'muted', text: '证明材料：'}),
    attachments.length ? evidenceLinks(attachments) : '无'));
  $('request').replaceChildren(...parts);
  const extension = ticket.status === 'extension_requested';
  $('new-deadline-box').classList.toggle('hidden', !extension);
  if (extension && data.requested_deadline) $('new-deadline').value = localInput(data.requested_deadline);
  $('review-reason').value = '';
}

async function review(approve) {
  const form = $('review-form');
  const ticket = state.ticket;
  if (!ticket || state.kind !== 'review') return;
  const [yes, no] = VERBS[ticket.status] || [];
  const reason = $('review-reason').value.trim();
  if (!approve && !reason) {
    showError(form, '不同意时请填写审核意见。', 'reason');
    $('review-reason').focus();
    return;
  }
  const body = {reason};
  if (ticket.status === 'reopen_requested') body.reasonable = approve;
  if (approve && ticket.status === 'extension_requested') {
    if (!$('new-deadline').value) {
      showError(form, '请填写同意延至的时间。', 'new_deadline');
      return;
    }
    body.new_deadline = new Date(`${$('new-deadline').value}:00+08:00`).toISOString();
  }
  try {
    await command(ticket, approve ? yes : no, body);
    say(`${ticket.ticket_no} 的${titles.request[ticket.status]}申请：${approve ? '已同意' : '不同意'}`);
    done();
  } catch (error) {
    showError(form, error, error.code === 'invalid_input' ? 'reason' : null);
  }
}

function done() {
  state.ticket = null;
  $('ticket').replaceChildren();
  $('transcript-box').classList.add('hidden');
  for (const form of FORMS()) form.classList.add('hidden');
  $('detail-hint').classList.remove('hidden');
  loadQueues().then(() => $('queue').querySelector('tr')?.focus());
}

keyboardRows($('queue'), (row) => open(row, 'dispatch'));
keyboardRows($('reviews'), (row) => open(row, 'review'));
keyboardRows($('quality'), (row) => open(row, 'quality'));
$('staff-form').addEventListener('submit', (event) => { event.preventDefault(); markStaff(); });
$('quality-form').addEventListener('submit', (event) => { event.preventDefault(); recordFinding(); });
$('units').addEventListener('change', (event) => {
  if (event.target.name === 'lead') {
    $('other-unit').value = '';
    preview();
  }
});
$('other-unit').addEventListener('change', preview);
$('dispatch-form').addEventListener('submit', (event) => { event.preventDefault(); dispatch(); });
$('closure-form').addEventListener('submit', (event) => { event.preventDefault(); closeAtIntake(); });
offerClosureCases($('closure-scope'), $('closure-note-label'));
$('approve').addEventListener('click', () => review(true));
$('refuse').addEventListener('click', () => review(false));
$('refresh').addEventListener('click', loadQueues);
document.addEventListener('keydown', (event) => {
  if (typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
  if ((event.key === 'd' || event.key === 'D') && state.kind === 'dispatch' && !$('dispatch').disabled) {
    event.preventDefault();
    dispatch();
  } else if ((event.key === 'x' || event.key === 'X') && !$('closure-form').classList.contains('hidden')) {
    event.preventDefault();
    $('closure-scope').focus();
  } else if ((event.key === 's' || event.key === 'S') && !$('staff-form').classList.contains('hidden')) {
    event.preventDefault();
    $('about-staff').focus();
  }
});

showSessionBar($('session-bar'));
await loadUnits();
await loadQueues();
$('queue').querySelector('tr')?.focus();
// Tickets coming into or leaving the queues are pushed; the open ticket stays open. Bursts of
// notices (a busy hour) reload the lists once.
let reload = null;
listen('/ws/workbench/dispatch', $('feed-status'), {
  onOpen: loadQueues,
  onMessage: () => { reload ??= setTimeout(() => { reload = null; loadQueues(); }, 300); },
});
