// web/network.js — the network view: every node's block tree merged into one drawing (SVG),
// heights left to right, one lane per branch. Each node's tip carries its flag and the branch it
// follows is underlined in its colour; blocks no node follows are stale (orphaned) and dashed.
// Blocks are filled in the colour of the node that mined them (a node's miner address comes from
// its getmininginfo, its label from getnetworkinfo), with a legend; other miners are grey.
// Data comes from getblockchaininfo + getblocktree + getmininginfo per node, polled every
// second; each node's /ws reorg events feed the log with the node's own depth.

import { Api, subscribe } from './api.js';
import { Series, blockIntervals, lineChart } from './charts.js';

const SVG = 'http://www.w3.org/2000/svg';
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];
export const UNKNOWN_MINER = '#b8bec4';  // a miner no shown node reports
const MAX_REACH = 500;  // heights below the window fetched to keep a fork point in view
const COL_W = 58;   // px per height
const LANE_H = 64;  // px per branch
const BOX_W = 46;
const BOX_H = 26;

function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  for (const c of children) e.append(c);
  return e;
}

function short(id) {
  return id.replace(/^0+/, '').slice(0, 6);  // PoW ids start with zeros: show what tells them apart
}

// Merges the latest snapshot of each node into one tree and lays it out.
// snaps: [{name, color, info, tree}] (info/tree null when never reached).
// floor (optional): the lowest height to show even when older than the window (a fork point).
export function buildModel(snaps, window, floor = Infinity) {
  const blocks = new Map();
  let maxHeight = 0;
  for (const s of snaps) {
    if (!s.info) continue;
    maxHeight = Math.max(maxHeight, s.info.height);
  }
  const minHeight = Math.max(0, Math.min(maxHeight - window + 1, floor));
  for (const s of snaps) {
    if (!s.tree) continue;
    for (const b of s.tree.blocks) {
      if (b.height < minHeight) continue;
      let m = blocks.get(b.id);
      if (!m) {
        m = { ...b, followers: [], knownBy: [] };
        blocks.set(b.id, m);
      }
      if (m.tx_count === null && b.tx_count !== null) m.tx_count = b.tx_count;
      m.knownBy.push(s.name);
      if (b.in_active_chain) m.followers.push(s.name);
    }
  }
  // Children, sorted so the branch most nodes follow (then the longest) continues straight.
  const children = new Map();
  const roots = [];
  for (const b of blocks.values()) {
    if (blocks.has(b.prev)) {
      if (!children.has(b.prev)) children.set(b.prev, []);
      children.get(b.prev).push(b);
    } else {
      roots.push(b);
    }
  }
  const depth = new Map();
  const subtreeTop = (b) => {
    if (depth.has(b.id)) return depth.get(b.id);
    let top = b.height;
    for (const c of children.get(b.id) || []) top = Math.max(top, subtreeTop(c));
    depth.set(b.id, top);
    return top;
  };
  const order = (a, b) => b.followers.length - a.followers.length || subtreeTop(b) - subtreeTop(a) || (a.id < b.id ? -1 : 1);
  roots.sort((a, b) => a.height - b.height || order(a, b));
  let lanes = 0;
  const place = (root, lane) => {
    // Iterative walk: long chains must not overflow the stack.
    const stack = [[root, lane]];
    while (stack.length) {
      const [b, l] = stack.pop();
      b.lane = l;
      const cs = (children.get(b.id) || []).slice().sort(order);
      for (let i = cs.length - 1; i >= 1; --i) stack.push([cs[i], -1]);
      if (cs.length) stack.push([cs[0], l]);
      // New lanes are handed out as branches are reached (depth first), below the ones in use.
      for (const item of stack) if (item[1] === -1) item[1] = lanes++;
    }
  };
  for (const r of roots) place(r, lanes++);
  const tips = new Map();  // tip id -> node names
  for (const s of snaps) {
    if (!s.info) continue;
    if (!tips.has(s.info.tip)) tips.set(s.info.tip, []);
    tips.get(s.info.tip).push(s.name);
  }
  let stale = 0;
  for (const b of blocks.values()) {
    b.stale = b.followers.length === 0;
    if (b.stale) ++stale;
  }
  return { blocks, minHeight, maxHeight, lanes, tips, stale, fork: forkPoint(blocks, tips) };
}

// The lowest fork of the shown tips: the highest block every tip descends from. null with one
// tip; {height: null} when the tips share no shown ancestor (the fork is below what was fetched).
export function forkPoint(blocks, tips) {
  if (tips.size < 2) return null;
  const lines = new Map();
  for (const tip of tips.keys()) {
    const line = new Set();
    for (let b = blocks.get(tip); b; b = blocks.get(b.prev)) line.add(b.id);
    lines.set(tip, line);
  }
  // A tip another tip descends from is a node behind on the same branch (catching up), not a
  // fork: only branch ends count.
  const ends = [...lines.keys()].filter((t) => ![...lines].some(([u, line]) => u !== t && line.has(t)));
  if (ends.length < 2) return null;
  let common = null;
  for (const tip of ends) {
    const line = lines.get(tip);
    common = common === null ? line : new Set([...common].filter((id) => line.has(id)));
  }
  let best = null;
  for (const id of common || []) {
    const b = blocks.get(id);
    if (!best || b.height > best.height) best = b;
  }
  return best ? { height: best.height, id: best.id } : { height: null, id: null };
}

// Miner address -> {color, name} of the shown node that mines to it.
export function minerColors(snaps) {
  const m = new Map();
  for (const s of snaps) if (s.miner && !m.has(s.miner)) m.set(s.miner, { color: s.color, name: s.name, label: s.label });
  return m;
}

export const displayName = (s) => (s.label ? `${s.label} (${s.name})` : s.name);

export function renderTree(model, snaps) {
  const colorOf = new Map(snaps.map((s) => [s.name, s.color]));
  const miners = minerColors(snaps);
  const snapOf = new Map(snaps.map((s) => [s.name, s]));
  const label = Math.max(0, ...snaps.map((s) => s.name.length)) * 6.5 + 24;  // room for the tip flags
  const width = 40 + (model.maxHeight - model.minHeight + 1) * COL_W + label;
  const height = 30 + Math.max(1, model.lanes) * LANE_H + 10;
  const root = svg('svg', {
    width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': 'block tree of the shown nodes',
  });
  const x = (h) => 40 + (h - model.minHeight) * COL_W;
  const y = (lane) => 30 + lane * LANE_H;
  // Height ruler.
  for (let h = model.minHeight; h <= model.maxHeight; ++h) {
    root.append(svg('text', { x: x(h) + BOX_W / 2, y: 14, class: 'ruler' }, String(h)));
  }
  const edges = svg('g', { class: 'edges' });
  const stripes = svg('g', { class: 'stripes' });
  const boxes = svg('g', { class: 'blocks' });
  const flags = svg('g', { class: 'flags' });
  root.append(edges, stripes, boxes, flags);
  const names = snaps.map((s) => s.name);
  for (const b of model.blocks.values()) {
    const bx = x(b.height);
    const by = y(b.lane);
    const parent = model.blocks.get(b.prev);
    if (parent) {
      const px = x(parent.height) + BOX_W;
      const py = y(parent.lane) + BOX_H / 2;
      const cy = by + BOX_H / 2;
      const d = py === cy ? `M${px},${py} L${bx},${cy}` : `M${px},${py} C${px + 14},${py} ${bx - 14},${cy} ${bx},${cy}`;
      edges.append(svg('path', { d, class: b.stale ? 'edge stale' : 'edge' }));
      // Each follower's stripe continues from the parent.
      for (const n of b.followers) {
        if (!parent.followers.includes(n)) continue;
        const k = names.indexOf(n);
        const off = BOX_H + 4 + k * 4;
        stripes.append(svg('line', {
          x1: px - BOX_W, y1: y(parent.lane) + off, x2: bx, y2: by + off,
          stroke: colorOf.get(n), class: 'stripe',
        }));
      }
    }
    for (const n of b.followers) {
      const k = names.indexOf(n);
      const off = BOX_H + 4 + k * 4;
      stripes.append(svg('line', { x1: bx, y1: by + off, x2: bx + BOX_W, y2: by + off, stroke: colorOf.get(n), class: 'stripe' }));
    }
    const cls = ['block'];
    if (b.stale) cls.push('stale');
    else if (b.followers.length < snaps.filter((s) => s.info).length) cls.push('fork');
    if (b.status === 'invalid') cls.push('invalid');
    const by_ = miners.get(b.miner);
    const title = svg('title', {}, `block ${b.height} ${b.id}\nmined by ${by_ ? displayName(by_) : 'an unknown miner'} (${b.miner})\ntxs ${b.tx_count ?? '?'}\n` +
      (b.stale ? 'stale: on no shown node\'s active chain' : `followed by ${b.followers.join(', ')}`));
    const a = svg('a', { href: `#/block/${b.id}` });
    const g = svg('g', {
      class: cls.join(' '), 'data-id': b.id, 'data-height': b.height, 'data-lane': b.lane,
      'data-stale': b.stale, 'data-followers': b.followers.join(' '),
      'data-miner': b.miner, 'data-mined-by': by_ ? by_.name : '', 'data-fill': by_ ? by_.color : UNKNOWN_MINER,
    }, title,
    svg('rect', { x: bx, y: by, width: BOX_W, height: BOX_H, rx: 4 }),
    svg('text', { x: bx + BOX_W / 2, y: by + 11, class: 'bid' }, short(b.id)),
    svg('text', { x: bx + BOX_W / 2, y: by + 22, class: 'btx' }, b.stale ? 'stale' : `${b.tx_count ?? '?'} tx`));
    a.append(g);
    boxes.append(a);
  }
  if (model.fork && model.fork.height !== null) {
    const fx = x(model.fork.height) + BOX_W + (COL_W - BOX_W) / 2;
    root.append(svg('g', { class: 'forkmark', 'data-fork-height': model.fork.height },
      svg('line', { x1: fx, y1: 18, x2: fx, y2: height - 4 }),
      svg('text', { x: fx + 3, y: height - 6 }, `fork after ${model.fork.height}`)));
  }
  // Tip flags: one per node, stacked to the right of its tip block.
  for (const [tip, nodes] of model.tips) {
    const b = model.blocks.get(tip);
    if (!b) continue;
    nodes.forEach((n, i) => {
      const fx = x(b.height) + BOX_W + 4;
      const fy = y(b.lane) + i * 11;
      flags.append(svg('g', { class: 'flag', 'data-node-tip': n, 'data-tip': tip },
        svg('rect', { x: fx, y: fy, width: 8, height: 8, fill: colorOf.get(n) }),
        svg('text', { x: fx + 11, y: fy + 8, class: 'flagtext' }, (snapOf.get(n) || {}).label || n)));
    });
  }
  return root;
}

// The live network view. nodes: [{name, base}] ('' base = this node).
export class NetworkView {
  constructor(container, nodes, discover) {
    this.container = container;
    this.discover = discover;  // async () => [{name, base}] found later (peers), or null
    this.snaps = [];
    this.log = [];
    this.windowSize = 24;
    this.reach = 0;           // extra heights fetched below the window, to keep the fork point
    this.forkFloor = Infinity;
    this.timer = null;
    this.busy = false;
    this.series = new Series();  // the first node's difficulty, hash rate, mempool over time
    for (const n of nodes) this.addNode(n);
  }

  addNode(n) {
    if (this.snaps.some((s) => s.name === n.name)) return;
    const color = COLORS[this.snaps.length % COLORS.length];
    const s = { ...n, api: new Api(n.base, 2500), color, info: null, tree: null, mining: null, label: null, miner: null,
      reachable: null, error: '', wsOpen: false, wsHeight: null };
    this.snaps.push(s);
    if (this.timer) this.follow(s);
  }

  // The node's own reorg events: its depth (blocks disconnected) and, from the height it had
  // before, the fork height. Block events keep that height current between polls.
  follow(s) {
    s.unsubscribe = subscribe(s.base, (ev) => {
      if (ev.type === 'reorg') {
        const before = s.wsHeight ?? (s.info ? s.info.height : null);
        const fork = before === null ? null : before - ev.disconnected;
        this.note('reorg', s.name, `${displayName(s)} reorganised: ${ev.disconnected} block(s) replaced (depth ${ev.disconnected})` +
          `${fork === null ? '' : `, fork at height ${fork}`}; new tip ${short(ev.tip)} at height ${ev.height}`,
        { depth: ev.disconnected, forkHeight: fork ?? '', tip: ev.tip, source: 'event' });
        this.poke();
      } else if (ev.type === 'block') {
        s.wsHeight = ev.height;
      }
    }, (state) => {
      s.wsOpen = state === 'open';
      if (!s.wsOpen) s.wsHeight = null;  // events may be missed while closed: fall back to polls
    }, 'block,reorg');
  }

  start() {
    const tick = async () => {
      if (this.busy) return;
      this.busy = true;
      try {
        await this.poll();
      } finally {
        this.busy = false;
      }
    };
    this.tick = tick;
    this.timer = setInterval(tick, 1000);
    for (const s of this.snaps) this.follow(s);
    tick();
    this.discoverTimer = this.discover ? setInterval(() => this.runDiscover(), 5000) : null;
    if (this.discover) this.runDiscover();
  }

  stop() {
    clearInterval(this.timer);
    clearInterval(this.discoverTimer);
    for (const s of this.snaps) if (s.unsubscribe) s.unsubscribe();
  }

  async runDiscover() {
    try {
      for (const n of await this.discover()) this.addNode(n);
    } catch (e) {
      /* the home node is down: keep what we know */
    }
  }

  poke() {
    // An event arrived (ws): refresh soon rather than at the next tick.
    clearTimeout(this.pokeTimer);
    // Through tick: never two polls at once (they would race on the fork floor).
    this.pokeTimer = setTimeout(() => this.tick && this.tick(), 150);
  }

  async poll() {
    const top = Math.max(0, ...this.snaps.filter((s) => s.info).map((s) => s.info.height));
    let from = Math.max(0, top - this.windowSize - 4 - this.reach);
    // From just below the fork floor (a fork point, or the last one), however far the tips grew.
    if (Number.isFinite(this.forkFloor)) from = Math.max(0, Math.min(from, this.forkFloor - 1), top - MAX_REACH - this.windowSize);
    await Promise.all(this.snaps.map(async (s) => {
      try {
        const calls = [['getblockchaininfo', []], ['getblocktree', [from, 1000]], ['getmininginfo', []]];
        if (s.label === null) calls.push(['getnetworkinfo', []]);
        const [info, tree, mining, net] = await s.api.batch(calls);
        if (info instanceof Error) throw info;
        if (tree instanceof Error) throw tree;
        if (s.info && s.info.tip !== info.tip && !s.wsOpen) {
          // No event stream from this node: tell a reorg from the tree (depth unknown here).
          const old = tree.blocks.find((b) => b.id === s.info.tip);
          if (old && !old.in_active_chain) {
            this.note('reorg', s.name, `${displayName(s)} reorganised: tip ${short(s.info.tip)} (height ${s.info.height}) orphaned, now ${short(info.tip)} at ${info.height}`,
              { depth: '', forkHeight: '', tip: info.tip, source: 'poll' });
          }
        }
        s.info = info;
        s.tree = tree;
        if (!(mining instanceof Error)) {
          s.mining = mining;
          s.miner = mining.miner || null;
        }
        if (net && !(net instanceof Error)) s.label = net.label || '';
        if (s.wsHeight === null || !s.wsOpen) s.wsHeight = s.wsOpen ? info.height : null;
        s.reachable = true;
        s.error = '';
      } catch (e) {
        if (s.reachable !== false) this.note('down', s.name, `${displayName(s)} unreachable: ${e.message || e}`);
        s.reachable = false;
        s.error = String(e.message || e);
      }
    }));
    const first = this.snaps.find((s) => s.reachable && s.mining);
    if (first) {
      this.series.add({ at: Date.now(), difficulty: first.mining.difficulty, hashRate: first.mining.network_hash_rate,
        mempool: first.mining.mempool_size });
    }
    const tipsBefore = this.lastTips;
    let model = buildModel(this.snaps, this.windowSize, this.forkFloor);
    // Keep the lowest fork of the tips in view as the chain grows: show from just below it, and
    // when it lies below what was fetched, fetch further down next time (bounded).
    if (model.fork && model.fork.height === null) {
      // The tips' common block is below the window: draw everything fetched, and when it is
      // below that too, fetch further down next time (bounded).
      model = buildModel(this.snaps, this.windowSize, from);
      this.forkFloor = from;
    }
    if (model.fork && model.fork.height === null) {
      this.reach = Math.min(MAX_REACH, Math.max(this.windowSize, this.reach * 2));
    } else {
      this.reach = 0;
      if (model.fork) {
        this.forkFloor = Math.max(0, model.fork.height - 1);
        model = buildModel(this.snaps, this.windowSize, this.forkFloor);
      } else if (model.maxHeight - this.forkFloor > MAX_REACH) {
        // One tip again: the last fork (and the stale branch a reorg left) stays shown until the
        // chain has grown well past it.
        this.forkFloor = Infinity;
      }
    }
    this.lastTips = model.tips.size;
    if (tipsBefore === 1 && model.tips.size > 1) {
      const who = [...model.tips.entries()].map(([tip, nodes]) => `${nodes.map((n) => this.labelOf(n)).join(', ')} on ${short(tip)}`).join('; ');
      const at = model.fork && model.fork.height !== null ? `, fork at height ${model.fork.height}` : '';
      this.note('fork', '', `nodes disagree: ${model.tips.size} tips (${who})${at}`);
    }
    if (tipsBefore > 1 && model.tips.size === 1) this.note('converged', '', 'every node on one tip again');
    this.render(model);
  }

  labelOf(name) {
    const s = this.snaps.find((x) => x.name === name);
    return s ? displayName(s) : name;
  }

  note(kind, node, text, data = {}) {
    this.log.unshift({ kind, node, text, data, at: new Date() });
    this.log.length = Math.min(this.log.length, 40);
  }

  legend() {
    const ul = document.createElement('ul');
    ul.id = 'network-legend';
    ul.className = 'legend';
    for (const s of this.snaps) {
      const li = document.createElement('li');
      Object.assign(li.dataset, { node: s.name, label: s.label || '', miner: s.miner || '', color: s.color });
      const sw = document.createElement('span');
      sw.className = 'swatch';
      sw.dataset.color = s.color;
      li.append(sw, ` ${displayName(s)}`);
      const m = document.createElement('span');
      m.className = 'muted mono';
      m.textContent = s.miner ? ` mines to ${s.miner.slice(0, 12)}…${s.miner.slice(-6)}` : ' (miner unknown)';
      li.append(m);
      ul.append(li);
    }
    const other = document.createElement('li');
    other.dataset.node = '';
    other.dataset.color = UNKNOWN_MINER;
    const sw = document.createElement('span');
    sw.className = 'swatch';
    sw.dataset.color = UNKNOWN_MINER;
    other.append(sw, ' other miners');
    ul.append(other);
    return ul;
  }

  charts() {
    const div = document.createElement('div');
    div.id = 'network-charts';
    const first = this.snaps.find((s) => s.reachable && s.tree);
    const h = document.createElement('p');
    h.className = 'muted';
    h.textContent = first ? `Charts: ${displayName(first)}` : 'Charts: no node reachable yet';
    div.append(h,
      lineChart('interval', 'block interval', blockIntervals(first && first.tree), ' s'),
      lineChart('difficulty', 'difficulty', this.series.points('difficulty')),
      lineChart('hashrate', 'hash rate', this.series.points('hashRate'), ' H/s'),
      lineChart('mempool', 'mempool', this.series.points('mempool'), ' tx'));
    return div;
  }

  render(model) {
    const c = this.container;
    if (!c.isConnected) return this.stop();
    const reachable = this.snaps.filter((s) => s.reachable).length;
    Object.assign(c.dataset, {
      nodes: this.snaps.length, reachable, tips: model.tips.size, lanes: model.lanes, stale: model.stale,
      maxHeight: model.maxHeight, minHeight: model.minHeight, forked: model.tips.size > 1 || model.stale > 0 ? 'true' : 'false',
      forkHeight: model.fork && model.fork.height !== null ? model.fork.height : '',
      floor: Number.isFinite(this.forkFloor) ? this.forkFloor : '', reach: this.reach,
    });
    const table = document.createElement('table');
    table.className = 'nodes';
    table.append(row('th', ['', 'node', 'height', 'tip', 'peers', 'mempool', 'state']));
    for (const s of this.snaps) {
      const tr = row('td', ['', displayName(s), s.info ? s.info.height : '–', s.info ? short(s.info.tip) : '–',
        s.info ? s.info.peers : '–', s.info ? s.info.mempool_size : '–', s.reachable ? 'up' : s.reachable === false ? `unreachable` : '…']);
      const sw = document.createElement('span');
      sw.className = 'swatch';
      sw.dataset.color = s.color;
      tr.firstChild.append(sw);
      Object.assign(tr.dataset, { node: s.name, label: s.label || '', reachable: String(!!s.reachable), tip: s.info ? s.info.tip : '', height: s.info ? s.info.height : '' });
      table.append(tr);
    }
    const drawing = document.createElement('div');
    drawing.className = 'tree';
    const tree = renderTree(model, this.snaps);
    drawing.append(tree);
    const log = document.createElement('ul');
    log.id = 'network-log';
    for (const l of this.log) {
      const li = document.createElement('li');
      li.dataset.kind = l.kind;
      li.dataset.node = l.node;
      for (const [k, v] of Object.entries(l.data)) li.dataset[k] = String(v);
      li.textContent = `${l.at.toLocaleTimeString()}  ${l.text}`;
      log.append(li);
    }
    const summary = document.createElement('p');
    summary.className = 'summary';
    summary.textContent = model.tips.size > 1
      ? `Fork: the nodes follow ${model.tips.size} different tips` +
        (model.fork && model.fork.height !== null ? `, branching after height ${model.fork.height}.` : '.')
      : `All ${reachable} reachable node(s) on one tip.`;
    if (model.stale) summary.textContent += ` ${model.stale} stale (orphaned) block(s) shown dashed.`;
    c.replaceChildren(this.legend(), table, summary, drawing, this.charts(), log);
    // Colours: set through the CSSOM (no inline style attributes under the CSP); a stylesheet
    // rule would override an SVG fill attribute.
    for (const sw of c.querySelectorAll('.swatch')) sw.style.background = sw.dataset.color;
    for (const g of tree.querySelectorAll('g.block:not(.stale)')) {
      const rect = g.querySelector('rect');
      rect.style.fill = g.dataset.fill + '40';  // a light tint of the miner's colour
      if (!g.classList.contains('fork')) rect.style.stroke = g.dataset.fill;  // forks keep their warning outline
    }
    // Keep the newest heights in view, but never scroll the fork point out: when both do not
    // fit, the fork point goes to the left edge.
    let left = drawing.scrollWidth;
    if (model.fork && model.fork.height !== null) {
      const forkX = 40 + (model.fork.height - model.minHeight) * COL_W;
      left = Math.min(left, Math.max(0, forkX - 2 * COL_W));
    }
    drawing.scrollLeft = left;
    drawing.dataset.scrollLeft = String(drawing.scrollLeft);
  }
}

function row(cell, values) {
  const tr = document.createElement('tr');
  for (const v of values) {
    const td = document.createElement(cell);
    td.textContent = String(v);
    tr.append(td);
  }
  return tr;
}
