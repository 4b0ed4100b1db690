// Fuzz: one net::PeerSession (sans-IO) fed arbitrary bytes, well-formed frames (hello, ack,
// ping, node types), time steps, sends, partial write reports, closes and stream ends, in any
// order; its host may re-enter it (send or close) from callbacks. Checked after every step:
// no crash or sanitizer report; everything it gives to write is a well-formed frame of a known
// type; its queue stays within the cap (plus the hello and goodbye it always lets through);
// after on_timer(now) the next deadline is in the future; closed stays closed.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iterator>

#include "net/session.h"

namespace {

using namespace peerchain;
using namespace peerchain::net;

const Magic kMagic{{0xfa, 0xce, 0xb0, 0x0c}};
constexpr uint16_t kNode = 16;
constexpr uint16_t kLow = 17;
constexpr size_t kCap = 2048;  // small: floods reach it within one input

std::shared_ptr<const SessionConfig> config() {
  static const auto cfg = [] {
    auto c = std::make_shared<SessionConfig>();
    c->magic = kMagic;
    c->limits = net_message_limits();
    c->limits.set(kNode, 1000);
    c->limits.set(kLow, 100);
    c->low_priority_types = {kLow};
    c->max_send_queue_bytes = kCap;
    c->handshake_timeout_ms = 1000;
    c->idle_timeout_ms = 5000;
    c->ping_interval_ms = 2000;
    c->linger_ms = 100;
    c->encrypt = false;  // the plaintext protocol: the encrypted link has its own target (secure_link)
    return c;
  }();
  return cfg;
}

Hello make_hello(uint64_t nonce) {
  Hello h;
  h.magic = kMagic;
  h.chain_id = 2;
  h.node_nonce = nonce;
  h.user_agent = "fuzz";
  return h;
}

void check(bool ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "invariant broken: %s\n", what);
    abort();
  }
}

struct Host : SessionHost {
  PeerSession* s = nullptr;
  int64_t* now = nullptr;
  bool refuse_hello = false;
  bool refuse_established = false;
  uint8_t reenter = 0;  // 1: on_message sends back; 2: on_message closes; 3: on_addr closes

  Hello local_hello() const override { return make_hello(1); }
  util::Status on_hello(const Hello&) override {
    if (refuse_hello) return util::fail("wrong-genesis");
    return {};
  }
  bool on_established(const Hello&) override { return !refuse_established; }
  void on_message(uint16_t type, Bytes payload) override {
    check(type >= msg::kFirstNodeType, "node message of a net type");
    check(s->state() == PeerSession::State::kActive, "message outside the active state");
    if (reenter == 1) s->send(std::make_shared<const Bytes>(encode_frame(kMagic, type, payload)), *now);
    if (reenter == 2) s->close("host", true, *now);
  }
  std::vector<NetAddress> on_getaddr() override { return std::vector<NetAddress>(3); }
  void on_addr(const std::vector<NetAddress>&) override {
    if (reenter == 3) s->close("host", false, *now);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  Host host;
  int64_t now = in.ConsumeIntegralInRange<int64_t>(0, 1'000'000'000);
  uint64_t nonce = 7;
  PeerSession s(config(), host, in.ConsumeBool(), [&nonce] { return nonce++; });
  host.s = &s;
  host.now = &now;
  host.refuse_hello = in.ConsumeBool();
  host.refuse_established = in.ConsumeBool();
  host.reenter = in.ConsumeIntegralInRange<uint8_t>(0, 3);
  FrameDecoder written(kMagic, config()->limits);  // what a peer would read from us
  size_t outstanding = 0;                          // taken, not yet reported written
  bool was_closed = false;
  // The queue may exceed the cap only by the frames that always go: our hello and a goodbye.
  const size_t slack = kFrameHeaderSize * 2 + kMaxHelloSize + kMaxDisconnectPayload;

  for (int step = 0; step < 256 && in.remaining_bytes() > 0; ++step) {
    switch (in.ConsumeIntegralInRange<int>(0, 10)) {
      case 0: {
        auto b = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(0, 300));
        s.on_bytes(b, now);
        break;
      }
      case 1: {  // well-formed frames (1 to 100 alike) of a type worth reaching
        static const uint16_t kTypes[] = {msg::kHello, msg::kHelloAck, msg::kDisconnect, msg::kPing,
                                          msg::kPong,  msg::kGetAddr,  msg::kAddr,       kNode,
                                          kLow,        9};
        uint16_t type = kTypes[in.ConsumeIntegralInRange<size_t>(0, std::size(kTypes) - 1)];
        auto payload = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(0, 64));
        if ((type == msg::kPing || type == msg::kPong) && in.ConsumeBool())
          payload = encode_nonce(in.ConsumeIntegral<uint64_t>());  // valid, so floods are answered
        auto one = encode_frame(kMagic, type, payload);
        Bytes f;
        for (int n = in.ConsumeIntegralInRange<int>(1, 100); n > 0; --n) f.insert(f.end(), one.begin(), one.end());
        s.on_bytes(f, now);
        break;
      }
      case 2: {  // the remote's valid hello, then (maybe) its ack
        auto f = encode_frame(kMagic, msg::kHello, encode_hello(make_hello(2)));
        if (in.ConsumeBool()) {
          auto ack = encode_frame(kMagic, msg::kHelloAck, {});
          f.insert(f.end(), ack.begin(), ack.end());
        }
        size_t split = in.ConsumeIntegralInRange<size_t>(0, f.size());
        s.on_bytes(ByteSpan(f.data(), split), now);
        s.on_bytes(ByteSpan(f.data() + split, f.size() - split), now);
        break;
      }
      case 3: {  // time passes; the timer runs when due
        now += in.ConsumeIntegralInRange<int64_t>(0, 7000);
        if (in.ConsumeBool() && s.deadline_ms() != PeerSession::kNoDeadline) now = std::max(now, s.deadline_ms());
        if (now >= s.deadline_ms()) {
          s.on_timer(now);
          check(s.state() == PeerSession::State::kClosed || s.deadline_ms() > now, "deadline not in the future");
        }
        break;
      }
      case 4: {
        auto frames = s.take_writes(in.ConsumeIntegralInRange<size_t>(0, 70));
        for (const auto& f : frames) {
          outstanding += f->size();
          ByteSpan span(*f);
          auto r = written.next(span);
          check(r.ok() && r->has_value() && span.empty(), "wrote a malformed frame");
        }
        break;
      }
      case 5: {
        size_t n = std::min(outstanding, in.ConsumeIntegral<size_t>());
        outstanding -= n;
        s.on_written(n);
        break;
      }
      case 6: {
        // Within the type's cap: checking what the node sends is its caller's business.
        uint16_t type = in.ConsumeBool() ? kLow : kNode;
        auto payload = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(0, type == kLow ? 100 : 1000));
        s.send(std::make_shared<const Bytes>(encode_frame(kMagic, type, payload)), now);
        break;
      }
      case 7:
        s.close(in.ConsumeRandomLengthString(300), in.ConsumeBool(), now);
        break;
      case 8:
        s.on_stream_closed("closed-by-peer");
        break;
      case 9:
        s.start(now);
        break;
      case 10:
        s.start(now, now + in.ConsumeIntegralInRange<int64_t>(-10, 3000));
        break;
    }
    check(s.queued_bytes() <= kCap + slack, "send queue over its cap");
    if (was_closed) check(s.state() == PeerSession::State::kClosed, "left the closed state");
    if (s.state() == PeerSession::State::kClosed) {
      was_closed = true;
      check(s.take_writes().empty(), "frames to write after closing");
      check(s.deadline_ms() == PeerSession::kNoDeadline, "a deadline after closing");
    }
  }
  return 0;
}
