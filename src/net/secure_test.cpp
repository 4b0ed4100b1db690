// The secure link's pieces: identity, handshake messages, records; and the spec's vectors
// (docs/spec/p2p.md, "Encrypted links"), so the document and the code cannot drift apart.
#include "net/secure.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <random>

#include "net/messages.h"

using namespace peerchain;
using namespace peerchain::net;

namespace {

KeySeed seed_of(uint8_t b) {
  KeySeed s;
  for (auto& x : s.data) x = b;
  return s;
}

Bytes open_all(RecordOpener& o, const Bytes& wire, std::string* error = nullptr) {
  Bytes out;
  ByteSpan in(wire);
  while (!in.empty()) {
    auto r = o.next(in);
    if (!r) {
      if (error) *error = r.error().to_string();
      return out;
    }
    if (!*r) break;
    out.insert(out.end(), (*r)->begin(), (*r)->end());
  }
  return out;
}

struct Keys {
  SessionKeys init, resp;
  Keys() {
    auto a = EphemeralKey::from_seed(seed_of(3));
    auto b = EphemeralKey::from_seed(seed_of(4));
    init = *derive_session_keys(true, a, b.public_key);
    resp = *derive_session_keys(false, b, a.public_key);
  }
};

}  // namespace

TEST(Secure, IdentitySignsAndVerifies) {
  auto id = NodeIdentity::from_seed(seed_of(1));
  EXPECT_EQ(NodeIdentity::from_seed(seed_of(1)).id(), id.id());
  EXPECT_NE(NodeIdentity::from_seed(seed_of(2)).id(), id.id());
  Bytes msg{1, 2, 3};
  auto sig = id.sign(msg);
  EXPECT_TRUE(verify_node_signature(id.id(), msg, sig));
  msg[0] ^= 1;
  EXPECT_FALSE(verify_node_signature(id.id(), msg, sig));
  EXPECT_FALSE(verify_node_signature(NodeIdentity::from_seed(seed_of(2)).id(), Bytes{1, 2, 3}, sig));
}

TEST(Secure, ParseNodeId) {
  auto id = NodeIdentity::from_seed(seed_of(1)).id();
  ASSERT_TRUE(parse_node_id(id.hex()));
  EXPECT_EQ(*parse_node_id(id.hex()), id);
  EXPECT_EQ(parse_node_id("abcd").error().code, "bad-node-id");
  EXPECT_EQ(parse_node_id(id.hex() + "00").error().code, "bad-node-id");
  EXPECT_FALSE(parse_node_id(std::string(64, 'g')));
}

TEST(Secure, HandshakeMessagesAreStrict) {
  KeyExchange kx{kSecureVersion, true, EphemeralKey::from_seed(seed_of(3)).public_key};
  auto b = encode_key_exchange(kx);
  ASSERT_EQ(b.size(), kKeyExchangeSize);
  EXPECT_EQ(*decode_key_exchange(b), kx);
  auto bad = b;
  bad[0] = 2;
  EXPECT_EQ(decode_key_exchange(bad).error().code, "bad-version");
  bad = b;
  bad[1] = 2;
  EXPECT_EQ(decode_key_exchange(bad).error().code, "bad-flags");
  EXPECT_EQ(decode_key_exchange(ByteSpan(b).first(10)).error().code, "truncated");
  bad = b;
  bad.push_back(0);
  EXPECT_EQ(decode_key_exchange(bad).error().code, "trailing-bytes");

  auto id = NodeIdentity::from_seed(seed_of(1));
  Auth a{id.id(), id.sign(Bytes{9})};
  auto ab = encode_auth(a);
  ASSERT_EQ(ab.size(), kAuthSize);
  EXPECT_EQ(*decode_auth(ab), a);
  EXPECT_EQ(decode_auth(ByteSpan(ab).first(95)).error().code, "truncated");
  ab.push_back(1);
  EXPECT_EQ(decode_auth(ab).error().code, "trailing-bytes");
}

TEST(Secure, KeysAgreeCrosswise) {
  Keys k;
  EXPECT_EQ(k.init.tx, k.resp.rx);
  EXPECT_EQ(k.init.rx, k.resp.tx);
  EXPECT_NE(k.init.tx, k.init.rx);
  // A low-order point (all zeros) gives no shared secret: refused rather than a known key.
  util::FixedBytes<32> zero;
  EXPECT_EQ(derive_session_keys(true, EphemeralKey::from_seed(seed_of(3)), zero).error().code, "bad-key-exchange");
}

TEST(Secure, RecordsRoundTripInAnyChunking) {
  Keys k;
  RecordSealer s(k.init.tx);
  RecordOpener o(k.resp.rx);
  std::mt19937_64 rng(7);
  for (size_t size : {size_t{1}, size_t{100}, kMaxRecordPlaintext, kMaxRecordPlaintext + 1, size_t{300'000}}) {
    Bytes plain(size);
    for (auto& b : plain) b = static_cast<uint8_t>(rng());
    Bytes wire;
    ASSERT_TRUE(s.seal(plain, wire));
    EXPECT_EQ(wire.size(), sealed_size(size));
    Bytes got;
    size_t pos = 0;
    while (pos < wire.size()) {
      size_t n = std::min<size_t>(wire.size() - pos, 1 + rng() % 5000);
      ByteSpan in(wire.data() + pos, n);
      while (!in.empty()) {
        auto r = o.next(in);
        ASSERT_TRUE(r) << r.error().to_string();
        if (*r) got.insert(got.end(), (*r)->begin(), (*r)->end());
      }
      pos += n;
      EXPECT_LE(o.buffered(), kRecordHeaderSize + kMaxRecordCiphertext);
    }
    EXPECT_EQ(got, plain);
  }
  EXPECT_EQ(s.counter(), o.counter());
}

TEST(Secure, TamperedReplayedReorderedAndCutRecordsDoNotOpen) {
  Keys k;
  auto two_records = [&](RecordSealer& s) {
    Bytes w1, w2;
    EXPECT_TRUE(s.seal(Bytes(50, 1), w1));
    EXPECT_TRUE(s.seal(Bytes(60, 2), w2));
    return std::make_pair(w1, w2);
  };
  {  // a flipped bit anywhere: in the length (associated data), the body or the tag
    RecordSealer s(k.init.tx);
    auto [w1, w2] = two_records(s);
    for (size_t i : {size_t{0}, size_t{4}, size_t{20}, w1.size() - 1}) {
      Bytes bad = w1;
      bad[i] ^= 0x01;
      RecordOpener o(k.resp.rx);
      std::string err;
      // Nothing comes out: an error, or (a longer length) a record still waiting for its end.
      EXPECT_TRUE(open_all(o, bad, &err).empty()) << "flip at " << i;
      if (i != 0) {
        EXPECT_FALSE(err.empty()) << "flip at " << i;
      }
    }
  }
  {  // replayed: the same record twice
    RecordSealer s(k.init.tx);
    auto [w1, w2] = two_records(s);
    RecordOpener o(k.resp.rx);
    Bytes wire = w1;
    wire.insert(wire.end(), w1.begin(), w1.end());
    std::string err;
    EXPECT_EQ(open_all(o, wire, &err).size(), 50u);
    EXPECT_EQ(err.rfind("decrypt", 0), 0u) << err;
  }
  {  // reordered
    RecordSealer s(k.init.tx);
    auto [w1, w2] = two_records(s);
    RecordOpener o(k.resp.rx);
    Bytes wire = w2;
    wire.insert(wire.end(), w1.begin(), w1.end());
    std::string err;
    EXPECT_TRUE(open_all(o, wire, &err).empty());
    EXPECT_EQ(err.rfind("decrypt", 0), 0u) << err;
  }
  {  // cut: a record missing its last byte, followed by the next record
    RecordSealer s(k.init.tx);
    auto [w1, w2] = two_records(s);
    RecordOpener o(k.resp.rx);
    Bytes wire(w1.begin(), w1.end() - 1);
    wire.insert(wire.end(), w2.begin(), w2.end());
    std::string err;
    open_all(o, wire, &err);
    EXPECT_EQ(err.rfind("decrypt", 0), 0u) << err;
    // poisoned: the same error from then on
    ByteSpan more(w2);
    EXPECT_FALSE(o.next(more));
  }
  {  // the wrong direction's key (a reflected stream)
    RecordSealer s(k.init.tx);
    auto [w1, w2] = two_records(s);
    RecordOpener o(k.init.rx);
    std::string err;
    open_all(o, w1, &err);
    EXPECT_EQ(err.rfind("decrypt", 0), 0u) << err;
  }
}

TEST(Secure, RecordLengthIsBudgeted) {
  Keys k;
  for (uint32_t len : {0u, 16u, static_cast<uint32_t>(kMaxRecordCiphertext + 1), 0xffffffffu}) {
    RecordOpener o(k.resp.rx);
    Bytes wire{static_cast<uint8_t>(len), static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len >> 16),
               static_cast<uint8_t>(len >> 24)};
    ByteSpan in(wire);
    auto r = o.next(in);
    ASSERT_FALSE(r) << len;
    EXPECT_EQ(r.error().code, RecordErrorCode::kBadLength);
    EXPECT_EQ(o.buffered(), 0u);
  }
}

TEST(Secure, CounterNeverWraps) {
  Keys k;
  RecordSealer s(k.init.tx, kMaxRecordCounter);
  Bytes wire;
  ASSERT_TRUE(s.seal(Bytes{1}, wire));
  Bytes more;
  auto st = s.seal(Bytes{2}, more);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, "nonce-exhausted");
  EXPECT_TRUE(more.empty());
  RecordOpener o(k.resp.rx, kMaxRecordCounter);
  EXPECT_EQ(open_all(o, wire), Bytes{1});
  std::string err;
  RecordSealer s2(k.init.tx, kMaxRecordCounter + 1);  // as if it had wrapped: the opener refuses
  (void)s2;
  RecordOpener o2(k.resp.rx, kMaxRecordCounter + 1);
  open_all(o2, wire, &err);
  EXPECT_EQ(err.rfind("nonce-exhausted", 0), 0u) << err;
}

namespace {
// "secure-vector NAME" lines in docs/spec/p2p.md, each followed by hex lines up to a blank line.
std::map<std::string, std::string> secure_vectors() {
  std::ifstream in(std::string(PEERCHAIN_SPEC_DIR) + "/p2p.md");
  std::map<std::string, std::string> out;
  std::string line, pending;
  while (std::getline(in, line)) {
    if (line.rfind("secure-vector ", 0) == 0)
      pending = line.substr(14);
    else if (line.empty() || line.rfind("```", 0) == 0)
      pending.clear();
    else if (!pending.empty())
      out[pending] += line;
  }
  return out;
}

struct VectorRun {
  const Magic magic{{0xf9, 0xbe, 0xb4, 0xd9}};
  NodeIdentity init_id = NodeIdentity::from_seed(seed_of(0x11));
  NodeIdentity resp_id = NodeIdentity::from_seed(seed_of(0x22));
  EphemeralKey init_eph = EphemeralKey::from_seed(seed_of(0x33));
  EphemeralKey resp_eph = EphemeralKey::from_seed(seed_of(0x44));
  std::map<std::string, std::string> compute() const {
    std::map<std::string, std::string> v;
    v["initiator-node-id"] = init_id.id().hex();
    v["responder-node-id"] = resp_id.id().hex();
    v["initiator-key-exchange"] =
        util::to_hex(encode_frame(magic, msg::kKeyExchange, encode_key_exchange({kSecureVersion, true, init_eph.public_key})));
    v["responder-key-exchange"] =
        util::to_hex(encode_frame(magic, msg::kKeyExchange, encode_key_exchange({kSecureVersion, true, resp_eph.public_key})));
    auto ki = *derive_session_keys(true, init_eph, resp_eph.public_key);
    v["initiator-tx-key"] = ki.tx.hex();
    v["initiator-rx-key"] = ki.rx.hex();
    auto transcript = auth_transcript(magic, true, init_eph.public_key, resp_eph.public_key);
    v["initiator-transcript"] = util::to_hex(transcript);
    Auth a{init_id.id(), init_id.sign(transcript)};
    RecordSealer s(ki.tx);
    Bytes wire;
    (void)s.seal(encode_frame(magic, msg::kAuth, encode_auth(a)), wire);
    v["initiator-auth-record"] = util::to_hex(wire);
    Bytes wire2;
    (void)s.seal(encode_frame(magic, msg::kHelloAck, {}), wire2);
    v["initiator-hello-ack-record-1"] = util::to_hex(wire2);
    return v;
  }
};
}  // namespace

TEST(Spec, SecureLinkVectorsMatch) {
  auto spec = secure_vectors();
  auto ours = VectorRun().compute();
  if (std::getenv("PEERCHAIN_PRINT_VECTORS"))
    for (const auto& [k, v] : ours) std::printf("secure-vector %s\n%s\n\n", k.c_str(), v.c_str());
  ASSERT_EQ(spec.size(), ours.size()) << "secure-vector blocks missing from docs/spec/p2p.md";
  for (const auto& [k, v] : ours) EXPECT_EQ(spec[k], v) << k;
  // And the other way: the responder opens the spec's record with its own derived key.
  VectorRun r;
  auto kr = *derive_session_keys(false, r.resp_eph, r.init_eph.public_key);
  RecordOpener o(kr.rx);
  auto wire = util::from_hex(spec["initiator-auth-record"]);
  ASSERT_TRUE(wire);
  ByteSpan in(*wire);
  auto plain = o.next(in);
  ASSERT_TRUE(plain && *plain);
  FrameDecoder d(r.magic, net_message_limits());
  ByteSpan p(**plain);
  auto f = d.next(p);
  ASSERT_TRUE(f && *f);
  auto a = decode_auth((*f)->payload);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->node_id, r.init_id.id());
  EXPECT_TRUE(verify_node_signature(a->node_id, util::from_hex(spec["initiator-transcript"]).value(), a->signature));
}
