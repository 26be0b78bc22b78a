// The risk warnings page (风险预警): the latest warnings from GET /api/risk-warnings, for
// supervisors, dispatchers and the units concerned (a unit sees its own, without ticket numbers).
// Every value goes in as text.

import {$, api, chinese, el, replaceRows, say, showSessionBar, unitName, when} from '/workbench/workbench.js';

async function load() {
  let answer;
  try {
    answer = await api('GET', '/api/risk-warnings?limit=100');
  } catch (error) {
    say(`刷新失败：${chinese(error)}`, true);
    return;
  }
  const rows = answer.warnings.map((w) => el('tr', {},
    el('td', {text: when(w.raised_at)}),
    el('td', {text: `${w.district || ''}${w.street || ''}`}),
    el('td', {text: w.topic}),
    el('td', {text: String(w.count)}),
    el('td', {text: w.baseline_per_window.toFixed(2)}),
    el('td', {text: w.units.map(unitName).join('、')}),
    el('td', {text: (w.ticket_nos || []).join(' ')})));
  replaceRows($('warnings'), rows);
  $('count').textContent = String(rows.length);
  $('empty').classList.toggle('hidden', rows.length > 0);
  $('status').textContent = `更新于 ${when(new Date().toISOString())}`;
}

showSessionBar($('session-bar'));
$('refresh').addEventListener('click', load);
await load();
setInterval(load, 30_000);
