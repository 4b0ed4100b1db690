// web/app.js — the peerchain web view: header, live blocks and transactions (WebSocket /ws),
// mempool, peers, block/transaction/account pages, search, and the network view (#/network).
// Plain ES modules, no framework, no build step; every value shown goes in through textContent.

import { Api, RpcError, subscribe } from './api.js';
import { NetworkView } from './network.js';

const api = new Api('');
const $ = (sel) => document.querySelector(sel);
const HEX64 = /^[0-9a-f]{64}$/;
const HEIGHT = /^[0-9]{1,10}$/;
const NODE = /^[A-Za-z0-9.\-]+:[0-9]{1,5}$|^\[[0-9A-Fa-f:.]+\]:[0-9]{1,5}$/;

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
const link = (href, text, cls = 'mono') => el('a', { href, class: cls }, text);
const blockLink = (id, text) => link(`#/block/${id}`, text || id.slice(0, 16) + '…');
const txLink = (id, text) => link(`#/tx/${id}`, text || id.slice(0, 16) + '…');
const acctLink = (a) => link(`#/account/${a}`, a.length > 24 ? a.slice(0, 14) + '…' + a.slice(-6) : a);
const time = (ms) => new Date(ms).toLocaleTimeString();

function banner(text) {
  const b = $('#banner');
  b.textContent = text || '';
  b.hidden = !text;
}

// --- live state shared by the pages -----------------------------------------------------------
const live = { blocks: [], txs: [], listeners: new Set() };
const emit = (ev) => live.listeners.forEach((f) => f(ev));

async function refreshHeader() {
  try {
    const i = await api.call('getblockchaininfo');
    $('#h-network').textContent = i.network;
    $('#h-height').textContent = i.height;
    const tip = $('#h-tip');
    tip.textContent = i.tip.slice(0, 12) + '…';
    tip.href = `#/block/${i.tip}`;
    $('#h-peers').textContent = i.peers;
    $('#h-mempool').textContent = i.mempool_size;
    Object.assign($('#top').dataset, { height: i.height, tip: i.tip });
  } catch (e) {
    $('#h-height').textContent = 'node unreachable';
  }
}

async function addLiveBlock(id, reorg) {
  try {
    const b = await api.call('getblock', [id, true]);
    live.blocks = [b, ...live.blocks.filter((x) => x.id !== id)].slice(0, 15);
    if (reorg) {
      // Blocks of the abandoned branch stay listed, marked stale.
      for (const x of live.blocks) if (x.height >= b.height - reorg.disconnected && x.id !== id && x.in_active_chain) {
        const again = await api.call('getblock', [x.id, true]).catch(() => null);
        if (again) x.in_active_chain = again.in_active_chain;
      }
    }
    for (const t of live.txs) if (b.txs.some((bt) => bt.id === t.id)) t.status = 'confirmed';
    emit({ type: 'block' });
  } catch (e) {
    console.warn(e);
  }
}

async function addLiveTx(id) {
  try {
    const t = await api.call('gettransaction', [id]);
    live.txs = [t, ...live.txs.filter((x) => x.id !== id)].slice(0, 25);
    emit({ type: 'tx' });
  } catch (e) {
    console.warn(e);
  }
}

async function loadRecent() {
  const i = await api.call('getblockchaininfo');
  const calls = [];
  for (let h = i.height; h >= 0 && h > i.height - 10; --h) calls.push(['getblock', [h, true]]);
  const res = await api.batch(calls);
  live.blocks = res.filter((r) => !(r instanceof Error));
  const pool = await api.call('getrawmempool');
  const txs = await api.batch(pool.slice(0, 25).map((id) => ['gettransaction', [id]]));
  live.txs = txs.filter((r) => !(r instanceof Error));
  emit({ type: 'load' });
}

function startLive() {
  let lastReorg = null;
  let lastHeight = null;  // the node's tip height before the next event: a reorg's fork is D below it
  subscribe('', (ev) => {
    if (ev.type === 'block') {
      lastHeight = ev.height;
      addLiveBlock(ev.id, lastReorg);
      lastReorg = null;
      refreshHeader();
    } else if (ev.type === 'reorg') {
      lastReorg = ev;
      const fork = lastHeight === null ? {} : { fork_height: lastHeight - ev.disconnected };
      live.reorgs = [{ ...ev, ...fork, at: Date.now() }, ...(live.reorgs || [])].slice(0, 5);
    } else if (ev.type === 'tx') {
      addLiveTx(ev.id);
      refreshHeader();
    }
    emit({ type: 'event', ev });
  }, (state) => {
    $('#top').dataset.ws = state;
    if (state !== 'open') lastHeight = null;
    $('#h-ws').textContent = state === 'open' ? 'connected' : 'reconnecting…';
    if (state === 'open') {
      loadRecent().catch(() => {});
      api.call('getblockchaininfo').then((i) => { if (lastHeight === null) lastHeight = i.height; }).catch(() => {});
    }
  });
  setInterval(refreshHeader, 3000);
}

// --- pages ------------------------------------------------------------------------------------
function section(title, ...body) {
  return el('section', {}, el('h2', {}, title), ...body);
}

function blocksList() {
  const ul = el('ul', { id: 'blocks', class: 'list' });
  for (const b of live.blocks) {
    ul.append(el('li', { 'data-block-id': b.id, 'data-height': b.height, 'data-stale': String(!b.in_active_chain), class: b.in_active_chain ? '' : 'stale' },
      el('span', { class: 'h' }, `#${b.height}`), ' ', blockLink(b.id), ' ',
      el('span', { class: 'muted' }, `${b.tx_count} tx · ${time(b.time_ms)}`), b.in_active_chain ? null : el('span', { class: 'tag' }, 'stale')));
  }
  if (!live.blocks.length) ul.append(el('li', { class: 'muted' }, 'no blocks yet'));
  return ul;
}

function txsList() {
  const ul = el('ul', { id: 'txs', class: 'list' });
  for (const t of live.txs) {
    ul.append(el('li', { 'data-tx-id': t.id, 'data-status': t.status },
      txLink(t.id), ' ', el('span', { class: 'amt' }, `${t.amount}`), ' ',
      el('span', { class: 'muted' }, 'from '), acctLink(t.from), el('span', { class: 'muted' }, ' to '), acctLink(t.to), ' ',
      el('span', { class: `tag ${t.status}` }, t.status)));
  }
  if (!live.txs.length) ul.append(el('li', { class: 'muted' }, 'no transactions seen yet'));
  return ul;
}

async function overview(view) {
  const mem = el('div', { id: 'mempool' }, el('p', { class: 'muted' }, 'loading…'));
  const peers = el('div', { id: 'peers' }, el('p', { class: 'muted' }, 'loading…'));
  const left = el('div', { class: 'col' });
  const right = el('div', { class: 'col' });
  const reorgs = el('div', { id: 'reorgs' });
  const draw = () => {
    left.replaceChildren(section('Latest blocks', blocksList()), reorgs);
    right.replaceChildren(section('Latest transactions', txsList()), section('Mempool', mem), section('Peers', peers));
    reorgs.replaceChildren(...(live.reorgs || []).map((r) => el('p', { class: 'reorg', 'data-kind': 'reorg' },
      `reorg at ${time(r.at)}: ${r.disconnected} block(s) replaced (depth ${r.disconnected})` +
      `${r.fork_height === undefined ? '' : `, fork at height ${r.fork_height}`}, new tip `, blockLink(r.tip), ` at ${r.height}`)));
  };
  const refreshSide = async () => {
    try {
      const [pool, info] = await api.batch([['getrawmempool', []], ['getpeerinfo', []]]);
      if (!(pool instanceof Error)) {
        mem.replaceChildren(el('p', {}, `${pool.length} transaction(s) waiting`),
          el('ul', { class: 'list' }, ...pool.slice(0, 30).map((id) => el('li', { 'data-tx-id': id }, txLink(id)))));
      }
      if (!(info instanceof Error)) {
        const t = el('table', { class: 'peers' }, el('tr', {}, ...['id', 'address', 'dir', 'height', 'ping ms', 'agent'].map((h) => el('th', {}, h))));
        for (const p of info) t.append(el('tr', { 'data-peer': p.address }, el('td', {}, p.id), el('td', { class: 'mono' }, p.address),
          el('td', {}, p.inbound ? 'in' : 'out'), el('td', {}, p.best_height), el('td', {}, p.ping_ms >= 0 ? p.ping_ms : '–'), el('td', {}, p.user_agent ?? '')));
        peers.replaceChildren(info.length ? t : el('p', { class: 'muted' }, 'no peers'));
      }
    } catch (e) {
      /* shown by the header */
    }
  };
  draw();
  refreshSide();
  view.replaceChildren(el('div', { class: 'grid' }, left, right));
  let pending = null;
  const onEvent = () => {
    draw();
    clearTimeout(pending);
    pending = setTimeout(refreshSide, 200);
  };
  live.listeners.add(onEvent);
  const timer = setInterval(refreshSide, 5000);
  return () => {
    live.listeners.delete(onEvent);
    clearInterval(timer);
  };
}

function kv(rows) {
  return el('table', { class: 'kv' }, ...rows.map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', {}, v))));
}

async function blockPage(view, ref) {
  const b = await api.call('getblock', [HEIGHT.test(ref) ? Number(ref) : ref, true]);
  const t = el('table', { class: 'txs' }, el('tr', {}, ...['tx', 'from', 'to', 'amount', 'fee', 'nonce'].map((h) => el('th', {}, h))));
  for (const x of b.txs) t.append(el('tr', { 'data-tx-id': x.id }, el('td', {}, txLink(x.id)), el('td', {}, acctLink(x.from)),
    el('td', {}, acctLink(x.to)), el('td', {}, x.amount), el('td', {}, x.fee), el('td', {}, x.nonce)));
  view.replaceChildren(section(`Block ${b.height}`, el('div', { id: 'block', 'data-block-id': b.id, 'data-active': String(b.in_active_chain) },
    kv([['id', el('span', { class: 'mono' }, b.id)],
      ['status', b.in_active_chain ? `in the active chain, ${b.confirmations} confirmation(s)` : 'stale: not in this node\'s active chain'],
      ['previous', b.height ? blockLink(b.prev_id, b.prev_id) : '—'],
      ['time', new Date(b.time_ms).toISOString()], ['miner', acctLink(b.miner)], ['transactions', b.tx_count], ['size', `${b.size} bytes`],
      ['bits', b.bits], ['nonce', b.nonce], ['merkle root', el('span', { class: 'mono' }, b.merkle_root)]]),
    el('p', {}, b.in_active_chain ? link(`#/block/${b.height + 1}`, 'next block →', '') : null)),
  section('Transactions', b.txs.length ? t : el('p', { class: 'muted' }, 'none'))));
}

async function txPage(view, id) {
  if (!HEX64.test(id)) throw new Error('a transaction id is 64 hex characters');
  const t = await api.call('gettransaction', [id]);
  view.replaceChildren(section('Transaction', el('div', { id: 'tx', 'data-tx-id': id, 'data-status': t.status }, kv([
    ['id', el('span', { class: 'mono' }, id)], ['status', `${t.status}${t.final ? ' (final)' : ''}`],
    ['block', t.block ? blockLink(t.block, t.block) : 'in the mempool'], ['height', t.height ?? '—'],
    ['confirmations', t.confirmations], ['from', acctLink(t.from)], ['to', acctLink(t.to)],
    ['amount', t.amount], ['fee', t.fee], ['nonce', t.nonce]]))));
}

async function accountPage(view, address) {
  const [a, list] = await api.batch([['getaccount', [address]], ['listtransfers', [address, 100]]]);
  if (a instanceof Error) throw a;
  const transfers = el('div', { id: 'transfers' });
  if (list instanceof Error) {
    transfers.append(el('p', { class: 'error' }, `transfers unavailable: ${list.message}`));
  } else {
    const t = el('table', { class: 'txs' }, el('tr', {}, ...['tx', 'direction', 'counterparty', 'amount', 'fee', 'status', 'height'].map((h) => el('th', {}, h))));
    for (const x of list.transfers) {
      const other = x.direction === 'sent' ? x.to : x.from;
      t.append(el('tr', { 'data-tx-id': x.id, 'data-direction': x.direction, 'data-status': x.status },
        el('td', {}, txLink(x.id)), el('td', {}, x.direction === 'sent' ? 'sent to' : x.direction === 'received' ? 'received from' : 'to itself'),
        el('td', {}, acctLink(other)), el('td', { class: 'amt' }, x.direction === 'sent' ? `−${x.amount}` : `+${x.amount}`),
        el('td', {}, x.direction === 'received' ? '—' : x.fee), el('td', {}, el('span', { class: `tag ${x.status}` }, x.status)),
        el('td', {}, x.height === null ? '—' : blockLink(x.block, String(x.height)))));
    }
    Object.assign(transfers.dataset, { count: list.transfers.length, complete: String(list.complete), scanned: list.scanned_blocks });
    const scope = list.complete
      ? `the whole chain (${list.scanned_blocks} blocks) and the mempool`
      : `the latest ${list.scanned_blocks} block(s) (down to height ${list.lowest_height ?? '—'}) and the mempool`;
    transfers.append(el('p', { class: 'muted' }, `${list.transfers.length} transfer(s), newest first, from ${scope}.`),
      list.transfers.length ? t : el('p', { class: 'muted' }, 'no transfers'));
  }
  view.replaceChildren(section('Account', el('div', { id: 'account', 'data-address': address, 'data-balance': a.balance }, kv([
    ['address', el('span', { class: 'mono' }, address)], ['balance', a.balance], ['nonce', a.nonce],
    ['pending transactions', a.pending], ['pending cost', a.pending_cost], ['next nonce', a.next_nonce]]))),
  section('Transfers', transfers));
}

// Nodes for the network view: ?nodes=host:port,... or this node and its peers (found again every
// few seconds; a node once seen stays shown, so one cut off by a partition does not vanish).
function networkNodes() {
  const q = new URLSearchParams(location.search).get('nodes');
  if (q === null) return { nodes: [{ name: location.host, base: '' }], fixed: false, bad: [] };
  const nodes = [];
  const bad = [];
  for (const part of q.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!NODE.test(part)) bad.push(part);
    else nodes.push({ name: part, base: part === location.host ? '' : `http://${part}` });
  }
  return { nodes, fixed: true, bad };
}

async function networkPage(view) {
  const { nodes, fixed, bad } = networkNodes();
  const box = el('div', { id: 'network-view' });
  const help = el('p', { class: 'muted' }, 'Heights run left to right, one row per branch. Each node\'s tip carries its flag; ' +
    'the coloured lines under the blocks are the branch each node follows. Dashed blocks are stale (orphaned): no shown node follows them.');
  view.replaceChildren(section('Network', help, bad.length ? el('p', { class: 'error' }, `ignored bad entries in ?nodes= (want host:port): ${bad.join(', ')}`) : null, box));
  if (!nodes.length) {
    box.append(el('p', { class: 'error' }, 'no valid node in ?nodes='));
    return () => {};
  }
  const discover = fixed ? null : async () => (await api.call('getpeerinfo'))
    .filter((p) => p.api_address).map((p) => ({ name: p.api_address, base: `http://${p.api_address}` }));
  const nv = new NetworkView(box, nodes, discover);
  nv.start();
  const onEvent = (e) => { if (e.type === 'event') nv.poke(); };
  live.listeners.add(onEvent);
  return () => {
    nv.stop();
    live.listeners.delete(onEvent);
  };
}

// --- search and routing -----------------------------------------------------------------------
async function search(q) {
  q = q.trim();
  if (!q) return;
  if (HEIGHT.test(q)) return void (location.hash = `#/block/${q}`);
  if (HEX64.test(q.toLowerCase())) {
    q = q.toLowerCase();
    const [b, t] = await api.batch([['getblock', [q, false]], ['gettransaction', [q]]]);
    if (!(b instanceof Error)) return void (location.hash = `#/block/${q}`);
    if (!(t instanceof Error)) return void (location.hash = `#/tx/${q}`);
    return banner(`no block or transaction ${q} on this node`);
  }
  try {
    await api.call('getaccount', [q]);
    location.hash = `#/account/${q}`;
  } catch (e) {
    banner(`not a height, block id, transaction id or valid address: ${q}`);
  }
}

let leave = () => {};
async function route() {
  leave();
  leave = () => {};
  banner('');
  const view = $('#view');
  const [, page, arg] = (location.hash || '#/').slice(1).split('/');
  document.body.dataset.page = page || 'overview';
  try {
    if (!page) leave = (await overview(view)) || leave;
    else if (page === 'network') leave = (await networkPage(view)) || leave;
    else if (page === 'block' && arg) await blockPage(view, decodeURIComponent(arg));
    else if (page === 'tx' && arg) await txPage(view, decodeURIComponent(arg));
    else if (page === 'account' && arg) await accountPage(view, decodeURIComponent(arg));
    else view.replaceChildren(el('p', { class: 'error' }, `unknown page: ${location.hash}`));
  } catch (e) {
    view.replaceChildren(el('p', { class: 'error', id: 'error' }, e instanceof RpcError ? e.message : `error: ${e.message || e}`));
  }
}

$('#search').addEventListener('submit', (e) => {
  e.preventDefault();
  search($('#search-input').value).catch((err) => banner(String(err.message || err)));
});
window.addEventListener('hashchange', route);
refreshHeader();
startLive();
route();
