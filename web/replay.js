// web/replay.js — the replay page (replay.html): a simulated run's trace (docs/spec/sim-trace.md)
// played back. A timeline marks every block found, reorg, fault, heal and transfer; scrub, play/pause at
// 0.1x-100x, or step from one event to the next (messages and transfers are not steps: there are
// thousands). At each instant: every node's chain as one tree (tree.js, the live view's drawing),
// the network with crashed/paused nodes greyed, cut links drawn cut and block/header/tx messages
// in flight, and what just happened in plain words. Everything is derived from the trace's facts:
// a node knows the blocks its tips descend from (and those it found); its branch is its tip's.
// A plain script (not a module) so that the page also works opened from a file.
(() => {
  'use strict';
  const T = globalThis.peerchainTree;
  const MAX_BYTES = 512 * 1024 * 1024;  // a trace larger than this is refused (docs/design/limits.md)
  const MAX_NODES = 500;                // peerchain-sim --nodes at most
  const MAX_IN_FLIGHT = 300;            // messages drawn at once
  const LOST_AFTER = 5e6;               // µs: a message not delivered by then was lost
  const LOST_SHOWN = 0.3e6;             // µs a lost message stays drawn
  const WINDOW = 30;                    // heights shown when every node agrees
  const SPEEDS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 25, 50, 100];
  const MSG_TYPES = { 18: 'tx', 19: 'block', 21: 'headers' };
  const STEP_KINDS = new Set(['node_start', 'node_start_failed', 'node_fatal', 'operator', 'block_found', 'tip',
    'fault', 'fault_end', 'heal', 'violation', 'end', 'command']);
  const LINK_FAULTS = new Set(['partition', 'isolate', 'bridge', 'oneway', 'cut']);
  const $ = (s) => document.querySelector(s);

  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'class') e.className = v;
      else if (k.startsWith('data-')) e.dataset[k.slice(5).replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
    return e;
  }
  const svg = T.svg;
  const short = (id) => (typeof id === 'string' ? T.short(id) : '?');
  const secs = (us) => `${(us / 1e6).toFixed(3)} s`;
  const nodeSet = (xs) => `{${xs.join(',')}}`;

  function banner(text) {
    const b = $('#banner');
    b.textContent = text || '';
    b.hidden = !text;
  }

  // The live view's palette, then hues spread by the golden angle: one colour per node. Hex, since
  // tree.js tints a block's fill by appending an alpha byte.
  function colorOf(k) {
    if (k < T.COLORS.length) return T.COLORS[k];
    const h = ((k - T.COLORS.length) * 137.508 + 20) % 360;
    const l = k % 2 ? 0.38 : 0.55;
    const a = 0.65 * Math.min(l, 1 - l);
    const f = (n) => {
      const q = (n + h / 30) % 12;
      return Math.round(255 * (l - a * Math.max(-1, Math.min(q - 3, 9 - q, 1)))).toString(16).padStart(2, '0');
    };
    return `#${f(0)}${f(8)}${f(4)}`;
  }

  // --- the trace -------------------------------------------------------------------------------
  // Parses the JSON lines; unknown kinds and fields are kept and ignored (the spec says so). Throws
  // with the line number on what cannot be a trace.
  function parse(text) {
    const lines = text.split('\n');
    let header = null;
    const events = [];
    let bad = 0;
    let firstBad = '';
    for (let i = 0; i < lines.length; ++i) {
      const line = lines[i].trim();
      if (!line) continue;
      let o;
      try {
        o = JSON.parse(line);
      } catch (e) {
        // A run cut short leaves a partial last line: keep what came before it.
        if (!bad) firstBad = `line ${i + 1}: ${e.message}`;
        ++bad;
        continue;
      }
      if (!header) {
        if (!o || o.format !== 'peerchain-sim-trace') throw new Error(`line ${i + 1}: not a peerchain-sim trace (no "format":"peerchain-sim-trace" header)`);
        if (o.version !== 1) throw new Error(`trace version ${o.version}: this page reads version 1`);
        header = o;
        continue;
      }
      if (!o || typeof o.ev !== 'string' || typeof o.t !== 'number') {
        if (!bad) firstBad = `line ${i + 1}: an event needs "t" and "ev"`;
        ++bad;
        continue;
      }
      if (events.length && o.t < events[events.length - 1].t) throw new Error(`line ${i + 1}: time goes backwards`);
      o.index = events.length;
      events.push(o);
    }
    if (!header) throw new Error('empty file: no trace header');
    return { header, events, bad, firstBad };
  }

  // Everything that does not depend on the instant: nodes, blocks, message flights, marks.
  // `live`: the run goes on (peerchain-sim --serve): a message not delivered yet is in flight,
  // expected after `latencyUs`, rather than lost.
  function prepare(trace, live = null) {
    const { events } = trace;
    const nodes = [];
    const blocks = new Map();
    const flights = [];
    const pending = new Map();  // from>to:type:bytes -> queue of flights not delivered yet
    const links = new Set();
    const tips = [];  // per node: [id, height] before each tip event (annotated on the event)
    const node = (n) => {
      if (!Number.isInteger(n) || n < 0 || n >= MAX_NODES) throw new Error(`node ${n} out of range (0..${MAX_NODES - 1})`);
      while (nodes.length <= n) {
        const k = nodes.length;
        nodes.push({ index: k, name: `node ${k}`, color: colorOf(k), miner: null, label: '' });
      }
      return nodes[n];
    };
    const stub = (id, height) => {
      if (typeof id === 'string' && !blocks.has(id)) blocks.set(id, { id, prev: '', height: height ?? 0, miner: '', tx_count: null, finder: null });
    };
    for (const e of events) {
      switch (e.ev) {
        case 'node':
          node(e.node).miner = e.miner || null;
          break;
        case 'node_start':
          node(e.node);
          stub(e.tip, e.height);
          tips[e.node] = [e.tip, e.height];
          break;
        case 'node_fatal':
          node(e.node);
          break;
        case 'link':  // two nodes connected (a recording of a real network: it has no messages)
          if (!Number.isInteger(e.a) || !Number.isInteger(e.b)) break;
          node(e.a);
          node(e.b);
          links.add(e.a < e.b ? `${e.a}-${e.b}` : `${e.b}-${e.a}`);
          break;
        case 'block_found':
          node(e.node);
          if (typeof e.id !== 'string' || typeof e.parent !== 'string') throw new Error(`event ${e.index}: a block_found needs "id" and "parent"`);
          blocks.set(e.id, { id: e.id, prev: e.parent, height: e.height, miner: nodes[e.node].miner || '', tx_count: e.txs ?? null, finder: e.node, t: e.t,
            txids: Array.isArray(e.txids) ? e.txids : null });
          break;
        case 'tip':
          node(e.node);
          stub(e.id, e.height);
          e.prevTip = (tips[e.node] || [])[0];
          e.prevHeight = (tips[e.node] || [])[1];
          tips[e.node] = [e.id, e.height];
          break;
        case 'msg_sent':
        case 'msg_delivered': {
          if (!Number.isInteger(e.from) || !Number.isInteger(e.to)) break;
          node(e.from);
          node(e.to);
          links.add(e.from < e.to ? `${e.from}-${e.to}` : `${e.to}-${e.from}`);
          if (!MSG_TYPES[e.type]) break;
          const key = `${e.from}>${e.to}:${e.type}:${e.bytes}`;
          if (e.ev === 'msg_sent') {
            const f = { from: e.from, to: e.to, type: MSG_TYPES[e.type], t0: e.t, t1: Infinity };
            flights.push(f);
            if (!pending.has(key)) pending.set(key, []);
            pending.get(key).push(f);
          } else {
            const q = pending.get(key);
            // A message sent on a cut link or to a crashed node never arrives: one still pending
            // long after it was sent is lost, not the one this delivery answers.
            while (q && q.length && e.t - q[0].t0 > LOST_AFTER) q.shift();
            if (q && q.length) q.shift().t1 = e.t;
          }
          break;
        }
        default:
          break;
      }
    }
    const end = events.length ? events[events.length - 1].t : 0;
    // Never delivered (a cut link, a crash): drawn for a moment, then gone.
    for (const f of flights) {
      if (f.t1 !== Infinity) continue;
      if (live && end - f.t0 < LOST_AFTER) {
        f.t1 = Math.max(end + 1, f.t0 + live.latencyUs);
        continue;
      }
      f.t1 = Math.min(end, f.t0 + LOST_SHOWN);
      f.lost = true;
    }
    const steps = events.filter((e) => STEP_KINDS.has(e.ev)).map((e) => e.index);
    return { ...trace, nodes, blocks, flights, links: [...links].map((k) => k.split('-').map(Number)), steps, end };
  }

  // --- the state at an instant ----------------------------------------------------------------
  class State {
    constructor(run) {
      this.run = run;
      this.upto = 0;  // events applied: events[0 .. upto-1]
      this.nodes = run.nodes.map(() => ({ tip: null, height: 0, known: new Set(), down: false, paused: new Set(), started: false }));
      this.faults = new Map();  // id -> fault event, while it lasts
      this.applied = 0;         // step events applied: what the tree and the words depend on
    }

    learn(n, id) {
      const k = this.nodes[n].known;
      for (let b = this.run.blocks.get(id); b && !k.has(b.id); b = this.run.blocks.get(b.prev)) k.add(b.id);
    }

    apply(e) {
      const s = this.nodes[e.node];
      if (!s && e.ev !== 'fault' && e.ev !== 'fault_end' && e.ev !== 'heal') return;  // a node prepare() never saw
      switch (e.ev) {
        case 'node_start':
          s.tip = e.tip;
          s.height = e.height;
          s.down = false;
          s.started = true;
          this.learn(e.node, e.tip);
          break;
        case 'block_found':
          s.known.add(e.id);
          this.learn(e.node, e.parent);
          break;
        case 'tip':
          s.tip = e.id;
          s.height = e.height;
          this.learn(e.node, e.id);
          break;
        case 'node_fatal':
          s.down = true;
          break;
        case 'fault':
          this.faults.set(e.fault, e);
          if ((e.kind === 'crash' || e.kind === 'powercut') && this.nodes[e.node]) this.nodes[e.node].down = true;
          if (e.kind === 'pause' && this.nodes[e.node]) this.nodes[e.node].paused.add(e.fault);
          break;
        case 'fault_end': {
          const f = this.faults.get(e.fault);
          this.faults.delete(e.fault);
          if (f && f.kind === 'pause' && this.nodes[f.node]) this.nodes[f.node].paused.delete(e.fault);
          break;
        }
        case 'heal':
          for (const f of this.faults.values()) if (f.kind === 'pause' && this.nodes[f.node]) this.nodes[f.node].paused.delete(f.fault);
          this.faults.clear();
          break;
        default:
          break;
      }
    }

    // Moves to `upto` events applied: forwards from here, backwards by starting again.
    seek(upto) {
      if (upto < this.upto) Object.assign(this, new State(this.run));
      const ev = this.run.events;
      for (; this.upto < upto; ++this.upto) {
        const e = ev[this.upto];
        if (!STEP_KINDS.has(e.ev)) continue;
        this.apply(e);
        ++this.applied;
      }
      return this;
    }

    // Directed link a->b cut by a lasting fault?
    cut(a, b) {
      for (const f of this.faults.values()) {
        if (!LINK_FAULTS.has(f.kind)) continue;
        if (f.kind === 'oneway') {
          if (f.from === a && f.to === b) return true;
          continue;
        }
        if (f.kind === 'cut') {
          if ((f.a === a && f.b === b) || (f.a === b && f.b === a)) return true;
          continue;
        }
        const side = new Set(String(f.side ?? '').split(',').filter(Boolean).map(Number));
        if (f.kind === 'bridge' && (a === f.bridge || b === f.bridge)) continue;
        if (side.has(a) !== side.has(b)) return true;
      }
      return false;
    }

    // The snapshots tree.js draws: per node its tip and the blocks it knows, its branch marked.
    snaps() {
      return this.run.nodes.map((n, i) => {
        const s = this.nodes[i];
        const active = new Set();
        for (let b = this.run.blocks.get(s.tip); b && !active.has(b.id); b = this.run.blocks.get(b.prev)) active.add(b.id);
        const blocks = [...s.known].map((id) => {
          const b = this.run.blocks.get(id);
          return { id, prev: b.prev, height: b.height, miner: b.miner, tx_count: b.tx_count, in_active_chain: active.has(id) };
        });
        return { ...n, info: s.started && s.tip ? { tip: s.tip, height: s.height } : null, tree: { blocks } };
      });
    }
  }

  // --- plain words -----------------------------------------------------------------------------
  function commandWords(c) {
    switch (c.cmd) {
      case 'crash': return `crash node ${c.node}${c.powercut ? ' (power cut)' : ''}`;
      case 'restart': case 'pause': case 'resume': return `${c.cmd} node ${c.node}`;
      case 'cut': return `cut link ${c.a}-${c.b}`;
      case 'heal_link': return `heal link ${c.a}-${c.b}`;
      case 'partition': return `partition {${(c.side || []).join(',')}} from the rest`;
      case 'latency': return c.latency_ms ? `every link ${c.latency_ms} ms` : 'links back to normal latency';
      case 'hashpower': return c.share ? `node ${c.node} gets ${Math.round(c.share * 100)}% of the hash power` : 'hash power balanced';
      case 'transfer': return `wallet ${c.from} pays wallet ${c.to} ${c.amount} through node ${c.node}`;
      case 'end': return `end fault ${c.fault}`;
      case 'heal': return 'heal everything';
      default: return String(c.cmd);
    }
  }

  function explain(run, e) {
    const who = (n) => `node ${n}`;
    const rest = (side) => run.nodes.map((n) => n.index).filter((i) => !side.includes(i));
    const sideOf = (f) => String(f.side ?? '').split(',').filter(Boolean).map(Number);
    switch (e.ev) {
      case 'node_start':
        return e.t === 0 ? `${who(e.node)} started at height ${e.height}` : `${who(e.node)} restarted from its own storage at height ${e.height} (tip ${short(e.tip)})`;
      case 'node_start_failed':
        return `${who(e.node)} could not open its storage (${e.why}); its supervisor tries again in 5 s`;
      case 'node_fatal':
        return `${who(e.node)} found its storage corrupt and stopped (${e.why})`;
      case 'operator':
        return `the operator of ${who(e.node)} wiped its database${e.why ? ` (${e.why})` : ''}`;
      case 'block_found':
        return `${who(e.node)} found block ${e.height} (${short(e.id)}, ${e.txs} tx) on ${short(e.parent)}`;
      case 'tip': {
        const depth = e.reorg_depth || 0;
        if (!depth) return `${who(e.node)} moved to tip ${e.height} (${short(e.id)})`;
        const fork = e.prevHeight === undefined ? null : e.prevHeight - depth;
        return `${who(e.node)} switched from branch ${short(e.prevTip)} (tip ${e.prevHeight ?? '?'}) to branch ${short(e.id)} (tip ${e.height}): ` +
          `${depth} block${depth === 1 ? '' : 's'} replaced from height ${fork === null ? '?' : fork + 1} (reorg depth ${depth})` +
          (fork === null ? '' : `, ${e.height - fork} connected after the fork at height ${fork}`) +
          (e.mempool_back === undefined ? '' : `, ${e.mempool_back} transfer${e.mempool_back === 1 ? '' : 's'} back in its mempool`);
      }
      case 'fault': {
        const side = sideOf(e);
        const by = e.by === 'viewer' ? 'the viewer: ' : '';
        switch (e.kind) {
          case 'cut': return `${by}link ${e.a}-${e.b} cut (both ways)`;
          case 'partition': return `${by}partition: ${nodeSet(side)} | ${nodeSet(rest(side))}`;
          case 'isolate': return `${who(side[0])} isolated: ${nodeSet(side)} | ${nodeSet(rest(side))}`;
          case 'bridge': return `bridge: ${nodeSet(side)} | ${nodeSet(rest(side).filter((i) => i !== e.bridge))}, joined only through ${who(e.bridge)}`;
          case 'oneway': return `one-way cut: ${who(e.from)} → ${who(e.to)} dropped (the other way still works)`;
          case 'crash': return `${by}${who(e.node)} crashed (kill -9)`;
          case 'powercut': return `${by}${who(e.node)} crashed (power cut: unsynced writes lost)`;
          case 'pause': return `${by}${who(e.node)} paused (SIGSTOP)`;
          case 'latency': return `${by}every link slowed to ${e.latency_ms} ms`;
          case 'bandwidth': return `${who(e.node)}'s links throttled to ${e.bytes_per_s} B/s`;
          case 'skew': case 'skew-far': return `${who(e.node)}'s clock off by ${e.skew_ms} ms`;
          case 'hashpower': return `${by}${who(e.node)} gets ${e.share ?? 'most'} of the hash power`;
          case 'reset': case 'clog': return `${e.kind} between ${who(e.a ?? e.from)} and ${who(e.b ?? e.to)}`;
          default: return `fault ${e.kind}${e.node !== undefined ? ` on ${who(e.node)}` : ''}`;
        }
      }
      case 'fault_end':
        return `${e.kind} ended (fault ${e.fault})`;
      case 'heal':
        return 'healed: every fault ended, links restored, nodes restarted and resumed';
      case 'violation':
        return `invariant broken on ${who(e.node)}: ${e.what}`;
      case 'command':
        return `the viewer asked: ${commandWords(e)}${e.ok ? '' : ` (refused: ${e.why || '?'})`}`;
      case 'end':
        return `run ended ${e.ok ? 'ok' : 'with a violation'} after ${e.faults} fault(s)`;
      default:
        return e.ev;
    }
  }

  // --- the page --------------------------------------------------------------------------------
  class Replay {
    // `live`: a run that goes on (web/live.js): no playback controls, the view follows its newest
    // instant, update() brings new events.
    constructor(box, run, name, live = false) {
      this.box = box;
      this.run = run;
      this.name = name;
      this.live = live;
      this.state = new State(run);
      this.time = 0;
      this.playing = false;
      this.speed = 1;
      this.build();
      this.seekTime(0);
    }

    // events with t <= time
    countAt(time) {
      const ev = this.run.events;
      let lo = 0;
      let hi = ev.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (ev[mid].t <= time) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    }

    seekTime(time) {
      this.time = Math.max(0, this.live ? time : Math.min(this.run.end, time));
      this.upto = this.countAt(this.time);
      this.draw();
    }

    // Step to the next/previous event worth a step: the state just after it.
    step(dir) {
      const steps = this.run.steps;
      let j;
      if (dir > 0) j = steps.find((i) => i >= this.upto);
      else for (let k = steps.length - 1; k >= 0; --k) if (steps[k] < this.upto - 1) { j = steps[k]; break; }
      if (j === undefined) return;
      this.pause();
      this.upto = j + 1;
      this.time = this.run.events[j].t;
      this.draw();
    }

    play() {
      if (this.time >= this.run.end) this.seekTime(0);
      this.playing = true;
      this.playBtn.textContent = 'Pause';
      let last = performance.now();
      const frame = (now) => {
        if (!this.playing) return;
        const dt = (now - last) * 1000 * this.speed;  // ms -> µs of simulated time
        last = now;
        this.seekTime(this.time + dt);
        if (this.time >= this.run.end) return this.pause();
        this.raf = requestAnimationFrame(frame);
      };
      this.raf = requestAnimationFrame(frame);
    }

    pause() {
      this.playing = false;
      cancelAnimationFrame(this.raf);
      if (this.playBtn) this.playBtn.textContent = 'Play';
    }

    build() {
      const r = this.run;
      const btn = (id, text, f) => {
        const b = el('button', { id, type: 'button' }, text);
        b.addEventListener('click', f);
        return b;
      };
      this.playBtn = btn('replay-play', 'Play', () => (this.playing ? this.pause() : this.play()));
      const speed = el('select', { id: 'replay-speed', 'aria-label': 'speed' });
      for (const s of SPEEDS) speed.append(el('option', { value: String(s) }, `${s}x`));
      speed.value = '1';
      speed.addEventListener('change', () => { this.speed = Number(speed.value); });
      this.slider = el('input', { id: 'replay-slider', type: 'range', min: '0', max: String(r.end), step: '1', value: '0', 'aria-label': 'time' });
      this.slider.addEventListener('input', () => {
        this.pause();
        this.seekTime(Number(this.slider.value));
      });
      this.clock = el('span', { id: 'replay-clock', class: 'mono' });
      const controls = el('div', { class: 'replay-controls' },
        btn('replay-prev', '◀ step', () => this.step(-1)), this.playBtn, btn('replay-next', 'step ▶', () => this.step(1)),
        el('label', {}, 'speed ', speed), this.clock);
      this.timeline = this.drawTimeline();
      this.explainBox = el('div', { id: 'replay-explain' });
      this.legendBox = el('ul', { id: 'replay-legend', class: 'legend' });
      this.netBox = el('div', { id: 'replay-net' });
      this.treeBox = el('div', { class: 'tree', id: 'replay-tree' });
      this.logBox = el('ol', { id: 'replay-log', reversed: '' });
      const h = r.header;
      const info = el('p', { class: 'muted' }, `${this.name}: seed ${h.seed}, ${r.nodes.length} nodes, ${secs(r.end)} simulated, ` +
        `${r.events.length} events, ${r.blocks.size} blocks` + (r.bad ? `; ${r.bad} unreadable line(s) skipped (${r.firstBad})` : ''));
      const args = el('p', { class: 'muted mono' }, `peerchain-sim ${h.args || ''}`);
      this.info = info;
      if (this.live) controls.style.display = 'none';
      if (this.live) this.slider.hidden = true;
      this.box.replaceChildren(info, args, controls, this.timeline, this.slider, this.explainBox, this.legendBox,
        el('div', { class: 'replay-grid' }, this.netBox, el('div', { class: 'replay-right' }, this.treeBox, el('h2', {}, 'What happened'), this.logBox)));
      this.box.dataset.loaded = 'true';
      this.box.dataset.end = String(r.end);
      this.box.dataset.nodes = String(r.nodes.length);
      this.drawLegend();
      this.onKey = (e) => {
        if (e.target && (e.target.tagName === 'INPUT' || e.target.tagName === 'SELECT')) return;
        if (e.key === 'ArrowRight') this.step(1);
        else if (e.key === 'ArrowLeft') this.step(-1);
        else if (e.key === ' ') { e.preventDefault(); this.playing ? this.pause() : this.play(); }
      };
      if (!this.live) document.addEventListener('keydown', this.onKey);
    }

    // Live: the run grew (events are only ever appended). The caller then seeks to the instant
    // it shows (live.js moves it smoothly towards the newest one).
    update(run) {
      const grew = run.nodes.length !== this.run.nodes.length;
      this.run = run;
      if (grew) {
        this.state = new State(run);
        this.drawnApplied = undefined;
        this.legendBox.replaceChildren();
        this.drawLegend();
      } else {
        this.state.run = run;
      }
      const tl = this.drawTimeline();
      this.timeline.replaceWith(tl);
      this.timeline = tl;
      this.slider.max = String(run.end);
      this.info.textContent = `${this.name}: seed ${run.header.seed}, ${run.nodes.length} nodes, ${secs(run.end)} simulated, ` +
        `${run.events.length} events, ${run.blocks.size} blocks`;
      this.box.dataset.end = String(run.end);
      this.box.dataset.nodes = String(run.nodes.length);
    }

    destroy() {
      this.pause();
      document.removeEventListener('keydown', this.onKey);
    }

    drawLegend() {
      const ul = this.legendBox;
      for (const n of this.run.nodes) {
        const sw = el('span', { class: 'swatch' });
        sw.style.background = n.color;
        ul.append(el('li', { 'data-node': n.name, 'data-color': n.color, 'data-miner': n.miner || '' }, sw, ` ${n.name}`,
          el('span', { class: 'muted mono' }, n.miner ? ` mines to ${n.miner.slice(0, 12)}…` : '')));
      }
      const sw = el('span', { class: 'swatch' });
      sw.style.background = T.UNKNOWN_MINER;
      ul.append(el('li', { 'data-node': '', 'data-color': T.UNKNOWN_MINER }, sw, ' genesis / unknown'));
    }

    drawTimeline() {
      const r = this.run;
      const W = 1000;
      const H = 54;
      const x = (t) => (r.end ? (t / r.end) * W : 0);
      const root = svg('svg', { id: 'replay-timeline', viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': 'timeline' });
      const faults = new Map();
      for (const e of r.events) {
        if (e.ev === 'fault') faults.set(e.fault, e);
        else if (e.ev === 'fault_end' || e.ev === 'heal') {
          const ends = e.ev === 'heal' ? [...faults.keys()] : [e.fault];
          for (const id of ends) {
            const f = faults.get(id);
            if (!f) continue;
            faults.delete(id);
            const band = svg('rect', { x: x(f.t), y: 2, width: Math.max(1, x(e.t) - x(f.t)), height: 12, class: `tl-fault ${f.kind}`, 'data-kind': f.kind },
              svg('title', {}, `${secs(f.t)}–${secs(e.t)}: ${explain(r, f)}`));
            root.append(band);
          }
        }
      }
      for (const f of faults.values()) {
        root.append(svg('rect', { x: x(f.t), y: 2, width: Math.max(2, W - x(f.t)), height: 12, class: `tl-fault ${f.kind}` }, svg('title', {}, explain(r, f))));
      }
      for (const e of r.events) {
        let mark = null;
        if (e.ev === 'block_found') {
          mark = svg('line', { x1: x(e.t), x2: x(e.t), y1: 18, y2: 32, class: 'tl-block', 'data-t': e.t });
          mark.style.stroke = r.nodes[e.node].color;
        } else if (e.ev === 'tip' && e.reorg_depth) {
          mark = svg('path', { d: `M${x(e.t)},34 l-4,8 h8 z`, class: 'tl-reorg', 'data-t': e.t, 'data-depth': e.reorg_depth });
        } else if (e.ev === 'tx_submitted' || e.ev === 'tx_resent' || e.ev === 'tx_invalid') {
          // Transfers along the bottom: acknowledged ones green, refused ones red.
          mark = svg('rect', { x: x(e.t) - 0.5, y: 46, width: 1, height: 6, class: `tl-tx ${e.acked ? 'acked' : 'refused'}`, 'data-t': e.t });
          mark.append(svg('title', {}, `${secs(e.t)}: ${e.ev === 'tx_invalid' ? 'an invalid transfer' : 'a transfer'} ` +
            `${e.ev === 'tx_resent' ? 'sent again ' : ''}to node ${e.node}: ${e.acked ? 'acknowledged' : `refused (${e.why || '?'})`}`));
          root.append(mark);
          continue;
        } else if (e.ev === 'heal') {
          mark = svg('line', { x1: x(e.t), x2: x(e.t), y1: 0, y2: H, class: 'tl-heal', 'data-t': e.t });
        } else if (e.ev === 'fault' && !LINK_FAULTS.has(e.kind) || e.ev === 'violation' || e.ev === 'node_fatal') {
          mark = svg('circle', { cx: x(e.t), cy: 8, r: 3, class: `tl-${e.ev}`, 'data-t': e.t });
        }
        if (mark) {
          mark.append(svg('title', {}, `${secs(e.t)}: ${explain(r, e)}`));
          root.append(mark);
        }
      }
      this.cursor = svg('line', { x1: 0, x2: 0, y1: 0, y2: H, class: 'tl-cursor' });
      root.append(this.cursor);
      root.addEventListener('click', (ev) => {
        if (this.live) return;  // the live view follows the run
        const box = root.getBoundingClientRect();
        this.pause();
        this.seekTime(((ev.clientX - box.left) / box.width) * r.end);
      });
      this.tlX = x;
      return root;
    }

    draw() {
      const r = this.run;
      const st = this.state.seek(this.upto);
      this.slider.value = String(this.time);
      this.clock.textContent = `${secs(this.time)} / ${secs(r.end)}  (event ${this.upto} of ${r.events.length})`;
      this.cursor.setAttribute('x1', this.tlX(this.time));
      this.cursor.setAttribute('x2', this.tlX(this.time));
      this.drawNet(st);
      Object.assign(this.box.dataset, { t: this.time, upto: this.upto });
      // Between two step events only the messages move: the rest stays as drawn (cheap playback).
      if (this.drawnApplied === st.applied) return;
      this.drawnApplied = st.applied;
      // The tree: the last WINDOW heights, and further down to just below the lowest fork of the
      // tips, or of a recent reorg's stale branch (so the blocks it replaced stay in view).
      const snaps = st.snaps();
      const whole = T.buildModel(snaps, Infinity, 0);
      const fork = whole.fork && whole.fork.height !== null ? whole.fork.height : null;
      let floor = fork === null ? Infinity : fork - 1;
      for (const b of whole.blocks.values()) {
        if (b.stale && b.height > whole.maxHeight - WINDOW) floor = Math.min(floor, b.height - 2);
      }
      const model = T.buildModel(snaps, WINDOW, Math.max(0, floor));
      const tree = T.renderTree(model, snaps, { blockHref: null });
      this.treeBox.replaceChildren(tree);
      T.paintTree(tree);
      let left = this.treeBox.scrollWidth;
      if (fork !== null) left = Math.min(left, Math.max(0, 40 + (fork - model.minHeight) * T.COL_W - 2 * T.COL_W));
      this.treeBox.scrollLeft = left;
      // The latest step event at or before the instant, and the ones before it.
      const steps = r.steps;
      const recent = [];
      for (let k = steps.length - 1; k >= 0 && recent.length < 12; --k) if (steps[k] < this.upto) recent.push(r.events[steps[k]]);
      const cur = recent[0];
      const ex = this.explainBox;
      ex.replaceChildren(cur ? `${secs(cur.t)}: ${explain(r, cur)}` : 'the run has not started');
      Object.assign(ex.dataset, {
        kind: cur ? cur.ev : '', index: cur ? cur.index : '', node: cur && cur.node !== undefined ? cur.node : '',
        depth: cur && cur.ev === 'tip' ? cur.reorg_depth || 0 : '', faultKind: cur && cur.kind ? cur.kind : '',
      });
      this.logBox.replaceChildren(...recent.map((e) => el('li', { 'data-kind': e.ev, 'data-index': e.index, class: e.ev === 'tip' && e.reorg_depth ? 'reorg' : '' },
        `${secs(e.t)}  ${explain(r, e)}`)));
      Object.assign(this.box.dataset, {
        tips: model.tips.size, forkHeight: fork === null ? '' : fork, lanes: model.lanes,
        stale: model.stale, down: st.nodes.filter((n) => n.down).length, paused: st.nodes.filter((n) => n.paused.size).length,
        faults: st.faults.size,
      });
    }

    drawNet(st) {
      const r = this.run;
      const n = r.nodes.length;
      const W = 360;
      const cx = W / 2;
      const rad = W / 2 - 40;
      const pos = r.nodes.map((_, i) => [cx + rad * Math.sin((2 * Math.PI * i) / n), cx - rad * Math.cos((2 * Math.PI * i) / n)]);
      const cuts = r.links.map(([a, b]) => [st.cut(a, b), st.cut(b, a)]);
      const states = r.nodes.map((_, i) => {
        const s = st.nodes[i];
        return [s.down ? 'crashed' : s.paused.size ? 'paused' : 'up', s.tip || '', s.height];
      });
      // Links and nodes are redrawn only when they change; messages move every frame (the live
      // page clicks on nodes and links, which must stay the same elements while they move).
      const sig = JSON.stringify([r.links.length, cuts, states]);
      if (sig !== this.netSig || !this.netRoot || !this.netRoot.isConnected) {
        this.netSig = sig;
        const root = svg('svg', { viewBox: `0 0 ${W} ${W}`, width: W, height: W, role: 'img', 'aria-label': 'the network' });
        const links = svg('g', { class: 'links' });
        r.links.forEach(([a, b], k) => {
          const [ab, ba] = cuts[k];
          const [x1, y1] = pos[a];
          const [x2, y2] = pos[b];
          if (ab === ba) {
            links.append(svg('line', { x1, y1, x2, y2, class: ab ? 'link cut' : 'link', 'data-link': `${a}-${b}`, 'data-cut': ab ? 'both' : '' }));
          } else {
            // One way cut: the half at the cut sender's end drawn cut.
            const mx = (x1 + x2) / 2;
            const my = (y1 + y2) / 2;
            links.append(svg('line', { x1, y1, x2: mx, y2: my, class: ab ? 'link cut' : 'link', 'data-link': `${a}-${b}`, 'data-cut': ab ? `${a}>${b}` : `${b}>${a}` }),
              svg('line', { x1: mx, y1: my, x2, y2, class: ba ? 'link cut' : 'link' }));
          }
        });
        const nodes = svg('g', { class: 'nodes' });
        r.nodes.forEach((nd, i) => {
          const [state, tip, height] = states[i];
          const c = svg('circle', { cx: pos[i][0], cy: pos[i][1], r: 16, class: `netnode ${state}` });
          if (state === 'up') c.style.fill = nd.color;
          nodes.append(svg('g', { 'data-node': i, 'data-state': state, 'data-tip': tip, 'data-height': height }, c,
            svg('text', { x: pos[i][0], y: pos[i][1] + 4, class: 'netlabel' }, String(i)),
            svg('text', { x: pos[i][0], y: pos[i][1] + 30, class: 'netsub' }, state === 'up' ? `h ${height}` : `${state} (h ${height})`)));
        });
        this.netMsgs = svg('g', { class: 'msgs' });
        root.append(links, this.netMsgs, nodes);
        this.netRoot = root;
        this.netInFlight = el('p', { class: 'muted', id: 'replay-inflight' });
        this.netBox.replaceChildren(el('h2', {}, 'Network'), root, this.netInFlight);
      }
      const msgs = svg('g', { class: 'msgs' });
      let shown = 0;
      let inFlight = 0;
      for (const f of r.flights) {
        if (f.t0 > this.time) break;  // flights are in send order
        if (f.t1 <= this.time) continue;
        ++inFlight;
        if (shown >= MAX_IN_FLIGHT) continue;
        ++shown;
        const k = f.t1 > f.t0 ? (this.time - f.t0) / (f.t1 - f.t0) : 1;
        const [x1, y1] = pos[f.from];
        const [x2, y2] = pos[f.to];
        msgs.append(svg('circle', { cx: x1 + (x2 - x1) * k, cy: y1 + (y2 - y1) * k, r: f.type === 'block' ? 4 : 2.5, class: `msg ${f.type}${f.lost ? ' lost' : ''}` }));
      }
      this.netMsgs.replaceWith(msgs);
      this.netMsgs = msgs;
      Object.assign(this.netInFlight.dataset, { inFlight, shown });
      this.netInFlight.textContent = `${inFlight} block/header/tx message(s) in flight${inFlight > shown ? ` (${shown} drawn)` : ''}`;
    }
  }

  // --- loading ---------------------------------------------------------------------------------
  // The live page (live.js) drives the same drawing.
  globalThis.peerchainReplayLib = { parse, prepare, State, Replay, explain, colorOf, secs };
  if (document.body.dataset.page !== 'replay') return;

  let current = null;
  async function load(file) {
    banner('');
    if (file.size > MAX_BYTES) return banner(`${file.name}: ${file.size} bytes, more than this page reads (${MAX_BYTES})`);
    try {
      const run = prepare(parse(await file.text()));
      if (current) current.destroy();
      current = new Replay($('#replay'), run, file.name);
      window.peerchainReplay = current;  // for the browser test and the curious
    } catch (e) {
      banner(`${file.name}: ${e.message || e}`);
    }
  }
  $('#replay-file').addEventListener('change', (e) => {
    if (e.target.files && e.target.files[0]) load(e.target.files[0]);
  });
  document.addEventListener('dragover', (e) => e.preventDefault());
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    const f = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
    if (f) load(f);
  });
})();
