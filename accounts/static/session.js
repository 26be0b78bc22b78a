// What every staff page shares (served as /signin/session.js): the signed-in person, the HTTP
// API with the session's CSRF token, the way back to the sign-in page, and the page bar
// (the pages this person's role may open, who is signed in, sign-out).
//
// The session lives in an HttpOnly cookie (kernel/auth.py) that scripts never see: no token is
// ever put in an address, a websocket URL, an <audio src> or sessionStorage. The browser sends
// the cookie by itself with every request of the page, websockets and <audio> included. Writes
// also carry the session's CSRF token in X-CSRF-Token, which GET /api/session gives.
//
// Importing this module waits (top-level await) until the person is known, so a page's own
// code runs only for someone signed in: without a session the browser goes to the sign-in page
// and comes back to this page afterwards (`/signin?next=`). A session that ends while the page
// is open (sign-out elsewhere, an administrator's revocation, the idle or absolute limit) sends
// the person to the sign-in page too: an API answer 401, or a websocket closed with 4401.

const CSRF_HEADER = 'X-CSRF-Token';
/** The websocket close code of a session that ended (kernel.auth.SESSION_ENDED). */
export const SESSION_ENDED = 4401;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** This page's path as the sign-in page's `?next=` or `?denied=` (slashes kept, as the server writes it). */
function here() {
  return encodeURIComponent(location.pathname).replace(/%2F/g, '/');
}

/** Go to the sign-in page, which says the sign-in has ended (`ended=1`: expired, signed out
 *  elsewhere or ended by an administrator) and brings the person back here; nothing after
 *  this runs. */
export function signInAgain() {
  location.replace(`/signin?next=${here()}&ended=1`);
  return new Promise(() => {});
}

function notice(text) {
  let box = document.getElementById('session-notice');
  if (!box) {
    box = document.createElement('div');
    box.id = 'session-notice';
    box.setAttribute('role', 'alert');
    box.style.cssText = 'padding:8px 16px;background:#fff8c5;border-bottom:1px solid #d4a72c;font-size:14px';
    document.body.prepend(box);
  }
  box.textContent = text;
}

async function whoAmI() {
  for (let wait = 1000; ; wait = Math.min(wait * 2, 10000)) {
    let response = null;
    try {
      response = await fetch('/api/session', {credentials: 'same-origin', cache: 'no-store'});
    } catch (error) { /* the network: try again below */ }
    if (response && response.status === 401) return signInAgain();
    if (response && response.ok) {
      document.getElementById('session-notice')?.remove();
      return response.json();
    }
    notice(`无法确认登录状态（${response ? response.status : '网络不通'}），正在重试…`);
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/** Who is signed in: {username, display_name, role, role_title, unit, unit_name, csrf_token, pages, home}. */
export const person = await whoAmI();

// The server sends a person to this page only if their role may use it (kernel/pages.py);
// a page kept open across a change of account checks again.
if (!person.pages.some((p) => p.path === location.pathname)) {
  location.replace(`/signin?denied=${here()}`);
  await new Promise(() => {});
}

/** JSON over the backend's HTTP API with the session; an Error with the API's message (and
 *  `.status`, `.code`) on failure. A 401 means the session ended: back to the sign-in page.
 *  Never from the browser's cache, unless `cache` says so (`'default'`: what the server's
 *  Cache-Control allows, for answers that are the same for everyone, like the pages' names). */
export async function api(method, path, body, {cache = 'no-store'} = {}) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (!SAFE_METHODS.has(method)) headers[CSRF_HEADER] = person.csrf_token || '';
  const response = await fetch(path, {
    method, headers, credentials: 'same-origin', cache,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (response.status === 401) await signInAgain();
  if (!response.ok) {
    const error = new Error(data.message || `${response.status}`);
    error.status = response.status;
    error.code = data.error;  // the error hierarchy's code (kernel/errors.py): pages word it in Chinese
    throw error;
  }
  return data;
}

/** Whether the session still holds (a network failure counts as yes: reconnect and see). */
export async function stillSignedIn() {
  try {
    const response = await fetch('/api/session', {credentials: 'same-origin', cache: 'no-store'});
    return response.status !== 401;
  } catch (error) {
    return true;
  }
}

/** The address of one of the backend's websockets; the cookie rides along, nothing else. */
export function socketUrl(path) {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`;
}

/** After a websocket closed: to the sign-in page if the session ended (a refused upgrade
 *  reaches the page only as a close, so the session is asked), else `reconnect()`. */
export async function afterSocketClose(event, reconnect) {
  if (signingOut) {
    // The person is signing out here: the server closes the page's sockets as the session
    // ends, and this page goes to the plain sign-in page (not "your sign-in has ended").
    pendingReconnects.push(reconnect);
    return new Promise(() => {});
  }
  if (event.code === SESSION_ENDED || !(await stillSignedIn())) return signInAgain();
  return reconnect();
}

let signingOut = false;
const pendingReconnects = [];

function signOutFailed(text) {
  signingOut = false;
  notice(text);
  for (const reconnect of pendingReconnects.splice(0)) reconnect();
}

/** Sign out (DELETE /api/session) and go to the sign-in page. `before` may refuse (false)
 *  or finish the page's work first (the desk's softphone unregisters). */
export async function signOut(before) {
  if (before && (await before()) === false) return;
  signingOut = true;
  try {
    const response = await fetch('/api/session', {
      method: 'DELETE', credentials: 'same-origin', headers: {[CSRF_HEADER]: person.csrf_token || ''},
    });
    if (!response.ok && response.status !== 401) {
      signOutFailed(`退出登录失败（${response.status}），请重试。`);
      return;
    }
  } catch (error) {
    signOutFailed('无法连接服务器，退出登录未完成，请重试。');
    return;
  }
  location.replace('/signin');
}

const BAR_STYLE = `
  .session-bar { margin-left: auto; display: flex; gap: 12px; align-items: center; white-space: nowrap; }
  .session-bar a { color: #0969da; text-decoration: none; }
  .session-bar a:hover, .session-bar a:focus-visible { text-decoration: underline; }
  .session-bar .session-here { font-weight: 600; }
  .session-bar .session-who { color: #57606a; }
`;

/** Fill `element` (in the page's header) with the pages this person may open, their name and
 *  role, and the sign-out button. `beforeSignOut` as for `signOut`. */
export function showSessionBar(element, {beforeSignOut} = {}) {
  if (!document.getElementById('session-bar-style')) {
    const style = document.createElement('style');
    style.id = 'session-bar-style';
    style.textContent = BAR_STYLE;
    document.head.append(style);
  }
  element.classList.add('session-bar');
  element.setAttribute('aria-label', '页面与账号');
  element.replaceChildren();
  if (person.pages.length > 1) {
    for (const p of person.pages) {
      if (p.path === location.pathname) {
        const here = document.createElement('span');
        here.className = 'session-here';
        here.setAttribute('aria-current', 'page');
        here.textContent = p.title;
        element.append(here);
      } else {
        const link = document.createElement('a');
        link.href = p.path;
        link.textContent = p.title;
        element.append(link);
      }
    }
  }
  const who = document.createElement('span');
  who.className = 'session-who';
  who.id = 'session-who';
  const unit = person.unit_name || person.unit;
  who.textContent = `${person.display_name} · ${person.role_title}${unit ? ` · ${unit}` : ''}`;
  who.title = `账号 ${person.username}`;
  const out = document.createElement('button');
  out.type = 'button';
  out.id = 'sign-out';
  out.textContent = '退出登录';
  out.addEventListener('click', () => signOut(beforeSignOut));
  element.append(who, out);
}

// ---- errors in Chinese ------------------------------------------------------------------
const CODES = {
  conflict: '工单已被他人处理或修改，已刷新，请核对后重试。',
  permission_denied: '您的角色不能执行此操作。',
  illegal_transition: '工单当前状态不允许此操作（可能已被他人处理），请刷新后再试。',
  not_found: '工单或记录不存在，或不在您的权限范围内。',
  unauthenticated: '登录已失效，请重新登录。',
  throttled: '操作过于频繁，请稍后再试。',
  unavailable: '服务暂时不可用，请稍后再试。',
};

/** A server's answer in Chinese: the backend's own words when it wrote them in Chinese (the
 *  workbench API does), else its error code's meaning. Every page words errors with it. */
export function chinese(error) {
  if (/[\u4e00-\u9fff]/.test(error.message || '')) return error.message;
  if (error.code === 'invalid_input') return '填写内容不符合要求，请检查后再提交。';
  return CODES[error.code] || (error.status ? `操作失败（${error.status}）。` : '无法连接服务器，请检查网络后重试。');
}
