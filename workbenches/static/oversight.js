// The supervisor's 督办 page: the open tickets under supervision (flags by kind and age, the
// ladder with one action per level the workflow allows), the callers under an anti-abuse
// measure with the screening records behind it (lift, extend, record an appeal), and the
// month's figures: the hotline's 15-second answer rate and abandonment by hour, and each
// unit's on-time rate, returns, re-opens and satisfaction, drawn as inline SVG.
//
// Reads GET /api/workbench/supervision, /api/abuse/restricted, /api/abuse/{n}/history,
// /api/statistics/hotline and /api/statistics/units; writes through the ticket workflow
// (POST /api/tickets/{no}/commands/escalate) and the anti-abuse API (lift, extend, appeal).

import {barChart, hourChart, percent} from '/workbench/charts.js';
import {
  $, actorName, api, chinese, command, duration, el, keyboardRows, left, readTicket, replaceRows, say, select, showError,
  showSessionBar, ticketRow, ticketView, titles, typing, unitName, when,
} from '/workbench/workbench.js';

const state = {tickets: new Map(), measures: new Map(), ticket: null, measure: null};
window.oversightDebug = state;  // for people (and tests) inspecting the page

function flagText(entry) {
  return entry.flags.map((f) => titles.flag[f.kind] || f.kind).join('、');
}

async function loadBoard() {
  let data;
  try {
    data = await api('GET', '/api/workbench/supervision');
  } catch (error) {
    say(`刷新督办工单失败：${chinese(error)}`, true);
    return;
  }
  state.tickets = new Map(data.tickets.map((t) => [t.ticket_no, t]));
  const kind = $('kind-filter').value;
  const shown = data.tickets.filter((t) => !kind || t.flags.some((f) => f.kind === kind))
    .sort((a, b) => b.oldest_flag_seconds - a.oldest_flag_seconds);
  replaceRows($('board'), shown.map((t) => ticketRow(t, [
    t.ticket_no, el('td', {class: 'summary short', text: t.summary || '', title: t.summary || ''}), flagText(t),
    duration(t.oldest_flag_seconds), titles.level[t.supervision_level] || t.supervision_level,
    unitName(t.lead_unit), el('td', {class: 'deadline', text: t.deadline ? left(t.deadline) : ''})])));
  $('board-count').textContent = String(shown.length);
  $('board-empty').classList.toggle('hidden', shown.length > 0);
  const open = state.ticket && $('board').querySelector(`tr[data-ticket-no="${CSS.escape(state.ticket.ticket_no)}"]`);
  if (open) open.classList.add('selected');
}

function showOnly(which) {
  $('detail-hint').classList.toggle('hidden', which !== null);
  $('supervision').classList.toggle('hidden', which !== 'ticket');
  $('measure').classList.toggle('hidden', which !== 'measure');
  if (which !== 'ticket') $('ticket').replaceChildren();
}

function ladderStep(ticket, step) {
  const level = titles.level[step.name] || step.name;
  const ground = el('select', {name: 'ground', 'aria-label': '升级依据'},
    step.grounds.map((g) => el('option', {value: g, text: titles.escalation_ground[g] || g})));
  const reason = el('input', {name: 'reason', maxlength: '2000', size: '36', placeholder: '升级理由（必填）', 'aria-label': '升级理由'});
  const form = el('form', {class: 'step', data: {level: String(step.level)}},
    el('h4', {text: `升级至${level}`}),
    el('div', {class: 'row'}, el('label', {}, '依据 ', ground), reason,
       el('button', {type: 'submit', class: 'primary', text: `升级至${level}`})),
    el('span', {class: 'field-error', data: {errorFor: 'reason'}}), el('span', {class: 'form-error'}));
  reason.addEventListener('input', () => showError(form, ''));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!reason.value.trim()) {
      reason.focus();
      return showError(form, '请填写升级理由。', 'reason');
    }
    try {
      await command(ticket, 'escalate', {to_level: step.level, ground: ground.value, reason: reason.value.trim()});
      say(`${ticket.ticket_no} 已升级至${level}`);
      await loadBoard();
      await openTicket(ticket.ticket_no);
    } catch (error) {
      showError(form, error);
    }
  });
  return form;
}

function supervisionLine(at, text, by) {
  return el('li', {}, el('span', {class: 'who', text: `${when(at)} · ${actorName(by)}`}), text);
}

async function openTicket(no) {
  const entry = state.tickets.get(no);
  const data = await readTicket(no);
  if (!data || !entry) return;
  state.ticket = data.ticket;
  state.measure = null;
  showOnly('ticket');
  $('ticket').replaceChildren(ticketView(data.ticket, data.events));
  const lines = [
    ...entry.flags.map((f) => [f.at, `督办：${titles.flag[f.kind] || f.kind}（已督办 ${duration(f.age_seconds)}）`, f.by]),
    ...entry.escalations.map((e) => [e.at, `升级：${titles.level[e.from] || e.from} → ${titles.level[e.to] || e.to}，`
      + `${titles.escalation_ground[e.ground] || e.ground}：${e.reason}`, e.by]),
  ].sort((a, b) => new Date(a[0]) - new Date(b[0]));
  $('supervision-history').replaceChildren(...lines.map(([at, text, by]) => supervisionLine(at, text, by)));
  const steps = entry.next_steps.map((step) => ladderStep(data.ticket, step));
  $('ladder').replaceChildren(...(steps.length ? steps : [el('p', {class: 'muted', text: '已到最高一级，不能再升级。'})]));
}

// ---- anti-abuse measures ----------------------------------------------------------------

async function loadMeasures() {
  let data;
  try {
    data = await api('GET', '/api/abuse/restricted');
  } catch (error) {
    say(`刷新受限号码失败：${chinese(error)}`, true);
    return;
  }
  state.measures = new Map(data.measures.map((m) => [m.caller, m]));
  replaceRows($('restricted'), data.measures.map((m) => el('tr', {tabindex: '0', data: {taskId: m.caller}},
    [m.caller, titles.abuse_level[m.level] || m.level, reasonText(m.reason), when(m.created_at), when(m.expires_at),
     m.appealed ? '已申诉' : ''].map((c) => el('td', {text: c})))));
  $('restricted-count').textContent = String(data.measures.length);
  $('restricted-empty').classList.toggle('hidden', data.measures.length > 0);
}

/** The screen's reasons (`calls_short>=4`, `active_measure:restrict`) in Chinese. */
function reasonText(reason) {
  return (reason || '').split(',').map((part) => {
    const [signal, count] = part.split('>=');
    if (count !== undefined) return `${titles.abuse_signal[signal] || signal}达到 ${count} 次`;
    if (part.startsWith('active_measure:')) return `已有措施：${titles.abuse_level[part.slice(15)] || part.slice(15)}`;
    return {emergency: '紧急来电', allow_list: '白名单', fail_open: '筛查不可用，放行'}[part] || part;
  }).join('、');
}

/** Who decided: the screen's own rules, or a person's account. */
function decider(actor) {
  return actor === 'policy' ? '系统规则' : actor;
}

function signalsText(signals) {
  if (!signals) return '';
  return Object.entries(signals).filter(([, v]) => v).map(([k, v]) => `${titles.abuse_signal[k] || k} ${v}`).join('，');
}

function historyLine(record) {
  const what = [titles.abuse_event[record.event] || record.event,
                record.level ? titles.abuse_level[record.level] || record.level : '',
                record.measure_expires_at ? `至 ${when(record.measure_expires_at)}` : ''].filter(Boolean).join(' ');
  const words = [signalsText(record.signals), reasonText(record.reasons.join(',')), record.note].filter(Boolean).join('；');
  return el('li', {}, el('span', {class: 'who', text: `${when(record.at)} · ${decider(record.actor)}`}), `${what}${words ? `：${words}` : ''}`);
}

async function openMeasure(caller) {
  const measure = state.measures.get(caller);
  if (!measure) return;
  state.measure = measure;
  state.ticket = null;
  showOnly('measure');
  $('measure-facts').replaceChildren(...[['来电号码', measure.caller], ['措施', titles.abuse_level[measure.level] || measure.level],
    ['原因', reasonText(measure.reason)], ['决定人', decider(measure.decided_by)], ['开始', when(measure.created_at)],
    ['到期', when(measure.expires_at)], ['申诉', measure.appealed ? '已申诉' : '未申诉']]
    .flatMap(([k, v]) => [el('dt', {text: k}), el('dd', {text: v || '—'})]));
  for (const form of ['lift-form', 'extend-form', 'appeal-form']) showError($(form), '');
  try {
    const data = await api('GET', `/api/abuse/${encodeURIComponent(caller)}/history?limit=50`);
    $('measure-history').replaceChildren(...data.history.map(historyLine));
  } catch (error) {
    say(`读取筛查记录失败：${chinese(error)}`, true);
  }
}

async function measureAction(form, path, body, field, done) {
  if (!state.measure) return;
  const [name, input] = field;
  if (!input.value.trim()) {
    input.focus();
    return showError(form, name === 'statement' ? '请填写申诉内容。' : '请填写理由。', name);
  }
  try {
    await api('POST', `/api/abuse/${encodeURIComponent(state.measure.caller)}/${path}`, body());
    say(`${state.measure.caller} ${done}`);
    input.value = '';
    const caller = state.measure.caller;
    await loadMeasures();
    if (state.measures.has(caller)) await openMeasure(caller);
    else showOnly(null);
  } catch (error) {
    showError(form, error, name);
  }
}

// ---- statistics -------------------------------------------------------------------------

function unitBars(units, value, text) {
  return units.filter((u) => value(u) !== null).map((u) => ({label: unitName(u.unit), value: value(u), text: text(u)}));
}

async function loadStatistics() {
  const month = $('month').value;
  // A month is disclosed once it has ended (computed once then, and kept): before that there is
  // nothing to download, and the page says when there will be.
  const ended = month < new Date().toLocaleString('sv-SE', {timeZone: 'Asia/Shanghai'}).slice(0, 7);
  $('disclosure-csv').classList.toggle('hidden', !ended);
  $('disclosure-pending').classList.toggle('hidden', ended);
  $('disclosure-csv').href = ended ? `/api/disclosure/${month}.csv` : '#';
  $('disclosure-csv').setAttribute('download', `12345-月度公开-${month}.csv`);
  let hotline;
  let units;
  try {
    [hotline, units] = await Promise.all([api('GET', `/api/statistics/hotline?month=${month}`),
                                          api('GET', `/api/statistics/units?month=${month}`)]);
  } catch (error) {
    say(`读取统计失败：${chinese(error)}`, true);
    return;
  }
  const t = hotline.totals;
  $('hotline-figures').replaceChildren(...[['进入排队', String(t.offered)], ['接通', String(t.answered)],
    ['15 秒接通率', percent(t.service_level)], ['放弃', String(t.abandoned)], ['放弃率', percent(t.abandon_rate)]]
    .map(([k, v]) => el('span', {}, `${k} `, el('strong', {text: v}))));
  $('hotline-charts').replaceChildren(
    hourChart('15 秒接通率（按来电时段）', hotline.hours.map((h) => h.service_level), {max: 1, text: percent}),
    hourChart('放弃数（按来电时段）', hotline.hours.map((h) => (h.offered ? h.abandoned : null)), {color: '#cf222e'}));
  const rows = units.units;
  $('unit-charts').replaceChildren(
    barChart('按时办结率', unitBars(rows, (u) => u.on_time_rate, (u) => percent(u.on_time_rate)), {max: 1}),
    barChart('满意率', unitBars(rows, (u) => u.satisfaction_rate, (u) => percent(u.satisfaction_rate)), {max: 1, color: '#1a7f37'}),
    barChart('退回数', unitBars(rows, (u) => u.returned, (u) => `${u.returned} 件`), {color: '#9a6700'}),
    barChart('重办数', unitBars(rows, (u) => u.reopened, (u) => `${u.reopened} 件`), {color: '#cf222e'}));
  $('units').replaceChildren(...rows.map((u) => el('tr', {}, [unitName(u.unit), String(u.received), percent(u.response_rate),
    percent(u.on_time_rate), String(u.returned), String(u.extended), String(u.reopened), String(u.callbacks),
    percent(u.resolution_rate), percent(u.satisfaction_rate)].map((c) => el('td', {text: c})))));
  if (!rows.length) $('units').append(el('tr', {}, el('td', {colspan: '10', class: 'muted', text: '本月暂无承办单位的数据。'})));
}

// ---- wiring -----------------------------------------------------------------------------

for (const [kind, title] of Object.entries(titles.flag)) $('kind-filter').append(el('option', {value: kind, text: title}));
$('kind-filter').addEventListener('change', loadBoard);
keyboardRows($('board'), (tr) => { select(tr); openTicket(tr.dataset.ticketNo); });
keyboardRows($('restricted'), (tr) => { select(tr); openMeasure(tr.dataset.taskId); });
$('refresh').addEventListener('click', () => { loadBoard(); loadMeasures(); });
$('lift-form').addEventListener('submit', (event) => {
  event.preventDefault();
  measureAction($('lift-form'), 'lift', () => ({reason: $('lift-reason').value.trim()}), ['reason', $('lift-reason')], '已解除限制');
});
$('extend-form').addEventListener('submit', (event) => {
  event.preventDefault();
  measureAction($('extend-form'), 'extend', () => ({seconds: Number($('extend-seconds').value), reason: $('extend-reason').value.trim()}),
                ['reason', $('extend-reason')], '限制已延长');
});
$('appeal-form').addEventListener('submit', (event) => {
  event.preventDefault();
  measureAction($('appeal-form'), 'appeal', () => ({statement: $('appeal-statement').value.trim()}),
                ['statement', $('appeal-statement')], '申诉已记录');
});
document.addEventListener('keydown', (event) => {
  if (typing(event) || event.ctrlKey || event.altKey || event.metaKey) return;
  if ((event.key === 'e' || event.key === 'E') && state.ticket) {
    const first = $('ladder').querySelector('input[name=reason]');
    if (first) {
      event.preventDefault();
      first.focus();
    }
  }
});
// The last twelve months, this one (in Beijing time) first, named in Chinese.
const beijing = new Date(Date.now() + 8 * 3600 * 1000);
for (let back = 0; back < 12; back += 1) {
  const month = new Date(Date.UTC(beijing.getUTCFullYear(), beijing.getUTCMonth() - back, 1));
  const value = month.toISOString().slice(0, 7);
  $('month').append(el('option', {value, text: `${month.getUTCFullYear()}年${month.getUTCMonth() + 1}月`}));
}
$('month').addEventListener('change', loadStatistics);

showSessionBar($('session-bar'));
await Promise.all([loadBoard(), loadMeasures(), loadStatistics()]);
$('board').querySelector('tr')?.focus();
setInterval(() => { loadBoard(); loadMeasures(); }, 60000);
