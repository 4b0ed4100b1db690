// net/secure.h — encrypted, authenticated peer links (docs/spec/p2p.md, "Encrypted links";
// ADR 0014): the node identity, the two handshake messages that come before the hello, and
// the sealed records that carry every frame after them.
//
// Every primitive is libsodium's; nothing here is hand-made cryptography:
//   identity     Ed25519 (crypto_sign), node id = the 32-byte public key
//   key exchange ephemeral X25519 both ways, session keys by crypto_kx (BLAKE2b of the shared
//                point and both public keys), the initiator being the kx "client"
//   records      ChaCha20-Poly1305-IETF (crypto_aead_chacha20poly1305_ietf), one key and one
//                64-bit counter nonce per direction, the 4 length bytes as associated data
//
// Pure values and per-connection state; no I/O, no clock, no global state. Thread-safety: a
// NodeIdentity is immutable (safe to share); RecordSealer and RecordOpener belong to one
// connection.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "net/frame.h"
#include "util/bytes.h"
#include "util/result.h"

namespace peerchain::net {

// A node's public identity key (Ed25519); its hex is the node id shown to users.
using NodeId = util::FixedBytes<32>;
using NodeSignature = util::FixedBytes<64>;
using KeySeed = util::FixedBytes<32>;

// The long-lived identity of a node. Kept in the node's home as the hex of its 32-byte seed.
class NodeIdentity {
 public:
  static NodeIdentity from_seed(const KeySeed& seed);
  const NodeId& id() const { return public_key_; }
  const KeySeed& seed() const { return seed_; }
  NodeSignature sign(ByteSpan message) const;

 private:
  KeySeed seed_;
  NodeId public_key_;
  util::FixedBytes<64> secret_key_;
};

bool verify_node_signature(const NodeId& id, ByteSpan message, const NodeSignature& sig);
// A node id from its 64 hex digits. Error code "bad-node-id".
util::Result<NodeId> parse_node_id(std::string_view hex);

// ---- handshake messages ----

inline constexpr uint8_t kSecureVersion = 1;

// Frame type 7, always plaintext, the first frame each side sends.
struct KeyExchange {
  uint8_t version = kSecureVersion;
  bool encrypt = true;  // false only with the test-only --p2p-encryption=off (never sent today)
  util::FixedBytes<32> ephemeral;  // X25519 public key, fresh per connection

  bool operator==(const KeyExchange&) const = default;
};
inline constexpr size_t kKeyExchangeSize = 1 + 1 + 32;
Bytes encode_key_exchange(const KeyExchange& kx);
// Strict: exact size, version 1, flags 0 or 1. Error codes "truncated"/"trailing-bytes",
// "bad-version", "bad-flags".
util::Result<KeyExchange> decode_key_exchange(ByteSpan payload);

// Frame type 8, the first sealed frame each side sends: who it is, and its signature over the
// transcript (both ephemeral keys, the network and the signer's role), which binds the
// identity to this connection's keys.
struct Auth {
  NodeId node_id;
  NodeSignature signature;

  bool operator==(const Auth&) const = default;
};
inline constexpr size_t kAuthSize = 32 + 64;
Bytes encode_auth(const Auth& a);
util::Result<Auth> decode_auth(ByteSpan payload);

// "peerchain-p2p-auth-v1" | magic[4] | role u8 (0 initiator, 1 responder) | initiator
// ephemeral[32] | responder ephemeral[32]
Bytes auth_transcript(const Magic& magic, bool signer_is_initiator, const util::FixedBytes<32>& initiator_eph,
                      const util::FixedBytes<32>& responder_eph);

struct EphemeralKey {
  util::FixedBytes<32> public_key;
  util::FixedBytes<32> secret_key;
  static EphemeralKey from_seed(const KeySeed& seed);
};

struct SessionKeys {
  util::FixedBytes<32> tx;  // seals what we send
  util::FixedBytes<32> rx;  // opens what we receive
};
// Error code "bad-key-exchange" when the peer's key is a low-order point.
util::Result<SessionKeys> derive_session_keys(bool initiator, const EphemeralKey& ours,
                                              const util::FixedBytes<32>& theirs);

// ---- records ----
//
//   length u32 (of the ciphertext, tag included) | ciphertext
// ciphertext = ChaCha20-Poly1305-IETF(key, nonce = counter u64 LE | 0x00000000,
//                                    ad = the 4 length bytes, plaintext)
// A plaintext is a piece of the frame stream (frames are cut into pieces of at most
// kMaxRecordPlaintext bytes) and never empty.
inline constexpr size_t kRecordTagSize = 16;
inline constexpr size_t kRecordHeaderSize = 4;
inline constexpr size_t kMaxRecordPlaintext = 64 * 1024;
inline constexpr size_t kMaxRecordCiphertext = kMaxRecordPlaintext + kRecordTagSize;
// The counter stops one short of wrapping: the connection closes rather than reuse a nonce.
inline constexpr uint64_t kMaxRecordCounter = UINT64_MAX - 1;

// Bytes on the wire for a frame of `n` bytes.
size_t sealed_size(size_t n);

class RecordSealer {
 public:
  explicit RecordSealer(const util::FixedBytes<32>& key, uint64_t counter = 0) : key_(key), counter_(counter) {}
  ~RecordSealer();
  // The records of `plain` (cut into kMaxRecordPlaintext pieces), appended to `out`. Error code
  // "nonce-exhausted" once the counter would wrap. REQUIRES: !plain.empty()
  util::Status seal(ByteSpan plain, Bytes& out);
  uint64_t counter() const { return counter_; }

 private:
  util::FixedBytes<32> key_;
  uint64_t counter_;
};

enum class RecordErrorCode {
  kBadLength,  // "bad-length": empty or above kMaxRecordCiphertext
  kDecrypt,    // "decrypt": tampered, replayed, reordered or cut records
  kExhausted,  // "nonce-exhausted"
};
const char* token(RecordErrorCode code);
struct RecordError {
  RecordErrorCode code;
  std::string detail;
  std::string to_string() const { return std::string(token(code)) + ": " + detail; }
};

// Splits the byte stream into records and opens them, in order. Like FrameDecoder, memory grows
// with the bytes received, never with the length a header claims; after an error every call
// gives the same error.
class RecordOpener {
 public:
  explicit RecordOpener(const util::FixedBytes<32>& key, uint64_t counter = 0) : key_(key), counter_(counter) {}
  ~RecordOpener();
  // Consumes bytes from the front of `in` until a record is opened (its plaintext), an error is
  // found, or `in` is exhausted (nullopt).
  util::Result<std::optional<Bytes>, RecordError> next(ByteSpan& in);
  uint64_t counter() const { return counter_; }
  size_t buffered() const { return header_have_ + body_.size(); }

 private:
  util::Result<std::optional<Bytes>, RecordError> fail(RecordErrorCode code, std::string detail);

  util::FixedBytes<32> key_;
  uint64_t counter_;
  uint8_t header_[kRecordHeaderSize] = {};
  size_t header_have_ = 0;
  uint32_t length_ = 0;
  Bytes body_;
  std::optional<RecordError> error_;
};

}  // namespace peerchain::net
