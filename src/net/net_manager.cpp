#include "net/net_manager.h"

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "crypto/random.h"
#include "net/address_book.h"
#include "net/backoff.h"
#include "net/connection.h"
#include "util/log.h"
#include "util/thread_name.h"

namespace peerchain::net {

namespace {

int64_t steady_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

// Canonical text of an IP literal ("::ffff:1.2.3.4" -> "1.2.3.4"); anything else as given,
// lower-cased (host names).
std::string canonical_host(const std::string& host) {
  if (auto a = NetAddress::from_ip(host, 0)) return a->host();
  std::string out = host;
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

util::Status check_options(const NetOptions& o) {
  auto bad = [](std::string m) { return util::fail("bad-options", std::move(m)); };
  if (o.threads < 1 || o.threads > 64) return bad("threads must be 1..64");
  uint32_t largest = 0;
  for (const auto& [type, cap] : o.limits.entries()) {
    if (type < msg::kFirstNodeType)
      return bad("message type " + std::to_string(type) + " is reserved for net");
    if (cap > kMaxFramePayload) return bad("cap of type " + std::to_string(type) + " is above 32 MiB");
    largest = std::max(largest, cap);
  }
  if (o.max_send_queue_bytes < kFrameHeaderSize + std::max<size_t>(largest, kMaxAddrPayload))
    return bad("max_send_queue_bytes must hold the largest frame");
  if (o.handshake_timeout_ms <= 0 || o.idle_timeout_ms <= 0 || o.ping_interval_ms <= 0)
    return bad("timeouts and the ping interval must be positive");
  if (o.max_inbound_per_address < 1) return bad("max_inbound_per_address must be at least 1");
  if (o.redial_min_ms <= 0 || o.redial_max_ms < o.redial_min_ms)
    return bad("need 0 < redial_min_ms <= redial_max_ms");
  if (!o.encrypt && o.allow_list) return bad("an allow-list needs encrypted links");
  if (o.listen_port && !NetAddress::from_ip(o.listen_host, 0))
    return bad("listen_host must be an IP literal");
  if (o.local_hello_template.user_agent.size() > kMaxUserAgentLength ||
      !is_printable_ascii(o.local_hello_template.user_agent))
    return bad("user_agent must be <= 64 printable ASCII bytes");
  return {};
}

}  // namespace

class NetManager::Impl final : public ConnectionHost {
 public:
  Impl(NetOptions opts, NetEvents events, const util::Clock& clock);
  ~Impl() override { stop(); }

  util::Status start();
  void stop();
  void add_persistent_peer(const std::string& host, uint16_t port, std::optional<NodeId> pin = std::nullopt);
  std::optional<NodeId> node_id() const {
    return opts_.encrypt ? std::optional<NodeId>(cfg_->identity->id()) : std::nullopt;
  }
  void remove_persistent_peer(const std::string& host, uint16_t port);
  bool send(PeerId peer, uint16_t type, const Bytes& payload);
  size_t queued_bytes(PeerId peer) const;
  void resume_reading(PeerId peer);
  void broadcast(uint16_t type, const Bytes& payload, std::optional<PeerId> except);
  void disconnect(PeerId peer, const std::string& reason);
  void ban(const std::string& host, int64_t duration_ms, const std::string& reason);
  bool is_banned(const std::string& host) const;
  std::vector<PeerInfo> peers() const;
  std::vector<std::string> known_addresses() const;
  NetStats stats() const;
  uint16_t listen_port() const { return bound_port_.load(); }
  uint64_t node_nonce() const { return hello_base_.node_nonce; }
  void set_best_height(uint32_t h) { best_height_.store(h); }

  // ConnectionHost (called on connection strands).
  Hello local_hello() const override;
  util::Status on_peer_detected(Connection& c) override;
  void on_foreign(Connection& c, tcp::socket socket, Bytes already_read) override;
  util::Status on_socket_connected(Connection& c, const tcp::endpoint& remote) override;
  util::Status on_hello(Connection& c, const Hello& remote) override;
  util::Status on_authenticated(Connection& c, const NodeId& remote) override;
  bool on_established(Connection& c, const Hello& remote, const std::string& address) override;
  void on_message(Connection& c, uint16_t type, Bytes payload) override;
  bool hold_reading(Connection& c) override;
  std::vector<NetAddress> on_getaddr(Connection& c) override;
  void on_addr(Connection& c, const std::vector<NetAddress>& addrs) override;
  void on_closed(Connection& c, const std::string& reason) override;

 private:
  struct Entry {
    ConnectionPtr conn;
    bool inbound = false;
    bool is_peer = false;                   // outbound, or inbound that sent the magic
    std::string dial_key;                   // outbound: key of persistent_ or a learned address's text
    std::optional<NetAddress> learned;      // outbound to an address book entry
    std::string remote_host;                // IP of the remote end, once known
    std::string address;                    // "host:port" for reports
    std::optional<NetAddress> listen_addr;  // where the peer accepts connections, once known
    std::optional<uint64_t> nonce;          // remote node nonce, once its hello passed
    std::optional<NodeId> node_id;          // remote node id, once its auth passed
    bool established = false;
    bool benign = false;  // refused as a duplicate: the dial target is not penalised
    PeerInfo info;        // once established (counters filled on demand)
  };
  struct DialTarget {
    std::string host;
    uint16_t port = 0;
    uint32_t failures = 0;
    int64_t next_dial_ms = 0;       // steady
    bool self = false;              // it is us: never dialled again
    std::string resolved_key;       // "ip:port" of the last TCP connection to it
    std::optional<uint64_t> nonce;  // node nonce last seen there
    std::optional<NodeId> pin;      // the node id it must prove (NODEID@HOST:PORT)
    std::optional<NodeId> seen_id;  // the node id last seen there
  };
  struct Ban {
    int64_t until_ms;  // util::Clock
    std::string reason;
  };

  void do_accept();
  void on_tick();
  void arm_tick();
  ConnectionPtr new_outbound_locked(const std::string& host, uint16_t port, const std::string& key,
                                    std::optional<NetAddress> learned);
  bool banned_locked(const std::string& host, int64_t wall_ms) const;
  bool looks_like_self(const NetAddress& a) const;
  void note_self_locked(const NetAddress& a);
  static std::string target_key(const std::string& host, uint16_t port);
  void run_thread();

  // Declared first so it is destroyed last: handlers it still holds own connections.
  asio::io_context io_;
  const NetOptions opts_;
  const NetEvents events_;
  const util::Clock& clock_;
  std::shared_ptr<const ConnectionConfig> cfg_;
  const Backoff backoff_;
  Hello hello_base_;  // written only by the constructor and start() (before the threads)
  std::atomic<uint32_t> best_height_;
  std::atomic<uint16_t> bound_port_{0};
  std::string listen_ip_;  // canonical

  // Owned by their strands.
  tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_;
  asio::steady_timer tick_timer_;
  const std::chrono::milliseconds tick_period_;

  // Lifecycle: start()/stop() callers.
  std::mutex lifecycle_mu_;
  bool started_ = false;  // guarded by lifecycle_mu_
  bool stopped_ = false;  // guarded by lifecycle_mu_
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  std::mutex running_mu_;
  std::condition_variable running_cv_;
  size_t running_ = 0;  // guarded by running_mu_

  // The registry. Never held while calling events_ or waiting on anything.
  mutable std::mutex mu_;
  bool stopping_ = false;                          // guarded by mu_
  PeerId next_id_ = 1;                             // guarded by mu_
  std::map<PeerId, Entry> conns_;                  // guarded by mu_
  std::unordered_map<uint64_t, PeerId> by_nonce_;  // guarded by mu_: hello passed, not closed
  std::map<std::string, DialTarget> persistent_;   // guarded by mu_
  AddressBook book_;                               // guarded by mu_
  std::map<std::string, Ban> bans_;                // guarded by mu_
  std::set<NetAddress> self_addrs_;                // guarded by mu_; bounded by kMaxSelfAddrs

  static constexpr size_t kMaxSelfAddrs = 64;
  // Inbound connections not yet classified (peer or foreign); more are closed at accept.
  static constexpr size_t kMaxPendingInbound = 128;
};

NetManager::Impl::Impl(NetOptions opts, NetEvents events, const util::Clock& clock)
    : io_(static_cast<int>(opts.threads)),
      opts_(std::move(opts)),
      events_(std::move(events)),
      clock_(clock),
      backoff_{opts_.redial_min_ms, opts_.redial_max_ms},
      best_height_(opts_.local_hello_template.best_height),
      acceptor_(asio::make_strand(io_)),
      accept_retry_(acceptor_.get_executor()),
      tick_timer_(asio::make_strand(io_)),
      tick_period_(std::clamp<int64_t>(opts_.redial_min_ms / 2, 10, 250)),
      book_(opts_.max_known_addresses, backoff_) {
  auto cfg = std::make_shared<ConnectionConfig>();
  cfg->magic = opts_.magic;
  cfg->limits = opts_.limits;
  for (const auto& [type, cap] : net_message_limits().entries()) cfg->limits.set(type, cap);
  cfg->max_send_queue_bytes = opts_.max_send_queue_bytes;
  cfg->low_priority_types = opts_.low_priority_types;
  cfg->handshake_timeout_ms = opts_.handshake_timeout_ms;
  cfg->idle_timeout_ms = opts_.idle_timeout_ms;
  cfg->ping_interval_ms = opts_.ping_interval_ms;
  cfg->linger_ms = std::min<int64_t>(500, opts_.handshake_timeout_ms);
  cfg->encrypt = opts_.encrypt;
  cfg->identity = opts_.identity;
  if (!cfg->identity) {
    KeySeed seed;
    crypto::random_bytes(seed.data);
    cfg->identity = std::make_shared<const NodeIdentity>(NodeIdentity::from_seed(seed));
  }
  if (opts_.listen_port) {
    boost::system::error_code aec;
    auto a = asio::ip::make_address(opts_.listen_host, aec);
    if (!aec && !a.is_unspecified()) cfg->outbound_source = a;
  }
  cfg_ = std::move(cfg);

  hello_base_ = opts_.local_hello_template;
  hello_base_.magic = opts_.magic;
  while (hello_base_.node_nonce == 0) hello_base_.node_nonce = crypto::random_u64();
  if (opts_.listen_port) listen_ip_ = canonical_host(opts_.listen_host);
}

std::string NetManager::Impl::target_key(const std::string& host, uint16_t port) {
  if (auto a = NetAddress::from_ip(host, port)) return a->to_string();
  return format_host_port(canonical_host(host), port);
}

// ---- lifecycle -------------------------------------------------------------------------------

util::Status NetManager::Impl::start() {
  std::lock_guard lk(lifecycle_mu_);
  if (started_ || stopped_) return util::fail("bad-state", "a NetManager starts once");
  if (opts_.listen_port) {
    boost::system::error_code ec;
    tcp::endpoint ep(asio::ip::make_address(opts_.listen_host, ec), *opts_.listen_port);
    if (!ec) acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    tcp::endpoint local;
    if (!ec) local = acceptor_.local_endpoint(ec);
    if (ec) {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      return util::fail("listen-failed", "cannot listen on " +
                                             format_host_port(opts_.listen_host, *opts_.listen_port) + ": " +
                                             ec.message());
    }
    bound_port_.store(local.port());
    if (hello_base_.listen_port == 0) hello_base_.listen_port = local.port();
    util::log().info("net: listening on {}", format_host_port(opts_.listen_host, local.port()));
  }
  started_ = true;
  work_.emplace(io_.get_executor());
  if (opts_.listen_port) asio::post(acceptor_.get_executor(), [this] { do_accept(); });
  asio::post(tick_timer_.get_executor(), [this] { on_tick(); });
  {
    std::lock_guard rl(running_mu_);
    running_ = opts_.threads;
  }
  for (size_t i = 0; i < opts_.threads; ++i) {
    try {
      threads_.emplace_back([this] { run_thread(); });
    } catch (const std::system_error& e) {
      {
        std::lock_guard rl(running_mu_);
        running_ -= opts_.threads - i;
      }
      if (i == 0) {
        work_.reset();
        started_ = false;
        stopped_ = true;
        return util::fail("threads", std::string("cannot start a net thread: ") + e.what());
      }
      break;  // run with fewer threads
    }
  }
  return {};
}

void NetManager::Impl::run_thread() {
  util::set_thread_name("pc-net");
  for (;;) {
    try {
      io_.run();
      break;
    } catch (const std::exception& e) {
      util::log().error("net: a callback threw: {}", e.what());
    } catch (...) {
      util::log().error("net: a callback threw");
    }
  }
  std::lock_guard rl(running_mu_);
  --running_;
  running_cv_.notify_all();
}

void NetManager::Impl::stop() {
  std::lock_guard lk(lifecycle_mu_);
  if (stopped_ || !started_) {
    stopped_ = true;
    return;
  }
  stopped_ = true;
  std::vector<ConnectionPtr> all;
  {
    std::lock_guard g(mu_);
    stopping_ = true;
    for (auto& [id, e] : conns_) all.push_back(e.conn);
  }
  asio::post(acceptor_.get_executor(), [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    accept_retry_.cancel();
  });
  asio::post(tick_timer_.get_executor(), [this] { tick_timer_.cancel(); });
  for (auto& c : all) c->close("shutdown", true);
  work_.reset();
  // Every operation ends within the linger time; a socket handed to on_foreign_connection
  // and still in use could keep the context busy, so past a grace period it is stopped.
  {
    std::unique_lock rl(running_mu_);
    if (!running_cv_.wait_for(rl, std::chrono::milliseconds(cfg_->linger_ms) + std::chrono::seconds(2), [this] { return running_ == 0; })) {
      util::log().warn("net: stop: operations still pending, stopping the io_context");
      io_.stop();
    }
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
  util::log().info("net: stopped");
}

// ---- accepting and dialling ------------------------------------------------------------------

void NetManager::Impl::do_accept() {
  acceptor_.async_accept(asio::make_strand(io_),
                         [this](const boost::system::error_code& ec, tcp::socket socket) {
                           if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
                           if (ec) {
                             util::log().warn("net: accept failed: {}", ec.message());
                             accept_retry_.expires_after(std::chrono::milliseconds(100));
                             accept_retry_.async_wait([this](const boost::system::error_code& e) {
                               if (!e && acceptor_.is_open()) do_accept();
                             });
                             return;
                           }
                           ConnectionPtr conn;
                           {
                             std::lock_guard g(mu_);
                             size_t pending = 0;
                             for (const auto& [id, e] : conns_) pending += e.inbound && !e.is_peer;
                             if (!stopping_ && pending < kMaxPendingInbound) {
                               boost::system::error_code rec;
                               auto remote = socket.remote_endpoint(rec);
                               PeerId id = next_id_++;
                               conn = std::make_shared<Connection>(*this, cfg_, id, std::move(socket));
                               Entry e;
                               e.conn = conn;
                               e.inbound = true;
                               e.remote_host = rec ? "" : ip_string(remote.address());
                               e.address = rec ? "unknown" : endpoint_string(remote);
                               conns_.emplace(id, std::move(e));
                             }
                           }
                           if (conn)
                             conn->start();
                           else {
                             boost::system::error_code ignored;
                             socket.close(ignored);
                           }
                           do_accept();
                         });
}

ConnectionPtr NetManager::Impl::new_outbound_locked(const std::string& host, uint16_t port,
                                                    const std::string& key,
                                                    std::optional<NetAddress> learned) {
  PeerId id = next_id_++;
  auto conn = std::make_shared<Connection>(*this, cfg_, id, asio::make_strand(io_), host, port);
  Entry e;
  e.conn = conn;
  e.inbound = false;
  e.is_peer = true;
  e.dial_key = key;
  e.learned = learned;
  e.address = format_host_port(host, port);
  conns_.emplace(id, std::move(e));
  return conn;
}

bool NetManager::Impl::banned_locked(const std::string& host, int64_t wall_ms) const {
  auto it = bans_.find(host);
  return it != bans_.end() && it->second.until_ms > wall_ms;
}

bool NetManager::Impl::looks_like_self(const NetAddress& a) const {
  uint16_t port = bound_port_.load();
  if (port == 0 || a.port != port) return false;
  auto any = NetAddress::from_ip(listen_ip_, port);
  bool unspecified = any && (any->host() == "0.0.0.0" || any->host() == "::");
  if (!unspecified) return a.host() == listen_ip_;
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(a.host(), ec);
  return !ec && ip.is_loopback();
}

void NetManager::Impl::note_self_locked(const NetAddress& a) {
  book_.remove(a);
  if (self_addrs_.size() < kMaxSelfAddrs) self_addrs_.insert(a);
}

void NetManager::Impl::arm_tick() {
  tick_timer_.expires_after(tick_period_);
  tick_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) on_tick();
  });
}

// Runs on the tick strand: starts the dials that are due. Every decision is recomputed from
// the registry, so nothing is scheduled per address and nothing piles up while peers are down.
void NetManager::Impl::on_tick() {
  std::vector<ConnectionPtr> dials;
  {
    std::lock_guard g(mu_);
    if (stopping_) return;
    int64_t now = steady_ms();
    int64_t wall = clock_.now_ms();
    std::erase_if(bans_, [wall](const auto& kv) { return kv.second.until_ms <= wall; });

    std::set<std::string> busy;  // addresses with a connection or a pending dial
    size_t outbound = 0;
    for (const auto& [id, e] : conns_) {
      if (!e.dial_key.empty()) busy.insert(e.dial_key);
      if (e.listen_addr) busy.insert(e.listen_addr->to_string());
      outbound += !e.inbound;
    }
    std::set<std::string> persistent_keys;
    for (auto& [key, t] : persistent_) {
      persistent_keys.insert(key);
      if (!t.resolved_key.empty()) persistent_keys.insert(t.resolved_key);
      if (t.self || t.next_dial_ms > now || busy.count(key) || busy.count(t.resolved_key)) continue;
      if (t.nonce && by_nonce_.count(*t.nonce)) continue;  // connected to that node another way
      if (banned_locked(canonical_host(t.host), wall)) continue;
      dials.push_back(new_outbound_locked(t.host, t.port, key, std::nullopt));
      busy.insert(key);
      ++outbound;
    }
    if (outbound < opts_.max_outbound) {
      auto candidates = book_.dial_candidates(now, opts_.max_outbound - outbound, [&](const NetAddress& a) {
        auto k = a.to_string();
        return busy.count(k) || persistent_keys.count(k) || self_addrs_.count(a) || looks_like_self(a) ||
               banned_locked(a.host(), wall);
      });
      for (const auto& a : candidates)
        dials.push_back(new_outbound_locked(a.host(), a.port, a.to_string(), a));
    }
  }
  for (auto& c : dials) c->start();
  arm_tick();
}

void NetManager::Impl::add_persistent_peer(const std::string& host, uint16_t port, std::optional<NodeId> pin) {
  {
    std::lock_guard g(mu_);
    auto key = target_key(host, port);
    if (auto it = persistent_.find(key); it != persistent_.end()) {
      if (pin) it->second.pin = pin;  // a pin given later tightens an existing target
      return;
    }
    DialTarget t;
    t.host = host;
    t.port = port;
    t.pin = pin;
    persistent_.emplace(key, std::move(t));
  }
  // Dial now rather than at the next tick.
  asio::post(tick_timer_.get_executor(), [this] { on_tick(); });
}

void NetManager::Impl::remove_persistent_peer(const std::string& host, uint16_t port) {
  std::lock_guard g(mu_);
  persistent_.erase(target_key(host, port));
}

// ---- ConnectionHost ----------------------------------------------------------------------

Hello NetManager::Impl::local_hello() const {
  Hello h = hello_base_;
  h.best_height = best_height_.load();
  return h;
}

util::Status NetManager::Impl::on_peer_detected(Connection& c) {
  std::lock_guard g(mu_);
  auto it = conns_.find(c.id());
  if (stopping_ || it == conns_.end()) return util::fail("shutdown");
  Entry& e = it->second;
  e.is_peer = true;
  if (banned_locked(e.remote_host, clock_.now_ms())) return util::fail("banned", "this host is banned");
  size_t inbound = 0, same_host = 0;
  for (const auto& [id, x] : conns_) {
    inbound += x.inbound && x.is_peer;
    same_host += x.inbound && x.is_peer && x.remote_host == e.remote_host;
  }
  if (e.inbound && same_host > opts_.max_inbound_per_address)
    return util::fail("too-many-from-address", "at most " + std::to_string(opts_.max_inbound_per_address) +
                                                   " inbound peers from one address");
  if (inbound > opts_.max_inbound)
    return util::fail("too-many-inbound", "at most " + std::to_string(opts_.max_inbound) + " inbound peers");
  return {};
}

void NetManager::Impl::on_foreign(Connection& c, tcp::socket socket, Bytes already_read) {
  bool stopping;
  {
    std::lock_guard g(mu_);
    conns_.erase(c.id());
    stopping = stopping_;
  }
  if (!stopping && events_.on_foreign_connection) {
    events_.on_foreign_connection(std::move(socket), std::move(already_read));
    return;
  }
  boost::system::error_code ignored;
  socket.close(ignored);
}

util::Status NetManager::Impl::on_socket_connected(Connection& c, const tcp::endpoint& remote) {
  std::lock_guard g(mu_);
  auto it = conns_.find(c.id());
  if (stopping_ || it == conns_.end()) return util::fail("shutdown");
  Entry& e = it->second;
  e.remote_host = ip_string(remote.address());
  e.address = endpoint_string(remote);
  auto addr = NetAddress::from_ip(e.remote_host, remote.port());
  if (auto t = persistent_.find(e.dial_key); t != persistent_.end() && addr)
    t->second.resolved_key = addr->to_string();
  if (banned_locked(e.remote_host, clock_.now_ms())) {
    e.benign = true;
    return util::fail("banned", "we banned this host");
  }
  for (const auto& [id, x] : conns_) {
    if (id != c.id() && addr && x.listen_addr == addr) {
      e.benign = true;
      return util::fail("duplicate-address", "already connected to " + e.address);
    }
  }
  e.listen_addr = addr;
  return {};
}

util::Status NetManager::Impl::on_hello(Connection& c, const Hello& remote) {
  Hello local = local_hello();
  auto st = check_hello(local, remote);
  ConnectionPtr loser;
  {
    std::lock_guard g(mu_);
    auto it = conns_.find(c.id());
    if (it == conns_.end()) return util::fail("shutdown");
    Entry& e = it->second;
    if (!st) {
      if (st.error().code == "self-connection") {
        if (!e.inbound) {
          if (auto t = persistent_.find(e.dial_key); t != persistent_.end()) {
            t->second.self = true;
            util::log().warn("net: persistent peer {} is this node; not dialling it again", e.dial_key);
          }
          if (e.listen_addr) note_self_locked(*e.listen_addr);
          if (e.learned) note_self_locked(*e.learned);
        } else if (remote.listen_port != 0) {
          if (auto a = NetAddress::from_ip(e.remote_host, remote.listen_port)) note_self_locked(*a);
        }
      }
      return st;
    }
    if (stopping_) return util::fail("shutdown");
    if (e.inbound && remote.listen_port != 0)
      e.listen_addr = NetAddress::from_ip(e.remote_host, remote.listen_port);
    if (auto t = persistent_.find(e.dial_key); t != persistent_.end()) t->second.nonce = remote.node_nonce;

    // One connection per node. When both sides dialled each other at once, both keep the
    // connection dialled by the node with the smaller nonce, so they agree without talking.
    if (auto d = by_nonce_.find(remote.node_nonce); d != by_nonce_.end() && d->second != c.id()) {
      auto other = conns_.find(d->second);
      if (other != conns_.end()) {
        bool keep_new = false;
        if (other->second.inbound != e.inbound) {
          uint64_t new_dialer = e.inbound ? remote.node_nonce : local.node_nonce;
          uint64_t old_dialer = other->second.inbound ? remote.node_nonce : local.node_nonce;
          keep_new = new_dialer < old_dialer;
        }
        if (!keep_new) {
          e.benign = !e.inbound && persistent_.count(e.dial_key);
          return util::fail("duplicate-connection",
                            "already connected to node " + std::to_string(remote.node_nonce));
        }
        other->second.benign = !other->second.inbound && persistent_.count(other->second.dial_key);
        loser = other->second.conn;
      }
    }
    by_nonce_[remote.node_nonce] = c.id();
    e.nonce = remote.node_nonce;
  }
  if (loser) loser->close("duplicate-connection: kept the connection dialled by the smaller nonce", true);
  return {};
}

util::Status NetManager::Impl::on_authenticated(Connection& c, const NodeId& remote) {
  std::lock_guard g(mu_);
  auto it = conns_.find(c.id());
  if (stopping_ || it == conns_.end()) return util::fail("shutdown");
  Entry& e = it->second;
  if (remote == cfg_->identity->id()) {
    if (!e.inbound)
      if (auto t = persistent_.find(e.dial_key); t != persistent_.end()) {
        t->second.self = true;
        util::log().warn("net: persistent peer {} is this node; not dialling it again", e.dial_key);
      }
    if (!e.inbound && e.listen_addr) note_self_locked(*e.listen_addr);
    if (e.learned) note_self_locked(*e.learned);
    return util::fail("self-connection", "connected to ourselves (node id " + remote.hex() + ")");
  }
  if (opts_.allow_list &&
      std::find(opts_.allow_list->begin(), opts_.allow_list->end(), remote) == opts_.allow_list->end()) {
    // Refused, told why, and not banned: the node may be added to the list later, and an
    // address is not an identity.
    util::log().warn("net: refusing {} {}: node {} is not on the allow-list", e.inbound ? "inbound" : "outbound",
                     e.address, remote.hex());
    return util::fail("not-allowed", "node " + remote.hex() + " is not on this node's allow-list");
  }
  if (!e.inbound)
    if (auto t = persistent_.find(e.dial_key); t != persistent_.end()) {
      if (t->second.pin && *t->second.pin != remote) {
        util::log().warn("net: refusing {}: pinned to node {}, but the peer there is node {}", e.address,
                         t->second.pin->hex(), remote.hex());
        return util::fail("wrong-node-id", "expected node " + t->second.pin->hex() + " at " + e.address +
                                               ", the peer is node " + remote.hex());
      }
      if (t->second.seen_id != remote)
        util::log().info("net: {} is node {}{}", e.dial_key, remote.hex(), t->second.pin ? " (pinned)" : "");
      t->second.seen_id = remote;
    }
  e.node_id = remote;
  return {};
}

bool NetManager::Impl::on_established(Connection& c, const Hello& remote, const std::string& address) {
  PeerInfo info;
  {
    std::lock_guard g(mu_);
    auto it = conns_.find(c.id());
    if (stopping_ || it == conns_.end()) return false;
    Entry& e = it->second;
    int64_t wall = clock_.now_ms();
    e.established = true;
    info.id = c.id();
    info.address = address;
    info.inbound = e.inbound;
    info.hello = remote;
    info.connected_at_ms = wall;
    info.node_id = e.node_id;
    e.info = info;
    if (!e.inbound) {
      if (auto t = persistent_.find(e.dial_key); t != persistent_.end()) t->second.failures = 0;
      // The address we dialled works: it is worth gossiping and redialling.
      if (e.listen_addr) book_.on_connected(*e.listen_addr, wall);
    } else if (e.listen_addr && !self_addrs_.count(*e.listen_addr)) {
      book_.add({*e.listen_addr}, wall);  // announced, not verified: gossiped after tried ones
    }
  }
  util::log().info("net: peer {} connected: {} {} height {} agent \"{}\"", info.id,
                   info.inbound ? "inbound" : "outbound", info.address, remote.best_height,
                   remote.user_agent);
  if (events_.on_connected) events_.on_connected(info);
  return true;
}

void NetManager::Impl::on_message(Connection& c, uint16_t type, Bytes payload) {
  if (events_.on_message) events_.on_message(c.id(), type, std::move(payload));
}

bool NetManager::Impl::hold_reading(Connection& c) { return events_.hold_reading && events_.hold_reading(c.id()); }

std::vector<NetAddress> NetManager::Impl::on_getaddr(Connection& c) {
  std::lock_guard g(mu_);
  std::optional<NetAddress> requester;
  if (auto it = conns_.find(c.id()); it != conns_.end()) requester = it->second.listen_addr;
  return book_.sample(kMaxAddrPerMessage,
                      [&](const NetAddress& a) { return self_addrs_.count(a) || a == requester; });
}

void NetManager::Impl::on_addr(Connection& c, const std::vector<NetAddress>& addrs) {
  (void)c;
  std::vector<NetAddress> keep;
  keep.reserve(addrs.size());
  std::lock_guard g(mu_);
  for (const auto& a : addrs)
    if (!self_addrs_.count(a) && !looks_like_self(a)) keep.push_back(a);
  book_.add(keep, clock_.now_ms());
}

void NetManager::Impl::on_closed(Connection& c, const std::string& reason) {
  Entry e;
  {
    std::lock_guard g(mu_);
    auto it = conns_.find(c.id());
    if (it == conns_.end()) return;
    e = std::move(it->second);
    conns_.erase(it);
    if (e.nonce)
      if (auto bn = by_nonce_.find(*e.nonce); bn != by_nonce_.end() && bn->second == c.id())
        by_nonce_.erase(bn);
    if (!e.inbound && !stopping_) {
      int64_t now = steady_ms();
      if (auto t = persistent_.find(e.dial_key); t != persistent_.end()) {
        DialTarget& target = t->second;
        if (e.established || e.benign) {
          target.next_dial_ms = now + backoff_.min_ms;
        } else {
          ++target.failures;
          target.next_dial_ms = now + backoff_.delay_ms(target.failures, crypto::random_u64());
        }
      }
      if (e.learned) {
        if (e.established)
          book_.on_disconnected(*e.learned, now);
        else if (!e.benign)
          book_.on_dial_failed(*e.learned, now, crypto::random_u64());
      }
    }
  }
  // Refusals of identity an operator must see (a private network, a pin, the encryption switch)
  // and links tampered with on the way are logged at warn; the rest (dial errors, duplicates,
  // ordinary goodbyes) stay quieter.
  const bool security = reason.find("not-allowed") != std::string::npos ||
                        reason.find("wrong-node-id") != std::string::npos ||
                        reason.find("encryption-mismatch") != std::string::npos ||
                        reason.find("bad-record") != std::string::npos || reason.find("bad-auth") != std::string::npos;
  if (e.established) {
    if (security)
      util::log().warn("net: peer {} disconnected ({}): {}", c.id(), e.address, reason);
    else
      util::log().info("net: peer {} disconnected ({}): {}", c.id(), e.address, reason);
    if (events_.on_disconnected) events_.on_disconnected(c.id(), reason);
  } else if (e.is_peer) {
    if (security)
      util::log().warn("net: connection {} {} refused: {}", e.inbound ? "from" : "to", e.address, reason);
    else
      util::log().debug("net: connection {} {} failed: {}", e.inbound ? "from" : "to", e.address, reason);
    if (events_.on_connection_failed) events_.on_connection_failed(e.address, e.inbound, reason);
  }
}

// ---- public operations ---------------------------------------------------------------------

size_t NetManager::Impl::queued_bytes(PeerId peer) const {
  std::lock_guard g(mu_);
  auto it = conns_.find(peer);
  return it == conns_.end() ? 0 : it->second.conn->queued_bytes();
}

void NetManager::Impl::resume_reading(PeerId peer) {
  ConnectionPtr conn;
  {
    std::lock_guard g(mu_);
    auto it = conns_.find(peer);
    if (it == conns_.end()) return;
    conn = it->second.conn;
  }
  conn->resume_reading();
}

bool NetManager::Impl::send(PeerId peer, uint16_t type, const Bytes& payload) {
  if (type < msg::kFirstNodeType) return false;
  auto cap = opts_.limits.max_payload(type);
  if (!cap || payload.size() > *cap) return false;
  ConnectionPtr conn;
  {
    std::lock_guard g(mu_);
    auto it = conns_.find(peer);
    if (it == conns_.end() || !it->second.established) return false;
    conn = it->second.conn;
  }
  return conn->send(std::make_shared<const Bytes>(encode_frame(opts_.magic, type, payload)));
}

void NetManager::Impl::broadcast(uint16_t type, const Bytes& payload, std::optional<PeerId> except) {
  if (type < msg::kFirstNodeType) return;
  auto cap = opts_.limits.max_payload(type);
  if (!cap || payload.size() > *cap) return;
  std::vector<ConnectionPtr> targets;
  {
    std::lock_guard g(mu_);
    for (const auto& [id, e] : conns_)
      if (e.established && (!except || *except != id)) targets.push_back(e.conn);
  }
  if (targets.empty()) return;
  auto frame = std::make_shared<const Bytes>(encode_frame(opts_.magic, type, payload));
  for (auto& c : targets) c->send(frame);
}

void NetManager::Impl::disconnect(PeerId peer, const std::string& reason) {
  ConnectionPtr conn;
  {
    std::lock_guard g(mu_);
    auto it = conns_.find(peer);
    if (it == conns_.end()) return;
    conn = it->second.conn;
  }
  conn->close(reason, true);
}

void NetManager::Impl::ban(const std::string& host, int64_t duration_ms, const std::string& reason) {
  std::string h = canonical_host(host);
  std::vector<ConnectionPtr> victims;
  {
    std::lock_guard g(mu_);
    bans_[h] = Ban{clock_.now_ms() + std::max<int64_t>(0, duration_ms), reason};
    for (const auto& [id, e] : conns_)
      if (e.remote_host == h) victims.push_back(e.conn);
  }
  util::log().info("net: banned {} for {} ms: {}", h, duration_ms, reason);
  for (auto& c : victims) c->close("banned: " + reason, true);
}

bool NetManager::Impl::is_banned(const std::string& host) const {
  std::lock_guard g(mu_);
  return banned_locked(canonical_host(host), clock_.now_ms());
}

std::vector<PeerInfo> NetManager::Impl::peers() const {
  std::vector<PeerInfo> out;
  std::lock_guard g(mu_);
  for (const auto& [id, e] : conns_) {
    if (!e.established) continue;
    PeerInfo p = e.info;
    p.bytes_sent = e.conn->bytes_sent();
    p.bytes_received = e.conn->bytes_received();
    p.last_ping_rtt_ms = e.conn->last_ping_rtt_ms();
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<std::string> NetManager::Impl::known_addresses() const {
  std::vector<std::string> out;
  {
    std::lock_guard g(mu_);
    for (const auto& a : book_.all()) out.push_back(a.to_string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

NetStats NetManager::Impl::stats() const {
  NetStats s;
  std::lock_guard g(mu_);
  int64_t wall = clock_.now_ms();
  s.connections = conns_.size();
  for (const auto& [id, e] : conns_) {
    if (!e.established) continue;
    ++s.peers;
    ++(e.inbound ? s.inbound_peers : s.outbound_peers);
  }
  s.known_addresses = book_.size();
  s.persistent_peers = persistent_.size();
  for (const auto& [host, b] : bans_) s.bans += b.until_ms > wall;
  return s;
}

// ---- NetManager --------------------------------------------------------------------------

util::Result<std::unique_ptr<NetManager>> NetManager::create(NetOptions opts, NetEvents events,
                                                             const util::Clock& clock) {
  if (auto st = check_options(opts); !st) return util::unexpected(st.error());
  return std::unique_ptr<NetManager>(
      new NetManager(std::make_unique<Impl>(std::move(opts), std::move(events), clock)));
}

NetManager::NetManager(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NetManager::~NetManager() = default;

util::Status NetManager::start() { return impl_->start(); }
void NetManager::stop() { impl_->stop(); }
uint16_t NetManager::listen_port() const { return impl_->listen_port(); }
uint64_t NetManager::node_nonce() const { return impl_->node_nonce(); }
void NetManager::add_persistent_peer(const std::string& host, uint16_t port) {
  impl_->add_persistent_peer(host, port);
}
void NetManager::add_pinned_peer(const std::string& host, uint16_t port, const NodeId& node_id) {
  impl_->add_persistent_peer(host, port, node_id);
}
std::optional<NodeId> NetManager::node_id() const { return impl_->node_id(); }
void NetManager::remove_persistent_peer(const std::string& host, uint16_t port) {
  impl_->remove_persistent_peer(host, port);
}
bool NetManager::send(PeerId peer, uint16_t type, util::Bytes payload) {
  return impl_->send(peer, type, payload);
}
size_t NetManager::queued_bytes(PeerId peer) const { return impl_->queued_bytes(peer); }
void NetManager::resume_reading(PeerId peer) { impl_->resume_reading(peer); }
void NetManager::broadcast(uint16_t type, const util::Bytes& payload, std::optional<PeerId> except) {
  impl_->broadcast(type, payload, except);
}
void NetManager::disconnect(PeerId peer, const std::string& reason) { impl_->disconnect(peer, reason); }
void NetManager::ban(const std::string& host, int64_t duration_ms, const std::string& reason) {
  impl_->ban(host, duration_ms, reason);
}
bool NetManager::is_banned(const std::string& host) const { return impl_->is_banned(host); }
std::vector<PeerInfo> NetManager::peers() const { return impl_->peers(); }
std::vector<std::string> NetManager::known_addresses() const { return impl_->known_addresses(); }
NetStats NetManager::stats() const { return impl_->stats(); }
void NetManager::set_best_height(uint32_t height) { impl_->set_best_height(height); }

}  // namespace peerchain::net
