// 不予受理 (北京条例第十一条, 唐山 不予受理): the cases in which a draft is closed at intake
// instead of being dispatched, as the desk and the dispatcher's page offer them. Each case says
// which field of the `close-out-of-scope` command its note fills and what the note must say (the
// workflow refuses the command without it): what the caller was told, the channel they were
// referred to, the repeated ticket, or the emergency line.

export const CLOSURE_CASES = [
  {scope: 'invalid_call', label: '无效来电（静默、误拨、无诉求）', field: 'reason', note: '说明（可选）'},
  {scope: 'unlawful_or_harassing', label: '违法、违背公序良俗或恶意骚扰（已劝导教育）', field: 'reason', note: '劝导教育内容（必填）'},
  {scope: 'secret_or_privacy', label: '涉及国家秘密、商业秘密或个人隐私（已解释）', field: 'reason', note: '向来电人所作解释（必填）'},
  {scope: 'outside_duties', label: '超出政府职责（已告知市场、社会渠道）', field: 'referred_to', note: '告知的市场或社会渠道（必填）'},
  {scope: 'legal_channel', label: '应通过诉讼、仲裁、复议、信访等法定途径（已告知）', field: 'referred_to', note: '告知的法定途径（必填）'},
  {scope: 'duplicate', label: '重复诉求（填写原工单号）', field: 'duplicate_of', note: '原工单号（必填）'},
  {scope: 'emergency_line', label: '紧急事项（已转 110/119/120/122）', field: 'referred_to', note: '转接的紧急热线（110/119/120/122）'},
];

const BY_SCOPE = new Map(CLOSURE_CASES.map((c) => [c.scope, c]));

/** Fill a <select> with the cases (first: invalid call); keep `label` telling what the note needs. */
export function offerClosureCases(select, label) {
  select.replaceChildren(...CLOSURE_CASES.map((c) => {
    const option = document.createElement('option');
    option.value = c.scope;
    option.textContent = c.label;
    return option;
  }));
  const show = () => { label.textContent = BY_SCOPE.get(select.value).note; };
  select.addEventListener('change', show);
  show();
  return show;
}

/** The command's body for `scope` with the note in its field. */
export function closureBody(expectedVersion, scope, note) {
  const body = {expected_version: expectedVersion, scope, reason: ''};
  const field = BY_SCOPE.get(scope).field;
  if (field === 'duplicate_of') body.duplicate_of = note || null;
  else body[field] = note;
  return body;
}

/** The case's words, for messages. */
export function closureLabel(scope) {
  return BY_SCOPE.get(scope)?.label || scope;
}
