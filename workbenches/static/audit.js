// The auditor's page: the access audit (who read which citizen's data, when, allowed or
// refused) searched by who, what, when, ticket, call and caller, a page at a time, newest
// first, and exported as CSV with the same filters. Reads GET /api/audit only; each search and
// export is itself written to the audit by the server. Numbers arrive masked for an auditor.

import {$, api, chinese, el, say, showSessionBar, titles, unitName} from '/workbench/workbench.js';

const PAGE = 50;
const state = {offset: 0, filters: new URLSearchParams(), asked: 0};
window.auditDebug = state;  // for people (and tests) inspecting the page

const TIME = {timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit',
              minute: '2-digit', second: '2-digit', hour12: false};

// The words the capabilities write in a row's detail (English, as stored), in Chinese; the
// stored words stay in the cell's tooltip. Unknown words are shown as stored.
const WORDS = [
  [/^ticket and events(?=;|$)/, '工单及办理记录'], [/^number revealed(?=;|$)/, '查看保密来电号码'],
  [/^caller's tickets/, '来电人的历史工单'], [/^live transcript/, '实时转写'],
  [/^audit export \(csv\), (\d+) rows/, '导出审计（CSV），$1 条'], [/^audit search, (\d+) rows/, '查询审计，$1 条'],
  [/^callback list, (\d+) found:/, '回访列表，$1 条：'], [/^ticket list, (\d+) found:/, '工单列表，$1 条：'],
  [/^dispatch queue, (\d+) found:/, '派单队列，$1 条：'], [/^review queue, (\d+) found:/, '审核队列，$1 条：'],
  [/^unit inbox, (\d+) found:/, '本单位工单，$1 条：'], [/^supervision board, (\d+) found:/, '督办工单，$1 条：'],
  [/^calls search by caller, (\d+) found:/, '按来电号码查通话，$1 条：'], [/^calls list, (\d+) found:/, '通话列表，$1 条：'],
  [/^dispatch excerpt, (\d+) lines/, '派单转写摘录，$1 行'], [/^evidence (\w+) metadata/, '证明材料信息 $1'],
  [/^evidence (\w+) file/, '证明材料文件 $1'], [/^screening history, (\d+) records/, '防骚扰筛查记录，$1 条'],
  [/^standing measures, (\d+) callers/, '受限号码列表，$1 个'], [/^live calls, (\d+):/, '进行中的通话，$1 个：'],
  [/; refused: /, '；拒绝原因：'], [/not dispatched to the reader's unit/, '工单未派给读取人的单位'],
  [/not theirs: they took no part in it/, '读取人未参与该工单或通话'], [/role (\w+) never reads (\w+)/, '角色 $1 无权读取 $2'],
];

function detailText(detail) {
  return WORDS.reduce((text, [pattern, words]) => text.replace(pattern, words), detail || '');
}

/** A typed moment (Beijing time: 2026-12-07 or 2026-12-07 08:30) as the API wants it; null if unreadable. */
function beijing(value) {
  const typed = value.trim();
  if (!typed) return '';
  if (/^\d{4}-\d{2}-\d{2}$/.test(typed)) return typed;
  const match = typed.match(/^(\d{4}-\d{2}-\d{2})[ T](\d{2}):(\d{2})$/);
  return match ? `${match[1]}T${match[2]}:${match[3]}:00+08:00` : null;
}

function filters() {
  const query = new URLSearchParams();
  for (const [name, id] of [['actor', 'actor'], ['kind', 'kind'], ['allowed', 'allowed'], ['ticket', 'ticket'],
                            ['call_id', 'call-id'], ['caller', 'caller']]) {
    const value = $(id).value.trim();
    if (value) query.set(name, value);
  }
  for (const name of ['from', 'to']) {
    const moment = beijing($(name).value);
    if (moment === null) return {error: '时间请写成 2026-12-07 或 2026-12-07 08:30（北京时间）。', field: name};
    if (moment) query.set(name, moment);
  }
  return query;
}

function cell(text, wrap = false) {
  return el('td', {text: text ?? '', class: wrap ? 'wrap' : null});
}

async function load() {
  const query = new URLSearchParams(state.filters);
  query.set('limit', String(PAGE + 1));  // one more: is there a next page?
  query.set('offset', String(state.offset));
  $('search-error').textContent = '';
  state.asked += 1;
  const asked = state.asked;
  let data;
  try {
    data = await api('GET', `/api/audit?${query}`);
  } catch (error) {
    if (asked === state.asked) $('search-error').textContent = `查询失败：${chinese(error)}`;
    return;
  }
  if (asked !== state.asked) return;  // a later search was asked for: its answer is the one shown
  const records = data.records.slice(0, PAGE);
  $('records').replaceChildren(...records.map((r) => el('tr', {class: r.allowed ? '' : 'refused'},
    cell(new Date(r.at).toLocaleString('zh-CN', TIME)), cell(r.actor), cell(titles.role[r.role] || r.role),
    cell(unitName(r.unit)), cell(titles.access_kind[r.kind] || r.kind),
    el('td', {class: r.allowed ? 'ok-text' : 'overdue-text', text: titles.access_result[String(r.allowed)]}),
    cell(r.ticket_no), cell(r.call_id), cell(r.caller_number), cell(r.where), el('td', {class: 'wrap', text: detailText(r.detail), title: r.detail}))));
  $('count').textContent = String(records.length);
  $('records-empty').classList.toggle('hidden', records.length > 0);
  $('page-info').textContent = records.length ? `第 ${state.offset + 1}–${state.offset + records.length} 条` : '';
  $('previous').disabled = state.offset === 0;
  $('next').disabled = data.records.length <= PAGE;
}

function search() {
  const chosen = filters();
  if (chosen.error) {
    $('search-error').textContent = chosen.error;
    $(chosen.field).focus();
    return null;
  }
  state.filters = chosen;
  state.offset = 0;
  const csv = new URLSearchParams(state.filters);
  csv.set('format', 'csv');
  csv.set('limit', '10000');
  $('export').href = `/api/audit?${csv}`;
  return load();
}

for (const [kind, title] of Object.entries(titles.access_kind)) $('kind').append(el('option', {value: kind, text: title}));
$('search').addEventListener('submit', (event) => { event.preventDefault(); search(); });
$('previous').addEventListener('click', () => { state.offset = Math.max(0, state.offset - PAGE); load(); });
$('next').addEventListener('click', () => { state.offset += PAGE; load(); });
$('export').addEventListener('click', () => say('已导出（最多 10000 条），导出已记入审计。'));

showSessionBar($('session-bar'));
await search();
$('actor').focus();
