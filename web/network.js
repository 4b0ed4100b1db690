// web/network.js — the network view: every node's block tree merged into one drawing (SVG),
// heights left to right, one lane per branch. Each node's tip carries its flag and the branch it
// follows is underlined in its colour; blocks no node follows are stale (orphaned) and dashed.
// Data comes from getblockchaininfo + getblocktree per node, polled every second.

import { Api } from './api.js';

const SVG = 'http://www.w3.org/2000/svg';
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];
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
export function buildModel(snaps, window) {
  const blocks = new Map();
  let maxHeight = 0;
  for (const s of snaps) {
    if (!s.info) continue;
    maxHeight = Math.max(maxHeight, s.info.height);
  }
  const minHeight = Math.max(0, maxHeight - window + 1);
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
  return { blocks, minHeight, maxHeight, lanes, tips, stale };
}

export function renderTree(model, snaps) {
  const colorOf = new Map(snaps.map((s) => [s.name, s.color]));
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
    const title = svg('title', {}, `block ${b.height} ${b.id}\nminer ${b.miner}\ntxs ${b.tx_count ?? '?'}\n` +
      (b.stale ? 'stale: on no shown node\'s active chain' : `followed by ${b.followers.join(', ')}`));
    const a = svg('a', { href: `#/block/${b.id}` });
    const g = svg('g', {
      class: cls.join(' '), 'data-id': b.id, 'data-height': b.height, 'data-lane': b.lane,
      'data-stale': b.stale, 'data-followers': b.followers.join(' '),
    }, title,
    svg('rect', { x: bx, y: by, width: BOX_W, height: BOX_H, rx: 4 }),
    svg('text', { x: bx + BOX_W / 2, y: by + 11, class: 'bid' }, short(b.id)),
    svg('text', { x: bx + BOX_W / 2, y: by + 22, class: 'btx' }, b.stale ? 'stale' : `${b.tx_count ?? '?'} tx`));
    a.append(g);
    boxes.append(a);
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
        svg('text', { x: fx + 11, y: fy + 8, class: 'flagtext' }, n)));
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
    this.timer = null;
    this.busy = false;
    for (const n of nodes) this.addNode(n);
  }

  addNode(n) {
    if (this.snaps.some((s) => s.name === n.name)) return;
    const color = COLORS[this.snaps.length % COLORS.length];
    this.snaps.push({ ...n, api: new Api(n.base, 2500), color, info: null, tree: null, reachable: null, error: '' });
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
    tick();
    this.timer = setInterval(tick, 1000);
    this.discoverTimer = this.discover ? setInterval(() => this.runDiscover(), 5000) : null;
    if (this.discover) this.runDiscover();
  }

  stop() {
    clearInterval(this.timer);
    clearInterval(this.discoverTimer);
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
    this.pokeTimer = setTimeout(() => this.poll(), 150);
  }

  async poll() {
    const top = Math.max(0, ...this.snaps.filter((s) => s.info).map((s) => s.info.height));
    const from = Math.max(0, top - this.windowSize - 4);
    await Promise.all(this.snaps.map(async (s) => {
      try {
        const [info, tree] = await s.api.batch([['getblockchaininfo', []], ['getblocktree', [from, 600]]]);
        if (info instanceof Error) throw info;
        if (tree instanceof Error) throw tree;
        if (s.info && s.info.tip !== info.tip) {
          // A reorg: the previous tip is no longer on this node's active chain.
          const old = tree.blocks.find((b) => b.id === s.info.tip);
          if (old && !old.in_active_chain) {
            this.note('reorg', s.name, `${s.name} reorganised: tip ${short(s.info.tip)} (height ${s.info.height}) orphaned, now ${short(info.tip)} at ${info.height}`);
          }
        }
        s.info = info;
        s.tree = tree;
        s.reachable = true;
        s.error = '';
      } catch (e) {
        if (s.reachable !== false) this.note('down', s.name, `${s.name} unreachable: ${e.message || e}`);
        s.reachable = false;
        s.error = String(e.message || e);
      }
    }));
    const tipsBefore = this.lastTips;
    const model = buildModel(this.snaps, this.windowSize);
    this.lastTips = model.tips.size;
    if (tipsBefore === 1 && model.tips.size > 1) this.note('fork', '', `nodes disagree: ${model.tips.size} tips`);
    if (tipsBefore > 1 && model.tips.size === 1) this.note('converged', '', 'every node on one tip again');
    this.render(model);
  }

  note(kind, node, text) {
    this.log.unshift({ kind, node, text, at: new Date() });
    this.log.length = Math.min(this.log.length, 40);
  }

  render(model) {
    const c = this.container;
    if (!c.isConnected) return this.stop();
    const reachable = this.snaps.filter((s) => s.reachable).length;
    Object.assign(c.dataset, {
      nodes: this.snaps.length, reachable, tips: model.tips.size, lanes: model.lanes, stale: model.stale,
      maxHeight: model.maxHeight, forked: model.tips.size > 1 || model.stale > 0 ? 'true' : 'false',
    });
    const table = document.createElement('table');
    table.className = 'nodes';
    table.append(row('th', ['', 'node', 'height', 'tip', 'peers', 'mempool', 'state']));
    for (const s of this.snaps) {
      const tr = row('td', ['', s.name, s.info ? s.info.height : '–', s.info ? short(s.info.tip) : '–',
        s.info ? s.info.peers : '–', s.info ? s.info.mempool_size : '–', s.reachable ? 'up' : s.reachable === false ? `unreachable` : '…']);
      const sw = document.createElement('span');
      sw.className = 'swatch';
      sw.dataset.color = s.color;
      tr.firstChild.append(sw);
      Object.assign(tr.dataset, { node: s.name, reachable: String(!!s.reachable), tip: s.info ? s.info.tip : '', height: s.info ? s.info.height : '' });
      table.append(tr);
    }
    const drawing = document.createElement('div');
    drawing.className = 'tree';
    drawing.append(renderTree(model, this.snaps));
    const log = document.createElement('ul');
    log.id = 'network-log';
    for (const l of this.log) {
      const li = document.createElement('li');
      li.dataset.kind = l.kind;
      li.textContent = `${l.at.toLocaleTimeString()}  ${l.text}`;
      log.append(li);
    }
    const summary = document.createElement('p');
    summary.className = 'summary';
    summary.textContent = model.tips.size > 1
      ? `Fork: the nodes follow ${model.tips.size} different tips.`
      : `All ${reachable} reachable node(s) on one tip.`;
    if (model.stale) summary.textContent += ` ${model.stale} stale (orphaned) block(s) shown dashed.`;
    c.replaceChildren(table, summary, drawing, log);
    // Colour swatches: set through the CSSOM (no inline style attributes under the CSP).
    for (const sw of c.querySelectorAll('.swatch')) sw.style.background = sw.dataset.color;
    // Keep the newest heights in view.
    drawing.scrollLeft = drawing.scrollWidth;
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
