// web/api.js — JSON-RPC over fetch to this node ('' base) or another node ('http://host:port',
// answered with CORS for the public methods), and a reconnecting WebSocket event stream.

export class RpcError extends Error {
  constructor(error) {
    super(`${error.message} (code ${error.code})`);
    this.code = error.code;
  }
}

let nextId = 1;

export class Api {
  constructor(base = '', timeoutMs = 4000) {
    this.base = base;
    this.timeoutMs = timeoutMs;
  }

  async post(payload) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), this.timeoutMs);
    try {
      const r = await fetch(this.base + '/', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(payload),
        signal: ctl.signal,
        cache: 'no-store',
      });
      return await r.json();
    } finally {
      clearTimeout(timer);
    }
  }

  async call(method, params = []) {
    const res = await this.post({ jsonrpc: '2.0', id: nextId++, method, params });
    if (res.error) throw new RpcError(res.error);
    return res.result;
  }

  // calls: [[method, params], ...] -> results in order; an error becomes an RpcError value.
  async batch(calls) {
    if (!calls.length) return [];
    const first = nextId;
    const payload = calls.map(([method, params]) => ({ jsonrpc: '2.0', id: nextId++, method, params: params || [] }));
    const res = await this.post(payload);
    if (!Array.isArray(res)) throw new RpcError(res.error || { code: -32603, message: 'bad batch answer' });
    const byId = new Map(res.map((r) => [r.id, r]));
    return payload.map((p, i) => {
      const r = byId.get(first + i);
      if (!r) return new RpcError({ code: -32603, message: 'no answer' });
      return r.error ? new RpcError(r.error) : r.result;
    });
  }
}

// Follows GET /ws (?topics=..., e.g. 'block,reorg'; all when omitted), reconnecting with a
// capped backoff. onEvent(obj), onState('open'|'closed').
export function subscribe(base, onEvent, onState, topics = '') {
  let delay = 500;
  let ws = null;
  let stopped = false;
  const url = (base ? base.replace(/^http/, 'ws') : `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`) + '/ws';
  const open = () => {
    if (stopped) return;
    ws = new WebSocket(topics ? `${url}?topics=${topics}` : url);
    ws.onopen = () => {
      delay = 500;
      onState('open');
    };
    ws.onmessage = (m) => {
      try {
        onEvent(JSON.parse(m.data));
      } catch (e) {
        console.warn('bad event', e);
      }
    };
    ws.onclose = () => {
      onState('closed');
      if (!stopped) setTimeout(open, delay);
      delay = Math.min(delay * 2, 5000);
    };
  };
  open();
  return () => {
    stopped = true;
    if (ws) ws.close();
  };
}
