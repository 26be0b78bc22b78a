// The administrator's page: people's accounts (accounts/admin_api.py). List, add, disable or
// enable, reset a password, end a person's sessions. A password made by the server is shown
// here once and never again; nothing of it stays in the page after it is closed. Everything
// shown is put in the page as text (textContent), never as HTML.

import {api, chinese, person, showSessionBar} from '/signin/session.js';

const $ = (id) => document.getElementById(id);
const STATE_NAMES = {true: '启用', false: '已停用'};

const state = {users: [], roles: [], units: [], roleTitles: {}, unitNames: {}};
window.adminDebug = state;  // for people (and tests) inspecting the page

function say(text, error = false) {
  const line = document.createElement('div');
  if (error) line.className = 'error';
  line.textContent = `${new Date().toLocaleTimeString('zh-CN')} ${text}`;
  $('messages').prepend(line);
  while ($('messages').childElementCount > 10) $('messages').lastElementChild.remove();
}

// ---- the password shown once ---------------------------------------------------------------
function showSecret(what, password) {
  $('secret-what').textContent = what;
  $('secret-password').textContent = password;
  $('secret').classList.remove('hidden');
  $('secret-done').focus();
}

function hideSecret() {
  $('secret-password').textContent = '';
  $('secret-what').textContent = '';
  $('secret').classList.add('hidden');
}

$('secret-done').addEventListener('click', () => { hideSecret(); $('filter').focus(); });
$('secret-copy').addEventListener('click', async () => {
  try {
    await navigator.clipboard.writeText($('secret-password').textContent);
    say('密码已复制到剪贴板');
  } catch (error) {
    say('无法复制，请手动选中密码复制', true);
  }
});

// ---- the list ------------------------------------------------------------------------------
function cell(row, text) {
  const td = document.createElement('td');
  td.textContent = text ?? '';
  row.append(td);
  return td;
}

function button(text, title, onClick, className = '') {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  b.title = title;
  b.className = className;
  b.addEventListener('click', onClick);
  return b;
}

function matches(user) {
  const text = $('filter').value.trim().toLowerCase();
  const role = $('filter-role').value;
  const active = $('filter-state').value;
  if (role && user.role !== role) return false;
  if (active && String(user.active) !== String(active === 'active')) return false;
  if (!text) return true;
  return [user.username, user.display_name, user.unit, user.unit_name, user.role_title]
    .some((v) => (v || '').toLowerCase().includes(text));
}

function render() {
  const body = $('users');
  body.replaceChildren();
  const shown = state.users.filter(matches);
  for (const user of shown) {
    const row = document.createElement('tr');
    row.dataset.username = user.username;
    row.className = user.active ? '' : 'disabled';
    cell(row, user.username);
    cell(row, user.display_name);
    cell(row, user.role_title);
    cell(row, user.unit ? `${user.unit_name || ''} ${user.unit}`.trim() : '—');
    const status = document.createElement('span');
    status.className = `pill ${user.active ? 'active' : 'inactive'}`;
    status.textContent = STATE_NAMES[user.active];
    cell(row, '').append(status);
    cell(row, user.sessions ? `${user.sessions} 个` : '—');
    cell(row, new Date(user.created_at).toLocaleDateString('zh-CN', {timeZone: 'Asia/Shanghai'}));
    const actions = cell(row, '');
    actions.className = 'actions';
    const self = user.username === person.username;
    const toggle = user.active
      ? button('停用', '停用后立即结束其全部会话，无法再登录', () => setActive(user, false), 'danger disable')
      : button('启用', '恢复登录', () => setActive(user, true), 'enable');
    const reset = button('重置密码', '生成新密码（只显示一次），并结束其全部会话', () => resetPassword(user), 'reset');
    const end = button('结束会话', '结束其全部登录会话（已打开的页面随即退出）', () => endSessions(user), 'end-sessions');
    if (self) {
      toggle.disabled = reset.disabled = true;
      toggle.title = reset.title = '不能对自己的账号执行此操作，请由其他管理员办理';
    }
    end.disabled = !user.sessions;
    actions.append(toggle, reset, end);
    body.append(row);
  }
  $('users-count').textContent = shown.length === state.users.length
    ? `（共 ${state.users.length} 个）` : `（${shown.length} / ${state.users.length}）`;
}

async function load() {
  try {
    const data = await api('GET', '/api/users');
    state.users = data.users;
    if (!state.roles.length) setChoices(data.roles, data.units);
    render();
  } catch (error) {
    say(`账号列表读取失败：${chinese(error)}`, true);
  }
}

function option(value, text) {
  const o = document.createElement('option');
  o.value = value;
  o.textContent = text;
  return o;
}

function setChoices(roles, units) {
  state.roles = roles;
  state.units = units;
  for (const r of roles) {
    state.roleTitles[r.role] = r.title;
    $('add-role').append(option(r.role, r.title));
    $('filter-role').append(option(r.role, r.title));
  }
  if (units.length) {
    $('add-unit').append(option('', '（请选择）'));
    for (const u of units) {
      state.unitNames[u.code] = u.name;
      $('add-unit').append(option(u.code, `${u.name}（${u.code}）`));
    }
  } else {  // no catalogue on this server: the unit's code is typed
    const input = document.createElement('input');
    input.id = 'add-unit';
    input.maxLength = 64;
    input.autocomplete = 'off';
    $('add-unit').replaceWith(input);
  }
  showUnit();
}

function showUnit() {
  $('add-unit-box').classList.toggle('hidden', $('add-role').value !== 'unit');
}

// ---- actions -------------------------------------------------------------------------------
async function setActive(user, active) {
  const who = `${user.username}（${user.display_name}）`;
  if (!confirm(active ? `启用账号 ${who}？`
    : `停用账号 ${who}？\n停用后其全部会话立即结束，已打开的页面将退出。`)) return;
  try {
    const result = await api('POST', `/api/users/${encodeURIComponent(user.username)}/${active ? 'enable' : 'disable'}`);
    say(active ? `已启用 ${user.username}` : `已停用 ${user.username}，结束会话 ${result.sessions_ended} 个`);
  } catch (error) {
    say(`${active ? '启用' : '停用'}失败：${chinese(error)}`, true);
  }
  await load();
}

async function resetPassword(user) {
  if (!confirm(`为 ${user.username}（${user.display_name}）生成新密码？\n旧密码立即失效，其全部会话随即结束。`)) return;
  try {
    const result = await api('POST', `/api/users/${encodeURIComponent(user.username)}/password`);
    showSecret(`账号 ${user.username}（${user.display_name}）的新密码：`, result.password);
    say(`已重置 ${user.username} 的密码，结束会话 ${result.sessions_ended} 个`);
  } catch (error) {
    say(`重置密码失败：${chinese(error)}`, true);
  }
  await load();
}

async function endSessions(user) {
  if (!confirm(`结束 ${user.username}（${user.display_name}）的全部会话？\n其已打开的页面将在几秒内退出，需要重新登录。`)) return;
  try {
    const result = await api('DELETE', `/api/users/${encodeURIComponent(user.username)}/sessions`);
    say(`已结束 ${user.username} 的会话 ${result.revoked} 个`);
  } catch (error) {
    say(`结束会话失败：${chinese(error)}`, true);
  }
  await load();
}

const ADD_ERRORS = [
  [/exists already/, '该用户名已存在'],
  [/user name is/, '用户名只能用小写字母、数字或短横线，最多 32 位'],
  [/display name/, '请填写姓名'],
  [/unit/, '承办单位工作人员须选择所属单位'],
];

async function add(event) {
  event.preventDefault();
  const username = $('add-username').value.trim().toLowerCase();
  const displayName = $('add-name').value.trim();
  const role = $('add-role').value;
  const unit = role === 'unit' ? $('add-unit').value.trim() : '';
  if (!username || !displayName) {
    say('请填写用户名和姓名', true);
    (username ? $('add-name') : $('add-username')).focus();
    return;
  }
  $('add-submit').disabled = true;
  try {
    const result = await api('POST', '/api/users', {username, display_name: displayName, role, unit: unit || null});
    showSecret(`已添加账号 ${result.user.username}（${result.user.display_name}，${result.user.role_title}），初始密码：`,
               result.password);
    say(`已添加账号 ${result.user.username}`);
    $('add').reset();
    showUnit();
    await load();
  } catch (error) {
    const known = ADD_ERRORS.find(([pattern]) => pattern.test(error.message));
    say(`添加失败：${known ? known[1] : chinese(error)}`, true);
  } finally {
    $('add-submit').disabled = false;
  }
}

$('add').addEventListener('submit', add);
$('add-role').addEventListener('change', showUnit);
for (const id of ['filter', 'filter-role', 'filter-state']) $(id).addEventListener('input', render);

showSessionBar($('session-bar'));
load();
setInterval(load, 30000);  // sessions come and go
