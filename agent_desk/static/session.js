// What the desk's pages share: the signed-in person and the HTTP API with their session
// (/signin/session.js: the HttpOnly cookie, the CSRF token on writes, sign-in and sign-out),
// and a message log shown as text.

export {afterSocketClose, api, chinese, person, showSessionBar, signInAgain, socketUrl} from '/signin/session.js';

export const $ = (id) => document.getElementById(id);

/** A line in the page's #messages log (text only), newest first, at most `keep` lines. */
export function say(text, error = false, keep = 30) {
  const line = document.createElement('div');
  if (error) line.className = 'error';
  line.textContent = `${new Date().toLocaleTimeString('zh-CN')} ${text}`;
  $('messages').prepend(line);
  while ($('messages').childElementCount > keep) $('messages').lastElementChild.remove();
}
