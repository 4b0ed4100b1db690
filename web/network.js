// web/network.js — the network view: every node's block tree merged into one drawing (SVG),
// heights left to right, one lane per branch. Each node's tip carries its flag and the branch it
// follows is underlined in its colour; blocks no node follows are stale (orphaned) and dashed.
// Blocks are filled in the colour of the node that mined them (a node's miner address comes from
// its getmininginfo, its label from getnetworkinfo), with a legend; other miners are grey.
// Data comes from getblockchaininfo + getblocktree + getmininginfo per node, polled every
// second; each node's /ws reorg events feed the log with the node's own depth. The drawing
// itself is tree.js, shared with the replay page.

import { Api, subscribe } from './api.js';
import { Series, blockIntervals, lineChart } from './charts.js';
import './tree.js';

export const { UNKNOWN_MINER, buildModel, forkPoint, minerColors, displayName, renderTree } = globalThis.peerchainTree;
const { COLORS, COL_W, paintTree, short } = globalThis.peerchainTree;
const MAX_REACH = 500;  // heights below the window fetched to keep a fork point in view

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
    paintTree(tree);
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
