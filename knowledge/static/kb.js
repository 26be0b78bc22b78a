// The public knowledge search: a citizen's question to GET /api/public/kb/search, the approved
// answers shown as text (textContent only: an article's text never becomes markup).

const $ = (id) => document.getElementById(id);

function showError(text) {
  $('error').textContent = text;
  $('error').classList.toggle('hidden', !text);
}

function answerItem(answer) {
  const item = document.createElement('li');
  const title = document.createElement('h2');
  title.textContent = answer.title;
  const text = document.createElement('p');
  text.className = 'answer';
  text.textContent = answer.answer;
  const source = document.createElement('p');
  source.className = 'muted';
  const where = answer.districts.length ? `适用：${answer.districts.join('、')}` : '适用：全市';
  source.textContent = `${answer.unit_name || '承办单位'} · ${where} · 更新于 ${answer.updated_at}`;
  item.append(title, text, source);
  return item;
}

async function search(event) {
  event.preventDefault();
  const q = $('q').value.trim();
  showError('');
  if (!q) { showError('请输入您的问题。'); return; }
  $('answers').replaceChildren();
  $('count').textContent = '查询中…';
  try {
    const response = await fetch(`/api/public/kb/search?q=${encodeURIComponent(q)}`);
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      $('count').textContent = '';
      showError(body.message && /[\u4e00-\u9fff]/.test(body.message) ? body.message : '查询暂时不可用，请稍后再试。');
      return;
    }
    $('answers').replaceChildren(...body.answers.map(answerItem));
    $('count').textContent = body.answers.length
      ? `找到 ${body.answers.length} 条答复`
      : '没有找到相关答复，请换个说法，或拨打 12345 咨询。';
  } catch (error) {
    $('count').textContent = '';
    showError('无法连接服务器，请稍后再试。');
  }
}

$('search').addEventListener('submit', search);
