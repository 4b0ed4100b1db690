// web/charts.js — small line charts over time (plain SVG, no library): block interval,
// difficulty, hash rate and mempool size of a node, for the network view.

const SVG = 'http://www.w3.org/2000/svg';
const W = 260;
const H = 90;
const PAD_L = 6;
const PAD_R = 6;
const PAD_T = 20;
const PAD_B = 14;

function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  for (const c of children) e.append(c);
  return e;
}

// Compact numbers: 1234 -> 1.23k, 4.5e6 -> 4.50M.
export function compact(v) {
  if (!Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(2) + 'G';
  if (a >= 1e6) return (v / 1e6).toFixed(2) + 'M';
  if (a >= 1e3) return (v / 1e3).toFixed(2) + 'k';
  if (a >= 10 || v === Math.round(v)) return String(Math.round(v * 10) / 10);
  return v.toFixed(2);
}

// points: [{x, y}] with x increasing (time in ms, or a height). Returns an <svg> whose dataset
// says what it shows (data-chart, data-points, data-last), for tests and for people.
export function lineChart(name, title, points, unit = '') {
  const root = svg('svg', {
    width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img',
    'aria-label': `${title} over time`, 'data-chart': name, 'data-points': points.length,
  });
  const last = points.length ? points[points.length - 1].y : NaN;
  root.dataset.last = Number.isFinite(last) ? String(last) : '';
  root.append(svg('text', { x: PAD_L, y: 13, class: 'chart-title' }, `${title}: ${compact(last)}${unit}`));
  root.append(svg('rect', { x: PAD_L, y: PAD_T, width: W - PAD_L - PAD_R, height: H - PAD_T - PAD_B, class: 'chart-frame' }));
  if (points.length < 2) {
    root.append(svg('text', { x: W / 2, y: H / 2 + 8, class: 'chart-empty' }, 'collecting…'));
    return root;
  }
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs);
  const y0 = Math.min(0, ...ys);
  const y1 = Math.max(...ys) || 1;
  const px = (x) => PAD_L + (x1 === x0 ? 0 : (x - x0) / (x1 - x0)) * (W - PAD_L - PAD_R);
  const py = (y) => PAD_T + (1 - (y - y0) / (y1 - y0 || 1)) * (H - PAD_T - PAD_B);
  const d = points.map((p, i) => `${i ? 'L' : 'M'}${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ');
  root.append(svg('path', { d, class: 'chart-line' }));
  root.append(svg('text', { x: W - PAD_R, y: H - 3, class: 'chart-axis end' }, `max ${compact(y1)}${unit}`));
  root.append(svg('text', { x: PAD_L, y: H - 3, class: 'chart-axis' }, `min ${compact(Math.min(...ys))}${unit}`));
  return root;
}

// Samples of one node over time, bounded (the page may stay open for days).
export class Series {
  constructor(max = 240) {
    this.max = max;
    this.samples = [];
  }

  add(sample) {
    this.samples.push(sample);
    if (this.samples.length > this.max) this.samples.splice(0, this.samples.length - this.max);
  }

  points(key) {
    return this.samples.filter((s) => Number.isFinite(s[key])).map((s) => ({ x: s.at, y: s[key] }));
  }
}

// Seconds between consecutive blocks of a node's active chain, by height, from getblocktree.
export function blockIntervals(tree) {
  if (!tree) return [];
  const active = tree.blocks.filter((b) => b.in_active_chain).sort((a, b) => a.height - b.height);
  const out = [];
  for (let i = 1; i < active.length; ++i) {
    // Genesis carries the network's fixed launch time, not a mining time: no interval from it.
    if (active[i].height !== active[i - 1].height + 1 || active[i - 1].height === 0) continue;
    out.push({ x: active[i].height, y: Math.max(0, (active[i].time_ms - active[i - 1].time_ms) / 1000) });
  }
  return out;
}
