// The supervisor's recordings page: search calls, play a recording, follow its transcript.
//
// Reads GET /api/calls, GET /api/calls/{id} and streams GET /api/calls/{id}/recording into an
// <audio> element (which asks for byte ranges itself). All of it with the person's session
// cookie (/signin/session.js): the <audio> sends it like any request of the page, so its
// address holds no token. Every read is audited by the backend. A confidential (保密) caller's
// number is listed masked; a supervisor may reveal it (POST /api/calls/{id}/reveal), each reveal
// an audited read of its own. Everything shown that came from a caller or a database is put in
// the page as text (textContent), never as HTML.

import {api as sessionApi, chinese, showSessionBar, stillSignedIn, signInAgain} from '/signin/session.js';

const $ = (id) => document.getElementById(id);
const PAGE = 20;
// The words calls end with, as the call path stores them (telephony/call_flow.py: its own, and
// Asterisk's hang-up causes), in Chinese. The filter offers exactly the stored ones
// (GET /api/calls/end-reasons); one not named here is shown as stored.
const END_REASONS = {
  hangup: '挂机', 'Normal Clearing': '正常挂机', 'Normal, unspecified': '正常结束', 'User busy': '用户忙',
  'No user responding': '无人应答', 'No answer': '无人接听', 'Call Rejected': '拒接', 'Subscriber absent': '用户不在服务区',
  'Unallocated (unassigned) number': '空号', 'Circuit/channel congestion': '线路拥塞', Unknown: '原因不明',
  gone_during_setup: '接通前挂断', ended_while_bridge_away: '媒体服务中断后结束',
  message_while_backend_away: '系统故障期间留言', message_left: '留言',
  caller_hangup: '来电人挂机', agent_hangup: '坐席挂机',
};
// Not an end reason: callers who hung up while waiting (`abandoned=true`).
const ABANDONED = 'abandoned';
const SCREEN_NAMES = {allow: '正常', warn: '已提醒', senior_queue: '资深队列', restrict: '受限', supervisor_review: '待复核'};
const SPEAKERS = {caller: '来电人', agent: '坐席'};

const state = {offset: 0, nextOffset: null, call: null, segments: [], current: -1};
window.recordingsDebug = state;  // for people (and tests) inspecting the page

function say(text, error = false) {
  const line = document.createElement('div');
  if (error) line.className = 'error';
  line.textContent = `${new Date().toLocaleTimeString('zh-CN')} ${text}`;
  $('messages').prepend(line);
  while ($('messages').childElementCount > 10) $('messages').lastElementChild.remove();
}

async function api(path) {
  try {
    return await sessionApi('GET', path);
  } catch (error) {
    throw error.status === 403 ? new Error('无权访问（已记入审计）') : error;
  }
}

function cell(row, text) {
  const td = document.createElement('td');
  td.textContent = text ?? '';
  row.append(td);
  return td;
}

function seconds(value) {
  if (value === null || value === undefined) return '';
  const s = Math.round(value);
  return `${Math.floor(s / 60)}分${String(s % 60).padStart(2, '0')}秒`;
}

function query() {
  const params = new URLSearchParams({limit: String(PAGE), offset: String(state.offset)});
  const fields = {from: 'q-from', caller: 'q-caller', agent: 'q-agent', ticket: 'q-ticket'};
  for (const [name, id] of Object.entries(fields)) {
    const value = $(id).value.trim();
    if (value) params.set(name, value);
  }
  const ending = $('q-end-reason').value;
  if (ending === ABANDONED) params.set('abandoned', 'true');
  else if (ending) params.set('end_reason', ending.slice('reason:'.length));
  const to = $('q-to').value;
  if (to) {  // the end date is inclusive: up to the start of the next day
    const next = new Date(`${to}T00:00:00+08:00`);
    next.setUTCDate(next.getUTCDate() + 1);
    params.set('to', next.toISOString());
  }
  return params;
}

async function search() {
  let data;
  try {
    data = await api(`/api/calls?${query()}`);
  } catch (error) {
    say(`查询失败：${chinese(error)}`, true);
    return;
  }
  const body = $('calls');
  body.replaceChildren();
  for (const call of data.calls) {
    const row = document.createElement('tr');
    row.dataset.callId = call.call_id;
    cell(row, new Date(call.started_at).toLocaleString('zh-CN', {timeZone: 'Asia/Shanghai'}));
    const number = cell(row, call.caller_number);
    if (call.may_reveal) number.append(' ', revealButton(call, number));
    cell(row, call.agents.join('、') || '—');
    cell(row, seconds(call.talk_seconds));
    cell(row, END_REASONS[call.end_reason] || call.end_reason || '');
    cell(row, call.tickets.map((t) => t.ticket_no).join('、'));
    cell(row, SCREEN_NAMES[call.screen_level] || call.screen_level || '');
    const actions = cell(row, '');
    const play = document.createElement('button');
    play.className = 'play';
    play.textContent = call.may_hear ? '收听' : '无权收听';
    play.disabled = !call.may_hear || !call.has_recording;
    play.addEventListener('click', () => open(call.call_id, row));
    actions.append(play);
    body.append(row);
  }
  state.nextOffset = data.next_offset;
  $('prev').disabled = state.offset === 0;
  $('next').disabled = data.next_offset === null;
  $('page-info').textContent = `第 ${state.offset + 1}–${state.offset + data.calls.length} 条`;
}

function revealButton(call, numberCell) {
  const button = document.createElement('button');
  button.className = 'reveal';
  button.textContent = '显示号码';
  button.title = '保密来电人：显示完整号码（每次显示均记入审计）';
  button.addEventListener('click', async () => {
    try {
      const {caller_number: number} = await sessionApi('POST', `/api/calls/${encodeURIComponent(call.call_id)}/reveal`);
      numberCell.textContent = number;
      say('已显示保密来电人号码（已记入审计）');
    } catch (error) {
      say(`显示号码失败：${error.message}`, true);
    }
  });
  return button;
}

async function open(callId, row) {
  let detail;
  try {
    detail = await api(`/api/calls/${encodeURIComponent(callId)}`);
  } catch (error) {
    say(`打开录音失败：${chinese(error)}`, true);
    return;
  }
  for (const selected of document.querySelectorAll('#calls tr.selected')) selected.classList.remove('selected');
  row.classList.add('selected');
  state.call = detail.call;
  state.segments = detail.transcript;
  state.current = -1;
  $('current-call').textContent = `${detail.call.caller_number} · ${new Date(detail.call.started_at).toLocaleString('zh-CN', {timeZone: 'Asia/Shanghai'})}`;
  const list = $('transcript');
  list.replaceChildren();
  detail.transcript.forEach((segment, index) => {
    const item = document.createElement('li');
    item.className = segment.speaker;
    item.dataset.index = String(index);
    const who = document.createElement('span');
    who.className = 'who';
    who.textContent = `${SPEAKERS[segment.speaker] || segment.speaker} ${seconds(segment.start)}`;
    const words = document.createElement('span');
    words.className = 'words';
    words.textContent = segment.text;
    item.append(who, words);
    item.addEventListener('click', () => jump(index));
    list.append(item);
  });
  if (!detail.transcript.length) {
    const item = document.createElement('li');
    item.className = 'muted';
    item.textContent = '此通话没有转写。';
    list.append(item);
  }
  const player = $('player');
  player.src = detail.recording_url;  // the session cookie goes with it; nothing else is needed
  player.play().catch((error) => say(`无法自动播放：${error.message}`));
}

function jump(index) {
  const player = $('player');
  player.currentTime = state.segments[index].start;
  follow();
  if (player.paused) player.play().catch(() => {});
}

// The line under the playhead: the last one that has started (lines may overlap when both
// speakers talk at once; the newest wins), if it has not ended yet.
function lineAt(time) {
  let found = -1;
  state.segments.forEach((segment, index) => {
    if (segment.start <= time && time < segment.end) found = index;
  });
  return found;
}

function follow() {
  const index = lineAt($('player').currentTime);
  if (index === state.current) return;
  const list = $('transcript');
  list.querySelector('li.current')?.classList.remove('current');
  state.current = index;
  if (index >= 0) {
    const item = list.children[index];
    item.classList.add('current');
    item.scrollIntoView({block: 'nearest'});
  }
}

// A recording the server refused: the session may have ended meanwhile (then sign in again).
$('player').addEventListener('error', async () => {
  if (!$('player').getAttribute('src')) return;
  if (!(await stillSignedIn())) await signInAgain();
  say('录音无法播放（可能已无权收听，或文件不存在）', true);
});
$('player').addEventListener('timeupdate', follow);
$('player').addEventListener('seeked', follow);
$('search').addEventListener('submit', (event) => { event.preventDefault(); state.offset = 0; search(); });
$('prev').addEventListener('click', () => { state.offset = Math.max(0, state.offset - PAGE); search(); });
$('next').addEventListener('click', () => { if (state.nextOffset !== null) { state.offset = state.nextOffset; search(); } });

/** The end-reason filter: every reason a stored call has, and the callers who gave up waiting. */
async function loadEndReasons() {
  let data;
  try {
    data = await api('/api/calls/end-reasons');
  } catch (error) {
    say(`结束原因读取失败：${chinese(error)}`, true);
    return;
  }
  const option = (value, text) => Object.assign(document.createElement('option'), {value, textContent: text});
  $('q-end-reason').replaceChildren(option('', '全部'), option(ABANDONED, '放弃（排队中挂机）'),
    ...data.end_reasons.map((reason) => option(`reason:${reason}`, END_REASONS[reason] || reason)));
}

showSessionBar($('session-bar'));
loadEndReasons();
search();
