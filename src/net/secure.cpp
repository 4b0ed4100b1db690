#include "net/secure.h"

#include <sodium.h>

#include <cassert>
#include <cstdlib>
#include <cstring>

#include "util/serialize.h"

namespace peerchain::net {

namespace {
// sodium_init() is idempotent and thread-safe; every entry point that needs it calls this.
void ensure_sodium() {
  static const bool ok = sodium_init() >= 0;
  if (!ok) std::abort();  // no usable libsodium: nothing secure can run
}

void put_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

void record_nonce(uint64_t counter, uint8_t out[crypto_aead_chacha20poly1305_IETF_NPUBBYTES]) {
  std::memset(out, 0, crypto_aead_chacha20poly1305_IETF_NPUBBYTES);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(counter >> (8 * i));
}

constexpr char kAuthLabel[] = "peerchain-p2p-auth-v1";
}  // namespace

// ---- identity ----

NodeIdentity NodeIdentity::from_seed(const KeySeed& seed) {
  ensure_sodium();
  NodeIdentity id;
  id.seed_ = seed;
  crypto_sign_seed_keypair(id.public_key_.data.data(), id.secret_key_.data.data(), seed.data.data());
  return id;
}

NodeSignature NodeIdentity::sign(ByteSpan message) const {
  NodeSignature sig;
  crypto_sign_detached(sig.data.data(), nullptr, message.data(), message.size(), secret_key_.data.data());
  return sig;
}

bool verify_node_signature(const NodeId& id, ByteSpan message, const NodeSignature& sig) {
  ensure_sodium();
  return crypto_sign_verify_detached(sig.data.data(), message.data(), message.size(), id.data.data()) == 0;
}

util::Result<NodeId> parse_node_id(std::string_view hex) {
  auto id = NodeId::from_hex(hex);
  if (!id) return util::fail("bad-node-id", "a node id is 64 hex digits, got '" + std::string(hex.substr(0, 80)) + "'");
  return *id;
}

// ---- handshake messages ----

Bytes encode_key_exchange(const KeyExchange& kx) {
  util::Writer w(kKeyExchangeSize);
  w.u8(kx.version);
  w.u8(kx.encrypt ? 1 : 0);
  w.fixed(kx.ephemeral);
  return std::move(w).take();
}

util::Result<KeyExchange> decode_key_exchange(ByteSpan payload) {
  if (payload.size() != kKeyExchangeSize)
    return util::fail(payload.size() < kKeyExchangeSize ? "truncated" : "trailing-bytes",
                      "key exchange is " + std::to_string(kKeyExchangeSize) + " bytes, have " +
                          std::to_string(payload.size()));
  util::Reader r(payload);
  KeyExchange kx;
  kx.version = *r.u8();
  uint8_t flags = *r.u8();
  kx.ephemeral = *r.fixed<32>();
  if (kx.version != kSecureVersion)
    return util::fail("bad-version", "secure link version " + std::to_string(kx.version) + ", we speak " +
                                         std::to_string(kSecureVersion));
  if (flags > 1) return util::fail("bad-flags", "flags " + std::to_string(flags));
  kx.encrypt = flags == 1;
  return kx;
}

Bytes encode_auth(const Auth& a) {
  util::Writer w(kAuthSize);
  w.fixed(a.node_id);
  w.fixed(a.signature);
  return std::move(w).take();
}

util::Result<Auth> decode_auth(ByteSpan payload) {
  if (payload.size() != kAuthSize)
    return util::fail(payload.size() < kAuthSize ? "truncated" : "trailing-bytes",
                      "auth is " + std::to_string(kAuthSize) + " bytes, have " + std::to_string(payload.size()));
  util::Reader r(payload);
  Auth a;
  a.node_id = *r.fixed<32>();
  a.signature = *r.fixed<64>();
  return a;
}

Bytes auth_transcript(const Magic& magic, bool signer_is_initiator, const util::FixedBytes<32>& initiator_eph,
                      const util::FixedBytes<32>& responder_eph) {
  util::Writer w(sizeof kAuthLabel - 1 + 4 + 1 + 64);
  w.bytes(util::as_bytes(std::string_view(kAuthLabel, sizeof kAuthLabel - 1)));
  w.fixed(magic);
  w.u8(signer_is_initiator ? 0 : 1);
  w.fixed(initiator_eph);
  w.fixed(responder_eph);
  return std::move(w).take();
}

EphemeralKey EphemeralKey::from_seed(const KeySeed& seed) {
  ensure_sodium();
  EphemeralKey k;
  crypto_kx_seed_keypair(k.public_key.data.data(), k.secret_key.data.data(), seed.data.data());
  return k;
}

util::Result<SessionKeys> derive_session_keys(bool initiator, const EphemeralKey& ours,
                                              const util::FixedBytes<32>& theirs) {
  ensure_sodium();
  SessionKeys k;
  int rc = initiator ? crypto_kx_client_session_keys(k.rx.data.data(), k.tx.data.data(), ours.public_key.data.data(),
                                                     ours.secret_key.data.data(), theirs.data.data())
                     : crypto_kx_server_session_keys(k.rx.data.data(), k.tx.data.data(), ours.public_key.data.data(),
                                                     ours.secret_key.data.data(), theirs.data.data());
  if (rc != 0) return util::fail("bad-key-exchange", "the peer's ephemeral key is not usable");
  return k;
}

// ---- records ----

size_t sealed_size(size_t n) {
  size_t records = (n + kMaxRecordPlaintext - 1) / kMaxRecordPlaintext;
  return n + records * (kRecordHeaderSize + kRecordTagSize);
}

RecordSealer::~RecordSealer() { sodium_memzero(key_.data.data(), key_.size()); }

util::Status RecordSealer::seal(ByteSpan plain, Bytes& out) {
  assert(!plain.empty());
  size_t base = out.size();
  out.resize(base + sealed_size(plain.size()));
  uint8_t* p = out.data() + base;
  while (!plain.empty()) {
    if (counter_ > kMaxRecordCounter) {
      out.resize(base);
      return util::fail("nonce-exhausted", "the send counter reached its end");
    }
    size_t n = std::min(plain.size(), kMaxRecordPlaintext);
    put_u32(p, static_cast<uint32_t>(n + kRecordTagSize));
    uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
    record_nonce(counter_++, nonce);
    unsigned long long clen = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt(p + kRecordHeaderSize, &clen, plain.data(), n, p, kRecordHeaderSize,
                                              nullptr, nonce, key_.data.data());
    p += kRecordHeaderSize + clen;
    plain = plain.subspan(n);
  }
  return {};
}

const char* token(RecordErrorCode code) {
  switch (code) {
    case RecordErrorCode::kBadLength:
      return "bad-length";
    case RecordErrorCode::kDecrypt:
      return "decrypt";
    case RecordErrorCode::kExhausted:
      return "nonce-exhausted";
  }
  return "unknown";
}

RecordOpener::~RecordOpener() { sodium_memzero(key_.data.data(), key_.size()); }

util::Result<std::optional<Bytes>, RecordError> RecordOpener::fail(RecordErrorCode code, std::string detail) {
  error_ = RecordError{code, std::move(detail)};
  body_ = Bytes();
  header_have_ = 0;
  return util::unexpected(*error_);
}

util::Result<std::optional<Bytes>, RecordError> RecordOpener::next(ByteSpan& in) {
  if (error_) return util::unexpected(*error_);
  while (header_have_ < kRecordHeaderSize) {
    if (in.empty()) return std::optional<Bytes>();
    header_[header_have_++] = in.front();
    in = in.subspan(1);
    if (header_have_ < kRecordHeaderSize) continue;
    length_ = static_cast<uint32_t>(header_[0]) | static_cast<uint32_t>(header_[1]) << 8 |
              static_cast<uint32_t>(header_[2]) << 16 | static_cast<uint32_t>(header_[3]) << 24;
    if (length_ <= kRecordTagSize || length_ > kMaxRecordCiphertext)
      return fail(RecordErrorCode::kBadLength, "record length " + std::to_string(length_) + " not in " +
                                                   std::to_string(kRecordTagSize + 1) + ".." +
                                                   std::to_string(kMaxRecordCiphertext));
  }
  size_t take = std::min(in.size(), static_cast<size_t>(length_) - body_.size());
  body_.insert(body_.end(), in.begin(), in.begin() + static_cast<std::ptrdiff_t>(take));
  in = in.subspan(take);
  if (body_.size() < length_) return std::optional<Bytes>();

  if (counter_ > kMaxRecordCounter) return fail(RecordErrorCode::kExhausted, "the receive counter reached its end");
  uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
  record_nonce(counter_, nonce);
  Bytes plain(length_ - kRecordTagSize);
  unsigned long long plen = 0;
  if (crypto_aead_chacha20poly1305_ietf_decrypt(plain.data(), &plen, nullptr, body_.data(), body_.size(), header_,
                                                kRecordHeaderSize, nonce, key_.data.data()) != 0)
    return fail(RecordErrorCode::kDecrypt, "record " + std::to_string(counter_) + " of " +
                                               std::to_string(length_) + " bytes does not open");
  ++counter_;
  body_.clear();
  header_have_ = 0;
  return std::optional<Bytes>(std::move(plain));
}

}  // namespace peerchain::net
