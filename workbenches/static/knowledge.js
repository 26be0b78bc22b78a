// The knowledge admin's page (知识库管理员; a unit's staff for their own unit's articles):
// articles of every status by unit, one article's versions side by side with what changed
// marked, editing (each save is a new version), publishing and retiring, and the articles past
// their review date. Reads GET /api/kb/articles, /api/kb/articles/{id}, /api/kb/stale; writes
// POST /api/kb/articles, PUT /api/kb/articles/{id}, POST .../publish and .../retire.

import {
  $, api, chinese, el, keyboardRows, person, replaceRows, say, select, showError, showSessionBar, titles, typing,
  unitName, when,
} from '/workbench/workbench.js';

const state = {article: null, versions: [], articles: new Map()};
window.knowledgeDebug = state;  // for people (and tests) inspecting the page
const isUnit = person.role === 'unit';
const FIELDS = [['title', '标题'], ['approved_wording', '答复口径'], ['body', '政策依据与说明'], ['keywords', '关键词'],
                ['districts', '适用区县'], ['owner_unit', '所属单位'], ['valid_from', '生效日期'], ['review_by', '复核日期']];

function statusTitle(status) {
  return titles.article_status[status] || status;
}

function shown(field, value) {
  if (Array.isArray(value)) return value.join('、') || (field === 'districts' ? '全市' : '—');
  if (field === 'owner_unit') return unitName(value);
  return value || '—';
}

async function loadArticles() {
  const query = new URLSearchParams({limit: '500'});
  if ($('unit-filter').value) query.set('unit', $('unit-filter').value);
  if ($('status-filter').value) query.set('status', $('status-filter').value);
  let data;
  let stale;
  try {
    [data, stale] = await Promise.all([api('GET', `/api/kb/articles?${query}`),
                                       api('GET', `/api/kb/stale${$('unit-filter').value ? `?unit=${encodeURIComponent($('unit-filter').value)}` : ''}`)]);
  } catch (error) {
    say(`刷新失败：${chinese(error)}`, true);
    return;
  }
  state.articles = new Map(data.articles.map((a) => [a.id, a]));
  replaceRows($('articles'), data.articles.map((a) => el('tr', {tabindex: '0', data: {taskId: a.id}},
    el('td', {class: 'summary', text: a.title, title: a.title}), el('td', {text: unitName(a.owner_unit)}),
    el('td', {class: a.status === 'published' ? 'ok-text' : 'muted', text: statusTitle(a.status)}),
    el('td', {text: `第 ${a.version} 版`}), el('td', {text: a.review_by}), el('td', {text: when(a.updated_at)}))));
  $('article-count').textContent = String(data.articles.length);
  $('articles-empty').classList.toggle('hidden', data.articles.length > 0);
  replaceRows($('stale'), stale.stale.map((f) => el('tr', {tabindex: '0', data: {taskId: f.article_id}},
    el('td', {class: 'summary', text: f.title, title: f.title}), el('td', {text: unitName(f.owner_unit)}),
    el('td', {text: f.review_by}), el('td', {class: 'overdue-text', text: `${f.days_overdue} 天`}))));
  $('stale-count').textContent = String(stale.stale.length);
  $('stale-empty').classList.toggle('hidden', stale.stale.length > 0);
  const open = state.article && $('articles').querySelector(`tr[data-task-id="${CSS.escape(state.article.id)}"]`);
  if (open) open.classList.add('selected');
}

function fill(content) {
  const owner = content.owner_unit || (isUnit ? person.unit : $('owner').value);
  if (owner && ![...$('owner').options].some((o) => o.value === owner)) {
    $('owner').append(el('option', {value: owner, text: unitName(owner)}));  // a unit outside the catalogue
  }
  $('owner').value = owner;
  $('title').value = content.title || '';
  $('wording').value = content.approved_wording || '';
  $('body').value = content.body || '';
  $('keywords').value = (content.keywords || []).join('、');
  $('districts').value = (content.districts || []).join('、');
  $('valid-from').value = content.valid_from || '';
  $('review-by').value = content.review_by || '';
  $('note').value = '';
  showError($('edit-form'), '');
}

function versionColumn(version, other) {
  return el('div', {},
    el('h4', {text: `第 ${version.version} 版 · ${statusTitle(version.status)}`}),
    el('p', {class: 'muted', text: `${when(version.edited_at)} ${version.editor}：${version.change_note}`}),
    el('dl', {class: 'facts'}, FIELDS.map(([field, label]) => {
      const value = shown(field, version[field]);
      const changed = other && value !== shown(field, other[field]);
      return [el('dt', {text: label}), el('dd', {class: changed ? 'changed' : null, text: value})];
    })));
}

function compare() {
  const byNumber = new Map(state.versions.map((v) => [String(v.version), v]));
  const leftSide = byNumber.get($('left-version').value);
  const rightSide = byNumber.get($('right-version').value);
  if (!leftSide || !rightSide) return;
  $('versions').replaceChildren(versionColumn(leftSide, rightSide), versionColumn(rightSide, leftSide));
}

async function openArticle(id) {
  let data;
  try {
    data = await api('GET', `/api/kb/articles/${encodeURIComponent(id)}`);
  } catch (error) {
    say(`打开文章失败：${chinese(error)}`, true);
    return;
  }
  const article = data.article;
  state.article = article;
  state.versions = data.versions;  // newest first
  $('detail-hint').classList.add('hidden');
  $('detail-title').textContent = article.title;
  $('article').classList.remove('hidden');
  $('article-facts').replaceChildren(...[['状态', statusTitle(article.status)], ['当前版本', `第 ${article.version} 版`],
    ['所属单位', unitName(article.owner_unit)], ['复核日期', article.review_by], ['创建', when(article.created_at)],
    ['更新', when(article.updated_at)]].flatMap(([k, v]) => [el('dt', {text: k}), el('dd', {text: v})]));
  $('publish').disabled = article.status === 'published';
  $('retire').disabled = article.status === 'retired';
  $('status-error').textContent = '';
  $('retire-note').value = '';
  $('edit-title').textContent = '编辑（保存为新版本）';
  $('owner-box').classList.toggle('hidden', isUnit);
  $('edit-form').classList.remove('hidden');
  fill(article);
  const options = state.versions.map((v) => el('option', {value: String(v.version), text: `第 ${v.version} 版 ${statusTitle(v.status)}`}));
  $('left-version').replaceChildren(...options.map((o) => o.cloneNode(true)));
  $('right-version').replaceChildren(...options);
  $('versions-box').classList.toggle('hidden', state.versions.length < 1);
  if (state.versions.length) {
    $('left-version').value = String(state.versions[Math.min(1, state.versions.length - 1)].version);
    $('right-version').value = String(state.versions[0].version);
    compare();
  }
}

function newArticle() {
  state.article = null;
  state.versions = [];
  $('detail-hint').classList.add('hidden');
  $('article').classList.add('hidden');
  $('versions-box').classList.add('hidden');
  $('detail-title').textContent = '新建文章';
  $('edit-title').textContent = '新建（保存为草稿）';
  $('owner-box').classList.toggle('hidden', isUnit);
  $('edit-form').classList.remove('hidden');
  fill({owner_unit: isUnit ? person.unit : ($('unit-filter').value || $('owner').value)});
  $('title').focus();
}

function listOf(text) {
  return text.split(/[、,，;；\s]+/).map((w) => w.trim()).filter(Boolean);
}

async function save() {
  const form = $('edit-form');
  const required = [['title', $('title'), '请填写标题。'], ['approved_wording', $('wording'), '请填写答复口径。'],
                    ['body', $('body'), '请填写政策依据与说明。'], ['review_by', $('review-by'), '请填写复核日期。']];
  if (state.article) required.push(['change_note', $('note'), '请填写修改说明。']);
  for (const [field, input, text] of required) {
    if (!input.value.trim()) {
      input.focus();
      return showError(form, text, field);
    }
  }
  for (const [field, input] of [['review_by', $('review-by')], ['review_by', $('valid-from')]]) {
    if (input.value.trim() && !/^\d{4}-\d{2}-\d{2}$/.test(input.value.trim())) {
      input.focus();
      return showError(form, '日期请写成 2027-06-30。', field);
    }
  }
  const body = {title: $('title').value.trim(), approved_wording: $('wording').value.trim(), body: $('body').value.trim(),
                keywords: listOf($('keywords').value), districts: listOf($('districts').value),
                valid_from: $('valid-from').value.trim() || null, review_by: $('review-by').value.trim()};
  if (!isUnit) body.owner_unit = $('owner').value;
  try {
    let saved;
    if (state.article) {
      saved = await api('PUT', `/api/kb/articles/${encodeURIComponent(state.article.id)}`,
                        {...body, expected_version: state.article.version, change_note: $('note').value.trim()});
    } else {
      saved = await api('POST', '/api/kb/articles', {...body, change_note: $('note').value.trim() || '新建'});
    }
    say(`已保存“${saved.article.title}”第 ${saved.article.version} 版`);
    await loadArticles();
    await openArticle(saved.article.id);
  } catch (error) {
    showError(form, error, error.field);
  }
}

async function changeStatus(action) {
  if (!state.article) return;
  const note = action === 'retire' ? $('retire-note').value : '发布';
  if (!note.trim()) {
    $('status-error').textContent = '请填写下架原因。';
    $('retire-note').focus();
    return;
  }
  try {
    await api('POST', `/api/kb/articles/${encodeURIComponent(state.article.id)}/${action}`,
              {expected_version: state.article.version, change_note: note.trim()});
    say(`“${state.article.title}”${action === 'retire' ? '已下架' : '已发布'}`);
    const id = state.article.id;
    await loadArticles();
    await openArticle(id);
  } catch (error) {
    $('status-error').textContent = chinese(error);
  }
}

// ---- wiring -----------------------------------------------------------------------------

for (const [code, name] of Object.entries(titles.unit).sort((a, b) => a[1].localeCompare(b[1], 'zh-CN'))) {
  $('unit-filter').append(el('option', {value: code, text: name}));
  $('owner').append(el('option', {value: code, text: name}));
}
for (const [status, title] of Object.entries(titles.article_status)) $('status-filter').append(el('option', {value: status, text: title}));
$('unit-box').classList.toggle('hidden', isUnit);
$('unit-filter').addEventListener('change', loadArticles);
$('status-filter').addEventListener('change', loadArticles);
keyboardRows($('articles'), (tr) => { select(tr); openArticle(tr.dataset.taskId); });
keyboardRows($('stale'), (tr) => { select(tr); openArticle(tr.dataset.taskId); });
$('left-version').addEventListener('change', compare);
$('right-version').addEventListener('change', compare);
$('new').addEventListener('click', newArticle);
$('publish').addEventListener('click', () => changeStatus('publish'));
$('retire').addEventListener('click', () => changeStatus('retire'));
$('edit-form').addEventListener('submit', (event) => { event.preventDefault(); save(); });
$('edit-form').addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    save();
  }
});
document.addEventListener('keydown', (event) => {
  if (typing(event) || event.ctrlKey || event.altKey || event.metaKey) return;
  if (event.key === 'n' || event.key === 'N') {
    event.preventDefault();
    newArticle();
  }
});

showSessionBar($('session-bar'));
await loadArticles();
$('articles').querySelector('tr')?.focus();
