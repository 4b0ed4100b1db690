// crypto/schnorr.h — BIP340 Schnorr signatures over secp256k1 (libsecp256k1).
//
// One verification context is created per process on first use and shared (libsecp256k1
// contexts are safe for concurrent const use). Secret keys are wiped on destruction.
#pragma once

#include <optional>

#include "crypto/sha256.h"
#include "util/bytes.h"

namespace peerchain::crypto {

using XOnlyPubKey = util::FixedBytes<32>;
using SchnorrSig = util::FixedBytes<64>;

class SecretKey {
 public:
  // nullopt unless 0 < key < secp256k1 order.
  static std::optional<SecretKey> from_bytes(const util::FixedBytes<32>& bytes);
  // A fresh key from the operating system's CSPRNG.
  static SecretKey generate();

  SecretKey(const SecretKey& o) = default;
  SecretKey& operator=(const SecretKey& o) = default;
  ~SecretKey();

  const util::FixedBytes<32>& bytes() const { return bytes_; }
  XOnlyPubKey pubkey() const;
  // BIP340 signature of a 32-byte message with 32 bytes of auxiliary randomness (all-zero
  // gives deterministic signatures, as the vectors use).
  SchnorrSig sign(const Hash256& msg, const util::FixedBytes<32>& aux = {}) const;

 private:
  explicit SecretKey(const util::FixedBytes<32>& b) : bytes_(b) {}
  util::FixedBytes<32> bytes_;
};

// A secret key expanded once for signing many messages: SecretKey::sign and pubkey() each
// derive the keypair (a scalar multiplication, as costly as the signature itself), which made
// a client signing a long run of one account's transfers pay three multiplications per transfer.
// The expanded secret is wiped on destruction. Safe for concurrent const use.
class Signer {
 public:
  explicit Signer(const SecretKey& key);
  Signer(const Signer&) = delete;
  Signer& operator=(const Signer&) = delete;
  ~Signer();

  const XOnlyPubKey& pubkey() const { return pubkey_; }
  SchnorrSig sign(const Hash256& msg, const util::FixedBytes<32>& aux = {}) const;

 private:
  alignas(8) unsigned char keypair_[96];  // secp256k1_keypair, kept opaque to callers
  XOnlyPubKey pubkey_;
};

// True iff `sig` is a valid BIP340 signature of `msg` (any length) by `pubkey`.
bool schnorr_verify(const XOnlyPubKey& pubkey, ByteSpan msg, const SchnorrSig& sig);
// One signature to check in a batch: a BIP340 signature of a 32-byte message.
struct SchnorrCheck {
  const XOnlyPubKey* pubkey;
  Hash256 msg;
  const SchnorrSig* sig;
};
// True iff every signature in `checks` is valid; false if any is not or a key is not on the
// curve (then check each with schnorr_verify to learn which). The batch is checked as one
// multi-scalar multiplication with secret random weights (ADR 0022): per signature ~0.9 of a
// single check at 16, 0.6-0.8 at 128, 0.5-0.7 from 256 on. Batches over 512 are split.
bool schnorr_verify_batch(std::span<const SchnorrCheck> checks);
// Signature verifications this process has made (a counter for metrics and benchmarks).
uint64_t schnorr_verifications();
// True iff `pubkey` is the x coordinate of a point on the curve.
bool is_valid_pubkey(const XOnlyPubKey& pubkey);
// Keys this process has parsed (a field square root each): the misses of the cache of parsed
// keys that verification and is_valid_pubkey share across threads.
uint64_t schnorr_key_parses();

}  // namespace peerchain::crypto
