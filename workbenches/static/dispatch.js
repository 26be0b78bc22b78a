// The dispatcher's page (派单员): the queue of tickets waiting for dispatch (the longest wait
// first), a ticket with its transcript excerpt, the units the dispatch catalogue suggests with
// the deadline a dispatch would set now, dispatch with one key (D); and the review queue of
// units' return, extension and termination requests with their evidence, approved or refused
// with a reason.
//
// Reads GET /api/workbench/dispatch-queue, /review-queue, /tickets/{no}/deadline-preview,
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
    replaceRows($('queue'), queue.tickets.map((t) => ticketRow(t, [
      t.ticket_no, t.ticket_type_title, el('td', {class: 'summary', text: t.summary, title: t.summary}),
      t.status_title, duration(t.waited_seconds)])));
    replaceRows($('reviews'), reviews.tickets.map((t) => ticketRow(t, [
      t.ticket_no, t.request_title, unitName(t.lead_unit), el('td', {class: 'summary', text: t.summary, title: t.summary}),
      duration(t.waited_seconds)])));
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
  for (const other of document.querySelectorAll(`#${kind === 'dispatch' ? 'reviews' : 'queue'} tr.selected`)) other.classList.remove('selected');
  const no = row.dataset.ticketNo;
  const data = await readTicket(no);
  if (!data) return;
  state.ticket = data.ticket;
  state.kind = kind;
  $('detail-hint').classList.add('hidden');
  $('ticket').replaceChildren(ticketView(data.ticket, data.events));
  $('dispatch-form').classList.toggle('hidden', kind !== 'dispatch');
  $('review-form').classList.toggle('hidden', kind !== 'review');
  // 不予受理 only for a draft (a returned ticket was accepted once already).
  $('closure-form').classList.toggle('hidden', !(kind === 'dispatch' && data.ticket.status === 'draft'));
  $('closure-note').value = '';
  for (const form of [$('dispatch-form'), $('review-form'), $('closure-form')]) showError(form, '');
  showTranscript(data.ticket);
  if (kind === 'dispatch') await showSuggestions(data.ticket);
  else showRequest(data.ticket, data.events);
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
  for (const form of [$('dispatch-form'), $('review-form'), $('closure-form')]) form.classList.add('hidden');
  $('detail-hint').classList.remove('hidden');
  loadQueues().then(() => $('queue').querySelector('tr')?.focus());
}

keyboardRows($('queue'), (row) => open(row, 'dispatch'));
keyboardRows($('reviews'), (row) => open(row, 'review'));
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
