// Two PeerSessions back to back in memory: what one gives to write is fed to the other, split
// at random points. Time is a plain number the test advances; nothing sleeps.
#include "net/session.h"

#include <gtest/gtest.h>

#include <random>

#include "net/messages.h"

using namespace peerchain;
using namespace peerchain::net;

namespace {

const Magic kMagic{{0xfa, 0xce, 0xb0, 0x0c}};
constexpr uint16_t kBlock = 20;
constexpr uint16_t kTx = 21;

std::shared_ptr<SessionConfig> make_config() {
  auto cfg = std::make_shared<SessionConfig>();
  cfg->magic = kMagic;
  cfg->limits = net_message_limits();
  cfg->limits.set(kBlock, 1 << 20);
  cfg->limits.set(kTx, 1 << 16);
  cfg->low_priority_types = {kTx};
  return cfg;
}

struct Host : SessionHost {
  Hello hello;
  std::optional<Hello> established;
  std::vector<std::pair<uint16_t, Bytes>> messages;
  std::vector<NetAddress> addrs_to_give;
  std::vector<NetAddress> addrs_got;
  int getaddr_calls = 0;
  std::optional<std::string> refuse;  // on_hello refuses with this code
  std::optional<std::string> refuse_auth;  // on_authenticated refuses with this code
  std::optional<NodeId> authenticated;
  bool refuse_established = false;
  PeerSession* close_on_message = nullptr;  // re-enters the session from a callback

  explicit Host(uint64_t nonce) {
    hello.magic = kMagic;
    hello.chain_id = 2;
    hello.node_nonce = nonce;
    hello.user_agent = "test";
  }
  Hello local_hello() const override { return hello; }
  util::Status on_hello(const Hello&) override {
    if (refuse) return util::fail(*refuse);
    return {};
  }
  util::Status on_authenticated(const NodeId& remote) override {
    authenticated = remote;
    if (refuse_auth) return util::fail(*refuse_auth, "not on the list");
    return {};
  }
  bool on_established(const Hello& remote) override {
    established = remote;
    return !refuse_established;
  }
  void on_message(uint16_t type, Bytes payload) override {
    messages.emplace_back(type, std::move(payload));
    if (close_on_message) close_on_message->close("host: enough", true, 0);
  }
  std::vector<NetAddress> on_getaddr() override {
    ++getaddr_calls;
    return addrs_to_give;
  }
  void on_addr(const std::vector<NetAddress>& addrs) override {
    addrs_got.insert(addrs_got.end(), addrs.begin(), addrs.end());
  }
};

SharedFrame frame(uint16_t type, Bytes payload) {
  return std::make_shared<const Bytes>(encode_frame(kMagic, type, payload));
}

// A peer on the other end speaking raw frames (for what a well-behaved session never sends).
Bytes raw(uint16_t type, const Bytes& payload = {}) { return encode_frame(kMagic, type, payload); }

struct Pair {
  std::shared_ptr<SessionConfig> cfg = make_config();
  Host ha{1}, hb{2};
  std::unique_ptr<PeerSession> a, b;  // a dialled b
  std::mt19937_64 rng{42};
  uint64_t nonce = 1000;
  int64_t now = 1'000'000;

  void make() {
    a = std::make_unique<PeerSession>(cfg, ha, false, [this] { return nonce++; });
    b = std::make_unique<PeerSession>(cfg, hb, true, [this] { return nonce++; });
  }
  // encrypt false: the plaintext protocol, for tests that speak raw frames as the other end.
  explicit Pair(bool encrypt = true) {
    cfg->encrypt = encrypt;
    make();
  }

  // Moves bytes from `from` to `to`, in random chunks. Returns whether anything moved.
  bool transfer(PeerSession& from, PeerSession& to) {
    auto frames = from.take_writes();
    if (frames.empty()) return false;
    Bytes bytes;
    for (const auto& f : frames) bytes.insert(bytes.end(), f->begin(), f->end());
    from.on_written(bytes.size());
    size_t pos = 0;
    while (pos < bytes.size()) {
      size_t n = std::min<size_t>(bytes.size() - pos, 1 + rng() % 40);
      to.on_bytes(util::ByteSpan(bytes.data() + pos, n), now);
      pos += n;
    }
    return true;
  }
  void run() {
    for (int i = 0; i < 1000; ++i) {
      bool moved = transfer(*a, *b);
      moved |= transfer(*b, *a);
      if (!moved) return;
    }
    FAIL() << "the sessions never went quiet";
  }
  // Advances time to `t`, firing each session's deadlines that come due on the way.
  void advance_to(int64_t t) {
    for (int steps = 0;; ++steps) {
      int64_t next = std::min(a->deadline_ms(), b->deadline_ms());
      if (next > t) break;
      if (steps == 100'000) {
        ADD_FAILURE() << "a deadline that does not move on";  // fail, never hang
        break;
      }
      now = std::max(now, next);
      if (a->deadline_ms() <= now) a->on_timer(now);
      if (b->deadline_ms() <= now) b->on_timer(now);
      run();
    }
    now = t;
  }
  void handshake() {
    a->start(now);
    b->start(now);
    run();
  }
};

using State = PeerSession::State;

}  // namespace

TEST(PeerSession, HandshakeEstablishesBothSides) {
  Pair p;
  EXPECT_EQ(p.a->state(), State::kHandshake);
  p.handshake();
  EXPECT_EQ(p.a->state(), State::kActive);
  EXPECT_EQ(p.b->state(), State::kActive);
  ASSERT_TRUE(p.ha.established && p.hb.established);
  EXPECT_EQ(p.ha.established->node_nonce, 2u);
  EXPECT_EQ(p.hb.established->node_nonce, 1u);
  EXPECT_EQ(*p.a->remote_hello(), p.hb.hello);
  // Each side asked for addresses once and got an answer.
  EXPECT_EQ(p.ha.getaddr_calls, 1);
  EXPECT_EQ(p.hb.getaddr_calls, 1);
  EXPECT_EQ(p.a->queued_bytes(), 0u);
  EXPECT_EQ(p.a->deadline_ms(), p.now + p.cfg->ping_interval_ms);
}

TEST(PeerSession, NodeMessagesBothWaysAndAddrGossip) {
  Pair p;
  p.hb.addrs_to_give = {NetAddress{}};
  p.handshake();
  EXPECT_EQ(p.ha.addrs_got.size(), 1u);
  EXPECT_TRUE(p.a->send(frame(kBlock, Bytes(5000, 7)), p.now));
  EXPECT_TRUE(p.b->send(frame(kTx, Bytes{1, 2, 3}), p.now));
  EXPECT_GT(p.a->queued_bytes(), 5000u);
  p.run();
  ASSERT_EQ(p.hb.messages.size(), 1u);
  EXPECT_EQ(p.hb.messages[0].first, kBlock);
  EXPECT_EQ(p.hb.messages[0].second, Bytes(5000, 7));
  ASSERT_EQ(p.ha.messages.size(), 1u);
  EXPECT_EQ(p.ha.messages[0].second, (Bytes{1, 2, 3}));
  EXPECT_EQ(p.a->queued_bytes(), 0u);
}

TEST(PeerSession, SendBeforeActiveIsRefusedWithoutClosing) {
  Pair p;
  p.a->start(p.now);
  EXPECT_FALSE(p.a->send(frame(kBlock, {}), p.now));
  EXPECT_EQ(p.a->state(), State::kHandshake);
}

TEST(PeerSession, PingPongMeasuresRtt) {
  Pair p;
  p.handshake();
  EXPECT_EQ(p.a->last_ping_rtt_ms(), -1);
  int64_t ping_at = p.now + p.cfg->ping_interval_ms;
  p.advance_to(ping_at);
  // Both pinged at the deadline; pongs came back in the same instant.
  EXPECT_EQ(p.a->last_ping_rtt_ms(), 0);
  EXPECT_EQ(p.a->state(), State::kActive);
  // A pong that takes 37 ms.
  p.advance_to(ping_at + p.cfg->ping_interval_ms);
  ASSERT_EQ(p.a->deadline_ms(), ping_at + 2 * p.cfg->ping_interval_ms);
  p.now = p.a->deadline_ms();
  p.a->on_timer(p.now);
  auto ping = p.a->take_writes();
  ASSERT_EQ(ping.size(), 1u);
  p.a->on_written(ping[0]->size());
  p.now += 37;
  p.b->on_bytes(*ping[0], p.now);
  p.run();
  EXPECT_EQ(p.a->last_ping_rtt_ms(), 37);
  // Pings keep an otherwise silent link alive far past the idle timeout.
  p.advance_to(p.now + 5 * p.cfg->idle_timeout_ms);
  EXPECT_EQ(p.a->state(), State::kActive);
  EXPECT_EQ(p.b->state(), State::kActive);
}

TEST(PeerSession, IdleTimeoutTellsTheOtherSide) {
  Pair p;
  p.handshake();
  // b stops answering: its bytes are never delivered.
  int64_t idle_at = p.now + p.cfg->idle_timeout_ms;
  for (int i = 0; i < 100 && p.a->state() == State::kActive; ++i) {
    p.now = p.a->deadline_ms();
    ASSERT_LE(p.now, idle_at);
    p.a->on_timer(p.now);
    auto w = p.a->take_writes();
    size_t n = 0;
    for (auto& f : w) n += f->size();
    p.a->on_written(n);
  }
  EXPECT_EQ(p.now, idle_at);
  EXPECT_EQ(p.a->close_reason(), "timeout");
}

TEST(PeerSession, HandshakeTimeout) {
  Pair p;
  p.a->start(p.now);
  EXPECT_EQ(p.a->deadline_ms(), p.now + p.cfg->handshake_timeout_ms);
  p.a->on_timer(p.now + p.cfg->handshake_timeout_ms - 1);  // early: nothing
  EXPECT_EQ(p.a->state(), State::kHandshake);
  p.now += p.cfg->handshake_timeout_ms;
  p.a->on_timer(p.now);
  EXPECT_EQ(p.a->state(), State::kClosing);
  EXPECT_EQ(p.a->close_reason(), "timeout: handshake");
  // The explicit deadline form counts earlier time (a TCP connect) against the handshake.
  Pair q;
  q.a->start(q.now, q.now + 5);
  EXPECT_EQ(q.a->deadline_ms(), q.now + 5);
}

TEST(PeerSession, DisconnectReasonReachesTheOtherSide) {
  Pair p;
  p.handshake();
  p.a->close("banned: misbehaving", true, p.now);
  EXPECT_EQ(p.a->state(), State::kClosing);
  EXPECT_EQ(p.a->deadline_ms(), p.now + p.cfg->linger_ms);
  EXPECT_FALSE(p.a->send(frame(kBlock, {}), p.now));
  p.a->close("second reason", true, p.now);  // the first reason wins
  p.run();
  EXPECT_EQ(p.a->state(), State::kClosed);  // the goodbye was written
  EXPECT_EQ(p.a->close_reason(), "banned: misbehaving");
  EXPECT_EQ(p.b->state(), State::kClosed);
  EXPECT_EQ(p.b->close_reason(), "remote: banned: misbehaving");
}

TEST(PeerSession, LingerEndsAClosingSessionWhoseGoodbyeIsNotWritten) {
  Pair p;
  p.handshake();
  p.a->close("bye", true, p.now);
  auto w = p.a->take_writes();  // taken, never reported written
  ASSERT_EQ(w.size(), 1u);
  p.a->on_timer(p.now + p.cfg->linger_ms - 1);
  EXPECT_EQ(p.a->state(), State::kClosing);
  p.a->on_timer(p.now + p.cfg->linger_ms);
  EXPECT_EQ(p.a->state(), State::kClosed);
  EXPECT_EQ(p.a->deadline_ms(), PeerSession::kNoDeadline);
}

TEST(PeerSession, StreamClosedKeepsAnEarlierReason) {
  Pair p;
  p.handshake();
  p.b->on_stream_closed("closed-by-peer");
  EXPECT_EQ(p.b->state(), State::kClosed);
  EXPECT_EQ(p.b->close_reason(), "closed-by-peer");
  p.a->close("bye", true, p.now);
  p.a->on_stream_closed("write-error: broken pipe");
  EXPECT_EQ(p.a->state(), State::kClosed);
  EXPECT_EQ(p.a->close_reason(), "bye");
}

TEST(PeerSession, BadFrameClosesWithReason) {
  Pair p(false);  // raw frames
  p.handshake();
  Bytes junk = raw(kBlock, {1, 2});
  junk[0] ^= 0xff;  // wrong magic
  p.b->on_bytes(junk, p.now);
  EXPECT_EQ(p.b->state(), State::kClosing);
  EXPECT_EQ(p.b->close_reason().rfind("bad-frame: ", 0), 0u) << p.b->close_reason();
  p.run();
  EXPECT_EQ(p.a->close_reason(), "remote: " + p.b->close_reason());
  // An unknown type is a bad frame too (types 7..15 are not in the table).
  Pair q(false);  // raw frames
  q.handshake();
  q.b->on_bytes(raw(9), q.now);
  EXPECT_EQ(q.b->close_reason().rfind("bad-frame: ", 0), 0u) << q.b->close_reason();
}

TEST(PeerSession, SlowPeerAtTheQueueCap) {
  Pair p(false);  // raw frames
  p.cfg->max_send_queue_bytes = 10'000;
  p.make();
  p.handshake();
  auto f = frame(kBlock, Bytes(3000, 1));
  size_t sent = 0;
  while (sent < 10 && p.a->send(f, p.now)) ++sent;  // bounded: a missing cap fails, not hangs
  EXPECT_EQ(sent, 3u);  // 3 * 3014 fit in 10000, a fourth does not
  EXPECT_EQ(p.a->state(), State::kClosed);  // nobody to tell: the peer does not read
  EXPECT_EQ(p.a->close_reason(), "slow-peer: send queue over 10000 bytes");
  // Taken and unwritten frames count too.
  Pair q(false);  // raw frames
  q.cfg->max_send_queue_bytes = 10'000;
  q.make();
  q.handshake();
  ASSERT_TRUE(q.a->send(f, q.now));
  ASSERT_TRUE(q.a->send(f, q.now));
  EXPECT_EQ(q.a->take_writes().size(), 2u);
  EXPECT_EQ(q.a->queued_bytes(), 2 * f->size());
  EXPECT_TRUE(q.a->send(f, q.now));
  EXPECT_FALSE(q.a->send(f, q.now));
  EXPECT_EQ(q.a->state(), State::kClosed);
}

TEST(PeerSession, PingFloodWithoutReadingIsASlowPeer) {
  Pair p(false);  // raw frames
  p.cfg->max_send_queue_bytes = 1000;
  p.make();
  p.handshake();
  Bytes pings;
  for (int i = 0; i < 100; ++i) {
    auto one = raw(msg::kPing, encode_nonce(i));
    pings.insert(pings.end(), one.begin(), one.end());
  }
  p.b->on_bytes(pings, p.now);  // b's pongs are never taken
  EXPECT_EQ(p.b->state(), State::kClosed);
  EXPECT_EQ(p.b->close_reason(), "slow-peer: send queue over 1000 bytes");
}

TEST(PeerSession, LowPriorityFramesGoLast) {
  Pair p(false);  // raw frames
  p.handshake();
  ASSERT_TRUE(p.a->send(frame(kTx, {1}), p.now));
  ASSERT_TRUE(p.a->send(frame(kBlock, {2}), p.now));
  ASSERT_TRUE(p.a->send(frame(kTx, {3}), p.now));
  ASSERT_TRUE(p.a->send(frame(kBlock, {4}), p.now));
  // max_frames bounds one take; the order holds across takes.
  auto first = p.a->take_writes(3);
  ASSERT_EQ(first.size(), 3u);
  ASSERT_TRUE(p.a->send(frame(kBlock, {5}), p.now));
  auto rest = p.a->take_writes();
  std::vector<uint8_t> order;
  for (auto* batch : {&first, &rest})
    for (auto& f : *batch) order.push_back(f->back());
  EXPECT_EQ(order, (std::vector<uint8_t>{2, 4, 1, 5, 3}));
}

TEST(PeerSession, DuplicateHelloIsRefused) {
  Pair p(false);  // raw frames
  p.handshake();
  p.b->on_bytes(raw(msg::kHello, encode_hello(p.ha.hello)), p.now);
  EXPECT_EQ(p.b->close_reason(), "protocol: duplicate hello");
  p.run();
  EXPECT_EQ(p.a->close_reason(), "remote: protocol: duplicate hello");
}

TEST(PeerSession, UnexpectedAckIsRefused) {
  Pair p(false);  // raw frames
  p.b->start(p.now);
  p.b->on_bytes(raw(msg::kHelloAck), p.now);  // before any hello
  EXPECT_EQ(p.b->state(), State::kClosing);
  EXPECT_EQ(p.b->close_reason(), "protocol: unexpected hello_ack");
  Pair q(false);  // raw frames
  q.handshake();
  q.b->on_bytes(raw(msg::kHelloAck), q.now);  // a second one
  EXPECT_EQ(q.b->close_reason(), "protocol: unexpected hello_ack");
}

TEST(PeerSession, NodeMessageBeforeHandshakeIsRefused) {
  Pair p(false);  // raw frames
  p.b->start(p.now);
  p.b->on_bytes(raw(kBlock, {1}), p.now);
  EXPECT_EQ(p.b->close_reason(), "protocol: message type 20 before the handshake completed");
  EXPECT_TRUE(p.hb.messages.empty());
}

TEST(PeerSession, RefusedHelloTellsTheReason) {
  Pair p;
  p.hb.refuse = "wrong-genesis";
  p.handshake();
  EXPECT_EQ(p.b->state(), State::kClosed);
  EXPECT_EQ(p.b->close_reason(), "wrong-genesis");
  EXPECT_EQ(p.a->close_reason(), "remote: wrong-genesis");
  EXPECT_FALSE(p.ha.established || p.hb.established);
  // b's hello went out before the goodbye, though it was not taken yet when b refused: the
  // dialler learns whom it reached (how a self-connection is recognised at both ends).
  ASSERT_TRUE(p.a->remote_hello());
  EXPECT_EQ(p.a->remote_hello()->node_nonce, 2u);
}

TEST(PeerSession, ClosedBeforeStartSaysOnlyGoodbye) {
  Pair p;
  p.b->close("too-many-peers", true, p.now);
  p.b->start(p.now);  // too late: no hello follows
  auto w = p.b->take_writes();
  ASSERT_EQ(w.size(), 1u);
  ByteSpan in(*w[0]);
  FrameDecoder d(kMagic, p.cfg->limits);
  auto f = d.next(in);
  ASSERT_TRUE(f.ok() && *f);
  EXPECT_EQ((*f)->type, msg::kDisconnect);
}

TEST(PeerSession, SameInputsSameOutputs) {
  // Determinism, which the simulator relies on: two runs of one script give the same bytes.
  auto script = [] {
    Pair p;
    p.handshake();
    p.a->send(frame(kBlock, Bytes(100, 9)), p.now);
    p.advance_to(p.now + 3 * p.cfg->ping_interval_ms + 5);
    p.a->close("done", true, p.now);
    Bytes all;
    for (auto& f : p.a->take_writes()) all.insert(all.end(), f->begin(), f->end());
    return std::make_tuple(all, p.a->last_ping_rtt_ms(), p.a->deadline_ms(), p.nonce);
  };
  EXPECT_EQ(script(), script());
}

TEST(PeerSession, GetaddrIsAnsweredOncePerConnection) {
  Pair p(false);  // raw frames
  p.hb.addrs_to_give = {NetAddress{}, NetAddress{}};
  p.handshake();
  ASSERT_EQ(p.ha.addrs_got.size(), 2u);
  Bytes asks;
  for (int i = 0; i < 3; ++i) {
    auto one = raw(msg::kGetAddr);
    asks.insert(asks.end(), one.begin(), one.end());
  }
  p.b->on_bytes(asks, p.now);
  EXPECT_EQ(p.b->take_writes().size(), 0u);  // no amplification
  EXPECT_EQ(p.hb.getaddr_calls, 1);
  EXPECT_EQ(p.b->state(), State::kActive);
}

TEST(PeerSession, MalformedNetPayloadsCloseWithReason) {
  Pair p(false);  // raw frames
  p.handshake();
  p.b->on_bytes(raw(msg::kPing, {1, 2, 3}), p.now);
  EXPECT_EQ(p.b->close_reason().rfind("bad-payload: ping: ", 0), 0u) << p.b->close_reason();
  Pair q(false);  // raw frames
  q.handshake();
  q.b->on_bytes(raw(msg::kAddr, {0xff}), q.now);
  EXPECT_EQ(q.b->close_reason().rfind("bad-payload: addr: ", 0), 0u) << q.b->close_reason();
}

TEST(PeerSession, HostMayCloseFromACallback) {
  Pair p(false);  // raw frames
  p.handshake();
  p.hb.close_on_message = p.b.get();
  Bytes two = raw(kBlock, {1});
  auto second = raw(kBlock, {2});
  two.insert(two.end(), second.begin(), second.end());
  p.b->on_bytes(two, p.now);  // both frames in one read
  EXPECT_EQ(p.hb.messages.size(), 1u);  // nothing is delivered after the close
  EXPECT_EQ(p.b->state(), State::kClosing);
  p.run();
  EXPECT_EQ(p.a->close_reason(), "remote: host: enough");
}

TEST(PeerSession, RefusedOnEstablishedIsShutdown) {
  Pair p;
  p.hb.refuse_established = true;
  p.handshake();
  EXPECT_EQ(p.b->close_reason(), "shutdown");
  EXPECT_EQ(p.a->close_reason(), "remote: shutdown");
}

// ---- encrypted links ----

namespace {
std::shared_ptr<const NodeIdentity> identity(uint8_t b) {
  KeySeed seed;
  for (auto& x : seed.data) x = b;
  return std::make_shared<const NodeIdentity>(NodeIdentity::from_seed(seed));
}

// Two sessions with their own configs (identities, encryption on or off).
struct TwoConfigs : Pair {
  std::shared_ptr<SessionConfig> cfg_a = make_config(), cfg_b = make_config();
  TwoConfigs(std::shared_ptr<const NodeIdentity> ia, std::shared_ptr<const NodeIdentity> ib, bool enc_a = true,
             bool enc_b = true) {
    cfg_a->identity = std::move(ia);
    cfg_b->identity = std::move(ib);
    cfg_a->encrypt = enc_a;
    cfg_b->encrypt = enc_b;
    a = std::make_unique<PeerSession>(cfg_a, ha, false, [this] { return nonce++; });
    b = std::make_unique<PeerSession>(cfg_b, hb, true, [this] { return nonce++; });
  }
};

bool contains(const Bytes& hay, std::string_view needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}
}  // namespace

TEST(PeerSessionSecure, HandshakeAuthenticatesBothSidesAndSealsEverything) {
  auto ia = identity(1), ib = identity(2);
  TwoConfigs p(ia, ib);
  p.hb.hello.user_agent = "secret-agent";
  p.handshake();
  ASSERT_EQ(p.a->state(), State::kActive);
  ASSERT_EQ(p.b->state(), State::kActive);
  EXPECT_TRUE(p.a->encrypted() && p.b->encrypted());
  EXPECT_EQ(p.a->remote_node_id(), ia->id() == ib->id() ? std::nullopt : std::optional<NodeId>(ib->id()));
  EXPECT_EQ(p.b->remote_node_id(), std::optional<NodeId>(ia->id()));
  EXPECT_EQ(p.ha.authenticated, std::optional<NodeId>(ib->id()));
  EXPECT_EQ(p.ha.established->user_agent, "secret-agent");
  // A node message crosses sealed: its bytes never appear on the wire.
  ASSERT_TRUE(p.a->send(frame(kBlock, Bytes{'p', 'l', 'a', 'i', 'n', 't', 'e', 'x', 't'}), p.now));
  auto frames = p.a->take_writes();
  Bytes wire;
  for (const auto& f : frames) wire.insert(wire.end(), f->begin(), f->end());
  EXPECT_FALSE(contains(wire, "plaintext"));
  p.a->on_written(wire.size());
  EXPECT_EQ(p.a->queued_bytes(), 0u);
  p.b->on_bytes(wire, p.now);
  ASSERT_EQ(p.hb.messages.size(), 1u);
  EXPECT_EQ(p.hb.messages[0].second, (Bytes{'p', 'l', 'a', 'i', 'n', 't', 'e', 'x', 't'}));
}

TEST(PeerSessionSecure, HelloIsNeverInPlaintext) {
  TwoConfigs p(identity(1), identity(2));
  p.ha.hello.user_agent = "secret-agent";
  p.a->start(p.now);
  p.b->start(p.now);
  Bytes all;
  for (int i = 0; i < 100; ++i) {
    bool moved = false;
    for (auto [from, to] : {std::pair{p.a.get(), p.b.get()}, std::pair{p.b.get(), p.a.get()}}) {
      auto frames = from->take_writes();
      if (frames.empty()) continue;
      moved = true;
      Bytes bytes;
      for (const auto& f : frames) bytes.insert(bytes.end(), f->begin(), f->end());
      from->on_written(bytes.size());
      all.insert(all.end(), bytes.begin(), bytes.end());
      to->on_bytes(bytes, p.now);
    }
    if (!moved) break;
  }
  ASSERT_EQ(p.b->state(), State::kActive);
  EXPECT_FALSE(contains(all, "secret-agent"));
}

TEST(PeerSessionSecure, TamperedRecordClosesBothEndsWithTheReason) {
  for (size_t flip : {size_t{0}, size_t{3}, size_t{4}, size_t{30}}) {
    TwoConfigs p(identity(1), identity(2));
    p.handshake();
    ASSERT_TRUE(p.a->send(frame(kBlock, Bytes(100, 7)), p.now));
    auto frames = p.a->take_writes();
    ASSERT_EQ(frames.size(), 1u);
    Bytes wire = *frames[0];
    p.a->on_written(wire.size());
    wire[flip] ^= 0x40;
    p.b->on_bytes(wire, p.now);
    EXPECT_TRUE(p.hb.messages.empty());
    if (flip >= 4 || p.b->state() != State::kActive) {
      EXPECT_EQ(p.b->close_reason().rfind("bad-record: ", 0), 0u) << flip << " " << p.b->close_reason();
      p.run();
      EXPECT_EQ(p.a->close_reason().rfind("remote: bad-record: ", 0), 0u) << p.a->close_reason();
    } else {
      // A longer length: the record waits for bytes that never come; the idle timeout ends it.
      EXPECT_EQ(p.b->state(), State::kActive);
    }
  }
}

TEST(PeerSessionSecure, ReplayedRecordCloses) {
  TwoConfigs p(identity(1), identity(2));
  p.handshake();
  ASSERT_TRUE(p.a->send(frame(kBlock, Bytes{1}), p.now));
  auto frames = p.a->take_writes();
  p.a->on_written(frames[0]->size());
  p.b->on_bytes(*frames[0], p.now);
  ASSERT_EQ(p.hb.messages.size(), 1u);
  p.b->on_bytes(*frames[0], p.now);  // again
  EXPECT_EQ(p.hb.messages.size(), 1u);
  EXPECT_EQ(p.b->close_reason().rfind("bad-record: decrypt", 0), 0u) << p.b->close_reason();
}

TEST(PeerSessionSecure, RefusedIdentityIsToldWhy) {
  TwoConfigs p(identity(1), identity(2));
  p.hb.refuse_auth = "not-allowed";
  p.handshake();
  EXPECT_EQ(p.b->state(), State::kClosed);
  EXPECT_EQ(p.b->close_reason(), "not-allowed: not on the list");
  EXPECT_EQ(p.a->close_reason(), "remote: not-allowed: not on the list");
  EXPECT_FALSE(p.ha.established || p.hb.established);
}

TEST(PeerSessionSecure, SameIdentityIsASelfConnection) {
  auto same = identity(5);
  TwoConfigs p(same, same);
  p.handshake();
  // Both see it (the first to see it tells the other).
  EXPECT_NE(p.b->close_reason().find("self-connection"), std::string::npos) << p.b->close_reason();
  EXPECT_NE(p.a->close_reason().find("self-connection"), std::string::npos) << p.a->close_reason();
  EXPECT_FALSE(p.ha.established || p.hb.established);
}

TEST(PeerSessionSecure, EncryptionMismatchIsRefusedBothWays) {
  for (bool a_encrypts : {true, false}) {
    TwoConfigs p(identity(1), identity(2), a_encrypts, !a_encrypts);
    p.handshake();
    EXPECT_EQ(p.a->state(), State::kClosed);
    EXPECT_EQ(p.b->state(), State::kClosed);
    auto& plain = a_encrypts ? *p.b : *p.a;
    auto& secure = a_encrypts ? *p.a : *p.b;
    EXPECT_NE(plain.close_reason().find("encryption-mismatch"), std::string::npos) << plain.close_reason();
    EXPECT_NE(secure.close_reason().find("encryption-mismatch"), std::string::npos) << secure.close_reason();
  }
}

TEST(PeerSessionSecure, ForgedAuthIsRefused) {
  // b answers with a's key exchange flow but signs a transcript of other keys: a refuses it.
  TwoConfigs p(identity(1), identity(2));
  p.a->start(p.now);
  p.b->start(p.now);
  // Let the key exchanges cross, then replace b's sealed auth by nothing: a plaintext auth frame
  // where a sealed record is expected is not a record.
  p.transfer(*p.a, *p.b);
  auto kx = p.b->take_writes();
  ASSERT_GE(kx.size(), 1u);
  p.b->on_written(kx[0]->size());
  p.a->on_bytes(*kx[0], p.now);  // only b's key exchange
  Auth forged{identity(2)->id(), identity(2)->sign(Bytes{1})};
  p.a->on_bytes(raw(msg::kAuth, encode_auth(forged)), p.now);
  EXPECT_EQ(p.a->close_reason().rfind("bad-record: ", 0), 0u) << p.a->close_reason();
}

TEST(PeerSessionSecure, PlaintextFramesBeforeTheKeyExchangeAreRefused) {
  TwoConfigs p(identity(1), identity(2));
  p.b->start(p.now);
  p.b->on_bytes(raw(kBlock, {1}), p.now);
  EXPECT_EQ(p.b->close_reason().rfind("protocol: message type 20 before the key exchange", 0), 0u)
      << p.b->close_reason();
  // And the refusal goes out in plaintext (no keys yet), after our key exchange.
  auto frames = p.b->take_writes();
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ((*frames[1])[4], msg::kDisconnect);
}

namespace {
// A hand-made responder in front of an initiator session: its key exchange, then an auth signed
// by `id` over `transcript_role` (0 initiator, 1 responder: the right one). Returns the session.
std::unique_ptr<PeerSession> against_hand_made_responder(Host& h, uint64_t& nonce, bool signer_is_initiator,
                                                         bool right_keys = true) {
  auto cfg = make_config();
  cfg->identity = identity(1);
  auto a = std::make_unique<PeerSession>(cfg, h, false, [&nonce] { return nonce++; });
  a->start(0);
  auto w = a->take_writes();
  EXPECT_EQ(w.size(), 1u);
  a->on_written(w[0]->size());
  auto a_kx = decode_key_exchange(ByteSpan(*w[0]).subspan(kFrameHeaderSize));
  EXPECT_TRUE(a_kx);
  KeySeed seed;
  for (auto& x : seed.data) x = 9;
  auto eph = EphemeralKey::from_seed(seed);
  a->on_bytes(encode_frame(kMagic, msg::kKeyExchange, encode_key_exchange({kSecureVersion, true, eph.public_key})), 0);
  auto keys = derive_session_keys(false, eph, a_kx->ephemeral);
  RecordSealer sealer(keys->tx);
  auto id = identity(2);
  auto other = EphemeralKey::from_seed(identity(7)->seed());
  auto transcript = auth_transcript(kMagic, signer_is_initiator, a_kx->ephemeral,
                                    right_keys ? eph.public_key : other.public_key);
  Bytes wire;
  EXPECT_TRUE(sealer.seal(encode_frame(kMagic, msg::kAuth, encode_auth({id->id(), id->sign(transcript)})), wire));
  a->on_bytes(wire, 0);
  return a;
}
}  // namespace

TEST(PeerSessionSecure, AuthIsCheckedAgainstThisConnectionsKeysAndRole) {
  {  // the right transcript: accepted, and our hello follows
    Host h(1);
    uint64_t nonce = 1;
    auto a = against_hand_made_responder(h, nonce, false);
    EXPECT_EQ(a->state(), State::kHandshake) << a->close_reason();
    EXPECT_EQ(h.authenticated, std::optional<NodeId>(identity(2)->id()));
  }
  {  // a reflected signature (the initiator's role)
    Host h(1);
    uint64_t nonce = 1;
    auto a = against_hand_made_responder(h, nonce, true);
    EXPECT_EQ(a->close_reason().rfind("bad-auth: the signature does not match", 0), 0u) << a->close_reason();
    EXPECT_FALSE(h.authenticated);
  }
  {  // a signature over other ephemeral keys (relayed by a man in the middle)
    Host h(1);
    uint64_t nonce = 1;
    auto a = against_hand_made_responder(h, nonce, false, false);
    EXPECT_EQ(a->close_reason().rfind("bad-auth: the signature does not match", 0), 0u) << a->close_reason();
  }
}
