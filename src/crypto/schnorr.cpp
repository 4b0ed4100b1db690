#include "crypto/schnorr.h"

#include <atomic>

#include <openssl/crypto.h>
#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

#include "crypto/secp256k1_batch.h"

#include <array>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "crypto/random.h"

namespace peerchain::crypto {

namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "peerchain: fatal libsecp256k1 error: %s\n", what);
  std::abort();
}

secp256k1_context* make_context() {
  secp256k1_context* ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
  if (ctx == nullptr) die("secp256k1_context_create");
  // Blinding for the signing code paths (side-channel hardening); verification ignores it.
  unsigned char seed[32];
  random_bytes(seed);
  int ok = secp256k1_context_randomize(ctx, seed);
  OPENSSL_cleanse(seed, sizeof seed);
  if (!ok) die("secp256k1_context_randomize");
  return ctx;
}

// The process-wide context: created on first use, never destroyed (it may be used by other
// threads until exit). After initialisation, a call costs one already-initialised check.
inline const secp256k1_context* ctx() {
  static const secp256k1_context* const c = make_context();
  return c;
}

// A keypair with the secret wiped when it goes out of scope.
struct Keypair {
  secp256k1_keypair kp;
  explicit Keypair(const util::FixedBytes<32>& secret) {
    if (!secp256k1_keypair_create(ctx(), &kp, secret.data.data()))
      die("secp256k1_keypair_create on a validated key");  // SecretKey invariant broken
  }
  ~Keypair() { OPENSSL_cleanse(&kp, sizeof kp); }
  Keypair(const Keypair&) = delete;
  Keypair& operator=(const Keypair&) = delete;
};

// Parsing an x-only key costs a field square root (~4.5 us, a tenth of a verification). Senders
// and recipients repeat (an account sends many transfers), so parsed keys are cached; a miss
// costs one parse, as without the cache. The set index is salted, so nobody can choose keys that
// keep evicting each other.
//
// Four ways per set: direct-mapped, 4,096 slots held 1,000 accounts' keys with about a fifth of
// them sharing a slot with another, and the pairs evicted each other all the time (every block of
// a 1,000-account load run re-parsed ~1,000 recipients, 4-5 ms of a 5,000-transfer block's checks
// on an idle core, traced in the block-connect thread).
//
// One cache for the process, not one per thread: with a cache per thread, each thread parsed
// every key once for itself, so the first large block a thread checked (the miner's own, the
// block-connect thread's) paid ~1,000 parses, 3-9 ms of thread CPU in a block's checks, traced
// on the path a block takes to its connect; admission had parsed the same keys long before on
// other threads. Shared, a key parsed at admission is found by the block's checks. A set is
// guarded by its own mutex, held for a lookup or a store (never for a parse), so threads meet
// only on the same set. One cache of 16,384 keys for the process is also larger than each
// thread's 4,096 were (BM_RecipientKeyCheck, 1,000 / 3,000 / 10,000 keys: 30 / 53 / 409 ns a
// check, against 54 / 660 / 3,883 ns with a cache per thread).
class ParsedKeyCache {
 public:
  // Parses `key` into `out`; false if it is not on the curve.
  bool parse(const XOnlyPubKey& key, secp256k1_xonly_pubkey& out) {
    uint64_t word;
    std::memcpy(&word, key.data.data(), sizeof word);
    Set& set = sets_[((word ^ salt_) * 0x9e3779b97f4a7c15ULL) >> (64 - kSetBits)];
    {
      std::lock_guard lock(set.mu);
      for (const Entry& e : set.ways)
        if (e.used && e.key == key) {
          if (e.valid) out = e.parsed;
          return e.valid;
        }
    }
    parses_.fetch_add(1, std::memory_order_relaxed);
    const bool valid = secp256k1_xonly_pubkey_parse(ctx(), &out, key.data.data()) == 1;
    std::lock_guard lock(set.mu);
    for (const Entry& e : set.ways)
      if (e.used && e.key == key) return valid;  // another thread stored it meanwhile
    Entry& e = set.ways[set.next];  // the oldest of the set's keys makes room
    set.next = static_cast<uint8_t>((set.next + 1) % kWays);
    e.used = true;
    e.valid = valid;
    e.key = key;
    if (valid) e.parsed = out;
    return valid;
  }
  uint64_t parses() const { return parses_.load(std::memory_order_relaxed); }

 private:
  // 4,096 sets of 4, ~1.7 MiB for the process (it was ~400 KiB for each of some twenty threads):
  // a sync of transfers among a few thousand accounts missed half the time with 512
  // direct-mapped slots.
  static constexpr unsigned kSetBits = 12;
  static constexpr unsigned kWays = 4;
  struct Entry {
    XOnlyPubKey key;
    secp256k1_xonly_pubkey parsed;
    bool used = false;
    bool valid = false;
  };
  struct Set {
    std::mutex mu;
    std::array<Entry, kWays> ways{};  // GUARDED_BY(mu)
    uint8_t next = 0;                 // GUARDED_BY(mu)
  };
  std::array<Set, size_t{1} << kSetBits> sets_{};
  const uint64_t salt_ = random_u64();
  std::atomic<uint64_t> parses_{0};
};

ParsedKeyCache& key_cache() {
  static ParsedKeyCache* const cache = new ParsedKeyCache;  // never freed: threads use it until exit
  return *cache;
}

// Parses `key` into `out` through the process's cache; false if it is not on the curve.
bool parse_key(const XOnlyPubKey& key, secp256k1_xonly_pubkey& out) { return key_cache().parse(key, out); }

}  // namespace

std::optional<SecretKey> SecretKey::from_bytes(const util::FixedBytes<32>& bytes) {
  if (!secp256k1_ec_seckey_verify(ctx(), bytes.data.data())) return std::nullopt;
  return SecretKey(bytes);
}

SecretKey SecretKey::generate() {
  util::FixedBytes<32> b;
  for (;;) {
    random_bytes(b.data);
    // A uniformly random 256-bit string is >= the group order with probability ~2^-128.
    if (secp256k1_ec_seckey_verify(ctx(), b.data.data())) break;
  }
  SecretKey key(b);
  OPENSSL_cleanse(b.data.data(), b.size());
  return key;
}

SecretKey::~SecretKey() { OPENSSL_cleanse(bytes_.data.data(), bytes_.size()); }

XOnlyPubKey SecretKey::pubkey() const {
  Keypair kp(bytes_);
  secp256k1_xonly_pubkey xonly;
  if (!secp256k1_keypair_xonly_pub(ctx(), &xonly, nullptr, &kp.kp))
    die("secp256k1_keypair_xonly_pub");
  XOnlyPubKey out;
  if (!secp256k1_xonly_pubkey_serialize(ctx(), out.data.data(), &xonly))
    die("secp256k1_xonly_pubkey_serialize");
  return out;
}

SchnorrSig SecretKey::sign(const Hash256& msg, const util::FixedBytes<32>& aux) const {
  Keypair kp(bytes_);
  SchnorrSig sig;
  if (!secp256k1_schnorrsig_sign32(ctx(), sig.data.data(), msg.data.data(), &kp.kp,
                                   aux.data.data()))
    die("secp256k1_schnorrsig_sign32");
  return sig;
}

static_assert(sizeof(secp256k1_keypair) == 96, "Signer keeps a secp256k1_keypair in 96 bytes");

Signer::Signer(const SecretKey& key) {
  auto* kp = reinterpret_cast<secp256k1_keypair*>(keypair_);
  if (!secp256k1_keypair_create(ctx(), kp, key.bytes().data.data()))
    die("secp256k1_keypair_create on a validated key");
  secp256k1_xonly_pubkey xonly;
  if (!secp256k1_keypair_xonly_pub(ctx(), &xonly, nullptr, kp)) die("secp256k1_keypair_xonly_pub");
  if (!secp256k1_xonly_pubkey_serialize(ctx(), pubkey_.data.data(), &xonly))
    die("secp256k1_xonly_pubkey_serialize");
}

Signer::~Signer() { OPENSSL_cleanse(keypair_, sizeof keypair_); }

SchnorrSig Signer::sign(const Hash256& msg, const util::FixedBytes<32>& aux) const {
  SchnorrSig sig;
  if (!secp256k1_schnorrsig_sign32(ctx(), sig.data.data(), msg.data.data(),
                                   reinterpret_cast<const secp256k1_keypair*>(keypair_), aux.data.data()))
    die("secp256k1_schnorrsig_sign32");
  return sig;
}

namespace {
std::atomic<uint64_t> g_verifications{0};
}  // namespace

uint64_t schnorr_verifications() { return g_verifications.load(std::memory_order_relaxed); }

bool schnorr_verify(const XOnlyPubKey& pubkey, ByteSpan msg, const SchnorrSig& sig) {
  g_verifications.fetch_add(1, std::memory_order_relaxed);
  secp256k1_xonly_pubkey pk;
  if (!parse_key(pubkey, pk)) return false;
  return secp256k1_schnorrsig_verify(ctx(), sig.data.data(), msg.data(), msg.size(), &pk) == 1;
}

namespace {

// The secret the batch weights are hashed from: per process, never leaves it.
const unsigned char* batch_seed() {
  static const auto seed = [] {
    std::array<unsigned char, 32> s;
    random_bytes(s);
    return s;
  }();
  return seed.data();
}

// Each thread's scratch space, grown to the largest batch it has checked.
class BatchScratch {
 public:
  BatchScratch() = default;
  BatchScratch(const BatchScratch&) = delete;
  BatchScratch& operator=(const BatchScratch&) = delete;
  ~BatchScratch() {
    if (scratch_) secp256k1_scratch_space_destroy(ctx(), scratch_);
  }
  secp256k1_scratch_space* get(size_t n) {
    if (n > capacity_) {
      if (scratch_) secp256k1_scratch_space_destroy(ctx(), scratch_);
      scratch_ = secp256k1_scratch_space_create(ctx(), peerchain_schnorrsig_batch_scratch_size(n));
      if (scratch_ == nullptr) die("secp256k1_scratch_space_create");
      capacity_ = n;
    }
    return scratch_;
  }

 private:
  secp256k1_scratch_space* scratch_ = nullptr;
  size_t capacity_ = 0;
};

constexpr size_t kMaxBatch = 512;  // past this the gain per signature is a few per cent

bool verify_batch_part(std::span<const SchnorrCheck> checks) {
  thread_local BatchScratch scratch;
  std::vector<secp256k1_xonly_pubkey> keys(checks.size());
  std::vector<const secp256k1_xonly_pubkey*> key_ptrs(checks.size());
  std::vector<const unsigned char*> sigs(checks.size()), msgs(checks.size());
  for (size_t i = 0; i < checks.size(); ++i) {
    if (!parse_key(*checks[i].pubkey, keys[i])) return false;
    key_ptrs[i] = &keys[i];
    sigs[i] = checks[i].sig->data.data();
    msgs[i] = checks[i].msg.data.data();
  }
  return peerchain_schnorrsig_verify_batch(ctx(), scratch.get(checks.size()), sigs.data(), msgs.data(),
                                           key_ptrs.data(), checks.size(), batch_seed()) == 1;
}

}  // namespace

bool schnorr_verify_batch(std::span<const SchnorrCheck> checks) {
  g_verifications.fetch_add(checks.size(), std::memory_order_relaxed);
  // Equal parts of at most kMaxBatch.
  size_t parts = (checks.size() + kMaxBatch - 1) / kMaxBatch;
  for (size_t p = 0, begin = 0; p < parts; ++p) {
    size_t end = checks.size() * (p + 1) / parts;
    if (!verify_batch_part(checks.subspan(begin, end - begin))) return false;
    begin = end;
  }
  return true;
}

bool is_valid_pubkey(const XOnlyPubKey& pubkey) {
  secp256k1_xonly_pubkey pk;
  return parse_key(pubkey, pk);
}

uint64_t schnorr_key_parses() { return key_cache().parses(); }

}  // namespace peerchain::crypto
