// What every staff page shares: the access token (once in the address as #access_token=...,
// then kept for the tab only), the HTTP API with it, and a message log shown as text.

export const $ = (id) => document.getElementById(id);

const fromHash = new URLSearchParams(location.hash.slice(1)).get('access_token');
if (fromHash) {
  sessionStorage.setItem('hotline-token', fromHash);
  history.replaceState(null, '', location.pathname);  // the token leaves the address bar
}
export const token = sessionStorage.getItem('hotline-token');

/** A line in the page's #messages log (text only), newest first, at most `keep` lines. */
export function say(text, error = false, keep = 30) {
  const line = document.createElement('div');
  if (error) line.className = 'error';
  line.textContent = `${new Date().toLocaleTimeString('zh-CN')} ${text}`;
  $('messages').prepend(line);
  while ($('messages').childElementCount > keep) $('messages').lastElementChild.remove();
}

/** JSON over the backend's HTTP API with the page's token; the API's message on failure. */
export async function api(method, path, body) {
  const response = await fetch(path, {
    method, headers: {'Authorization': `Bearer ${token}`, 'Content-Type': 'application/json'},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.message || `${response.status}`);
  return data;
}
