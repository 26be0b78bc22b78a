// Charts as inline SVG, built element by element with no library (served as
// /workbench/charts.js): horizontal bars for units (their names are long), columns for the 24
// hours. Labels go in as text nodes, so a unit's name can never become markup.

const SVG = 'http://www.w3.org/2000/svg';

function node(tag, attributes = {}, text) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

/** A rate (0..1) as 87.5%; '—' for none. */
export function percent(rate) {
  return rate === null || rate === undefined ? '—' : `${(rate * 100).toFixed(1)}%`;
}

/** Horizontal bars: one per {label, value, text}; `max` the full width (default: the largest). */
export function barChart(title, bars, {max, width = 460, color = '#0969da'} = {}) {
  const rowHeight = 22;
  const labelWidth = 150;
  const top = 24;
  const height = top + Math.max(1, bars.length) * rowHeight + 6;
  const scale = max ?? Math.max(1, ...bars.map((b) => b.value || 0));
  const svg = node('svg', {viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', class: 'chart'});
  svg.append(node('title', {}, title), node('text', {x: 0, y: 14, class: 'chart-title'}, title));
  if (!bars.length) svg.append(node('text', {x: 0, y: top + 14, class: 'chart-empty'}, '本月暂无数据'));
  bars.forEach((bar, i) => {
    const y = top + i * rowHeight;
    const room = width - labelWidth - 60;
    const length = bar.value ? Math.max(1, (bar.value / scale) * room) : 0;
    const label = node('text', {x: labelWidth - 6, y: y + 14, 'text-anchor': 'end', class: 'chart-label'}, bar.label);
    label.append(node('title', {}, bar.label));
    svg.append(label,
      node('rect', {x: labelWidth, y: y + 3, width: length, height: rowHeight - 8, fill: bar.color || color, rx: 2}),
      node('text', {x: labelWidth + length + 4, y: y + 14, class: 'chart-value'}, bar.text));
  });
  return svg;
}

/** Columns for the hours 0..23: `values[h]` (null: no calls that hour), `text(v)` its label. */
export function hourChart(title, values, {max, text = String, color = '#0969da', width = 560} = {}) {
  const height = 170;
  const left = 52;
  const top = 24;
  const bottom = 20;
  const plot = height - top - bottom;
  const step = (width - left) / 24;
  const scale = max ?? Math.max(1, ...values.map((v) => v || 0));
  const svg = node('svg', {viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', class: 'chart'});
  svg.append(node('title', {}, title), node('text', {x: 0, y: 14, class: 'chart-title'}, title));
  svg.append(node('line', {x1: left, y1: top + plot, x2: width, y2: top + plot, stroke: '#d0d7de'}),
    node('text', {x: left - 4, y: top + 8, 'text-anchor': 'end', class: 'chart-value'}, text(scale)),
    node('text', {x: left - 4, y: top + plot, 'text-anchor': 'end', class: 'chart-value'}, text(0)));
  values.forEach((value, hour) => {
    const x = left + hour * step;
    if (value !== null && value !== undefined) {
      const h = value ? Math.max(1, (value / scale) * plot) : 0;
      const bar = node('rect', {x: x + 2, y: top + plot - h, width: step - 4, height: h, fill: color, rx: 1});
      bar.append(node('title', {}, `${hour} 时：${text(value)}`));
      svg.append(bar);
    }
    if (hour % 3 === 0) svg.append(node('text', {x: x + step / 2, y: height - 6, 'text-anchor': 'middle', class: 'chart-value'}, `${hour}时`));
  });
  return svg;
}
