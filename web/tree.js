// web/tree.js — the block tree drawing shared by the live network view (network.js) and the
// replay page (replay.js): every node's chain merged into one tree (SVG), heights left to right,
// one lane per branch, blocks in their miner's colour, each node's tip flagged and its branch
// underlined. A plain script rather than a module so that replay.html also works opened from a
// file (browsers refuse module imports from file:// pages); network.js imports it for its side
// effect and re-exports globalThis.peerchainTree.
(() => {
  'use strict';
  const SVG = 'http://www.w3.org/2000/svg';
  const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];
  const UNKNOWN_MINER = '#b8bec4';  // a miner no shown node reports
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
  function buildModel(snaps, window, floor = Infinity) {
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
  function forkPoint(blocks, tips) {
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
  function minerColors(snaps) {
    const m = new Map();
    for (const s of snaps) if (s.miner && !m.has(s.miner)) m.set(s.miner, { color: s.color, name: s.name, label: s.label });
    return m;
  }

  const displayName = (s) => (s.label ? `${s.label} (${s.name})` : s.name);

  function renderTree(model, snaps, opts = {}) {
    const href = opts.blockHref === undefined ? (id) => `#/block/${id}` : opts.blockHref;
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
      const a = href ? svg('a', { href: href(b.id) }) : svg('g', { class: 'blockwrap' });
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

  // Colours go in through the CSSOM (no inline style attributes under the CSP; a stylesheet rule
  // would override an SVG fill attribute).
  function paintTree(tree) {
    for (const g of tree.querySelectorAll('g.block:not(.stale)')) {
      const rect = g.querySelector('rect');
      rect.style.fill = g.dataset.fill + '40';  // a light tint of the miner's colour
      if (!g.classList.contains('fork')) rect.style.stroke = g.dataset.fill;  // forks keep their warning outline
    }
  }

  globalThis.peerchainTree = {
    SVG, COLORS, UNKNOWN_MINER, COL_W, LANE_H, BOX_W, BOX_H,
    svg, short, buildModel, forkPoint, minerColors, displayName, renderTree, paintTree,
  };
})();
