// The live assist panel (通话辅助): what the caller's words suggest while they speak.
//
// The server reads the caller's words (final results and the partial being spoken) and sends
// `assist.update` on the desk socket, at most a few times a second; each update is complete
// (agent_desk/PROTOCOL.md). The panel shows the suggested units, the request type, the district
// and street and the approved knowledge wording, each with the caller's words behind it (marked),
// and applies a suggestion to the ticket form with one key or click. Rendering waits for the
// next animation frame, so a burst of updates costs one paint and never delays the transcript.
// Caller's words are put in the page as text (textContent), never as HTML.

import {$} from './session.js';

const TYPE_NAMES = {consultation: '咨询', help: '求助', complaint: '投诉', report: '举报', suggestion: '意见建议'};
// Below this the rule is guessing: the suggestion is shown greyed, with a question mark.
const LOW_CONFIDENCE = 0.6;

export class AssistPanel {
  /** `apply` holds the form's side: unit(u), type(value), place(district, street), answer(a),
   *  and `applied` tells which suggestions the form holds already. */
  constructor(apply) {
    this.apply = apply;
    this.reset();
  }

  reset() {
    this.callId = null;
    this.current = null;
    this.unitCursor = -1;
    this.answerCursor = -1;
    this.pending = false;
    this.render();
  }

  follow(callId) {
    if (this.callId !== callId) { this.reset(); this.callId = callId; }
  }

  update(m) {
    if (!this.callId || m.call_id !== this.callId) return;
    this.current = m;
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.render(); });
  }

  // ---- applying (one key each; Alt+U and Alt+J step through the list) ------------------
  applyAll() {
    const m = this.current;
    if (!m) return;
    const done = [];
    if (m.request_type) { this.apply.type(m.request_type.value); done.push('诉求类型'); }
    if (m.district) { this.apply.place(m.district.value, m.street && m.street.value); done.push('区县'); }
    if (m.units && m.units.length) { this.unitCursor = 0; this.apply.unit(m.units[0]); done.push('承办单位'); }
    this.render();
    return done;
  }

  nextUnit() {
    const units = (this.current && this.current.units) || [];
    if (!units.length) return null;
    this.unitCursor = (this.unitCursor + 1) % units.length;
    this.apply.unit(units[this.unitCursor]);
    this.render();
    return units[this.unitCursor];
  }

  applyUnit(index) {
    const units = (this.current && this.current.units) || [];
    if (!units[index]) return;
    this.unitCursor = index;
    this.apply.unit(units[index]);
    this.render();
  }

  applyType() {
    const t = this.current && this.current.request_type;
    if (t) { this.apply.type(t.value); this.render(); }
    return t;
  }

  applyPlace() {
    const m = this.current;
    if (m && m.district) { this.apply.place(m.district.value, m.street && m.street.value); this.render(); }
    return m && m.district;
  }

  nextAnswer() {
    const answers = (this.current && this.current.answers) || [];
    if (!answers.length) return null;
    this.answerCursor = (this.answerCursor + 1) % answers.length;
    return this.applyAnswer(this.answerCursor);
  }

  applyAnswer(index) {
    const answers = (this.current && this.current.answers) || [];
    if (!answers[index]) return null;
    this.answerCursor = index;
    this.apply.answer(answers[index]);
    this.render();
    return answers[index];
  }

  // ---- rendering ---------------------------------------------------------------------
  render() {
    const m = this.current;
    const status = $('assist-status');
    if (!m) {
      status.textContent = this.callId ? '等待来电人说话…' : '通话中显示';
      status.className = 'assist-status';
    } else {
      status.textContent = m.partial ? '来电人正在说话，实时更新' : '已根据来电人的话更新';
      status.className = `assist-status${m.partial ? ' speaking' : ''}`;
    }
    const applied = this.apply.applied();
    const units = $('assist-units');
    units.textContent = '';
    for (const [i, u] of ((m && m.units) || []).entries()) {
      const name = u.matter ? `${u.unit_name} · ${u.matter}` : `${u.unit_name}（属地）`;
      units.append(item(`${i + 1}. ${name}`, u.evidence, applied.unit === u.unit, false,
                        `应用为承办单位（Alt+U 依次切换）`, () => this.applyUnit(i)));
    }
    if (!units.childElementCount) units.append(empty('尚无建议'));
    const type = $('assist-type');
    type.textContent = '';
    if (m && m.request_type) {
      const t = m.request_type;
      type.append(item(TYPE_NAMES[t.value] || t.value, t.evidence, applied.type === t.value,
                       t.confidence < LOW_CONFIDENCE, '应用为诉求类型（Alt+T）', () => this.applyType()));
    } else type.append(empty('尚无判断'));
    const place = $('assist-place');
    place.textContent = '';
    if (m && m.district) {
      const d = m.district;
      const s = m.street;
      const evidence = sameWordsOnce([...d.evidence, ...(s ? s.evidence : [])]).slice(0, 2);
      place.append(item(s ? `${d.value} / ${s.value}` : d.value, evidence, applied.district === d.value,
                        d.confidence < LOW_CONFIDENCE, '应用为区县和地址（Alt+Q）', () => this.applyPlace()));
    } else place.append(empty('尚未听到区县或街道'));
    const answers = $('assist-answers');
    answers.textContent = '';
    for (const [i, a] of ((m && m.answers) || []).entries()) {
      const box = item(a.title, a.evidence, applied.article === a.article_id, false,
                       '使用此口径作为答复内容（Alt+J 依次切换）', () => this.applyAnswer(i));
      const wording = document.createElement('p');
      wording.className = 'assist-wording';
      wording.textContent = a.approved_wording;
      box.querySelector('.assist-value').after(wording);
      answers.append(box);
    }
    if (!answers.childElementCount) answers.append(empty('尚无匹配的知识库口径'));
  }
}

/** One suggestion: a button (click or Enter applies it) with its value and the caller's words. */
function item(value, evidence, isApplied, low, title, onApply) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = `assist-item${isApplied ? ' applied' : ''}${low ? ' low' : ''}`;
  button.title = title;
  button.onclick = onApply;
  const head = document.createElement('span');
  head.className = 'assist-value';
  head.textContent = `${value}${low ? '？' : ''}${isApplied ? ' ✓已填入' : ''}`;
  button.append(head);
  for (const snippet of evidence || []) button.append(words(snippet));
  return button;
}

/** The caller's words behind a suggestion: “…我要投诉小区<mark>噪音</mark>…”. */
function words(snippet) {
  const line = document.createElement('span');
  line.className = `assist-words${snippet.partial ? ' partial' : ''}`;
  line.title = snippet.partial ? '来电人正在说（尚未定稿）' : '来电人的原话';
  line.append('“');
  for (const part of snippet.parts) {
    if (part.mark) {
      const mark = document.createElement('mark');
      mark.textContent = part.text;
      line.append(mark);
    } else line.append(part.text);
  }
  line.append('”');
  return line;
}

function empty(text) {
  const span = document.createElement('span');
  span.className = 'assist-empty';
  span.textContent = text;
  return span;
}

/** The district's and the street's words are often one sentence: shown once, with both marks. */
function sameWordsOnce(snippets) {
  const shown = [];
  for (const snippet of snippets) {
    const text = snippet.parts.map((p) => p.text).join('');
    const same = shown.find((s) => s.text === text);
    if (same) same.snippet = overlay(same.snippet, snippet);
    else shown.push({text, snippet});
  }
  return shown.map((s) => s.snippet);
}

function overlay(a, b) {
  const flags = (s) => s.parts.flatMap((p) => [...p.text].map(() => p.mark));
  const [marksA, marksB] = [flags(a), flags(b)];
  const parts = [];
  a.parts.flatMap((p) => [...p.text]).forEach((ch, i) => {
    const mark = marksA[i] || marksB[i];
    const last = parts[parts.length - 1];
    if (last && last.mark === mark) last.text += ch;
    else parts.push({text: ch, mark});
  });
  return {parts, partial: a.partial || b.partial};
}
