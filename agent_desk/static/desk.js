// The agent's desk: state, softphone, the call, its live transcript, the live assist, the
// ticket, wrap-up.
//
// Talks to the backend over one websocket (/ws/desk, agent_desk/PROTOCOL.md) and the HTTP APIs
// (tickets, knowledge base, ticket draft), all with the person's session cookie (session.js:
// the page opens only once someone is signed in; writes carry the CSRF token). Everything shown
// that came from a caller or a database is put in the page as text (textContent), never as HTML.

import {AssistPanel} from './assist.js';
import {Softphone} from './softphone.js';
import {closureBody, closureLabel, offerClosureCases} from './intake_closure.js';
import {$, afterSocketClose, api, chinese, say as log, showSessionBar, socketUrl} from './session.js';

const say = (text, error = false) => log(text, error, 30);

const TYPE_NAMES = {consultation: '咨询', help: '求助', complaint: '投诉', report: '举报', suggestion: '意见建议'};
const STATUS_NAMES = {
  offline: '离线', available: '就绪', ringing: '振铃', on_call: '通话中',
  after_call_work: '话后处理', break: '小休',
};
const SCREEN_NAMES = {warn: '已提醒（频繁来电）', senior_queue: '资深坐席队列', restrict: '受限', supervisor_review: '待督导复核'};

const state = {
  agent: null, call: null, ticketNo: null, ticketVersion: null, softphone: null,
  edited: new Set(), kbArticle: null, statusSince: null, acwSince: null, lastDraftText: '',
  segments: new Map(), asrModes: new Map(), refs: 0, phoneRegistered: false, unitNames: {}, threeWayUnit: null,
  ticketSaved: true, actions: null, lineUnits: [], callSince: null, mutedSince: null, heldSince: null,
};
window.deskDebug = state;  // for people (and tests) inspecting a live desk

// ---- signing out: never in the middle of a call (stopping the phone would hang up on the
// caller); the phone unregisters and the desk socket closes first, so the ACD stops offering.
let leaving = false;
showSessionBar($('session-bar'), {
  beforeSignOut() {
    const talking = state.agent && ['ringing', 'on_call'].includes(state.agent.status);
    if (talking || (state.softphone && state.softphone.session)) {
      say('通话中不能退出登录：请先结束通话', true);
      return false;
    }
    leaving = true;
    if (state.softphone) state.softphone.stop();
    if (socket) socket.close();
    return true;
  },
});

// ---- the websocket ------------------------------------------------------------------------
let socket = null;
let retry = 500;

function connect() {
  socket = new WebSocket(socketUrl('/ws/desk'));
  socket.onopen = () => { retry = 500; };
  socket.onmessage = (event) => { try { onMessage(JSON.parse(event.data)); } catch (e) { console.error(e); } };
  socket.onclose = (event) => {
    if (leaving) return;
    $('agent-status').textContent = '连接断开，重连中…';
    afterSocketClose(event, () => {
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    });
  };
}

function send(message) {
  const ref = `r${++state.refs}`;
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({...message, ref}));
  else say('未连接，操作未发送', true);
  return ref;
}

function onMessage(m) {
  switch (m.type) {
    case 'desk.ready': return onReady(m);
    case 'agent.status': return showAgent(m);
    case 'ack': if (m.agent) showAgent(m.agent); return;
    case 'error': return say(`操作失败：${m.message}`, true);
    case 'call.offered': return onOffered(m);
    case 'call.answered': return onAnswered(m);
    case 'call.missed': say('来电未接，已转给其他坐席；状态改为小休（未接）'); return clearCall();
    case 'call.withdrawn': say('来电人已挂断'); return clearCall();
    case 'call.hung_up': return onHungUp(m);
    case 'call.ended': return onEnded(m);
    case 'asr.final': case 'asr.partial': return onSegment({...m, final: m.type === 'asr.final'});
    case 'asr.mode': return onAsrMode(m);
    case 'assist.update': return assist.update(m);
    case 'queue.length': $('queue-length').textContent = `${m.waiting} 人`; return;
    case 'agent.wrap_up_expired': say('话后处理时间已到，已自动就绪'); return;
    case 'three_way.ringing': case 'three_way.answered': case 'three_way.busy':
    case 'three_way.no_answer': case 'three_way.rejected': case 'three_way.failed':
    case 'three_way.left': return onThreeWay(m);
    case 'callback.ringing': say(`回访 ${m.ticket_no}：正在以热线号码呼叫诉求人`); return;
    case 'callback.answered':
      state.callbackTicket = m.ticket_no;
      $('cb-answer').classList.remove('hidden');
      say(`回访 ${m.ticket_no}：诉求人已接通，请询问满意度并记录结果`); return;
    case 'callback.not_reached':
      say(`回访 ${m.ticket_no}：诉求人未接通（${NOT_REACHED[m.reason] || m.reason}），任务保留在待回访列表`, true); return;
    case 'callback.ended': $('incoming').classList.add('hidden'); loadCallbacks(); return;
    case 'call.emergency': return onEmergency(m);
    case 'call.requeued': say('转接未接通，来电人已回到排队队列，将由下一位坐席接听', true); return;
    case 'supervisor.joined': say(`班长 ${m.supervisor} 已加入通话（强插），来电人和您都能听到班长`); return;
    case 'supervisor.left': say(`班长 ${m.supervisor} 已离开通话`); return;
    default: return undefined;
  }
}

const OUTCOMES = {
  ringing: '正在呼叫', answered: '已接通', busy: '占线，请转为工单办理', no_answer: '无人接听，请转为工单办理',
  rejected: '拒接，请转为工单办理', failed: '呼叫失败，请转为工单办理', left: '已离开通话',
};

function onThreeWay(m) {
  if (!state.call || m.call_id !== state.call.call_id) return;
  const outcome = m.type.slice('three_way.'.length);
  const name = m.kind === 'emergency' ? m.target : (state.unitNames[m.target] || m.target);
  $('tw-status').textContent = `${name}：${OUTCOMES[outcome] || outcome}`;
  if (outcome === 'answered' && m.kind === 'unit') {
    state.threeWayUnit = m.target;  // the unit answered on line: the ticket can say so
    $('tw-leave').disabled = false;
  } else if (outcome === 'left') {
    $('tw-leave').disabled = true;
  }
}

async function loadUnitDirectory() {
  try {
    const {units} = await api('GET', '/api/units');
    for (const u of units) state.unitNames[u.code] = u.name;
    state.lineUnits = units.filter((u) => u.contact).map((u) => u.code);
    orderThreeWay([]);
  } catch (e) { say(`单位通讯录读取失败：${chinese(e)}`, true); }
}

/** The three-way list: the units suggested for this call first (marked 建议, the first one
 *  selected), then every other unit with a line, in the directory's order. */
function orderThreeWay(suggested) {
  const lines = state.lineUnits || [];
  const first = suggested.filter((code, i) => lines.includes(code) && suggested.indexOf(code) === i);
  const select = $('tw-unit');
  select.textContent = '';
  for (const code of [...first, ...lines.filter((c) => !first.includes(c))]) {
    const option = document.createElement('option');
    option.value = code;
    option.textContent = `${state.unitNames[code] || code}${first.includes(code) ? '（建议）' : ''}`;
    select.append(option);
  }
  if (select.options.length) select.selectedIndex = 0;
}

const NOT_REACHED = {busy: '占线', no_answer: '无人接听', rejected: '拒接', failed: '呼叫失败',
                     no_key: '未按键', spoken: '语音回答', agent_unreachable: '坐席话机未接',
                     agent_no_answer: '坐席话机未接', invalid_number: '号码无效',
                     agent_reached: '已接通，待记录评价'};

/** A callback task's last result in words; `placed:<why>` is a call a person placed. */
function callbackResult(result) {
  const why = result.startsWith('placed:') ? result.slice(7) : result;
  return NOT_REACHED[why] || why;
}

async function loadCallbacks() {
  try {
    const {callbacks: listed, may_confirm: mayConfirm} = await api('GET', '/api/callbacks?status=agent');
    // 时限届满回访 (reason `deadline`) asks the caller how the unfinished handling stands: the
    // callback agents' page records it (the desk's answer would be a survey of a finished one).
    const callbacks = listed.filter((t) => t.reason !== 'deadline');
    const list = $('callbacks');
    list.textContent = callbacks.length ? '' : '暂无待回访任务';
    for (const t of callbacks) {
      const item = document.createElement('li');
      item.textContent = `${t.ticket_no}（已呼叫 ${t.attempts} 次${t.result ? `，${callbackResult(t.result)}` : ''}） `;
      const button = document.createElement('button');
      button.textContent = '回访';
      button.title = '先呼叫您的话机，接听后以热线号码呼叫诉求人';
      button.onclick = () => {
        send({type: 'callback.place', task_id: t.id});
        $('incoming').classList.remove('hidden');
        $('incoming-caller').textContent = `回访 ${t.ticket_no}`;
        say('正在呼叫您的话机，接听后等待诉求人接通');
      };
      item.append(button);
      if (t.spoken_answer) {
        // 语音回答: the citizen spoke instead of pressing a key; whoever may confirm callbacks
        // (the server says: callback agents, supervisors) confirms what was said.
        const heard = document.createElement('div');
        heard.textContent = `语音回答：${t.answer_transcript || '（转写中或无法转写，请回访确认）'}`;
        item.append(heard);
        const choices = mayConfirm ? [['satisfied', '确认满意'], ['basically_satisfied', '确认基本满意'],
                                      ['unsatisfied', '确认不满意']] : [];
        for (const [value, label] of choices) {
          const confirm = document.createElement('button');
          confirm.textContent = label;
          confirm.onclick = () => confirmCallback(t, value);
          item.append(' ', confirm);
        }
      }
      list.append(item);
    }
  } catch (e) { say(`待回访列表读取失败：${chinese(e)}`, true); }
}

async function confirmCallback(task, satisfaction) {
  try {
    await api('POST', `/api/callbacks/${task.id}/confirm`, {satisfaction});
    say(`回访 ${task.ticket_no}：结果已确认`);
    loadCallbacks();
  } catch (e) { say(`回访结果确认失败：${chinese(e)}`, true); }
}

async function recordCallback(satisfaction) {
  const no = state.callbackTicket;
  if (!no) return;
  try {
    const {ticket} = await api('GET', `/api/tickets/${no}`);
    await api('POST', `/api/tickets/${no}/commands/callback`, {
      expected_version: ticket.version, satisfaction, reasonable: satisfaction === 'unsatisfied'});
    say(`回访 ${no}：结果已记录`);
    $('cb-answer').classList.add('hidden');
    state.callbackTicket = null;
  } catch (e) { say(`回访结果记录失败：${chinese(e)}`, true); }
}

function onReady(m) {
  $('agent-name').textContent = m.agent.agent_id;
  loadCallbacks();
  if (!Object.keys(state.unitNames).length) loadUnitDirectory();
  showAgent(m.agent);
  if (!state.softphone) startPhone(m.softphone);
  if (m.call) { onOffered(m.call); if (m.call.answered) onAnswered(m.call); }
}

function showAgent(agent) {
  if (!agent || !agent.status) return;
  state.agent = agent;
  const pill = $('agent-status');
  pill.textContent = STATUS_NAMES[agent.status] || agent.status;
  if (agent.status === 'break' && agent.break_reason) {
    pill.textContent += `（${({rest: '休息', meal: '用餐', training: '培训', meeting: '会议', other: '其他', no_answer: '未接'})[agent.break_reason] || agent.break_reason}）`;
  }
  pill.className = `pill ${agent.status}`;
  state.statusSince = agent.since ? new Date(agent.since) : new Date();
  if (agent.status === 'after_call_work' && !state.acwSince) state.acwSince = state.statusSince;
  if (agent.status !== 'after_call_work') state.acwSince = null;
  $('wrap-done').disabled = agent.status !== 'after_call_work';
}

// ---- the softphone ------------------------------------------------------------------------
function startPhone(account) {
  const phone = new Softphone({
    wsUrl: account.ws_url, sipUri: account.sip_uri, password: account.password,
    displayName: account.username, audioElement: $('remote-audio'),
  });
  state.softphone = phone;
  phone.addEventListener('registered', () => { state.phoneRegistered = true; setPhone('已注册', 'available'); });
  phone.addEventListener('registrationFailed', (e) => setPhone(`注册失败 ${e.detail.status || ''}`, 'break'));
  phone.addEventListener('unregistered', () => { state.phoneRegistered = false; setPhone('未注册', ''); });
  phone.addEventListener('incoming', () => {
    $('answer').disabled = false;
    if ($('auto-answer').checked) phone.answer();
  });
  phone.addEventListener('confirmed', () => setCallControls(true));
  phone.addEventListener('ended', () => setCallControls(false));
  phone.addEventListener('failed', () => { setCallControls(false); $('answer').disabled = true; });
  phone.start();
}

function setPhone(text, cls) {
  $('phone-status').textContent = text;
  $('phone-status').className = `pill ${cls}`;
}

function setCallControls(on) {
  for (const id of ['hangup', 'mute', 'hold', 'dtmf', 'send-dtmf', 'tw-consent', 'tw-call', 'em-transfer']) {
    $(id).disabled = !on;
  }
  if (!on) {
    $('tw-leave').disabled = true;
    // The call is over: muted and held end with it (the next call starts audible, not held).
    setMuted(false);
    setHeld(false);
    state.callSince = null;
  }
}

// ---- muted and on hold: visible, with how long (the caller hears nothing / music meanwhile) --
function setMuted(on) {
  state.mutedSince = on ? Date.now() : null;
  $('mute').textContent = on ? '取消静音' : '静音';
  $('mute').setAttribute('aria-pressed', String(on));
}

function setHeld(on) {
  state.heldSince = on ? Date.now() : null;
  $('hold').textContent = on ? '取回' : '保持';
  $('hold').setAttribute('aria-pressed', String(on));
}

function showLineState() {
  const parts = [];
  if (state.heldSince) parts.push(`保持中 ${clock(state.heldSince)}`);
  if (state.mutedSince) parts.push(`静音中 ${clock(state.mutedSince)}`);
  $('line-state').textContent = parts.join(' · ');
  $('call-timer').textContent = state.callSince ? `通话时长 ${clock(state.callSince)}` : '';
}

// ---- the call -----------------------------------------------------------------------------
function onOffered(call) {
  state.call = {...call, answered: false};
  state.ticketNo = null;
  $('incoming').classList.remove('hidden');
  $('incoming-caller').textContent = call.caller_number || '未显示号码';
  $('incoming-queue').textContent = `${call.queue === 'senior' ? '资深队列' : ''} 等待 ${call.waited_seconds ?? 0} 秒`;
  const flags = $('incoming-flags');
  flags.textContent = '';
  if (call.screen_level && SCREEN_NAMES[call.screen_level]) addFlag(flags, SCREEN_NAMES[call.screen_level]);
  if (call.emergency) addFlag(flags, EMERGENCY_FLAG);
  $('call-state').textContent = '来电振铃中…';
  $('transcript').textContent = '';
  state.segments.clear();
  state.asrModes.clear();
  showAsrMode();
  resetForm(call);
  assist.follow(call.call_id);
  loadHistory(call.caller_number);
}

const EMERGENCY_FLAG = '紧急求助：来电人提到紧急情况，请优先处理，必要时紧急转接';

function onEmergency(m) {
  if (!state.call || m.call_id !== state.call.call_id) return;
  state.call.emergency = true;
  $('incoming').classList.remove('hidden');
  addFlag($('incoming-flags'), EMERGENCY_FLAG);
  say(EMERGENCY_FLAG, true);
}

function addFlag(parent, text) {
  const span = document.createElement('span');
  span.className = 'flag';
  span.textContent = `⚑ ${text} `;
  parent.append(span);
}

/** The zh-CN names of the tickets' statuses, from the server (the workbenches' table, so that a
 *  status reads the same on the desk and on every workbench); asked once, when first needed. */
const ticketTitles = api('GET', '/api/workbench/titles', undefined, {cache: 'default'}).catch(() => ({status: {}}));

async function loadHistory(number) {
  const list = $('history');
  list.textContent = '';
  if (!number) return;
  try {
    const {tickets} = await api('GET', `/api/callers/${encodeURIComponent(number)}/tickets?limit=10`);
    if (tickets.some((t) => t.caller && t.caller.confidential)) addFlag($('incoming-flags'), '保密来电人');
    const names = await ticketTitles;
    for (const t of tickets) {
      const item = document.createElement('li');
      const open = !['closed', 'archived'].includes(t.status);
      item.className = open ? 'open' : '';
      item.textContent = `${t.ticket_no} ${TYPE_NAMES[t.ticket_type] || ''} ${t.summary || '（未填写摘要）'} · ${names.status[t.status] || t.status}`;
      list.append(item);
    }
    if (!tickets.length) list.textContent = '无历史工单';
  } catch (e) { say(`历史工单读取失败：${chinese(e)}`, true); }
}

function onAnswered(call) {
  state.call = {...(state.call || {}), ...call, answered: true};
  $('incoming').classList.add('hidden');
  $('answer').disabled = true;
  $('call-state').textContent = `通话中：${call.caller_number || ''}`;
  setCallControls(true);
  // The call's own clock (the status timer restarts with every status change).
  if (!state.callSince) state.callSince = call.answered_at ? Date.parse(call.answered_at) || Date.now() : Date.now();
}

function onHungUp() {
  $('call-state').textContent = '通话已结束，话后处理中';
  setCallControls(false);
}

function onEnded(m) {
  if (!state.call || m.call_id !== state.call.call_id) return;
  state.ticketNo = m.ticket_no;
  state.ticketSaved = !m.ticket_no;  // a call's ticket must be saved before wrap-up ends
  $('ticket-no').textContent = m.ticket_no ? `（${m.ticket_no}）` : '';
  for (const id of ['submit-answer', 'submit-dispatch', 'submit-draft', 'submit-close']) $(id).disabled = !m.ticket_no;
  $('submit-three-way').disabled = !(m.ticket_no && state.threeWayUnit);
  if (m.ticket_no) {
    loadUnits();
    offerActions();
  }
}

// What the server lets this person do to the ticket (GET /api/tickets/{no} `actions`, from the
// workflow's own tables): an agent who may not dispatch submits the ticket for dispatch instead.
const ACTION_BUTTONS = {'submit-answer': 'answer-directly', 'submit-three-way': 'three-way-call',
                        'submit-close': 'close-out-of-scope'};
async function offerActions() {
  const ticketNo = state.ticketNo;
  try {
    const {actions} = await api('GET', `/api/tickets/${ticketNo}`);
    if (ticketNo !== state.ticketNo || !Array.isArray(actions)) return;
    state.actions = new Set(actions);
  } catch (e) { return; }  // the buttons stay as they are; the server still decides
  const dispatch = $('submit-dispatch');
  const direct = state.actions.has('dispatch');
  dispatch.textContent = direct ? '派单' : '提交派单';
  dispatch.title = direct ? '按所选承办单位派单' : '提交派单员派单（所选单位作为建议）';
  for (const [id, action] of Object.entries(ACTION_BUTTONS)) {
    if (!state.actions.has(action)) $(id).disabled = true;
  }
}

function clearCall() {
  state.call = null;
  assist.reset();
  state.asrModes.clear();
  showAsrMode();
  $('incoming').classList.add('hidden');
  $('answer').disabled = true;
  $('call-state').textContent = '空闲';
  setCallControls(false);
}

// ---- the live transcript and the draft ---------------------------------------------------
const SPEAKER_NAMES = {caller: '来电人', agent: '坐席', unit: '单位'};
const DEFER_REASONS = {capacity: '转写容量已满', lag: '转写处理滞后', decoder_failed: '识别出错', handover: '后台切换'};

// Which speakers of this call are transcribed live, which after the call (asr.mode): under
// overload the newest calls go post-call first and come back live when capacity frees.
function onAsrMode(m) {
  if (!state.call || m.call_id !== state.call.call_id) return;
  state.asrModes.set(m.speaker, {mode: m.mode, reason: m.reason});
  showAsrMode();
}

function showAsrMode() {
  const badge = $('asr-mode');
  const post = [...state.asrModes].filter(([, v]) => v.mode === 'post_call');
  badge.classList.toggle('hidden', state.asrModes.size === 0);
  badge.classList.toggle('post-call', post.length > 0);
  badge.textContent = post.length === 0 ? '实时转写' : `通话后转写（${post.map(([speaker, v]) =>
    `${SPEAKER_NAMES[speaker] || speaker}：${DEFER_REASONS[v.reason] || v.reason || '系统繁忙'}`).join('，')}）`;
  badge.title = post.length === 0 ? '文字随通话实时出现'
    : '系统繁忙：这部分文字在通话结束后生成（空闲后会恢复实时转写）';
}

function onSegment(s) {
  if (!state.call || s.call_id !== state.call.call_id) return;
  // One line per speaker is "being spoken" (partial); a final result settles it.
  let item = state.segments.get(s.speaker);
  if (!item) {
    item = document.createElement('li');
    $('transcript').append(item);
  }
  if (s.final) state.segments.delete(s.speaker);
  else state.segments.set(s.speaker, item);
  item.className = `${s.speaker === 'caller' || s.speaker === 'unit' ? s.speaker : 'agent'}${s.final ? '' : ' partial'}`;
  item.textContent = '';
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = SPEAKER_NAMES[s.speaker] || '坐席';
  item.append(who, document.createTextNode(s.text));
  $('transcript').scrollTop = $('transcript').scrollHeight;
  if (s.final && s.speaker === 'caller') scheduleDraft();
}

let draftTimer = null;
function scheduleDraft() {
  clearTimeout(draftTimer);
  draftTimer = setTimeout(refreshDraft, 400);
}

async function refreshDraft() {
  const text = [...$('transcript').querySelectorAll('li.caller:not(.partial)')]
    .map((li) => li.lastChild.textContent).join('。');
  if (!text || text === state.lastDraftText) return;
  state.lastDraftText = text;
  try {
    // The call's number ('' when withheld): a number heard in the call never replaces a valid one.
    const callerNumber = (state.call && state.call.caller_number) || '';
    const {draft} = await api('POST', '/api/asr/draft', {text, caller_number: callerNumber});
    const fill = (id, value) => { if (value && !state.edited.has(id)) $(id).value = value; };
    fill('f-type', draft.request_type && draft.request_type.value);
    fill('f-district', draft.district && draft.district.value);
    fill('f-location', [draft.street && draft.street.value, draft.address && draft.address.value].filter(Boolean).join(' '));
    fill('f-callback', draft.callback_number && draft.callback_number.value);
    fill('f-content', text);
    if (!state.edited.has('f-summary') && !$('f-summary').value) $('f-summary').value = text.slice(0, 60);
    const units = draft.suggested_units || [];
    if (units.length && !state.edited.has('f-unit')) setUnits(units);
    assist.render();
  } catch (e) { say(`草稿提取失败：${chinese(e)}`, true); }
}

function resetForm(call) {
  state.edited.clear();
  state.kbArticle = null;
  state.lastDraftText = '';
  for (const id of ['f-type', 'f-about-staff', 'f-district', 'f-location', 'f-summary', 'f-content', 'f-answer']) $(id).value = '';
  $('staff-box').open = false;
  $('f-callback').value = call.caller_number || '';
  $('kb-used').textContent = '';
  $('ticket-no').textContent = '';
  for (const id of ['submit-answer', 'submit-dispatch', 'submit-draft', 'submit-three-way', 'submit-close']) $(id).disabled = true;
  state.actions = null;
  $('submit-dispatch').textContent = '派单';
  state.threeWayUnit = null;
  $('tw-consent').checked = false;  // each caller is asked anew
  orderThreeWay([]);
  $('tw-status').textContent = '';
  $('wrap-no-new').checked = false;
  $('wrap-harass').checked = false;
  $('wrap-note').value = '';
  $('f-closure').value = 'invalid_call';
  $('f-closure-note').value = '';
  $('closure-box').open = false;
  showClosureNote();
}

for (const id of ['f-type', 'f-district', 'f-location', 'f-callback', 'f-summary', 'f-content', 'f-unit']) {
  $(id).addEventListener('input', () => state.edited.add(id));  // the agent's edits win
  $(id).addEventListener('change', () => assist.render());  // ✓ on the suggestions the form holds
}

$('f-unit').addEventListener('change', () => {  // the agent's choice leads the three-way list too
  const chosen = $('f-unit').value;
  const all = Array.from($('f-unit').options, (o) => o.value);
  if (!state.threeWayUnit) orderThreeWay([chosen, ...all.filter((c) => c !== chosen)]);
});

function setUnits(units) {
  const select = $('f-unit');
  select.textContent = '';
  for (const u of units) {
    const option = document.createElement('option');
    option.value = u.unit;
    option.textContent = `${u.unit_name || u.unit}${u.matter ? ` · ${u.matter}` : ''}`;
    select.append(option);
  }
  if (!state.threeWayUnit) orderThreeWay(units.map((u) => u.unit));  // not while a unit is on the line
}

// ---- the live assist: suggestions applied to the form by the agent (one key or click) ------
function flash(id) {
  $(id).classList.add('applied-flash');
  setTimeout(() => $(id).classList.remove('applied-flash'), 800);
}

const assist = new AssistPanel({
  unit(u) {
    const select = $('f-unit');
    if (![...select.options].some((o) => o.value === u.unit)) {
      const option = document.createElement('option');
      option.value = u.unit;
      option.textContent = `${u.unit_name || u.unit}${u.matter ? ` · ${u.matter}` : ''}`;
      select.prepend(option);
    }
    select.value = u.unit;
    state.edited.add('f-unit');  // chosen by the agent: the draft no longer changes it
    if (!state.threeWayUnit) orderThreeWay([u.unit]);  // the applied unit leads the three-way list
    flash('f-unit');
  },
  type(value) {
    $('f-type').value = value;
    state.edited.add('f-type');
    flash('f-type');
  },
  place(district, street) {
    $('f-district').value = district;
    state.edited.add('f-district');
    flash('f-district');
    const location = $('f-location').value.trim();
    if (street && !location.includes(street)) {
      $('f-location').value = location ? `${street} ${location}` : street;
      state.edited.add('f-location');
      flash('f-location');
    }
  },
  answer(a) {
    $('f-answer').value = a.approved_wording;
    state.kbArticle = {id: a.article_id, version: a.version};
    $('kb-used').textContent = `已引用知识库：${a.title}（第 ${a.version} 版）`;
    flash('f-answer');
  },
  applied() {
    return {unit: $('f-unit').value, type: $('f-type').value, district: $('f-district').value.trim(),
            article: state.kbArticle && state.kbArticle.id};
  },
});
state.assist = assist;

// Alt+<key> (by key position, whatever the layout or input method): not Alt+D/E/F (the
// browser's) nor Alt+digits (tabs on Linux).
const ASSIST_KEYS = {KeyA: 'a', KeyU: 'u', KeyT: 't', KeyQ: 'q', KeyJ: 'j'};

function applyAssist(key) {
  if (key === 'a') {
    const done = assist.applyAll();
    if (done && done.length) say(`已应用建议：${done.join('、')}`);
  } else if (key === 'u') {
    const u = assist.nextUnit();
    if (u) say(`承办单位：${u.unit_name}`);
  } else if (key === 't') {
    if (assist.applyType()) say('已应用建议的诉求类型');
  } else if (key === 'q') {
    const d = assist.applyPlace();
    if (d) say(`区县：${d.value}`);
  } else if (key === 'j') {
    const a = assist.nextAnswer();
    if (a) say(`答复内容已填入知识库口径：${a.title}`);
  }
}

async function loadUnits() {
  try {
    const {suggestions} = await api('GET', `/api/tickets/${state.ticketNo}/suggested-units`);
    if (suggestions && suggestions.length && !state.edited.has('f-unit')) setUnits(suggestions);
  } catch (e) { /* the draft's suggestions stay */ }
}

// ---- submitting the ticket ----------------------------------------------------------------
async function currentVersion() {
  const {ticket} = await api('GET', `/api/tickets/${state.ticketNo}`);
  return ticket.version;
}

async function classify() {
  const type = $('f-type').value;
  const summary = $('f-summary').value.trim();
  if (!type || !summary) throw new Error('请填写诉求类型和摘要');
  const body = {
    expected_version: await currentVersion(), ticket_type: type, summary,
    content: $('f-content').value, location: $('f-location').value,
    district: $('f-district').value || null,
  };
  const callback = $('f-callback').value.trim();
  if (callback && callback !== (state.call && state.call.caller_number)) body.callback_number = callback;
  const staff = aboutStaff();
  if (staff) {
    if (type !== 'complaint') throw new Error('填写了被投诉工作人员工号时，诉求类型应为“投诉”');
    body.about_staff = staff;
  }
  const {ticket} = await api('POST', `/api/tickets/${state.ticketNo}/commands/classify`, body);
  return ticket.version;
}

// 投诉热线工作人员 (北京条例第三十三条第一项; 济南条例): the staff member's account (工号). Saving
// the ticket hands it to the quality team (班长/质检): no dispatch, no direct answer.
function aboutStaff() {
  return $('f-about-staff').value.trim();
}

async function submit(kind) {
  if (!state.ticketNo) return;
  try {
    const version = await classify();
    if (aboutStaff()) {
      say(`工单 ${state.ticketNo} 为投诉热线工作人员，已转质检组（班长）处理，不派单`);
      state.ticketSaved = true;
      ticketDone();
      return;
    }
    if (kind === 'answer') {
      const answer = $('f-answer').value.trim();
      if (!answer) throw new Error('请填写答复内容');
      await api('POST', `/api/tickets/${state.ticketNo}/commands/answer-directly`, {
        expected_version: version, answer,
        knowledge_article_id: state.kbArticle ? state.kbArticle.id : null,
        knowledge_article_version: state.kbArticle ? state.kbArticle.version : null,
      });
      say(`工单 ${state.ticketNo} 已直接答复办结`);
    } else if (kind === 'three-way') {
      const answer = $('f-answer').value.trim();
      if (!answer) throw new Error('请填写单位在线答复的内容');
      await api('POST', `/api/tickets/${state.ticketNo}/commands/three-way-call`, {
        expected_version: version, unit: state.threeWayUnit, answer, call_id: state.call && state.call.call_id,
        // The unit was rung only with the caller's consent (the server refuses otherwise).
        caller_consented: true,
      });
      say(`工单 ${state.ticketNo} 已由三方连线答复办结`);
    } else if (kind === 'dispatch' && (!state.actions || state.actions.has('dispatch'))) {
      const unit = $('f-unit').value;
      if (!unit) throw new Error('请选择承办单位');
      await api('POST', `/api/tickets/${state.ticketNo}/commands/dispatch`, {expected_version: version, lead_unit: unit});
      say(`工单 ${state.ticketNo} 已派单`);
    } else if (kind === 'dispatch') {
      say(`工单 ${state.ticketNo} 已提交派单员派单`);
    } else {
      say(`工单 ${state.ticketNo} 已保存草稿，等待派单员处理`);
    }
    state.ticketSaved = true;
    if (kind !== 'draft') ticketDone();
  } catch (e) { say(`提交失败：${chinese(e)}`, true); }
}

// The ticket has left the desk (closed, dispatched, or handed to the dispatchers): its buttons
// disable, so nothing is sent twice; the form keeps its text until wrap-up clears it.
function ticketDone() {
  for (const id of ['submit-answer', 'submit-dispatch', 'submit-draft', 'submit-three-way', 'submit-close']) $(id).disabled = true;
}

// ---- 不予受理 (北京条例第十一条, 唐山 不予受理): closing a draft at intake -------------------------
const showClosureNote = offerClosureCases($('f-closure'), $('f-closure-label'));

async function closeAtIntake() {
  if (!state.ticketNo) return;
  const scope = $('f-closure').value;
  if (aboutStaff()) {
    say('已填写被投诉工作人员工号：该工单转质检组处理，不能不予受理（请清空工号或提交工单）', true);
    $('staff-box').open = true;
    $('f-about-staff').focus();
    return;
  }
  try {
    // What the agent typed is kept on the ticket first (a silent call has nothing to keep).
    const version = $('f-type').value && $('f-summary').value.trim() ? await classify() : await currentVersion();
    await api('POST', `/api/tickets/${state.ticketNo}/commands/close-out-of-scope`,
              closureBody(version, scope, $('f-closure-note').value.trim()));
    say(`工单 ${state.ticketNo} 已不予受理办结（${closureLabel(scope)}）`);
    state.ticketSaved = true;
    $('closure-box').open = false;
    ticketDone();
  } catch (e) {
    say(`不予受理失败：${chinese(e)}`, true);
    $('f-closure-note').focus();
  }
}
$('submit-close').onclick = closeAtIntake;

$('submit-answer').onclick = () => submit('answer');
$('submit-dispatch').onclick = () => submit('dispatch');
$('submit-draft').onclick = () => submit('draft');
$('submit-three-way').onclick = () => submit('three-way');
$('tw-call').onclick = () => {
  if (!state.call || !$('tw-unit').value) return;
  if (!$('tw-consent').checked) {  // 临沂条例第十四条: 征得诉求人同意 before the unit is rung
    say('请先询问来电人是否同意三方连线，同意后勾选“来电人同意”', true);
    $('tw-consent').focus();
    return;
  }
  send({type: 'call.three_way', call_id: state.call.call_id, unit: $('tw-unit').value, caller_consented: true});
};
$('tw-leave').onclick = () => { if (state.call) send({type: 'call.leave', call_id: state.call.call_id}); };
$('em-transfer').onclick = () => {
  if (!state.call) return;
  const line = $('em-line').value;
  if (!confirm(`确认将来电转接至 ${line}？转接后您将退出通话。`)) return;
  send({type: 'call.transfer', call_id: state.call.call_id, line, warm: false});
};

// ---- knowledge base -----------------------------------------------------------------------
async function searchKb() {
  const q = $('kb-q').value.trim();
  const results = $('kb-results');
  results.textContent = '';
  if (!q) return;
  try {
    const {hits} = await api('GET', `/api/kb/search?q=${encodeURIComponent(q)}&limit=8`);
    if (!hits.length) results.textContent = '没有找到相关口径';
    for (const hit of hits) {
      const box = document.createElement('div');
      box.className = 'kb-hit';
      const title = document.createElement('h3');
      title.textContent = hit.title;
      const wording = document.createElement('p');
      wording.textContent = hit.approved_wording || '';
      const use = document.createElement('button');
      use.textContent = '使用此口径';
      use.onclick = () => {
        $('f-answer').value = wording.textContent;
        state.kbArticle = {id: hit.id, version: hit.version};
        $('kb-used').textContent = `已引用知识库：${hit.title}（第 ${hit.version} 版）`;
      };
      box.append(title, wording, use);
      results.append(box);
    }
  } catch (e) { say(`知识库搜索失败：${chinese(e)}`, true); }
}
$('kb-search').onclick = searchKb;
$('kb-q').addEventListener('keydown', (e) => { if (e.key === 'Enter') searchKb(); });

// ---- controls -----------------------------------------------------------------------------
$('go-available').onclick = () => send({type: 'agent.set_status', status: 'available'});
$('go-break').onclick = () => send({type: 'agent.set_status', status: 'break', reason: $('break-reason').value});
$('answer').onclick = () => { if (state.softphone) state.softphone.answer(); $('answer').disabled = true; };
$('hangup').onclick = () => {
  if (state.call) send({type: 'call.hangup', call_id: state.call.call_id});
  else if (state.softphone) state.softphone.hangup();
};
$('mute').onclick = () => {
  const on = !state.mutedSince;
  state.softphone.mute(on);
  setMuted(on);
  showLineState();
};
$('hold').onclick = () => {
  if (!state.call) return;
  const on = !state.heldSince;
  send({type: 'call.hold', call_id: state.call.call_id, on});
  setHeld(on);
  showLineState();
};
$('send-dtmf').onclick = () => { const d = $('dtmf').value.replace(/[^0-9*#]/g, ''); if (d) state.softphone.sendDtmf(d); $('dtmf').value = ''; };
$('cb-refresh').onclick = loadCallbacks;
for (const button of document.querySelectorAll('#cb-answer button')) {
  button.onclick = () => recordCallback(button.dataset.satisfaction);
}
$('wrap-done').onclick = () => {
  if (!state.ticketSaved && !$('wrap-no-new').checked) {
    say(`本次来电的工单 ${state.ticketNo} 尚未保存：请先直接答复、派单或保存草稿（没有新诉求请勾选“无新诉求内容”）`, true);
    return;
  }
  const callId = state.call ? state.call.call_id : (state.agent && state.agent.call_id);
  send({type: 'call.wrap_up', call_id: callId || '', no_new_content: $('wrap-no-new').checked,
        harassment: $('wrap-harass').checked, note: $('wrap-note').value});
  clearCall();
  clearTicket();
};

// Wrap-up done: the finished call's ticket leaves the form.
function clearTicket() {
  state.ticketNo = null;
  state.ticketSaved = true;
  resetForm({caller_number: ''});
}

document.addEventListener('keydown', (e) => {
  const inField = ['TEXTAREA', 'INPUT', 'SELECT'].includes(document.activeElement.tagName);
  // F2 answers from anywhere (typing in the form included); Enter only outside the fields.
  if ((e.key === 'F2' || (e.key === 'Enter' && !inField)) && !$('answer').disabled) {
    e.preventDefault();
    $('answer').click();
  }
  else if (e.key === 'F4' && !$('hangup').disabled) { e.preventDefault(); $('hangup').click(); }
  else if (e.altKey && e.key === 'r') $('go-available').click();
  else if (e.altKey && e.key === 'b') $('go-break').click();
  else if (e.altKey && e.key === 'm' && !$('mute').disabled) $('mute').click();
  else if (e.altKey && e.key === 'h' && !$('hold').disabled) $('hold').click();
  else if (e.altKey && e.key === 'k') $('kb-q').focus();
  else if (e.altKey && e.key === 'x' && state.ticketNo) {  // 不予受理: open the case list
    $('closure-box').open = true;
    $('f-closure').focus();
  }
  else if (e.altKey && !e.ctrlKey && !e.metaKey && ASSIST_KEYS[e.code]) {
    e.preventDefault();  // works from any field: the agent keeps typing where they were
    applyAssist(ASSIST_KEYS[e.code]);
  }
});

/** How long since `since` (ms), as 1:05 or 1:02:05. */
function clock(since) {
  const seconds = Math.max(0, Math.round((Date.now() - since) / 1000));
  const [h, m, s] = [Math.floor(seconds / 3600), Math.floor(seconds / 60) % 60, seconds % 60];
  return `${h ? `${h}:${String(m).padStart(2, '0')}` : m}:${String(s).padStart(2, '0')}`;
}

setInterval(() => {
  const since = state.statusSince;
  $('status-timer').textContent = since ? `${Math.max(0, Math.round((Date.now() - since) / 1000))} 秒` : '';
  $('acw-timer').textContent = state.acwSince ? `${Math.round((Date.now() - state.acwSince) / 1000)} 秒` : '';
  showLineState();
}, 1000);

connect();
