// Fuzz: the encrypted link's decoders and a responder session behind them. The input drives
// (1) decode_key_exchange / decode_auth on arbitrary bytes, (2) a RecordOpener on arbitrary
// bytes in arbitrary chunks, and (3) a responder PeerSession that gets a real initiator's key
// exchange and then, in any order, arbitrary raw bytes or arbitrary plaintext sealed with the
// initiator's real key (so the frame decoder, auth and hello handling behind the records see
// any frames). Checked: no crash or sanitizer report; the opener never buffers more than one
// record; a closed session stays closed and gives nothing more to write.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <cstdlib>

#include "net/secure.h"
#include "net/session.h"

namespace {

using namespace peerchain;
using namespace peerchain::net;

const Magic kMagic{{0xfa, 0xce, 0xb0, 0x0c}};

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

KeySeed seed_of(uint8_t b) {
  KeySeed s;
  for (auto& x : s.data) x = b;
  return s;
}

std::shared_ptr<const SessionConfig> config() {
  static const auto cfg = [] {
    auto c = std::make_shared<SessionConfig>();
    c->magic = kMagic;
    c->limits = net_message_limits();
    c->limits.set(16, 4096);
    c->max_send_queue_bytes = 8192;
    c->handshake_timeout_ms = 1000;
    c->identity = std::make_shared<const NodeIdentity>(NodeIdentity::from_seed(seed_of(2)));
    return c;
  }();
  return cfg;
}

struct Host : SessionHost {
  Hello local_hello() const override {
    Hello h;
    h.magic = kMagic;
    h.user_agent = "fuzz";
    h.node_nonce = 2;
    return h;
  }
  util::Status on_hello(const Hello&) override { return {}; }
  util::Status on_authenticated(const NodeId& id) override {
    if (id.data[0] & 1) return util::fail("not-allowed", "odd");
    return {};
  }
  bool on_established(const Hello&) override { return true; }
  void on_message(uint16_t, Bytes) override {}
  std::vector<NetAddress> on_getaddr() override { return {}; }
  void on_addr(const std::vector<NetAddress>&) override {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  {
    auto b = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(0, 128));
    (void)decode_key_exchange(b);
    (void)decode_auth(b);
  }
  const EphemeralKey init_eph = EphemeralKey::from_seed(seed_of(3));
  const EphemeralKey resp_probe = EphemeralKey::from_seed(seed_of(4));
  {
    auto keys = derive_session_keys(true, init_eph, resp_probe.public_key);
    RecordOpener o(keys->tx);
    auto b = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(0, 512));
    ByteSpan rest(b);
    while (!rest.empty()) {
      size_t n = in.ConsumeIntegralInRange<size_t>(1, rest.size());
      ByteSpan chunk = rest.first(n);
      rest = rest.subspan(n);
      while (!chunk.empty()) {
        auto r = o.next(chunk);
        if (!r || !*r) break;
      }
      check(o.buffered() <= kRecordHeaderSize + kMaxRecordCiphertext, "opener buffered beyond one record");
    }
  }

  Host host;
  uint64_t nonce = 1;
  PeerSession s(config(), host, true, [&nonce] { return nonce++; });
  int64_t now = 1000;
  s.start(now);
  // The initiator's key exchange; the responder's own is in its first write.
  auto kx = encode_frame(kMagic, msg::kKeyExchange, encode_key_exchange({kSecureVersion, true, init_eph.public_key}));
  std::optional<RecordSealer> sealer;
  auto writes = s.take_writes();
  for (const auto& w : writes) s.on_written(w->size());
  if (!writes.empty() && writes[0]->size() == kFrameHeaderSize + kKeyExchangeSize) {
    auto resp_kx = decode_key_exchange(ByteSpan(*writes[0]).subspan(kFrameHeaderSize));
    if (resp_kx) {
      auto keys = derive_session_keys(true, init_eph, resp_kx->ephemeral);
      if (keys) sealer.emplace(keys->tx);
    }
  }
  if (in.ConsumeBool()) s.on_bytes(kx, now);
  while (in.remaining_bytes() > 0) {
    const bool was_closed = s.state() == PeerSession::State::kClosed;
    switch (in.ConsumeIntegralInRange<int>(0, 3)) {
      case 0: {  // raw bytes
        auto b = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(0, 200));
        s.on_bytes(b, now);
        break;
      }
      case 1: {  // plaintext sealed with the initiator's real key
        auto b = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(1, 300));
        if (sealer && !b.empty()) {
          Bytes wire;
          if (sealer->seal(b, wire)) s.on_bytes(wire, now);
        }
        break;
      }
      case 2: {  // a well-formed frame of a chosen type, sealed
        uint16_t type = in.ConsumeIntegralInRange<uint16_t>(0, 17);
        auto payload = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(0, 120));
        if (sealer) {
          Bytes wire;
          if (sealer->seal(encode_frame(kMagic, type, payload), wire)) s.on_bytes(wire, now);
        }
        break;
      }
      case 3:
        now += in.ConsumeIntegralInRange<int64_t>(0, 2000);
        s.on_timer(now);
        break;
    }
    auto out = s.take_writes();
    for (const auto& w : out) s.on_written(w->size());
    if (was_closed) {
      check(s.state() == PeerSession::State::kClosed, "left the closed state");
      check(out.empty(), "wrote after closing");
    }
  }
  return 0;
}
