// Real sockets on 127.0.0.1 with kernel-chosen ports. Every wait is a condition with a deadline.
#include "net/net_manager.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <tuple>

#include "crypto/random.h"
#include "net/messages.h"
#include "util/log.h"

using namespace peerchain;
using namespace peerchain::net;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

const Magic kMagic{{0xf9, 0xbe, 0xb4, 0xd9}};
constexpr uint16_t kBlock = 16;  // stand-ins for the node's types
constexpr uint16_t kSmall = 17;
constexpr uint32_t kBlockCap = 1 << 20;

// Connection chatter stays out of the test output; warnings and errors still show.
const bool kQuietLogs = [] { return util::set_log_level("warn"); }();

util::SystemClock& system_clock() {
  static util::SystemClock c;
  return c;
}

// Polls `pred` until it holds or `timeout` passes.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 5000ms) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

MessageLimits node_limits() {
  MessageLimits l;
  l.set(kBlock, kBlockCap);
  l.set(kSmall, 100);
  return l;
}

Hello base_hello() {
  Hello h;
  h.magic = kMagic;
  h.chain_id = 2;
  h.genesis_id[0] = 0x11;
  h.user_agent = "test";
  return h;
}

NetOptions base_options() {
  NetOptions o;
  o.magic = kMagic;
  o.local_hello_template = base_hello();
  o.listen_host = "127.0.0.1";
  o.listen_port = 0;
  o.threads = 2;  // connections of one manager run concurrently (TSan sees real sharing)
  o.limits = node_limits();
  o.max_send_queue_bytes = 2 * kBlockCap;
  o.handshake_timeout_ms = 2000;
  o.idle_timeout_ms = 10'000;
  o.ping_interval_ms = 5000;
  o.redial_min_ms = 50;
  o.redial_max_ms = 400;
  return o;
}

// The raw-frame tests speak the plaintext protocol (the test-only --p2p-encryption=off).
NetOptions plaintext_options() {
  auto o = base_options();
  o.encrypt = false;
  return o;
}

std::shared_ptr<const NodeIdentity> identity_of(uint8_t b) {
  KeySeed seed;
  for (auto& x : seed.data) x = b;
  return std::make_shared<const NodeIdentity>(NodeIdentity::from_seed(seed));
}

// Everything a manager reported, thread-safe.
struct Recorder {
  struct Message {
    PeerId peer;
    uint16_t type;
    Bytes payload;
  };
  struct Failure {
    std::string address;
    bool inbound;
    std::string reason;
  };
  mutable std::mutex mu;
  std::vector<PeerInfo> connected;
  std::vector<Message> messages;
  std::vector<std::pair<PeerId, std::string>> disconnected;
  std::vector<Failure> failures;
  std::vector<Bytes> foreign;
  // hold_reading answers true once this many messages were delivered: a count of the
  // application's messages, as a node's inbox would, not a flag that the manager's own
  // traffic (keepalive, address gossip) could trip before the message under test arrives.
  std::atomic<size_t> hold_at{SIZE_MAX};

  NetEvents events(bool handle_foreign = false) {
    NetEvents ev;
    ev.hold_reading = [this](PeerId) { return n_messages() >= hold_at.load(); };
    ev.on_connected = [this](const PeerInfo& p) {
      std::lock_guard g(mu);
      connected.push_back(p);
    };
    ev.on_message = [this](PeerId p, uint16_t t, Bytes b) {
      std::lock_guard g(mu);
      messages.push_back({p, t, std::move(b)});
    };
    ev.on_disconnected = [this](PeerId p, const std::string& r) {
      std::lock_guard g(mu);
      disconnected.emplace_back(p, r);
    };
    ev.on_connection_failed = [this](const std::string& a, bool in, const std::string& r) {
      std::lock_guard g(mu);
      failures.push_back({a, in, r});
    };
    if (handle_foreign) {
      ev.on_foreign_connection = [this](tcp::socket s, Bytes first) {
        // A stand-in HTTP server: answer and close.
        std::string resp = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok";
        boost::system::error_code ec;
        asio::write(s, asio::buffer(resp), ec);
        s.close(ec);
        std::lock_guard g(mu);
        foreign.push_back(std::move(first));
      };
    }
    return ev;
  }

  size_t n_connected() const {
    std::lock_guard g(mu);
    return connected.size();
  }
  size_t n_disconnected() const {
    std::lock_guard g(mu);
    return disconnected.size();
  }
  size_t n_failures() const {
    std::lock_guard g(mu);
    return failures.size();
  }
  size_t n_messages() const {
    std::lock_guard g(mu);
    return messages.size();
  }
  bool failed_with(const std::string& part, std::optional<bool> inbound = {}) const {
    std::lock_guard g(mu);
    for (const auto& f : failures)
      if (contains(f.reason, part) && (!inbound || f.inbound == *inbound)) return true;
    return false;
  }
  bool disconnected_with(const std::string& part) const {
    std::lock_guard g(mu);
    for (const auto& [p, r] : disconnected)
      if (contains(r, part)) return true;
    return false;
  }
  std::string dump() const {
    std::lock_guard g(mu);
    std::string s;
    for (const auto& f : failures)
      s += "failed " + f.address + (f.inbound ? " in: " : " out: ") + f.reason + "\n";
    for (const auto& [p, r] : disconnected) s += "disconnected " + std::to_string(p) + ": " + r + "\n";
    return s;
  }
};

struct Node {
  Recorder rec;
  std::unique_ptr<NetManager> mgr;

  explicit Node(NetOptions o = base_options(), bool handle_foreign = false,
                const util::Clock& clock = system_clock()) {
    auto m = NetManager::create(std::move(o), rec.events(handle_foreign), clock);
    EXPECT_TRUE(m.ok()) << m.error().to_string();
    mgr = std::move(*m);
    auto st = mgr->start();
    EXPECT_TRUE(st.ok()) << st.error().to_string();
  }
  ~Node() { mgr->stop(); }
  uint16_t port() const { return mgr->listen_port(); }
  size_t n_peers() const { return mgr->peers().size(); }
};

// A hand-driven peer for the wire-level tests.
class RawPeer {
 public:
  explicit RawPeer(uint16_t port) : sock_(io_), limits_(net_message_limits()), decoder_(kMagic, limits_) {
    const auto node = node_limits();
    for (const auto& [t, cap] : node.entries()) limits_.set(t, cap);
    sock_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  void write(ByteSpan b) { asio::write(sock_, asio::buffer(b.data(), b.size())); }
  void try_write(ByteSpan b, boost::system::error_code& ec) {
    asio::write(sock_, asio::buffer(b.data(), b.size()), ec);
  }
  void write_frame(uint16_t type, const Bytes& payload) { write(encode_frame(kMagic, type, payload)); }

  // The next frame, or nullopt on EOF, error or timeout.
  std::optional<Frame> read_frame(std::chrono::milliseconds timeout = 3000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      ByteSpan in(pending_);
      auto r = decoder_.next(in);
      pending_ = Bytes(in.begin(), in.end());
      if (!r) return std::nullopt;
      if (*r) return std::move(**r);
      if (!read_some(deadline)) return std::nullopt;
    }
  }
  // The next frame of `type`, skipping others (pings, getaddr, ...).
  std::optional<Frame> read_until(uint16_t type, std::chrono::milliseconds timeout = 3000ms) {
    for (;;) {
      auto f = read_frame(timeout);
      if (!f || f->type == type) return f;
    }
  }
  // True once the peer closed the connection (reads everything until then).
  bool wait_eof(std::chrono::milliseconds timeout = 3000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (read_some(deadline)) {
    }
    return eof_;
  }
  // Sends a hello and completes the handshake. Returns the manager's hello.
  std::optional<Hello> handshake(Hello h) {
    write_frame(msg::kHello, encode_hello(h));
    auto their = read_until(msg::kHello);
    if (!their) return std::nullopt;
    auto ack = read_until(msg::kHelloAck);
    if (!ack) return std::nullopt;
    write_frame(msg::kHelloAck, {});
    auto decoded = decode_hello(their->payload);
    if (!decoded) return std::nullopt;
    return *decoded;
  }
  std::string received_text() const { return std::string(pending_.begin(), pending_.end()); }

 private:
  bool read_some(std::chrono::steady_clock::time_point deadline) {
    std::array<uint8_t, 4096> buf;
    bool done = false;
    boost::system::error_code ec;
    size_t n = 0;
    sock_.async_read_some(asio::buffer(buf), [&](const boost::system::error_code& e, size_t k) {
      done = true;
      ec = e;
      n = k;
    });
    io_.restart();
    auto now = std::chrono::steady_clock::now();
    io_.run_for(deadline > now ? deadline - now : 0ms);
    if (!done) {
      sock_.cancel();
      io_.restart();
      io_.run();
      return false;
    }
    if (ec) {
      eof_ = true;
      return false;
    }
    pending_.insert(pending_.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    return true;
  }

  asio::io_context io_;
  tcp::socket sock_;
  MessageLimits limits_;
  FrameDecoder decoder_;
  Bytes pending_;
  bool eof_ = false;
};

Hello raw_hello() {
  Hello h = base_hello();
  h.node_nonce = crypto::random_u64() | 1;
  h.user_agent = "raw";
  return h;
}

}  // namespace

TEST(NetManager, CreateValidatesOptions) {
  Recorder rec;
  auto with = [&](auto edit) {
    auto o = base_options();
    edit(o);
    return NetManager::create(o, rec.events(), system_clock());
  };
  EXPECT_TRUE(with([](NetOptions&) {}).ok());
  EXPECT_EQ(with([](NetOptions& o) { o.limits.set(3, 10); }).error().code, "bad-options");
  EXPECT_EQ(with([](NetOptions& o) { o.limits.set(20, kMaxFramePayload + 1); }).error().code, "bad-options");
  EXPECT_EQ(with([](NetOptions& o) { o.max_send_queue_bytes = 100; }).error().code, "bad-options");
  EXPECT_EQ(with([](NetOptions& o) { o.idle_timeout_ms = 0; }).error().code, "bad-options");
  EXPECT_EQ(with([](NetOptions& o) { o.redial_max_ms = 1; }).error().code, "bad-options");
  EXPECT_EQ(with([](NetOptions& o) { o.listen_host = "localhost"; }).error().code, "bad-options");
  EXPECT_EQ(with([](NetOptions& o) { o.threads = 0; }).error().code, "bad-options");
  EXPECT_EQ(
      with([](NetOptions& o) { o.local_hello_template.user_agent = std::string(65, 'a'); }).error().code,
      "bad-options");
}

TEST(NetManager, StartStopAndPortInUse) {
  Node a;
  ASSERT_NE(a.port(), 0);
  EXPECT_EQ(a.mgr->start().error().code, "bad-state");
  auto o = base_options();
  o.listen_port = a.port();
  Recorder rec;
  auto b = NetManager::create(o, rec.events(), system_clock());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*b)->start().error().code, "listen-failed");
  a.mgr->stop();
  a.mgr->stop();  // idempotent

  // Not listening at all.
  auto o2 = base_options();
  o2.listen_port.reset();
  Node c(o2);
  EXPECT_EQ(c.port(), 0);
}

TEST(NetManager, TwoManagersHandshakeAndExchangeMessagesBothWays) {
  auto oa = base_options();
  oa.ping_interval_ms = 100;
  oa.threads = 1;
  oa.local_hello_template.best_height = 7;
  Node a(oa);
  Node b;
  b.mgr->add_persistent_peer("127.0.0.1", a.port());
  ASSERT_TRUE(eventually([&] { return a.rec.n_connected() == 1 && b.rec.n_connected() == 1; }))
      << b.rec.dump();

  PeerInfo at_a, at_b;
  {
    std::lock_guard g(a.rec.mu);
    at_a = a.rec.connected[0];
  }
  {
    std::lock_guard g(b.rec.mu);
    at_b = b.rec.connected[0];
  }
  EXPECT_TRUE(at_a.inbound);
  EXPECT_FALSE(at_b.inbound);
  EXPECT_EQ(at_b.address, "127.0.0.1:" + std::to_string(a.port()));
  EXPECT_EQ(at_b.hello.listen_port, a.port());
  EXPECT_EQ(at_b.hello.best_height, 7u);
  EXPECT_EQ(at_b.hello.node_nonce, a.mgr->node_nonce());
  EXPECT_EQ(at_a.hello.listen_port, b.port());
  EXPECT_EQ(at_a.hello.user_agent, "test");

  // Node messages both ways, in order.
  for (uint8_t i = 0; i < 5; ++i) ASSERT_TRUE(b.mgr->send(at_b.id, kSmall, Bytes{i}));
  ASSERT_TRUE(a.mgr->send(at_a.id, kBlock, Bytes(kBlockCap, 0xab)));
  ASSERT_TRUE(eventually([&] { return a.rec.n_messages() == 5 && b.rec.n_messages() == 1; }));
  {
    std::lock_guard g(a.rec.mu);
    for (uint8_t i = 0; i < 5; ++i) {
      EXPECT_EQ(a.rec.messages[i].peer, at_a.id);
      EXPECT_EQ(a.rec.messages[i].type, kSmall);
      EXPECT_EQ(a.rec.messages[i].payload, Bytes{i});
    }
  }
  {
    std::lock_guard g(b.rec.mu);
    EXPECT_EQ(b.rec.messages[0].payload, Bytes(kBlockCap, 0xab));
  }
  a.mgr->broadcast(kSmall, Bytes{42});
  ASSERT_TRUE(eventually([&] { return b.rec.n_messages() == 2; }));
  a.mgr->broadcast(kSmall, Bytes{43}, at_a.id);  // the only peer is excluded

  // What send() refuses.
  EXPECT_FALSE(b.mgr->send(at_b.id, msg::kPing, encode_nonce(1)));  // net's type
  EXPECT_FALSE(b.mgr->send(at_b.id, 99, Bytes{}));                  // unknown type
  EXPECT_FALSE(b.mgr->send(at_b.id, kSmall, Bytes(101, 0)));        // over the cap
  EXPECT_FALSE(b.mgr->send(12345, kSmall, Bytes{}));                // no such peer

  // Keepalive measures the round trip; counters move; gossip learned b's listen address.
  ASSERT_TRUE(eventually([&] {
    auto p = a.mgr->peers();
    return p.size() == 1 && p[0].last_ping_rtt_ms >= 0;
  }));
  auto p = a.mgr->peers();
  EXPECT_GT(p[0].bytes_received, 5u);
  EXPECT_GT(p[0].bytes_sent, kBlockCap);
  EXPECT_GT(p[0].connected_at_ms, 0);
  auto known = a.mgr->known_addresses();
  EXPECT_NE(std::find(known.begin(), known.end(), "127.0.0.1:" + std::to_string(b.port())), known.end());

  // An orderly disconnect, seen by both.
  a.mgr->disconnect(at_a.id, "testing");
  ASSERT_TRUE(eventually([&] {
    return b.rec.disconnected_with("remote: testing") && a.rec.disconnected_with("testing");
  })) << b.rec.dump();
  EXPECT_EQ(b.rec.n_messages(), 2u);
}

// The receiver's queue for a peer is full (hold_reading): nothing more is read from that peer,
// its bytes wait in TCP, until resume_reading; then they arrive in order.
TEST(NetManager, HoldReadingPausesAPeerUntilResumed) {
  Node a;
  Node b;
  b.mgr->add_persistent_peer("127.0.0.1", a.port());
  ASSERT_TRUE(eventually([&] { return a.rec.n_connected() == 1 && b.rec.n_connected() == 1; })) << b.rec.dump();
  PeerId at_a, at_b;
  {
    std::lock_guard g(a.rec.mu);
    at_a = a.rec.connected[0].id;
  }
  {
    std::lock_guard g(b.rec.mu);
    at_b = b.rec.connected[0].id;
  }
  a.rec.hold_at = 1;
  // The manager's own traffic after the handshake (address gossip, keepalive) is read and
  // pauses nothing: only the count of delivered messages does.
  std::this_thread::sleep_for(200ms);
  ASSERT_TRUE(b.mgr->send(at_b, kSmall, Bytes{1}));
  ASSERT_TRUE(eventually([&] { return a.rec.n_messages() == 1; }));
  // Paused after that read: the next message waits.
  ASSERT_TRUE(b.mgr->send(at_b, kSmall, Bytes{2}));
  ASSERT_TRUE(b.mgr->send(at_b, kSmall, Bytes{3}));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(a.rec.n_messages(), 1u);
  a.mgr->resume_reading(at_b + 1000);  // no such peer: nothing happens
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(a.rec.n_messages(), 1u);
  a.rec.hold_at = SIZE_MAX;
  a.mgr->resume_reading(at_a);
  ASSERT_TRUE(eventually([&] { return a.rec.n_messages() == 3; }));
  {
    std::lock_guard g(a.rec.mu);
    EXPECT_EQ(a.rec.messages[1].payload, Bytes{2});
    EXPECT_EQ(a.rec.messages[2].payload, Bytes{3});
  }
  a.mgr->resume_reading(at_a);  // not paused: a no-op
  EXPECT_EQ(a.rec.n_connected(), 1u);
  EXPECT_EQ(a.rec.n_disconnected(), 0u);
}

TEST(NetManager, AddressGossipFindsFurtherPeers) {
  Node a, b;
  b.mgr->add_persistent_peer("127.0.0.1", a.port());
  ASSERT_TRUE(eventually([&] { return a.n_peers() == 1; }));
  // c knows only a; a tells it where b listens.
  Node c;
  c.mgr->add_persistent_peer("127.0.0.1", a.port());
  ASSERT_TRUE(eventually([&] { return c.n_peers() == 2 && b.n_peers() == 2; })) << c.rec.dump();
  auto known = c.mgr->known_addresses();
  EXPECT_NE(std::find(known.begin(), known.end(), "127.0.0.1:" + std::to_string(b.port())), known.end());
}

TEST(NetManager, SimultaneousDialsSettleOnOneConnection) {
  Node a, b;
  a.mgr->add_persistent_peer("127.0.0.1", b.port());
  b.mgr->add_persistent_peer("127.0.0.1", a.port());
  // Both sides agree on one connection (the same TCP connection: opposite directions) and
  // keep it: the state holds for 300 ms running, well past several redial periods.
  auto agreed = [&] {
    auto pa = a.mgr->peers();
    auto pb = b.mgr->peers();
    return pa.size() == 1 && pb.size() == 1 && pa[0].inbound != pb[0].inbound;
  };
  constexpr auto kNotYet = std::chrono::steady_clock::time_point::max();
  auto since = kNotYet;
  ASSERT_TRUE(eventually([&] {
    auto now = std::chrono::steady_clock::now();
    if (!agreed()) {
      since = kNotYet;
      return false;
    }
    if (since == kNotYet) since = now;
    return now - since > 300ms;
  })) << a.rec.dump()
      << b.rec.dump();
  // Whatever was dropped on the way was dropped as a duplicate.
  std::lock_guard g(a.rec.mu);
  for (const auto& f : a.rec.failures) EXPECT_TRUE(contains(f.reason, "duplicate")) << f.reason;
  for (const auto& [id, r] : a.rec.disconnected) EXPECT_TRUE(contains(r, "duplicate")) << r;
}

TEST(NetManager, WrongGenesisRefusedWithTheReason) {
  Node a(plaintext_options());
  auto ob = plaintext_options();
  ob.local_hello_template.genesis_id[0] = 0x22;
  Node b(ob);
  b.mgr->add_persistent_peer("127.0.0.1", a.port());
  ASSERT_TRUE(eventually([&] {
    return a.rec.failed_with("wrong-genesis", true) && b.rec.failed_with("wrong-genesis", false);
  })) << a.rec.dump()
      << b.rec.dump();
  EXPECT_EQ(a.rec.n_connected(), 0u);
  EXPECT_EQ(b.rec.n_connected(), 0u);

  // On the wire: the refused side gets the manager's hello, then a disconnect with the reason.
  RawPeer raw(a.port());
  Hello h = raw_hello();
  h.genesis_id[0] = 0x33;
  raw.write_frame(msg::kHello, encode_hello(h));
  auto bye = raw.read_until(msg::kDisconnect);
  ASSERT_TRUE(bye);
  auto reason = decode_reason(bye->payload);
  ASSERT_TRUE(reason.ok());
  EXPECT_EQ(reason->rfind("wrong-genesis", 0), 0u) << *reason;
  EXPECT_TRUE(raw.wait_eof());

  RawPeer raw2(a.port());
  Hello h2 = raw_hello();
  h2.chain_id = 1;
  raw2.write_frame(msg::kHello, encode_hello(h2));
  bye = raw2.read_until(msg::kDisconnect);
  ASSERT_TRUE(bye);
  EXPECT_EQ(decode_reason(bye->payload)->rfind("wrong-network", 0), 0u);
}

TEST(NetManager, OldVersionPeerIsToldWhy) {
  Node a;
  auto ob = base_options();
  ob.local_hello_template.protocol_version = kMinProtocolVersion - 1;
  Node b(ob);
  b.mgr->add_persistent_peer("127.0.0.1", a.port());
  // b accepts a's hello; a refuses b's and says why.
  ASSERT_TRUE(eventually([&] { return b.rec.failed_with("remote: old-version", false); })) << b.rec.dump();
  ASSERT_TRUE(eventually([&] { return a.rec.failed_with("old-version", true); })) << a.rec.dump();
  EXPECT_EQ(b.rec.n_connected(), 0u);
}

TEST(NetManager, SelfConnectionDetectedAndNotRedialled) {
  Node a;
  a.mgr->add_persistent_peer("127.0.0.1", a.port());
  ASSERT_TRUE(eventually([&] {
    return a.rec.failed_with("self-connection", false) && a.rec.failed_with("self-connection", true);
  })) << a.rec.dump();
  EXPECT_EQ(a.rec.n_connected(), 0u);
  // Give the dialler many backoff periods: it does not try again. (A window for a negative
  // check, not synchronisation.)
  size_t failures = a.rec.n_failures();
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(a.rec.n_failures(), failures) << a.rec.dump();
  EXPECT_EQ(a.n_peers(), 0u);
}

TEST(NetManager, ForeignConnectionIsHandedOver) {
  Node a(base_options(), /*handle_foreign=*/true);
  RawPeer http(a.port());
  std::string req = "GET /status HTTP/1.0\r\n\r\n";
  http.write(util::as_bytes(req));
  ASSERT_TRUE(http.wait_eof());
  EXPECT_TRUE(contains(http.received_text(), "200 OK"));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard g(a.rec.mu);
    return a.rec.foreign.size() == 1;
  }));
  {
    std::lock_guard g(a.rec.mu);
    std::string first(a.rec.foreign[0].begin(), a.rec.foreign[0].end());
    EXPECT_EQ(first.rfind("GET ", 0), 0u) << first;
    EXPECT_LE(first.size(), req.size());
  }
  EXPECT_EQ(a.rec.n_failures(), 0u);

  // Without a handler such connections are closed.
  Node b;
  RawPeer http2(b.port());
  http2.write(util::as_bytes(req));
  EXPECT_TRUE(http2.wait_eof());
  EXPECT_EQ(http2.received_text(), "");
}

TEST(NetManager, BadFramesDisconnectTheSenderOnly) {
  Node a(plaintext_options()), b(plaintext_options());
  b.mgr->add_persistent_peer("127.0.0.1", a.port());
  ASSERT_TRUE(eventually([&] { return a.n_peers() == 1 && b.n_peers() == 1; }));

  // Bad checksum during the handshake.
  {
    RawPeer raw(a.port());
    auto f = encode_frame(kMagic, msg::kHello, encode_hello(raw_hello()));
    f.back() ^= 1;
    raw.write(f);
    auto bye = raw.read_until(msg::kDisconnect);
    ASSERT_TRUE(bye);
    EXPECT_EQ(decode_reason(bye->payload)->rfind("bad-frame: checksum", 0), 0u);
  }
  ASSERT_TRUE(eventually([&] { return a.rec.failed_with("bad-frame: checksum", true); })) << a.rec.dump();

  // Oversize header from an established peer: refused from the header alone.
  {
    RawPeer raw(a.port());
    ASSERT_TRUE(raw.handshake(raw_hello()));
    ASSERT_TRUE(eventually([&] { return a.n_peers() == 2; }));
    Bytes header = {0xf9, 0xbe, 0xb4, 0xd9, kSmall, 0, 101, 0, 0, 0, 0, 0, 0, 0};
    raw.write(header);
    auto bye = raw.read_until(msg::kDisconnect);
    ASSERT_TRUE(bye);
    EXPECT_EQ(decode_reason(bye->payload)->rfind("bad-frame: oversize", 0), 0u);
    EXPECT_TRUE(raw.wait_eof());
  }
  ASSERT_TRUE(eventually([&] { return a.rec.disconnected_with("bad-frame: oversize"); })) << a.rec.dump();

  // Garbage after the magic, and a node message before the handshake.
  {
    RawPeer raw(a.port());
    Bytes junk = {0xf9, 0xbe, 0xb4, 0xd9, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8};
    raw.write(junk);
    EXPECT_TRUE(raw.wait_eof());
  }
  ASSERT_TRUE(eventually([&] { return a.rec.failed_with("bad-frame: unknown-type"); })) << a.rec.dump();
  {
    RawPeer raw(a.port());
    raw.write_frame(kSmall, Bytes{1});
    EXPECT_TRUE(raw.wait_eof());
  }
  ASSERT_TRUE(eventually([&] { return a.rec.failed_with("protocol:"); })) << a.rec.dump();

  // The well-behaved peer is still served.
  auto pb = b.mgr->peers();
  ASSERT_EQ(pb.size(), 1u);
  ASSERT_TRUE(b.mgr->send(pb[0].id, kSmall, Bytes{9}));
  ASSERT_TRUE(eventually([&] { return a.rec.n_messages() == 1; }));
  EXPECT_EQ(a.n_peers(), 1u);
  EXPECT_EQ(b.rec.n_disconnected(), 0u);
}

TEST(NetManager, PersistentPeerIsRedialledAfterARestart) {
  auto a = std::make_unique<Node>();
  uint16_t port = a->port();
  Node b;
  b.mgr->add_persistent_peer("127.0.0.1", port);
  ASSERT_TRUE(eventually([&] { return b.n_peers() == 1; }));

  a.reset();  // stop: b is told "shutdown"
  ASSERT_TRUE(eventually([&] { return b.rec.n_disconnected() == 1; }));
  EXPECT_TRUE(b.rec.disconnected_with("shutdown")) << b.rec.dump();
  // b keeps trying while nothing listens.
  ASSERT_TRUE(eventually([&] { return b.rec.failed_with("connect-failed"); })) << b.rec.dump();

  auto o = base_options();
  o.listen_port = port;
  Node a2(o);
  ASSERT_EQ(a2.port(), port);
  ASSERT_TRUE(eventually([&] { return b.rec.n_connected() == 2 && a2.n_peers() == 1; }, 3000ms))
      << b.rec.dump();
}

TEST(NetManager, BanRefusesReconnectionUntilExpiry) {
  util::ManualClock clock(1'700'000'000'000);
  Node a(base_options(), false, clock);
  Node b;
  b.mgr->add_persistent_peer("127.0.0.1", a.port());
  ASSERT_TRUE(eventually([&] { return a.n_peers() == 1; }));

  a.mgr->ban("127.0.0.1", 60'000, "misbehaving");
  EXPECT_TRUE(a.mgr->is_banned("127.0.0.1"));
  ASSERT_TRUE(eventually([&] { return b.rec.disconnected_with("remote: banned: misbehaving"); }))
      << b.rec.dump();
  ASSERT_TRUE(eventually([&] { return a.rec.disconnected_with("banned: misbehaving"); })) << a.rec.dump();
  // b redials and is refused, several times.
  ASSERT_TRUE(eventually([&] { return b.rec.n_failures() >= 2; })) << b.rec.dump();
  EXPECT_TRUE(b.rec.failed_with("remote: banned", false)) << b.rec.dump();
  EXPECT_EQ(a.rec.n_connected(), 1u);
  EXPECT_EQ(a.n_peers(), 0u);

  clock.advance(60'001);
  EXPECT_FALSE(a.mgr->is_banned("127.0.0.1"));
  ASSERT_TRUE(eventually([&] { return a.n_peers() == 1 && b.n_peers() == 1; }, 3000ms)) << b.rec.dump();
}

TEST(NetManager, IdleAndHandshakeTimeouts) {
  auto o = plaintext_options();
  o.idle_timeout_ms = 300;
  o.handshake_timeout_ms = 300;
  o.ping_interval_ms = 100;
  Node a(o);

  // Established but silent: pings go unanswered, nothing arrives -> "timeout".
  RawPeer silent(a.port());
  ASSERT_TRUE(silent.handshake(raw_hello()));
  auto ping = silent.read_until(msg::kPing);
  ASSERT_TRUE(ping);
  auto bye = silent.read_until(msg::kDisconnect);
  ASSERT_TRUE(bye);
  EXPECT_EQ(*decode_reason(bye->payload), "timeout");
  ASSERT_TRUE(eventually([&] { return a.rec.disconnected_with("timeout"); })) << a.rec.dump();

  // A peer that answers pings stays.
  RawPeer lively(a.port());
  ASSERT_TRUE(lively.handshake(raw_hello()));
  auto until = std::chrono::steady_clock::now() + 800ms;
  while (std::chrono::steady_clock::now() < until) {
    auto f = lively.read_until(msg::kPing, 500ms);
    ASSERT_TRUE(f) << a.rec.dump();
    lively.write_frame(msg::kPong, f->payload);
  }
  EXPECT_EQ(a.n_peers(), 1u);
  auto peers = a.mgr->peers();
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_GE(peers[0].last_ping_rtt_ms, 0);

  // Magic, then nothing: the handshake times out.
  RawPeer stuck(a.port());
  stuck.write(kMagic.span());
  bye = stuck.read_until(msg::kDisconnect);
  ASSERT_TRUE(bye);
  EXPECT_EQ(*decode_reason(bye->payload), "timeout: handshake");
}

TEST(NetManager, SlowPeerIsDropped) {
  Node a(plaintext_options());
  RawPeer reader_that_never_reads(a.port());
  ASSERT_TRUE(reader_that_never_reads.handshake(raw_hello()));
  ASSERT_TRUE(eventually([&] { return a.n_peers() == 1; }));
  PeerId id = a.mgr->peers()[0].id;
  // The writer cannot drain into a peer that never reads: the 2 MiB queue fills.
  bool refused = false;
  for (int i = 0; i < 200 && !refused; ++i) {
    refused = !a.mgr->send(id, kBlock, Bytes(kBlockCap, 1));
  }
  EXPECT_TRUE(refused);
  ASSERT_TRUE(eventually([&] { return a.rec.disconnected_with("slow-peer"); })) << a.rec.dump();
  EXPECT_FALSE(a.mgr->send(id, kSmall, Bytes{1}));
}

TEST(NetManager, ADownPeerCostsOneDialAtATime) {
  // Find a port nothing listens on: bind, note it, close.
  uint16_t dead_port;
  {
    asio::io_context io;
    tcp::acceptor acc(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    dead_port = acc.local_endpoint().port();
  }
  auto o = base_options();
  o.redial_min_ms = 10;
  o.redial_max_ms = 40;
  Node a(o);
  a.mgr->add_persistent_peer("127.0.0.1", dead_port);
  // For 600 ms (15+ backoff periods): never more than one connection, failures keep coming at
  // the backoff's pace (not faster), and nothing else accumulates.
  size_t max_connections = 0;
  auto until = std::chrono::steady_clock::now() + 600ms;
  while (std::chrono::steady_clock::now() < until) {
    max_connections = std::max(max_connections, a.mgr->stats().connections);
    std::this_thread::sleep_for(1ms);  // sampling, not synchronisation
  }
  EXPECT_LE(max_connections, 1u);
  size_t failures = a.rec.n_failures();
  EXPECT_GE(failures, 5u) << a.rec.dump();
  EXPECT_LE(failures, 600u / 7u) << "faster than the backoff allows";
  auto st = a.mgr->stats();
  EXPECT_EQ(st.persistent_peers, 1u);
  EXPECT_EQ(st.peers, 0u);
  EXPECT_EQ(st.known_addresses, 0u);
}

TEST(NetManager, PingFloodFromAPeerThatNeverReadsIsBounded) {
  auto o = plaintext_options();
  o.max_send_queue_bytes = 2 * kBlockCap;
  Node a(o);
  RawPeer flooder(a.port());
  ASSERT_TRUE(flooder.handshake(raw_hello()));
  ASSERT_TRUE(eventually([&] { return a.n_peers() == 1; }));
  // Each ping asks for a pong; the flooder never reads them.
  Bytes burst;
  auto ping = encode_frame(kMagic, msg::kPing, encode_nonce(7));
  for (int i = 0; i < 4096; ++i) burst.insert(burst.end(), ping.begin(), ping.end());
  boost::system::error_code ec;
  for (int i = 0; i < 200 && !a.rec.disconnected_with("slow-peer"); ++i) flooder.try_write(burst, ec);
  ASSERT_TRUE(eventually([&] { return a.rec.disconnected_with("slow-peer"); })) << a.rec.dump();
}

TEST(NetManager, InboundPeersFromOneAddressAreCapped) {
  // Three peers dial from 127.0.0.1; with at most 2 inbound from one address, the third is
  // refused with the reason (and redials, refused again) while the first two stay.
  auto o = base_options();
  o.max_inbound_per_address = 2;
  Node a(o);
  Node b, c, d;
  b.mgr->add_persistent_peer("127.0.0.1", a.port());
  ASSERT_TRUE(eventually([&] { return a.n_peers() == 1; }));
  c.mgr->add_persistent_peer("127.0.0.1", a.port());
  ASSERT_TRUE(eventually([&] { return a.n_peers() == 2; }));
  d.mgr->add_persistent_peer("127.0.0.1", a.port());
  ASSERT_TRUE(eventually([&] { return d.rec.failed_with("too-many-from-address"); })) << d.rec.dump();
  EXPECT_EQ(a.n_peers(), 2u);
  EXPECT_EQ(d.n_peers(), 0u);
}

// ---- encrypted links: node ids, pinning, allow-list ----

TEST(NetManager, PeersKnowEachOthersNodeIds) {
  auto oa = base_options(), ob = base_options();
  oa.identity = identity_of(1);
  ob.identity = identity_of(2);
  Node a(oa), b(ob);
  EXPECT_EQ(a.mgr->node_id(), std::optional<NodeId>(identity_of(1)->id()));
  b.mgr->add_pinned_peer("127.0.0.1", a.port(), identity_of(1)->id());
  ASSERT_TRUE(eventually([&] { return a.n_peers() == 1 && b.n_peers() == 1; })) << a.rec.dump() << b.rec.dump();
  EXPECT_EQ(a.mgr->peers()[0].node_id, std::optional<NodeId>(identity_of(2)->id()));
  EXPECT_EQ(b.mgr->peers()[0].node_id, std::optional<NodeId>(identity_of(1)->id()));
  ASSERT_TRUE(b.mgr->send(b.mgr->peers()[0].id, kBlock, Bytes(200'000, 9)));
  ASSERT_TRUE(eventually([&] { return a.rec.n_messages() == 1; }));
}

TEST(NetManager, PinnedPeerWithAnotherKeyIsRefused) {
  auto oa = base_options(), ob = base_options();
  oa.identity = identity_of(1);
  ob.identity = identity_of(2);
  Node a(oa), b(ob);
  b.mgr->add_pinned_peer("127.0.0.1", a.port(), identity_of(3)->id());
  ASSERT_TRUE(eventually([&] {
    return b.rec.failed_with("wrong-node-id", false) && a.rec.failed_with("remote: wrong-node-id", true);
  })) << a.rec.dump() << b.rec.dump();
  EXPECT_EQ(a.n_peers() + b.n_peers(), 0u);
  EXPECT_FALSE(a.mgr->is_banned("127.0.0.1"));
  EXPECT_FALSE(b.mgr->is_banned("127.0.0.1"));
}

TEST(NetManager, AllowListRefusesOthersBothWaysWithoutBanning) {
  auto oa = base_options(), ob = base_options(), oc = base_options();
  oa.identity = identity_of(1);
  ob.identity = identity_of(2);
  oc.identity = identity_of(3);
  oa.allow_list = std::vector<NodeId>{identity_of(2)->id()};
  Node a(oa), b(ob), c(oc);
  // c dials a: a refuses it and says why.
  c.mgr->add_persistent_peer("127.0.0.1", a.port());
  ASSERT_TRUE(eventually([&] {
    return a.rec.failed_with("not-allowed", true) && c.rec.failed_with("remote: not-allowed", false);
  })) << a.rec.dump() << c.rec.dump();
  // a dials c: a refuses it too.
  a.mgr->add_persistent_peer("127.0.0.1", c.port());
  ASSERT_TRUE(eventually([&] { return a.rec.failed_with("not-allowed", false); })) << a.rec.dump();
  // b is listed: it connects.
  b.mgr->add_persistent_peer("127.0.0.1", a.port());
  ASSERT_TRUE(eventually([&] { return a.n_peers() == 1 && b.n_peers() == 1; })) << a.rec.dump();
  EXPECT_EQ(c.n_peers(), 0u);
  EXPECT_FALSE(a.mgr->is_banned("127.0.0.1"));
  EXPECT_FALSE(c.mgr->is_banned("127.0.0.1"));
}

TEST(NetManager, EncryptionMismatchIsRefusedWithAClearReason) {
  Node a, b(plaintext_options());
  b.mgr->add_persistent_peer("127.0.0.1", a.port());
  ASSERT_TRUE(eventually([&] {
    return a.rec.failed_with("encryption-mismatch", true) && b.rec.failed_with("encryption-mismatch", false);
  })) << a.rec.dump() << b.rec.dump();
  EXPECT_EQ(a.n_peers() + b.n_peers(), 0u);
}

TEST(NetManager, AllowListNeedsEncryption) {
  auto o = plaintext_options();
  o.allow_list = std::vector<NodeId>{};
  auto m = NetManager::create(o, NetEvents{}, system_clock());
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, "bad-options");
}
