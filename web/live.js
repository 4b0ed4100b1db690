// web/live.js — the live page (live.html), served by peerchain-sim --serve. It polls the run's
// trace (/live/events, the same lines --record writes) and draws it with the replay page's code
// (replay.js: the network, messages in flight, the chain tree, miners' colours, plain words),
// always at the run's newest instant. A click on a node or a link selects it; the buttons send
// commands (POST /live/command) that the simulation applies between two steps and records, so
// what the viewer did is in the trace like any fault. Scenarios are sequences of such commands,
// waiting in simulated time. A transfer the viewer sends is followed: its confirmations on
// every node, and when a reorg takes them away.
(() => {
  'use strict';
  const L = globalThis.peerchainReplayLib;
  const $ = (s) => document.querySelector(s);
  const POLL_MS = 250;
  const SPEEDS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 25, 50, 100];
  const MAX_EVENTS = 2_000_000;  // lines kept in the page (the server's budget is 256 MiB of them)

  let header = null;
  const events = [];
  let next = 0;          // the next trace line to fetch
  let state = null;      // /live/state
  let view = null;       // the Replay drawing
  let selected = null;   // {node} or {a, b}
  let watched = null;    // {txid, node, best: {node: max confirmations seen}}
  let scenario = null;   // the running scenario's name

  function banner(text) {
    const b = $('#banner');
    b.textContent = text || '';
    b.hidden = !text;
  }

  function answer(text, ok) {
    const a = $('#live-answer');
    a.textContent = text;
    a.dataset.ok = String(ok);
  }

  async function send(cmd) {
    const r = await fetch('live/command', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(cmd) });
    let body;
    try {
      body = await r.json();
    } catch (e) {
      body = { ok: false, why: `HTTP ${r.status}` };
    }
    if (cmd.cmd !== 'clock') answer(body.ok ? `done: ${JSON.stringify(cmd)}${body.why ? ` — ${body.why}` : ''}` : `refused: ${body.why}`, !!body.ok && !body.why);
    return body;
  }

  // --- the run ---------------------------------------------------------------------------------
  function latencyUs(h) {
    const m = /--latency (\S+)/.exec(h.args || '');
    const j = /--jitter (\S+)/.exec(h.args || '');
    return ((m ? Number(m[1]) : 20) + (j ? Number(j[1]) / 2 : 5)) * 1000;
  }

  async function poll() {
    try {
      const s = await fetch('live/state', { cache: 'no-store' });
      state = await s.json();
      for (let more = true; more;) {
        const r = await fetch(`live/events?since=${next}`, { cache: 'no-store' });
        const batch = await r.json();
        for (const o of batch.lines) {
          if (!header) {
            header = o;
            continue;
          }
          if (events.length >= MAX_EVENTS) break;
          o.index = events.length;
          events.push(o);
        }
        next = batch.next;
        more = batch.next < batch.total && batch.lines.length > 0;
      }
      banner(state.failed ? `the run stopped on a violation: ${state.violation}` : state.full ? 'the recording reached its budget: the clock stopped' : '');
      redraw();
    } catch (e) {
      $('#live-clock').textContent = `lost the simulation (${e.message || e}); retrying`;
    }
    setTimeout(poll, POLL_MS);
  }

  function redraw() {
    if (!header) return;
    const run = L.prepare({ header, events, bad: 0, firstBad: '' }, { latencyUs: latencyUs(header) });
    if (!view) {
      view = new L.Replay($('#replay'), run, 'live session', true);
      window.peerchainLive = view;  // for the browser test and the curious
      $('#replay-net').addEventListener('click', onNetClick);
    }
    const first = !view.updated;
    view.updated = true;
    view.update(run);
    latest = Math.max(state.t, run.end);
    if (first) show(latest);
    $('#live-run').textContent = state.running ? 'Pause' : 'Run';
    const sp = $('#live-speed');
    if (![...sp.options].some((o) => o.value === String(state.speed))) {
      const o = document.createElement('option');
      o.value = String(state.speed);
      o.textContent = `${state.speed}x`;
      sp.append(o);
    }
    if (sp.value !== String(state.speed)) sp.value = String(state.speed);
  }

  // The instant drawn moves smoothly at the run's pace towards the newest one the server
  // reported (one poll behind at most), so messages are seen moving along the links.
  let latest = 0;
  let shown = 0;
  function show(t) {
    shown = t;
    view.seekTime(t);
    const c = $('#live-clock');
    c.textContent = `${L.secs(t)} simulated · ${state.running ? `${state.speed}x` : 'paused'}${state.behind ? ' (this machine cannot keep up: slower)' : ''}`;
    c.dataset.t = String(t);
    markSelection();
    drawFaults();
    drawWatch(view.run);
  }
  let lastFrame = performance.now();
  function frame(now) {
    if (view && state) {
      const pace = 1000 * (state.running ? state.speed : 0);
      let t = Math.min(latest, shown + (now - lastFrame) * pace);
      const lag = Math.max(2 * POLL_MS * pace, 1e5);
      if (latest - t > lag) t = latest - lag / 2;  // fell behind (a hidden tab): catch up
      if (t !== shown) show(t);
    }
    lastFrame = now;
    requestAnimationFrame(frame);
  }
  requestAnimationFrame(frame);

  // --- selection and actions -------------------------------------------------------------------
  function onNetClick(ev) {
    const g = ev.target.closest('g[data-node]');
    const line = ev.target.closest('line[data-link]');
    if (g) selected = { node: Number(g.dataset.node) };
    else if (line) {
      const [a, b] = line.dataset.link.split('-').map(Number);
      selected = { a, b };
    } else return;
    markSelection();
  }

  function markSelection() {
    const isNode = selected && selected.node !== undefined;
    const isLink = selected && selected.a !== undefined;
    $('#live-node-actions').hidden = !isNode;
    $('#live-link-actions').hidden = !isLink;
    for (const g of document.querySelectorAll('#replay-net g[data-node]')) g.dataset.selected = String(isNode && Number(g.dataset.node) === selected.node);
    for (const l of document.querySelectorAll('#replay-net line[data-link]')) l.dataset.selected = String(isLink && l.dataset.link === `${selected.a}-${selected.b}`);
    if (isNode) {
      const g = document.querySelector(`#replay-net g[data-node="${selected.node}"]`);
      const st = g ? g.dataset.state : '';
      $('#live-node-title').textContent = `node ${selected.node} (${st})`;
      $('#live-crash').disabled = st === 'crashed';
      $('#live-powercut').disabled = st === 'crashed';
      $('#live-restart').disabled = st !== 'crashed';
      $('#live-pause').disabled = st !== 'up';
      $('#live-resume').disabled = st !== 'paused';
      $('#live-transfer').disabled = st !== 'up';
    }
    if (isLink) {
      const l = document.querySelector(`#replay-net line[data-link="${selected.a}-${selected.b}"]`);
      const cut = l && l.dataset.cut;
      $('#live-link-title').textContent = `link ${selected.a}-${selected.b}${cut ? ' (cut)' : ''}`;
      $('#live-cut').disabled = !!cut;
      $('#live-heal-link').disabled = !cut;
    }
  }

  // Active faults, each with a button that ends it.
  function drawFaults() {
    const box = $('#live-faults');
    const st = view.state;
    const buttons = [];
    for (const f of st.faults.values()) {
      const b = document.createElement('button');
      b.type = 'button';
      b.dataset.fault = f.fault;
      b.textContent = `end: ${L.explain(view.run, f).replace(/^the viewer: /, '')}`;
      b.addEventListener('click', () => send({ cmd: 'end', fault: f.fault }));
      buttons.push(b);
    }
    const key = [...st.faults.keys()].join(',');
    if (box.dataset.key !== key) {
      box.replaceChildren(...buttons);
      box.dataset.key = key;
    }
    const latency = [...st.faults.values()].find((f) => f.kind === 'latency');
    $('#live-latency').textContent = latency ? 'Latency back to normal' : 'Add 1000 ms latency';
  }

  // A transfer's confirmations on a node: the depth of the block holding it on the branch of the
  // node's tip (0: not in it — in its mempool, or not heard of). A block's ancestry never changes,
  // so the answer per tip is kept.
  function confirmationsAt(run, tip) {
    if (watched.cache.has(tip)) return watched.cache.get(tip);
    let depth = 0;
    let found = 0;
    for (let b = run.blocks.get(tip); b && depth < 5000; b = run.blocks.get(b.prev)) {
      ++depth;
      if (b.txids && b.txids.includes(watched.txid)) {
        found = depth;
        break;
      }
    }
    watched.cache.set(tip, found);
    return found;
  }

  // Every tip change since the transfer was sent, in order up to the instant shown: a drop is a
  // fact of the trace, whatever the frame rate.
  function drawWatch(run) {
    const box = $('#live-watch');
    if (!watched) {
      box.hidden = true;
      return;
    }
    box.hidden = false;
    const ev = run.events;
    for (; watched.next < ev.length && ev[watched.next].t <= view.time; ++watched.next) {
      const e = ev[watched.next];
      if (e.ev !== 'tip' && e.ev !== 'node_start') continue;
      const n = e.node;
      const c = confirmationsAt(run, e.ev === 'tip' ? e.id : e.tip);
      watched.now[n] = c;
      watched.best[n] = Math.max(watched.best[n] || 0, c);
      if (c < watched.best[n]) watched.dropped[n] = Math.max(watched.dropped[n] || 0, watched.best[n]);
    }
    const rows = view.state.nodes.map((_, n) => {
      const c = watched.now[n] || 0;
      return `<tr data-node="${n}" data-conf="${c}" data-best="${watched.best[n] || 0}"><td>node ${n}</td><td>${c}</td>` +
        `<td class="${watched.dropped[n] ? 'dropped' : ''}">${watched.dropped[n] ? `had ${watched.dropped[n]}: a reorg took them` : ''}</td></tr>`;
    });
    const html = `<p>Transfer <span class="mono">${watched.txid.slice(0, 12)}…</span> (wallet ${watched.from} → ${watched.to}, sent through node ${watched.node}): confirmations</p>` +
      `<table><tr><th>node</th><th>now</th><th></th></tr>${rows.join('')}</table>`;
    if (html !== watched.html) {
      box.innerHTML = html;
      watched.html = html;
    }
    box.dataset.txid = watched.txid;
  }

  async function transfer(node, from = 0, to = 1) {
    const r = await send({ cmd: 'transfer', node, from, to, amount: 1 + Math.floor(Math.random() * 1000) });
    if (r.txid) {
      // Its tip changes are read from the instant it was sent (the trace's events at r.t on).
      const ev = view.run.events;
      let k = ev.length;
      while (k > 0 && ev[k - 1].t >= r.t) --k;
      watched = { txid: r.txid, node, from, to, best: {}, dropped: {}, now: {}, cache: new Map(), next: k };
    }
    return r;
  }

  function nodeCmd(cmd, extra = {}) {
    return () => selected && selected.node !== undefined && send({ cmd, node: selected.node, ...extra });
  }

  // --- scenarios -------------------------------------------------------------------------------
  function step(text) {
    const s = $('#live-scenario');
    s.textContent = text;
    s.dataset.step = text ? scenario : '';
  }

  // Waits until `us` more simulated µs have passed (the run's pace is the viewer's).
  async function simWait(us) {
    const until = (state ? state.t : 0) + us;
    while (!state || state.t < until) {
      if (state && (state.failed || state.full)) throw new Error('the run stopped');
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  const S = 1e6;
  const SCENARIOS = {
    async fork() {
      const n = state.nodes;
      const side = [...Array(Math.max(1, Math.floor(n / 2))).keys()];
      step(`Partition: nodes {${side.join(',')}} cannot reach the others. Both sides keep mining: two branches grow.`);
      const p = await send({ cmd: 'partition', side });
      await simWait(15 * S);
      step('Healed: the sides hear of each other\'s blocks; every node switches to the branch with the most work and the other one goes stale.');
      await send({ cmd: 'end', fault: p.fault });
      await simWait(5 * S);
    },
    async attack() {
      const n = state.nodes;
      step('Node 0 gets 80% of the hash power and is cut off: it mines its own branch in secret.');
      const h = await send({ cmd: 'hashpower', node: 0, share: 0.8 });
      const p = await send({ cmd: 'partition', side: [0] });
      step(`A transfer is paid through node ${n - 1}: the honest side confirms it in its blocks (watch the confirmations).`);
      await transfer(n - 1, 1, 2);
      await simWait(25 * S);
      // The honest side's confirmations first (its 20% finds a block every 5 s or so).
      for (let k = 0; k < 12 && watched && (watched.now[n - 1] || 0) < 2; ++k) await simWait(5 * S);
      step('Node 0 rejoins with the longer branch: every node switches to it, the honest blocks are replaced, and the transfer\'s confirmations drop to 0 — it is back in the mempool, to be mined again.');
      await send({ cmd: 'end', fault: p.fault });
      await simWait(10 * S);
      step('Hash power balanced again.');
      await send({ cmd: 'end', fault: h.fault });
    },
    async stale() {
      step('Every link now takes 1500 ms one way: blocks come faster than they spread, miners build on old tips, forks and stale blocks pile up.');
      await send({ cmd: 'latency', latency_ms: 1500 });
      await simWait(30 * S);
      step('Latency back to normal: the network settles on one branch; the stale blocks stay drawn as stale.');
      await send({ cmd: 'latency', latency_ms: 0 });
    },
    async catchup() {
      const x = state.nodes - 1;
      step(`Node ${x} crashes (kill -9); the others go on mining.`);
      await send({ cmd: 'crash', node: x });
      await simWait(20 * S);
      step(`Node ${x} restarts from its own disk and fetches the blocks it missed from its peers.`);
      await send({ cmd: 'restart', node: x });
      await simWait(10 * S);
    },
  };

  async function runScenario(name) {
    if (scenario) return answer(`scenario ${scenario} is still running`, false);
    scenario = name;
    for (const b of document.querySelectorAll('[data-scenario]')) b.disabled = true;
    try {
      await SCENARIOS[name]();
      step(`${$(`[data-scenario="${name}"]`).textContent}: done.`);
    } catch (e) {
      step(`scenario stopped: ${e.message || e}`);
    } finally {
      scenario = null;
      for (const b of document.querySelectorAll('[data-scenario]')) b.disabled = false;
    }
  }

  // --- wiring ----------------------------------------------------------------------------------
  const speed = $('#live-speed');
  for (const s of SPEEDS) {
    const o = document.createElement('option');
    o.value = String(s);
    o.textContent = `${s}x`;
    speed.append(o);
  }
  speed.addEventListener('change', () => send({ cmd: 'clock', speed: Number(speed.value) }));
  $('#live-run').addEventListener('click', () => send({ cmd: 'clock', running: !(state && state.running) }));
  $('#live-crash').addEventListener('click', nodeCmd('crash'));
  $('#live-powercut').addEventListener('click', nodeCmd('crash', { powercut: true }));
  $('#live-restart').addEventListener('click', nodeCmd('restart'));
  $('#live-pause').addEventListener('click', nodeCmd('pause'));
  $('#live-resume').addEventListener('click', nodeCmd('resume'));
  $('#live-hashpower').addEventListener('click', nodeCmd('hashpower', { share: 0.8 }));
  $('#live-transfer').addEventListener('click', () => selected && transfer(selected.node));
  $('#live-cut').addEventListener('click', () => selected && send({ cmd: 'cut', a: selected.a, b: selected.b }));
  $('#live-heal-link').addEventListener('click', () => selected && send({ cmd: 'heal_link', a: selected.a, b: selected.b }));
  $('#live-heal').addEventListener('click', () => send({ cmd: 'heal' }));
  $('#live-latency').addEventListener('click', () => {
    const on = view && [...view.state.faults.values()].some((f) => f.kind === 'latency');
    send({ cmd: 'latency', latency_ms: on ? 0 : 1000 });
  });
  for (const b of document.querySelectorAll('[data-scenario]')) b.addEventListener('click', () => runScenario(b.dataset.scenario));
  poll();
})();
