// The sign-in page: user name and password to POST /api/session, which sets the HttpOnly
// session cookie (scripts never see it) and answers with the CSRF token that pages send in
// X-CSRF-Token with every write. Nothing goes in the address; errors are shown as text.
//
// Then on to work: back to the page that sent the person here (`?next=`, if their role may use
// it), else to their role's page (an agent's desk, a supervisor's live calls: `home` in the
// answer, kernel/pages.py); a role without a page of its own sees the pages it may open.

const $ = (id) => document.getElementById(id);

const MESSAGES = {
  400: '请输入用户名和密码。',
  401: '用户名或密码错误。',
  503: '登录服务暂时不可用，请稍后再试。',
};

/** The page that sent the person here (`?next=/supervisor`), if it is one their role may use:
 *  only a page of this site, by its path, never another host. */
function nextPage(person) {
  const next = new URLSearchParams(location.search).get('next');
  return (person.pages || []).find((p) => p.path === next) || null;
}

/** Where a signed-in person goes now: `?next=`, else their role's page; null: stay here. */
function destination(person) {
  const next = nextPage(person);
  return next ? next.path : person.home;
}

/** The page a person was refused (`?denied=/supervisor`): a path of this site, shown as text. */
function deniedPage() {
  const denied = new URLSearchParams(location.search).get('denied');
  return denied && denied.startsWith('/') && !denied.startsWith('//') ? denied : null;
}

/** A page whose sign-in ended sent the person here (`?ended=1`): say so, so that nobody
 *  wonders why their desk left them. */
function showEnded() {
  if (new URLSearchParams(location.search).get('ended') !== '1') return;
  $('ended').textContent = '您的登录已失效（已过期、在别处退出或被管理员结束），请重新登录后继续工作。';
}

function showError(text) {
  $('error').textContent = text;
}

function showSignedIn(person) {
  sessionStorage.setItem('hotline-csrf', person.csrf_token || '');
  $('form').classList.add('hidden');
  $('signed-in').classList.remove('hidden');
  $('welcome').textContent = `已登录：${person.display_name}`;
  $('who').textContent = `账号 ${person.username} · ${person.role_title}${person.unit ? ` · ${person.unit}` : ''}`;
  $('until').textContent = person.expires_at
    ? `本次登录最迟于北京时间 ${new Date(person.expires_at).toLocaleString('zh-CN', {timeZone: 'Asia/Shanghai'})} 结束。`
    : '';
  const denied = deniedPage();
  $('denied').textContent = denied ? `您的账号（${person.role_title}）不能使用页面 ${denied}。` : '';
  const list = $('pages');
  list.replaceChildren();
  for (const p of person.pages || []) {
    const item = document.createElement('li');
    const link = document.createElement('a');
    link.href = p.path;
    link.textContent = p.title;
    item.append(link);
    list.append(item);
  }
  $('pages-title').textContent = (person.pages || []).length ? '可以使用的页面：' : '本账号没有可用的工作页面。';
  $('welcome').focus();
}

function showForm() {
  sessionStorage.removeItem('hotline-csrf');
  $('signed-in').classList.add('hidden');
  $('form').classList.remove('hidden');
  $('password').value = '';
  $('username').focus();
}

async function signIn(event) {
  event.preventDefault();
  const username = $('username').value.trim();
  const password = $('password').value;
  if (!username || !password) {
    showError(MESSAGES[400]);
    (username ? $('password') : $('username')).focus();
    return;
  }
  showError('');
  $('submit').disabled = true;
  $('submit').textContent = '正在登录…';
  try {
    const response = await fetch('/api/session', {
      method: 'POST', credentials: 'same-origin',
      headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({username, password}),
    });
    const data = await response.json().catch(() => ({}));
    if (response.ok) {
      sessionStorage.setItem('hotline-csrf', data.csrf_token || '');
      const target = destination(data);
      if (target) { location.replace(target); return; }
      showSignedIn(data);
      return;
    }
    if (response.status === 429) {
      const seconds = Number(response.headers.get('Retry-After')) || 60;
      showError(`登录失败次数过多，请 ${Math.ceil(seconds / 60)} 分钟后再试。`);
    } else if (response.status === 403) {
      showError(/disabled/.test(data.message || '') ? '该账号已停用，请联系系统管理员。' : '登录请求被拒绝。');
    } else {
      showError(MESSAGES[response.status] || `登录失败（${response.status}）。`);
    }
    $('password').select();
    $('password').focus();
  } catch (error) {
    showError('无法连接服务器，请检查网络后重试。');
  } finally {
    $('submit').disabled = false;
    $('submit').textContent = '登录';
  }
}

async function signOut() {
  const csrf = sessionStorage.getItem('hotline-csrf') || '';
  const response = await fetch('/api/session', {
    method: 'DELETE', credentials: 'same-origin', headers: {'X-CSRF-Token': csrf},
  }).catch(() => null);
  showForm();
  if (!response || !response.ok) showError('退出时服务器未确认；会话将按时自动结束。');
}

function capsLock(event) {
  $('caps').textContent = event.getModifierState && event.getModifierState('CapsLock') ? '大写锁定已打开。' : '';
}

showEnded();
$('form').addEventListener('submit', signIn);
$('sign-out').addEventListener('click', signOut);
$('password').addEventListener('keydown', capsLock);
$('password').addEventListener('keyup', capsLock);
$('show').addEventListener('click', () => {
  const shown = $('password').type === 'text';
  $('password').type = shown ? 'password' : 'text';
  $('show').textContent = shown ? '显示' : '隐藏';
  $('show').setAttribute('aria-pressed', String(!shown));
  $('password').focus();
});

// Already signed in (the cookie is still valid): a page that sent the person here gets them
// back at once; otherwise say who is signed in instead of asking again.
fetch('/api/session', {credentials: 'same-origin', cache: 'no-store'})
  .then((response) => (response.ok ? response.json() : null))
  .then((person) => {
    if (!person || !person.session) return;
    const next = nextPage(person);
    if (next) location.replace(next.path);
    else showSignedIn(person);
  })
  .catch(() => {});
