#include "sim/network.h"

#include <algorithm>
#include <deque>

#include "net/handshake.h"
#include "net/messages.h"

namespace peerchain::sim {

// One held item of a cut or clogged direction: bytes, or the end of the stream.
struct Held {
  util::Bytes bytes;
  bool fin = false;
  std::string reason;
};

struct Network::Conn {
  uint64_t id = 0;
  int node[2] = {-1, -1};  // side 0 dialled, side 1 accepted
  SimTransport::Endpoint* end[2] = {nullptr, nullptr};  // null once that side is gone
  Owner owner[2];
  Micros last_arrival[2] = {0, 0};  // per direction, from side s
  std::deque<Held> held[2];         // per direction, from side s
  bool fin_sent[2] = {false, false};
};

struct SimTransport::Endpoint {
  Network::Conn* conn = nullptr;
  int side = 0;
  bool inbound = false;
  int remote_node = -1;
  net::PeerId id = 0;
  std::unique_ptr<Host> host;
  std::unique_ptr<net::PeerSession> session;
  bool started = false;
  bool established = false;
  bool finished = false;
  EventLoop::EventId timer = 0;
  int64_t timer_at = INT64_MAX;
  std::string address;
  net::Hello remote;
  int64_t connected_at_ms = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
};

class SimTransport::Host final : public net::SessionHost {
 public:
  Host(SimTransport& t, Endpoint& e) : t_(t), e_(e) {}
  net::Hello local_hello() const override { return t_.hello_; }
  util::Status on_hello(const net::Hello& remote) override {
    if (t_.stopped_) return util::fail("shutdown");
    return net::check_hello(t_.hello_, remote);
  }
  bool on_established(const net::Hello& remote) override {
    if (t_.stopped_) return false;
    e_.established = true;
    e_.remote = remote;
    e_.connected_at_ms = t_.clock_.now_ms();
    if (!e_.inbound)
      if (auto it = t_.persistent_.find(e_.remote_node); it != t_.persistent_.end()) it->second.failures = 0;
    if (t_.events_.on_connected) t_.events_.on_connected(t_.info(e_));
    return !t_.stopped_;
  }
  void on_message(uint16_t type, util::Bytes payload) override {
    t_.net_.trace_.emit(t_.net_.loop_.now(), TraceEvent("msg_delivered").num("from", e_.remote_node).num("to", t_.node_)
                                                  .num("type", type).num("bytes", static_cast<int64_t>(payload.size())));
    if (t_.events_.on_message) t_.events_.on_message(e_.id, type, std::move(payload));
  }
  std::vector<net::NetAddress> on_getaddr() override { return {}; }
  void on_addr(const std::vector<net::NetAddress>&) override {}

 private:
  SimTransport& t_;
  Endpoint& e_;
};

// ---- Network ----

Network::Network(EventLoop& loop, Trace& trace, std::mt19937_64& rng, size_t nodes, const LinkConditions& defaults)
    : loop_(loop),
      trace_(trace),
      rng_(rng),
      n_(nodes),
      links_(nodes * nodes, defaults),
      cut_(nodes * nodes, false),
      clogged_until_(nodes * nodes, 0),
      transports_(nodes, nullptr) {}

std::string Network::host_of(int node) { return "10.0." + std::to_string((node + 1) / 256) + "." + std::to_string((node + 1) % 256); }

std::optional<int> Network::node_of(const std::string& host) {
  unsigned a, b, c, d;
  char tail;
  if (std::sscanf(host.c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4 || a != 10 || b != 0) return std::nullopt;
  int n = static_cast<int>(c * 256 + d) - 1;
  if (n < 0) return std::nullopt;
  return n;
}

void Network::set_all_links(const LinkConditions& c) { std::fill(links_.begin(), links_.end(), c); }

void Network::set_cut(int from, int to, bool cut) {
  cut_[from * n_ + to] = cut;
  if (!cut) deliver_held(from, to);
}

void Network::heal_all() {
  std::fill(clogged_until_.begin(), clogged_until_.end(), 0);
  for (size_t a = 0; a < n_; ++a)
    for (size_t b = 0; b < n_; ++b)
      if (cut_[a * n_ + b]) set_cut(static_cast<int>(a), static_cast<int>(b), false);
}

void Network::clog(int from, int to, Micros until) {
  clogged_until_[from * n_ + to] = std::max(clogged_until_[from * n_ + to], until);
  loop_.at(until, Owner{}, [this, from, to] {
    if (loop_.now() >= clogged_until_[from * n_ + to]) deliver_held(from, to);
  });
}

void Network::reset_links(int a, int b) {
  std::vector<Conn*> hit;
  for (auto& [id, c] : conns_)
    if ((c->node[0] == a && c->node[1] == b) || (c->node[0] == b && c->node[1] == a)) hit.push_back(c.get());
  for (Conn* c : hit)
    for (int s = 0; s < 2; ++s) {
      if (!c->end[s]) continue;
      const uint64_t cid = c->id;
      loop_.at(loop_.now(), c->owner[s], [this, cid, s] {
        auto it = conns_.find(cid);
        if (it == conns_.end() || !it->second->end[s]) return;
        transports_[it->second->node[s]]->on_stream_closed(it->second->end[s], "read-error: Connection reset by peer");
      });
    }
}

Micros Network::arrival(int from, int to, size_t bytes, Micros& last) {
  const LinkConditions& l = link(from, to);
  Micros t = loop_.now() + l.latency;
  if (l.jitter > 0) t += static_cast<Micros>(rng_() % static_cast<uint64_t>(l.jitter + 1));
  Micros serial = l.bytes_per_second > 0 ? static_cast<Micros>(static_cast<double>(bytes) * 1e6 / l.bytes_per_second) : 0;
  t = std::max(t + serial, last + serial);
  last = t;
  return t;
}

void Network::attach(int node, SimTransport* t) { transports_[node] = t; }

void Network::detach(int node, Departure how) {
  transports_[node] = nullptr;
  std::vector<Conn*> mine;
  for (auto& [id, c] : conns_)
    for (int s = 0; s < 2; ++s)
      if (c->node[s] == node && c->end[s]) mine.push_back(c.get());
  for (Conn* c : mine) {
    const int s = c->node[0] == node && c->end[0] ? 0 : 1;
    c->end[s] = nullptr;
    c->held[s].clear();
    if (how == Departure::kPowerCut) continue;  // silence: the peer finds out by its timeouts
    Held fin;
    fin.fin = true;
    fin.reason = how == Departure::kKill ? "read-error: Connection reset by peer" : "closed-by-peer";
    const int to = c->node[1 - s];
    if (cut(node, to) || loop_.now() < clogged_until_[node * n_ + to]) {
      c->held[s].push_back(std::move(fin));
      continue;
    }
    const uint64_t cid = c->id;
    Micros t = arrival(node, to, 0, c->last_arrival[s]);
    loop_.at(t, c->owner[1 - s], [this, cid, s, reason = fin.reason] {
      auto it = conns_.find(cid);
      if (it == conns_.end() || !it->second->end[1 - s]) return;
      transports_[it->second->node[1 - s]]->on_stream_closed(it->second->end[1 - s], reason);
    });
  }
  for (auto it = conns_.begin(); it != conns_.end();)
    it = !it->second->end[0] && !it->second->end[1] && it->second->held[0].empty() && it->second->held[1].empty()
             ? conns_.erase(it)
             : std::next(it);
}

void Network::dial(SimTransport* from, int to) {
  const int me = from->node_;
  const Owner dialer = owner_of(me);
  const Micros timeout = from->opts_.handshake_timeout_ms * kMs;
  auto fail = [this, me, to, dialer](Micros when, std::string reason) {
    loop_.at(when, dialer, [this, me, to, reason = std::move(reason)] {
      if (auto* t = transports_[me]) t->on_dial_failed(to, reason);
    });
  };
  if (to < 0 || static_cast<size_t>(to) >= n_) return fail(loop_.now(), "connect-failed: no such host");
  if (cut(me, to) || cut(to, me)) return fail(loop_.now() + timeout, "timeout: connect");
  SimTransport* target = transports_[to];
  const Micros rtt = link(me, to).latency + link(to, me).latency;
  if (!target) {
    if (down_silent_.count(to)) return fail(loop_.now() + timeout, "timeout: connect");
    return fail(loop_.now() + rtt, "connect-failed: Connection refused");
  }
  // SYN reaches the listener: its kernel accepts; the node sees the connection when it runs.
  const Owner listener = owner_of(to);
  loop_.at(loop_.now() + link(me, to).latency, listener, [this, me, to, dialer, listener, fail] {
    SimTransport* t = transports_[to];
    if (!t) return fail(loop_.now() + link(to, me).latency, "connect-failed: Connection refused");
    auto c = std::make_shared<Conn>();
    c->id = ++next_conn_;
    c->node[0] = me;
    c->node[1] = to;
    c->owner[0] = dialer;
    c->owner[1] = listener;
    c->last_arrival[0] = c->last_arrival[1] = loop_.now();
    Conn* conn = c.get();
    conns_[c->id] = std::move(c);
    conn->end[1] = t->open_endpoint(conn, 1, true, me);
    const uint64_t cid = conn->id;
    // SYN-ACK back: the dialer's connect completes.
    loop_.at(loop_.now() + link(to, me).latency, dialer, [this, cid, me, to] {
      auto it = conns_.find(cid);
      SimTransport* d = transports_[me];
      if (it == conns_.end() || !d) return;
      it->second->end[0] = d->open_endpoint(it->second.get(), 0, false, to);
    });
  });
}

void Network::write(Conn* c, int side, std::vector<net::SharedFrame> frames) {
  util::Bytes bytes;
  for (const auto& f : frames) bytes.insert(bytes.end(), f->begin(), f->end());
  if (bytes.empty()) return;
  const int from = c->node[side], to = c->node[1 - side];
  if (cut(from, to) || loop_.now() < clogged_until_[from * n_ + to] || !c->held[side].empty()) {
    c->held[side].push_back(Held{std::move(bytes), false, {}});
    return;
  }
  const uint64_t cid = c->id;
  Micros t = arrival(from, to, bytes.size(), c->last_arrival[side]);
  // Sometimes split, so that the receiving session sees frames cut at any point.
  std::vector<util::Bytes> chunks;
  if (bytes.size() > 1 && rng_() % 4 == 0) {
    size_t cut_at = 1 + rng_() % (bytes.size() - 1);
    chunks.emplace_back(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut_at));
    chunks.emplace_back(bytes.begin() + static_cast<std::ptrdiff_t>(cut_at), bytes.end());
  } else {
    chunks.push_back(std::move(bytes));
  }
  for (auto& chunk : chunks)
    loop_.at(t, c->owner[1 - side], [this, cid, side, from, to, chunk = std::move(chunk)]() mutable {
      auto it = conns_.find(cid);
      if (it == conns_.end() || !it->second->end[1 - side]) {
        trace_.emit(loop_.now(), TraceEvent("bytes_dropped").num("from", from).num("to", to)
                                     .num("bytes", static_cast<int64_t>(chunk.size())));
        return;
      }
      bytes_delivered_ += chunk.size();
      transports_[it->second->node[1 - side]]->on_bytes(it->second->end[1 - side], std::move(chunk));
    });
}

void Network::close_stream(Conn* c, int side, const std::string& reason) {
  if (c->fin_sent[side]) return;
  c->fin_sent[side] = true;
  c->end[side] = nullptr;
  const int from = c->node[side], to = c->node[1 - side];
  (void)reason;
  Held fin{{}, true, "closed-by-peer"};
  if (cut(from, to) || loop_.now() < clogged_until_[from * n_ + to] || !c->held[side].empty()) {
    c->held[side].push_back(std::move(fin));
    return;
  }
  const uint64_t cid = c->id;
  Micros t = arrival(from, to, 0, c->last_arrival[side]);
  loop_.at(t, c->owner[1 - side], [this, cid, side] {
    auto it = conns_.find(cid);
    if (it == conns_.end()) return;
    if (it->second->end[1 - side])
      transports_[it->second->node[1 - side]]->on_stream_closed(it->second->end[1 - side], "closed-by-peer");
    forget(it->second.get());
  });
}

void Network::forget(Conn* c) {
  if (c->end[0] || c->end[1] || !c->held[0].empty() || !c->held[1].empty()) return;
  conns_.erase(c->id);
}

void Network::deliver_held(int from, int to) {
  if (cut(from, to) || loop_.now() < clogged_until_[from * n_ + to]) return;
  std::vector<Conn*> hit;
  for (auto& [id, c] : conns_)
    for (int s = 0; s < 2; ++s)
      if (c->node[s] == from && c->node[1 - s] == to && !c->held[s].empty()) hit.push_back(c.get());
  for (Conn* c : hit) {
    const int s = c->node[0] == from && !c->held[0].empty() ? 0 : 1;
    const uint64_t cid = c->id;
    std::deque<Held> items = std::move(c->held[s]);
    c->held[s].clear();
    for (auto& h : items) {
      Micros t = arrival(from, to, h.bytes.size(), c->last_arrival[s]);
      loop_.at(t, c->owner[1 - s], [this, cid, s, h = std::move(h)]() mutable {
        auto it = conns_.find(cid);
        if (it == conns_.end()) return;
        Conn* conn = it->second.get();
        SimTransport::Endpoint* e = conn->end[1 - s];
        if (e) {
          SimTransport* tr = transports_[conn->node[1 - s]];
          if (h.fin) {
            tr->on_stream_closed(e, h.reason);
          } else {
            bytes_delivered_ += h.bytes.size();
            tr->on_bytes(e, std::move(h.bytes));
          }
        }
        if (h.fin) forget(conn);
      });
    }
  }
}

// ---- SimTransport ----

SimTransport::SimTransport(Network& net, int node, net::NetOptions opts, net::NetEvents events,
                           const util::Clock& clock, std::function<uint64_t()> random)
    : net_(net), node_(node), opts_(std::move(opts)), events_(std::move(events)), clock_(clock), random_(std::move(random)) {
  auto cfg = std::make_shared<net::SessionConfig>();
  cfg->magic = opts_.magic;
  cfg->limits = opts_.limits;
  for (const auto& [type, cap] : net::net_message_limits().entries()) cfg->limits.set(type, cap);
  cfg->max_send_queue_bytes = opts_.max_send_queue_bytes;
  cfg->handshake_timeout_ms = opts_.handshake_timeout_ms;
  cfg->idle_timeout_ms = opts_.idle_timeout_ms;
  cfg->ping_interval_ms = opts_.ping_interval_ms;
  cfg->linger_ms = std::min<int64_t>(500, opts_.handshake_timeout_ms);
  cfg->low_priority_types = opts_.low_priority_types;
  // Links are encrypted as in the real world; the node's identity (and every ephemeral key,
  // from random_) is seeded, so runs stay deterministic.
  cfg->encrypt = opts_.encrypt;
  cfg->identity = opts_.identity;
  cfg_ = std::move(cfg);
  hello_ = opts_.local_hello_template;
  hello_.magic = opts_.magic;
  hello_.listen_port = Network::kPort;
  while (hello_.node_nonce == 0) hello_.node_nonce = random_();
}

SimTransport::~SimTransport() { stop(); }

int64_t SimTransport::now_ms() const { return net_.loop_.now() / kMs; }

void SimTransport::post(std::function<void()> fn) { net_.loop_.after(0, net_.owner_of(node_), std::move(fn)); }

util::Status SimTransport::start() {
  if (started_) return util::fail("bad-state", "started twice");
  started_ = true;
  net_.down_silent_.erase(node_);
  net_.attach(node_, this);
  return {};
}

void SimTransport::stop() {
  if (stopped_ || !started_) {
    stopped_ = true;
    return;
  }
  stopped_ = true;
  for (auto& [to, t] : persistent_) net_.loop_.cancel(t.redial);
  for (auto& [id, e] : endpoints_) net_.loop_.cancel(e->timer);
  if (departure_ == Departure::kPowerCut) net_.down_silent_.insert(node_);
  net_.detach(node_, departure_);
  endpoints_.clear();
}

SimTransport::Endpoint* SimTransport::open_endpoint(Network::Conn* c, int side, bool inbound, int remote_node) {
  auto e = std::make_unique<Endpoint>();
  e->conn = c;
  e->side = side;
  e->inbound = inbound;
  e->remote_node = remote_node;
  e->id = ++next_peer_;
  e->address = net::format_host_port(Network::host_of(remote_node),
                                     inbound ? static_cast<uint16_t>(40000 + c->id % 20000) : Network::kPort);
  e->host = std::make_unique<Host>(*this, *e);
  e->session = std::make_unique<net::PeerSession>(cfg_, *e->host, inbound, random_);
  Endpoint* raw = e.get();
  endpoints_[e->id] = std::move(e);
  if (inbound && is_banned(Network::host_of(remote_node))) {
    raw->started = true;
    raw->session->start(now_ms());
    raw->session->close("banned", true, now_ms());
    pump(raw);
    return raw->finished ? nullptr : raw;
  }
  if (!inbound) {
    if (auto t = persistent_.find(remote_node); t != persistent_.end()) {
      t->second.connected = true;
      t->second.dialling = false;
    }
    raw->started = true;
    raw->session->start(now_ms());
    pump(raw);
  } else {
    // The inbound side speaks once the dialler's first bytes (the magic) arrived; until then only
    // the deadline for them runs.
    raw->timer_at = now_ms() + opts_.handshake_timeout_ms;
    raw->timer = net_.loop_.at(raw->timer_at * kMs, net_.owner_of(node_), [this, id = raw->id] {
      auto it = endpoints_.find(id);
      if (it == endpoints_.end() || it->second->started || it->second->finished) return;
      finish(it->second.get(), "timeout: first bytes");
    });
  }
  return raw->finished ? nullptr : raw;
}

void SimTransport::on_bytes(Endpoint* e, util::Bytes bytes) {
  if (e->finished || stopped_) return;
  e->bytes_received += bytes.size();
  if (!e->started) {
    e->started = true;
    net_.loop_.cancel(e->timer);
    e->timer = 0;
    e->timer_at = INT64_MAX;
    e->session->start(now_ms());
  }
  e->session->on_bytes(bytes, now_ms());
  pump(e);
}

void SimTransport::on_stream_closed(Endpoint* e, const std::string& reason) {
  if (e->finished || stopped_) return;
  e->session->on_stream_closed(reason);
  pump(e);
  if (!e->finished) finish(e, e->session->close_reason().empty() ? reason : e->session->close_reason());
}

void SimTransport::pump(Endpoint* e) {
  if (e->finished) return;
  // Written at once: the link's latency and bandwidth delay their arrival (no socket buffer
  // pushes back, so a session's send queue never fills here).
  for (auto frames = e->session->take_writes(); !frames.empty(); frames = e->session->take_writes()) {
    size_t n = 0;
    for (const auto& f : frames) n += f->size();
    e->bytes_sent += n;
    e->session->on_written(n);
    net_.write(e->conn, e->side, std::move(frames));
  }
  const auto state = e->session->state();
  if (state == net::PeerSession::State::kClosed ||
      (state == net::PeerSession::State::kClosing && e->session->queued_bytes() == 0)) {
    finish(e, e->session->close_reason());
    return;
  }
  const int64_t d = e->session->deadline_ms();
  if (d != e->timer_at) {
    net_.loop_.cancel(e->timer);
    e->timer = 0;
    e->timer_at = d;
    if (d != INT64_MAX)
      e->timer = net_.loop_.at(d * kMs, net_.owner_of(node_), [this, id = e->id] {
        auto it = endpoints_.find(id);
        if (it == endpoints_.end() || it->second->finished) return;
        Endpoint* ep = it->second.get();
        ep->timer = 0;
        ep->timer_at = INT64_MAX;
        ep->session->on_timer(now_ms());
        pump(ep);
      });
  }
}

void SimTransport::finish(Endpoint* e, const std::string& reason) {
  if (e->finished) return;
  e->finished = true;
  net_.loop_.cancel(e->timer);
  e->timer = 0;
  net_.close_stream(e->conn, e->side, reason);
  const bool was_established = e->established;
  const net::PeerId id = e->id;
  if (!e->inbound)
    if (auto it = persistent_.find(e->remote_node); it != persistent_.end()) {
      it->second.connected = false;
      if (!stopped_) schedule_redial(e->remote_node);
    }
  if (was_established) {
    if (events_.on_disconnected) events_.on_disconnected(id, reason);
  } else if (events_.on_connection_failed) {
    events_.on_connection_failed(e->address, e->inbound, reason);
  }
  post([this, id] { endpoints_.erase(id); });
}

void SimTransport::add_persistent_peer(const std::string& host, uint16_t) {
  auto to = Network::node_of(host);
  if (!to || *to == node_) return;
  auto& t = persistent_[*to];
  if (t.connected || t.dialling) return;
  t.dialling = true;
  post([this, to = *to] {
    auto it = persistent_.find(to);
    if (it == persistent_.end() || stopped_) return;
    net_.dial(this, to);
  });
}

void SimTransport::remove_persistent_peer(const std::string& host, uint16_t) {
  auto to = Network::node_of(host);
  if (!to) return;
  auto it = persistent_.find(*to);
  if (it == persistent_.end()) return;
  net_.loop_.cancel(it->second.redial);
  persistent_.erase(it);
}

void SimTransport::on_dial_failed(int to, const std::string& reason) {
  if (events_.on_connection_failed)
    events_.on_connection_failed(net::format_host_port(Network::host_of(to), Network::kPort), false, reason);
  auto it = persistent_.find(to);
  if (it == persistent_.end()) return;
  it->second.dialling = false;
  schedule_redial(to);
}

void SimTransport::schedule_redial(int to) {
  auto it = persistent_.find(to);
  if (it == persistent_.end() || stopped_) return;
  Target& t = it->second;
  t.dialling = false;
  t.failures = std::min(t.failures + 1, 16);
  int64_t delay = opts_.redial_min_ms << std::min(t.failures - 1, 10);
  delay = std::min<int64_t>(delay, opts_.redial_max_ms);
  delay = delay / 2 + static_cast<int64_t>(random_() % static_cast<uint64_t>(delay / 2 + 1));
  net_.loop_.cancel(t.redial);
  t.redial = net_.loop_.after(delay * kMs, net_.owner_of(node_), [this, to] {
    auto i = persistent_.find(to);
    if (i == persistent_.end() || stopped_ || i->second.connected || i->second.dialling) return;
    i->second.redial = 0;
    for (const auto& [id, e] : endpoints_)
      if (!e->inbound && e->remote_node == to && !e->finished) return;  // still open
    i->second.dialling = true;
    net_.dial(this, to);
  });
}

bool SimTransport::send(net::PeerId peer, uint16_t type, util::Bytes payload) {
  if (stopped_ || type < net::msg::kFirstNodeType) return false;
  auto cap = opts_.limits.max_payload(type);
  if (!cap || payload.size() > *cap) return false;
  auto it = endpoints_.find(peer);
  if (it == endpoints_.end() || !it->second->established || it->second->finished) return false;
  net_.trace_.emit(net_.loop_.now(), TraceEvent("msg_sent").num("from", node_).num("to", it->second->remote_node)
                                        .num("type", type).num("bytes", static_cast<int64_t>(payload.size())));
  auto frame = std::make_shared<const util::Bytes>(net::encode_frame(opts_.magic, type, payload));
  // The session is driven from the event queue only (as Asio's strand does for a socket), so a
  // send made from inside one of its callbacks runs after it.
  post([this, peer, frame = std::move(frame)]() mutable {
    auto e = endpoints_.find(peer);
    if (e == endpoints_.end() || e->second->finished) return;
    e->second->session->send(std::move(frame), now_ms());
    pump(e->second.get());
  });
  return true;
}

size_t SimTransport::queued_bytes(net::PeerId peer) const {
  auto it = endpoints_.find(peer);
  return it == endpoints_.end() ? 0 : it->second->session->queued_bytes();
}

void SimTransport::broadcast(uint16_t type, const util::Bytes& payload, std::optional<net::PeerId> except) {
  std::vector<net::PeerId> ids;
  for (const auto& [id, e] : endpoints_)
    if (e->established && !e->finished && (!except || *except != id)) ids.push_back(id);
  for (auto id : ids) send(id, type, payload);
}

void SimTransport::disconnect(net::PeerId peer, const std::string& reason) {
  post([this, peer, reason] {
    auto e = endpoints_.find(peer);
    if (e == endpoints_.end() || e->second->finished) return;
    e->second->session->close(reason, true, now_ms());
    pump(e->second.get());
  });
}

void SimTransport::ban(const std::string& host, int64_t duration_ms, const std::string& reason) {
  bans_[host] = clock_.now_ms() + duration_ms;
  ++bans_made_;
  for (const auto& [id, e] : endpoints_)
    if (Network::host_of(e->remote_node) == host) disconnect(id, "banned: " + reason);
}

bool SimTransport::is_banned(const std::string& host) const {
  auto it = bans_.find(host);
  return it != bans_.end() && it->second > clock_.now_ms();
}

std::vector<net::PeerInfo> SimTransport::peers() const {
  std::vector<net::PeerInfo> out;
  for (const auto& [id, e] : endpoints_)
    if (e->established && !e->finished) out.push_back(info(*e));
  return out;
}

net::PeerInfo SimTransport::info(const Endpoint& e) const {
  net::PeerInfo p;
  p.id = e.id;
  p.address = e.address;
  p.inbound = e.inbound;
  p.hello = e.remote;
  p.connected_at_ms = e.connected_at_ms;
  p.bytes_sent = e.bytes_sent;
  p.bytes_received = e.bytes_received;
  p.last_ping_rtt_ms = e.session->last_ping_rtt_ms();
  p.node_id = e.session->remote_node_id();
  return p;
}

std::vector<std::string> SimTransport::known_addresses() const { return {}; }

net::NetStats SimTransport::stats() const {
  net::NetStats s;
  for (const auto& [id, e] : endpoints_) {
    if (e->finished) continue;
    ++s.connections;
    if (!e->established) continue;
    ++s.peers;
    ++(e->inbound ? s.inbound_peers : s.outbound_peers);
  }
  s.persistent_peers = persistent_.size();
  for (const auto& [h, until] : bans_) s.bans += until > clock_.now_ms();
  return s;
}

}  // namespace peerchain::sim
